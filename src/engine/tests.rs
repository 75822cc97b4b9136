use std::net::SocketAddrV4;

use super::*;
use crate::net::DropKind;
use crate::topology::generate::{chain, grid, grid_host};
use crate::topology::{LinkProps, Route, RouteOrigin};

fn udp(src: &str, dst: &str, len: usize) -> Datagram {
    Datagram::udp(src.parse::<SocketAddrV4>().unwrap(), dst.parse::<SocketAddrV4>().unwrap(), vec![0u8; len])
}

fn props_ms(ms: u64) -> LinkProps {
    LinkProps { latency: SimDuration::from_millis(ms), ..LinkProps::default() }
}

#[test]
fn chain_delivers_after_the_sum_of_latencies() {
    let t = chain(4, props_ms(3));
    let mut e = Engine::new(&t, SimRng::new(1), Limits::default(), TraceLevel::Hops);
    e.send_at(SimTime::ZERO, t.node_by_name("a").unwrap(), udp("10.0.0.1:1000", "10.0.4.2:2000", 100));
    let out = e.run();
    assert_eq!(out.stop, StopReason::Idle);
    let c = e.trace().counters();
    assert_eq!((c.sent, c.delivered, c.hops), (1, 1, 4));
    match e.trace().records().last().unwrap() {
        Record::Delivered { at, node, .. } => {
            assert_eq!(*at, SimTime::ZERO + SimDuration::from_millis(15));
            assert_eq!(t.node(*node).name, "b");
        }
        other => panic!("expected delivery, got {other:?}"),
    }
}

#[test]
fn grid_routes_corner_to_corner() {
    let t = grid(8, props_ms(1));
    let mut e = Engine::new(&t, SimRng::new(1), Limits::default(), TraceLevel::Outcomes);
    e.send_at(SimTime::ZERO, grid_host(&t, 0, 0), udp("10.0.0.10:1", "10.7.7.10:2", 10));
    e.send_at(SimTime::ZERO, grid_host(&t, 7, 7), udp("10.7.7.10:1", "10.0.0.10:2", 10));
    e.run();
    let c = e.trace().counters();
    assert_eq!(c.delivered, 2, "{c:?}");
    // 7 east + 7 north transit links between routers, plus two LAN crossings = 16 links.
    let last = e.trace().records().last().unwrap().at();
    assert_eq!(last, SimTime::ZERO + SimDuration::from_millis(16));
}

#[test]
fn routing_loop_ends_with_ttl_expiry() {
    let mut t = chain(2, props_ms(1));
    // r2 sends a's subnet back... and r1 sends everything to r2: a loop for 10.9.9.9.
    let r1 = t.node_by_name("r1").unwrap();
    let r2 = t.node_by_name("r2").unwrap();
    let to_loop = |hop: &str| Route {
        prefix: "10.9.9.0/24".parse().unwrap(),
        next_hop: Some(hop.parse().unwrap()),
        iface: None,
        metric: 1,
        origin: RouteOrigin::Static,
    };
    t.nodes[r1.0 as usize].routes.insert(to_loop("10.0.1.2"));
    t.nodes[r2.0 as usize].routes.insert(to_loop("10.0.1.1"));
    let mut e = Engine::new(&t, SimRng::new(1), Limits::default(), TraceLevel::Outcomes);
    e.send_at(SimTime::ZERO, t.node_by_name("a").unwrap(), udp("10.0.0.1:1", "10.9.9.9:2", 10));
    let out = e.run();
    assert_eq!(out.stop, StopReason::Idle);
    assert_eq!(e.trace().counters().dropped.get(&DropKind::TtlExpired), Some(&1));
}

#[test]
fn no_route_names_the_node() {
    let t = chain(1, props_ms(1));
    let mut e = Engine::new(&t, SimRng::new(1), Limits::default(), TraceLevel::Outcomes);
    // r1 has a default route toward b, so an unknown destination dies at b (a host).
    e.send_at(SimTime::ZERO, t.node_by_name("b").unwrap(), udp("10.0.1.2:1", "10.0.0.77:2", 10));
    e.run();
    let Record::Dropped { reason, .. } = e.trace().records().last().unwrap() else { panic!() };
    assert_eq!(reason.kind(), DropKind::NeighborUnreachable);
    assert!(reason.describe(&t).to_string().starts_with("r1: next hop 10.0.0.77 is not on link l0"));
}

#[test]
fn oversized_datagram_is_dropped_at_the_mtu() {
    let t = chain(1, LinkProps { mtu: 576, ..props_ms(1) });
    let mut e = Engine::new(&t, SimRng::new(1), Limits::default(), TraceLevel::Outcomes);
    e.send_at(SimTime::ZERO, t.node_by_name("a").unwrap(), udp("10.0.0.1:1", "10.0.1.2:2", 1000));
    e.run();
    assert_eq!(e.trace().counters().dropped.get(&DropKind::MtuExceeded), Some(&1));
}

#[test]
fn limits_stop_the_run_and_say_which() {
    let t = chain(4, props_ms(10));
    let a = t.node_by_name("a").unwrap();
    let limits = Limits { horizon: SimTime::ZERO + SimDuration::from_millis(25), ..Limits::default() };
    let mut e = Engine::new(&t, SimRng::new(1), limits, TraceLevel::Outcomes);
    e.send_at(SimTime::ZERO, a, udp("10.0.0.1:1", "10.0.4.2:2", 10));
    assert!(matches!(e.run().stop, StopReason::Horizon { .. }));
    let limits = Limits { max_events: 3, ..Limits::default() };
    let mut e = Engine::new(&t, SimRng::new(1), limits, TraceLevel::Outcomes);
    e.send_at(SimTime::ZERO, a, udp("10.0.0.1:1", "10.0.4.2:2", 10));
    let out = e.run();
    assert_eq!(out.stop, StopReason::EventBudget { max_events: 3 });
    assert_eq!(out.events, 3);
}

#[test]
fn queue_overflow_on_a_slow_link() {
    let props = LinkProps { bandwidth: Some(64_000), queue: crate::topology::QueueLimit::Packets(5), ..props_ms(1) };
    let t = chain(1, props);
    let mut e = Engine::new(&t, SimRng::new(1), Limits::default(), TraceLevel::Outcomes);
    let a = t.node_by_name("a").unwrap();
    for _ in 0..20 {
        e.send_at(SimTime::ZERO, a, udp("10.0.0.1:1", "10.0.1.2:2", 172));
    }
    e.run();
    let c = e.trace().counters();
    assert_eq!(c.dropped.get(&DropKind::QueueFull), Some(&15));
    assert_eq!(c.delivered, 5);
}

/// Two hosts behind one NAT, one talking to the other through the NAT's public address
/// (RFC 4787 §6): translated both ways when the NAT hairpins, dropped when it does not.
#[test]
fn hairpinning_follows_the_nat_setting() {
    let yaml = |hairpin: bool| {
        format!(
            "links:\n  - {{id: lan}}\n  - {{id: wan}}\nnodes:\n  - id: nat\n    kind: nat\n    interfaces:\n      - {{name: in0, address: 192.168.1.1/24, link: lan}}\n      - {{name: out0, address: 198.51.100.2/24, link: wan}}\n    nat: {{outside: out0, preset: full-cone, hairpinning: {hairpin}}}\n  - id: a\n    kind: host\n    interfaces: [{{name: e0, address: 192.168.1.10/24, link: lan}}]\n    gateway: 192.168.1.1\n  - id: b\n    kind: host\n    interfaces: [{{name: e0, address: 192.168.1.11/24, link: lan}}]\n    gateway: 192.168.1.1\n  - id: isp\n    kind: host\n    interfaces: [{{name: e0, address: 198.51.100.1/24, link: wan}}]\n"
        )
    };
    for hairpin in [true, false] {
        let t = crate::schema::load_topology("hairpin.yaml", &yaml(hairpin)).expect("valid").topology;
        let mut e = Engine::new(&t, SimRng::new(1), Limits::default(), TraceLevel::Outcomes);
        let (a, b) = (t.node_by_name("a").unwrap(), t.node_by_name("b").unwrap());
        // b opens a full-cone mapping 198.51.100.2:6000 by sending out; a then sends to it.
        e.send_at(SimTime::ZERO, b, udp("192.168.1.11:6000", "198.51.100.1:9", 8));
        e.run();
        let id = e.send_at(e.now(), a, udp("192.168.1.10:5000", "198.51.100.2:6000", 8));
        e.run();
        let last = e.trace().packet(id).last().cloned().unwrap();
        if hairpin {
            let Record::Delivered { node, summary, .. } = last else {
                panic!("hairpinned packet not delivered: {last:?}")
            };
            assert_eq!(node, b);
            // b sees a's external address and port, as RFC 4787 REQ-9 asks.
            assert_eq!(summary.src.to_string(), "198.51.100.2:5000");
            assert_eq!(summary.dst.to_string(), "192.168.1.11:6000");
        } else {
            let Record::Dropped { reason, .. } = last else { panic!("expected a drop: {last:?}") };
            assert_eq!(reason.kind(), DropKind::NatNoHairpin);
        }
    }
}

#[test]
fn too_many_events_at_one_instant_stop_the_run() {
    let t = chain(1, props_ms(1));
    let limits = Limits { max_events_per_instant: 10, ..Limits::default() };
    let mut e = Engine::new(&t, SimRng::new(1), limits, TraceLevel::Counters);
    let a = t.node_by_name("a").unwrap();
    for _ in 0..20 {
        e.send_at(SimTime::ZERO, a, udp("10.0.0.1:1", "10.0.1.2:2", 10));
    }
    let out = e.run();
    assert!(matches!(out.stop, StopReason::Stalled { events: 11, .. }), "{:?}", out.stop);
    assert!(out.stop.to_string().contains("without time moving"));
}

#[test]
fn events_survive_packing_into_eight_bytes() {
    assert_eq!(std::mem::size_of::<PackedEvent>(), 8);
    let max = MAX_SLOTS - 1;
    for e in [
        Event::Originate { slot: 0, node: NodeId(0) },
        Event::Egress { slot: max, node: NodeId(u32::MAX) },
        Event::Arrive { slot: 12345, iface: IfaceId(7) },
        Event::Timer { service: ServiceId(max) },
    ] {
        assert_eq!(Event::from(PackedEvent::from(e)), e);
    }
}
