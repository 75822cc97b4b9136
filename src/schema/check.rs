//! Checks across the document, then the `Topology` built from a clean file.
//!
//! `read` has checked each value on its own; here values are compared with each other:
//! unique ids and addresses, references to links, zones and interfaces, addresses against
//! their link's subnet, gateways and next hops against the node's subnets, member counts
//! and overlapping subnets. Only a file without errors is built.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::decode::{At, Decoder, Path, unknown_hint};
use super::read::{FileIface, FileLink, FileNode, FileTopology};
use super::tree::Pos;
use super::{DupKind, Problem, RefKind};
use crate::topology::{
    IfaceId, Interface, Link, LinkId, LinkKind, Node, NodeId, NodeKind, Route, RouteOrigin, RouteTable, Topology,
    TopologyParts, Zone,
};

/// Checks the file as a whole and, when no error was found, builds the topology.
pub(crate) fn check_and_build(dc: &mut Decoder<'_>, file: &str, f: FileTopology) -> Option<Topology> {
    let link_index = unique_ids(dc, f.links.iter().map(|l| l.id.as_ref()), DupKind::LinkId);
    unique_ids(dc, f.nodes.iter().map(|n| n.id.as_ref()), DupKind::NodeId);
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
        check_routes(dc, node, node_name);
    }

    let mut link_nets: Vec<Option<(Ipv4Net, Pos, Path)>> = Vec::new();
    for (i, (link, members)) in f.links.iter().zip(&members).enumerate() {
        // A repeated link id has no members of its own: its interfaces joined the first.
        let first = link.id.as_ref().is_some_and(|id| link_index.get(id.value.as_str()) == Some(&i));
        link_nets.push(check_link(dc, link, members, members_known && first));
    }
    check_overlaps(dc, &f.links, &link_nets);

    if dc.has_errors() {
        return None;
    }
    let topology = build(file, &f, &link_index);
    if topology.is_none() {
        // Unreachable when every check above is complete; say so rather than fail silently.
        let problem = Problem::InvalidValue {
            expected: "a complete topology".to_string(),
            found: "an incomplete one (this is a bug in icepath's checks)".to_string(),
        };
        dc.report(Pos { line: 1, column: 1, offset: 0, len: 0 }, &Path::root(), problem, None);
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

/// Warns when subnets of different links overlap without being identical: legal (real
/// networks do it) but a frequent copy-and-paste slip.
fn check_overlaps(dc: &mut Decoder<'_>, links: &[FileLink], nets: &[Option<(Ipv4Net, Pos, Path)>]) {
    for (j, b) in nets.iter().enumerate() {
        let Some((b_net, b_pos, b_path)) = b else { continue };
        for (i, a) in nets[..j].iter().enumerate() {
            let Some((a_net, _, _)) = a else { continue };
            let overlap = a_net.contains(&b_net.network()) || b_net.contains(&a_net.network());
            if overlap && a_net != b_net {
                let name = |k: usize| links[k].id.as_ref().map_or("?".to_string(), |i| i.value.clone());
                let problem =
                    Problem::OverlappingSubnets { net: *b_net, link: name(j), other_net: *a_net, other_link: name(i) };
                let hint =
                    Some("the longest prefix wins, so the smaller subnet shadows part of the larger".to_string());
                dc.report(*b_pos, b_path, problem, hint);
                break;
            }
        }
    }
}

/// The gateway and each static route must leave through a subnet the node is on.
fn check_routes(dc: &mut Decoder<'_>, node: &FileNode, node_name: &str) {
    let nets: Vec<Ipv4Net> = node.interfaces.iter().filter_map(|i| i.address.as_ref()).map(|a| a.value).collect();
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
    let iface_names: Vec<&str> =
        node.interfaces.iter().filter_map(|i| i.name.as_ref()).map(|n| n.value.as_str()).collect();
    for route in &node.routes {
        let mut iface_net: Option<Option<Ipv4Net>> = None;
        if let Some(name) = &route.interface {
            match node.interfaces.iter().find(|i| i.name.as_ref().is_some_and(|n| n.value == name.value)) {
                Some(i) => iface_net = Some(i.address.as_ref().map(|a| a.value)),
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
fn build(file: &str, f: &FileTopology, link_index: &HashMap<&str, usize>) -> Option<Topology> {
    let name = match &f.name {
        Some(n) => n.value.clone(),
        None => default_name(file),
    };
    let mut links: Vec<Link> = Vec::with_capacity(f.links.len());
    for (i, l) in f.links.iter().enumerate() {
        let id = LinkId(u32::try_from(i).ok()?);
        links.push(Link { id, name: l.id.as_ref()?.value.clone(), kind: l.kind, props: l.props, members: Vec::new() });
    }
    let mut nodes: Vec<Node> = Vec::with_capacity(f.nodes.len());
    let mut ifaces: Vec<Interface> = Vec::new();
    for (ni, n) in f.nodes.iter().enumerate() {
        let node_id = NodeId(u32::try_from(ni).ok()?);
        let kind = n.kind?;
        let mut own: Vec<IfaceId> = Vec::with_capacity(n.interfaces.len());
        for i in &n.interfaces {
            let id = IfaceId(u32::try_from(ifaces.len()).ok()?);
            let net = i.address.as_ref()?.value;
            let link = *link_index.get(i.link.as_ref()?.value.as_str())?;
            links.get_mut(link)?.members.push(id);
            own.push(id);
            ifaces.push(Interface {
                id,
                node: node_id,
                name: i.name.as_ref()?.value.clone(),
                addr: net.addr(),
                net,
                link: LinkId(link as u32),
            });
        }
        let mut routes = RouteTable::new();
        if let Some(gw) = &n.gateway {
            routes.insert(Route {
                prefix: Ipv4Net::default(),
                next_hop: Some(gw.value),
                iface: None,
                metric: 1,
                origin: RouteOrigin::Static,
            });
        }
        for r in &n.routes {
            let iface = match &r.interface {
                Some(name) => Some(*own.iter().find(|id| ifaces[id.0 as usize].name == name.value)?),
                None => None,
            };
            routes.insert(Route {
                prefix: r.to.as_ref()?.value,
                next_hop: r.via.as_ref().map(|v| v.value),
                iface,
                metric: r.metric,
                origin: RouteOrigin::Static,
            });
        }
        nodes.push(Node {
            id: node_id,
            name: n.id.as_ref()?.value.clone(),
            kind,
            zone: n.zone.as_ref().map(|z| z.value.clone()),
            ifaces: own,
            forwarding: n.forwarding.unwrap_or(kind == NodeKind::Router),
            routes,
        });
    }
    let zones: BTreeMap<String, Zone> = f
        .zones
        .iter()
        .map(|z| (z.name.value.clone(), Zone { description: z.description.clone(), members: Vec::new() }))
        .collect();
    Some(Topology::new(TopologyParts { name, nodes, links, ifaces, zones }))
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
