//! How clients find their Edge and their registrar, on the bundled topologies: the Edge's
//! public address (where clients connect) is not its `advertised` address (what it hands
//! out); MRAS credentials may come from another pool member (`sip.credentials`); a client
//! reaches a multi-homed registrar on the NIC it has a route to.

use icepath::Topology;
use icepath::scenario::{CallError, CallOutcome, CallSpec, run_call};
use icepath::schema::load_topology;

fn load_text(file: &str, text: &str) -> Result<Topology, String> {
    load_topology(file, text).map(|l| l.topology).map_err(|e| format!("{e:?}"))
}

fn load(file: &str) -> Topology {
    load_text(file, &std::fs::read_to_string(file).expect("topology")).expect("valid topology")
}

fn patched(file: &str, from: &str, to: &str) -> Topology {
    let text = std::fs::read_to_string(file).expect("topology");
    assert!(text.contains(from), "{from}");
    load_text(file, &text.replacen(from, to, 1)).expect("valid topology")
}

fn call(topo: &Topology, from: &str, to: &str) -> Result<CallOutcome, CallError> {
    let spec = CallSpec::new(topo.node_by_name(from).expect("caller"), topo.node_by_name(to).expect("callee"));
    run_call(topo, &spec)
}

const EDGE: &str = "topologies/enterprise-edge.yaml";
const USERS: &str = "topologies/lync-remote-users.yaml";

/// S16 (seed 004: "edge uses external IP configured in topology and sends this to client –
/// make sure it's correct"). An Edge behind a 1:1 NAT configured to advertise its private
/// DMZ address still takes sign-ins and allocations at its published address (DNS and the
/// NAT do not change), but hands out relayed candidates on the private address, which the
/// peer cannot reach.
#[test]
fn a_wrong_advertised_address_breaks_relayed_candidates_not_the_way_to_the_edge() {
    let topo = load(EDGE);
    let edge = topo.node_by_name("edge01").unwrap();
    assert_eq!(topo.edge_public_address(edge), Some("203.0.113.20".parse().unwrap()));
    assert_eq!(topo.edge_public_address(topo.node_by_name("core").unwrap()), None);

    let topo = patched(EDGE, "edge: {advertised: 203.0.113.20}", "edge: {advertised: 172.16.10.10}");
    let edge = topo.node_by_name("edge01").unwrap();
    assert_eq!(topo.edge_public_address(edge), Some("203.0.113.20".parse().unwrap()), "the NAT still publishes it");
    let o = call(&topo, "home-pc", "user-pc").expect("call");
    assert!(o.signaling_ok, "the Access Edge is still reached:\n{}", o.to_text());
    let relays: Vec<&String> = o.caller_candidates.iter().filter(|l| l.contains("typ relay")).collect();
    assert!(!relays.is_empty() && relays.iter().all(|l| l.contains(" 172.16.10.10 ")), "{relays:?}");
    // The peer's checks toward the private relayed addresses die on the way; what works
    // is the home user's own relay, which the Edge turns to the internal user.
    let to_relay = |p: &&icepath::scenario::PairRow| p.remote.starts_with("relay udp 172.16.10.10");
    assert!(o.pairs.iter().filter(to_relay).all(|p| p.state != "succeeded"), "{}", o.to_text());
    assert!(
        o.pairs.iter().any(|p| to_relay(&p) && p.reason.contains("dropped by core: no route to 172.16.10.10")),
        "{}",
        o.to_text()
    );
    assert!(o.selected.as_ref().is_some_and(|s| s.local.starts_with("relay udp 172.16.10.10")), "{}", o.to_text());
}

/// S17 (seed 004's certificate tip): credentials issued by edge01 are refused by edge02
/// when the two do not share the secret, so the client has no relay; with the pool's shared
/// secret they are accepted.
#[test]
fn credentials_from_another_pool_member() {
    let from = "sip: {registrar: edge01, relay: edge01}\n  - id: home-b-rtr";
    let to = "sip: {registrar: edge01, relay: edge02, credentials: edge01}\n  - id: home-b-rtr";
    let shared = patched(USERS, from, to);
    let o = call(&shared, "home-a", "home-b").expect("call");
    assert!(o.caller_candidates.iter().any(|l| l.contains("203.0.113.21") && l.contains("typ relay")), "{o:?}");

    let text = std::fs::read_to_string(USERS).unwrap().replacen(from, to, 1).replacen(
        "edge: {advertised: 203.0.113.21, pool: edge-pool}",
        "edge: {advertised: 203.0.113.21, pool: edge-pool, secret: another-certificate}",
        1,
    );
    let split = load_text(USERS, &text).unwrap();
    let o = call(&split, "home-a", "home-b").expect("call");
    assert!(!o.caller_candidates.iter().any(|l| l.contains("typ relay")), "{:?}", o.caller_candidates);
    assert!(o.caller_candidates.iter().any(|l| l.contains("typ srflx")), "STUN needs no credentials");
    assert!(o.gathering.iter().any(|g| g.contains("edge02") && g.contains("401")), "{:?}", o.gathering);
}

#[test]
fn credentials_must_name_an_edge_beside_a_relay() {
    let text = std::fs::read_to_string(USERS).unwrap();
    let from = "sip: {registrar: edge01, relay: edge01}\n  - id: home-b-rtr";
    let bad = text.replacen(from, "sip: {registrar: edge01, credentials: edge01}\n  - id: home-b-rtr", 1);
    let e = load_text(USERS, &bad).unwrap_err();
    assert!(e.contains("beside `relay`"), "{e}");
    let bad =
        text.replacen(from, "sip: {registrar: edge01, relay: edge01, credentials: lync-fe}\n  - id: home-b-rtr", 1);
    let e = load_text(USERS, &bad).unwrap_err();
    assert!(e.contains("lync-fe"), "{e}");
}

/// S20 (seed 002, isolated LAN): the PSTN gateway knows the Mediation Server by its NIC on
/// their shared segment, so it signs in there and the call leg between them is host to
/// host on that segment; a client that has no route to its registrar is an error, not a
/// panic.
#[test]
fn a_multi_homed_registrar_is_reached_on_the_routable_nic() {
    let topo = load(USERS);
    let o = call(&topo, "mediation", "pstn-gw").expect("call");
    assert!(o.connected(), "{}", o.to_text());
    assert!(o.selected.as_ref().unwrap().local.starts_with("host udp"), "{}", o.to_text());

    let text = std::fs::read_to_string(USERS).unwrap();
    let text = text.replacen("      - {name: eth1, address: 10.50.0.10/24, link: pstn-lan, profile: domain}\n", "", 1);
    let cut = load_text(USERS, &text.replacen("    gateway: 10.50.0.10\n", "", 1)).unwrap();
    match call(&cut, "user-pc", "pstn-gw") {
        Err(CallError::NoRouteToRegistrar(node, reg)) => {
            assert_eq!((node.as_str(), reg.as_str()), ("pstn-gw", "mediation"))
        }
        other => panic!("expected NoRouteToRegistrar, got {:?}", other.map(|o| o.to_text())),
    }
}
