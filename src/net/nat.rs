//! Network address translation with the behaviours RFC 4787 (UDP) and RFC 5382 (TCP)
//! decompose NATs into: mapping, filtering, port allocation, mapping lifetime, hairpinning.
//!
//! `Nat` is sans-IO: the engine hands it a packet leaving by the outside interface
//! (`outbound`) or arriving on it (`inbound`) together with `now`; it rewrites the packet in
//! place and says what it did, or why it refused. Mappings expire lazily: a mapping whose
//! lifetime has passed is treated as absent and removed when next touched.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::rng::RngStream;
use crate::time::{SimDuration, SimTime};
use crate::topology::{FilteringBehavior, MappingBehavior, NatConfig, PortAllocation};
use crate::wire::{Datagram, Protocol, TcpFlags, Transport};

/// What the NAT did to a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NatAction {
    /// Outbound: a new dynamic mapping was created.
    NewMapping,
    /// Outbound: an existing mapping was used (and refreshed).
    ExistingMapping,
    /// Inbound: the mapping admitted the packet.
    Admitted,
    /// Either way: a static 1:1 translation.
    Static,
    /// Inbound: a published port forward.
    PortForward,
}

impl NatAction {
    pub fn as_str(self) -> &'static str {
        match self {
            NatAction::NewMapping => "new mapping",
            NatAction::ExistingMapping => "existing mapping",
            NatAction::Admitted => "admitted by mapping",
            NatAction::Static => "static NAT",
            NatAction::PortForward => "port forward",
        }
    }
}

/// Why the NAT refused a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatRefusal {
    /// Inbound to the external address with no mapping, forward or static entry.
    NoMapping,
    /// A mapping exists but its filtering does not admit this source (RFC 4787 §5).
    Filtered { behavior: FilteringBehavior, internal: SocketAddrV4 },
    /// The mapping existed but its lifetime ran out before this packet.
    Expired { internal: SocketAddrV4 },
    /// No free external port in the configured range.
    PortsExhausted,
}

/// The outcome of offering a packet to the NAT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatOutcome {
    /// Rewritten; (source, destination) before the rewrite.
    Translated {
        action: NatAction,
        before: (SocketAddrV4, SocketAddrV4),
    },
    /// Not the NAT's business (inbound to an address it does not own): routed unchanged.
    PassThrough,
    Refused(NatRefusal),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct MapKey {
    protocol: Protocol,
    internal: SocketAddrV4,
    /// The destination address for address-dependent mappings, else unspecified.
    remote_ip: Ipv4Addr,
    /// The destination port for address-and-port-dependent mappings, else 0.
    remote_port: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TcpPhase {
    Transitory,
    Established,
}

/// One mapping: a cache line, so the check of an arriving packet (its expiry, its peers,
/// where it goes) reads one line of the mapping.
#[derive(Clone, Debug)]
#[repr(align(64))]
struct Mapping {
    key: MapKey,
    external: SocketAddrV4,
    /// Remote endpoints the internal endpoint has sent to through this mapping.
    peers: Peers,
    expires: SimTime,
    tcp: TcpPhase,
}

const _: () = assert!(std::mem::size_of::<Option<Mapping>>() == 64);

/// The peers of a mapping, in the order first sent to. Most mappings have a handful (a
/// STUN server, a TURN server, the far end of a call), kept in place; more move to the heap.
#[derive(Clone, Debug)]
enum Peers {
    Inline { len: u8, peers: [SocketAddrV4; Peers::INLINE] },
    Heap(Vec<SocketAddrV4>),
}

impl Peers {
    const INLINE: usize = 4;

    fn new() -> Peers {
        Peers::Inline { len: 0, peers: [SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0); Peers::INLINE] }
    }

    fn as_slice(&self) -> &[SocketAddrV4] {
        match self {
            Peers::Inline { len, peers } => &peers[..*len as usize],
            Peers::Heap(v) => v,
        }
    }

    /// Adds `peer` unless it is there already.
    fn insert(&mut self, peer: SocketAddrV4) {
        if self.as_slice().contains(&peer) {
            return;
        }
        match self {
            Peers::Inline { len, peers } if (*len as usize) < Peers::INLINE => {
                peers[*len as usize] = peer;
                *len += 1;
            }
            Peers::Inline { peers, .. } => {
                let mut v = peers.to_vec();
                v.push(peer);
                *self = Peers::Heap(v);
            }
            Peers::Heap(v) => v.push(peer),
        }
    }
}

/// One NAT device's state.
#[derive(Clone, Debug)]
pub struct Nat {
    cfg: NatConfig,
    rng: RngStream,
    mappings: Vec<Option<Mapping>>,
    free: Vec<u32>,
    by_key: FxHashMap<MapKey, u32>,
    by_external: FxHashMap<(Protocol, u16), u32>,
    next_port: u16,
}

/// A mapping as seen from outside, for tests and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MappingView {
    pub protocol: Protocol,
    pub internal: SocketAddrV4,
    pub external: SocketAddrV4,
    pub expires: SimTime,
}

impl Nat {
    pub fn new(cfg: NatConfig, rng: RngStream) -> Self {
        let next_port = *cfg.behavior.port_range.start();
        Nat {
            cfg,
            rng,
            mappings: Vec::new(),
            free: Vec::new(),
            by_key: FxHashMap::default(),
            by_external: FxHashMap::default(),
            next_port,
        }
    }

    pub fn config(&self) -> &NatConfig {
        &self.cfg
    }

    /// Whether `addr` is one the NAT answers for on the outside (its external address or a
    /// static-NAT address).
    pub fn owns_external(&self, addr: Ipv4Addr) -> bool {
        addr == self.cfg.external || self.cfg.static_nat.iter().any(|s| s.external == addr)
    }

    /// Live mappings, oldest first.
    pub fn mappings(&self, now: SimTime) -> Vec<MappingView> {
        self.mappings
            .iter()
            .flatten()
            .filter(|m| m.expires > now)
            .map(|m| MappingView {
                protocol: m.key.protocol,
                internal: m.key.internal,
                external: m.external,
                expires: m.expires,
            })
            .collect()
    }

    /// Translates a packet leaving by the outside interface (RFC 4787 §4).
    pub fn outbound(&mut self, now: SimTime, packet: &mut Datagram) -> NatOutcome {
        let before = (packet.src, packet.dst);
        if let Some(s) = self.cfg.static_nat.iter().find(|s| s.internal == *packet.src.ip()) {
            packet.src.set_ip(s.external);
            return NatOutcome::Translated { action: NatAction::Static, before };
        }
        let protocol = packet.protocol();
        let key = MapKey {
            protocol,
            internal: packet.src,
            remote_ip: match self.cfg.behavior.mapping {
                MappingBehavior::EndpointIndependent => Ipv4Addr::UNSPECIFIED,
                _ => *packet.dst.ip(),
            },
            remote_port: match self.cfg.behavior.mapping {
                MappingBehavior::AddressAndPortDependent => packet.dst.port(),
                _ => 0,
            },
        };
        let phase = tcp_phase_after(packet, None);
        let (idx, action) = match self.live(now, self.by_key.get(&key).copied()) {
            Some(i) => (i, NatAction::ExistingMapping),
            None => {
                let Some(port) = self.allocate_port(now, packet.src.port(), protocol) else {
                    return NatOutcome::Refused(NatRefusal::PortsExhausted);
                };
                let m = Mapping {
                    key,
                    external: SocketAddrV4::new(self.cfg.external, port),
                    peers: Peers::new(),
                    expires: now,
                    tcp: phase.unwrap_or(TcpPhase::Transitory),
                };
                (self.insert(m), NatAction::NewMapping)
            }
        };
        let timeouts = self.timeouts();
        let m = self.mappings[idx as usize].as_mut().expect("invariant: live index");
        m.peers.insert(packet.dst);
        if let Some(p) = tcp_phase_after(packet, Some(m.tcp)) {
            m.tcp = p;
        }
        // RFC 4787 REQ-6: outbound packets refresh the mapping.
        m.expires = now + timeouts.for_packet(packet, m.tcp);
        packet.src = m.external;
        NatOutcome::Translated { action, before }
    }

    /// Translates a packet arriving on the outside interface (RFC 4787 §5 filtering).
    pub fn inbound(&mut self, now: SimTime, packet: &mut Datagram) -> NatOutcome {
        let before = (packet.src, packet.dst);
        let dst_ip = *packet.dst.ip();
        if let Some(s) = self.cfg.static_nat.iter().find(|s| s.external == dst_ip) {
            packet.dst.set_ip(s.internal);
            return NatOutcome::Translated { action: NatAction::Static, before };
        }
        if dst_ip != self.cfg.external {
            return NatOutcome::PassThrough;
        }
        let protocol = packet.protocol();
        if let Some(f) =
            self.cfg.port_forwards.iter().find(|f| f.protocol == protocol && f.external_port == packet.dst.port())
        {
            packet.dst = f.internal;
            return NatOutcome::Translated { action: NatAction::PortForward, before };
        }
        let Some(&idx) = self.by_external.get(&(protocol, packet.dst.port())) else {
            return NatOutcome::Refused(NatRefusal::NoMapping);
        };
        let m = self.mappings[idx as usize].as_ref().expect("invariant: indexed mappings exist");
        if m.expires <= now {
            let internal = m.key.internal;
            self.remove(idx);
            return NatOutcome::Refused(NatRefusal::Expired { internal });
        }
        let src = packet.src;
        let admitted = match self.cfg.behavior.filtering {
            FilteringBehavior::EndpointIndependent => true,
            FilteringBehavior::AddressDependent => m.peers.as_slice().iter().any(|p| p.ip() == src.ip()),
            FilteringBehavior::AddressAndPortDependent => m.peers.as_slice().contains(&src),
        };
        if !admitted {
            return NatOutcome::Refused(NatRefusal::Filtered {
                behavior: self.cfg.behavior.filtering,
                internal: m.key.internal,
            });
        }
        let timeouts = self.timeouts();
        let refresh = self.cfg.behavior.refresh_on_inbound;
        let m = self.mappings[idx as usize].as_mut().expect("invariant: indexed mappings exist");
        if let Some(p) = tcp_phase_after(packet, Some(m.tcp)) {
            m.tcp = p;
        }
        if refresh {
            m.expires = now + timeouts.for_packet(packet, m.tcp);
        }
        packet.dst = m.key.internal;
        NatOutcome::Translated { action: NatAction::Admitted, before }
    }

    fn timeouts(&self) -> Timeouts {
        let b = &self.cfg.behavior;
        Timeouts {
            udp: b.udp_timeout,
            tcp_established: b.tcp_established_timeout,
            tcp_transitory: b.tcp_transitory_timeout,
        }
    }

    /// `idx` if it names a mapping still alive at `now`; removes it if it expired.
    fn live(&mut self, now: SimTime, idx: Option<u32>) -> Option<u32> {
        let i = idx?;
        if self.mappings[i as usize].as_ref().is_some_and(|m| m.expires > now) {
            Some(i)
        } else {
            self.remove(i);
            None
        }
    }

    fn insert(&mut self, m: Mapping) -> u32 {
        let key = m.key;
        let ext = (m.key.protocol, m.external.port());
        let idx = match self.free.pop() {
            Some(i) => {
                self.mappings[i as usize] = Some(m);
                i
            }
            None => {
                self.mappings.push(Some(m));
                (self.mappings.len() - 1) as u32
            }
        };
        self.by_key.insert(key, idx);
        self.by_external.insert(ext, idx);
        idx
    }

    fn remove(&mut self, idx: u32) {
        if let Some(m) = self.mappings[idx as usize].take() {
            self.by_key.remove(&m.key);
            self.by_external.remove(&(m.key.protocol, m.external.port()));
            self.free.push(idx);
        }
    }

    /// Whether `port` can be handed out now (expired holders are evicted).
    fn is_free(&mut self, now: SimTime, protocol: Protocol, port: u16) -> bool {
        if self.cfg.port_forwards.iter().any(|f| f.protocol == protocol && f.external_port == port) {
            return false;
        }
        match self.by_external.get(&(protocol, port)).copied() {
            None => true,
            Some(i) => self.live(now, Some(i)).is_none(),
        }
    }

    fn allocate_port(&mut self, now: SimTime, internal_port: u16, protocol: Protocol) -> Option<u16> {
        let range = self.cfg.behavior.port_range.clone();
        let (lo, hi) = (*range.start(), *range.end());
        let size = (hi - lo) as u32 + 1;
        let allocation = self.cfg.behavior.port_allocation;
        match allocation {
            // We preserve the internal port whenever it is in range and free (RFC 4787 §4.2.1
            // "port preservation"), and fall back to the next free port.
            PortAllocation::Preserve => {
                if range.contains(&internal_port) && self.is_free(now, protocol, internal_port) {
                    return Some(internal_port);
                }
            }
            PortAllocation::Random => {
                for _ in 0..64 {
                    let p = lo + (self.rng.next_u64() % size as u64) as u16;
                    if self.is_free(now, protocol, p) {
                        return Some(p);
                    }
                }
            }
            PortAllocation::Sequential => {}
        }
        for _ in 0..size {
            let p = self.next_port;
            self.next_port = if p >= hi || p < lo { lo } else { p + 1 };
            if range.contains(&p) && self.is_free(now, protocol, p) {
                return Some(p);
            }
        }
        None
    }
}

struct Timeouts {
    udp: SimDuration,
    tcp_established: SimDuration,
    tcp_transitory: SimDuration,
}

impl Timeouts {
    fn for_packet(&self, packet: &Datagram, phase: TcpPhase) -> SimDuration {
        match (packet.transport, phase) {
            (Transport::Udp, _) => self.udp,
            (Transport::Tcp(_), TcpPhase::Established) => self.tcp_established,
            (Transport::Tcp(_), TcpPhase::Transitory) => self.tcp_transitory,
        }
    }
}

/// The TCP phase a mapping enters after `packet` (RFC 5382 §5): SYN opens (transitory),
/// data or a bare ACK on an opening mapping establishes it, FIN or RST closes (transitory).
/// `None` for UDP or when the phase does not change.
fn tcp_phase_after(packet: &Datagram, current: Option<TcpPhase>) -> Option<TcpPhase> {
    let Transport::Tcp(h) = packet.transport else { return None };
    if h.flags.has(TcpFlags::FIN) || h.flags.has(TcpFlags::RST) {
        Some(TcpPhase::Transitory)
    } else if h.flags.has(TcpFlags::SYN) {
        current.or(Some(TcpPhase::Transitory))
    } else {
        Some(TcpPhase::Established)
    }
}

impl fmt::Display for NatRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NatRefusal::NoMapping => f.write_str("no mapping for this external port (unsolicited inbound)"),
            NatRefusal::Filtered { behavior, internal } => {
                let b = match behavior {
                    FilteringBehavior::EndpointIndependent => "endpoint-independent",
                    FilteringBehavior::AddressDependent => "address-dependent",
                    FilteringBehavior::AddressAndPortDependent => "address-and-port-dependent",
                };
                write!(f, "{b} filtering: the mapping of {internal} never sent to this source")
            }
            NatRefusal::Expired { internal } => write!(f, "the mapping of {internal} expired"),
            NatRefusal::PortsExhausted => f.write_str("no free external port in the range"),
        }
    }
}

#[cfg(test)]
mod tests;
