//! Checks across the document, then the `Topology` built from a clean file.
//!
//! `read` has checked each value on its own; here values are compared with each other:
//! unique ids and addresses, references to links, zones and interfaces, addresses against
//! their link's subnet, gateways and next hops against the node's subnets, member counts
//! and overlapping subnets. Only a file without errors is built.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use rustc_hash::FxHashMap;

use super::decode::{At, Decoder, Path, unknown_hint};
use super::read::{EdgeRole, FileIface, FileLink, FileNode, FileTopology};
use super::tree::Pos;
use super::{DupKind, Problem, RefKind};
use crate::topology::{
    Concentrator, DnsServer, DnsView, EdgeConfig, FirewallConfig, IfaceId, IfaceType, Interface, Link, LinkId,
    LinkKind, LinkProps, NatConfig, NetworkProfile, Node, NodeId, NodeRoles, Route, RouteOrigin, RouteTable, SipConfig,
    SiteTunnelEnd, StaticNat, Topology, TopologyParts, TunnelMode, VpnClient, Zone,
};

mod middlebox;

use middlebox::{ExtraNet, Virtual, check_middleboxes};
pub(crate) use middlebox::{POOL_IFACE, pool_gateway};

/// Checks the file as a whole and, when no error was found, builds the topology.
pub(crate) fn check_and_build(dc: &mut Decoder<'_>, file: &str, f: FileTopology) -> Option<Topology> {
    let link_index = unique_ids(dc, f.links.iter().map(|l| l.id.as_ref()), DupKind::LinkId);
    let node_index = unique_ids(dc, f.nodes.iter().map(|n| n.id.as_ref()), DupKind::NodeId);
    let zone_names: Vec<&str> = f.zones.iter().map(|z| z.name.value.as_str()).collect();
    let link_names: Vec<&str> = f.links.iter().filter_map(|l| l.id.as_ref()).map(|i| i.value.as_str()).collect();

    let mut members: Vec<Vec<Member<'_>>> = f.links.iter().map(|_| Vec::new()).collect();
    // Member counts are only meaningful when every interface found its link.
    let mut members_known = f.nodes.iter().all(|n| n.links_complete);
    let mut addresses: HashMap<Ipv4Addr, (String, u32)> = HashMap::new();
    for node in &f.nodes {
        if let Some(zone) = &node.zone
            && !zone_names.contains(&zone.value.as_str())
        {
            let problem = Problem::UnknownReference { kind: RefKind::Zone, name: zone.value.clone() };
            let hint = unknown_hint(&zone.value, "zones", &zone_names);
            dc.report(zone.pos, &zone.path, problem, Some(hint));
        }
        let node_name = node.id.as_ref().map_or("?", |i| i.value.as_str());
        unique_ids(dc, node.interfaces.iter().map(|i| i.name.as_ref()), DupKind::InterfaceName);
        for iface in &node.interfaces {
            let label = format!("{node_name}/{}", iface.name.as_ref().map_or("?", |n| n.value.as_str()));
            if let Some(addr) = &iface.address {
                check_address(dc, addr, &label, &mut addresses);
            }
            let Some(link) = &iface.link else { continue };
            match link_index.get(link.value.as_str()) {
                Some(&li) => members[li].push(Member { iface, label }),
                None => {
                    members_known = false;
                    let problem = Problem::UnknownReference { kind: RefKind::Link, name: link.value.clone() };
                    let hint = unknown_hint(&link.value, "links", &link_names);
                    dc.report(link.pos, &link.path, problem, Some(hint));
                }
            }
        }
    }
    let boxes = check_middleboxes(dc, &f, &node_index, &mut addresses);
    for (node, virtuals) in f.nodes.iter().zip(&boxes.virtuals) {
        check_routes(dc, node, node.id.as_ref().map_or("?", |i| i.value.as_str()), virtuals);
    }

    let mut link_nets: Vec<Option<(Ipv4Net, Pos, Path)>> = Vec::new();
    for (i, (link, members)) in f.links.iter().zip(&members).enumerate() {
        // A repeated link id has no members of its own: its interfaces joined the first.
        let first = link.id.as_ref().is_some_and(|id| link_index.get(id.value.as_str()) == Some(&i));
        link_nets.push(check_link(dc, link, members, members_known && first));
    }
    let mut named_nets: Vec<NamedNet> = f
        .links
        .iter()
        .zip(link_nets)
        .map(|(l, n)| (l.id.as_ref().map_or("?".to_string(), |i| i.value.clone()), n))
        .collect();
    named_nets
        .extend(boxes.extra_nets.into_iter().map(|ExtraNet { name, net, pos, path }| (name, Some((net, pos, path)))));
    check_overlaps(dc, &named_nets);

    if dc.has_errors() {
        return None;
    }
    let topology = build(file, &f, &link_index, &node_index);
    if topology.is_none() {
        // Unreachable when every check above is complete; say so rather than fail silently.
        let problem = Problem::InvalidValue {
            expected: "a complete topology".to_string(),
            found: "an incomplete one (this is a bug in icepath's checks)".to_string(),
        };
        dc.report(Pos { line: 1, column: 1, ..Pos::default() }, &Path::root(), problem, None);
    }
    topology
}

/// An interface attached to a link, with its `node/iface` label.
struct Member<'f> {
    iface: &'f FileIface,
    label: String,
}

/// Reports repeated ids (the first wins) and returns the index of each first id.
fn unique_ids<'f>(
    dc: &mut Decoder<'_>,
    ids: impl Iterator<Item = Option<&'f At<String>>>,
    kind: DupKind,
) -> HashMap<&'f str, usize> {
    let mut seen: HashMap<&'f str, usize> = HashMap::new();
    let mut first_line: HashMap<&'f str, u32> = HashMap::new();
    for (i, id) in ids.enumerate() {
        let Some(id) = id else { continue };
        if let Some(line) = first_line.get(id.value.as_str()) {
            let problem = Problem::Duplicate { kind, name: id.value.clone() };
            dc.report(id.pos, &id.path, problem, Some(format!("first defined at line {line}")));
        } else {
            seen.insert(&id.value, i);
            first_line.insert(&id.value, id.pos.line);
        }
    }
    seen
}

/// An interface address must be a host address and unique in the whole file.
fn check_address(
    dc: &mut Decoder<'_>,
    addr: &At<Ipv4Net>,
    label: &str,
    addresses: &mut HashMap<Ipv4Addr, (String, u32)>,
) {
    let net = addr.value;
    // A /31 has no network or broadcast address (RFC 3021), and a /32 is a single host.
    if net.prefix_len() <= 30 {
        let which = if net.addr() == net.network() {
            Some("network")
        } else if net.addr() == net.broadcast() {
            Some("broadcast")
        } else {
            None
        };
        if let Some(which) = which {
            let problem = Problem::ReservedAddress { addr: net, which, net: net.trunc() };
            dc.report(addr.pos, &addr.path, problem, Some(host_range_hint(net.trunc())));
        }
    }
    match addresses.get(&net.addr()) {
        Some((first, line)) => {
            let problem = Problem::DuplicateAddress { addr: net.addr(), first: first.clone() };
            dc.report(addr.pos, &addr.path, problem, Some(format!("first assigned at line {line}")));
        }
        None => {
            addresses.insert(net.addr(), (label.to_string(), addr.pos.line));
        }
    }
}

/// Checks a link's members against its kind and subnet; returns the link's subnet and
/// where it is written, for the overlap check.
fn check_link(
    dc: &mut Decoder<'_>,
    link: &FileLink,
    members: &[Member<'_>],
    count_members: bool,
) -> Option<(Ipv4Net, Pos, Path)> {
    let name = link.id.as_ref().map_or("?", |i| i.value.as_str());
    let (id_pos, id_path) = match &link.id {
        Some(id) => (id.pos, id.path.clone()),
        None => (link.pos, link.path.clone()),
    };
    if !count_members {
        // Skip: an unknown or missing link reference is already reported.
    } else if link.kind == LinkKind::PointToPoint && members.len() != 2 {
        let problem = Problem::PointToPointMembers { link: name.to_string(), count: members.len() };
        let hint = Some(labels_hint(members, "use `kind: segment` for a shared segment"));
        dc.report(id_pos, &id_path, problem, hint);
    } else if members.len() < 2 {
        let problem = Problem::LonelyLink { link: name.to_string(), count: members.len() };
        let hint = Some(labels_hint(members, "attach interfaces with `link: ` in each node"));
        dc.report(id_pos, &id_path, problem, hint);
    }
    if let Some(subnet) = &link.subnet {
        for m in members {
            let Some(addr) = &m.iface.address else { continue };
            if addr.value.trunc() == subnet.value {
                continue;
            }
            if subnet.value.contains(&addr.value.addr()) {
                // Inside, but with another prefix length: the interface disagrees with the link.
                let hint = format!("use the link's prefix length: {}/{}", addr.value.addr(), subnet.value.prefix_len());
                let problem = Problem::SubnetMismatch {
                    net: addr.value.trunc(),
                    other_net: subnet.value,
                    other: format!("link \"{name}\""),
                };
                dc.report(addr.pos, &addr.path, problem, Some(hint));
            } else {
                let problem = Problem::OutsideSubnet { addr: addr.value, link: name.to_string(), subnet: subnet.value };
                dc.report(addr.pos, &addr.path, problem, Some(host_range_hint(subnet.value)));
            }
        }
        return Some((subnet.value, subnet.pos, subnet.path.clone()));
    }
    let mut first: Option<(&Member<'_>, &At<Ipv4Net>)> = None;
    for m in members {
        let Some(addr) = &m.iface.address else { continue };
        match first {
            None => first = Some((m, addr)),
            Some((fm, fa)) if fa.value.trunc() != addr.value.trunc() => {
                let problem = Problem::SubnetMismatch {
                    net: addr.value.trunc(),
                    other_net: fa.value.trunc(),
                    other: format!("{} on the same link \"{name}\"", fm.label),
                };
                let hint = Some(format!("{} is at line {}", fm.label, fa.pos.line));
                dc.report(addr.pos, &addr.path, problem, hint);
            }
            Some(_) => {}
        }
    }
    first.map(|(_, a)| (a.value.trunc(), a.pos, a.path.clone()))
}

fn labels_hint(members: &[Member<'_>], none: &str) -> String {
    if members.is_empty() {
        return format!("no interface names this link; {none}");
    }
    let labels: Vec<&str> = members.iter().map(|m| m.label.as_str()).collect();
    format!("members: {}", labels.join(", "))
}

fn host_range_hint(net: Ipv4Net) -> String {
    let mut hosts = net.hosts();
    match (hosts.next(), hosts.last()) {
        (Some(a), Some(b)) => format!("host addresses in {net} run from {a} to {b}"),
        (Some(a), None) => format!("the only host address in {net} is {a}"),
        _ => format!("{net} has no host addresses"),
    }
}

/// A link's (or pool's, or tunnel's) name with its subnet and where that is written.
type NamedNet = (String, Option<(Ipv4Net, Pos, Path)>);

/// Warns when subnets of different links overlap without being identical: legal (real
/// networks do it) but a frequent copy-and-paste slip. Each subnet is reported against the
/// first one before it in the file that it overlaps.
///
/// Two CIDR blocks overlap only when one holds the other, so the earlier subnets that
/// overlap `b` are its supernets (at most one block per prefix length, looked up), blocks
/// equal to it written differently (`10.0.0.1/24` beside `10.0.0.0/24`), and the blocks
/// inside it (a contiguous run of the subnets sorted by address, whose smallest file index
/// a sparse table answers): O(n log n) rather than comparing every pair, which took
/// seconds for the 42,000 links of a 100,000-host enterprise.
fn check_overlaps(dc: &mut Decoder<'_>, nets: &[NamedNet]) {
    let plain: Vec<Option<Ipv4Net>> = nets.iter().map(|(_, n)| n.as_ref().map(|(net, _, _)| *net)).collect();
    for (j, first) in first_overlaps(&plain).into_iter().enumerate() {
        let (Some(i), (b_name, Some((b_net, b_pos, b_path)))) = (first, &nets[j]) else { continue };
        let (a_name, a_net) = (&nets[i].0, plain[i].expect("invariant: only subnets overlap"));
        let problem = Problem::OverlappingSubnets {
            net: *b_net,
            link: b_name.clone(),
            other_net: a_net,
            other_link: a_name.clone(),
        };
        let hint = Some("the longest prefix wins, so the smaller subnet shadows part of the larger".to_string());
        dc.report(*b_pos, b_path, problem, hint);
    }
}

/// For each subnet, the first subnet before it that overlaps it without being written
/// the same (`None` for gaps and for subnets that overlap nothing earlier).
fn first_overlaps(nets: &[Option<Ipv4Net>]) -> Vec<Option<usize>> {
    let key = |n: &Ipv4Net| (u32::from(n.network()), n.prefix_len());
    // Per block: the first subnet written as that block, and the first written differently
    // from that one (what an exact duplicate of the first overlaps).
    let mut blocks: FxHashMap<(u32, u8), (usize, Option<usize>)> = FxHashMap::default();
    let mut sorted: Vec<((u32, u8), usize)> = Vec::new();
    for (i, n) in nets.iter().enumerate() {
        let Some(net) = n else { continue };
        sorted.push((key(net), i));
        blocks
            .entry(key(net))
            .and_modify(|(first, other)| {
                if other.is_none() && nets[*first] != Some(*net) {
                    *other = Some(i);
                }
            })
            .or_insert((i, None));
    }
    sorted.sort_unstable();
    let table = MinTable::new(sorted.iter().map(|&(_, i)| i).collect());
    let mut out = vec![None; nets.len()];
    for (j, b) in nets.iter().enumerate() {
        let Some(b_net) = b else { continue };
        let (addr, len) = key(b_net);
        let mut earliest: Option<usize> = None;
        let mut consider = |i: usize| {
            if i < j && earliest.is_none_or(|e| i < e) {
                earliest = Some(i);
            }
        };
        // Supernets, and this block itself written another way.
        for p in 0..=len {
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            let Some(&(first, other)) = blocks.get(&(addr & mask, p)) else { continue };
            match (nets[first] == Some(*b_net), other) {
                (false, _) => consider(first),
                (true, Some(o)) => consider(o),
                (true, None) => {}
            }
        }
        // Blocks strictly inside this one.
        let bcast = u32::from(b_net.broadcast());
        let lo = sorted.partition_point(|&(k, _)| k < (addr, len.saturating_add(1)));
        let hi = sorted.partition_point(|&(k, _)| k <= (bcast, 32));
        if len < 32 && lo < hi {
            consider(table.min(lo, hi));
        }
        out[j] = earliest;
    }
    out
}

/// Range minimum over a fixed list (a sparse table: `levels[k][i]` is the minimum of
/// `2^k` values from `i`).
struct MinTable {
    levels: Vec<Vec<usize>>,
}

impl MinTable {
    fn new(values: Vec<usize>) -> MinTable {
        let mut levels = vec![values];
        let mut width = 1;
        while width * 2 <= levels[0].len() {
            let prev = levels.last().expect("invariant: starts with one level");
            let next: Vec<usize> = (0..prev.len() - width).map(|i| prev[i].min(prev[i + width])).collect();
            levels.push(next);
            width *= 2;
        }
        MinTable { levels }
    }

    /// The minimum of `values[lo..hi]` (`lo < hi`).
    fn min(&self, lo: usize, hi: usize) -> usize {
        let k = (usize::BITS - 1 - (hi - lo).leading_zeros()) as usize;
        self.levels[k][lo].min(self.levels[k][hi - (1 << k)])
    }
}

/// The gateway and each static route must leave through a subnet the node is on, virtual
/// interfaces (VPN, tunnels, a concentrator's pool) included.
fn check_routes(dc: &mut Decoder<'_>, node: &FileNode, node_name: &str, virtuals: &[Virtual]) {
    let mut nets: Vec<Ipv4Net> = node.interfaces.iter().filter_map(|i| i.address.as_ref()).map(|a| a.value).collect();
    nets.extend(virtuals.iter().map(|v| v.net));
    let subnets_hint = || {
        if nets.is_empty() {
            "this node has no valid interface address".to_string()
        } else {
            let list: Vec<String> = nets.iter().map(|n| n.trunc().to_string()).collect();
            format!("connected subnets: {}", list.join(", "))
        }
    };
    let scope = format!("every subnet of node \"{node_name}\"");
    if let Some(gw) = node.gateway.as_ref().filter(|_| node.complete) {
        check_next_hop(dc, gw, "gateway", &nets, &scope, &subnets_hint);
    }
    let mut iface_names: Vec<&str> =
        node.interfaces.iter().filter_map(|i| i.name.as_ref()).map(|n| n.value.as_str()).collect();
    iface_names.extend(virtuals.iter().map(|v| v.name.as_str()));
    for route in &node.routes {
        let mut iface_net: Option<Option<Ipv4Net>> = None;
        if let Some(name) = &route.interface {
            let virtual_net = virtuals.iter().find(|v| v.name == name.value).map(|v| v.net);
            match node.interfaces.iter().find(|i| i.name.as_ref().is_some_and(|n| n.value == name.value)) {
                Some(i) => iface_net = Some(i.address.as_ref().map(|a| a.value)),
                None if virtual_net.is_some() => iface_net = Some(virtual_net),
                None => {
                    let problem = Problem::UnknownReference { kind: RefKind::Interface, name: name.value.clone() };
                    let hint = unknown_hint(&name.value, &format!("interfaces of \"{node_name}\""), &iface_names);
                    dc.report(name.pos, &name.path, problem, Some(hint));
                }
            }
        }
        let Some(via) = route.via.as_ref().filter(|_| node.complete) else { continue };
        match (&route.interface, iface_net) {
            (Some(name), Some(Some(net))) => {
                let scope = format!("{net}, the subnet of interface \"{}\"", name.value);
                let hint = || format!("interface \"{}\" is on {}", name.value, net.trunc());
                check_next_hop(dc, via, "next hop", &[net], &scope, &hint);
            }
            (Some(_), _) => {} // Unknown interface or bad address: already reported.
            (None, _) => check_next_hop(dc, via, "next hop", &nets, &scope, &subnets_hint),
        }
    }
}

fn check_next_hop(
    dc: &mut Decoder<'_>,
    hop: &At<Ipv4Addr>,
    what: &'static str,
    nets: &[Ipv4Net],
    scope: &str,
    hint: &dyn Fn() -> String,
) {
    if nets.iter().any(|n| n.addr() == hop.value) {
        dc.report(hop.pos, &hop.path, Problem::OwnAddress { what, addr: hop.value }, Some(hint()));
    } else if !nets.iter().any(|n| n.contains(&hop.value)) {
        let problem = Problem::NotOnLink { what, addr: hop.value, scope: scope.to_string() };
        dc.report(hop.pos, &hop.path, problem, Some(hint()));
    }
}

/// Builds the topology from a file that passed every check; `None` if something is
/// missing after all (which the checks make impossible).
///
/// Ids are positions. Links: the file's links, then one `<concentrator>-pool` link per
/// concentrator, then one link per site-to-site tunnel, each in file order. Interfaces: every
/// node's physical interfaces in file order, then the virtual ones: each concentrator's
/// `pool0`, each VPN client's interface, then both ends of each tunnel.
fn build(
    file: &str,
    f: &FileTopology,
    link_index: &HashMap<&str, usize>,
    node_index: &HashMap<&str, usize>,
) -> Option<Topology> {
    let name = match &f.name {
        Some(n) => n.value.clone(),
        None => default_name(file),
    };
    let mut links: Vec<Link> = Vec::with_capacity(f.links.len());
    let new_link = |links: &mut Vec<Link>, name: String, kind: LinkKind, props: LinkProps| -> Option<LinkId> {
        let id = LinkId(u32::try_from(links.len()).ok()?);
        links.push(Link { id, name, kind, props, members: Vec::new() });
        Some(id)
    };
    for l in &f.links {
        new_link(&mut links, l.id.as_ref()?.value.clone(), l.kind, l.props)?;
    }
    let mut pool_links: HashMap<usize, LinkId> = HashMap::new();
    for (ni, n) in f.nodes.iter().enumerate() {
        if n.concentrator.is_some() {
            let id =
                new_link(&mut links, format!("{}-pool", n.id.as_ref()?.value), LinkKind::Tunnel, LinkProps::default())?;
            pool_links.insert(ni, id);
        }
    }
    let mut tunnel_links: Vec<LinkId> = Vec::with_capacity(f.tunnels.len());
    for t in &f.tunnels {
        tunnel_links.push(new_link(&mut links, t.id.as_ref()?.value.clone(), LinkKind::Tunnel, LinkProps::default())?);
    }

    let mut nodes: Vec<Node> = Vec::with_capacity(f.nodes.len());
    let mut ifaces: Vec<Interface> = Vec::new();
    for (ni, n) in f.nodes.iter().enumerate() {
        let node_id = NodeId(u32::try_from(ni).ok()?);
        let kind = n.kind?;
        nodes.push(Node {
            id: node_id,
            name: n.id.as_ref()?.value.clone(),
            kind,
            zone: n.zone.as_ref().map(|z| z.value.clone()),
            ifaces: Vec::with_capacity(n.interfaces.len()),
            forwarding: n.forwarding.unwrap_or(kind.forwards_by_default()),
            routes: RouteTable::new(),
            roles: NodeRoles::none(),
        });
        for i in &n.interfaces {
            let link = LinkId(u32::try_from(*link_index.get(i.link.as_ref()?.value.as_str())?).ok()?);
            let spec = IfaceSpec {
                name: i.name.as_ref()?.value.clone(),
                net: i.address.as_ref()?.value,
                link,
                iface_type: i.iface_type,
                profile: i.profile,
                is_tunnel: false,
            };
            add_iface(&mut nodes, &mut ifaces, &mut links, node_id, spec)?;
        }
    }

    // Virtual interfaces: concentrator pools, VPN clients, tunnel ends.
    let mut pool_ifaces: HashMap<usize, IfaceId> = HashMap::new();
    for (ni, n) in f.nodes.iter().enumerate() {
        let Some(c) = &n.concentrator else { continue };
        let spec = IfaceSpec {
            name: POOL_IFACE.to_string(),
            net: pool_gateway(c.pool.as_ref()?.value)?,
            link: *pool_links.get(&ni)?,
            iface_type: IfaceType::Lan,
            profile: NetworkProfile::Domain,
            is_tunnel: true,
        };
        pool_ifaces.insert(ni, add_iface(&mut nodes, &mut ifaces, &mut links, NodeId(ni as u32), spec)?);
    }
    let mut vpn_ifaces: HashMap<usize, (IfaceId, usize)> = HashMap::new();
    for (ni, n) in f.nodes.iter().enumerate() {
        let Some(vpn) = &n.vpn else { continue };
        let conc = *node_index.get(vpn.concentrator.as_ref()?.value.as_str())?;
        let spec = IfaceSpec {
            name: vpn.interface.value.clone(),
            net: vpn.address.as_ref()?.value,
            link: *pool_links.get(&conc)?,
            iface_type: IfaceType::RemoteAccess,
            profile: vpn.profile,
            is_tunnel: true,
        };
        vpn_ifaces.insert(ni, (add_iface(&mut nodes, &mut ifaces, &mut links, NodeId(ni as u32), spec)?, conc));
    }
    for (t, &link) in f.tunnels.iter().zip(&tunnel_links) {
        let mut ends = Vec::with_capacity(2);
        for end in [t.a.as_ref()?, t.b.as_ref()?] {
            let ni = *node_index.get(end.node.as_ref()?.value.as_str())?;
            let spec = IfaceSpec {
                name: end.interface.as_ref()?.value.clone(),
                net: end.address.as_ref()?.value,
                link,
                iface_type: IfaceType::Lan,
                profile: NetworkProfile::Domain,
                is_tunnel: true,
            };
            let iface = add_iface(&mut nodes, &mut ifaces, &mut links, NodeId(ni as u32), spec)?;
            let underlay = iface_by_name(&nodes[ni], &ifaces, &end.underlay.as_ref()?.value)?;
            ends.push((ni, iface, ifaces[underlay.0 as usize].addr));
        }
        let [(na, ia, ua), (nb, ib, ub)] = ends[..] else { return None };
        let encapsulation = t.encapsulation;
        std::sync::Arc::make_mut(&mut nodes[na].roles).site_tunnels.push(SiteTunnelEnd {
            iface: ia,
            local: ua,
            remote: ub,
            encapsulation,
        });
        std::sync::Arc::make_mut(&mut nodes[nb].roles).site_tunnels.push(SiteTunnelEnd {
            iface: ib,
            local: ub,
            remote: ua,
            encapsulation,
        });
    }

    // Routes and roles, now that every interface exists.
    for (ni, n) in f.nodes.iter().enumerate() {
        let mut routes = RouteTable::new();
        let route = |prefix: Ipv4Net, next_hop: Option<Ipv4Addr>, iface: Option<IfaceId>, metric: u32| Route {
            prefix,
            next_hop,
            iface,
            metric,
            origin: RouteOrigin::Static,
        };
        if let Some(gw) = &n.gateway {
            routes.insert(route(Ipv4Net::default(), Some(gw.value), None, 1));
        }
        for r in &n.routes {
            let iface = match &r.interface {
                Some(name) => Some(iface_by_name(&nodes[ni], &ifaces, &name.value)?),
                None => None,
            };
            routes.insert(route(r.to.as_ref()?.value, r.via.as_ref().map(|v| v.value), iface, r.metric));
        }
        let mut roles = std::sync::Arc::unwrap_or_clone(std::mem::replace(&mut nodes[ni].roles, NodeRoles::none()));
        if let (Some(vpn), Some(&(iface, conc))) = (&n.vpn, vpn_ifaces.get(&ni)) {
            let c = f.nodes[conc].concentrator.as_ref()?;
            let pool_gw = pool_gateway(c.pool.as_ref()?.value)?.addr();
            let server = match &vpn.server {
                Some(s) => s.value,
                None => ifaces[iface_by_name(&nodes[conc], &ifaces, &c.outside.as_ref()?.value)?.0 as usize].addr,
            };
            let gw = n.gateway.as_ref()?.value;
            let mode = vpn.mode.clone()?;
            // The tunnel's own packets to the concentrator must not enter the tunnel.
            routes.insert(route(Ipv4Net::from(server), Some(gw), None, 0));
            match &mode {
                TunnelMode::Full => routes.insert(route(Ipv4Net::default(), Some(pool_gw), Some(iface), 0)),
                TunnelMode::Split { include, exclude } => {
                    for p in include {
                        routes.insert(route(*p, Some(pool_gw), Some(iface), 5));
                    }
                    // Metric 0 so that an exclude beats an include of the same prefix.
                    for p in exclude {
                        routes.insert(route(*p, Some(gw), None, 0));
                    }
                }
            }
            roles.vpn =
                Some(VpnClient { iface, concentrator: nodes[conc].id, server, mode, encapsulation: vpn.encapsulation });
        }
        if let Some(c) = &n.concentrator {
            roles.concentrator = Some(Concentrator {
                outside: iface_by_name(&nodes[ni], &ifaces, &c.outside.as_ref()?.value)?,
                tunnel: *pool_ifaces.get(&ni)?,
                pool: c.pool.as_ref()?.value,
                crypto_delay: c.crypto_delay,
                crypto_jitter: c.crypto_jitter,
                capacity_pps: c.capacity_pps,
                queue_packets: c.queue_packets,
                hairpin: c.hairpin,
            });
        }
        if let Some(nat) = &n.nat {
            let outside = iface_by_name(&nodes[ni], &ifaces, &nat.outside.as_ref()?.value)?;
            let outside_if = &mut ifaces[outside.0 as usize];
            let external = nat.external.as_ref().map_or(outside_if.addr, |e| e.value);
            let mut alias = |a: Ipv4Addr| {
                if a != outside_if.addr && !outside_if.aliases.contains(&a) {
                    outside_if.aliases.push(a);
                }
            };
            alias(external);
            let static_nat: Vec<StaticNat> = nat
                .static_nat
                .iter()
                .map(|s| StaticNat { internal: s.internal.value, external: s.external.value })
                .collect();
            for s in &static_nat {
                alias(s.external);
            }
            roles.nat = Some(NatConfig {
                preset: nat.preset,
                behavior: nat.behavior.clone(),
                outside,
                external,
                static_nat,
                port_forwards: nat.forwards.clone(),
            });
        }
        if let Some(fw) = &n.firewall {
            let mut rules = Vec::with_capacity(fw.rules.len());
            for r in &fw.rules {
                let mut rule = r.rule.clone();
                if let Some(i) = &r.in_iface {
                    rule.in_iface = Some(iface_by_name(&nodes[ni], &ifaces, &i.value)?);
                }
                if let Some(o) = &r.out_iface {
                    rule.out_iface = Some(iface_by_name(&nodes[ni], &ifaces, &o.value)?);
                }
                rules.push(rule);
            }
            roles.firewall = Some(FirewallConfig {
                rules,
                order: fw.order,
                default_in: fw.default_in,
                default_out: fw.default_out,
                stateful: fw.stateful,
                udp_timeout: fw.udp_timeout,
                tcp_timeout: fw.tcp_timeout,
            });
        }
        if n.kind == Some(crate::topology::NodeKind::Edge) {
            let by_role = |role: EdgeRole| -> Option<IfaceId> {
                let i = n.interfaces.iter().find(|i| i.role.as_ref().is_some_and(|r| r.value == role))?;
                iface_by_name(&nodes[ni], &ifaces, &i.name.as_ref()?.value)
            };
            let internal = by_role(EdgeRole::Internal)?;
            let external = by_role(EdgeRole::External)?;
            let e = n.edge.as_ref();
            let advertised = match e.and_then(|e| e.advertised.as_ref()) {
                Some(a) => a.value,
                None => ifaces[external.0 as usize].addr,
            };
            let node_name = &n.id.as_ref()?.value;
            let pool = e.and_then(|e| e.pool.as_ref()).map_or_else(|| node_name.clone(), |p| p.value.clone());
            let secret =
                e.and_then(|e| e.secret.as_ref()).map_or_else(|| EdgeConfig::pool_secret(&pool), |s| s.value.clone());
            let realm =
                e.and_then(|e| e.realm.as_ref()).map_or_else(|| EdgeConfig::REALM.to_string(), |r| r.value.clone());
            let single = |r: Option<&std::ops::RangeInclusive<u16>>, default: u16| r.map_or(default, |r| *r.start());
            roles.edge = Some(EdgeConfig {
                internal,
                external,
                advertised,
                pool,
                secret,
                realm,
                relay_ports: e.and_then(|e| e.relay_ports.clone()).unwrap_or(50000..=59999),
                udp_port: single(e.and_then(|e| e.udp_port.as_ref()), 3478),
                tcp_port: single(e.and_then(|e| e.tcp_port.as_ref()), 443),
            });
        }
        if let Some((views, _, _)) = &n.views {
            let mut out = Vec::with_capacity(views.len());
            for v in views {
                out.push(DnsView {
                    name: v.name.as_ref()?.value.clone(),
                    clients: v.clients.clone(),
                    records: v.records.clone(),
                });
            }
            roles.dns = Some(DnsServer { views: out });
        }
        if let Some(sip) = &n.sip {
            let id = |r: &Option<super::decode::At<String>>| -> Option<Option<NodeId>> {
                match r {
                    None => Some(None),
                    Some(r) => Some(Some(NodeId(u32::try_from(*node_index.get(r.value.as_str())?).ok()?))),
                }
            };
            roles.sip = Some(SipConfig {
                user: sip
                    .user
                    .as_ref()
                    .map_or_else(|| n.id.as_ref().map(|i| i.value.clone()).unwrap_or_default(), |u| u.value.clone()),
                registrar: id(&sip.registrar)?,
                upstream: id(&sip.upstream)?,
                relay: id(&sip.relay)?,
                credentials: id(&sip.credentials)?,
            });
        }
        if let Some(r) = &n.resolver {
            roles.resolver = Some(NodeId(u32::try_from(*node_index.get(r.value.as_str())?).ok()?));
        }
        nodes[ni].roles = NodeRoles::share(roles);
        nodes[ni].routes = routes;
    }
    let zones: BTreeMap<String, Zone> = f
        .zones
        .iter()
        .map(|z| (z.name.value.clone(), Zone { description: z.description.clone(), members: Vec::new() }))
        .collect();
    Some(Topology::new(TopologyParts { name, nodes, links, ifaces, zones }))
}

/// An interface about to be created.
struct IfaceSpec {
    name: String,
    net: Ipv4Net,
    link: LinkId,
    iface_type: IfaceType,
    profile: NetworkProfile,
    is_tunnel: bool,
}

/// Creates an interface with the next id and attaches it to its node and link.
fn add_iface(
    nodes: &mut [Node],
    ifaces: &mut Vec<Interface>,
    links: &mut [Link],
    node: NodeId,
    spec: IfaceSpec,
) -> Option<IfaceId> {
    let id = IfaceId(u32::try_from(ifaces.len()).ok()?);
    nodes.get_mut(node.0 as usize)?.ifaces.push(id);
    links.get_mut(spec.link.0 as usize)?.members.push(id);
    ifaces.push(Interface {
        id,
        node,
        name: spec.name,
        addr: spec.net.addr(),
        net: spec.net,
        link: spec.link,
        aliases: Vec::new(),
        iface_type: spec.iface_type,
        profile: spec.profile,
        is_tunnel: spec.is_tunnel,
    });
    Some(id)
}

/// The node's interface (physical or virtual) of that name.
fn iface_by_name(node: &Node, ifaces: &[Interface], name: &str) -> Option<IfaceId> {
    node.ifaces.iter().copied().find(|i| ifaces[i.0 as usize].name == name)
}

/// The file name without directories or extension: `topologies/home-isp.yaml` -> `home-isp`.
fn default_name(file: &str) -> String {
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    let stem = match base.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => base,
    };
    if stem.is_empty() { "topology".to_string() } else { stem.to_string() }
}

#[cfg(test)]
mod tests;
