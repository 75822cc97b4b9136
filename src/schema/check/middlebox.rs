//! Cross-document checks of the middlebox parts: VPN clients against their concentrator's
//! pool, tunnel ends against their routers, references to concentrators and DNS servers,
//! interface names used by NAT and firewall rules, and the extra addresses (pool gateways,
//! NAT externals, VPN and tunnel addresses) in the file-wide duplicate check.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::check_address;
use crate::schema::decode::{At, Decoder, Path, closest, unknown_hint};
use crate::schema::read::{EdgeRole, FileNode, FileTopology, FileTunnelEnd};
use crate::schema::tree::Pos;
use crate::schema::{DupKind, Problem, RefKind};
use crate::topology::NodeKind;

/// The name of the virtual interface a concentrator gets at its pool's first address.
pub(crate) const POOL_IFACE: &str = "pool0";

/// Kinds that can end a site-to-site tunnel.
const TUNNEL_KINDS: [NodeKind; 3] = [NodeKind::Router, NodeKind::Nat, NodeKind::Firewall];

/// A virtual interface a node will have: its name and on-link subnet.
#[derive(Clone, Debug)]
pub(super) struct Virtual {
    pub name: String,
    pub net: Ipv4Net,
}

/// A subnet that is not a file link's (a client pool, a tunnel), for the overlap warning.
pub(super) struct ExtraNet {
    pub name: String,
    pub net: Ipv4Net,
    pub pos: Pos,
    pub path: Path,
}

/// What the middlebox checks hand back to the rest of `check`.
pub(super) struct Middleboxes {
    /// Per node, in file order: the virtual interfaces it will have.
    pub virtuals: Vec<Vec<Virtual>>,
    pub extra_nets: Vec<ExtraNet>,
}

/// The pool's gateway: its first host address, with the pool's prefix.
pub(crate) fn pool_gateway(pool: Ipv4Net) -> Option<Ipv4Net> {
    let first = pool.hosts().next()?;
    Ipv4Net::new(first, pool.prefix_len()).ok()
}

pub(super) fn check_middleboxes(
    dc: &mut Decoder<'_>,
    f: &FileTopology,
    node_index: &HashMap<&str, usize>,
    addresses: &mut HashMap<Ipv4Addr, (String, u32)>,
) -> Middleboxes {
    let mut virtuals: Vec<Vec<Virtual>> = f.nodes.iter().map(|_| Vec::new()).collect();
    let mut extra_nets = Vec::new();
    let node_names: Vec<&str> = f.nodes.iter().filter_map(|n| n.id.as_ref()).map(|i| i.value.as_str()).collect();
    let mut link_names: HashMap<String, u32> =
        f.links.iter().filter_map(|l| l.id.as_ref()).map(|i| (i.value.clone(), i.pos.line)).collect();

    // Concentrators first: their pools are what VPN clients are checked against.
    for (ni, node) in f.nodes.iter().enumerate() {
        let Some(c) = &node.concentrator else { continue };
        let name = node_name(node);
        if let Some(outside) = &c.outside {
            physical_iface(dc, node, outside);
        }
        let Some(pool) = &c.pool else { continue };
        let link = format!("{name}-pool");
        match link_names.get(&link) {
            Some(line) => {
                let problem = Problem::Duplicate { kind: DupKind::LinkId, name: link.clone() };
                let hint = format!("the client pool becomes link \"{link}\"; the other is at line {line}");
                dc.report(pool.pos, &pool.path, problem, Some(hint));
            }
            None => {
                link_names.insert(link.clone(), pool.pos.line);
            }
        }
        if let Some(clash) = iface_named(node, POOL_IFACE) {
            let problem = Problem::Duplicate { kind: DupKind::InterfaceName, name: POOL_IFACE.to_string() };
            let hint = format!(
                "the concentrator's pool interface is named {POOL_IFACE}; rename the one at line {}",
                clash.line
            );
            dc.report(pool.pos, &pool.path, problem, Some(hint));
        }
        if let Some(gw) = pool_gateway(pool.value) {
            let at = At { value: Ipv4Net::from(gw.addr()), pos: pool.pos, path: pool.path.clone() };
            check_address(dc, &at, &format!("{name}/{POOL_IFACE}"), addresses);
            virtuals[ni].push(Virtual { name: POOL_IFACE.to_string(), net: gw });
        }
        extra_nets.push(ExtraNet { name: link, net: pool.value, pos: pool.pos, path: pool.path.clone() });
    }

    for (ni, node) in f.nodes.iter().enumerate() {
        let name = node_name(node);
        if let Some(vpn) = &node.vpn {
            if node.gateway.is_none() {
                let hint = "a VPN client reaches its concentrator's public address through its default gateway";
                dc.report(node.pos, &node.path, Problem::MissingField { field: "gateway" }, Some(hint.to_string()));
            }
            if let Some(clash) = iface_named(node, &vpn.interface.value) {
                let problem = Problem::Duplicate { kind: DupKind::InterfaceName, name: vpn.interface.value.clone() };
                let hint = format!(
                    "the VPN creates a virtual interface named \"{}\"; line {} has one already (set `interface:` in `vpn`)",
                    vpn.interface.value, clash.line
                );
                dc.report(vpn.interface.pos, &vpn.interface.path, problem, Some(hint));
            }
            let conc = vpn.concentrator.as_ref().and_then(|c| {
                let i =
                    find_node(dc, f, node_index, &node_names, c, &[NodeKind::VpnConcentrator], "a vpn-concentrator")?;
                Some((i, c))
            });
            let pool = conc.and_then(|(i, _)| f.nodes[i].concentrator.as_ref()).and_then(|c| c.pool.as_ref());
            if let Some(addr) = &vpn.address {
                check_address(dc, addr, &format!("{name}/{}", vpn.interface.value), addresses);
                if let (Some(pool), Some((_, cname))) = (pool, conc) {
                    if addr.value.trunc() == pool.value {
                        // The pool gateway clash is the duplicate-address check's (it was
                        // registered with the concentrator).
                    } else if pool.value.contains(&addr.value.addr()) {
                        let problem = Problem::SubnetMismatch {
                            net: addr.value.trunc(),
                            other_net: pool.value,
                            other: format!("the pool of concentrator \"{}\"", cname.value),
                        };
                        let hint =
                            format!("use the pool's prefix length: {}/{}", addr.value.addr(), pool.value.prefix_len());
                        dc.report(addr.pos, &addr.path, problem, Some(hint));
                    } else {
                        let problem = Problem::OutsidePool {
                            addr: addr.value,
                            pool: pool.value,
                            concentrator: cname.value.clone(),
                        };
                        dc.report(addr.pos, &addr.path, problem, Some(pool_hint(pool.value)));
                    }
                }
                virtuals[ni].push(Virtual { name: vpn.interface.value.clone(), net: addr.value });
            }
        }
        if let Some(r) = &node.resolver {
            find_node(dc, f, node_index, &node_names, r, &[NodeKind::Dns], "a dns server");
        }
        if let Some(sip) = &node.sip {
            for r in [&sip.registrar, &sip.upstream].into_iter().flatten() {
                find_node(dc, f, node_index, &node_names, r, &NodeKind::ALL, "a node");
            }
            for r in [&sip.relay, &sip.credentials].into_iter().flatten() {
                find_node(dc, f, node_index, &node_names, r, &[NodeKind::Edge], "an edge");
            }
            if let (Some(c), None) = (&sip.credentials, &sip.relay) {
                let problem = Problem::InvalidValue {
                    expected: "`credentials` beside `relay`".into(),
                    found: "no `relay`".into(),
                };
                let hint = "credentials are for a relay: add `relay: <edge>` (or remove `credentials`)";
                dc.report(c.pos, &c.path, problem, Some(hint.into()));
            }
        }
    }

    check_tunnels(dc, f, node_index, &node_names, &mut link_names, addresses, &mut virtuals, &mut extra_nets);

    // Names within a node, now that every virtual interface is known.
    for (ni, node) in f.nodes.iter().enumerate() {
        let name = node_name(node);
        if let Some(nat) = &node.nat {
            let outside = nat.outside.as_ref().and_then(|o| physical_iface(dc, node, o));
            let outside_addr = outside.and_then(|i| i.address.as_ref()).map(|a| a.value.addr());
            if let Some(ext) = &nat.external
                && Some(ext.value) != outside_addr
            {
                let at = At { value: Ipv4Net::from(ext.value), pos: ext.pos, path: ext.path.clone() };
                check_address(dc, &at, &format!("{name} (NAT external address)"), addresses);
            }
            for s in &nat.static_nat {
                let at =
                    At { value: Ipv4Net::from(s.external.value), pos: s.external.pos, path: s.external.path.clone() };
                check_address(dc, &at, &format!("{name} (static NAT for {})", s.internal.value), addresses);
            }
        }
        if let Some(fw) = &node.firewall {
            for rule in &fw.rules {
                for iface in [&rule.in_iface, &rule.out_iface].into_iter().flatten() {
                    any_iface(dc, node, &virtuals[ni], iface);
                }
            }
        }
        if let Some((views, _, _)) = &node.views {
            let mut seen: HashMap<&str, u32> = HashMap::new();
            for v in views {
                let Some(vn) = &v.name else { continue };
                match seen.get(vn.value.as_str()) {
                    Some(line) => {
                        let problem = Problem::Duplicate { kind: DupKind::ViewName, name: vn.value.clone() };
                        dc.report(vn.pos, &vn.path, problem, Some(format!("first defined at line {line}")));
                    }
                    None => {
                        seen.insert(&vn.value, vn.pos.line);
                    }
                }
            }
        }
        if node.kind == Some(NodeKind::Edge) {
            check_edge_gateway(dc, node, name);
        }
    }
    Middleboxes { virtuals, extra_nets }
}

#[allow(clippy::too_many_arguments)]
fn check_tunnels(
    dc: &mut Decoder<'_>,
    f: &FileTopology,
    node_index: &HashMap<&str, usize>,
    node_names: &[&str],
    link_names: &mut HashMap<String, u32>,
    addresses: &mut HashMap<Ipv4Addr, (String, u32)>,
    virtuals: &mut [Vec<Virtual>],
    extra_nets: &mut Vec<ExtraNet>,
) {
    for t in &f.tunnels {
        if let Some(id) = &t.id {
            match link_names.get(&id.value) {
                Some(line) => {
                    let problem = Problem::Duplicate { kind: DupKind::LinkId, name: id.value.clone() };
                    let hint =
                        format!("a tunnel becomes a link, and ids are shared with links; first defined at line {line}");
                    dc.report(id.pos, &id.path, problem, Some(hint));
                }
                None => {
                    link_names.insert(id.value.clone(), id.pos.line);
                }
            }
        }
        let mut ends: Vec<(usize, &FileTunnelEnd)> = Vec::new();
        for end in [&t.a, &t.b].into_iter().flatten() {
            let Some(node_ref) = &end.node else { continue };
            let Some(ni) =
                find_node(dc, f, node_index, node_names, node_ref, &TUNNEL_KINDS, "a router, nat or firewall")
            else {
                continue;
            };
            let node = &f.nodes[ni];
            if let Some(u) = &end.underlay {
                physical_iface(dc, node, u);
            }
            if let (Some(name), Some(addr)) = (&end.interface, &end.address) {
                let label = format!("{}/{}", node_name(node), name.value);
                let clash = match iface_named(node, &name.value) {
                    Some(pos) => Some(format!("line {}", pos.line)),
                    None => virtuals[ni].iter().any(|v| v.name == name.value).then(|| "another tunnel".to_string()),
                };
                if let Some(place) = clash {
                    let problem = Problem::Duplicate { kind: DupKind::InterfaceName, name: name.value.clone() };
                    let hint = format!("node \"{}\" has an interface of that name already ({place})", node_name(node));
                    dc.report(name.pos, &name.path, problem, Some(hint));
                }
                check_address(dc, addr, &label, addresses);
                virtuals[ni].push(Virtual { name: name.value.clone(), net: addr.value });
            }
            ends.push((ni, end));
        }
        if let [(na, a), (nb, b)] = ends[..] {
            if na == nb
                && let Some(n) = &b.node
            {
                let problem = Problem::InvalidValue {
                    expected: "the node at the other end of the tunnel".to_string(),
                    found: format!("\"{}\" again", n.value),
                };
                dc.report(n.pos, &n.path, problem, Some("a tunnel joins two different routers".to_string()));
            }
            if let (Some(aa), Some(ba)) = (&a.address, &b.address) {
                if aa.value.trunc() != ba.value.trunc() {
                    let problem = Problem::SubnetMismatch {
                        net: ba.value.trunc(),
                        other_net: aa.value.trunc(),
                        other: "the tunnel's other end".to_string(),
                    };
                    let hint = format!("both ends of a tunnel share one subnet; end a is at line {}", aa.pos.line);
                    dc.report(ba.pos, &ba.path, problem, Some(hint));
                } else if let Some(id) = &t.id {
                    extra_nets.push(ExtraNet {
                        name: id.value.clone(),
                        net: aa.value.trunc(),
                        pos: aa.pos,
                        path: aa.path.clone(),
                    });
                }
            }
        }
    }
}

/// Warns when an Edge's default gateway is on its internal side (seed 001: the gateway
/// belongs on the DMZ interface; the perimeter side gets persistent routes).
fn check_edge_gateway(dc: &mut Decoder<'_>, node: &FileNode, name: &str) {
    let Some(gw) = &node.gateway else { return };
    let net_of = |role: EdgeRole| {
        node.interfaces
            .iter()
            .find(|i| i.role.as_ref().is_some_and(|r| r.value == role))
            .and_then(|i| i.address.as_ref())
            .map(|a| a.value.trunc())
    };
    let (Some(internal), external) = (net_of(EdgeRole::Internal), net_of(EdgeRole::External)) else { return };
    if internal.contains(&gw.value) && !external.is_some_and(|e| e.contains(&gw.value)) {
        let problem = Problem::EdgeGatewayInternal { node: name.to_string(), gateway: gw.value, net: internal };
        let hint = "the documented design puts the default gateway on the external interface only; \
                    internal subnets need persistent routes";
        dc.report(gw.pos, &gw.path, problem, Some(hint.to_string()));
    }
}

fn node_name(node: &FileNode) -> &str {
    node.id.as_ref().map_or("?", |i| i.value.as_str())
}

/// Where an interface of that name is declared on the node.
fn iface_named<'f>(node: &'f FileNode, name: &str) -> Option<&'f Pos> {
    node.interfaces.iter().filter_map(|i| i.name.as_ref()).find(|n| n.value == name).map(|n| &n.pos)
}

/// Resolves a name among the node's physical interfaces, reporting an unknown one.
fn physical_iface<'f>(
    dc: &mut Decoder<'_>,
    node: &'f FileNode,
    name: &At<String>,
) -> Option<&'f crate::schema::read::FileIface> {
    let found = node.interfaces.iter().find(|i| i.name.as_ref().is_some_and(|n| n.value == name.value));
    if found.is_none() {
        let names: Vec<&str> =
            node.interfaces.iter().filter_map(|i| i.name.as_ref()).map(|n| n.value.as_str()).collect();
        let problem = Problem::UnknownReference { kind: RefKind::Interface, name: name.value.clone() };
        let hint = unknown_hint(&name.value, &format!("interfaces of \"{}\"", node_name(node)), &names);
        dc.report(name.pos, &name.path, problem, Some(hint));
    }
    found
}

/// Resolves a name among the node's physical and virtual interfaces.
fn any_iface(dc: &mut Decoder<'_>, node: &FileNode, virtuals: &[Virtual], name: &At<String>) {
    if virtuals.iter().any(|v| v.name == name.value) {
        return;
    }
    let mut names: Vec<&str> =
        node.interfaces.iter().filter_map(|i| i.name.as_ref()).map(|n| n.value.as_str()).collect();
    if names.contains(&name.value.as_str()) {
        return;
    }
    names.extend(virtuals.iter().map(|v| v.name.as_str()));
    let problem = Problem::UnknownReference { kind: RefKind::Interface, name: name.value.clone() };
    let hint = unknown_hint(&name.value, &format!("interfaces of \"{}\"", node_name(node)), &names);
    dc.report(name.pos, &name.path, problem, Some(hint));
}

/// Resolves a node reference that must be of one of `kinds`.
fn find_node(
    dc: &mut Decoder<'_>,
    f: &FileTopology,
    node_index: &HashMap<&str, usize>,
    node_names: &[&str],
    name: &At<String>,
    kinds: &[NodeKind],
    expected: &'static str,
) -> Option<usize> {
    let Some(&i) = node_index.get(name.value.as_str()) else {
        let fitting: Vec<&str> = f
            .nodes
            .iter()
            .filter(|n| n.kind.is_some_and(|k| kinds.contains(&k)))
            .filter_map(|n| n.id.as_ref())
            .map(|i| i.value.as_str())
            .collect();
        let hint = match closest(&name.value, node_names.iter().copied()) {
            Some(c) => format!("did you mean \"{c}\"?"),
            None => unknown_hint(&name.value, &format!("{} nodes", expected.trim_start_matches("a ")), &fitting),
        };
        let problem = Problem::UnknownReference { kind: RefKind::Node, name: name.value.clone() };
        dc.report(name.pos, &name.path, problem, Some(hint));
        return None;
    };
    let kind = f.nodes[i].kind?;
    if !kinds.contains(&kind) {
        let problem = Problem::WrongNodeKind { name: name.value.clone(), kind, expected };
        let fitting: Vec<String> = f
            .nodes
            .iter()
            .filter(|n| n.kind.is_some_and(|k| kinds.contains(&k)))
            .filter_map(|n| n.id.as_ref())
            .map(|i| format!("\"{}\"", i.value))
            .collect();
        let hint = if fitting.is_empty() {
            format!("no node is {expected}")
        } else {
            format!("candidates: {}", fitting.join(", "))
        };
        dc.report(name.pos, &name.path, problem, Some(hint));
        return None;
    }
    Some(i)
}

fn pool_hint(pool: Ipv4Net) -> String {
    let mut hosts = pool.hosts();
    match (hosts.nth(1), hosts.last()) {
        (Some(a), Some(b)) => format!(
            "clients take addresses {a} to {b} ({} is the concentrator's)",
            pool_gateway(pool).map_or(String::new(), |g| g.addr().to_string())
        ),
        _ => format!("the pool {pool} has no room for clients"),
    }
}

#[cfg(test)]
mod tests;
