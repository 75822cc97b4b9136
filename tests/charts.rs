//! Charts and the HTML report from hand-built inputs: one golden SVG per chart (byte-stable),
//! PNGs with the right signature and size, "no data" instead of a panic on empty input, and
//! the charts and page of one real call rendered twice to the same bytes.

mod common;

use icepath::report::charts::{
    self, BackgroundPeriod, CallCharts, CellState, Chart, CheckEvent, CheckKind, DelaySpread, DiagramLink, DiagramNode,
    EventKind, IceTimeline, MatrixPair, MediaSample, MediaSeries, PairMatrix, QualityChart, QualityPath, SLIDE_SIZE,
    TimelineEvent, TimelineRow, TopologyDiagram,
};
use icepath::report::html::{CallSection, Expectation, IndexEntry, ReportPage, index_page, render_page};
use icepath::scenario::{CallSpec, run_call};
use icepath::schema::load_topology;
use icepath::time::{SimDuration, SimTime};

fn ms(v: u64) -> SimDuration {
    SimDuration::from_millis(v)
}

fn at_ms(v: u64) -> SimTime {
    SimTime::from_nanos(v * 1_000_000)
}

fn matrix() -> PairMatrix {
    let l = ["host udp 192.168.1.10:50000", "host udp 10.99.0.10:50000", "relay udp 203.0.113.20:50000"];
    let r = ["host udp 10.0.2.50:50000", "relay udp 203.0.113.20:50002", "host tcp 10.0.2.50:9"];
    let pair = |i: usize, j: usize, state, reason: &str| MatrixPair {
        local: l[i].into(),
        remote: r[j].into(),
        state,
        reason: reason.into(),
    };
    PairMatrix {
        title: "Candidate pairs: laptop → desk-pc".into(),
        local: l.iter().map(|s| s.to_string()).collect(),
        remote: r.iter().map(|s| s.to_string()).collect(),
        pairs: vec![
            pair(
                0,
                0,
                CellState::Failed,
                "no answer after 7 transmissions; dropped by corp-rtr: no route to 192.168.1.10 (no matching prefix)",
            ),
            pair(0, 0, CellState::NotChecked, "pruned (redundant with pair 0)"),
            pair(1, 0, CellState::Succeeded, "answered in 40.160708ms, mapped 10.99.0.10:50000"),
            pair(0, 1, CellState::Succeeded, "answered in 61ms, mapped 198.51.100.2:50000"),
            pair(1, 1, CellState::Frozen, "frozen behind pair 3"),
            pair(2, 0, CellState::InProgress, "check sent, no answer yet"),
            pair(2, 1, CellState::Waiting, "first of its foundation"),
        ],
        early_media: Some((l[0].into(), r[1].into())),
        selected: Some((l[1].into(), r[0].into())),
    }
}

fn timeline() -> IceTimeline {
    let check = |t: u64, kind| CheckEvent { at: at_ms(t), kind };
    IceTimeline {
        title: "ICE timeline: laptop → desk-pc".into(),
        rows: vec![
            TimelineRow {
                label: "host udp 192.168.1.10:50000 → host udp 10.0.2.50:50000".into(),
                checks: vec![
                    check(6060, CheckKind::Sent),
                    check(6160, CheckKind::Retransmitted),
                    check(6360, CheckKind::Retransmitted),
                    check(6760, CheckKind::Retransmitted),
                    check(7560, CheckKind::Failed),
                ],
            },
            TimelineRow {
                label: "host udp 10.99.0.10:50000 → host udp 10.0.2.50:50000".into(),
                checks: vec![check(6080, CheckKind::Sent), check(6120, CheckKind::Answered)],
            },
            TimelineRow {
                label: "relay tcp 203.0.113.20:50001 → relay udp 203.0.113.20:50002".into(),
                checks: vec![
                    check(6100, CheckKind::Sent),
                    check(6300, CheckKind::Retransmitted),
                    check(6420, CheckKind::Answered),
                ],
            },
            TimelineRow { label: "never checked".into(), checks: vec![] },
        ],
        events: vec![
            TimelineEvent { at: at_ms(4019), kind: EventKind::Signaling, label: "laptop: sends INVITE (offer)".into() },
            TimelineEvent {
                at: at_ms(6059),
                kind: EventKind::Signaling,
                label: "laptop: received 183 to INVITE".into(),
            },
            TimelineEvent { at: at_ms(6120), kind: EventKind::EarlyMedia, label: "laptop: first valid pair".into() },
            TimelineEvent { at: at_ms(6121), kind: EventKind::Selected, label: "laptop: pair selected".into() },
            TimelineEvent {
                at: at_ms(6430),
                kind: EventKind::Promotion,
                label: "laptop: promotes media (re-INVITE)".into(),
            },
            TimelineEvent {
                at: at_ms(7560),
                kind: EventKind::Failure,
                label: "desk-pc: <a pair & its \"reason\">".into(),
            },
        ],
    }
}

fn quality() -> QualityChart {
    let samples: Vec<SimDuration> = (0..200).map(|i| ms(18 + (i * 7 % 11))).collect();
    QualityChart {
        title: "Media quality per path: laptop → desk-pc".into(),
        paths: vec![
            QualityPath {
                name: "host udp 10.99.0.10:50000 → host udp 10.0.2.50:50000".into(),
                selected: true,
                delay: DelaySpread::from_samples(&samples),
                jitter: SimDuration::from_micros(1200),
                loss: 0.002,
                mos: Some(4.39),
            },
            QualityPath {
                name: "host udp 192.168.1.10:50000 → relay udp 203.0.113.20:50002".into(),
                selected: false,
                delay: Some(DelaySpread {
                    min: ms(31),
                    low: ms(31),
                    mid: ms(38),
                    high: ms(52),
                    max: ms(75),
                    mean: ms(38),
                    quartiles: false,
                }),
                jitter: SimDuration::from_micros(4300),
                loss: 0.031,
                mos: Some(3.61),
            },
            QualityPath {
                name: "relay udp 203.0.113.20:50000 → host udp 10.0.2.50:50000".into(),
                selected: false,
                delay: None,
                jitter: SimDuration::ZERO,
                loss: 1.0,
                mos: None,
            },
        ],
    }
}

fn series() -> MediaSeries {
    // 10 s of 20 ms packets: a steady 19 ms, slower and jumpier under load from 4 s to 7 s,
    // every 37th packet lost.
    let samples = (0..500u64)
        .map(|i| {
            let sent = at_ms(6300 + 20 * i);
            let loaded = (200..350).contains(&i);
            let delay = if i % 37 == 36 {
                None
            } else if loaded {
                Some(SimDuration::from_micros(30_000 + (i * 7919 % 23) * 1_000))
            } else {
                Some(SimDuration::from_micros(19_000 + (i * 31 % 5) * 300))
            };
            MediaSample { sent, delay }
        })
        .collect();
    MediaSeries {
        title: "Media over time on the chosen path: laptop → desk-pc".into(),
        path: "host udp 10.99.0.10:50000 → host udp 10.0.2.50:50000".into(),
        samples,
        background: vec![BackgroundPeriod {
            from: at_ms(10300),
            to: at_ms(13300),
            flow: "lync-fe → laptop at 150 Mbit/s".into(),
        }],
    }
}

fn topology() -> TopologyDiagram {
    let node = |name: &str, kind: &str, zone: Option<&str>| DiagramNode {
        name: name.into(),
        kind: kind.into(),
        zone: zone.map(String::from),
    };
    let link = |name: &str, ends: &[&str], tunnel| DiagramLink {
        name: name.into(),
        ends: ends.iter().map(|s| s.to_string()).collect(),
        tunnel,
    };
    TopologyDiagram {
        title: "Topology: small office".into(),
        zones: vec![
            ("lan".into(), "The office".into()),
            ("internet".into(), "The public internet".into()),
            ("home".into(), "A worker's home".into()),
        ],
        nodes: vec![
            node("desk-pc", "host", Some("lan")),
            node("fe", "host", Some("lan")),
            node("rtr", "router", Some("lan")),
            node("core", "router", Some("internet")),
            node("vpn", "vpn-concentrator", Some("internet")),
            node("home-nat", "nat", Some("home")),
            node("laptop", "host", Some("home")),
            node("stray", "host", None),
        ],
        links: vec![
            link("office", &["desk-pc", "fe", "rtr"], false),
            link("wan", &["rtr", "core"], false),
            link("dmz", &["core", "vpn"], false),
            link("access", &["core", "home-nat"], false),
            link("home-lan", &["home-nat", "laptop"], false),
            link("pool", &["vpn", "laptop"], true),
            link("inside", &["vpn", "rtr"], false),
        ],
        media_path: ["laptop", "home-nat", "core", "vpn", "rtr", "desk-pc"].iter().map(|s| s.to_string()).collect(),
        signaling_path: ["laptop", "home-nat", "core", "vpn", "rtr", "fe", "rtr", "desk-pc"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    }
}

fn golden<C: Chart>(chart: &C) {
    let svg = charts::svg(chart);
    assert_eq!(svg, charts::svg(chart), "{}: the same input draws the same SVG", chart.name());
    assert!(svg.starts_with("<svg"), "{}", chart.name());
    common::check_golden(&format!("tests/golden/charts/{}.svg", chart.name()), &svg);
}

#[test]
fn golden_pair_matrix() {
    golden(&matrix());
}

#[test]
fn golden_ice_timeline() {
    golden(&timeline());
}

#[test]
fn golden_path_quality() {
    golden(&quality());
}

#[test]
fn golden_media_series() {
    golden(&series());
}

#[test]
fn golden_topology() {
    golden(&topology());
    common::check_golden("tests/golden/charts/topology.dot", &topology().to_dot());
}

fn check_png(name: &str, png: &[u8]) {
    assert!(png.len() > 1000, "{name}: {} bytes", png.len());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}: PNG signature");
    assert_eq!(&png[12..16], b"IHDR", "{name}");
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((w, h), SLIDE_SIZE, "{name}: slide-sized");
    // Optionally keep them for looking at.
    if let Some(dir) = std::env::var_os("CHARTS_PNG_DIR") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

#[test]
fn pngs_are_slide_sized_and_stable() {
    let pngs = [
        ("pair-matrix", charts::png(&matrix())),
        ("ice-timeline", charts::png(&timeline())),
        ("path-quality", charts::png(&quality())),
        ("media-series", charts::png(&series())),
        ("topology", charts::png(&topology())),
    ];
    for (name, png) in &pngs {
        check_png(name, png);
    }
    assert_eq!(pngs[0].1, charts::png(&matrix()), "the same input rasterizes to the same bytes");
    // The title is rasterized with the embedded font: its band has dark pixels.
    let decoder = png::Decoder::new(std::io::Cursor::new(&pngs[0].1));
    let mut reader = decoder.read_info().unwrap();
    let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut rgb).unwrap();
    let (w, _) = SLIDE_SIZE;
    let dark = (12..48)
        .flat_map(|y| (0..w as usize).map(move |x| (y * w as usize + x) * 3))
        .filter(|&i| rgb[i] < 100 && rgb[i + 1] < 100 && rgb[i + 2] < 100)
        .count();
    assert!(dark > 500, "the title was drawn ({dark} dark pixels)");
}

#[test]
fn empty_inputs_say_no_data() {
    let svgs = [
        charts::svg(&PairMatrix { title: "m".into(), ..PairMatrix::default() }),
        charts::svg(&IceTimeline { title: "t".into(), ..IceTimeline::default() }),
        charts::svg(&QualityChart { title: "q".into(), ..QualityChart::default() }),
        charts::svg(&MediaSeries { title: "s".into(), ..MediaSeries::default() }),
        charts::svg(&TopologyDiagram { title: "d".into(), ..TopologyDiagram::default() }),
    ];
    for svg in &svgs {
        assert!(svg.contains("no data"), "{svg}");
    }
    // Odd but legal input: a single instant, everything lost, paths naming unknown nodes.
    let odd = MediaSeries {
        title: "s".into(),
        samples: vec![MediaSample { sent: SimTime::ZERO, delay: None }],
        ..MediaSeries::default()
    };
    check_png("odd-series", &charts::png(&odd));
    let mut t = topology();
    t.media_path = vec!["nowhere".into(), "laptop".into()];
    t.links.push(DiagramLink { name: "dangling".into(), ends: vec!["ghost".into()], tunnel: false });
    check_png("odd-topology", &charts::png(&t));
    let q = QualityChart {
        title: "q".into(),
        paths: vec![QualityPath {
            name: "x".into(),
            selected: true,
            delay: None,
            jitter: SimDuration::ZERO,
            loss: f64::NAN,
            mos: Some(f64::NAN),
        }],
    };
    check_png("odd-quality", &charts::png(&q));
}

#[test]
fn a_real_call_renders_the_same_page_twice() {
    let file = "topologies/remote-worker-vpn.yaml";
    let text = std::fs::read_to_string(file).unwrap();
    let topo = load_topology(file, &text).unwrap().topology;
    let node = |n: &str| topo.node_by_name(n).unwrap();
    let mut spec = CallSpec::new(node("laptop-full"), node("desk-pc"));
    spec.media_duration = SimDuration::from_secs(2);
    let render = || {
        let call = run_call(&topo, &spec).unwrap();
        let charts = CallCharts::from_call(&call, &topo);
        assert!(!charts.topology.media_path.is_empty(), "the call traced its media path");
        assert!(charts.timeline.rows.iter().any(|r| !r.checks.is_empty()), "check events reach the timeline");
        assert!(!charts.series.samples.is_empty(), "samples reach the time series");
        let mut section = CallSection::from_call(&call, &charts, Some("call-1/"));
        section.passed = Some(call.connected());
        section.expectations = vec![Expectation {
            text: "connects on the VPN host pair".into(),
            passed: true,
            detail: "host udp 10.99.0.10:50000 selected".into(),
        }];
        let page = ReportPage {
            title: "VPN worker".into(),
            summary: vec!["A call.".into()],
            calls: vec![section],
            extras: Vec::new(),
        };
        render_page(&page)
    };
    let html = render();
    assert_eq!(html, render(), "same call, same page");
    assert_eq!(html.matches("<svg").count(), 5, "five charts inline");
    assert!(html.contains("href=\"call-1/pair-matrix.png\""));
    assert!(html.contains("a=candidate:1 1 UDP"));
    assert!(html.contains("✔ PASS"));
    for banned in ["<script", "<link", "src=\"http", "href=\"http", "@import", "url("] {
        assert!(!html.contains(banned), "{banned} in the page");
    }
    let index = index_page(
        "Suite",
        &[
            IndexEntry { name: "S01".into(), href: "s01/index.html".into(), passed: true, summary: "ok".into() },
            IndexEntry { name: "S02".into(), href: "s02/index.html".into(), passed: false, summary: "no pair".into() },
        ],
    );
    assert!(index.contains("2 scenarios: 1 passed, 1 failed.") && index.contains("href=\"s02/index.html\""));
}
