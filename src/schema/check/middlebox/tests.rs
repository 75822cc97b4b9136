//! One test per middlebox validation, on the bundled VPN and enterprise-edge topologies,
//! and the model they build.

use std::net::Ipv4Addr;

use crate::schema::{DupKind, Problem, RefKind, Severity, load_topology};
use crate::topology::{
    Action, Direction, Encapsulation, IfaceType, LinkKind, NatPreset, NetworkProfile, NodeKind, RuleOrder, Topology,
    TunnelMode,
};

const VPN: &str = include_str!("../../../../topologies/remote-worker-vpn.yaml");
const EDGE: &str = include_str!("../../../../topologies/enterprise-edge.yaml");
const NATS: &str = include_str!("../../../../topologies/home-nats.yaml");

/// Every problem reported for `base` with the replacements applied in order.
fn problems(base: &str, edits: &[(&str, &str)]) -> Vec<Problem> {
    let mut text = base.to_string();
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} is not in the file");
        text = text.replacen(from, to, 1);
    }
    match load_topology("t.yaml", &text) {
        Ok(loaded) => loaded.warnings.into_iter().map(|d| d.problem).collect(),
        Err(e) => e.diagnostics.into_iter().map(|d| d.problem).collect(),
    }
}

fn only(base: &str, from: &str, to: &str) -> Problem {
    let mut got = problems(base, &[(from, to)]);
    assert_eq!(got.len(), 1, "{got:#?}");
    got.remove(0)
}

fn load(text: &str) -> Topology {
    load_topology("t.yaml", text).unwrap_or_else(|e| panic!("{e}")).topology
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn vpn_clients_get_a_virtual_interface_on_the_pool_link() {
    let t = load(VPN);
    let physical = t.ifaces.iter().filter(|i| !i.is_tunnel).count();
    // Physical interfaces first, then pool0, then the clients' interfaces in file order.
    assert!(t.ifaces[..physical].iter().all(|i| !i.is_tunnel));
    let pool = t.links.iter().find(|l| l.name == "corp-vpn-pool").expect("a pool link");
    assert_eq!(pool.kind, LinkKind::Tunnel);
    let members: Vec<String> = pool.members.iter().map(|&i| t.iface_label(i).to_string()).collect();
    assert_eq!(members, ["corp-vpn/pool0", "laptop-full/vpn0", "laptop-split/vpn0"]);
    assert_eq!(pool.members[0].0 as usize, physical);

    let conc = t.node(t.node_by_name("corp-vpn").unwrap());
    let c = conc.roles.concentrator.as_ref().unwrap();
    assert_eq!(t.iface(c.tunnel).addr, ip("10.99.0.1"));
    assert_eq!(t.iface(c.outside).name, "ext0");
    assert_eq!((c.capacity_pps, c.queue_packets, c.hairpin), (Some(20_000), 1000, true));
    assert_eq!(c.crypto_delay.as_nanos(), 1_000_000);

    let full = t.node(t.node_by_name("laptop-full").unwrap());
    let vpn = full.roles.vpn.as_ref().unwrap();
    let vif = t.iface(vpn.iface);
    assert_eq!(
        (vif.name.as_str(), vif.iface_type, vif.profile),
        ("vpn0", IfaceType::RemoteAccess, NetworkProfile::Domain)
    );
    assert!(vif.is_tunnel);
    assert_eq!(
        (vpn.server, vpn.mode.clone(), vpn.encapsulation),
        (ip("203.0.113.10"), TunnelMode::Full, Encapsulation::IPSEC)
    );
    // Tunnel-all: everything via the pool gateway, except the tunnel's own packets.
    let r = full.routes.lookup(ip("8.8.8.8")).unwrap();
    assert_eq!((r.next_hop, r.iface), (Some(ip("10.99.0.1")), Some(vpn.iface)));
    let r = full.routes.lookup(ip("203.0.113.10")).unwrap();
    assert_eq!((r.next_hop, r.iface), (Some(ip("192.168.1.1")), None));

    let split = t.node(t.node_by_name("laptop-split").unwrap());
    let svpn = split.roles.vpn.as_ref().unwrap();
    let r = split.routes.lookup(ip("10.0.1.10")).unwrap();
    assert_eq!((r.next_hop, r.iface, r.metric), (Some(ip("10.99.0.1")), Some(svpn.iface), 5));
    for outside in ["203.0.113.20", "8.8.8.8"] {
        assert_eq!(split.routes.lookup(ip(outside)).unwrap().next_hop, Some(ip("192.168.2.1")), "{outside}");
    }
}

#[test]
fn seed_000_firewall_rule_is_expressed_exactly() {
    let t = load(VPN);
    let split = t.node(t.node_by_name("laptop-split").unwrap());
    let fw = split.roles.firewall.as_ref().unwrap();
    assert_eq!(
        (fw.order, fw.default_in, fw.default_out, fw.stateful),
        (RuleOrder::DenyFirst, Action::Allow, Action::Allow, true)
    );
    assert_eq!(fw.rules.len(), 2);
    for (rule, dir) in fw.rules.iter().zip([Direction::In, Direction::Out]) {
        assert_eq!(rule.action, Action::Deny);
        assert_eq!(rule.direction, Some(dir));
        assert_eq!(rule.app.as_deref(), Some("communicator.exe"));
        assert_eq!((rule.protocol, &rule.src_ports, &rule.dst_ports), (None, &None, &None));
        assert_eq!(rule.local, ["10.99.0.0/24".parse().unwrap()]);
        assert_eq!(rule.remote, ["10.0.0.0/8".parse().unwrap(), "10.99.0.0/24".parse().unwrap()]);
        assert_eq!((rule.iface_type, rule.profile), (Some(IfaceType::RemoteAccess), Some(NetworkProfile::Domain)));
    }
}

#[test]
fn dns_views_edges_and_resolvers() {
    let t = load(
        &VPN.replace("sip.contoso.com: 203.0.113.20\n          av", "SIP.Contoso.com: 203.0.113.20\n          av"),
    );
    let dns = t.node(t.node_by_name("dns-int").unwrap());
    let views = &dns.roles.dns.as_ref().unwrap().views;
    let names: Vec<&str> = views.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["vpn", "internal", "external"]);
    assert_eq!(views[0].records["sip.contoso.com"], [ip("203.0.113.20")]);
    assert!(views[2].clients.is_empty(), "`any` is the empty list");
    let edge = t.node(t.node_by_name("edge01").unwrap());
    let e = edge.roles.edge.clone().unwrap();
    assert_eq!((t.iface(e.internal).name.as_str(), t.iface(e.external).name.as_str()), ("int0", "ext0"));
    assert_eq!(e.advertised, ip("203.0.113.20"));
    assert!(!edge.forwarding);
    assert_eq!(edge.roles.resolver, Some(dns.id));
    assert_eq!(t.iface(edge.ifaces[1]).profile, NetworkProfile::Public, "physical interfaces default to public");
}

#[test]
fn site_tunnels_static_nat_and_network_rules() {
    let t = load(EDGE);
    let br = t.node(t.node_by_name("branch-rtr").unwrap());
    let fw = t.node(t.node_by_name("ext-fw").unwrap());
    let [end] = br.roles.site_tunnels[..] else { panic!("one tunnel end") };
    assert_eq!((end.local, end.remote), (ip("198.51.100.10"), ip("198.51.100.2")));
    assert_eq!(t.iface(end.iface).name, "tun0");
    assert_eq!(fw.roles.site_tunnels[0].remote, ip("198.51.100.10"));
    let link = t.link(t.iface(end.iface).link);
    assert_eq!((link.name.as_str(), link.kind), ("branch-hq", LinkKind::Tunnel));
    // Routes may name virtual interfaces.
    let r = fw.routes.lookup(ip("10.20.1.50")).unwrap();
    assert_eq!(t.iface(r.iface.unwrap()).name, "tun0");

    let nat = fw.roles.nat.as_ref().unwrap();
    assert_eq!(nat.preset, Some(NatPreset::PortRestrictedCone));
    assert_eq!(nat.external, ip("198.51.100.2"));
    assert_eq!(t.iface(nat.outside).aliases, [ip("203.0.113.20")]);
    assert_eq!(t.iface_by_addr(ip("203.0.113.20")), Some(nat.outside));
    let rules = &fw.roles.firewall.as_ref().unwrap().rules;
    assert_eq!(fw.roles.firewall.as_ref().unwrap().default_in, Action::Deny, "kind firewall denies by default");
    assert_eq!(rules[2].dst_ports, Some(50000..=59999));
    let branch_rule = rules.iter().find(|r| r.name.as_deref() == Some("Branch to HQ")).unwrap();
    assert_eq!(branch_rule.in_iface.map(|i| t.iface(i).name.as_str()), Some("tun0"));
    assert_eq!(t.node(t.node_by_name("int-fw").unwrap()).kind, NodeKind::Firewall);
}

#[test]
fn nat_presets_and_overrides() {
    let t = load(NATS);
    let behavior = |name: &str| t.node(t.node_by_name(name).unwrap()).roles.nat.as_ref().unwrap().behavior.clone();
    assert_eq!(behavior("home-sym"), NatPreset::Symmetric.behavior());
    assert_eq!(behavior("cgn").port_range, 1024..=65535);
    let text = NATS.replace(
        "nat: {outside: wan0, preset: full-cone}",
        "nat: {outside: wan0, mapping: address-dependent, filtering: endpoint-independent, ports: 40000, hairpinning: true}",
    );
    let t = load(&text);
    let nat = t.node(t.node_by_name("home-fc").unwrap()).roles.nat.clone().unwrap();
    assert_eq!(nat.preset, None);
    assert_eq!(nat.behavior.port_range, 40000..=40000);
    assert!(nat.behavior.hairpinning);
}

#[test]
fn nat_mistakes() {
    let preset = "preset: symmetric";
    assert!(matches!(only(NATS, preset, "preset: symetric"), Problem::InvalidValue { .. }));
    let p = only(NATS, "ports: 1024-65535", "ports: 65535-1024");
    assert_eq!(p, Problem::PortRangeInverted { lo: 65535, hi: 1024 });
    assert!(matches!(only(NATS, "ports: 1024-65535", "ports: 0-100"), Problem::InvalidValue { .. }));
    let p = only(NATS, preset, "mapping: endpoint-independent");
    assert_eq!(p, Problem::NatBehaviorMissing { found: "only `mapping`" });
    let p = only(NATS, "    nat: {outside: wan0, preset: full-cone}\n", "");
    assert_eq!(p, Problem::BlockRequired { kind: NodeKind::Nat, field: "nat" });
    let p = only(NATS, "    gateway: 192.0.2.1\n", "    gateway: 192.0.2.1\n    nat: {outside: eth0, preset: cgnat}\n");
    assert!(matches!(p, Problem::FieldNotForKind { field: "nat", kind: NodeKind::Host, .. }), "{p:?}");
    let p = only(NATS, "outside: wan0, preset: full-cone", "outside: wan9, preset: full-cone");
    assert!(matches!(p, Problem::UnknownReference { kind: RefKind::Interface, .. }), "{p:?}");
    // A static NAT's external address is an address like any other.
    let p = only(
        NATS,
        "preset: full-cone}",
        "preset: full-cone, static: [{internal: 192.168.1.10, external: 192.0.2.10}]}",
    );
    assert!(matches!(p, Problem::DuplicateAddress { .. }), "{p:?}");
}

#[test]
fn firewall_fields_follow_the_node_kind() {
    let rule = r#"{name: "Edge to the internet", action: allow, in: dmz0, out: out0}"#;
    let with = |extra: &str| rule.replace('}', &format!(", {extra}}}"));
    for field in ["app: lync.exe", "direction: in", "local: 10.0.0.0/8", "profile: domain", "interface-type: lan"] {
        let p = only(EDGE, rule, &with(field));
        assert!(matches!(p, Problem::FieldNotForKind { kind: NodeKind::Firewall, .. }), "{field}: {p:?}");
    }
    let p = only(
        EDGE,
        "    firewall:\n      default: deny\n      # Rules see",
        "    firewall:\n      default-in: deny\n      # Rules see",
    );
    assert!(matches!(p, Problem::FieldNotForKind { field: "default-in", .. }), "{p:?}");
    let p = only(VPN, "          direction: in\n", "          in: wlan0\n");
    assert!(matches!(p, Problem::FieldNotForKind { field: "in", kind: NodeKind::Host, .. }), "{p:?}");
    let p = only(VPN, "      rules:\n", "      default: deny\n      rules:\n");
    assert!(matches!(p, Problem::FieldNotForKind { field: "default", kind: NodeKind::Host, .. }), "{p:?}");
    assert!(matches!(only(VPN, "action: deny", "action: block"), Problem::InvalidValue { .. }));
    let p = only(EDGE, "in: tun0, src", "in: tun9, src");
    assert!(matches!(p, Problem::UnknownReference { kind: RefKind::Interface, .. }), "{p:?}");
    let p = only(EDGE, "ports: 3478}", "ports: 3478-80}");
    assert_eq!(p, Problem::PortRangeInverted { lo: 3478, hi: 80 });
}

#[test]
fn vpn_mistakes() {
    let full = "concentrator: corp-vpn\n      mode: full";
    let p = only(VPN, full, "concentrator: edge01\n      mode: full");
    assert!(matches!(p, Problem::WrongNodeKind { kind: NodeKind::Edge, expected: "a vpn-concentrator", .. }), "{p:?}");
    assert_eq!(p.to_string(), "node \"edge01\" is an edge, not a vpn-concentrator");
    let p = only(VPN, full, "concentrator: corp-vnp\n      mode: full");
    assert!(matches!(p, Problem::UnknownReference { kind: RefKind::Node, .. }), "{p:?}");
    let p = only(VPN, "include: [10.0.0.0/8]", "include: [10.0.0.0/8, corporate]");
    assert!(matches!(p, Problem::InvalidValue { .. }), "{p:?}");
    let p = only(VPN, "      include: [10.0.0.0/8]\n", "");
    assert_eq!(p, Problem::MissingField { field: "include" });
    assert!(matches!(only(VPN, "include: [10.0.0.0/8]", "include: []"), Problem::InvalidValue { .. }));
    let p = only(VPN, "      mode: full\n", "      mode: full\n      exclude: [203.0.113.0/24]\n");
    assert_eq!(p, Problem::FullTunnelRoutes { field: "exclude" });
    let p = only(VPN, "address: 10.99.0.10/24", "address: 10.98.0.10/24");
    assert!(matches!(p, Problem::OutsidePool { .. }), "{p:?}");
    let p = only(VPN, "address: 10.99.0.10/24", "address: 10.99.0.10/16");
    assert!(matches!(p, Problem::SubnetMismatch { .. }), "{p:?}");
    let p = only(VPN, "address: 10.99.0.10/24", "address: 10.99.0.1/24");
    assert!(matches!(p, Problem::DuplicateAddress { ref first, .. } if first == "corp-vpn/pool0"), "{p:?}");
    let p = only(VPN, "    gateway: 192.168.1.1\n", "");
    assert_eq!(p, Problem::MissingField { field: "gateway" });
    let p = only(VPN, "      address: 10.99.0.10/24\n", "      address: 10.99.0.10/24\n      interface: wlan0\n");
    assert!(matches!(p, Problem::Duplicate { kind: DupKind::InterfaceName, .. }), "{p:?}");
    let p = only(
        VPN,
        "  - id: desk-pc\n    kind: host\n",
        "  - id: desk-pc\n    kind: router\n    vpn: {address: 10.99.0.12/24, concentrator: corp-vpn, mode: full}\n",
    );
    assert!(matches!(p, Problem::FieldNotForKind { field: "vpn", kind: NodeKind::Router, .. }), "{p:?}");
    // A route may leave through the VPN interface by name.
    assert_eq!(
        problems(
            VPN,
            &[(
                "    resolver: dns-int\n    vpn:",
                "    routes: [{to: 10.5.0.0/16, interface: vpn0}]\n    resolver: dns-int\n    vpn:"
            )]
        ),
        []
    );
}

#[test]
fn concentrator_mistakes() {
    let p = only(VPN, "pool: 10.99.0.0/24", "pool: 10.99.0.0/31");
    assert!(matches!(p, Problem::InvalidValue { .. }), "{p:?}");
    let p = problems(VPN, &[("capacity: 20000pps", "capacity: 20000")]);
    assert!(matches!(p[..], [Problem::InvalidValue { .. }]), "{p:?}");
    let p = problems(VPN, &[("capacity: 20000pps", "capacity: 20000pps\n      queue: 64KB")]);
    assert!(matches!(p[..], [Problem::InvalidValue { .. }]), "{p:?}");
    let p = only(VPN, "      outside: ext0\n      pool", "      outside: ext1\n      pool");
    assert!(matches!(p, Problem::UnknownReference { kind: RefKind::Interface, .. }), "{p:?}");
    let p = only(
        VPN,
        "    concentrator:\n      outside: ext0\n      pool: 10.99.0.0/24\n",
        "    concentrator:\n      outside: ext0\n      pool: 10.99.0.0/24\n      crypto: fast\n",
    );
    assert!(matches!(p, Problem::UnknownField { .. }), "{p:?}");
}

#[test]
fn edge_mistakes() {
    let int0 = "      - {name: int0, address: 172.16.0.10/24, link: perimeter, role: internal, profile: domain}\n";
    let got = problems(
        VPN,
        &[
            (int0, ""),
            ("      - {to: 10.0.0.0/8, via: 172.16.0.1}\n    resolver: dns-int\n", "    resolver: dns-int\n"),
        ],
    );
    assert_eq!(got[1..], [Problem::EdgeInterfaces { role: "internal", count: 0 }], "{got:#?}");
    assert!(matches!(got[0], Problem::LonelyLink { .. }));
    let got = problems(VPN, &[("role: internal, profile", "role: external, profile")]);
    let want = [
        Problem::EdgeInterfaces { role: "internal", count: 0 },
        Problem::EdgeInterfaces { role: "external", count: 2 },
    ];
    assert_eq!(got, want);
    let p = only(
        VPN,
        "{name: per0, address: 172.16.0.1/24, link: perimeter}",
        "{name: per0, address: 172.16.0.1/24, link: perimeter, role: internal}",
    );
    assert!(matches!(p, Problem::FieldNotForKind { field: "role", kind: NodeKind::Router, .. }), "{p:?}");
    // Seed 001: a gateway on the perimeter side is legal but against the design.
    let p = only(EDGE, "    gateway: 172.16.10.1\n", "    gateway: 172.16.20.1\n");
    assert!(matches!(p, Problem::EdgeGatewayInternal { .. }), "{p:?}");
    assert_eq!(p.severity(), Severity::Warning);
    let p = only(EDGE, "edge: {advertised: 203.0.113.20}", "edge: {advertised: 203.0.113.20}\n    vpn: {}");
    assert!(matches!(p, Problem::FieldNotForKind { field: "vpn", .. }), "{p:?}");
    let p = only(NATS, "link: lan-fc, type: wireless", "link: lan-fc, type: remote-access");
    assert!(matches!(p, Problem::InvalidValue { .. }), "{p:?}");
}

#[test]
fn dns_and_resolver_mistakes() {
    let p = only(VPN, "    gateway: 10.0.1.1\n    resolver: dns-int", "    gateway: 10.0.1.1\n    resolver: dns-itn");
    assert!(matches!(p, Problem::UnknownReference { kind: RefKind::Node, .. }), "{p:?}");
    let p = only(VPN, "    gateway: 10.0.2.1\n    resolver: dns-int", "    gateway: 10.0.2.1\n    resolver: lync-fe");
    assert!(matches!(p, Problem::WrongNodeKind { kind: NodeKind::Host, .. }), "{p:?}");
    let p = only(VPN, "      - name: internal", "      - name: vpn");
    assert!(matches!(p, Problem::Duplicate { kind: DupKind::ViewName, .. }), "{p:?}");
    let p = only(VPN, "          av.contoso.com: 172.16.0.10", "          av.contoso.com: 172.16.0.300");
    assert!(matches!(p, Problem::InvalidValue { .. }), "{p:?}");
    let start = VPN.find("    # The first view").unwrap();
    let end = VPN.find("  - id: desk-pc").unwrap();
    let p = only(VPN, &VPN[start..end], "");
    assert_eq!(p, Problem::BlockRequired { kind: NodeKind::Dns, field: "views" });
}

#[test]
fn tunnel_mistakes() {
    let b = "b: {node: ext-fw, interface: tun0, address: 169.254.10.2/30, underlay: out0}";
    let p = problems(EDGE, &[(b, "b: {node: ext-fw, interface: tun0, address: 169.254.10.6/30, underlay: out0}")]);
    assert!(matches!(p[..], [Problem::SubnetMismatch { .. }, ..]), "{p:?}");
    let p = only(EDGE, b, "b: {node: ext-fw, interface: tun0, address: 169.254.10.2/30, underlay: out9}");
    assert!(matches!(p, Problem::UnknownReference { kind: RefKind::Interface, .. }), "{p:?}");
    // Renamed, the tunnel end no longer provides the `tun0` that routes and rules name.
    let p = problems(EDGE, &[(b, "b: {node: ext-fw, interface: dmz0, address: 169.254.10.2/30, underlay: out0}")]);
    assert!(matches!(p[0], Problem::Duplicate { kind: DupKind::InterfaceName, .. }), "{p:?}");
    let p = only(EDGE, "  - id: branch-hq\n", "  - id: lan\n");
    assert!(matches!(p, Problem::Duplicate { kind: DupKind::LinkId, .. }), "{p:?}");
    let p = problems(EDGE, &[(b, "b: {node: lync-fe, interface: tun0, address: 169.254.10.2/30, underlay: eth0}")]);
    assert!(matches!(p[0], Problem::WrongNodeKind { kind: NodeKind::Host, .. }), "{p:?}");
    let p = only(EDGE, "encapsulation: ipsec", "encapsulation: gre");
    assert!(matches!(p, Problem::InvalidValue { .. }), "{p:?}");
    let t = load(&EDGE.replace("encapsulation: ipsec", "encapsulation: dtls\n    overhead: 60"));
    let end = t.node(t.node_by_name("ext-fw").unwrap()).roles.site_tunnels[0];
    assert_eq!((end.encapsulation.name, end.encapsulation.overhead), ("dtls", 60));
}
