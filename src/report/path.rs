//! The hop-by-hop path report behind `icepath trace`.

use std::fmt::Write as _;

use serde::Serialize;

use crate::engine::{RunOutcome, StopReason};
use crate::net::DropKind;
use crate::net::link::Transit;
use crate::time::{SimDuration, SimTime};
use crate::topology::Topology;
use crate::trace::{Counters, PacketId, PacketSummary, Record, Trace};

/// Everything `icepath trace` found. Times are integer nanoseconds of virtual time.
#[derive(Clone, Debug, Serialize)]
pub struct PathReport {
    pub topology: String,
    pub seed: u64,
    pub packets: Vec<PacketPath>,
    pub sent: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub stop: StopReason,
    pub events: u64,
}

/// One packet's journey.
#[derive(Clone, Debug, Serialize)]
pub struct PacketPath {
    pub id: PacketId,
    pub sent_at: SimTime,
    pub from: String,
    #[serde(flatten)]
    pub summary: PacketSummary,
    pub hops: Vec<Hop>,
    pub outcome: Outcome,
}

/// A link crossing: the node that transmitted, where the packet went, and how long it took.
#[derive(Clone, Debug, Serialize)]
pub struct Hop {
    /// When the packet left `node`.
    pub at: SimTime,
    pub node: String,
    /// The interface it arrived on (none at the sender).
    pub arrived_on: Option<String>,
    /// TTL after this node's decrement (the sender's initial TTL at the sender).
    pub ttl: u8,
    pub out: String,
    pub link: String,
    pub to: String,
    pub transit: Transit,
}

/// How the journey ended.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum Outcome {
    Delivered {
        at: SimTime,
        node: String,
        iface: Option<String>,
        one_way: SimDuration,
    },
    Dropped {
        at: SimTime,
        node: String,
        iface: Option<String>,
        kind: DropKind,
        reason: String,
    },
    /// The run stopped (at a limit) before the packet arrived or was dropped.
    InFlight,
}

impl PathReport {
    /// Builds the report from a trace recorded at `TraceLevel::Hops`.
    pub fn new(topo: &Topology, seed: u64, trace: &Trace, run: &RunOutcome) -> PathReport {
        let mut packets: Vec<PacketPath> = Vec::new();
        let mut pending_arrival: Vec<Option<(String, u8)>> = Vec::new();
        let index = |id: PacketId| (id.0 - 1) as usize;
        for r in trace.records() {
            match r {
                Record::Sent { at, packet, node, summary } => {
                    debug_assert_eq!(index(*packet), packets.len(), "invariant: packet ids are dense");
                    packets.push(PacketPath {
                        id: *packet,
                        sent_at: *at,
                        from: topo.node(*node).name.clone(),
                        summary: *summary,
                        hops: Vec::new(),
                        outcome: Outcome::InFlight,
                    });
                    pending_arrival.push(None);
                }
                Record::Forwarded { packet, arrived_on, ttl, .. } => {
                    pending_arrival[index(*packet)] = Some((topo.iface(*arrived_on).name.clone(), *ttl));
                }
                Record::Transmitted { at, packet, link, from, to, transit } => {
                    let i = index(*packet);
                    let f = topo.iface(*from);
                    let (arrived_on, ttl) = match pending_arrival[i].take() {
                        Some((iface, ttl)) => (Some(iface), ttl),
                        None => (None, packets[i].summary.ttl),
                    };
                    packets[i].hops.push(Hop {
                        at: *at,
                        node: topo.node(f.node).name.clone(),
                        arrived_on,
                        ttl,
                        out: f.name.clone(),
                        link: topo.link(*link).name.clone(),
                        to: topo.iface_label(*to).to_string(),
                        transit: *transit,
                    });
                }
                Record::Delivered { at, packet, node, iface } => {
                    let p = &mut packets[index(*packet)];
                    p.outcome = Outcome::Delivered {
                        at: *at,
                        node: topo.node(*node).name.clone(),
                        iface: iface.map(|i| topo.iface(i).name.clone()),
                        one_way: at.saturating_since(p.sent_at),
                    };
                }
                Record::Dropped { at, packet, reason } => {
                    packets[index(*packet)].outcome = Outcome::Dropped {
                        at: *at,
                        node: topo.node(reason.node(topo)).name.clone(),
                        iface: reason.iface().map(|i| topo.iface(i).name.clone()),
                        kind: reason.kind(),
                        reason: reason.describe(topo).to_string(),
                    };
                }
            }
        }
        let Counters { sent, delivered, .. } = *trace.counters();
        PathReport {
            topology: topo.name.clone(),
            seed,
            packets,
            sent,
            delivered,
            dropped: trace.counters().dropped_total(),
            stop: run.stop,
            events: run.events,
        }
    }

    /// Whether every packet reached its destination.
    pub fn all_delivered(&self) -> bool {
        self.sent > 0 && self.delivered == self.sent
    }

    /// Pretty JSON, stable for a given seed.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("invariant: the report serializes") + "\n"
    }

    /// The human-readable hop-by-hop listing.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        for p in &self.packets {
            let s = &p.summary;
            let _ = writeln!(
                o,
                "packet {}: {} {} -> {}, {} bytes, sent by {} at {}",
                p.id.0, s.protocol, s.src, s.dst, s.size, p.from, p.sent_at
            );
            for h in &p.hops {
                let place = match &h.arrived_on {
                    None => format!("{} sends", h.node),
                    Some(i) => format!("{} in {} (ttl {})", h.node, i, h.ttl),
                };
                let t = &h.transit;
                let _ = writeln!(
                    o,
                    "  {:>12}  {place}, out {} over {} to {}: queue {}, tx {}, latency {}, jitter {}",
                    h.at.to_string(),
                    h.out,
                    h.link,
                    h.to,
                    t.queue,
                    t.serialization,
                    t.latency,
                    t.jitter
                );
            }
            let _ = match &p.outcome {
                Outcome::Delivered { at, node, iface, one_way } => writeln!(
                    o,
                    "  {:>12}  delivered to {node}{} after {one_way} ({} links)",
                    at.to_string(),
                    iface.as_ref().map(|i| format!("/{i}")).unwrap_or_default(),
                    p.hops.len()
                ),
                Outcome::Dropped { at, kind, reason, .. } => {
                    writeln!(o, "  {:>12}  DROPPED ({}): {reason}", at.to_string(), kind.as_str())
                }
                Outcome::InFlight => writeln!(o, "  {:>12}  still in flight when the run stopped", ""),
            };
        }
        let _ = writeln!(
            o,
            "{} sent, {} delivered, {} dropped; {} events; {} (seed {})",
            self.sent, self.delivered, self.dropped, self.events, self.stop, self.seed
        );
        o
    }
}
