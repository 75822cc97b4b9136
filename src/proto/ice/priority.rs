//! How candidates and pairs are ranked, and how local candidates get their foundation.
//!
//! Candidate priority is RFC 8445 §5.1.2.1's formula under both profiles:
//! `2^24 · type preference + 2^8 · local preference + (256 − component)`. The profiles differ
//! in the local preference:
//!
//! - `Profile::Rfc8445`: 65535 for a single interface (§5.1.2.1); each further interface
//!   (in the order first seen) and VPN interfaces get less, and a relayed candidate
//!   allocated over TCP one less than its UDP twin, so same-type candidates stay unique.
//!   TCP candidates use RFC 6544 §4.2: `2^13 · direction + other`.
//! - `Profile::MsIce2`: the local preference packs the transport and the TCP direction:
//!   `2^12 · transport + 2^9 · direction + other` with transport UDP = 15, TCP = 6 and
//!   direction active = 5, passive = 2 — the layout and values of libnice's MS-ICE2
//!   (`NICE_COMPATIBILITY_OC2007R2`) mode, `nice_candidate_ms_ice_local_preference` in
//!   agent/candidate.c and the `NICE_CANDIDATE_*_MS_PREF_*` constants. For a relayed
//!   candidate the transport is the one to the TURN server, so UDP relay outranks TCP relay
//!   (SCENARIOS.md, seeds 000/001/004). See docs/ms-ice2.md for what is guessed.
//!
//! Pair priority is §6.1.2.3: `2^32 · min(G, D) + 2 · max(G, D) + (G > D ? 1 : 0)`.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::Profile;
use super::candidate::{CandidateType, Foundation, TcpType};
use crate::wire::Protocol;

/// What the caller knows about a local candidate it hands the agent; the agent adds the
/// priority and the foundation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalCandidateSpec {
    pub kind: CandidateType,
    pub protocol: Protocol,
    pub address: SocketAddrV4,
    /// RFC 8445 §5.1.1.1; for a relayed candidate, the relayed address itself.
    pub base: SocketAddrV4,
    pub related: Option<SocketAddrV4>,
    pub tcp_type: Option<TcpType>,
    /// Identifies the interface (index or any stable number), so that each interface gets
    /// its own local preference.
    pub interface: u32,
    /// The interface is a VPN tunnel: its candidates get a lower local preference.
    pub is_vpn: bool,
    /// For a relayed candidate: the transport to the TURN server (TCP for TURN over TCP,
    /// whose relayed address is still UDP, RFC 8656 §3.1). `None` means the candidate's own
    /// protocol.
    pub relay_via: Option<Protocol>,
}

impl LocalCandidateSpec {
    /// A UDP host candidate on `interface`.
    pub fn host(address: SocketAddrV4, interface: u32) -> LocalCandidateSpec {
        LocalCandidateSpec {
            kind: CandidateType::Host,
            protocol: Protocol::Udp,
            address,
            base: address,
            related: None,
            tcp_type: None,
            interface,
            is_vpn: false,
            relay_via: None,
        }
    }

    /// A UDP server-reflexive candidate learned through `base`.
    pub fn server_reflexive(address: SocketAddrV4, base: SocketAddrV4, interface: u32) -> LocalCandidateSpec {
        LocalCandidateSpec {
            kind: CandidateType::ServerReflexive,
            related: Some(base),
            base,
            ..LocalCandidateSpec::host(address, interface)
        }
    }

    /// A relayed candidate (UDP to peers) allocated over `via`; `mapped` is the
    /// server-reflexive address the TURN server saw.
    pub fn relayed(relayed: SocketAddrV4, mapped: SocketAddrV4, via: Protocol, interface: u32) -> LocalCandidateSpec {
        LocalCandidateSpec {
            kind: CandidateType::Relayed,
            related: Some(mapped),
            relay_via: Some(via),
            ..LocalCandidateSpec::host(relayed, interface)
        }
    }

    /// The transport that counts for the MS-ICE2 transport preference.
    fn transport_for_preference(&self) -> Protocol {
        match self.kind {
            CandidateType::Relayed => self.relay_via.unwrap_or(self.protocol),
            _ => self.protocol,
        }
    }
}

/// RFC 8445 §5.1.2.2 recommended type preferences (host 126, peer-reflexive 110,
/// server-reflexive 100, relayed 0). We assume MS-ICE2 uses the same values (a guess, see
/// docs/ms-ice2.md).
pub fn type_preference(kind: CandidateType) -> u32 {
    match kind {
        CandidateType::Host => 126,
        CandidateType::PeerReflexive => 110,
        CandidateType::ServerReflexive => 100,
        CandidateType::Relayed => 0,
    }
}

/// The transport a relayed UDP candidate's allocation was made over, read back from its
/// priority (as a peer reading the SDP can): under MS-ICE2 the local preference's transport
/// field (UDP 15, TCP 6); under RFC 8445 the TCP twin's local preference is one less, so even.
/// TCP candidates (RFC 6544, `tcptype`) are not relayed-over-TCP UDP candidates: `None`.
pub fn relay_allocated_over(priority: u32, profile: Profile) -> Option<Protocol> {
    if priority >> 24 != type_preference(CandidateType::Relayed) {
        return None;
    }
    let local = (priority >> 8) & 0xFFFF;
    let tcp = match profile {
        Profile::MsIce2 => match local >> 12 {
            15 => false,
            6 => true,
            _ => return None,
        },
        Profile::Rfc8445 => local.is_multiple_of(2),
    };
    Some(if tcp { Protocol::Tcp } else { Protocol::Udp })
}

/// RFC 8445 §5.1.2.1: `2^24 · type + 2^8 · local + (256 − component)`.
pub fn candidate_priority(type_preference: u32, local_preference: u32, component: u16) -> u32 {
    debug_assert!(type_preference <= 126 && local_preference <= 0xFFFF, "preferences fit their fields");
    (type_preference << 24) + (local_preference << 8) + (256 - u32::from(component.clamp(1, 256)))
}

/// RFC 8445 §6.1.2.3: G is the controlling agent's candidate priority, D the controlled's.
pub fn pair_priority(controlling: u32, controlled: u32) -> u64 {
    let (g, d) = (u64::from(controlling), u64::from(controlled));
    (1u64 << 32) * g.min(d) + 2 * g.max(d) + u64::from(g > d)
}

/// Remembers the interfaces and foundations seen so far, so priorities and foundations are
/// stable and deterministic.
#[derive(Clone, Debug, Default)]
pub struct Ranker {
    /// Interface ids in the order first seen (an id's ordinal is its index). An agent has a
    /// handful, so a scan beats a map, and nothing is allocated until the first candidate.
    interfaces: Vec<u32>,
    /// Foundation keys in the order first seen (a key's foundation number is its index + 1).
    foundations: Vec<FoundationKey>,
}

/// RFC 8445 §5.1.1.3: candidates share a foundation when they have the same type, base IP
/// and protocol (and were learned from the same server, which the spec does not carry: we
/// use the related address's IP for relayed candidates instead, see the module deviations).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct FoundationKey {
    kind: CandidateType,
    base_ip: Ipv4Addr,
    protocol: Protocol,
    relay_via: Option<Protocol>,
    tcp_type: Option<TcpType>,
}

impl Ranker {
    /// The local preference of a candidate under `profile`.
    pub fn local_preference(&mut self, profile: Profile, spec: &LocalCandidateSpec) -> u32 {
        let ordinal = first_seen(&mut self.interfaces, spec.interface) as u32;
        let relay_over_tcp = spec.kind == CandidateType::Relayed && spec.transport_for_preference() == Protocol::Tcp;
        match profile {
            Profile::Rfc8445 => match spec.tcp_type {
                None => {
                    let vpn = if spec.is_vpn { 0x2000 } else { 0 };
                    65535 - vpn - (2 * ordinal).min(0x1000) - u32::from(relay_over_tcp)
                }
                Some(t) => {
                    // RFC 6544 §4.2: direction preference by role and type.
                    let reflexive = matches!(spec.kind, CandidateType::ServerReflexive | CandidateType::PeerReflexive);
                    let direction = match (t, reflexive) {
                        (TcpType::Active, false) => 6,
                        (TcpType::Passive, false) => 4,
                        (TcpType::SimultaneousOpen, false) => 2,
                        (TcpType::Active, true) => 4,
                        (TcpType::Passive, true) => 2,
                        (TcpType::SimultaneousOpen, true) => 6,
                    };
                    let other = 8191 - if spec.is_vpn { 0x1000 } else { 0 } - (2 * ordinal).min(0xFFF);
                    (direction << 13) + other
                }
            },
            Profile::MsIce2 => {
                let transport = match spec.transport_for_preference() {
                    Protocol::Udp => 15,
                    Protocol::Tcp => 6,
                };
                let direction = match spec.tcp_type {
                    Some(TcpType::Active) | Some(TcpType::SimultaneousOpen) => 5,
                    Some(TcpType::Passive) => 2,
                    None => 0,
                };
                let other = 511 - if spec.is_vpn { 256 } else { 0 } - ordinal.min(255);
                (transport << 12) + (direction << 9) + other
            }
        }
    }

    /// The priority of a local candidate (component 1).
    pub fn priority(&mut self, profile: Profile, spec: &LocalCandidateSpec) -> u32 {
        candidate_priority(type_preference(spec.kind), self.local_preference(profile, spec), 1)
    }

    /// The foundation of a local candidate: a small number, the same for candidates that
    /// share type, base IP and transport (RFC 8445 §5.1.1.3).
    pub fn foundation(&mut self, spec: &LocalCandidateSpec) -> Foundation {
        let key = FoundationKey {
            kind: spec.kind,
            base_ip: if spec.kind == CandidateType::Relayed {
                spec.related.map_or(*spec.base.ip(), |r| *r.ip())
            } else {
                *spec.base.ip()
            },
            protocol: spec.protocol,
            relay_via: spec.relay_via,
            tcp_type: spec.tcp_type,
        };
        Foundation::numbered("", first_seen(&mut self.foundations, key) as u32 + 1)
    }
}

/// The index of `x` in `seen`, appended first if it is new.
fn first_seen<T: PartialEq>(seen: &mut Vec<T>, x: T) -> usize {
    match seen.iter().position(|s| *s == x) {
        Some(i) => i,
        None => {
            seen.push(x);
            seen.len() - 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn relay_transport_reads_back_from_priority() {
        let mapped = addr("198.51.100.6:50000");
        for profile in [Profile::MsIce2, Profile::Rfc8445] {
            let mut r = Ranker::default();
            for (via, ifc) in [(Protocol::Udp, 0), (Protocol::Tcp, 0), (Protocol::Udp, 1), (Protocol::Tcp, 1)] {
                let spec = LocalCandidateSpec::relayed(addr("203.0.113.20:50000"), mapped, via, ifc);
                let prio = r.priority(profile, &spec);
                assert_eq!(relay_allocated_over(prio, profile), Some(via), "{profile:?} {via} {ifc}");
            }
            let host = r.priority(profile, &LocalCandidateSpec::host(addr("10.0.0.1:50000"), 0));
            assert_eq!(relay_allocated_over(host, profile), None);
        }
        // The values Lync-shaped SDP shows (MS-ICE2): UDP relay, then the TCP one.
        assert_eq!(relay_allocated_over(15859711, Profile::MsIce2), Some(Protocol::Udp));
        assert_eq!(relay_allocated_over(6422527, Profile::MsIce2), Some(Protocol::Tcp));
    }

    #[test]
    fn rfc8445_example_values() {
        // §5.1.2.1/§5.1.2.2: host, single interface, component 1.
        assert_eq!(candidate_priority(126, 65535, 1), 2130706431);
        assert_eq!(candidate_priority(110, 65535, 1), 1862270975);
        assert_eq!(candidate_priority(100, 65535, 1), 1694498815);
        assert_eq!(candidate_priority(0, 65535, 1), 16777215);
        assert_eq!(candidate_priority(126, 65535, 2), 2130706430);
        let mut r = Ranker::default();
        assert_eq!(r.priority(Profile::Rfc8445, &LocalCandidateSpec::host(addr("10.0.0.1:5000"), 7)), 2130706431);
    }

    #[test]
    fn pair_priority_formula_both_role_orders() {
        let (g, d) = (2130706431u32, 1694498815u32);
        assert_eq!(pair_priority(g, d), (1u64 << 32) * u64::from(d) + 2 * u64::from(g) + 1);
        assert_eq!(pair_priority(d, g), (1u64 << 32) * u64::from(d) + 2 * u64::from(g));
        assert_eq!(pair_priority(g, g), (1u64 << 32) * u64::from(g) + 2 * u64::from(g));
        // The pair is ranked by its worse candidate first.
        assert!(pair_priority(g, d) > pair_priority(d, d));
    }

    #[test]
    fn each_interface_and_vpn_gets_its_own_local_preference() {
        let mut r = Ranker::default();
        let a = r.local_preference(Profile::Rfc8445, &LocalCandidateSpec::host(addr("10.0.0.1:1"), 3));
        let b = r.local_preference(Profile::Rfc8445, &LocalCandidateSpec::host(addr("10.0.1.1:1"), 9));
        let vpn = LocalCandidateSpec { is_vpn: true, ..LocalCandidateSpec::host(addr("10.8.0.2:1"), 12) };
        let v = r.local_preference(Profile::Rfc8445, &vpn);
        assert_eq!(a, 65535);
        assert!(a > b && b > v);
        assert_eq!(r.local_preference(Profile::Rfc8445, &LocalCandidateSpec::host(addr("10.0.0.1:2"), 3)), a);
    }

    #[test]
    fn ms_ice2_packs_transport_and_direction() {
        let mut r = Ranker::default();
        let udp = r.local_preference(Profile::MsIce2, &LocalCandidateSpec::host(addr("10.0.0.1:1"), 1));
        assert_eq!(udp, (15 << 12) + 511);
        let pass = LocalCandidateSpec {
            protocol: Protocol::Tcp,
            tcp_type: Some(TcpType::Passive),
            ..LocalCandidateSpec::host(addr("10.0.0.1:2"), 1)
        };
        assert_eq!(r.local_preference(Profile::MsIce2, &pass), (6 << 12) + (2 << 9) + 511);
        let act = LocalCandidateSpec { tcp_type: Some(TcpType::Active), ..pass };
        assert_eq!(r.local_preference(Profile::MsIce2, &act), (6 << 12) + (5 << 9) + 511);
    }

    #[test]
    fn ms_ice2_orders_host_srflx_udp_relay_tcp_relay() {
        let mut r = Ranker::default();
        let h = addr("10.0.0.1:5000");
        let p = |r: &mut Ranker, s| r.priority(Profile::MsIce2, &s);
        let host = p(&mut r, LocalCandidateSpec::host(h, 1));
        let srflx = p(&mut r, LocalCandidateSpec::server_reflexive(addr("203.0.113.1:6000"), h, 1));
        let relay_udp = p(
            &mut r,
            LocalCandidateSpec::relayed(addr("198.51.100.1:50000"), addr("203.0.113.1:6001"), Protocol::Udp, 1),
        );
        let relay_tcp = p(
            &mut r,
            LocalCandidateSpec::relayed(addr("198.51.100.1:50002"), addr("203.0.113.1:6002"), Protocol::Tcp, 1),
        );
        assert!(host > srflx && srflx > relay_udp && relay_udp > relay_tcp, "{host} {srflx} {relay_udp} {relay_tcp}");
    }

    #[test]
    fn foundations_follow_type_base_and_transport() {
        let mut r = Ranker::default();
        let h1 = LocalCandidateSpec::host(addr("10.0.0.1:5000"), 1);
        let h1b = LocalCandidateSpec::host(addr("10.0.0.1:5002"), 1);
        let h2 = LocalCandidateSpec::host(addr("10.0.1.1:5000"), 2);
        let s1 = LocalCandidateSpec::server_reflexive(addr("203.0.113.1:1"), addr("10.0.0.1:5000"), 1);
        let tcp = LocalCandidateSpec { protocol: Protocol::Tcp, tcp_type: Some(TcpType::Active), ..h1.clone() };
        assert_eq!(r.foundation(&h1), "1");
        assert_eq!(r.foundation(&h1b), "1");
        assert_eq!(r.foundation(&h2), "2");
        assert_eq!(r.foundation(&s1), "3");
        assert_eq!(r.foundation(&tcp), "4");
    }
}
