//! VPN tunnels: wrapping a packet into an outer IPv4/UDP datagram and unwrapping it, and
//! the concentrator's crypto engine as a queue with a per-packet cost.
//!
//! Encapsulation keeps real bytes: the outer payload is an 8-byte header (SPI and sequence
//! number, as ESP's), the inner datagram's exact bytes, and a trailer of zero bytes making up
//! the configured overhead (IV, padding, integrity tag). Nothing is encrypted — the bytes
//! matter for sizes, MTU and captures, not for secrecy.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

use thiserror::Error;

use crate::net::link::LinkTx;
use crate::rng::RngStream;
use crate::time::{SimDuration, SimTime};
use crate::topology::{Concentrator, Encapsulation, LinkProps};
use crate::wire::{Datagram, ParseError};

/// Bytes of the outer header we write before the inner datagram.
const HEADER: usize = 8;
/// Marks a tunnel-setup message (the stand-in for IKE): it carries the client's inner address.
const HELLO: &[u8; 8] = b"IPVPNHLO";

/// Why an outer datagram could not be unwrapped.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DecapError {
    /// Shorter than header plus trailer.
    #[error("tunnel packet too short ({0} bytes)")]
    TooShort(usize),
    /// The inner bytes are not a datagram.
    #[error("inner packet malformed: {0}")]
    Inner(ParseError),
}

/// What arrived inside a tunnel datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TunnelPayload {
    /// A client announcing its inner address (tunnel establishment).
    Hello { inner: Ipv4Addr },
    /// An encapsulated packet.
    Data(Datagram),
}

/// Wraps `inner` for the tunnel from `src` to `dst`.
pub fn encapsulate(inner: &Datagram, src: SocketAddrV4, dst: SocketAddrV4, enc: Encapsulation, seq: u32) -> Datagram {
    let trailer = (enc.overhead as usize).saturating_sub(HEADER);
    let bytes = inner.to_bytes();
    let mut payload = Vec::with_capacity(HEADER + bytes.len() + trailer);
    payload.extend_from_slice(&0x0000_1000u32.to_be_bytes()); // SPI
    payload.extend_from_slice(&seq.to_be_bytes());
    payload.extend_from_slice(&bytes);
    payload.resize(payload.len() + trailer, 0);
    Datagram::udp(src, dst, payload)
}

/// The tunnel-setup datagram a client sends when it connects.
pub fn hello(src: SocketAddrV4, dst: SocketAddrV4, inner: Ipv4Addr) -> Datagram {
    let mut payload = HELLO.to_vec();
    payload.extend_from_slice(&inner.octets());
    Datagram::udp(src, dst, payload)
}

/// Unwraps a tunnel datagram.
pub fn decapsulate(outer: &Datagram, enc: Encapsulation) -> Result<TunnelPayload, DecapError> {
    let p = &outer.payload;
    if p.len() == HELLO.len() + 4 && p.starts_with(HELLO) {
        let o = &p[HELLO.len()..];
        return Ok(TunnelPayload::Hello { inner: Ipv4Addr::new(o[0], o[1], o[2], o[3]) });
    }
    let trailer = (enc.overhead as usize).saturating_sub(HEADER);
    if p.len() < HEADER + trailer {
        return Err(DecapError::TooShort(p.len()));
    }
    Datagram::parse(&p[HEADER..p.len() - trailer]).map(TunnelPayload::Data).map_err(DecapError::Inner)
}

/// A concentrator's crypto engine: packets queue for it, each costs one service slot
/// (1 / capacity), the fixed crypto delay and a jitter draw.
#[derive(Clone, Debug)]
pub struct CryptoEngine {
    service: SimDuration,
    delay: SimDuration,
    limit: u32,
    busy_until: SimTime,
    backlog: VecDeque<SimTime>,
    jitter: LinkTx,
    jitter_props: LinkProps,
}

impl CryptoEngine {
    pub fn new(c: &Concentrator, rng: RngStream) -> Self {
        let service =
            c.capacity_pps.map_or(SimDuration::ZERO, |pps| SimDuration::from_nanos(1_000_000_000 / pps.max(1)));
        // The jitter draw reuses the link model's sampler: a zero-latency "link" with the
        // concentrator's jitter, reordering allowed (the queue above keeps FIFO order).
        let jitter_props = LinkProps { jitter: c.crypto_jitter, reorder: true, ..LinkProps::default() };
        CryptoEngine {
            service,
            delay: c.crypto_delay,
            limit: c.queue_packets,
            busy_until: SimTime::ZERO,
            backlog: VecDeque::new(),
            jitter: LinkTx::new(rng),
            jitter_props,
        }
    }

    /// Takes a packet at `now`; returns how long until it is processed, or `None` when the
    /// queue is full.
    pub fn admit(&mut self, now: SimTime) -> Option<SimDuration> {
        while self.backlog.front().is_some_and(|&done| done <= now) {
            self.backlog.pop_front();
        }
        if self.backlog.len() >= self.limit as usize {
            return None;
        }
        let start = self.busy_until.max(now);
        self.busy_until = start + self.service;
        self.backlog.push_back(self.busy_until);
        let jitter = self.jitter.transmit(now, &self.jitter_props, 0).map(|t| t.jitter).unwrap_or(SimDuration::ZERO);
        Some((self.busy_until - now) + self.delay + jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SimRng;

    fn sa(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn round_trip_keeps_the_inner_bytes_and_adds_the_overhead() {
        let inner = Datagram::udp(sa("10.99.0.10:50000"), sa("10.0.1.20:50010"), vec![9; 172]);
        let outer = encapsulate(&inner, sa("192.168.1.10:4500"), sa("203.0.113.10:4500"), Encapsulation::IPSEC, 1);
        assert_eq!(outer.wire_len(), inner.wire_len() + 28 + Encapsulation::IPSEC.overhead as usize);
        assert_eq!(decapsulate(&outer, Encapsulation::IPSEC), Ok(TunnelPayload::Data(inner)));
        let h = hello(sa("192.168.1.10:4500"), sa("203.0.113.10:4500"), Ipv4Addr::new(10, 99, 0, 10));
        assert_eq!(
            decapsulate(&h, Encapsulation::IPSEC),
            Ok(TunnelPayload::Hello { inner: Ipv4Addr::new(10, 99, 0, 10) })
        );
        let junk = Datagram::udp(sa("1.1.1.1:1"), sa("2.2.2.2:4500"), vec![1, 2, 3]);
        assert!(decapsulate(&junk, Encapsulation::IPSEC).is_err());
    }

    #[test]
    fn a_busy_concentrator_queues_and_drops() {
        let c = Concentrator {
            outside: crate::topology::IfaceId(0),
            tunnel: crate::topology::IfaceId(1),
            pool: "10.99.0.0/24".parse().unwrap(),
            crypto_delay: SimDuration::from_micros(100),
            crypto_jitter: None,
            capacity_pps: Some(1000),
            queue_packets: 3,
            hairpin: true,
        };
        let mut e = CryptoEngine::new(&c, SimRng::new(1).fork("vpn"));
        let t0 = SimTime::ZERO;
        // 1 ms per packet at 1000 pps: the n-th packet waits n ms, plus 0.1 ms of crypto.
        assert_eq!(e.admit(t0), Some(SimDuration::from_micros(1100)));
        assert_eq!(e.admit(t0), Some(SimDuration::from_micros(2100)));
        assert_eq!(e.admit(t0), Some(SimDuration::from_micros(3100)));
        assert_eq!(e.admit(t0), None);
        assert!(e.admit(SimTime::ZERO + SimDuration::from_millis(1)).is_some());
    }
}
