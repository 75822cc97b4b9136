//! Decoding the document tree into file structs, field by field, reporting every problem.
//!
//! The structs here are the file as written, with positions; a field that could not be read
//! is `None` (its problem is already reported) so later checks skip it instead of piling
//! consequences onto one typo. Checks that look across the document live in `check`.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::Problem;
use super::decode::{At, Decoder, Fields, Path, closest};
use super::tree::{Node, Pos, Value};
use super::units;
use crate::time::SimDuration;
use crate::topology::{IfaceType, Jitter, JitterDistribution, LinkKind, LinkProps, NetworkProfile, NodeKind};

mod middlebox;

pub(crate) use middlebox::{
    EdgeRole, FileConcentrator, FileEdge, FileFirewall, FileNat, FileTunnel, FileTunnelEnd, FileView, FileVpn,
};
use middlebox::{
    not_for_kind, read_concentrator, read_edge, read_edge_role, read_firewall, read_iface_type, read_nat, read_profile,
    read_tunnels, read_views, read_vpn,
};

/// The whole file.
#[derive(Debug, Default)]
pub(crate) struct FileTopology {
    pub name: Option<At<String>>,
    pub zones: Vec<FileZone>,
    pub links: Vec<FileLink>,
    pub nodes: Vec<FileNode>,
    pub tunnels: Vec<FileTunnel>,
}

#[derive(Debug)]
pub(crate) struct FileZone {
    pub name: At<String>,
    pub description: Option<String>,
}

#[derive(Debug)]
pub(crate) struct FileLink {
    pub id: Option<At<String>>,
    pub kind: LinkKind,
    pub subnet: Option<At<Ipv4Net>>,
    pub props: LinkProps,
    pub pos: Pos,
    pub path: Path,
}

#[derive(Debug)]
pub(crate) struct FileNode {
    pub id: Option<At<String>>,
    /// `None` when the kind was missing or unknown (already reported).
    pub kind: Option<NodeKind>,
    pub pos: Pos,
    pub path: Path,
    pub zone: Option<At<String>>,
    pub forwarding: Option<bool>,
    pub interfaces: Vec<FileIface>,
    pub gateway: Option<At<Ipv4Addr>>,
    pub routes: Vec<FileRoute>,
    /// Whether every interface and its address was read; when not, on-link checks are
    /// skipped rather than blame the gateway for an address that is already reported.
    pub complete: bool,
    /// Whether every interface was read with a `link`; when one is missing anywhere,
    /// member counts are not checked (they would only echo that problem).
    pub links_complete: bool,
    pub nat: Option<FileNat>,
    pub firewall: Option<FileFirewall>,
    pub vpn: Option<FileVpn>,
    pub concentrator: Option<FileConcentrator>,
    pub edge: Option<FileEdge>,
    /// The DNS views and where `views` is written.
    pub views: Option<(Vec<FileView>, Pos, Path)>,
    pub resolver: Option<At<String>>,
    pub sip: Option<FileSip>,
}

#[derive(Debug)]
pub(crate) struct FileIface {
    pub name: Option<At<String>>,
    pub address: Option<At<Ipv4Net>>,
    pub link: Option<At<String>>,
    pub iface_type: IfaceType,
    /// Physical interfaces are on an untrusted network unless the file says otherwise.
    pub profile: NetworkProfile,
    pub role: Option<At<EdgeRole>>,
}

#[derive(Debug)]
pub(crate) struct FileRoute {
    pub to: Option<At<Ipv4Net>>,
    pub via: Option<At<Ipv4Addr>>,
    pub interface: Option<At<String>>,
    pub metric: u32,
}

/// Jitter beyond this is a typo (a unit slip), not a network.
const MAX_JITTER: SimDuration = SimDuration::from_secs(10);

const ADDRESS_EXPECTED: &str = "an IPv4 address with prefix length like 192.168.1.10/24";
const SUBNET_EXPECTED: &str = "a subnet like 203.0.113.0/30";
pub(crate) const IP_EXPECTED: &str = "an IPv4 address like 192.168.1.1";

pub(crate) fn read_file(dc: &mut Decoder<'_>, doc: &Value) -> FileTopology {
    let root = Path::root();
    let expected = "a topology: a map with `links` and `nodes`";
    let Some(mut f) = dc.fields(doc, &root, expected, &["name", "description", "zones", "links", "nodes", "tunnels"])
    else {
        return FileTopology::default();
    };
    let mut out = FileTopology::default();
    if let Some((v, p)) = f.optional("name") {
        out.name = dc.ident(v, &p, "a name");
    }
    if let Some((v, p)) = f.optional("description") {
        dc.scalar(v, &p, "a text");
    }
    if let Some((v, p)) = f.optional("zones") {
        out.zones = read_zones(dc, v, &p);
    }
    if let Some((v, p)) = f.required(dc, "links")
        && let Some(items) = dc.seq(v, &p, "a list of links")
    {
        out.links = items.iter().enumerate().filter_map(|(i, v)| read_link(dc, v, &p.index(i))).collect();
    }
    if let Some((v, p)) = f.required(dc, "nodes")
        && let Some(items) = dc.seq(v, &p, "a list of nodes")
    {
        out.nodes = items.iter().enumerate().filter_map(|(i, v)| read_node(dc, v, &p.index(i))).collect();
    }
    if let Some((v, p)) = f.optional("tunnels") {
        out.tunnels = read_tunnels(dc, v, &p);
    }
    f.finish(dc);
    out
}

fn read_zones(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Vec<FileZone> {
    let Some(entries) = dc.map(v, path, "a map from zone name to description") else {
        return Vec::new();
    };
    let mut zones: Vec<FileZone> = Vec::new();
    for (key, value) in entries {
        let p = path.field(&key.name);
        let key_value = Value { node: Node::Scalar(key.name.clone()), pos: key.pos };
        let Some(name) = dc.ident(&key_value, &p, "a zone name") else { continue };
        let description = match &value.node {
            Node::Null => None,
            _ => dc.scalar(value, &p, "a description text (or nothing)").map(str::to_string),
        };
        if !zones.iter().any(|z| z.name.value == name.value) {
            zones.push(FileZone { name, description });
        }
    }
    zones
}

fn read_link(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<FileLink> {
    let known = &["id", "kind", "subnet", "latency", "jitter", "loss", "bandwidth", "queue", "mtu", "reorder"];
    let mut f = dc.fields(v, path, "a link: a map with at least `id`", known)?;
    let id = f.required(dc, "id").and_then(|(v, p)| dc.ident(v, &p, "a link id"));
    let mut kind = LinkKind::Segment;
    if let Some((v, p)) = f.optional("kind") {
        match dc.scalar(v, &p, "a link kind") {
            Some("p2p") => kind = LinkKind::PointToPoint,
            Some("segment") => kind = LinkKind::Segment,
            Some(found) => {
                let hint = closest(found, ["p2p", "segment"]).map(|c| format!("did you mean \"{c}\"?"));
                dc.invalid(v, &p, "one of p2p, segment", hint);
            }
            None => {}
        }
    }
    let subnet = f.optional("subnet").and_then(|(v, p)| read_subnet(dc, v, &p));
    let mut props = LinkProps::default();
    if let Some((v, p)) = f.optional("latency") {
        props.latency = quantity(dc, v, &p, units::parse_duration).unwrap_or_default();
    }
    if let Some((v, p)) = f.optional("jitter") {
        props.jitter = read_jitter(dc, v, &p);
    }
    if let Some((v, p)) = f.optional("loss") {
        props.loss = quantity(dc, v, &p, units::parse_loss).unwrap_or_default();
    }
    if let Some((v, p)) = f.optional("bandwidth") {
        props.bandwidth = quantity(dc, v, &p, units::parse_bandwidth);
    }
    if let Some((v, p)) = f.optional("queue")
        && let Some(q) = quantity(dc, v, &p, units::parse_queue)
    {
        props.queue = q;
    }
    if let Some((v, p)) = f.optional("mtu")
        && let Some(mtu) = dc.number(v, &p, 68, 65535)
    {
        props.mtu = mtu as u32;
    }
    if let Some((v, p)) = f.optional("reorder") {
        props.reorder = dc.bool(v, &p).unwrap_or_default();
    }
    f.finish(dc);
    Some(FileLink { id, kind, subnet, props, pos: v.pos, path: path.clone() })
}

fn read_jitter(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<Jitter> {
    let (mean_value, mean_path, distribution) = match &v.node {
        Node::Map(_) => {
            let expected = "a jitter: a duration like 2ms, or a map with `mean` and `distribution`";
            let mut f = dc.fields(v, path, expected, &["mean", "distribution"])?;
            let mean = f.required(dc, "mean");
            let mut distribution = Some(JitterDistribution::Uniform);
            if let Some((v, p)) = f.optional("distribution") {
                distribution = match dc.scalar(v, &p, "a distribution") {
                    Some("uniform") => Some(JitterDistribution::Uniform),
                    Some("normal") => Some(JitterDistribution::Normal),
                    Some("pareto") => Some(JitterDistribution::Pareto),
                    Some(found) => {
                        let known = ["uniform", "normal", "pareto"];
                        let hint = closest(found, known).map(|c| format!("did you mean \"{c}\"?"));
                        dc.invalid(v, &p, "one of uniform, normal, pareto", hint);
                        None
                    }
                    None => None,
                };
            }
            f.finish(dc);
            let (mean_value, mean_path) = mean?;
            (mean_value, mean_path, distribution)
        }
        _ => (v, path.clone(), Some(JitterDistribution::Uniform)),
    };
    let mean = quantity(dc, mean_value, &mean_path, units::parse_duration)?;
    if mean > MAX_JITTER {
        let problem =
            Problem::TooLarge { what: "a jitter mean", found: mean_value.describe(), limit: "10s".to_string() };
        let hint = Some("jitter is the extra delay per packet; check the unit (ms, not s?)".to_string());
        dc.report(mean_value.pos, &mean_path, problem, hint);
        return None;
    }
    let distribution = distribution?;
    (mean > SimDuration::ZERO).then_some(Jitter { mean, distribution })
}

fn read_node(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<FileNode> {
    let known = &[
        "id",
        "kind",
        "zone",
        "forwarding",
        "interfaces",
        "gateway",
        "routes",
        "nat",
        "firewall",
        "vpn",
        "concentrator",
        "edge",
        "views",
        "resolver",
        "sip",
    ];
    let mut f = dc.fields(v, path, "a node: a map with `id`, `kind` and `interfaces`", known)?;
    let id = f.required(dc, "id").and_then(|(v, p)| dc.ident(v, &p, "a node id"));
    let kind_value = f.required(dc, "kind");
    let kind = kind_value.as_ref().and_then(|(v, p)| read_node_kind(dc, v, p));
    let zone = f.optional("zone").and_then(|(v, p)| dc.string(v, &p, "a zone name"));
    let forwarding = f.optional("forwarding").and_then(|(v, p)| dc.bool(v, &p));
    let mut interfaces = Vec::new();
    let mut complete = false;
    let mut links_complete = false;
    if let Some((v, p)) = f.required(dc, "interfaces")
        && let Some(items) = dc.seq(v, &p, "a list of interfaces")
    {
        if items.is_empty() {
            dc.invalid(v, &p, "at least one interface", None);
        }
        interfaces = items.iter().enumerate().filter_map(|(i, v)| read_iface(dc, v, &p.index(i), kind)).collect();
        let all_read = interfaces.len() == items.len();
        complete = all_read && interfaces.iter().all(|i: &FileIface| i.address.is_some());
        links_complete = all_read && interfaces.iter().all(|i: &FileIface| i.link.is_some());
        if kind == Some(NodeKind::Edge) && all_read && !items.is_empty() {
            check_edge_roles(dc, &interfaces, v, &p);
        }
    }
    let gateway = f.optional("gateway").and_then(|(v, p)| read_ip(dc, v, &p));
    let mut routes = Vec::new();
    if let Some((v, p)) = f.optional("routes")
        && let Some(items) = dc.seq(v, &p, "a list of routes")
    {
        routes = items.iter().enumerate().filter_map(|(i, v)| read_route(dc, v, &p.index(i))).collect();
    }

    // The middlebox blocks: each belongs to some kinds, and some kinds need theirs.
    let kind_pos = kind_value.as_ref().map(|(v, _)| v.pos);
    let nat = block(dc, &mut f, "nat", &NAT_RULE, kind, kind_pos, path).and_then(|(v, p)| read_nat(dc, v, &p));
    let firewall = block(dc, &mut f, "firewall", &FIREWALL_RULE, kind, kind_pos, path)
        .and_then(|(v, p)| read_firewall(dc, v, &p, kind));
    let vpn = block(dc, &mut f, "vpn", &VPN_RULE, kind, kind_pos, path).and_then(|(v, p)| read_vpn(dc, v, &p));
    let concentrator = block(dc, &mut f, "concentrator", &CONCENTRATOR_RULE, kind, kind_pos, path)
        .and_then(|(v, p)| read_concentrator(dc, v, &p));
    let edge = block(dc, &mut f, "edge", &EDGE_RULE, kind, kind_pos, path).and_then(|(v, p)| read_edge(dc, v, &p));
    let views =
        block(dc, &mut f, "views", &VIEWS_RULE, kind, kind_pos, path).map(|(v, p)| (read_views(dc, v, &p), v.pos, p));
    let resolver = f.optional("resolver").and_then(|(v, p)| dc.ident(v, &p, "a node id"));
    let sip = f.optional("sip").and_then(|(v, p)| read_sip(dc, v, &p));
    f.finish(dc);
    Some(FileNode {
        id,
        kind,
        pos: v.pos,
        path: path.clone(),
        zone,
        forwarding,
        interfaces,
        gateway,
        routes,
        complete,
        links_complete,
        nat,
        firewall,
        vpn,
        concentrator,
        edge,
        views,
        resolver,
        sip,
    })
}

/// `sip: {user, registrar, upstream, relay, credentials}`: a node's part in call signaling.
fn read_sip(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<FileSip> {
    const KNOWN: &[&str] = &["user", "registrar", "upstream", "relay", "credentials"];
    let expected = "signaling: a map with `registrar`, `upstream`, `relay`, `credentials` or `user`";
    let mut f = dc.fields(v, path, expected, KNOWN)?;
    let user = f.optional("user").and_then(|(v, p)| dc.ident(v, &p, "a user name"));
    let registrar = f.optional("registrar").and_then(|(v, p)| dc.ident(v, &p, "a node id"));
    let upstream = f.optional("upstream").and_then(|(v, p)| dc.ident(v, &p, "a node id"));
    let relay = f.optional("relay").and_then(|(v, p)| dc.ident(v, &p, "a node id"));
    let credentials = f.optional("credentials").and_then(|(v, p)| dc.ident(v, &p, "a node id"));
    f.finish(dc);
    Some(FileSip { user, registrar, upstream, relay, credentials })
}

/// The `sip:` block as written.
#[derive(Debug)]
pub(crate) struct FileSip {
    pub user: Option<At<String>>,
    pub registrar: Option<At<String>>,
    pub upstream: Option<At<String>>,
    pub relay: Option<At<String>>,
    pub credentials: Option<At<String>>,
}

/// A middlebox block: reported when it does not belong to the node's kind, or when the
/// kind needs it and it is absent (at the `kind` value).
fn block<'t>(
    dc: &mut Decoder<'_>,
    f: &mut Fields<'t>,
    field: &'static str,
    rule: &BlockRule,
    kind: Option<NodeKind>,
    kind_pos: Option<Pos>,
    path: &Path,
) -> Option<(&'t Value, Path)> {
    let found = f.optional(field);
    let Some(k) = kind else { return found };
    if found.is_some() && !rule.kinds.contains(&k) {
        not_for_kind(dc, f, field, k, rule.allowed, rule.hint);
        return None;
    }
    if found.is_none()
        && rule.required == Some(k)
        && let Some(pos) = kind_pos
    {
        dc.report(pos, path, Problem::BlockRequired { kind: k, field }, Some(rule.example.to_string()));
    }
    found
}

/// Which node kinds may carry a block, and which kind must.
struct BlockRule {
    kinds: &'static [NodeKind],
    allowed: &'static str,
    required: Option<NodeKind>,
    hint: &'static str,
    example: &'static str,
}

const NAT_RULE: BlockRule = BlockRule {
    kinds: &[NodeKind::Nat, NodeKind::Router, NodeKind::Firewall],
    allowed: "nat, router and firewall nodes",
    required: Some(NodeKind::Nat),
    hint: "addresses are translated by the device in front of a host: add a node of kind nat",
    example: "e.g. `nat: {outside: wan0, preset: port-restricted-cone}`",
};
const FIREWALL_RULE: BlockRule = BlockRule {
    kinds: &NodeKind::ALL,
    allowed: "every kind",
    required: Some(NodeKind::Firewall),
    hint: "",
    example: "e.g. `firewall: {default: deny, rules: [{action: allow, protocol: udp, ports: 3478}]}`",
};
const VPN_RULE: BlockRule = BlockRule {
    kinds: &[NodeKind::Host],
    allowed: "host nodes",
    required: None,
    hint: "a VPN client runs on a host; sites are joined by top-level `tunnels`",
    example: "",
};
const CONCENTRATOR_RULE: BlockRule = BlockRule {
    kinds: &[NodeKind::VpnConcentrator],
    allowed: "vpn-concentrator nodes",
    required: Some(NodeKind::VpnConcentrator),
    hint: "use `kind: vpn-concentrator` for the device that terminates client tunnels",
    example: "e.g. `concentrator: {outside: ext0, pool: 10.99.0.0/24}`",
};
const EDGE_RULE: BlockRule = BlockRule {
    kinds: &[NodeKind::Edge],
    allowed: "edge nodes",
    required: None,
    hint: "use `kind: edge` for a dual-NIC Edge server",
    example: "",
};
const VIEWS_RULE: BlockRule = BlockRule {
    kinds: &[NodeKind::Dns],
    allowed: "dns nodes",
    required: Some(NodeKind::Dns),
    hint: "DNS views live on a node of kind dns; point other nodes at it with `resolver`",
    example: "e.g. `views: [{name: all, clients: any, records: {sip.contoso.com: 203.0.113.20}}]`",
};

/// An Edge has exactly one interface of each role.
fn check_edge_roles(dc: &mut Decoder<'_>, interfaces: &[FileIface], v: &Value, path: &Path) {
    for (role, which, hint) in [
        (
            "internal",
            EdgeRole::Internal,
            "mark the NIC on the perimeter network, towards the Front End servers, with `role: internal`",
        ),
        ("external", EdgeRole::External, "mark the NIC in the DMZ facing the internet with `role: external`"),
    ] {
        let count = interfaces.iter().filter(|i| i.role.as_ref().is_some_and(|r| r.value == which)).count();
        if count != 1 {
            let hint =
                if count == 0 { hint.to_string() } else { format!("only one interface may have `role: {role}`") };
            dc.report(v.pos, path, Problem::EdgeInterfaces { role, count }, Some(hint));
        }
    }
}

fn read_node_kind(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<NodeKind> {
    let found = dc.scalar(v, path, "a node kind")?;
    if let Some(k) = NodeKind::ALL.into_iter().find(|k| k.as_str() == found) {
        return Some(k);
    }
    let names: Vec<&str> = NodeKind::ALL.iter().map(|k| k.as_str()).collect();
    let synonyms = [("concentrator", "vpn-concentrator"), ("vpn", "vpn-concentrator"), ("server", "host")];
    let hint = synonyms
        .iter()
        .find(|(s, _)| *s == found)
        .map(|(_, c)| *c)
        .or_else(|| closest(found, names.iter().copied()))
        .map(|c| format!("did you mean \"{c}\"?"));
    dc.invalid(v, path, &format!("a node kind: one of {}", names.join(", ")), hint);
    None
}

fn read_iface(dc: &mut Decoder<'_>, v: &Value, path: &Path, kind: Option<NodeKind>) -> Option<FileIface> {
    let expected = "an interface: a map with `name`, `address` and `link`";
    let mut f = dc.fields(v, path, expected, &["name", "address", "link", "type", "profile", "role"])?;
    let name = f.required(dc, "name").and_then(|(v, p)| dc.ident(v, &p, "an interface name"));
    let address = f.required(dc, "address").and_then(|(v, p)| read_address(dc, v, &p));
    let link = f.required(dc, "link").and_then(|(v, p)| dc.string(v, &p, "a link id"));
    let iface_type = f.optional("type").and_then(|(v, p)| read_iface_type(dc, v, &p)).unwrap_or(IfaceType::Lan);
    let profile = f.optional("profile").and_then(|(v, p)| read_profile(dc, v, &p)).unwrap_or(NetworkProfile::Public);
    let mut role = None;
    if let Some((v, p)) = f.optional("role") {
        match kind {
            Some(k) if k != NodeKind::Edge => {
                let hint = "`role` tells which NIC of an Edge server faces the perimeter and which the DMZ";
                not_for_kind(dc, &f, "role", k, "edge nodes", hint);
            }
            _ => role = read_edge_role(dc, v, &p).map(|r| At { value: r, pos: v.pos, path: p }),
        }
    }
    f.finish(dc);
    Some(FileIface { name, address, link, iface_type, profile, role })
}

fn read_route(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<FileRoute> {
    let expected = "a route: a map with `to` and `via` or `interface`";
    let mut f = dc.fields(v, path, expected, &["to", "via", "interface", "metric"])?;
    let to = f.required(dc, "to").and_then(|(v, p)| match &v.node {
        Node::Scalar(s) if s == "default" => Some(At { value: Ipv4Net::default(), pos: v.pos, path: p }),
        _ => read_subnet(dc, v, &p),
    });
    let via = f.optional("via").and_then(|(v, p)| read_ip(dc, v, &p));
    let interface = f.optional("interface").and_then(|(v, p)| dc.string(v, &p, "an interface name"));
    let metric = match f.optional("metric") {
        Some((v, p)) => dc.number(v, &p, 0, u32::MAX as u64).unwrap_or(1) as u32,
        None => 1,
    };
    let has_via = f.optional("via").is_some();
    let has_iface = f.optional("interface").is_some();
    if !has_via && !has_iface {
        dc.report(v.pos, path, Problem::MissingNextHop, Some("e.g. `via: 10.0.0.1`".to_string()));
    }
    f.finish(dc);
    Some(FileRoute { to, via, interface, metric })
}

/// An interface address with its prefix length.
fn read_address(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<At<Ipv4Net>> {
    let s = dc.scalar(v, path, ADDRESS_EXPECTED)?;
    match s.parse::<Ipv4Net>() {
        Ok(net) => Some(At { value: net, pos: v.pos, path: path.clone() }),
        Err(_) => {
            dc.invalid(v, path, ADDRESS_EXPECTED, cidr_hint(s));
            None
        }
    }
}

/// A subnet: a network address with its prefix length and no host bits.
fn read_subnet(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<At<Ipv4Net>> {
    let s = dc.scalar(v, path, SUBNET_EXPECTED)?;
    let Ok(net) = s.parse::<Ipv4Net>() else {
        dc.invalid(v, path, SUBNET_EXPECTED, cidr_hint(s));
        return None;
    };
    if net != net.trunc() {
        let hint = Some(format!("did you mean {}?", net.trunc()));
        dc.report(v.pos, path, Problem::HostBitsSet { found: net }, hint);
        return None;
    }
    Some(At { value: net, pos: v.pos, path: path.clone() })
}

/// A bare IPv4 address (gateway, next hop).
fn read_ip(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<At<Ipv4Addr>> {
    let s = dc.scalar(v, path, IP_EXPECTED)?;
    match s.parse::<Ipv4Addr>() {
        Ok(ip) => Some(At { value: ip, pos: v.pos, path: path.clone() }),
        Err(_) => {
            let hint = match s.split_once('/') {
                Some((addr, _)) if addr.parse::<Ipv4Addr>().is_ok() => {
                    Some(format!("write the address without a prefix length: {addr}"))
                }
                _ => octet_hint(s),
            };
            dc.invalid(v, path, IP_EXPECTED, hint);
            None
        }
    }
}

/// Why a CIDR did not parse, when we can tell.
fn cidr_hint(s: &str) -> Option<String> {
    match s.split_once('/') {
        None if s.parse::<Ipv4Addr>().is_ok() => Some(format!("add the prefix length, e.g. {s}/24")),
        None => octet_hint(s),
        Some((addr, len)) => {
            if addr.parse::<Ipv4Addr>().is_err() {
                octet_hint(addr)
            } else if len.parse::<u8>().is_ok() {
                Some("the prefix length is at most 32".to_string())
            } else {
                None
            }
        }
    }
}

fn octet_hint(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split('.').collect();
    let numeric = parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if parts.len() == 4 && numeric && parts.iter().any(|p| p.parse::<u32>().map_or(true, |n| n > 255)) {
        Some("each of the four numbers is at most 255".to_string())
    } else if numeric && parts.len() != 4 {
        Some(format!("an IPv4 address has four numbers; found {}", parts.len()))
    } else {
        None
    }
}

/// A quantity with a unit, read by one of the `units` parsers.
fn quantity<T>(
    dc: &mut Decoder<'_>,
    v: &Value,
    path: &Path,
    parse: fn(&str) -> Result<T, units::UnitError>,
) -> Option<T> {
    // The expectation text comes from the parser; a non-scalar gets the same words.
    let s = match &v.node {
        Node::Scalar(s) => s,
        _ => {
            let expected = match parse("") {
                Err(e) => e.expected,
                Ok(_) => "a quantity with a unit".to_string(),
            };
            dc.wrong_type(v, path, &expected);
            return None;
        }
    };
    match parse(s) {
        Ok(value) => Some(value),
        Err(e) => {
            dc.invalid(v, path, &e.expected, e.hint);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::tree::parse;

    fn messages(text: &str) -> Vec<String> {
        let doc = parse(text).unwrap();
        let mut dc = Decoder::new("t.yaml");
        read_file(&mut dc, &doc);
        dc.diagnostics.iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn every_bad_field_is_reported() {
        let got = messages(
            "links:\n  - id: a\n    latency: 5\n    loss: 150%\n    mtu: 9\n    bandwidth: 0Mbit\n    kind: ptp\nnodes: []\n",
        );
        assert_eq!(got.len(), 5, "{got:#?}");
        assert!(
            got.iter().any(|m| m.starts_with("t.yaml:3:14: error: links[0].latency: expected a duration")),
            "{got:#?}"
        );
        assert!(got.iter().any(|m| m.contains("found \"ptp\"\n  hint: did you mean \"p2p\"?")), "{got:#?}");
    }

    #[test]
    fn empty_document_is_not_a_topology() {
        assert_eq!(
            messages(""),
            ["t.yaml:1:1: error: expected a topology: a map with `links` and `nodes`; found nothing"]
        );
    }

    #[test]
    fn jitter_forms() {
        let got = messages(
            "links:\n  - id: a\n    jitter: {mean: 20s, distribution: normal}\n  - id: b\n    jitter: {mean: 2ms, distribution: gauss}\nnodes: []\n",
        );
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(got[0].contains("a jitter mean of \"20s\" is larger than sanity allows (at most 10s)"), "{}", got[0]);
        assert!(got[1].contains("expected one of uniform, normal, pareto; found \"gauss\""), "{}", got[1]);
    }

    #[test]
    fn kinds_known_unknown_and_needing_a_block() {
        let got = messages(
            "links: []\nnodes:\n  - {id: a, kind: nat, interfaces: []}\n  - {id: b, kind: rooter, interfaces: []}\n  - {id: c, kind: concentrator, interfaces: []}\n",
        );
        assert!(got.iter().any(|m| m.contains("nodes[0]: a node of kind `nat` needs a `nat` block")), "{got:#?}");
        assert!(got.iter().any(|m| m.contains("found \"rooter\"\n  hint: did you mean \"router\"?")), "{got:#?}");
        assert!(got.iter().any(|m| m.contains("did you mean \"vpn-concentrator\"?")), "{got:#?}");
    }

    #[test]
    fn cidr_hints() {
        assert_eq!(cidr_hint("192.168.1.300/24").as_deref(), Some("each of the four numbers is at most 255"));
        assert_eq!(cidr_hint("192.168.1.3").as_deref(), Some("add the prefix length, e.g. 192.168.1.3/24"));
        assert_eq!(cidr_hint("192.168.1.3/33").as_deref(), Some("the prefix length is at most 32"));
        assert_eq!(cidr_hint("10.1.1/24").as_deref(), Some("an IPv4 address has four numbers; found 3"));
    }
}
