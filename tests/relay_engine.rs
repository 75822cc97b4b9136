//! STUN and TURN through the engine on the bundled topologies: server-reflexive addresses
//! behind every NAT preset, allocations on the Edge over UDP and TCP 443, UDP blocked at
//! home, an Edge pool that does not share its secret, and permissions on the relay.

use std::net::SocketAddrV4;

use icepath::engine::{Service, ServiceEvent, ServiceId};
use icepath::net::DropKind;
use icepath::proto::{StunServer, TurnClient, TurnClientConfig, TurnClientEvent, TurnServerEvent};
use icepath::schema::load_topology;
use icepath::trace::{Record, TraceLevel};
use icepath::wire::{Datagram, Protocol};
use icepath::{Engine, Limits, SimDuration, SimRng, Topology};

fn load(file: &str) -> Topology {
    let text = std::fs::read_to_string(file).expect("topology");
    load_topology(file, &text).expect("valid topology").topology
}

fn load_text(text: &str) -> Topology {
    load_topology("patched.yaml", text).expect("valid topology").topology
}

fn sa(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

/// Client events of service `id`, in order.
fn client_events(e: &Engine<'_>, id: ServiceId) -> Vec<TurnClientEvent> {
    e.trace()
        .records()
        .iter()
        .filter_map(|r| match r {
            Record::Service { service, event: ServiceEvent::TurnClient(ev), .. } if *service == id => Some(ev.clone()),
            _ => None,
        })
        .collect()
}

fn server_events(e: &Engine<'_>) -> Vec<TurnServerEvent> {
    e.trace()
        .records()
        .iter()
        .filter_map(|r| match r {
            Record::Service { event: ServiceEvent::Turn(ev), .. } => Some(ev.clone()),
            _ => None,
        })
        .collect()
}

/// A TURN client on `node` at `local` toward `server`, with credentials from `edge`'s MRAS
/// (none needed for plain STUN).
fn client(
    e: &mut Engine<'_>,
    topo: &Topology,
    node: &str,
    local: &str,
    server: &str,
    protocol: Protocol,
    edge: Option<&str>,
) -> ServiceId {
    let (user, pass) = match edge {
        Some(edge) => {
            let c = e
                .mras_credentials(topo.node_by_name(edge).unwrap(), "alice", SimDuration::from_secs(8 * 3600))
                .unwrap();
            (c.username, c.password)
        }
        None => ("anonymous".to_string(), String::new()),
    };
    let cfg = TurnClientConfig {
        protocol,
        seed: e.seed_for(&format!("client/{node}")),
        ..TurnClientConfig::new(sa(local), sa(server), &user, &pass)
    };
    e.attach(topo.node_by_name(node).unwrap(), Service::TurnClient(Box::new(TurnClient::new(cfg))))
}

fn run_for(e: &mut Engine<'_>, secs: u64) {
    let until = e.now() + SimDuration::from_secs(secs);
    e.run_until(until);
}

#[test]
fn every_nat_preset_yields_the_right_reflexive_address() {
    let topo = load("topologies/home-nats.yaml");
    let cases = [
        ("laptop-fc", "192.168.1.10:50000", "home-fc"),
        ("laptop-rc", "192.168.2.10:50000", "home-rc"),
        ("laptop-prc", "192.168.3.10:50000", "home-prc"),
        ("laptop-sym", "192.168.4.10:50000", "home-sym"),
        ("laptop-dbl", "192.168.5.10:50000", "cgn"),
    ];
    for (laptop, local, outermost) in cases {
        let mut e = Engine::new(&topo, SimRng::new(1), Limits::default(), TraceLevel::Outcomes);
        let probe = topo.node_by_name("stun-probe").unwrap();
        e.attach(probe, Service::Stun(StunServer::new([sa("192.0.2.10:3478")])));
        let c = client(&mut e, &topo, laptop, local, "192.0.2.10:3478", Protocol::Udp, None);
        e.command(c, |s, now| {
            if let Service::TurnClient(t) = s {
                t.binding(now)
            }
        });
        run_for(&mut e, 5);
        let Service::TurnClient(t) = e.service(c) else { unreachable!() };
        let reflexive =
            t.reflexive().unwrap_or_else(|| panic!("{laptop}: no reflexive address: {:?}", client_events(&e, c)));
        let nat = e.nat(topo.node_by_name(outermost).unwrap()).unwrap();
        // The reflexive address is exactly the outermost NAT's live mapping of our socket.
        let mapped = nat.mappings(e.now()).iter().map(|m| m.external).collect::<Vec<_>>();
        assert!(
            mapped.contains(&reflexive),
            "{laptop}: reflexive {reflexive} not among {outermost}'s mappings {mapped:?}"
        );
        assert_eq!(*reflexive.ip(), nat.config().external, "{laptop}");
    }
}

fn allocate(e: &mut Engine<'_>, c: ServiceId) {
    e.command(c, |s, now| {
        if let Service::TurnClient(t) = s {
            t.allocate(now)
        }
    });
}

fn relayed(e: &Engine<'_>, c: ServiceId) -> Option<SocketAddrV4> {
    match e.service(c) {
        Service::TurnClient(t) => t.relayed(),
        _ => None,
    }
}

/// The home user allocates on the Edge behind the 1:1 NAT over UDP 3478 and over TCP 443;
/// the relayed address is the advertised public one, not the DMZ address.
#[test]
fn allocations_succeed_over_udp_and_tcp_443() {
    let topo = load("topologies/enterprise-edge.yaml");
    for (protocol, server, local) in [
        (Protocol::Udp, "203.0.113.20:3478", "192.168.1.10:50000"),
        (Protocol::Tcp, "203.0.113.20:443", "192.168.1.10:50001"),
    ] {
        let mut e = Engine::new(&topo, SimRng::new(1), Limits::default(), TraceLevel::Outcomes);
        e.start_edges();
        let c = client(&mut e, &topo, "home-pc", local, server, protocol, Some("edge01"));
        allocate(&mut e, c);
        run_for(&mut e, 5);
        let relayed = relayed(&e, c).unwrap_or_else(|| panic!("{protocol}: {:?}", client_events(&e, c)));
        assert_eq!(*relayed.ip(), "203.0.113.20".parse::<std::net::Ipv4Addr>().unwrap(), "{protocol}");
        assert!((50000..=59999).contains(&relayed.port()));
        // The first attempt is challenged (401 with REALM and NONCE), as RFC 8656 §7.2 says.
        assert!(server_events(&e).iter().any(|ev| matches!(ev, TurnServerEvent::Rejected { code: 401, .. })));
    }
}

/// S15: a home network that blocks UDP leaves only the TCP allocation.
#[test]
fn blocked_udp_leaves_only_the_tcp_allocation() {
    let text = std::fs::read_to_string("topologies/enterprise-edge.yaml").unwrap();
    let blocked = text.replacen(
        "    nat: {outside: wan0, preset: port-restricted-cone}\n  - id: home-pc",
        "    nat: {outside: wan0, preset: port-restricted-cone}\n    firewall: {default: allow, rules: [{name: \"hotel blocks UDP\", action: deny, in: lan0, protocol: udp}]}\n  - id: home-pc",
        1,
    );
    assert_ne!(blocked, text, "the patch must apply");
    let topo = load_text(&blocked);
    let mut e = Engine::new(&topo, SimRng::new(1), Limits::default(), TraceLevel::Outcomes);
    e.start_edges();
    let udp =
        client(&mut e, &topo, "home-pc", "192.168.1.10:50000", "203.0.113.20:3478", Protocol::Udp, Some("edge01"));
    let tcp = client(&mut e, &topo, "home-pc", "192.168.1.10:50001", "203.0.113.20:443", Protocol::Tcp, Some("edge01"));
    allocate(&mut e, udp);
    allocate(&mut e, tcp);
    run_for(&mut e, 60);
    assert_eq!(relayed(&e, udp), None);
    assert!(
        client_events(&e, udp).iter().any(|ev| matches!(ev, TurnClientEvent::TimedOut { .. })),
        "{:?}",
        client_events(&e, udp)
    );
    assert!(relayed(&e, tcp).is_some(), "{:?}", client_events(&e, tcp));
    // Every UDP attempt died at the home firewall, by name.
    let drops: Vec<String> = e
        .trace()
        .records()
        .iter()
        .filter_map(|r| match r {
            Record::Dropped { reason, .. } => Some(reason.describe(&topo).to_string()),
            _ => None,
        })
        .collect();
    assert!(
        !drops.is_empty()
            && drops.iter().all(|d| d.contains("home-nat: firewall denied") && d.contains("hotel blocks UDP")),
        "{drops:?}"
    );
}

/// S17: credentials issued from one pool member's secret are refused by a member that does
/// not share it, and accepted by one that does.
#[test]
fn an_edge_pool_without_a_shared_secret_rejects_foreign_credentials() {
    let topo = load("tests/fixtures/edge-pool.yaml");
    let mut e = Engine::new(&topo, SimRng::new(1), Limits::default(), TraceLevel::Outcomes);
    e.start_edges();
    let good =
        client(&mut e, &topo, "laptop", "192.168.1.10:50000", "203.0.113.20:3478", Protocol::Udp, Some("edge01"));
    let foreign =
        client(&mut e, &topo, "laptop", "192.168.1.10:50001", "203.0.113.21:3478", Protocol::Udp, Some("edge01"));
    allocate(&mut e, good);
    allocate(&mut e, foreign);
    run_for(&mut e, 5);
    assert!(relayed(&e, good).is_some());
    assert_eq!(relayed(&e, foreign), None);
    let failures: Vec<u16> = client_events(&e, foreign)
        .iter()
        .filter_map(|ev| match ev {
            TurnClientEvent::RequestFailed { code, .. } => Some(*code),
            _ => None,
        })
        .collect();
    assert_eq!(failures, [401], "{:?}", client_events(&e, foreign));
}

/// RFC 8656 §9: the relay forwards from a peer only once the client installed a permission.
#[test]
fn the_relay_needs_a_permission_for_each_peer() {
    let topo = load("topologies/enterprise-edge.yaml");
    let mut e = Engine::new(&topo, SimRng::new(1), Limits::default(), TraceLevel::Outcomes);
    e.start_edges();
    let c = client(&mut e, &topo, "home-pc", "192.168.1.10:50000", "203.0.113.20:3478", Protocol::Udp, Some("edge01"));
    allocate(&mut e, c);
    run_for(&mut e, 2);
    let relay = relayed(&e, c).expect("allocated");
    // A peer on the branch's public side sends to the relayed address: dropped at the relay.
    let branch = topo.node_by_name("branch-pc").unwrap();
    let peer_packet = || Datagram::udp(sa("10.20.1.50:6000"), relay, b"hello".to_vec());
    e.send_at(e.now(), branch, peer_packet());
    run_for(&mut e, 1);
    assert!(!client_events(&e, c).iter().any(|ev| matches!(ev, TurnClientEvent::Data { .. })));
    let Service::Turn(server) = e.service(ServiceId(0)) else { panic!("service 0 is the Edge") };
    let client_addr = server.allocations().next().expect("one allocation").five_tuple.client;
    assert_eq!(server.counters(client_addr).unwrap().dropped_no_permission, 1);
    // With a permission for the branch's public address, the same packet is relayed.
    e.command(c, |s, now| {
        if let Service::TurnClient(t) = s {
            t.create_permission(now, sa("198.51.100.10:6000"))
        }
    });
    run_for(&mut e, 1);
    e.send_at(e.now(), branch, peer_packet());
    run_for(&mut e, 1);
    let data: Vec<_> = client_events(&e, c)
        .into_iter()
        .filter_map(|ev| match ev {
            TurnClientEvent::Data { peer, data } => Some((peer, data)),
            _ => None,
        })
        .collect();
    assert_eq!(data.len(), 1);
    assert_eq!(*data[0].0.ip(), "198.51.100.10".parse::<std::net::Ipv4Addr>().unwrap());
    assert_eq!(data[0].1, b"hello");
    let _ = DropKind::Firewall;
}
