//! The hop-by-hop path report behind `icepath trace`.

use std::fmt::Write as _;
use std::net::SocketAddrV4;

use serde::Serialize;

use crate::engine::{RunOutcome, StopReason};
use crate::net::DropKind;
use crate::net::firewall::Decider;
use crate::net::link::Transit;
use crate::net::nat::NatAction;
use crate::time::{SimDuration, SimTime};
use crate::topology::{NodeId, Topology};
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
    pub steps: Vec<Step>,
    pub outcome: Outcome,
}

/// One thing that happened to a packet on its way, in time order.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case", tag = "step")]
pub enum Step {
    /// It arrived at a router and will be forwarded (TTL after the decrement).
    Forward { at: SimTime, node: String, arrived_on: String, ttl: u8 },
    /// It left `node` by `out` over `link` toward `to`, and how long the crossing takes.
    Link { at: SimTime, node: String, out: String, link: String, to: String, transit: Transit },
    /// A NAT rewrote it.
    Nat { at: SimTime, node: String, action: NatAction, before: [SocketAddrV4; 2], after: [SocketAddrV4; 2] },
    /// A firewall let it through.
    Firewall { at: SimTime, node: String, decided_by: String },
    /// It was wrapped into a tunnel packet.
    Encapsulate { at: SimTime, node: String, tunnel: String, outer: PacketSummary },
    /// It was unwrapped from a tunnel packet; `delay` is the crypto time before it goes on.
    Decapsulate { at: SimTime, node: String, tunnel: String, inner: PacketSummary, delay: SimDuration },
}

fn step_node(step: &Step) -> &str {
    match step {
        Step::Forward { node, .. }
        | Step::Link { node, .. }
        | Step::Nat { node, .. }
        | Step::Firewall { node, .. }
        | Step::Encapsulate { node, .. }
        | Step::Decapsulate { node, .. } => node,
    }
}

/// One line for a step that is not a link crossing.
fn describe_step(step: &Step) -> String {
    match step {
        Step::Nat { at, node, action, before, after } => format!(
            "  {:>12}  {node} NAT ({}): {} -> {} becomes {} -> {}",
            at.to_string(),
            action.as_str(),
            before[0],
            before[1],
            after[0],
            after[1]
        ),
        Step::Firewall { at, node, decided_by } => {
            format!("  {:>12}  {node} firewall allows ({decided_by})", at.to_string())
        }
        Step::Encapsulate { at, node, tunnel, outer } => format!(
            "  {:>12}  {node} encapsulates into tunnel {tunnel}: {} {} -> {}, {} bytes",
            at.to_string(),
            outer.protocol,
            outer.src,
            outer.dst,
            outer.size
        ),
        Step::Decapsulate { at, node, tunnel, inner, delay } => format!(
            "  {:>12}  {node} decapsulates from tunnel {tunnel}: {} -> {}, {} bytes; crypto {delay}",
            at.to_string(),
            inner.src,
            inner.dst,
            inner.size
        ),
        Step::Forward { .. } | Step::Link { .. } => unreachable!("links and arrivals are printed by the caller"),
    }
}

/// How the journey ended.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum Outcome {
    /// `seen_as` is the packet's source and destination as the receiver got them.
    Delivered {
        at: SimTime,
        node: String,
        iface: Option<String>,
        one_way: SimDuration,
        seen_as: [SocketAddrV4; 2],
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
    /// Builds the report from a trace recorded at `TraceLevel::Hops`, for the packets with
    /// ids from `first` on (earlier ones, such as VPN handshakes, are left out).
    pub fn new(topo: &Topology, seed: u64, trace: &Trace, run: &RunOutcome, first: PacketId) -> PathReport {
        let mut packets: Vec<PacketPath> = Vec::new();
        let name = |n: NodeId| topo.node(n).name.clone();
        for r in trace.records() {
            let Some(packet) = r.packet() else { continue };
            if packet < first {
                continue;
            }
            if let Record::Sent { at, packet, node, summary } = r {
                packets.push(PacketPath {
                    id: *packet,
                    sent_at: *at,
                    from: name(*node),
                    summary: *summary,
                    steps: Vec::new(),
                    outcome: Outcome::InFlight,
                });
                continue;
            }
            let index = (packet.0 - first.0) as usize;
            let Some(p) = packets.get_mut(index) else { continue };
            debug_assert_eq!(p.id, packet, "invariant: packet ids are dense");
            let step = match r {
                Record::Sent { .. } | Record::Service { .. } => unreachable!("handled above"),
                Record::Forwarded { at, node, arrived_on, ttl, .. } => Step::Forward {
                    at: *at,
                    node: name(*node),
                    arrived_on: topo.iface(*arrived_on).name.clone(),
                    ttl: *ttl,
                },
                Record::Transmitted { at, link, from, to, transit, .. } => {
                    let f = topo.iface(*from);
                    Step::Link {
                        at: *at,
                        node: name(f.node),
                        out: f.name.clone(),
                        link: topo.link(*link).name.clone(),
                        to: topo.iface_label(*to).to_string(),
                        transit: *transit,
                    }
                }
                Record::Translated { at, node, action, before, after, .. } => Step::Nat {
                    at: *at,
                    node: name(*node),
                    action: *action,
                    before: [before.0, before.1],
                    after: [after.0, after.1],
                },
                Record::Allowed { at, node, decider, .. } => {
                    let decided_by = match decider {
                        Decider::Rule(i) => {
                            let rule = topo.node(*node).roles.firewall.as_ref().and_then(|f| f.rules.get(*i as usize));
                            match rule.and_then(|r| r.name.as_ref()) {
                                Some(n) => format!("rule #{} \"{n}\"", i + 1),
                                None => format!("rule #{}", i + 1),
                            }
                        }
                        Decider::Default => "default policy".to_string(),
                        Decider::Established => "established flow".to_string(),
                    };
                    Step::Firewall { at: *at, node: name(*node), decided_by }
                }
                Record::Encapsulated { at, node, tunnel, outer, .. } => Step::Encapsulate {
                    at: *at,
                    node: name(*node),
                    tunnel: topo.link(*tunnel).name.clone(),
                    outer: *outer,
                },
                Record::Decapsulated { at, node, tunnel, inner, delay, .. } => Step::Decapsulate {
                    at: *at,
                    node: name(*node),
                    tunnel: topo.link(*tunnel).name.clone(),
                    inner: *inner,
                    delay: *delay,
                },
                Record::Delivered { at, node, iface, summary, .. } => {
                    p.outcome = Outcome::Delivered {
                        at: *at,
                        node: name(*node),
                        iface: iface.map(|i| topo.iface(i).name.clone()),
                        one_way: at.saturating_since(p.sent_at),
                        seen_as: [summary.src, summary.dst],
                    };
                    continue;
                }
                Record::Dropped { at, reason, .. } => {
                    p.outcome = Outcome::Dropped {
                        at: *at,
                        node: name(reason.node(topo)),
                        iface: reason.iface().map(|i| topo.iface(i).name.clone()),
                        kind: reason.kind(),
                        reason: reason.describe(topo).to_string(),
                    };
                    continue;
                }
            };
            p.steps.push(step);
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

    /// Whether every reported packet reached its destination.
    pub fn all_delivered(&self) -> bool {
        !self.packets.is_empty() && self.packets.iter().all(|p| matches!(p.outcome, Outcome::Delivered { .. }))
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
            // A router's arrival is folded into its next link line; anything it does in
            // between (NAT, firewall, tunnel) prints the arrival first on a line of its own.
            let mut arrival: Option<(&SimTime, &str, &str, u8)> = None;
            let mut here: Option<&str> = None;
            let mut links = 0;
            for step in &p.steps {
                if let Step::Forward { at, node, arrived_on, ttl } = step {
                    arrival = Some((at, node, arrived_on, *ttl));
                    continue;
                }
                let step_node = step_node(step);
                let line = match step {
                    Step::Forward { .. } => unreachable!("handled above"),
                    Step::Link { at, node, out, link, to, transit: t } => {
                        links += 1;
                        let place = match arrival.take() {
                            Some((_, n, i, ttl)) if n == node => format!("{n} in {i} (ttl {ttl}), out {out}"),
                            _ if here == Some(node.as_str()) => format!("{node} out {out}"),
                            _ => format!("{node} sends, out {out}"),
                        };
                        format!(
                            "  {:>12}  {place} over {link} to {to}: queue {}, tx {}, latency {}, jitter {}",
                            at.to_string(),
                            t.queue,
                            t.serialization,
                            t.latency,
                            t.jitter
                        )
                    }
                    other => {
                        if let Some((at, n, i, ttl)) = arrival.take() {
                            let _ = writeln!(o, "  {:>12}  {n} in {i} (ttl {ttl})", at.to_string());
                        }
                        describe_step(other)
                    }
                };
                here = Some(step_node);
                let _ = writeln!(o, "{line}");
            }
            let _ = match &p.outcome {
                Outcome::Delivered { at, node, iface, one_way, seen_as } => writeln!(
                    o,
                    "  {:>12}  delivered to {node}{} after {one_way} ({links} links), seen as {} -> {}",
                    at.to_string(),
                    iface.as_ref().map(|i| format!("/{i}")).unwrap_or_default(),
                    seen_as[0],
                    seen_as[1],
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
