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
    /// The RTP packet the payload carries (bare, behind an RFC 4571 length, in ChannelData or
    /// in a TURN Send or Data indication), so a media packet can be followed through a relay
    /// that re-wraps it into a new datagram.
    #[serde(skip)]
    pub rtp: Option<RtpTag>,
}

/// What identifies an RTP packet within a run: its stream and its number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RtpTag {
    pub ssrc: u32,
    pub sequence: u16,
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
            rtp: rtp_tag(&d.payload),
        }
    }
}

/// The RTP packet in `p`, found by RFC 7983's first-byte ranges: bare (128–191), in
/// ChannelData (64–79, after its 4-byte header), in a TURN Send or Data indication (the DATA
/// attribute), or behind an RFC 4571 length on an ICE-TCP connection. RTCP (RFC 5761 §4:
/// packet types 200–204 in the second byte) is not RTP. Cheap: no allocation, no full parse.
fn rtp_tag(p: &[u8]) -> Option<RtpTag> {
    let at = |o: usize| -> Option<RtpTag> {
        let h = p.get(o..o + 12)?;
        let is_rtp = h[0] >> 6 == 2 && !(200..=204).contains(&h[1]);
        is_rtp.then(|| RtpTag {
            ssrc: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            sequence: u16::from_be_bytes([h[2], h[3]]),
        })
    };
    match *p.first()? {
        128..=191 => at(0),
        64..=79 => at(4),
        0..=3 => match turn_data_offset(p) {
            Some(o) => at(o),
            None => {
                let framed = u16::from_be_bytes([p[0], *p.get(1)?]) as usize;
                if framed + 2 <= p.len() { at(2) } else { None }
            }
        },
        _ => None,
    }
}

/// Where the DATA attribute's value starts in a TURN Send (0x0016) or Data (0x0017)
/// indication (RFC 8656 §11.4, §11.6), walking the attributes (RFC 8489 §14: 4-byte header,
/// value padded to 4 bytes).
fn turn_data_offset(p: &[u8]) -> Option<usize> {
    const COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
    const DATA: u16 = 0x0013;
    let h = p.get(..20)?;
    let kind = u16::from_be_bytes([h[0], h[1]]);
    if !(kind == 0x0016 || kind == 0x0017) || h[4..8] != COOKIE {
        return None;
    }
    let end = (20 + u16::from_be_bytes([h[2], h[3]]) as usize).min(p.len());
    let mut at = 20;
    while at + 4 <= end {
        let t = u16::from_be_bytes([p[at], p[at + 1]]);
        let len = u16::from_be_bytes([p[at + 2], p[at + 3]]) as usize;
        if t == DATA {
            return Some(at + 4);
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    None
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

    /// Records from now on at `level` (what is already written stays).
    pub fn set_level(&mut self, level: TraceLevel) {
        self.level = level;
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

    /// Adds a record, updating the counters; keeps it if the level asks for it. The same
    /// rules as the lazy `sent`, `delivered`, `forwarded` and `detail`, which it uses.
    pub fn record(&mut self, r: Record) {
        match r {
            Record::Sent { .. } => self.sent(|| r),
            Record::Delivered { .. } => self.delivered(|| r),
            Record::Forwarded { .. } => self.forwarded(|| r),
            Record::Transmitted { .. }
            | Record::Translated { .. }
            | Record::Allowed { .. }
            | Record::Encapsulated { .. }
            | Record::Decapsulated { .. } => self.detail(|| r),
            Record::Dropped { ref reason, .. } => {
                *self.counters.dropped.entry(reason.kind()).or_default() += 1;
                if self.level >= TraceLevel::Outcomes {
                    self.push(r);
                }
            }
            Record::Service { .. } => {
                if self.level >= TraceLevel::Outcomes {
                    self.push(r);
                }
            }
        }
    }

    /// Counts a send; builds and keeps its record only at `Outcomes` and above (a record's
    /// packet summary parses the payload, which a counters-only run need not pay for).
    pub fn sent(&mut self, build: impl FnOnce() -> Record) {
        self.counters.sent += 1;
        if self.level >= TraceLevel::Outcomes {
            self.push(build());
        }
    }

    /// As `sent`, for a delivery.
    pub fn delivered(&mut self, build: impl FnOnce() -> Record) {
        self.counters.delivered += 1;
        if self.level >= TraceLevel::Outcomes {
            self.push(build());
        }
    }

    /// A forwarding hop: counted always, its record built and kept at `Hops`.
    pub fn forwarded(&mut self, build: impl FnOnce() -> Record) {
        self.counters.hops += 1;
        if self.level >= TraceLevel::Hops {
            self.push(build());
        }
    }

    /// A record that counts nothing and is kept only at `Hops` (transmissions, translations,
    /// firewall passes, tunnel steps): built only then.
    pub fn detail(&mut self, build: impl FnOnce() -> Record) {
        if self.level >= TraceLevel::Hops {
            self.push(build());
        }
    }

    fn push(&mut self, r: Record) {
        debug_assert!(self.records.last().is_none_or(|l| l.at() <= r.at()), "invariant: records are in time order");
        self.records.push(r);
    }

    /// Whether anything is worth recording beyond counters (lets callers skip building records).
    pub fn wants(&self, level: TraceLevel) -> bool {
        self.level >= level
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 12-byte RTP header (V=2, PT 0) with this SSRC and sequence number, and a payload.
    fn rtp(ssrc: u32, seq: u16) -> Vec<u8> {
        let mut b = vec![0x80, 0x00];
        b.extend_from_slice(&seq.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0]);
        b.extend_from_slice(&ssrc.to_be_bytes());
        b.extend_from_slice(&[0xaa; 8]);
        b
    }

    #[test]
    fn rtp_is_found_bare_framed_and_inside_turn() {
        let tag = Some(RtpTag { ssrc: 0x5eed_0001, sequence: 7 });
        let r = rtp(0x5eed_0001, 7);
        assert_eq!(rtp_tag(&r), tag);
        // RFC 4571: a 2-byte length, then the packet.
        let mut framed = (r.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&r);
        assert_eq!(rtp_tag(&framed), tag);
        // ChannelData (RFC 8656 §12.4): channel 0x4000, length, data.
        let mut cd = vec![0x40, 0x00];
        cd.extend_from_slice(&(r.len() as u16).to_be_bytes());
        cd.extend_from_slice(&r);
        assert_eq!(rtp_tag(&cd), tag);
        // A Send indication: XOR-PEER-ADDRESS (8 bytes), then DATA.
        let mut attrs = vec![0x00, 0x12, 0x00, 0x08, 0, 1, 0, 0, 0, 0, 0, 0];
        attrs.extend_from_slice(&[0x00, 0x13]);
        attrs.extend_from_slice(&(r.len() as u16).to_be_bytes());
        attrs.extend_from_slice(&r);
        let mut send = vec![0x00, 0x16];
        send.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        send.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        send.extend_from_slice(&[9; 12]);
        send.extend_from_slice(&attrs);
        assert_eq!(rtp_tag(&send), tag);
        // RTCP (PT 200 in the second byte), a Binding request, and nothing at all are not RTP.
        let mut rtcp = r.clone();
        rtcp[1] = 200;
        assert_eq!(rtp_tag(&rtcp), None);
        let mut binding = send.clone();
        binding[1] = 0x01;
        assert_eq!(rtp_tag(&binding), None);
        assert_eq!(rtp_tag(&[]), None);
        assert_eq!(rtp_tag(&[0x80; 5]), None);
        assert_eq!(rtp_tag(&[0x00]), None);
    }
}
