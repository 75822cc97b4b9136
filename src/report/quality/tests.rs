use proptest::prelude::*;

use super::*;

fn ms(n: u64) -> SimTime {
    SimTime::from_nanos(n * 1_000_000)
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn jitter_follows_rfc3550_a8_by_hand() {
    // 8000 Hz, a packet every 20 ms (160 ticks; 1 ms = 8 ticks):
    //   sent (ms)  ts   arrived (ms)  arrival ticks  transit  D (ticks)
    //   0          0    50            400            400      -
    //   20         160  80            640            480      +80 (+10 ms)
    //   40         320  95            760            440      -40 (-5 ms)
    //   60         480  115           920            440      0
    // A.8 keeps 16·J and does jitter += |D| - ((jitter + 8) >> 4):
    //   after 2: 0 + 80 - (8 >> 4 = 0)     = 80   -> J = 5 ticks      (float: 80/16 = 5)
    //   after 3: 80 + 40 - (88 >> 4 = 5)   = 115  -> J = 7.1875 ticks (float: 5 + 35/16 = 7.1875)
    //   after 4: 115 + 0 - (123 >> 4 = 7)  = 108  -> J = 6.75 ticks   (float: 7.1875 - 7.1875/16
    //            = 6.738; A.8 rounds J to a whole tick before subtracting it)
    let mut j = JitterEstimator::new(8000);
    j.handle_arrival(ms(50), 0);
    assert_eq!((j.jitter_ticks(), j.jitter()), (0, SimDuration::ZERO));
    j.handle_arrival(ms(80), 160);
    // 5 ticks of 125 us each.
    assert_eq!((j.jitter_ticks(), j.jitter()), (5, SimDuration::from_micros(625)));
    j.handle_arrival(ms(95), 320);
    // 115/16 ticks = 115e9 / 128000 ns = 898437.5 ns, floored.
    assert_eq!((j.jitter_ticks(), j.jitter()), (7, SimDuration::from_nanos(898_437)));
    j.handle_arrival(ms(115), 480);
    // 108/16 ticks = 843750 ns.
    assert_eq!((j.jitter_ticks(), j.jitter()), (6, SimDuration::from_nanos(843_750)));
}

#[test]
fn jitter_ignores_timestamp_wrap() {
    // Constant transit across the 32-bit wrap of the RTP timestamp gives D = 0 every time.
    let mut j = JitterEstimator::new(8000);
    let first = u32::MAX - 300;
    for i in 0..10u32 {
        j.handle_arrival(ms(30 + 20 * i as u64), first.wrapping_add(160 * i));
    }
    assert_eq!(j.jitter(), SimDuration::ZERO);
}

#[test]
fn delay_statistics_use_nearest_rank() {
    // Packet i (1..=20) is sent at 20·i ms and takes i ms.
    let mut s = PathStats::new(8000);
    for i in 1..=20u64 {
        s.handle_packet(i as u16, ms(20 * i), ms(21 * i), 160 * i as u32);
    }
    let d = s.summary().delay.unwrap();
    assert_eq!(d.min, SimDuration::from_millis(1));
    assert_eq!(d.max, SimDuration::from_millis(20));
    // (1 + … + 20) / 20 = 210 / 20 = 10.5 ms.
    assert_eq!(d.mean, SimDuration::from_micros(10_500));
    // ⌈0.95 × 20⌉ = 19th smallest.
    assert_eq!(d.p95, SimDuration::from_millis(19));
    // One sample: it is every statistic; ten samples: ⌈9.5⌉ = the 10th.
    assert_eq!(delay_summary(&[SimDuration::from_millis(7)]).unwrap().p95, SimDuration::from_millis(7));
    let ten: Vec<_> = (1..=10).map(SimDuration::from_millis).collect();
    assert_eq!(delay_summary(&ten).unwrap().p95, SimDuration::from_millis(10));
    assert_eq!(delay_summary(&[]), None);
}

/// Feeds sequence numbers with a fixed 10 ms delay, 20 ms apart in arrival order.
fn feed(seqs: &[u16]) -> PathSummary {
    let mut s = PathStats::new(8000);
    for (i, &q) in seqs.iter().enumerate() {
        let sent = ms(20 * i as u64);
        s.handle_packet(q, sent, ms(20 * i as u64 + 10), 160 * q as u32);
    }
    s.summary()
}

#[test]
fn loss_counts_gaps_in_the_sequence() {
    let s = feed(&[0, 1, 2, 4, 5, 6, 8, 9]);
    assert_eq!((s.expected, s.received, s.lost), (10, 8, 2));
    assert!(close(s.loss_fraction, 0.2, 1e-12));
    assert_eq!((s.out_of_order, s.duplicates), (0, 0));
}

#[test]
fn loss_survives_sequence_wrap() {
    // 65530..=65535 then 0..=5 without 2: twelve expected across the wrap (RFC 3550 A.1 cycles).
    let seqs: Vec<u16> = (65_530..=65_535).chain([0, 1, 3, 4, 5]).collect();
    let s = feed(&seqs);
    assert_eq!((s.expected, s.received, s.lost), (12, 11, 1));
}

#[test]
fn reordering_and_duplicates_are_counted_apart() {
    let s = feed(&[0, 1, 3, 2, 4]);
    assert_eq!((s.expected, s.received, s.lost, s.out_of_order, s.duplicates), (5, 5, 0, 1, 0));
    let s = feed(&[0, 1, 1, 2]);
    assert_eq!((s.expected, s.received, s.lost, s.out_of_order, s.duplicates), (3, 3, 0, 0, 1));
    // A late copy of an older packet is a duplicate, not reordering.
    let s = feed(&[0, 1, 2, 1]);
    assert_eq!((s.expected, s.received, s.out_of_order, s.duplicates), (3, 3, 0, 1));
    // Reordered across the wrap: 65535 arrives after 0.
    let s = feed(&[65_534, 0, 65_535, 1]);
    assert_eq!((s.expected, s.received, s.lost, s.out_of_order), (4, 4, 0, 1));
    // The first packet to arrive was not the first sent: the earlier one was expected too.
    let s = feed(&[5, 4, 6]);
    assert_eq!((s.expected, s.received, s.lost, s.out_of_order), (3, 3, 0, 1));
}

#[test]
fn a_large_jump_is_discarded_until_confirmed() {
    // RFC 3550 A.1: 10000 after 2 is neither loss nor reordering; it is discarded, and the
    // stream goes on from 2.
    let s = feed(&[0, 1, 2, 10_000, 3]);
    assert_eq!((s.expected, s.received, s.lost, s.discarded), (4, 4, 0, 1));
    // Two in a row (10000, 10001) mean the source restarted: counting starts over at 10001.
    let s = feed(&[0, 1, 2, 10_000, 10_001, 10_002]);
    assert_eq!((s.expected, s.received, s.lost, s.discarded), (2, 2, 0, 1));
}

#[test]
fn nothing_received_is_an_empty_summary() {
    let s = PathStats::new(8000).summary();
    assert_eq!((s.expected, s.received, s.lost, s.delay), (0, 0, 0, None));
    assert_eq!(s.loss_fraction, 0.0);
}

#[test]
fn mos_matches_g107_annex_b_reference_points() {
    // G.107 Annex B: MOS = 1 + 0.035R + R(R − 60)(100 − R)·7e-6.
    // R = 93.2: 1 + 3.262 + 93.2 × 33.2 × 6.8 × 7e-6 = 1 + 3.262 + 0.14729 = 4.4093
    assert!(close(mos_from_r(93.2), 4.4093, 1e-4));
    // R = 80: 1 + 2.8 + 80 × 20 × 20 × 7e-6 = 1 + 2.8 + 0.224 = 4.024
    assert!(close(mos_from_r(80.0), 4.024, 1e-9));
    // R = 50: 1 + 1.75 + 50 × (−10) × 50 × 7e-6 = 1 + 1.75 − 0.175 = 2.575
    assert!(close(mos_from_r(50.0), 2.575, 1e-9));
    // The ends: 1 below 0, 4.5 above 100, continuous at both.
    assert_eq!((mos_from_r(-10.0), mos_from_r(0.0)), (1.0, 1.0));
    assert_eq!((mos_from_r(100.0), mos_from_r(130.0)), (4.5, 4.5));
    assert!(close(mos_from_r(99.999), 4.5, 1e-3));
    // R = 3: the cubic gives 1 + 0.105 − 3 × 57 × 97 × 7e-6 = 0.9889; clamped to 1.
    assert_eq!(mos_from_r(3.0), 1.0);
}

#[test]
fn g711_with_no_delay_or_loss_is_the_default_connection() {
    let pcmu = Codec::PCMU.impairment.unwrap();
    assert_eq!(r_factor(SimDuration::ZERO, pcmu, 0.0), 93.2);
    // Through a path of zero network delay and jitter, one 20 ms frame of packetisation
    // remains: Id = 0.024 × 20 = 0.48, R = 92.72, MOS = 1 + 3.2452 + 0.1546 = 4.3998.
    let mut s = PathStats::new(8000);
    for i in 0..50u64 {
        s.handle_packet(i as u16, ms(20 * i), ms(20 * i), 160 * i as u32);
    }
    let e = estimate(&Codec::PCMU, &s.summary()).unwrap();
    assert_eq!(e.mouth_to_ear, SimDuration::from_millis(20));
    assert!(close(e.id, 0.48, 1e-9));
    assert_eq!(e.ie_eff, 0.0);
    assert!(close(e.r, 92.72, 1e-9));
    assert!(close(e.mos, 4.3998, 1e-4));
}

#[test]
fn ie_eff_matches_g113_planning_values() {
    // G.107 §7.4 with Ie = 0, BurstR = 1: Ie,eff = 95 · Ppl / (Ppl + Bpl).
    // G.711 with Appendix I PLC, Bpl = 25.1 (G.113 Appendix I, Table I.3):
    //   1 %: 95 / 26.1 = 3.640     2 %: 190 / 27.1 = 7.011
    let plc = Codec::PCMU.impairment.unwrap();
    assert!(close(effective_equipment_impairment(plc, 1.0, 1.0), 3.6398, 1e-4));
    assert!(close(effective_equipment_impairment(plc, 2.0, 1.0), 7.0111, 1e-4));
    // Without PLC, Bpl = 4.3:  1 %: 95 / 5.3 = 17.925    2 %: 190 / 6.3 = 30.159
    let bare = Codec::PCMU_NO_PLC.impairment.unwrap();
    assert!(close(effective_equipment_impairment(bare, 1.0, 1.0), 17.9245, 1e-4));
    assert!(close(effective_equipment_impairment(bare, 2.0, 1.0), 30.1587, 1e-4));
    // Cross-check: Cole & Rosenbluth's fit for G.711 with PLC under random loss,
    // Ie = 30·ln(1 + 15e), gives 4.19 and 7.87: within one R point of the G.113 values.
    assert!(close(30.0 * (1.0 + 15.0 * 0.01f64).ln(), 3.64, 0.6));
    assert!(close(30.0 * (1.0 + 15.0 * 0.02f64).ln(), 7.01, 0.9));
    // Total loss drives Ie,eff to 95 · 100 / 125.1 = 75.9, not past 95.
    assert!(close(effective_equipment_impairment(plc, 100.0, 1.0), 75.94, 1e-2));
}

#[test]
fn delay_impairment_has_its_knee_at_177_ms() {
    assert!(close(delay_impairment(SimDuration::from_millis(150)), 3.6, 1e-9));
    // 0.024 × 200 + 0.11 × (200 − 177.3) = 4.8 + 2.497
    assert!(close(delay_impairment(SimDuration::from_millis(200)), 7.297, 1e-9));
}

#[test]
fn mouth_to_ear_adds_buffer_and_codec_delay() {
    // Opus: 50 ms network + 2 × 5 ms jitter + 20 ms frame + 6.5 ms look-ahead.
    let d = mouth_to_ear(SimDuration::from_millis(50), SimDuration::from_millis(5), &Codec::OPUS);
    assert_eq!(d, SimDuration::from_micros(86_500));
}

#[test]
fn video_and_silence_get_no_estimate() {
    let s = feed(&[0, 1, 2]);
    assert_eq!(estimate(&Codec::video(1_000_000, 1200), &s), Err(NoEstimate::NotSpeech));
    assert_eq!(estimate(&Codec::PCMU, &PathStats::new(8000).summary()), Err(NoEstimate::NothingReceived));
}

fn path(name: &str, mean_ms: u64, jitter_ms: u64, lost: u64, mos: f64) -> PathQuality {
    let d = SimDuration::from_millis(mean_ms);
    PathQuality {
        name: name.to_string(),
        summary: PathSummary {
            received: 100 - lost,
            expected: 100,
            lost,
            loss_fraction: lost as f64 / 100.0,
            out_of_order: 0,
            duplicates: 0,
            discarded: 0,
            delay: Some(DelaySummary { min: d, mean: d, p95: d, max: d }),
            jitter: SimDuration::from_millis(jitter_ms),
        },
        estimate: Estimate { mouth_to_ear: d, id: 0.0, ie_eff: 0.0, r: 0.0, mos },
    }
}

#[test]
fn verdict_names_the_better_path() {
    let paths =
        [path("host-host", 87, 14, 0, 3.6), path("relay via edge01", 41, 3, 0, 4.3), path("srflx", 60, 9, 2, 4.0)];
    let v = compare(&paths, 0).unwrap();
    assert!(!v.is_selected_best());
    assert!(close(v.mos_shortfall(), 0.7, 1e-9));
    assert_eq!(
        v.to_string(),
        "selected path host-host: 87 ms / 14 ms jitter / MOS 3.6; \
         best alternative relay via edge01: 41 ms / 3 ms jitter / MOS 4.3 (0.7 better)"
    );
    let v = compare(&paths, 1).unwrap();
    assert!(v.is_selected_best());
    assert_eq!(v.mos_shortfall(), 0.0);
    assert_eq!(v.to_string(), "selected path relay via edge01: 41 ms / 3 ms jitter / MOS 4.3, the best of 3 paths");
    let v = compare(&paths, 2).unwrap();
    assert_eq!(
        v.to_string(),
        "selected path srflx: 60 ms / 9 ms jitter / MOS 4.0 / 2.0% loss; \
         best alternative relay via edge01: 41 ms / 3 ms jitter / MOS 4.3 (0.3 better)"
    );
    assert_eq!(compare(&paths, 3), None);
    assert_eq!(
        compare(&paths[..1], 0).unwrap().to_string(),
        "selected path host-host: 87 ms / 14 ms jitter / MOS 3.6, the only path"
    );
}

#[test]
fn a_difference_that_does_not_show_is_a_tie() {
    let paths = [path("a", 40, 2, 0, 4.30), path("b", 39, 2, 0, 4.34), path("c", 38, 2, 0, 4.34)];
    assert!(compare(&paths, 0).unwrap().is_selected_best());
    // Among equal MOS the earlier path is named.
    let paths = [path("a", 40, 2, 0, 4.0), path("b", 39, 2, 0, 4.3), path("c", 38, 2, 0, 4.3)];
    assert_eq!(compare(&paths, 0).unwrap().better.unwrap().name, "b");
}

fn summary_of(mean_us: u64, jitter_us: u64, loss: f64) -> PathSummary {
    let d = SimDuration::from_micros(mean_us);
    PathSummary {
        received: 1,
        expected: 1,
        lost: 0,
        loss_fraction: loss,
        out_of_order: 0,
        duplicates: 0,
        discarded: 0,
        delay: Some(DelaySummary { min: d, mean: d, p95: d, max: d }),
        jitter: SimDuration::from_micros(jitter_us),
    }
}

proptest! {
    /// More delay, more jitter or more loss never raises MOS, for every speech codec.
    #[test]
    fn mos_never_rises_with_impairment(
        d in 0u64..2_000_000, dd in 0u64..1_000_000,
        j in 0u64..200_000, dj in 0u64..100_000,
        p in 0.0f64..1.0, dp in 0.0f64..1.0,
        codec in prop_oneof![Just(Codec::PCMU), Just(Codec::PCMU_NO_PLC), Just(Codec::OPUS)],
    ) {
        let good = estimate(&codec, &summary_of(d, j, p)).unwrap();
        let bad = estimate(&codec, &summary_of(d + dd, j + dj, (p + dp).min(1.0))).unwrap();
        prop_assert!(bad.r <= good.r + 1e-9);
        prop_assert!(bad.mos <= good.mos + 1e-12, "{good:?} then {bad:?}");
        prop_assert!((1.0..=4.5).contains(&bad.mos));
    }

    /// MOS is non-decreasing in R over the whole scale, clamp included.
    #[test]
    fn mos_is_monotone_in_r(r in -20.0f64..120.0, dr in 0.0f64..50.0) {
        prop_assert!(mos_from_r(r) <= mos_from_r(r + dr) + 1e-12);
    }

    /// Dropping packets and swapping neighbours: every sequence number sent is either
    /// received or lost, and the losses are exactly the drops.
    #[test]
    fn received_and_lost_add_up(
        n in 2usize..400,
        start in any::<u16>(),
        drops in proptest::collection::vec(any::<bool>(), 400),
        swaps in proptest::collection::vec(any::<bool>(), 400),
    ) {
        let mut seqs: Vec<u16> = (0..n).filter(|&i| i == 0 || i == n - 1 || !drops[i])
            .map(|i| start.wrapping_add(i as u16)).collect();
        let kept = seqs.len() as u64;
        // Swap disjoint neighbours, never moving the first or last packet.
        let mut i = 1;
        while i + 2 < seqs.len() {
            if swaps[i] {
                seqs.swap(i, i + 1);
                i += 1;
            }
            i += 1;
        }
        let s = feed(&seqs);
        prop_assert_eq!(s.expected, n as u64);
        prop_assert_eq!(s.received, kept);
        prop_assert_eq!(s.lost, n as u64 - kept);
        prop_assert_eq!((s.duplicates, s.discarded), (0, 0));
    }
}
