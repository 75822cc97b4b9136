//! One test per class of cross-document problem, on a small two-host network.

use super::super::{Problem, Severity, load_topology};
use super::{default_name, first_overlaps};

/// Two hosts on a LAN behind a router, a p2p uplink to a server.
const BASE: &str = "\
zones:
  lan: Office
links:
  - id: lan
    subnet: 10.0.0.0/24
  - id: up
    kind: p2p
    latency: 5ms
nodes:
  - id: r1
    kind: router
    interfaces:
      - {name: eth0, address: 10.0.0.1/24, link: lan}
      - {name: eth1, address: 192.0.2.1/30, link: up}
  - id: a
    kind: host
    zone: lan
    interfaces:
      - {name: eth0, address: 10.0.0.10/24, link: lan}
    gateway: 10.0.0.1
  - id: srv
    kind: host
    interfaces:
      - {name: eth0, address: 192.0.2.2/30, link: up}
    routes:
      - {to: 10.0.0.0/8, via: 192.0.2.1, metric: 5}
";

/// The problems reported for `BASE` with one replacement applied.
fn problems(from: &str, to: &str) -> Vec<Problem> {
    assert!(BASE.contains(from), "{from:?} is not in the base file");
    let text = BASE.replacen(from, to, 1);
    match load_topology("t.yaml", &text) {
        Ok(loaded) => loaded.warnings.into_iter().map(|d| d.problem).collect(),
        Err(e) => e.diagnostics.into_iter().map(|d| d.problem).collect(),
    }
}

fn only(from: &str, to: &str) -> Problem {
    let mut got = problems(from, to);
    assert_eq!(got.len(), 1, "{got:#?}");
    got.remove(0)
}

#[test]
fn base_loads_and_builds_the_model() {
    let loaded = load_topology("topologies/t.yaml", BASE).unwrap();
    assert!(loaded.warnings.is_empty());
    let t = loaded.topology;
    assert_eq!(t.name, "t");
    assert_eq!((t.nodes.len(), t.links.len(), t.ifaces.len()), (3, 2, 4));
    assert!(t.nodes[0].forwarding && !t.nodes[1].forwarding);
    assert_eq!(t.links[1].members.len(), 2);
    assert_eq!(t.zones["lan"].members, [t.nodes[1].id]);
    let default = t.nodes[1].routes.lookup("8.8.8.8".parse().unwrap()).unwrap();
    assert_eq!(default.next_hop, Some("10.0.0.1".parse().unwrap()));
    let r = t.nodes[2].routes.lookup("10.9.9.9".parse().unwrap()).unwrap();
    assert_eq!((r.metric, r.prefix.to_string().as_str()), (5, "10.0.0.0/8"));
}

#[test]
fn unknown_references_suggest_names() {
    let p = only("link: up}\n  - id: a", "link: upp}\n  - id: a");
    assert!(matches!(p, Problem::UnknownReference { kind: super::RefKind::Link, ref name } if name == "upp"));
    let p = only("zone: lan", "zone: lna");
    assert!(matches!(p, Problem::UnknownReference { kind: super::RefKind::Zone, .. }));
    let p = only("via: 192.0.2.1, metric: 5", "interface: eth9, metric: 5");
    assert!(matches!(p, Problem::UnknownReference { kind: super::RefKind::Interface, .. }));
}

#[test]
fn duplicates_are_found() {
    assert!(matches!(only("id: srv", "id: a"), Problem::Duplicate { kind: super::DupKind::NodeId, .. }));
    assert!(matches!(
        only("{name: eth1, address: 192.0.2.1/30", "{name: eth0, address: 192.0.2.1/30"),
        Problem::Duplicate { kind: super::DupKind::InterfaceName, .. }
    ));
    // The host takes the router's address; its gateway then names its own address too.
    let got = problems("10.0.0.10/24", "10.0.0.1/24");
    assert!(matches!(got[..], [Problem::DuplicateAddress { .. }, Problem::OwnAddress { .. }]), "{got:#?}");
}

#[test]
fn addresses_must_fit_their_link() {
    let got = problems("address: 10.0.0.10/24", "address: 10.0.1.10/24");
    assert!(matches!(got[0], Problem::OutsideSubnet { .. }), "{got:#?}");
    let p = only("address: 192.0.2.2/30", "address: 192.0.2.6/29");
    assert!(matches!(p, Problem::SubnetMismatch { .. }), "{p:?}");
    let p = only("address: 10.0.0.10/24", "address: 10.0.0.255/24");
    assert!(matches!(p, Problem::ReservedAddress { which: "broadcast", .. }), "{p:?}");
    // /31 and /32 have no network or broadcast address to avoid.
    let p = problems("192.0.2.1/30, link: up", "192.0.2.0/31, link: up");
    assert!(!p.iter().any(|p| matches!(p, Problem::ReservedAddress { .. })), "{p:#?}");
}

#[test]
fn gateways_and_next_hops_must_be_on_link() {
    assert!(matches!(only("gateway: 10.0.0.1", "gateway: 10.0.5.1"), Problem::NotOnLink { what: "gateway", .. }));
    assert!(matches!(only("gateway: 10.0.0.1", "gateway: 10.0.0.10"), Problem::OwnAddress { .. }));
    assert!(matches!(only("via: 192.0.2.1", "via: 192.0.2.9"), Problem::NotOnLink { what: "next hop", .. }));
    // With an interface named, the next hop must be inside that interface's subnet.
    assert_eq!(problems("via: 192.0.2.1, metric", "via: 192.0.2.1, interface: eth0, metric"), []);
    assert!(matches!(only("to: 10.0.0.0/8", "to: 10.0.0.1/8"), Problem::HostBitsSet { .. }));
    assert!(matches!(only("via: 192.0.2.1, ", ""), Problem::MissingNextHop));
}

#[test]
fn member_counts() {
    let p = only("    kind: p2p\n", "    kind: p2p\n  - id: spare\n    kind: p2p\n");
    assert!(matches!(p, Problem::PointToPointMembers { count: 0, .. }), "{p:?}");
    let p = only("  - id: up\n", "  - id: spare\n  - id: up\n");
    assert_eq!(p.severity(), Severity::Warning);
    assert!(matches!(p, Problem::LonelyLink { count: 0, .. }), "{p:?}");
}

#[test]
fn overlapping_subnets_warn_and_still_load() {
    let text = BASE.replace("192.0.2.1/30", "10.0.0.129/25").replace("192.0.2.2/30", "10.0.0.130/25");
    let text = text.replace("via: 192.0.2.1", "via: 10.0.0.129").replace("10.0.0.0/8", "10.0.0.0/24");
    let loaded = load_topology("t.yaml", &text).unwrap();
    let got: Vec<&Problem> = loaded.warnings.iter().map(|d| &d.problem).collect();
    assert!(matches!(got[..], [Problem::OverlappingSubnets { .. }]), "{got:#?}");
}

#[test]
fn warnings_travel_with_errors_sorted() {
    let text = BASE.replacen("  - id: up\n", "  - id: spare\n  - id: up\n", 1).replacen("kind: host", "kind: hots", 1);
    let err = load_topology("t.yaml", &text).unwrap_err();
    let sev: Vec<Severity> = err.diagnostics.iter().map(|d| d.severity).collect();
    assert_eq!(sev, [Severity::Warning, Severity::Error]);
    assert_eq!(err.errors().count(), 1);
}

#[test]
fn default_names_come_from_the_file() {
    assert_eq!(default_name("topologies/home-isp.yaml"), "home-isp");
    assert_eq!(default_name("C:\\nets\\lab.v2.yml"), "lab.v2");
    assert_eq!(default_name(".yaml"), ".yaml");
    assert_eq!(default_name(""), "topology");
}

mod overlaps {
    use ipnet::Ipv4Net;
    use proptest::prelude::*;

    use super::first_overlaps;

    /// The definition: the first earlier subnet that holds or is held by this one and is
    /// not written the same.
    fn pairwise(nets: &[Option<Ipv4Net>]) -> Vec<Option<usize>> {
        let mut out = vec![None; nets.len()];
        for (j, b) in nets.iter().enumerate() {
            let Some(b) = b else { continue };
            out[j] = nets[..j]
                .iter()
                .position(|a| a.is_some_and(|a| (a.contains(&b.network()) || b.contains(&a.network())) && a != *b));
        }
        out
    }

    /// Subnets from a small space (10.0.0.0/22 and a few prefix lengths, host bits
    /// allowed), so duplicates, nesting and the same block written two ways are common.
    fn net() -> impl Strategy<Value = Option<Ipv4Net>> {
        prop_oneof![
            1 => Just(None),
            8 => (0u32..1024, prop::sample::select(vec![0u8, 20, 22, 23, 24, 25, 26, 30, 32])).prop_map(|(host, len)| {
                Some(Ipv4Net::new(std::net::Ipv4Addr::from(0x0a00_0000 | host), len).unwrap())
            }),
        ]
    }

    proptest! {
        #[test]
        fn the_indexed_search_finds_what_comparing_every_pair_finds(nets in prop::collection::vec(net(), 0..60)) {
            prop_assert_eq!(first_overlaps(&nets), pairwise(&nets));
        }
    }

    #[test]
    fn examples() {
        let n = |s: &str| Some(s.parse::<Ipv4Net>().unwrap());
        // An exact duplicate overlaps nothing; the same block written with host bits does.
        let nets = [n("10.0.0.0/24"), n("10.0.0.0/24"), n("10.0.0.1/24"), None, n("10.0.0.128/25"), n("10.0.0.0/16")];
        assert_eq!(first_overlaps(&nets), vec![None, None, Some(0), None, Some(0), Some(0)]);
    }
}
