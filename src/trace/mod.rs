//! The typed record of a run: what happened to every packet, when, and where.
//!
//! The engine writes it; reports and the CLI read it. Nothing here refers back to the
//! engine, so a trace can be kept, compared and rendered after the run is gone.

use std::collections::BTreeMap;
use std::net::SocketAddrV4;

use crate::engine::{ServiceEvent, ServiceId};
use crate::net::firewall::Decider;
use crate::net::link::Transit;
use crate::net::nat::NatAction;
use crate::net::{DropKind, DropReason};
use crate::time::{SimDuration, SimTime};
use crate::topology::{IfaceId, LinkId, NodeId};
use crate::wire::{Datagram, Protocol};

/// Identifies one datagram for the whole of its journey (numbered from 1 in send order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct PacketId(pub u64);

/// The addressing and size of a datagram, as sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PacketSummary {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub protocol: Protocol,
    /// IPv4 total length in bytes.
    pub size: u32,
    pub ttl: u8,
    /// The STUN transaction id when the payload is a STUN message (bare or in ChannelData),
    /// so a lost connectivity check can be matched with the drop that killed it.
    #[serde(skip)]
    pub stun_transaction: Option<[u8; 12]>,
}

impl PacketSummary {
    pub fn of(d: &Datagram) -> Self {
        PacketSummary {
            src: d.src,
            dst: d.dst,
            protocol: d.protocol(),
            size: d.wire_len() as u32,
            ttl: d.ttl,
            stun_transaction: stun_transaction(&d.payload),
        }
    }
}

/// The transaction id of a STUN message at the start of `p`, or inside a ChannelData frame
/// (RFC 7983 first-byte ranges). Cheap: looks at the magic cookie only.
fn stun_transaction(p: &[u8]) -> Option<[u8; 12]> {
    const COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
    let at = |offset: usize| -> Option<[u8; 12]> {
        let m = p.get(offset..offset + 20)?;
        (m[0] < 4 && m[4..8] == COOKIE).then(|| m[8..20].try_into().expect("twelve bytes"))
    };
    match *p.first()? {
        // Bare STUN, or STUN behind an RFC 4571 length on an ICE-TCP connection.
        0..=3 => at(0).or_else(|| at(2)),
        // ChannelData: a 4-byte header, then the message.
        64..=79 => at(4),
        _ => None,
    }
}

/// How much the engine writes down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TraceLevel {
    /// Counters only (benchmarks, large runs).
    Counters,
    /// Sends, deliveries and drops.
    Outcomes,
    /// Every hop and link crossing as well.
    Hops,
}

/// One thing that happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// A node originated a datagram.
    Sent { at: SimTime, packet: PacketId, node: NodeId, summary: PacketSummary },
    /// A datagram left an interface onto a link, and how long the crossing will take.
    Transmitted { at: SimTime, packet: PacketId, link: LinkId, from: IfaceId, to: IfaceId, transit: Transit },
    /// A datagram arrived at a node and was forwarded on (its TTL after decrement).
    Forwarded { at: SimTime, packet: PacketId, node: NodeId, arrived_on: IfaceId, ttl: u8 },
    /// A datagram reached the node it was addressed to, with its addresses as delivered
    /// (after every translation: the source is what the receiver sees).
    Delivered { at: SimTime, packet: PacketId, node: NodeId, iface: Option<IfaceId>, summary: PacketSummary },
    /// A datagram was dropped.
    Dropped { at: SimTime, packet: PacketId, reason: DropReason },
    /// A NAT rewrote the datagram's addresses.
    Translated {
        at: SimTime,
        packet: PacketId,
        node: NodeId,
        action: NatAction,
        before: (SocketAddrV4, SocketAddrV4),
        after: (SocketAddrV4, SocketAddrV4),
    },
    /// A firewall let the datagram through: by a rule, its default policy, or because the
    /// flow was already allowed.
    Allowed { at: SimTime, packet: PacketId, node: NodeId, decider: Decider },
    /// The datagram was wrapped into a tunnel packet; it travels as `outer` from here.
    Encapsulated { at: SimTime, packet: PacketId, node: NodeId, tunnel: LinkId, outer: PacketSummary },
    /// A protocol endpoint on a node reported something (a STUN answer, an allocation, a
    /// refusal...).
    Service { at: SimTime, node: NodeId, service: ServiceId, event: ServiceEvent },
    /// A tunnel packet was unwrapped; the inner datagram continues after `delay` (the
    /// concentrator's crypto time, zero elsewhere).
    Decapsulated {
        at: SimTime,
        packet: PacketId,
        node: NodeId,
        tunnel: LinkId,
        inner: PacketSummary,
        delay: SimDuration,
    },
}

impl Record {
    pub fn at(&self) -> SimTime {
        match self {
            Record::Sent { at, .. }
            | Record::Transmitted { at, .. }
            | Record::Forwarded { at, .. }
            | Record::Delivered { at, .. }
            | Record::Dropped { at, .. }
            | Record::Translated { at, .. }
            | Record::Allowed { at, .. }
            | Record::Encapsulated { at, .. }
            | Record::Decapsulated { at, .. }
            | Record::Service { at, .. } => *at,
        }
    }

    /// The packet the record is about (`None` for service events).
    pub fn packet(&self) -> Option<PacketId> {
        Some(match self {
            Record::Sent { packet, .. }
            | Record::Transmitted { packet, .. }
            | Record::Forwarded { packet, .. }
            | Record::Delivered { packet, .. }
            | Record::Dropped { packet, .. }
            | Record::Translated { packet, .. }
            | Record::Allowed { packet, .. }
            | Record::Encapsulated { packet, .. }
            | Record::Decapsulated { packet, .. } => *packet,
            Record::Service { .. } => return None,
        })
    }
}

/// Totals kept at every trace level.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub sent: u64,
    pub delivered: u64,
    pub hops: u64,
    pub dropped: BTreeMap<DropKind, u64>,
}

impl Counters {
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
}

/// A run's record.
#[derive(Clone, Debug)]
pub struct Trace {
    level: TraceLevel,
    records: Vec<Record>,
    counters: Counters,
}

impl Trace {
    pub fn new(level: TraceLevel) -> Self {
        Trace { level, records: Vec::new(), counters: Counters::default() }
    }

    pub fn level(&self) -> TraceLevel {
        self.level
    }

    pub fn records(&self) -> &[Record] {
        &self.records
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The records of one packet, in time order.
    pub fn packet(&self, id: PacketId) -> impl Iterator<Item = &Record> {
        self.records.iter().filter(move |r| r.packet() == Some(id))
    }

    /// Adds a record, updating the counters; keeps it if the level asks for it.
    pub fn record(&mut self, r: Record) {
        let keep = match &r {
            Record::Sent { .. } => {
                self.counters.sent += 1;
                self.level >= TraceLevel::Outcomes
            }
            Record::Delivered { .. } => {
                self.counters.delivered += 1;
                self.level >= TraceLevel::Outcomes
            }
            Record::Dropped { reason, .. } => {
                *self.counters.dropped.entry(reason.kind()).or_default() += 1;
                self.level >= TraceLevel::Outcomes
            }
            Record::Forwarded { .. } => {
                self.counters.hops += 1;
                self.level >= TraceLevel::Hops
            }
            Record::Transmitted { .. }
            | Record::Translated { .. }
            | Record::Allowed { .. }
            | Record::Encapsulated { .. }
            | Record::Decapsulated { .. } => self.level >= TraceLevel::Hops,
            Record::Service { .. } => self.level >= TraceLevel::Outcomes,
        };
        if keep {
            debug_assert!(self.records.last().is_none_or(|l| l.at() <= r.at()), "invariant: records are in time order");
            self.records.push(r);
        }
    }

    /// Whether anything is worth recording beyond counters (lets callers skip building records).
    pub fn wants(&self, level: TraceLevel) -> bool {
        self.level >= level
    }
}
