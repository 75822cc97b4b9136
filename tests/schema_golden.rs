//! Golden tests for topology diagnostics: each broken fixture is loaded and rendered, and
//! the text is compared with `tests/golden/broken/<name>.txt`. Run with `UPDATE_GOLDEN=1`
//! to rewrite the goldens on purpose, then review the diff like code.

use std::fs;
use std::path::Path;

mod common;

use icepath::schema::{Severity, load_topology, render};

/// Loads `tests/fixtures/broken/<name>.yaml`, renders what it reports, compares with the golden.
fn check(name: &str) {
    let file = format!("tests/fixtures/broken/{name}.yaml");
    let text = fs::read_to_string(&file).unwrap_or_else(|e| panic!("reading {file}: {e}"));
    let actual = match load_topology(&file, &text) {
        Ok(loaded) => format!("loaded with {} warning(s)\n{}", loaded.warnings.len(), render(&loaded.warnings, &text)),
        Err(err) => render(&err.diagnostics, &text),
    };
    common::check_golden(&format!("tests/golden/broken/{name}.txt"), &actual);
}

macro_rules! golden {
    ($($test:ident => $name:literal,)*) => {
        $( #[test] fn $test() { check($name); } )*

        /// Every fixture has a test above, so none is forgotten.
        #[test]
        fn every_fixture_is_tested() {
            let listed = [$($name),*];
            for entry in fs::read_dir("tests/fixtures/broken").expect("reading fixtures") {
                let path = entry.expect("fixture entry").path();
                let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
                assert!(listed.contains(&stem.as_str()), "fixture {} has no golden test", path.display());
            }
        }
    };
}

golden! {
    syntax => "syntax",
    not_a_map => "not-a-map",
    unknown_field => "unknown-field",
    missing_field => "missing-field",
    wrong_type => "wrong-type",
    unknown_link => "unknown-link",
    unknown_zone => "unknown-zone",
    unknown_route_interface => "unknown-route-interface",
    duplicate_node => "duplicate-node",
    duplicate_link => "duplicate-link",
    duplicate_interface => "duplicate-interface",
    duplicate_key => "duplicate-key",
    duplicate_address => "duplicate-address",
    outside_subnet => "outside-subnet",
    subnet_mismatch => "subnet-mismatch",
    gateway_off_link => "gateway-off-link",
    next_hop_off_link => "next-hop-off-link",
    bad_cidr => "bad-cidr",
    host_bits => "host-bits",
    reserved_address => "reserved-address",
    bad_unit => "bad-unit",
    loss_over_100 => "loss-over-100",
    jitter_insane => "jitter-insane",
    mtu_out_of_range => "mtu-out-of-range",
    zero_bandwidth => "zero-bandwidth",
    zero_queue => "zero-queue",
    unknown_kind => "unknown-kind",
    nat_without_block => "nat-without-block",
    p2p_members => "p2p-members",
    route_without_next_hop => "route-without-next-hop",
    overlap_warning => "overlap-warning",
    lonely_link_warning => "lonely-link-warning",
    many_errors => "many-errors",
    unknown_preset => "unknown-preset",
    port_range_inverted => "port-range-inverted",
    not_a_concentrator => "not-a-concentrator",
    include_not_cidr => "include-not-cidr",
    edge_one_interface => "edge-one-interface",
    tunnel_all_exclude => "tunnel-all-exclude",
    nat_on_host => "nat-on-host",
    role_on_router => "role-on-router",
    host_rule_on_firewall => "host-rule-on-firewall",
    unknown_resolver => "unknown-resolver",
    duplicate_vpn_address => "duplicate-vpn-address",
    middlebox_many_errors => "middlebox-many-errors",
}

#[test]
fn bundled_topologies_load_without_errors_or_warnings() {
    let mut count = 0;
    for entry in fs::read_dir("topologies").expect("reading topologies/") {
        let path = entry.expect("topology entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        count += 1;
        let file = path.to_string_lossy().into_owned();
        let text = fs::read_to_string(&path).expect("reading topology");
        assert!(text.starts_with('#'), "{file} must open with a comment on the network it models");
        match load_topology(&file, &text) {
            Ok(loaded) => {
                assert!(loaded.warnings.is_empty(), "{file}:\n{}", render(&loaded.warnings, &text));
                let stem = Path::new(&file).file_stem().and_then(|s| s.to_str()).unwrap_or_default();
                assert_eq!(loaded.topology.name, stem, "{file}: `name` should match the file name");
                for node in &loaded.topology.nodes {
                    assert!(
                        node.kind.forwards_by_default() || node.routes.lookup([8, 8, 8, 8].into()).is_some(),
                        "{file}: {} {} needs a gateway",
                        node.kind.as_str(),
                        node.name
                    );
                }
            }
            Err(err) => {
                assert!(err.diagnostics.iter().all(|d| d.severity == Severity::Warning));
                panic!("{file} does not load:\n{}", render(&err.diagnostics, &text));
            }
        }
    }
    assert!(count >= 6, "expected the bundled topologies in topologies/");
}

/// Follows routes hop by hop from `from` towards `dst`; the path taken, or why it stops.
fn walk(
    t: &icepath::Topology,
    from: icepath::topology::NodeId,
    dst: std::net::Ipv4Addr,
) -> Result<Vec<String>, String> {
    let mut at = from;
    let mut hops = vec![t.node(at).name.clone()];
    for _ in 0..32 {
        let node = t.node(at);
        if node.ifaces.iter().any(|&i| t.iface(i).owns(dst)) {
            return Ok(hops);
        }
        if hops.len() > 1 && !node.forwarding {
            return Err(format!("{} does not forward: {hops:?}", node.name));
        }
        let route = node.routes.lookup(dst).ok_or_else(|| format!("{} has no route: {hops:?}", node.name))?;
        let hop = route.next_hop.unwrap_or(dst);
        let egress = route
            .iface
            .or_else(|| node.ifaces.iter().copied().find(|&i| t.iface(i).net.contains(&hop)))
            .ok_or_else(|| format!("{} has no interface towards {hop}", node.name))?;
        let link = t.link(t.iface(egress).link);
        let next = link
            .members
            .iter()
            .find(|&&m| t.iface(m).owns(hop))
            .ok_or_else(|| format!("nobody on {} has {hop}: {hops:?}", link.name))?;
        at = t.iface(*next).node;
        hops.push(t.node(at).name.clone());
    }
    Err(format!("routing loop: {hops:?}"))
}

#[test]
fn every_host_reaches_every_other_host_in_bundled_topologies() {
    for name in ["home-isp", "enterprise-lan", "branch-office"] {
        let file = format!("topologies/{name}.yaml");
        let text = fs::read_to_string(&file).expect("reading topology");
        let t = load_topology(&file, &text).expect("bundled topology loads").topology;
        let hosts: Vec<_> = t.nodes.iter().filter(|n| n.kind == icepath::topology::NodeKind::Host).collect();
        assert!(hosts.len() >= 2, "{file} needs two hosts to trace between");
        for a in &hosts {
            for b in &hosts {
                if a.id == b.id {
                    continue;
                }
                let dst = t.iface(b.ifaces[0]).addr;
                if let Err(why) = walk(&t, a.id, dst) {
                    panic!("{file}: {} cannot reach {} ({dst}): {why}", a.name, b.name);
                }
            }
        }
    }
}

/// Routes in the middlebox topologies lead where their designs say (NAT, firewall rules and
/// encapsulation are the runtime's business; this follows routing tables only, with tunnel
/// links crossed as if they were wires).
#[test]
fn middlebox_topologies_route_as_designed() {
    let load = |name: &str| {
        let file = format!("topologies/{name}.yaml");
        let text = fs::read_to_string(&file).expect("reading topology");
        load_topology(&file, &text).expect("bundled topology loads").topology
    };
    let path = |t: &icepath::Topology, from: &str, to: &str| -> Vec<String> {
        let id = t.node_by_name(from).unwrap_or_else(|| panic!("no node {from}"));
        walk(t, id, to.parse().expect("an address")).unwrap_or_else(|why| panic!("{from} -> {to}: {why}"))
    };

    let t = load("home-nats");
    for laptop in ["laptop-fc", "laptop-rc", "laptop-prc", "laptop-sym", "laptop-dbl"] {
        assert_eq!(path(&t, laptop, "192.0.2.10").last().map(String::as_str), Some("stun-probe"));
    }
    assert_eq!(path(&t, "laptop-dbl", "192.0.2.10"), ["laptop-dbl", "home-dbl", "cgn", "core", "stun-probe"]);
    for public in ["198.51.100.2", "198.51.100.6", "198.51.100.10", "198.51.100.14", "203.0.113.2"] {
        path(&t, "stun-probe", public);
    }

    let t = load("remote-worker-vpn");
    // Tunnel-all: even the Edge's public address is reached through the concentrator.
    assert_eq!(path(&t, "laptop-full", "10.0.1.10"), ["laptop-full", "corp-vpn", "corp-rtr", "lync-fe"]);
    assert_eq!(path(&t, "laptop-full", "203.0.113.20"), ["laptop-full", "corp-vpn", "edge01"]);
    // Split: corporate subnets through the tunnel, the Edge's public address around it.
    assert_eq!(path(&t, "laptop-split", "10.0.1.53"), ["laptop-split", "corp-vpn", "corp-rtr", "dns-int"]);
    assert_eq!(path(&t, "laptop-split", "203.0.113.20"), ["laptop-split", "home-b", "core", "edge01"]);
    assert_eq!(path(&t, "laptop-split", "203.0.113.10"), ["laptop-split", "home-b", "core", "corp-vpn"]);
    assert_eq!(path(&t, "edge01", "10.99.0.11"), ["edge01", "corp-rtr", "corp-vpn", "laptop-split"]);
    path(&t, "desk-pc", "172.16.0.10");
    path(&t, "lync-fe", "10.99.0.10");

    let t = load("enterprise-edge");
    assert_eq!(path(&t, "home-pc", "203.0.113.20"), ["home-pc", "home-nat", "core", "ext-fw"]);
    assert_eq!(path(&t, "branch-pc", "10.0.1.10"), ["branch-pc", "branch-rtr", "ext-fw", "int-fw", "lync-fe"]);
    assert_eq!(path(&t, "branch-pc", "172.16.20.10"), ["branch-pc", "branch-rtr", "ext-fw", "int-fw", "edge01"]);
    assert_eq!(path(&t, "edge01", "10.0.1.50"), ["edge01", "int-fw", "user-pc"]);
    // Seed 001: no persistent route to the branch, so the Edge answers branch users through
    // its default gateway in the DMZ instead of the internal firewall.
    assert_eq!(path(&t, "edge01", "10.20.1.50"), ["edge01", "ext-fw", "branch-rtr", "branch-pc"]);
}

#[test]
fn documented_example_loads() {
    let doc = fs::read_to_string("docs/topology-format.md").expect("reading docs/topology-format.md");
    let example = doc.split("## Example").nth(1).expect("an Example section");
    let yaml = example.split("```yaml\n").nth(1).and_then(|s| s.split("```").next()).expect("a yaml block");
    if let Err(err) = load_topology("docs/example.yaml", yaml) {
        panic!("{}", render(&err.diagnostics, yaml));
    }
}
