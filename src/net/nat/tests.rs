use proptest::prelude::*;

use super::*;
use crate::rng::SimRng;
use crate::topology::{IfaceId, NatBehavior, NatPreset, PortForward, StaticNat};

const EXT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

fn sa(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

fn nat_with(behavior: NatBehavior) -> Nat {
    let cfg = NatConfig {
        preset: None,
        behavior,
        outside: IfaceId(0),
        external: EXT,
        static_nat: vec![StaticNat {
            internal: Ipv4Addr::new(10, 0, 5, 10),
            external: Ipv4Addr::new(198, 51, 100, 20),
        }],
        port_forwards: vec![PortForward {
            protocol: Protocol::Udp,
            external_port: 3478,
            internal: sa("10.0.5.11:3478"),
        }],
    };
    Nat::new(cfg, SimRng::new(1).fork("nat/test"))
}

fn preset(p: NatPreset) -> Nat {
    nat_with(p.behavior())
}

fn out(nat: &mut Nat, now: u64, src: &str, dst: &str) -> SocketAddrV4 {
    let mut d = Datagram::udp(sa(src), sa(dst), vec![1]);
    match nat.outbound(SimTime::from_nanos(now), &mut d) {
        NatOutcome::Translated { .. } => d.src,
        other => panic!("outbound {src} -> {dst} not translated: {other:?}"),
    }
}

/// Offers an inbound packet; returns the internal destination if admitted.
fn inbound(nat: &mut Nat, now: u64, src: &str, dst: SocketAddrV4) -> Option<SocketAddrV4> {
    let mut d = Datagram::udp(sa(src), dst, vec![1]);
    match nat.inbound(SimTime::from_nanos(now), &mut d) {
        NatOutcome::Translated { .. } => Some(d.dst),
        NatOutcome::Refused(_) => None,
        NatOutcome::PassThrough => panic!("inbound to the external address must not pass through"),
    }
}

/// The table of RFC 4787 behaviours per preset: one internal socket sends to three
/// external endpoints (two ports on server A, one on server B); then we check which
/// mappings it got and which unsolicited packets come in.
#[test]
fn presets_map_and_filter_as_rfc4787_decomposes_them() {
    struct Row {
        preset: NatPreset,
        distinct_mappings: usize,
        // unsolicited senders to the first mapping: (A, new port), (C, new address)
        admits_same_addr_new_port: bool,
        admits_new_addr: bool,
    }
    let rows = [
        Row {
            preset: NatPreset::FullCone,
            distinct_mappings: 1,
            admits_same_addr_new_port: true,
            admits_new_addr: true,
        },
        Row {
            preset: NatPreset::RestrictedCone,
            distinct_mappings: 1,
            admits_same_addr_new_port: true,
            admits_new_addr: false,
        },
        Row {
            preset: NatPreset::PortRestrictedCone,
            distinct_mappings: 1,
            admits_same_addr_new_port: false,
            admits_new_addr: false,
        },
        Row {
            preset: NatPreset::Symmetric,
            distinct_mappings: 3,
            admits_same_addr_new_port: false,
            admits_new_addr: false,
        },
        Row {
            preset: NatPreset::Cgnat,
            distinct_mappings: 1,
            admits_same_addr_new_port: false,
            admits_new_addr: false,
        },
    ];
    for row in rows {
        let name = row.preset.as_str();
        let mut nat = preset(row.preset);
        let m1 = out(&mut nat, 0, "192.168.1.10:50000", "192.0.2.1:3478");
        let m2 = out(&mut nat, 1, "192.168.1.10:50000", "192.0.2.1:3479");
        let m3 = out(&mut nat, 2, "192.168.1.10:50000", "203.0.113.9:3478");
        let mut ports = vec![m1.port(), m2.port(), m3.port()];
        ports.dedup();
        assert_eq!(ports.len(), row.distinct_mappings, "{name}: mappings {m1} {m2} {m3}");
        assert!([m1, m2, m3].iter().all(|m| *m.ip() == EXT), "{name}");
        // Replies from every endpoint we sent to are admitted, to the original socket.
        let internal = Some(sa("192.168.1.10:50000"));
        assert_eq!(inbound(&mut nat, 3, "192.0.2.1:3478", m1), internal, "{name}: reply from A");
        assert_eq!(inbound(&mut nat, 3, "203.0.113.9:3478", m3), internal, "{name}: reply from B");
        assert_eq!(
            inbound(&mut nat, 3, "192.0.2.1:9999", m1).is_some(),
            row.admits_same_addr_new_port,
            "{name}: A, new port"
        );
        assert_eq!(inbound(&mut nat, 3, "198.18.0.1:3478", m1).is_some(), row.admits_new_addr, "{name}: new address");
        // Nothing comes in on a port that was never mapped.
        let unmapped = SocketAddrV4::new(EXT, 40000);
        assert_eq!(inbound(&mut nat, 3, "192.0.2.1:3478", unmapped), None, "{name}: unmapped port");
    }
}

#[test]
fn port_allocation_styles() {
    let mut preserve = nat_with(NatBehavior::default());
    assert_eq!(out(&mut preserve, 0, "192.168.1.10:50000", "192.0.2.1:1").port(), 50000);
    // A second host with the same port cannot keep it.
    assert_ne!(out(&mut preserve, 0, "192.168.1.11:50000", "192.0.2.1:1").port(), 50000);

    let seq = NatBehavior {
        port_allocation: PortAllocation::Sequential,
        port_range: 20000..=20002,
        ..NatBehavior::default()
    };
    let mut nat = nat_with(seq);
    let ports: Vec<u16> =
        (0..3).map(|i| out(&mut nat, 0, &format!("192.168.1.{}:5000", 10 + i), "192.0.2.1:1").port()).collect();
    assert_eq!(ports, [20000, 20001, 20002]);
    let mut d = Datagram::udp(sa("192.168.1.99:5000"), sa("192.0.2.1:1"), vec![]);
    assert_eq!(nat.outbound(SimTime::ZERO, &mut d), NatOutcome::Refused(NatRefusal::PortsExhausted));

    let rnd =
        NatBehavior { port_allocation: PortAllocation::Random, port_range: 30000..=39999, ..NatBehavior::default() };
    let mut nat = nat_with(rnd);
    let p = out(&mut nat, 0, "192.168.1.10:5000", "192.0.2.1:1").port();
    assert!((30000..=39999).contains(&p));
}

#[test]
fn mappings_expire_and_refresh() {
    let b = NatBehavior {
        udp_timeout: SimDuration::from_secs(120),
        refresh_on_inbound: false,
        ..NatPreset::FullCone.behavior()
    };
    let mut nat = nat_with(b);
    let s = 1_000_000_000u64;
    let m = out(&mut nat, 0, "192.168.1.10:50000", "192.0.2.1:3478");
    // Refreshed by outbound traffic at 100 s: alive at 200 s.
    out(&mut nat, 100 * s, "192.168.1.10:50000", "192.0.2.1:3478");
    assert!(inbound(&mut nat, 200 * s, "192.0.2.1:3478", m).is_some());
    // Inbound does not refresh here, so at 221 s it has expired and admits nothing.
    let mut d = Datagram::udp(sa("192.0.2.1:3478"), m, vec![]);
    assert!(matches!(
        nat.inbound(SimTime::from_nanos(221 * s), &mut d),
        NatOutcome::Refused(NatRefusal::Expired { .. })
    ));
    assert_eq!(inbound(&mut nat, 222 * s, "192.0.2.1:3478", m), None);
}

#[test]
fn tcp_mapping_follows_the_connection() {
    let mut nat = preset(NatPreset::PortRestrictedCone);
    let s = 1_000_000_000u64;
    let tcp = |src: &str, dst: &str, flags: u8| {
        Datagram::tcp(sa(src), sa(dst), crate::wire::TcpHeader { flags: TcpFlags(flags), ..Default::default() }, vec![])
    };
    let mut syn = tcp("192.168.1.10:40000", "192.0.2.1:443", TcpFlags::SYN.0);
    assert!(matches!(
        nat.outbound(SimTime::ZERO, &mut syn),
        NatOutcome::Translated { action: NatAction::NewMapping, .. }
    ));
    let ext = syn.src;
    let mut ack = tcp("192.168.1.10:40000", "192.0.2.1:443", TcpFlags::ACK.0);
    nat.outbound(SimTime::from_nanos(s), &mut ack);
    // Established: still alive after an hour of silence.
    let mut data = tcp("192.0.2.1:443", &ext.to_string(), TcpFlags::ACK.0);
    assert!(matches!(nat.inbound(SimTime::from_nanos(3600 * s), &mut data), NatOutcome::Translated { .. }));
    // FIN puts it back to the 4-minute transitory timeout.
    let mut fin = tcp("192.168.1.10:40000", "192.0.2.1:443", TcpFlags::FIN.0 | TcpFlags::ACK.0);
    nat.outbound(SimTime::from_nanos(3601 * s), &mut fin);
    let mut late = tcp("192.0.2.1:443", &ext.to_string(), TcpFlags::ACK.0);
    assert!(matches!(nat.inbound(SimTime::from_nanos(3602 * s + 240 * s), &mut late), NatOutcome::Refused(_)));
}

#[test]
fn static_nat_and_port_forwards_admit_unsolicited() {
    let mut nat = preset(NatPreset::Symmetric);
    let edge_public = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 20), 443);
    assert_eq!(inbound(&mut nat, 0, "203.0.113.9:5555", edge_public), Some(sa("10.0.5.10:443")));
    assert_eq!(out(&mut nat, 0, "10.0.5.10:443", "203.0.113.9:5555"), edge_public);
    assert_eq!(inbound(&mut nat, 0, "203.0.113.9:5555", SocketAddrV4::new(EXT, 3478)), Some(sa("10.0.5.11:3478")));
    // Another address is not ours: routed through untouched.
    let mut d = Datagram::udp(sa("203.0.113.9:1"), sa("198.51.100.77:1"), vec![]);
    assert_eq!(nat.inbound(SimTime::ZERO, &mut d), NatOutcome::PassThrough);
}

fn arb_behavior() -> impl Strategy<Value = NatBehavior> {
    let mapping = prop_oneof![
        Just(MappingBehavior::EndpointIndependent),
        Just(MappingBehavior::AddressDependent),
        Just(MappingBehavior::AddressAndPortDependent)
    ];
    let filtering = prop_oneof![
        Just(FilteringBehavior::EndpointIndependent),
        Just(FilteringBehavior::AddressDependent),
        Just(FilteringBehavior::AddressAndPortDependent)
    ];
    let alloc =
        prop_oneof![Just(PortAllocation::Preserve), Just(PortAllocation::Sequential), Just(PortAllocation::Random)];
    (mapping, filtering, alloc).prop_map(|(mapping, filtering, port_allocation)| NatBehavior {
        mapping,
        filtering,
        port_allocation,
        ..NatBehavior::default()
    })
}

/// Remote endpoints drawn from a small pool so repeats and shared addresses are common.
fn arb_remote() -> impl Strategy<Value = SocketAddrV4> {
    (0u8..3, 0u16..3).prop_map(|(a, p)| SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1 + a), 3478 + p))
}

proptest! {
    /// An endpoint-independent NAT reuses one mapping for every destination.
    #[test]
    fn eim_reuses_one_mapping(b in arb_behavior(), remotes in proptest::collection::vec(arb_remote(), 1..20)) {
        let mut nat = nat_with(NatBehavior { mapping: MappingBehavior::EndpointIndependent, ..b });
        let externals: Vec<_> = remotes.iter().map(|r| out(&mut nat, 0, "192.168.1.10:50000", &r.to_string())).collect();
        prop_assert!(externals.iter().all(|e| *e == externals[0]));
    }

    /// Address-and-port-dependent filtering admits exactly the peers we sent to, and every
    /// admitted packet goes back to the original internal endpoint.
    #[test]
    fn apdf_admits_only_exact_peers(
        b in arb_behavior(),
        sent in proptest::collection::vec(arb_remote(), 1..10),
        probes in proptest::collection::vec(arb_remote(), 1..20),
    ) {
        let mut nat = nat_with(NatBehavior { filtering: FilteringBehavior::AddressAndPortDependent, ..b });
        let internal = sa("192.168.1.10:50000");
        let mut externals = Vec::new();
        for r in &sent {
            externals.push((out(&mut nat, 0, &internal.to_string(), &r.to_string()), *r));
        }
        for p in &probes {
            for (ext, _) in &externals {
                // Admitted iff this external mapping was used toward exactly this peer.
                let used_with_peer = externals.iter().any(|(e, r)| e == ext && r == p);
                let got = inbound(&mut nat, 1, &p.to_string(), *ext);
                prop_assert_eq!(got.is_some(), used_with_peer, "probe {} to {}", p, ext);
                if let Some(d) = got {
                    prop_assert_eq!(d, internal);
                }
            }
        }
    }

    /// After its lifetime, a mapping admits nothing, whatever the behaviour.
    #[test]
    fn expired_mappings_admit_nothing(b in arb_behavior(), r in arb_remote(), late in 0u64..1_000) {
        let mut nat = nat_with(b.clone());
        let ext = out(&mut nat, 0, "192.168.1.10:50000", &r.to_string());
        let t = b.udp_timeout.as_nanos() + late * 1_000_000;
        prop_assert_eq!(inbound(&mut nat, t, &r.to_string(), ext), None);
    }
}

#[test]
fn peers_keep_first_sent_order_without_repeats_in_place_and_beyond() {
    let mut p = Peers::new();
    let peer = |n: u16| SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 1), n);
    for n in [1, 2, 1, 3, 4, 2] {
        p.insert(peer(n));
    }
    assert!(matches!(p, Peers::Inline { len: 4, .. }));
    assert_eq!(p.as_slice(), [peer(1), peer(2), peer(3), peer(4)]);
    for n in [5, 3, 6] {
        p.insert(peer(n));
    }
    assert!(matches!(p, Peers::Heap(_)));
    assert_eq!(p.as_slice(), [1, 2, 3, 4, 5, 6].map(peer));
}
