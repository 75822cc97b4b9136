//! Reading the middlebox parts of a file: a node's `nat`, `firewall`, `vpn`, `concentrator`,
//! `edge` and `views` blocks, and the top-level site-to-site `tunnels`.
//!
//! Everything that can be judged from the block and its node's kind is judged here (a field
//! that belongs to other kinds, an inverted port range, a NAT without a behaviour); names of
//! interfaces and other nodes are resolved by `check`, which sees the whole file. Firewall
//! blocks, the largest, are read in `firewall`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::RangeInclusive;

use ipnet::Ipv4Net;

use super::{quantity, read_address, read_ip, read_jitter, read_subnet};
use crate::schema::Problem;
use crate::schema::decode::{At, Decoder, Fields, Path, closest};
use crate::schema::tree::{Node, Value};
use crate::schema::units;
use crate::time::SimDuration;
use crate::topology::{
    Action, Encapsulation, FilteringBehavior, IfaceType, MappingBehavior, NatBehavior, NatPreset, NetworkProfile,
    NodeKind, PortAllocation, PortForward, QueueLimit, TunnelMode,
};
use crate::wire::Protocol;

mod firewall;

pub(crate) use firewall::{FileFirewall, read_firewall};

/// Which side of a dual-NIC Edge server an interface faces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EdgeRole {
    Internal,
    External,
}

#[derive(Debug)]
pub(crate) struct FileNat {
    pub outside: Option<At<String>>,
    pub preset: Option<NatPreset>,
    pub behavior: NatBehavior,
    pub external: Option<At<Ipv4Addr>>,
    pub static_nat: Vec<FileStaticNat>,
    pub forwards: Vec<PortForward>,
}

#[derive(Debug)]
pub(crate) struct FileStaticNat {
    pub internal: At<Ipv4Addr>,
    pub external: At<Ipv4Addr>,
}

#[derive(Debug)]
pub(crate) struct FileVpn {
    /// The virtual interface's name (`vpn0` unless given), placed at the block when defaulted.
    pub interface: At<String>,
    pub address: Option<At<Ipv4Net>>,
    pub concentrator: Option<At<String>>,
    pub server: Option<At<Ipv4Addr>>,
    pub mode: Option<TunnelMode>,
    pub encapsulation: Encapsulation,
    pub profile: NetworkProfile,
}

#[derive(Debug)]
pub(crate) struct FileConcentrator {
    pub outside: Option<At<String>>,
    pub pool: Option<At<Ipv4Net>>,
    pub crypto_delay: SimDuration,
    pub crypto_jitter: Option<crate::topology::Jitter>,
    pub capacity_pps: Option<u64>,
    pub queue_packets: u32,
    pub hairpin: bool,
}

#[derive(Debug)]
pub(crate) struct FileEdge {
    pub advertised: Option<At<Ipv4Addr>>,
    pub pool: Option<At<String>>,
    pub secret: Option<At<String>>,
    pub realm: Option<At<String>>,
    pub relay_ports: Option<RangeInclusive<u16>>,
    pub udp_port: Option<RangeInclusive<u16>>,
    pub tcp_port: Option<RangeInclusive<u16>>,
}

#[derive(Debug)]
pub(crate) struct FileView {
    pub name: Option<At<String>>,
    pub clients: Vec<Ipv4Net>,
    pub records: BTreeMap<String, Vec<Ipv4Addr>>,
}

#[derive(Debug)]
pub(crate) struct FileTunnel {
    pub id: Option<At<String>>,
    pub encapsulation: Encapsulation,
    pub a: Option<FileTunnelEnd>,
    pub b: Option<FileTunnelEnd>,
}

#[derive(Debug)]
pub(crate) struct FileTunnelEnd {
    pub node: Option<At<String>>,
    pub interface: Option<At<String>>,
    pub address: Option<At<Ipv4Net>>,
    pub underlay: Option<At<String>>,
}

/// Kinds whose firewall is a host firewall (Windows Firewall: direction, program, profile).
pub(crate) fn is_host_like(kind: NodeKind) -> bool {
    matches!(kind, NodeKind::Host | NodeKind::Edge)
}

const SUBNET_LIST_EXPECTED: &str = "a subnet like 10.0.0.0/8";
const PREFIX_EXPECTED: &str = "an address or subnet like 10.0.0.0/8, a list of them, or `any`";
const PORTS_EXPECTED: &str = "a port like 3478 or a range like 1024-65535 (ports 1 to 65535)";

pub(crate) const NAT_PRESETS: [(&str, NatPreset); 5] = [
    ("full-cone", NatPreset::FullCone),
    ("restricted-cone", NatPreset::RestrictedCone),
    ("port-restricted-cone", NatPreset::PortRestrictedCone),
    ("symmetric", NatPreset::Symmetric),
    ("cgnat", NatPreset::Cgnat),
];
const MAPPINGS: [(&str, MappingBehavior); 3] = [
    ("endpoint-independent", MappingBehavior::EndpointIndependent),
    ("address-dependent", MappingBehavior::AddressDependent),
    ("address-and-port-dependent", MappingBehavior::AddressAndPortDependent),
];
const FILTERINGS: [(&str, FilteringBehavior); 3] = [
    ("endpoint-independent", FilteringBehavior::EndpointIndependent),
    ("address-dependent", FilteringBehavior::AddressDependent),
    ("address-and-port-dependent", FilteringBehavior::AddressAndPortDependent),
];
const ACTIONS: [(&str, Action); 2] = [("allow", Action::Allow), ("deny", Action::Deny)];
/// Words other products use for the two actions.
const ACTION_SYNONYMS: [(&str, &str); 5] =
    [("block", "deny"), ("drop", "deny"), ("reject", "deny"), ("permit", "allow"), ("accept", "allow")];
const PROFILES: [(&str, NetworkProfile); 3] =
    [("domain", NetworkProfile::Domain), ("private", NetworkProfile::Private), ("public", NetworkProfile::Public)];
const IFACE_TYPES: [(&str, IfaceType); 3] =
    [("lan", IfaceType::Lan), ("wireless", IfaceType::Wireless), ("remote-access", IfaceType::RemoteAccess)];
const ENCAPSULATIONS: [(&str, Encapsulation); 2] = [("ipsec", Encapsulation::IPSEC), ("dtls", Encapsulation::DTLS)];

/// A keyword from a fixed list, with a "did you mean" for typos and for other products'
/// words (`synonyms`: found -> meant).
pub(crate) fn one_of<T: Copy>(
    dc: &mut Decoder<'_>,
    v: &Value,
    path: &Path,
    what: &str,
    options: &[(&'static str, T)],
    synonyms: &[(&str, &'static str)],
) -> Option<T> {
    let s = dc.scalar(v, path, what)?;
    if let Some((_, t)) = options.iter().find(|(n, _)| *n == s) {
        return Some(*t);
    }
    let names: Vec<&'static str> = options.iter().map(|(n, _)| *n).collect();
    let hint = synonyms
        .iter()
        .find(|(syn, _)| syn.eq_ignore_ascii_case(s))
        .map(|(_, meant)| *meant)
        .or_else(|| closest(s, names.iter().copied()))
        .map(|c| format!("did you mean \"{c}\"?"));
    dc.invalid(v, path, &format!("one of {}", names.join(", ")), hint);
    None
}

/// An interface's `type`: `lan` or `wireless`. `remote-access` is refused with the reason:
/// it belongs to the virtual interface a `vpn:` block creates.
pub(crate) fn read_iface_type(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<IfaceType> {
    if matches!(&v.node, Node::Scalar(s) if s == "remote-access") {
        let hint = "remote-access is the type of a VPN's virtual interface: give the host a `vpn:` block, \
                    which creates that interface";
        dc.invalid(v, path, "one of lan, wireless", Some(hint.to_string()));
        return None;
    }
    one_of(dc, v, path, "an interface type", &IFACE_TYPES[..2], &[])
}

pub(crate) fn read_profile(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<NetworkProfile> {
    one_of(dc, v, path, "a network profile", &PROFILES, &[])
}

pub(crate) fn read_edge_role(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<EdgeRole> {
    let roles = [("internal", EdgeRole::Internal), ("external", EdgeRole::External)];
    one_of(dc, v, path, "an Edge interface role", &roles, &[("inside", "internal"), ("outside", "external")])
}

/// Reports a field that belongs to other node kinds, at its key.
pub(crate) fn not_for_kind(
    dc: &mut Decoder<'_>,
    f: &Fields<'_>,
    field: &'static str,
    kind: NodeKind,
    allowed: &'static str,
    hint: &str,
) {
    let problem = Problem::FieldNotForKind { field, kind, allowed };
    dc.report(f.key_pos(field), &f.path.field(field), problem, Some(hint.to_string()));
}

/// A port (`3478`) or an inclusive range (`1024-65535`); port 0 is refused.
pub(crate) fn read_ports(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<RangeInclusive<u16>> {
    let s = dc.scalar(v, path, PORTS_EXPECTED)?;
    let port = |t: &str| t.trim().parse::<u16>().ok().filter(|&p| p > 0);
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (port(a), port(b)),
        None => (port(s), port(s)),
    };
    match (lo, hi) {
        (Some(lo), Some(hi)) if lo <= hi => Some(lo..=hi),
        (Some(lo), Some(hi)) => {
            let hint = format!("write the lower port first: {lo}-{hi} → {hi}-{lo}");
            dc.report(v.pos, path, Problem::PortRangeInverted { lo, hi }, Some(hint));
            None
        }
        _ => {
            let parts: Vec<&str> = s.split('-').map(str::trim).collect();
            let hint = if parts.iter().any(|p| p.parse::<u32>() == Ok(0)) {
                Some("port 0 is reserved; ports run from 1 to 65535".to_string())
            } else if parts.iter().any(|p| p.parse::<u64>().is_ok_and(|n| n > 65535)) {
                Some("a port is at most 65535".to_string())
            } else {
                None
            };
            dc.invalid(v, path, PORTS_EXPECTED, hint);
            None
        }
    }
}

/// A single port, 1 to 65535.
fn read_port(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<u16> {
    dc.number(v, path, 1, 65535).map(|p| p as u16)
}

/// One prefix of a list: a subnet, or (when `bare_ok`) a bare address meaning /32.
fn read_prefix(dc: &mut Decoder<'_>, v: &Value, path: &Path, bare_ok: bool) -> Option<Ipv4Net> {
    let expected = if bare_ok { "an address or subnet like 10.0.0.0/8" } else { SUBNET_LIST_EXPECTED };
    let s = dc.scalar(v, path, expected)?;
    if bare_ok && let Ok(ip) = s.parse::<Ipv4Addr>() {
        return Some(Ipv4Net::from(ip));
    }
    if !s.contains('/') && s.parse::<Ipv4Addr>().is_err() && !s.bytes().any(|b| b.is_ascii_digit()) {
        // A word (`corporate`, `lan`): show what a list looks like.
        dc.invalid(v, path, expected, Some("write subnets, e.g. [10.0.0.0/8, 172.16.0.0/12]".to_string()));
        return None;
    }
    read_subnet(dc, v, path).map(|s| s.value)
}

/// A list of prefixes: one prefix, a YAML list of them, or (when `any_ok`) `any` for the
/// empty list that matches everything.
pub(crate) fn read_prefixes(
    dc: &mut Decoder<'_>,
    v: &Value,
    path: &Path,
    any_ok: bool,
    bare_ok: bool,
) -> Option<Vec<Ipv4Net>> {
    match &v.node {
        Node::Scalar(s) if any_ok && s == "any" => Some(Vec::new()),
        Node::Scalar(_) => read_prefix(dc, v, path, bare_ok).map(|p| vec![p]),
        Node::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                match read_prefix(dc, item, &path.index(i), bare_ok) {
                    Some(p) => out.push(p),
                    None => ok = false,
                }
            }
            ok.then_some(out)
        }
        _ => {
            dc.wrong_type(v, path, if any_ok { PREFIX_EXPECTED } else { "a list of subnets like [10.0.0.0/8]" });
            None
        }
    }
}

/// `encapsulation` and `overhead` of a VPN or a tunnel.
fn read_encapsulation(dc: &mut Decoder<'_>, f: &mut Fields<'_>) -> Encapsulation {
    let mut encap = Encapsulation::IPSEC;
    if let Some((v, p)) = f.optional("encapsulation")
        && let Some(e) = one_of(dc, v, &p, "an encapsulation", &ENCAPSULATIONS, &[("esp", "ipsec"), ("ssl", "dtls")])
    {
        encap = e;
    }
    if let Some((v, p)) = f.optional("overhead")
        && let Some(n) = dc.number(v, &p, 0, 1000)
    {
        encap.overhead = n as u16;
    }
    encap
}

fn duration(dc: &mut Decoder<'_>, f: &mut Fields<'_>, name: &str, default: SimDuration) -> SimDuration {
    match f.optional(name) {
        Some((v, p)) => quantity(dc, v, &p, units::parse_duration).unwrap_or(default),
        None => default,
    }
}

fn flag(dc: &mut Decoder<'_>, f: &mut Fields<'_>, name: &str, default: bool) -> bool {
    match f.optional(name) {
        Some((v, p)) => dc.bool(v, &p).unwrap_or(default),
        None => default,
    }
}

const NAT_FIELDS: &[&str] = &[
    "outside",
    "preset",
    "mapping",
    "filtering",
    "port-allocation",
    "ports",
    "udp-timeout",
    "tcp-timeout",
    "tcp-transitory-timeout",
    "refresh-on-inbound",
    "hairpinning",
    "external",
    "static",
    "forwards",
];

pub(crate) fn read_nat(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<FileNat> {
    let mut f = dc.fields(v, path, "a NAT: a map with `outside` and `preset`", NAT_FIELDS)?;
    let outside = f.required(dc, "outside").and_then(|(v, p)| dc.ident(v, &p, "an interface name"));
    let preset_given = f.optional("preset");
    let has_preset = preset_given.is_some();
    let preset = preset_given.and_then(|(v, p)| one_of(dc, v, &p, "a NAT preset", &NAT_PRESETS, &[]));
    let mut behavior = preset.map(NatPreset::behavior).unwrap_or_default();
    let mapping_given = f.optional("mapping");
    let has_mapping = mapping_given.is_some();
    if let Some((v, p)) = mapping_given
        && let Some(m) = one_of(dc, v, &p, "a mapping behaviour", &MAPPINGS, &[])
    {
        behavior.mapping = m;
    }
    let filtering_given = f.optional("filtering");
    let has_filtering = filtering_given.is_some();
    if let Some((v, p)) = filtering_given
        && let Some(m) = one_of(dc, v, &p, "a filtering behaviour", &FILTERINGS, &[])
    {
        behavior.filtering = m;
    }
    if !(has_preset || has_mapping && has_filtering) {
        let found = match (has_mapping, has_filtering) {
            (true, false) => "only `mapping`",
            (false, true) => "only `filtering`",
            _ => "neither",
        };
        let names: Vec<&str> = NAT_PRESETS.iter().map(|(n, _)| *n).collect();
        let hint = format!("presets: {}", names.join(", "));
        dc.report(v.pos, path, Problem::NatBehaviorMissing { found }, Some(hint));
    }
    if let Some((v, p)) = f.optional("port-allocation") {
        let options = [
            ("preserve", PortAllocation::Preserve),
            ("sequential", PortAllocation::Sequential),
            ("random", PortAllocation::Random),
        ];
        if let Some(a) = one_of(dc, v, &p, "a port allocation", &options, &[]) {
            behavior.port_allocation = a;
        }
    }
    if let Some((v, p)) = f.optional("ports")
        && let Some(r) = read_ports(dc, v, &p)
    {
        behavior.port_range = r;
    }
    behavior.udp_timeout = duration(dc, &mut f, "udp-timeout", behavior.udp_timeout);
    behavior.tcp_established_timeout = duration(dc, &mut f, "tcp-timeout", behavior.tcp_established_timeout);
    behavior.tcp_transitory_timeout = duration(dc, &mut f, "tcp-transitory-timeout", behavior.tcp_transitory_timeout);
    behavior.refresh_on_inbound = flag(dc, &mut f, "refresh-on-inbound", behavior.refresh_on_inbound);
    behavior.hairpinning = flag(dc, &mut f, "hairpinning", behavior.hairpinning);
    let external = f.optional("external").and_then(|(v, p)| read_ip(dc, v, &p));
    let mut static_nat = Vec::new();
    if let Some((v, p)) = f.optional("static")
        && let Some(items) = dc.seq(v, &p, "a list of {internal, external} address pairs")
    {
        for (i, item) in items.iter().enumerate() {
            let p = p.index(i);
            let Some(mut s) =
                dc.fields(item, &p, "a static NAT: a map with `internal` and `external`", &["internal", "external"])
            else {
                continue;
            };
            let internal = s.required(dc, "internal").and_then(|(v, p)| read_ip(dc, v, &p));
            let external = s.required(dc, "external").and_then(|(v, p)| read_ip(dc, v, &p));
            s.finish(dc);
            if let (Some(internal), Some(external)) = (internal, external) {
                static_nat.push(FileStaticNat { internal, external });
            }
        }
    }
    let mut forwards = Vec::new();
    if let Some((v, p)) = f.optional("forwards")
        && let Some(items) = dc.seq(v, &p, "a list of port forwards")
    {
        for (i, item) in items.iter().enumerate() {
            forwards.extend(read_forward(dc, item, &p.index(i)));
        }
    }
    f.finish(dc);
    Some(FileNat { outside, preset, behavior, external, static_nat, forwards })
}

fn read_forward(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<PortForward> {
    let expected = "a port forward: a map with `protocol`, `port` and `to`";
    let mut f = dc.fields(v, path, expected, &["protocol", "port", "to"])?;
    let protocol = f
        .required(dc, "protocol")
        .and_then(|(v, p)| one_of(dc, v, &p, "a protocol", &[("udp", Protocol::Udp), ("tcp", Protocol::Tcp)], &[]));
    let port = f.required(dc, "port").and_then(|(v, p)| read_port(dc, v, &p));
    let to = f.required(dc, "to").and_then(|(v, p)| {
        let expected = "an address and port like 10.0.5.10:3478 (or an address, for the same port)";
        let s = dc.scalar(v, &p, expected)?;
        if let Ok(sa) = s.parse::<SocketAddrV4>() {
            if sa.port() == 0 {
                dc.invalid(v, &p, expected, Some("port 0 is reserved; ports run from 1 to 65535".to_string()));
                return None;
            }
            return Some(sa);
        }
        match s.parse::<Ipv4Addr>() {
            Ok(ip) => port.map(|port| SocketAddrV4::new(ip, port)),
            Err(_) => {
                dc.invalid(v, &p, expected, None);
                None
            }
        }
    });
    f.finish(dc);
    Some(PortForward { protocol: protocol?, external_port: port?, internal: to? })
}

const VPN_FIELDS: &[&str] = &[
    "interface",
    "address",
    "concentrator",
    "server",
    "mode",
    "include",
    "exclude",
    "encapsulation",
    "overhead",
    "profile",
];

pub(crate) fn read_vpn(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<FileVpn> {
    let mut f = dc.fields(v, path, "a VPN client: a map with `address`, `concentrator` and `mode`", VPN_FIELDS)?;
    let interface = f
        .optional("interface")
        .and_then(|(v, p)| dc.ident(v, &p, "an interface name"))
        .unwrap_or_else(|| At { value: "vpn0".to_string(), pos: v.pos, path: path.field("interface") });
    let address = f.required(dc, "address").and_then(|(v, p)| read_address(dc, v, &p));
    let concentrator = f.required(dc, "concentrator").and_then(|(v, p)| dc.ident(v, &p, "a node id"));
    let server = f.optional("server").and_then(|(v, p)| read_ip(dc, v, &p));
    let modes = [("full", true), ("split", false)];
    let full = f.required(dc, "mode").and_then(|(v, p)| {
        one_of(dc, v, &p, "a tunnel mode", &modes, &[("tunnel-all", "full"), ("split-tunnel", "split")])
    });
    let include = f.optional("include");
    let exclude = f.optional("exclude");
    let mut mode = None;
    match full {
        Some(true) => {
            for (field, given) in [("include", include), ("exclude", exclude)] {
                let Some((v, p)) = given else { continue };
                let hint = if field == "exclude" {
                    "keeping Lync media out of the VPN needs a split tunnel: use `mode: split` with `include` \
                     routes, and list the Edge's public addresses in `exclude`"
                } else {
                    "use `mode: split` to send only some subnets into the tunnel"
                };
                let field = if field == "exclude" { "exclude" } else { "include" };
                dc.report(f.key_pos(field), &p, Problem::FullTunnelRoutes { field }, Some(hint.to_string()));
                let _ = v;
            }
            mode = Some(TunnelMode::Full);
        }
        Some(false) => {
            let include = match include {
                Some((v, p)) => {
                    let list = read_prefixes(dc, v, &p, false, false);
                    if list.as_ref().is_some_and(Vec::is_empty) {
                        let hint = Some("e.g. include: [10.0.0.0/8]".to_string());
                        dc.invalid(v, &p, "at least one subnet to send into the tunnel", hint);
                        None
                    } else {
                        list
                    }
                }
                None => {
                    let hint = "a split tunnel carries only the subnets listed, e.g. include: [10.0.0.0/8]";
                    dc.report(v.pos, path, Problem::MissingField { field: "include" }, Some(hint.to_string()));
                    None
                }
            };
            let exclude = match exclude {
                Some((v, p)) => read_prefixes(dc, v, &p, false, false),
                None => Some(Vec::new()),
            };
            if let (Some(include), Some(exclude)) = (include, exclude) {
                mode = Some(TunnelMode::Split { include, exclude });
            }
        }
        None => {}
    }
    let encapsulation = read_encapsulation(dc, &mut f);
    let profile = f.optional("profile").and_then(|(v, p)| read_profile(dc, v, &p)).unwrap_or(NetworkProfile::Domain);
    f.finish(dc);
    Some(FileVpn { interface, address, concentrator, server, mode, encapsulation, profile })
}

const CONCENTRATOR_FIELDS: &[&str] =
    &["outside", "pool", "crypto-delay", "crypto-jitter", "capacity", "queue", "hairpin"];

pub(crate) fn read_concentrator(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<FileConcentrator> {
    let expected = "a VPN concentrator: a map with `outside` and `pool`";
    let mut f = dc.fields(v, path, expected, CONCENTRATOR_FIELDS)?;
    let outside = f.required(dc, "outside").and_then(|(v, p)| dc.ident(v, &p, "an interface name"));
    let pool = f.required(dc, "pool").and_then(|(v, p)| {
        let pool = read_subnet(dc, v, &p)?;
        if pool.value.prefix_len() > 30 {
            let hint = Some("the first address is the concentrator's; clients need the rest".to_string());
            dc.invalid(v, &p, "a client pool with room for clients (prefix length 30 or shorter)", hint);
            return None;
        }
        Some(pool)
    });
    let crypto_delay = duration(dc, &mut f, "crypto-delay", SimDuration::from_micros(100));
    let crypto_jitter = f.optional("crypto-jitter").and_then(|(v, p)| read_jitter(dc, v, &p));
    let capacity_pps = f.optional("capacity").and_then(|(v, p)| quantity(dc, v, &p, units::parse_pps));
    let mut queue_packets = 1000;
    if let Some((v, p)) = f.optional("queue") {
        match quantity(dc, v, &p, units::parse_queue) {
            Some(QueueLimit::Packets(n)) => queue_packets = n,
            Some(QueueLimit::Bytes(_)) => {
                let hint = Some("a crypto engine queues whole packets, e.g. 500 packets".to_string());
                dc.invalid(v, &p, "a queue size in packets", hint);
            }
            None => {}
        }
    }
    let hairpin = flag(dc, &mut f, "hairpin", true);
    f.finish(dc);
    Some(FileConcentrator { outside, pool, crypto_delay, crypto_jitter, capacity_pps, queue_packets, hairpin })
}

pub(crate) fn read_edge(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<FileEdge> {
    const KNOWN: &[&str] = &["advertised", "pool", "secret", "realm", "relay-ports", "udp-port", "tcp-port"];
    let mut f =
        dc.fields(v, path, "an Edge: a map with `advertised`, `pool`, `secret`, `realm`, `relay-ports`", KNOWN)?;
    let advertised = f.optional("advertised").and_then(|(v, p)| read_ip(dc, v, &p));
    let pool = f.optional("pool").and_then(|(v, p)| dc.string(v, &p, "an Edge pool name"));
    let secret = f.optional("secret").and_then(|(v, p)| dc.string(v, &p, "the pool's shared secret"));
    let realm = f.optional("realm").and_then(|(v, p)| dc.string(v, &p, "a realm such as RTCMEDIA"));
    let relay_ports = f.optional("relay-ports").and_then(|(v, p)| read_ports(dc, v, &p));
    let udp_port = f.optional("udp-port").and_then(|(v, p)| read_ports(dc, v, &p));
    let tcp_port = f.optional("tcp-port").and_then(|(v, p)| read_ports(dc, v, &p));
    f.finish(dc);
    Some(FileEdge { advertised, pool, secret, realm, relay_ports, udp_port, tcp_port })
}

pub(crate) fn read_views(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Vec<FileView> {
    let Some(items) = dc.seq(v, path, "a list of DNS views") else { return Vec::new() };
    if items.is_empty() {
        dc.invalid(v, path, "at least one view", Some("e.g. - {name: all, clients: any, records: {...}}".to_string()));
    }
    let mut views = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = path.index(i);
        let Some(mut f) = dc.fields(
            item,
            &p,
            "a DNS view: a map with `name`, `clients` and `records`",
            &["name", "clients", "records"],
        ) else {
            continue;
        };
        let name = f.required(dc, "name").and_then(|(v, p)| dc.ident(v, &p, "a view name"));
        let clients = match f.optional("clients") {
            Some((v, p)) => read_prefixes(dc, v, &p, true, true).unwrap_or_default(),
            None => Vec::new(),
        };
        let mut records = BTreeMap::new();
        if let Some((v, p)) = f.required(dc, "records")
            && let Some(entries) = dc.map(v, &p, "a map from DNS name to addresses")
        {
            for (key, value) in entries {
                let rp = p.field(&key.name);
                let ok = !key.name.is_empty()
                    && key.name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
                if !ok {
                    let kv = Value { node: Node::Scalar(key.name.clone()), pos: key.pos };
                    dc.invalid(&kv, &rp, "a DNS name like sip.contoso.com", None);
                    continue;
                }
                let addrs: Vec<Ipv4Addr> = match &value.node {
                    Node::Seq(list) if !list.is_empty() => list
                        .iter()
                        .enumerate()
                        .filter_map(|(j, a)| read_ip(dc, a, &rp.index(j)))
                        .map(|a| a.value)
                        .collect(),
                    Node::Seq(_) | Node::Null => {
                        dc.invalid(value, &rp, "an address or a list of addresses", None);
                        continue;
                    }
                    _ => read_ip(dc, value, &rp).map(|a| vec![a.value]).unwrap_or_default(),
                };
                records.insert(key.name.to_lowercase(), addrs);
            }
        }
        f.finish(dc);
        views.push(FileView { name, clients, records });
    }
    views
}

pub(crate) fn read_tunnels(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Vec<FileTunnel> {
    let Some(items) = dc.seq(v, path, "a list of site-to-site tunnels") else { return Vec::new() };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = path.index(i);
        let known = &["id", "encapsulation", "overhead", "a", "b"];
        let Some(mut f) = dc.fields(item, &p, "a tunnel: a map with `id`, `a` and `b`", known) else { continue };
        let id = f.required(dc, "id").and_then(|(v, p)| dc.ident(v, &p, "a tunnel id"));
        let encapsulation = read_encapsulation(dc, &mut f);
        let a = f.required(dc, "a").and_then(|(v, p)| read_tunnel_end(dc, v, &p));
        let b = f.required(dc, "b").and_then(|(v, p)| read_tunnel_end(dc, v, &p));
        f.finish(dc);
        out.push(FileTunnel { id, encapsulation, a, b });
    }
    out
}

fn read_tunnel_end(dc: &mut Decoder<'_>, v: &Value, path: &Path) -> Option<FileTunnelEnd> {
    let expected = "a tunnel end: a map with `node`, `interface`, `address` and `underlay`";
    let mut f = dc.fields(v, path, expected, &["node", "interface", "address", "underlay"])?;
    let node = f.required(dc, "node").and_then(|(v, p)| dc.ident(v, &p, "a node id"));
    let interface = f.required(dc, "interface").and_then(|(v, p)| dc.ident(v, &p, "an interface name"));
    let address = f.required(dc, "address").and_then(|(v, p)| read_address(dc, v, &p));
    let underlay = f.required(dc, "underlay").and_then(|(v, p)| dc.ident(v, &p, "an interface name"));
    f.finish(dc);
    Some(FileTunnelEnd { node, interface, address, underlay })
}
