//! What a population run reports: load over time per Edge, the busiest links, the
//! distribution of call quality; as text, JSON (stable for a seed) and SVG charts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;

use super::stats::{Distribution, round};
use super::{MediaType, PopulationOptions};
use crate::engine::{Engine, Service, ServiceId};
use crate::population::{PopulationSpec, User, UserKind};
use crate::report::charts::{Chart, DrawResult};
use crate::time::{SimDuration, SimTime};
use crate::topology::{IfaceId, Topology};
use crate::trace::Counters;

/// One direction of a call's media.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StreamRecord {
    pub sent: u64,
    pub received: u64,
    /// Mean one-way delay; `None` when nothing arrived.
    pub delay_ms: Option<f64>,
    pub jitter_ms: f64,
    /// A fraction.
    pub loss: f64,
    /// `None` for video or when nothing arrived.
    pub mos: Option<f64>,
}

/// One call of the run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallRecord {
    pub id: usize,
    pub caller: String,
    pub callee: String,
    pub caller_kind: UserKind,
    pub callee_kind: UserKind,
    pub media: MediaType,
    pub placed_at: SimTime,
    /// When the call hung up (or gave up).
    pub ended_at: Option<SimTime>,
    /// Media flowed on a selected pair.
    pub connected: bool,
    /// From the INVITE to the caller's selected pair.
    pub setup: Option<SimDuration>,
    /// The selected pair, as the caller names it.
    pub pair: Option<String>,
    /// `host-relay`: the caller's candidate type, then the callee's.
    pub pair_type: Option<String>,
    pub relayed: Option<bool>,
    pub promoted: bool,
    /// The worse direction's MOS (audio).
    pub mos: Option<f64>,
    /// Caller to callee first.
    pub streams: Vec<StreamRecord>,
    pub failure: Option<String>,
}

/// One sample of an Edge's load.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct EdgePoint {
    pub at: SimTime,
    /// Live TURN allocations.
    pub allocations: u64,
    /// Bits per second relayed (both ways) since the previous sample.
    pub relay_bps: u64,
}

/// One Edge's load over the run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EdgeSeries {
    pub edge: String,
    pub peak_allocations: u64,
    pub peak_allocations_at: Option<SimTime>,
    pub peak_relay_bps: u64,
    /// Allocations still live at the end (0 once every call has hung up).
    pub final_allocations: u64,
    pub points: Vec<EdgePoint>,
}

/// One direction of a link.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LinkLoad {
    pub link: String,
    /// The node whose interface sends in this direction.
    pub from: String,
    pub bandwidth_bps: Option<u64>,
    /// The busiest sampling interval.
    pub peak_bps: u64,
    pub mean_bps: u64,
    /// `peak_bps / bandwidth` (`None` for a link without a bandwidth).
    pub peak_utilisation: Option<f64>,
    pub mean_utilisation: Option<f64>,
}

/// Calls by their selected pair's candidate types.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairTypeRow {
    pub pair_type: String,
    pub calls: u64,
    pub share: f64,
    pub mean_mos: Option<f64>,
}

/// Calls by where caller and callee sit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KindRow {
    pub caller: UserKind,
    pub callee: UserKind,
    pub calls: u64,
    pub connected: u64,
    pub relayed: u64,
    pub mean_mos: Option<f64>,
}

/// The call-quality distribution.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QualitySummary {
    /// Per audio call, its worse direction; bins of 0.25 from 1.
    pub mos: Distribution,
    /// Per stream (each direction of each connected call); bins of 10 ms.
    pub delay_ms: Distribution,
    /// Per stream; bins of 1 ms.
    pub jitter_ms: Distribution,
    /// Per stream, in percent; bins of 0.5%.
    pub loss_percent: Distribution,
    /// Per connected call, INVITE to selected pair; bins of 100 ms.
    pub setup_ms: Distribution,
    pub by_pair_type: Vec<PairTypeRow>,
    pub by_kinds: Vec<KindRow>,
}

/// Counts of calls.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallCounts {
    /// Arrivals the call model produced.
    pub arrivals: u64,
    pub placed: u64,
    /// Arrivals not placed because the caller or the callee was on a call.
    pub skipped_busy: u64,
    pub connected: u64,
    pub failed: u64,
    pub relayed: u64,
    pub share_connected: f64,
    /// Of connected calls.
    pub share_relayed: f64,
    pub peak_concurrent: u64,
    /// Why calls failed, with counts.
    pub failures: BTreeMap<String, u64>,
    /// Relay allocations released once media flowed on another candidate (RFC 8445 §8.3).
    pub unused_relays_freed: u64,
}

/// Who is in the population.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Census {
    pub users: u64,
    pub by_kind: BTreeMap<UserKind, u64>,
    pub nodes: u64,
    pub links: u64,
    pub interfaces: u64,
    pub edges: Vec<String>,
}

/// Packets the engine moved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PacketCounts {
    pub sent: u64,
    pub delivered: u64,
    pub hops: u64,
    pub dropped: BTreeMap<String, u64>,
}

/// The whole report of a population run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PopulationOutcome {
    pub population: String,
    pub seed: u64,
    pub window: SimDuration,
    pub ended_at: SimTime,
    pub census: Census,
    pub calls: CallCounts,
    pub quality: QualitySummary,
    pub edges: Vec<EdgeSeries>,
    /// The busiest link directions, by peak utilisation (then peak rate).
    pub links: Vec<LinkLoad>,
    pub packets: PacketCounts,
    /// Every call, in arrival order (written to `calls.json`, left out of the summary).
    #[serde(skip)]
    pub call_records: Vec<CallRecord>,
}

/// Samples Edge and link load at a fixed interval.
pub(super) struct LoadSampler {
    every: SimDuration,
    next: SimTime,
    last_at: SimTime,
    counting_since: SimTime,
    edges: Vec<Vec<EdgePoint>>,
    last_relay: Vec<u64>,
    last_link: Vec<u64>,
    peak_link: Vec<u64>,
}

impl LoadSampler {
    pub fn new(e: &Engine<'_>, edges: usize, every: SimDuration, _calls_from: SimTime) -> LoadSampler {
        let ifaces = e.topology().ifaces.len();
        LoadSampler {
            every,
            next: e.now() + every,
            last_at: e.now(),
            counting_since: e.now(),
            edges: vec![Vec::new(); edges],
            last_relay: vec![0; edges],
            last_link: vec![0; ifaces],
            peak_link: vec![0; ifaces],
        }
    }

    pub fn maybe_sample(&mut self, e: &Engine<'_>, turn: &[ServiceId], deleted: &[u64], now: SimTime) {
        if now >= self.next {
            self.sample(e, turn, deleted, now);
            while self.next <= now {
                self.next += self.every;
            }
        }
    }

    pub fn sample(&mut self, e: &Engine<'_>, turn: &[ServiceId], deleted: &[u64], now: SimTime) {
        let interval = now.saturating_since(self.last_at);
        if interval == SimDuration::ZERO {
            return;
        }
        let full = interval.as_nanos() * 2 >= self.every.as_nanos();
        let per_sec = |bytes: u64| (bytes as u128 * 8 * 1_000_000_000 / interval.as_nanos() as u128) as u64;
        for (i, &id) in turn.iter().enumerate() {
            let (allocations, live_bytes) = match e.service(id) {
                Service::Turn(t) => t
                    .allocations()
                    .fold((0u64, 0u64), |(n, b), a| (n + 1, b + a.counters.bytes_to_peer + a.counters.bytes_from_peer)),
                _ => (0, 0),
            };
            let total = live_bytes + deleted[i];
            let relay_bps = per_sec(total.saturating_sub(self.last_relay[i]));
            self.last_relay[i] = total;
            self.edges[i].push(EdgePoint { at: now, allocations, relay_bps });
        }
        for (i, b) in e.link_bytes().enumerate() {
            if full {
                self.peak_link[i] = self.peak_link[i].max(per_sec(b - self.last_link[i]));
            }
            self.last_link[i] = b;
        }
        self.last_at = now;
    }
}

/// Calls, connected, relayed and the MOS of one caller-callee kind.
type KindTally = (u64, u64, u64, Vec<f64>);

/// What `outcome` is built from.
pub(super) struct Inputs<'a> {
    pub topo: &'a Topology,
    pub spec: &'a PopulationSpec,
    pub users: &'a [User],
    pub edges: &'a [String],
    pub opts: &'a PopulationOptions,
    pub calls: Vec<CallRecord>,
    pub skipped_busy: u64,
    pub peak_concurrent: u64,
    pub relay_clients_freed: u64,
    pub load: LoadSampler,
    pub end: SimTime,
    pub counters: Counters,
}

pub(super) fn outcome(i: Inputs<'_>) -> PopulationOutcome {
    let topo = i.topo;
    let calls = &i.calls;
    let placed = calls.len() as u64;
    let connected: Vec<&CallRecord> = calls.iter().filter(|c| c.connected).collect();
    let relayed = connected.iter().filter(|c| c.relayed == Some(true)).count() as u64;
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    for c in calls.iter().filter(|c| !c.connected) {
        *failures.entry(c.failure.clone().unwrap_or_else(|| "did not connect".into())).or_default() += 1;
    }
    let share = |a: u64, b: u64| if b == 0 { 0.0 } else { round(a as f64 / b as f64) };

    let peak_concurrent = i.peak_concurrent;

    let mos: Vec<f64> = calls.iter().filter(|c| c.connected).filter_map(|c| c.mos).collect();
    let streams = || connected.iter().flat_map(|c| c.streams.iter());
    let delay: Vec<f64> = streams().filter_map(|s| s.delay_ms).collect();
    let jitter: Vec<f64> = streams().filter(|s| s.received > 0).map(|s| s.jitter_ms).collect();
    let loss: Vec<f64> = streams().map(|s| s.loss * 100.0).collect();
    let setup: Vec<f64> = connected.iter().filter_map(|c| c.setup).map(|d| d.as_millis_f64()).collect();

    let mut pair_types: BTreeMap<String, (u64, Vec<f64>)> = BTreeMap::new();
    for c in &connected {
        let e = pair_types.entry(c.pair_type.clone().unwrap_or_default()).or_default();
        e.0 += 1;
        e.1.extend(c.mos);
    }
    let mean = |v: &[f64]| (!v.is_empty()).then(|| round(v.iter().sum::<f64>() / v.len() as f64));
    let by_pair_type = pair_types
        .into_iter()
        .map(|(pair_type, (n, m))| PairTypeRow {
            pair_type,
            calls: n,
            share: share(n, connected.len() as u64),
            mean_mos: mean(&m),
        })
        .collect();
    let mut kinds: BTreeMap<(UserKind, UserKind), KindTally> = BTreeMap::new();
    for c in calls {
        let e = kinds.entry((c.caller_kind, c.callee_kind)).or_default();
        e.0 += 1;
        e.1 += c.connected as u64;
        e.2 += (c.connected && c.relayed == Some(true)) as u64;
        if c.connected {
            e.3.extend(c.mos);
        }
    }
    let by_kinds = kinds
        .into_iter()
        .map(|((caller, callee), (n, ok, rel, m))| KindRow {
            caller,
            callee,
            calls: n,
            connected: ok,
            relayed: rel,
            mean_mos: mean(&m),
        })
        .collect();

    let edges: Vec<EdgeSeries> = i
        .edges
        .iter()
        .zip(i.load.edges.iter())
        .map(|(name, points)| {
            let peak = points.iter().max_by_key(|p| (p.allocations, std::cmp::Reverse(p.at)));
            EdgeSeries {
                edge: name.clone(),
                peak_allocations: peak.map_or(0, |p| p.allocations),
                peak_allocations_at: peak.filter(|p| p.allocations > 0).map(|p| p.at),
                peak_relay_bps: points.iter().map(|p| p.relay_bps).max().unwrap_or(0),
                final_allocations: points.last().map_or(0, |p| p.allocations),
                points: points.clone(),
            }
        })
        .collect();

    let span = i.end.saturating_since(i.load.counting_since).as_nanos().max(1) as u128;
    let mut links: Vec<LinkLoad> = topo
        .ifaces
        .iter()
        .filter(|f| i.load.last_link[f.id.0 as usize] > 0)
        .map(|f| {
            let id: IfaceId = f.id;
            let bytes = i.load.last_link[id.0 as usize];
            let link = topo.link(f.link);
            let bw = link.props.bandwidth;
            let peak = i.load.peak_link[id.0 as usize];
            let mean_bps = (bytes as u128 * 8 * 1_000_000_000 / span) as u64;
            LinkLoad {
                link: link.name.clone(),
                from: topo.node(f.node).name.clone(),
                bandwidth_bps: bw,
                peak_bps: peak,
                mean_bps,
                peak_utilisation: bw.map(|b| round(peak as f64 / b as f64)),
                mean_utilisation: bw.map(|b| round(mean_bps as f64 / b as f64)),
            }
        })
        .collect();
    links.sort_by(|a, b| {
        let u = |l: &LinkLoad| l.peak_utilisation.unwrap_or(-1.0);
        u(b).total_cmp(&u(a)).then(b.peak_bps.cmp(&a.peak_bps)).then(a.link.cmp(&b.link)).then(a.from.cmp(&b.from))
    });
    links.truncate(i.opts.top_links);

    let mut by_kind: BTreeMap<UserKind, u64> = BTreeMap::new();
    for u in i.users {
        *by_kind.entry(u.kind).or_default() += 1;
    }
    PopulationOutcome {
        population: i.spec.name.clone(),
        seed: i.opts.seed,
        window: i.opts.window,
        ended_at: i.end,
        census: Census {
            users: i.users.len() as u64,
            by_kind,
            nodes: topo.nodes.len() as u64,
            links: topo.links.len() as u64,
            interfaces: topo.ifaces.len() as u64,
            edges: i.edges.to_vec(),
        },
        calls: CallCounts {
            arrivals: placed + i.skipped_busy,
            placed,
            skipped_busy: i.skipped_busy,
            connected: connected.len() as u64,
            failed: placed - connected.len() as u64,
            relayed,
            share_connected: share(connected.len() as u64, placed),
            share_relayed: share(relayed, connected.len() as u64),
            peak_concurrent,
            failures,
            unused_relays_freed: i.relay_clients_freed,
        },
        quality: QualitySummary {
            mos: Distribution::of(&mos, 1.0, 0.25, 14),
            delay_ms: Distribution::of(&delay, 0.0, 10.0, 30),
            jitter_ms: Distribution::of(&jitter, 0.0, 1.0, 20),
            loss_percent: Distribution::of(&loss, 0.0, 0.5, 20),
            setup_ms: Distribution::of(&setup, 0.0, 100.0, 30),
            by_pair_type,
            by_kinds,
        },
        edges,
        links,
        packets: PacketCounts {
            sent: i.counters.sent,
            delivered: i.counters.delivered,
            hops: i.counters.hops,
            dropped: i.counters.dropped.iter().map(|(k, n)| (k.as_str().to_string(), *n)).collect(),
        },
        call_records: i.calls,
    }
}

impl PopulationOutcome {
    /// The summary as pretty JSON (calls are in `calls_json`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("invariant: the outcome serializes") + "\n"
    }

    /// Every call as JSON, one per line inside a list.
    pub fn calls_json(&self) -> String {
        let mut s = String::from("[\n");
        for (k, c) in self.call_records.iter().enumerate() {
            s.push_str("  ");
            s.push_str(&serde_json::to_string(c).expect("invariant: a call record serializes"));
            s.push_str(if k + 1 < self.call_records.len() { ",\n" } else { "\n" });
        }
        s.push_str("]\n");
        s
    }

    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let c = &self.calls;
        let kinds: Vec<String> = self.census.by_kind.iter().map(|(k, n)| format!("{n} {}", k.as_str())).collect();
        let _ = writeln!(o, "population: {} (seed {}), calls arriving for {}", self.population, self.seed, self.window);
        let _ = writeln!(
            o,
            "network: {} users ({}), {} nodes, {} links, {} Edge servers",
            self.census.users,
            kinds.join(", "),
            self.census.nodes,
            self.census.links,
            self.census.edges.len()
        );
        let _ = writeln!(
            o,
            "calls: {} arrived, {} placed, {} skipped (a party was busy); {} connected ({:.1}%), {} relayed ({:.1}% of connected); run ended at {}",
            c.arrivals,
            c.placed,
            c.skipped_busy,
            c.connected,
            100.0 * c.share_connected,
            c.relayed,
            100.0 * c.share_relayed,
            self.ended_at
        );
        for (why, n) in &c.failures {
            let _ = writeln!(o, "  failed: {n} x {why}");
        }
        let _ = writeln!(o, "unused relay allocations freed once media flowed: {}", c.unused_relays_freed);
        let q = &self.quality;
        let f = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
        let _ = writeln!(o, "quality (p5 / median / p95, mean):");
        for (name, d) in [
            ("MOS (audio call, worse direction)", &q.mos),
            ("one-way delay ms (per stream)", &q.delay_ms),
            ("jitter ms (per stream)", &q.jitter_ms),
            ("loss % (per stream)", &q.loss_percent),
            ("setup ms (INVITE to selected pair)", &q.setup_ms),
        ] {
            let _ = writeln!(
                o,
                "  {name:<36} {} / {} / {}, mean {} (n = {})",
                f(d.p5),
                f(d.p50),
                f(d.p95),
                f(d.mean),
                d.count
            );
        }
        let _ = writeln!(o, "selected pairs (caller's candidate - callee's):");
        for r in &q.by_pair_type {
            let _ = writeln!(
                o,
                "  {:<14} {:>6} calls {:>6.1}%  mean MOS {}",
                r.pair_type,
                r.calls,
                100.0 * r.share,
                f(r.mean_mos)
            );
        }
        let _ = writeln!(o, "by where the parties sit (caller -> callee):");
        for r in &q.by_kinds {
            let _ = writeln!(
                o,
                "  {:<9} -> {:<9} {:>6} calls, {:>6} connected, {:>6} relayed, mean MOS {}",
                r.caller.as_str(),
                r.callee.as_str(),
                r.calls,
                r.connected,
                r.relayed,
                f(r.mean_mos)
            );
        }
        let _ = writeln!(o, "Edges (TURN allocations, relayed bandwidth):");
        for e in &self.edges {
            let at = e.peak_allocations_at.map_or_else(String::new, |t| format!(" at {t}"));
            let _ = writeln!(
                o,
                "  {:<8} peak {} allocations{at}, peak relay {:.2} Mbit/s, {} at the end",
                e.edge,
                e.peak_allocations,
                e.peak_relay_bps as f64 / 1e6,
                e.final_allocations
            );
        }
        let _ = writeln!(o, "busiest links (one direction each, sampled every second):");
        let _ = writeln!(
            o,
            "  {:<16} {:<12} {:>12} {:>12} {:>12} {:>7}",
            "link", "from", "bandwidth", "peak", "mean", "peak %"
        );
        let mbit = |b: u64| format!("{:.2}Mbit/s", b as f64 / 1e6);
        for l in &self.links {
            let _ = writeln!(
                o,
                "  {:<16} {:<12} {:>12} {:>12} {:>12} {:>7}",
                l.link,
                l.from,
                l.bandwidth_bps.map_or_else(|| "-".into(), mbit),
                mbit(l.peak_bps),
                mbit(l.mean_bps),
                l.peak_utilisation.map_or_else(|| "-".into(), |u| format!("{:.1}%", 100.0 * u))
            );
        }
        let p = &self.packets;
        let drops: Vec<String> = p.dropped.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let _ = writeln!(
            o,
            "packets: {} sent, {} delivered, {} hops; dropped: {}",
            p.sent,
            p.delivered,
            p.hops,
            if drops.is_empty() { "none".into() } else { drops.join(", ") }
        );
        o
    }

    /// Concurrent TURN allocations over time, one line per Edge.
    pub fn allocations_chart(&self) -> LineChart {
        LineChart {
            name: "edge-allocations",
            title: format!("{}: concurrent TURN allocations per Edge", self.population),
            y_label: "allocations".into(),
            series: self
                .edges
                .iter()
                .map(|e| (e.edge.clone(), e.points.iter().map(|p| (secs(p.at), p.allocations as f64)).collect()))
                .collect(),
        }
    }

    /// Relayed bandwidth over time, one line per Edge.
    pub fn relay_chart(&self) -> LineChart {
        LineChart {
            name: "edge-relay-bandwidth",
            title: format!("{}: relayed media per Edge", self.population),
            y_label: "Mbit/s (both ways)".into(),
            series: self
                .edges
                .iter()
                .map(|e| (e.edge.clone(), e.points.iter().map(|p| (secs(p.at), p.relay_bps as f64 / 1e6)).collect()))
                .collect(),
        }
    }
}

fn secs(t: SimTime) -> f64 {
    t.as_nanos() as f64 / 1e9
}

/// Lines over time, one per named series.
#[derive(Clone, Debug, PartialEq)]
pub struct LineChart {
    name: &'static str,
    title: String,
    y_label: String,
    series: Vec<(String, Vec<(f64, f64)>)>,
}

/// Line colours, dark to light so a grey-scale print keeps them apart; they repeat past six.
const PALETTE: [RGBColor; 6] = [
    RGBColor(0x1b, 0x3a, 0x6b),
    RGBColor(0xc0, 0x39, 0x2b),
    RGBColor(0x27, 0x8a, 0x4e),
    RGBColor(0x8e, 0x44, 0xad),
    RGBColor(0xe6, 0x7e, 0x22),
    RGBColor(0x7f, 0xb3, 0xd5),
];

impl Chart for LineChart {
    fn name(&self) -> &'static str {
        self.name
    }
    fn title(&self) -> &str {
        &self.title
    }
    fn no_data(&self) -> Option<&'static str> {
        self.series.iter().all(|(_, p)| p.is_empty()).then_some("no Edge was sampled")
    }
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB, ()> {
        area.fill(&WHITE)?;
        let x_max = self.series.iter().flat_map(|(_, p)| p.iter().map(|q| q.0)).fold(1.0f64, f64::max);
        let y_max = self.series.iter().flat_map(|(_, p)| p.iter().map(|q| q.1)).fold(0.0f64, f64::max);
        let y_max = if y_max <= 0.0 { 1.0 } else { y_max * 1.1 };
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, ("sans-serif", 30))
            .margin(24)
            .x_label_area_size(56)
            .y_label_area_size(84)
            .build_cartesian_2d(0.0..x_max.ceil(), 0.0..y_max)?;
        chart
            .configure_mesh()
            .x_desc("simulated time (s)")
            .y_desc(self.y_label.as_str())
            .label_style(("sans-serif", 18))
            .axis_desc_style(("sans-serif", 20))
            .draw()?;
        for (k, (name, points)) in self.series.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 18))
            .draw()?;
        Ok(())
    }
}
