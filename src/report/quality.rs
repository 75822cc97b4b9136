//! Media quality: what a receiver measures on one RTP stream, and the MOS it predicts.
//!
//! `PathStats` collects per-packet arrivals (sequence, send and arrival instants, RTP
//! timestamp) into one-way delay, interarrival jitter (`JitterEstimator`, RFC 3550 §6.4.1 and
//! A.8), loss (RFC 3550 A.1/A.3), reordering and duplicates. `estimate` feeds a summary and
//! the codec into a simplified ITU-T G.107 E-model; `compare` says how the selected path
//! stands against the best one measured. Counting is integer arithmetic on `SimTime`; floats
//! appear only in the E-model and the loss fraction, which are reports.
//!
//! This module does not decide which packets a path carried, nor produce them: the caller
//! (the scenario, from the trace) hands it arrivals. It does not model a jitter buffer's
//! late discards: a packet that arrives is counted as received however late it is.
//!
//! # The E-model, simplified
//!
//! ITU-T G.107 computes R = Ro − Is − Id − Ie,eff + A. With every parameter at its default
//! value (G.107's table of defaults: SLR 8 dB, RLR 2 dB, STMR 15 dB, TELR 65 dB, Nc −70 dBm0p,
//! Ps = Pr = 35 dB(A), T = Ta = 0, Ie = 0, Ppl = 0, A = 0) it gives R = 93.2, which G.107
//! states. We keep those defaults for loudness, noise, sidetone and echo, so Ro − Is − Id(0)
//! (about 94.8 − 1.4 − 0.2) is the constant `R_DEFAULT` = 93.2, and vary only:
//!
//! - Id, the delay impairment, by the approximation of R. G. Cole and J. H. Rosenbluth,
//!   "Voice over IP performance monitoring", ACM SIGCOMM CCR 31(2), April 2001:
//!   Id = 0.024·d + 0.11·(d − 177.3)·H(d − 177.3), d the one-way mouth-to-ear delay in ms
//!   and H the unit step. It fits G.107's Idd with echo well cancelled (TELR 65 dB).
//! - Ie,eff, the effective equipment impairment, exactly as G.107 §7.4:
//!   Ie,eff = Ie + (95 − Ie)·Ppl / (Ppl/BurstR + Bpl), Ppl the loss in percent, BurstR = 1
//!   (random loss: the simulator's links drop independently).
//! - A = 0 (no advantage of access).
//!
//! Mouth-to-ear delay d = mean one-way network delay + jitter-buffer allowance + codec
//! delay, where:
//! - the jitter buffer holds 2 × the RFC 3550 interarrival jitter J. This is our planning
//!   assumption, not a standard: J is a mean deviation, and an adaptive buffer targeting
//!   about two of them absorbs most transit variation of the simulator's jitter shapes;
//! - the codec delay is one frame (the sender must collect a whole frame before sending:
//!   20 ms for `Codec::PCMU`) plus the encoder look-ahead (`Codec::lookahead`: 0 for G.711,
//!   6.5 ms for Opus). No device, operating system or DSP delay is added.
//!
//! # Where the codec figures come from (checked, and not)
//!
//! G.711's Ie = 0 (the reference codec) and Bpl = 4.3 without PLC / 25.1 with the G.711
//! Appendix I PLC are the values cited from ITU-T G.113 Appendix I (see `Codec::PCMU`). They
//! were NOT re-checked against the ITU tables for this release: searches of the reference
//! material available here found no copy of G.113's Appendix I, and the one independent
//! E-model implementation found uses Bpl = 10 for G.711, a reminder that planning tools
//! disagree. The Opus/SILK figures are our assumptions (see `Codec::OPUS`), not ITU values.
//!
//! MOS comes from R by G.107 Annex B: 1 below R = 0, 4.5 above R = 100, else
//! 1 + 0.035·R + R·(R − 60)·(100 − R)·7·10⁻⁶. That cubic dips to 0.99 for 0 < R < 6.5; we
//! clamp it at 1 so that MOS never rises as R falls (a deviation of at most 0.011).

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;
use thiserror::Error;

use crate::time::{SimDuration, SimTime};
use crate::wire::rtp::{Codec, Impairment};

/// R for a connection with every ITU-T G.107 parameter at its default value: no delay,
/// codec impairment or loss.
pub const R_DEFAULT: f64 = 93.2;

/// RFC 3550 A.1: a forward jump of fewer packets than this is a gap (lost packets).
const MAX_DROPOUT: u16 = 3000;
/// RFC 3550 A.1: a backward step of fewer packets than this is reordering or duplication.
const MAX_MISORDER: u16 = 100;
/// RFC 3550 A.1: the sequence number space.
const RTP_SEQ_MOD: u64 = 1 << 16;

/// The interarrival jitter estimator of RFC 3550 §6.4.1, in the integer form of A.8: it
/// keeps 16 × J so that J += (|D| − J)/16 needs no division and no float.
#[derive(Clone, Debug)]
pub struct JitterEstimator {
    clock_rate: u32,
    /// Relative transit time of the previous packet, in timestamp units (wrapping).
    last_transit: Option<u32>,
    /// 16 × J in timestamp units.
    jitter16: u64,
}

impl JitterEstimator {
    /// An estimator for a stream whose RTP clock runs at `clock_rate` ticks per second.
    pub fn new(clock_rate: u32) -> JitterEstimator {
        JitterEstimator { clock_rate: clock_rate.max(1), last_transit: None, jitter16: 0 }
    }

    /// A packet with RTP timestamp `rtp_timestamp` arrived at `arrival`.
    pub fn handle_arrival(&mut self, arrival: SimTime, rtp_timestamp: u32) {
        // RFC 3550 §6.4.1: the arrival time in timestamp units; only differences matter, so
        // the clock's origin (the run's start) and its wrap modulo 2^32 are harmless.
        let arrival_ticks = (arrival.as_nanos() as u128 * self.clock_rate as u128 / 1_000_000_000) as u32;
        let transit = arrival_ticks.wrapping_sub(rtp_timestamp);
        if let Some(last) = self.last_transit {
            // RFC 3550 A.8: d = transit - last transit, absolute value.
            let d = transit.wrapping_sub(last) as i32;
            let d = d.unsigned_abs() as u64;
            // RFC 3550 A.8: jitter += d - ((jitter + 8) >> 4), i.e. J += (|D| - J)/16 on 16·J.
            self.jitter16 = self.jitter16 + d - ((self.jitter16 + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }

    /// J in timestamp units, as a receiver report carries it (RFC 3550 A.8: jitter >> 4).
    pub fn jitter_ticks(&self) -> u32 {
        (self.jitter16 >> 4).min(u32::MAX as u64) as u32
    }

    /// J as a duration, from the unrounded 16·J, floored to nanoseconds.
    pub fn jitter(&self) -> SimDuration {
        let ns = self.jitter16 as u128 * 1_000_000_000 / (16 * self.clock_rate as u128);
        SimDuration::from_nanos(ns.min(u64::MAX as u128) as u64)
    }
}

/// One-way delay statistics over the packets received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DelaySummary {
    pub min: SimDuration,
    /// Arithmetic mean, floored to nanoseconds.
    pub mean: SimDuration,
    /// 95th percentile by nearest rank: the ⌈0.95·n⌉-th smallest.
    pub p95: SimDuration,
    pub max: SimDuration,
}

/// What a receiver measured on one stream.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PathSummary {
    /// Distinct packets received (duplicates not counted).
    pub received: u64,
    /// Packets the sequence range says were sent (RFC 3550 A.3: extended highest − base + 1).
    pub expected: u64,
    /// `expected − received`, never negative.
    pub lost: u64,
    /// `lost / expected`, 0 when nothing was expected; for reports.
    pub loss_fraction: f64,
    /// Packets that arrived after one with a higher sequence number.
    pub out_of_order: u64,
    /// Copies of packets already received.
    pub duplicates: u64,
    /// Arrivals RFC 3550 A.1 discards: a jump of the sequence number too large to be loss or
    /// reordering, until two in a row say the source restarted.
    pub discarded: u64,
    /// `None` when nothing was received.
    pub delay: Option<DelaySummary>,
    /// RFC 3550 interarrival jitter.
    pub jitter: SimDuration,
}

/// Accumulates a receiver's view of one RTP stream from its arrivals, in arrival order.
#[derive(Clone, Debug)]
pub struct PathStats {
    jitter: JitterEstimator,
    seq: Option<SequenceState>,
    /// Extended sequence numbers received within the reordering window behind the highest.
    seen: BTreeSet<u64>,
    delays: Vec<SimDuration>,
    received: u64,
    out_of_order: u64,
    duplicates: u64,
    discarded: u64,
}

/// RFC 3550 A.1's per-source sequence state. Extended numbers are offset by 2^16 (cycles
/// starts at one wrap) so that a packet reordered from before the first one received still
/// has a non-negative extended number.
#[derive(Clone, Copy, Debug)]
struct SequenceState {
    /// Extended sequence number of the first packet (RFC 3550 A.1 base_seq).
    base: u64,
    max_seq: u16,
    /// Wraps seen, times 2^16 (RFC 3550 A.1 cycles).
    cycles: u64,
    /// The sequence number that would confirm a restart (RFC 3550 A.1 bad_seq).
    bad_seq: Option<u16>,
}

impl SequenceState {
    fn new(seq: u16) -> SequenceState {
        SequenceState { base: RTP_SEQ_MOD + seq as u64, max_seq: seq, cycles: RTP_SEQ_MOD, bad_seq: None }
    }
    fn extended_max(&self) -> u64 {
        self.cycles + self.max_seq as u64
    }
}

impl PathStats {
    /// Statistics for a stream whose RTP clock runs at `clock_rate` ticks per second.
    pub fn new(clock_rate: u32) -> PathStats {
        PathStats {
            jitter: JitterEstimator::new(clock_rate),
            seq: None,
            seen: BTreeSet::new(),
            delays: Vec::new(),
            received: 0,
            out_of_order: 0,
            duplicates: 0,
            discarded: 0,
        }
    }

    /// A packet numbered `sequence`, stamped `rtp_timestamp`, sent at `sent`, arrived at
    /// `arrived`. A duplicate or a discarded arrival is counted and otherwise ignored.
    pub fn handle_packet(&mut self, sequence: u16, sent: SimTime, arrived: SimTime, rtp_timestamp: u32) {
        let Some(ext) = self.place(sequence) else {
            self.discarded += 1;
            return;
        };
        if !self.seen.insert(ext) {
            self.duplicates += 1;
            return;
        }
        self.received += 1;
        self.delays.push(arrived.saturating_since(sent));
        self.jitter.handle_arrival(arrived, rtp_timestamp);
    }

    /// What has been measured so far.
    pub fn summary(&self) -> PathSummary {
        let expected = self.seq.map_or(0, |s| s.extended_max() + 1 - s.base);
        let lost = expected.saturating_sub(self.received);
        let loss_fraction = if expected == 0 { 0.0 } else { lost as f64 / expected as f64 };
        PathSummary {
            received: self.received,
            expected,
            lost,
            loss_fraction,
            out_of_order: self.out_of_order,
            duplicates: self.duplicates,
            discarded: self.discarded,
            delay: delay_summary(&self.delays),
            jitter: self.jitter.jitter(),
        }
    }

    /// RFC 3550 A.1 `update_seq`: the packet's extended sequence number, or `None` when A.1
    /// discards it. Counts reordering. Source validation (probation, MIN_SEQUENTIAL) is
    /// skipped: the simulator built the source, so its first packet is trusted.
    fn place(&mut self, seq: u16) -> Option<u64> {
        let Some(s) = self.seq.as_mut() else {
            let s = SequenceState::new(seq);
            self.seq = Some(s);
            return Some(s.extended_max());
        };
        let udelta = seq.wrapping_sub(s.max_seq);
        if udelta < MAX_DROPOUT {
            // RFC 3550 A.1: in order, with a permissible gap; a smaller number means a wrap.
            if seq < s.max_seq {
                s.cycles += RTP_SEQ_MOD;
            }
            s.max_seq = seq;
            let ext = s.extended_max();
            // Anything further back than MAX_MISORDER is a "very large jump" from now on,
            // never a duplicate, so the window of remembered numbers can forget it.
            let keep_from = ext.saturating_sub(MAX_MISORDER as u64);
            if self.seen.first().is_some_and(|&f| f < keep_from) {
                self.seen = self.seen.split_off(&keep_from);
            }
            Some(ext)
        } else if udelta as u64 <= RTP_SEQ_MOD - MAX_MISORDER as u64 {
            // RFC 3550 A.1: a very large jump. Two sequential packets after it mean the
            // source restarted its numbering: start over from the second.
            if s.bad_seq == Some(seq) {
                *s = SequenceState::new(seq);
                self.seen.clear();
                self.received = 0;
                Some(s.extended_max())
            } else {
                s.bad_seq = Some(seq.wrapping_add(1));
                None
            }
        } else {
            // RFC 3550 A.1: a duplicate or a reordered packet, `back` behind the highest.
            let back = s.max_seq.wrapping_sub(seq) as u64;
            let ext = s.extended_max() - back;
            if ext < s.base {
                // Reordered from before the first packet we saw: it was expected too.
                s.base = ext;
            }
            if !self.seen.contains(&ext) {
                self.out_of_order += 1;
            }
            Some(ext)
        }
    }
}

fn delay_summary(delays: &[SimDuration]) -> Option<DelaySummary> {
    let n = delays.len();
    if n == 0 {
        return None;
    }
    let mut sorted = delays.to_vec();
    sorted.sort_unstable();
    let sum: u128 = sorted.iter().map(|d| d.as_nanos() as u128).sum();
    // Nearest rank: the ⌈95·n/100⌉-th smallest, 1-based.
    let rank = (95 * n).div_ceil(100).max(1);
    Some(DelaySummary {
        min: sorted[0],
        mean: SimDuration::from_nanos((sum / n as u128) as u64),
        p95: sorted[rank - 1],
        max: sorted[n - 1],
    })
}

/// Id: the delay impairment for one-way mouth-to-ear delay `d`, by Cole and Rosenbluth's
/// approximation of G.107 (see the module documentation):
/// Id = 0.024·d + 0.11·(d − 177.3)·H(d − 177.3), d in ms.
pub fn delay_impairment(mouth_to_ear: SimDuration) -> f64 {
    let d = mouth_to_ear.as_millis_f64();
    let knee = if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 };
    0.024 * d + knee
}

/// Ie,eff: the effective equipment impairment at `loss_percent` (Ppl, 0–100) with burst
/// ratio `burst_r` (1 for random loss), ITU-T G.107 §7.4:
/// Ie,eff = Ie + (95 − Ie)·Ppl / (Ppl/BurstR + Bpl).
pub fn effective_equipment_impairment(codec: Impairment, loss_percent: f64, burst_r: f64) -> f64 {
    let ppl = loss_percent.clamp(0.0, 100.0);
    codec.ie + (95.0 - codec.ie) * ppl / (ppl / burst_r + codec.bpl)
}

/// R = 93.2 − Id − Ie,eff (A = 0), random loss; see the module documentation.
pub fn r_factor(mouth_to_ear: SimDuration, codec: Impairment, loss_percent: f64) -> f64 {
    R_DEFAULT - delay_impairment(mouth_to_ear) - effective_equipment_impairment(codec, loss_percent, 1.0)
}

/// MOS (conversational quality estimate) from R, ITU-T G.107 Annex B, clamped below at 1
/// (see the module documentation).
pub fn mos_from_r(r: f64) -> f64 {
    if r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        (1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6).max(1.0)
    }
}

/// The delay the E-model sees: mean one-way network delay, plus a jitter buffer of twice the
/// RFC 3550 jitter, plus one frame of packetisation and the codec's look-ahead.
pub fn mouth_to_ear(network: SimDuration, jitter: SimDuration, codec: &Codec) -> SimDuration {
    network + jitter + jitter + codec.frame + codec.lookahead
}

/// An E-model estimate for one path and the terms it came from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// The delay `d` fed to Id (see `mouth_to_ear`).
    pub mouth_to_ear: SimDuration,
    pub id: f64,
    pub ie_eff: f64,
    pub r: f64,
    pub mos: f64,
}

/// Why a path gets no MOS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum NoEstimate {
    /// The codec carries no E-model impairment: video, which G.107 does not rate.
    #[error("the E-model rates speech codecs only")]
    NotSpeech,
    /// Not a packet arrived, so there is no delay to rate.
    #[error("no packets were received")]
    NothingReceived,
}

/// The E-model estimate for speech in `codec` over a path measured as `summary`.
pub fn estimate(codec: &Codec, summary: &PathSummary) -> Result<Estimate, NoEstimate> {
    let impairment = codec.impairment.ok_or(NoEstimate::NotSpeech)?;
    let delay = summary.delay.ok_or(NoEstimate::NothingReceived)?;
    let d = mouth_to_ear(delay.mean, summary.jitter, codec);
    let id = delay_impairment(d);
    let ie_eff = effective_equipment_impairment(impairment, 100.0 * summary.loss_fraction, 1.0);
    let r = R_DEFAULT - id - ie_eff;
    Ok(Estimate { mouth_to_ear: d, id, ie_eff, r, mos: mos_from_r(r) })
}

/// One candidate path, named the way a user recognises it ("relay via edge01").
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PathQuality {
    pub name: String,
    pub summary: PathSummary,
    pub estimate: Estimate,
}

/// How the path ICE selected compares with the best path measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub selected: PathQuality,
    /// The path with the highest MOS, when it beats the selected one by `MOS_TIE` or more.
    pub better: Option<PathQuality>,
    /// How many paths were compared.
    pub paths: usize,
}

/// MOS differences below this do not show at one decimal, so they do not make another path
/// "better" than the selected one.
pub const MOS_TIE: f64 = 0.05;

/// Compares the path at index `selected` with all of `paths`. `None` when `selected` is not
/// an index of `paths`. Among equal MOS the earlier path wins, so the answer is deterministic.
pub fn compare(paths: &[PathQuality], selected: usize) -> Option<Verdict> {
    let sel = paths.get(selected)?;
    let mut best = sel;
    for p in paths {
        if p.estimate.mos > best.estimate.mos {
            best = p;
        }
    }
    let better = (best.estimate.mos - sel.estimate.mos >= MOS_TIE).then(|| best.clone());
    Some(Verdict { selected: sel.clone(), better, paths: paths.len() })
}

impl Verdict {
    /// Whether no measured path beats the selected one by `MOS_TIE` or more.
    pub fn is_selected_best(&self) -> bool {
        self.better.is_none()
    }

    /// How much MOS the selected path trails the best by (0 when it is the best).
    pub fn mos_shortfall(&self) -> f64 {
        self.better.as_ref().map_or(0.0, |b| b.estimate.mos - self.selected.estimate.mos)
    }
}

/// "41 ms / 3 ms jitter / MOS 4.3": mean one-way delay, RFC 3550 jitter, MOS.
fn fmt_path(p: &PathQuality, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let delay = p.summary.delay.map_or(SimDuration::ZERO, |d| d.mean);
    write!(
        f,
        "{:.0} ms / {:.0} ms jitter / MOS {:.1}",
        delay.as_millis_f64(),
        p.summary.jitter.as_millis_f64(),
        p.estimate.mos
    )?;
    if p.summary.lost > 0 {
        write!(f, " / {:.1}% loss", 100.0 * p.summary.loss_fraction)?;
    }
    Ok(())
}

impl fmt::Display for Verdict {
    /// `selected path host-host: 87 ms / 14 ms jitter / MOS 3.6; best alternative relay via
    /// edge01: 41 ms / 3 ms jitter / MOS 4.3 (0.7 better)`, or, when the selected path is the
    /// best, `selected path relay via edge01: 41 ms / 3 ms jitter / MOS 4.3, the best of 3 paths`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "selected path {}: ", self.selected.name)?;
        fmt_path(&self.selected, f)?;
        let Some(better) = &self.better else {
            return match self.paths {
                1 => write!(f, ", the only path"),
                n => write!(f, ", the best of {n} paths"),
            };
        };
        write!(f, "; best alternative {}: ", better.name)?;
        fmt_path(better, f)?;
        write!(f, " ({:.1} better)", self.mos_shortfall())
    }
}

#[cfg(test)]
mod tests;
