//! Topologies built by code: a chain of routers and a grid of routers, for benchmarks, scale
//! runs and property tests. They go through `Topology::new` like any file would.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::{
    IfaceId, IfaceType, Interface, Link, LinkId, LinkKind, LinkProps, NetworkProfile, Node, NodeId, NodeKind,
    NodeRoles, Route, RouteOrigin, RouteTable, Topology, TopologyParts,
};

/// Incremental construction of `TopologyParts` with ids assigned in order.
#[derive(Default)]
struct Builder {
    parts: TopologyParts,
}

impl Builder {
    fn node(&mut self, name: String, kind: NodeKind) -> NodeId {
        let id = NodeId(self.parts.nodes.len() as u32);
        self.parts.nodes.push(Node {
            id,
            name,
            kind,
            zone: None,
            ifaces: Vec::new(),
            forwarding: kind.forwards_by_default(),
            routes: RouteTable::new(),
            roles: NodeRoles::none(),
        });
        id
    }

    fn link(&mut self, name: String, kind: LinkKind, props: LinkProps) -> LinkId {
        let id = LinkId(self.parts.links.len() as u32);
        self.parts.links.push(Link { id, name, kind, props, members: Vec::new() });
        id
    }

    fn iface(&mut self, node: NodeId, name: &str, addr: Ipv4Addr, prefix: u8, link: LinkId) -> IfaceId {
        let id = IfaceId(self.parts.ifaces.len() as u32);
        let net = Ipv4Net::new(addr, prefix).expect("invariant: generated prefixes are <= 32");
        self.parts.ifaces.push(Interface {
            id,
            node,
            name: name.to_string(),
            addr,
            net,
            link,
            aliases: Vec::new(),
            iface_type: IfaceType::Lan,
            profile: NetworkProfile::Domain,
            is_tunnel: false,
        });
        self.parts.nodes[node.0 as usize].ifaces.push(id);
        self.parts.links[link.0 as usize].members.push(id);
        id
    }

    fn route(&mut self, node: NodeId, prefix: Ipv4Net, next_hop: Ipv4Addr) {
        self.parts.nodes[node.0 as usize].routes.insert(Route {
            prefix,
            next_hop: Some(next_hop),
            iface: None,
            metric: 1,
            origin: RouteOrigin::Static,
        });
    }

    fn finish(self, name: &str) -> Topology {
        Topology::new(TopologyParts { name: name.to_string(), zones: BTreeMap::new(), ..self.parts })
    }
}

fn addr(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

/// Host `a` — `routers` routers — host `b`, every link with `props`: `routers + 1` links.
/// Link k uses 10.0.k.0/24 (left end .1, right end .2); hosts are `a` (10.0.0.1) and `b`.
pub fn chain(routers: u8, props: LinkProps) -> Topology {
    let mut g = Builder::default();
    let n = routers as usize;
    let a = g.node("a".into(), NodeKind::Host);
    let rs: Vec<NodeId> = (1..=n).map(|i| g.node(format!("r{i}"), NodeKind::Router)).collect();
    let b = g.node("b".into(), NodeKind::Host);
    let all: Vec<NodeId> = std::iter::once(a).chain(rs.iter().copied()).chain(std::iter::once(b)).collect();
    for k in 0..=n {
        let l = g.link(format!("l{k}"), LinkKind::PointToPoint, props);
        g.iface(all[k], "right", addr(10, 0, k as u8, 1), 24, l);
        g.iface(all[k + 1], "left", addr(10, 0, k as u8, 2), 24, l);
    }
    let default: Ipv4Net = "0.0.0.0/0".parse().expect("literal");
    g.route(a, default, addr(10, 0, 0, 2));
    g.route(b, default, addr(10, 0, n as u8, 1));
    for (i, &r) in rs.iter().enumerate() {
        let k = i + 1; // r sits between link k-1 (left) and link k (right)
        g.route(r, default, addr(10, 0, k as u8, 2));
        if k >= 2 {
            g.route(r, Ipv4Net::new(addr(10, 0, 0, 0), 24).expect("literal"), addr(10, 0, (k - 1) as u8, 1));
        }
    }
    g.finish(&format!("chain-{routers}"))
}

/// A `side` × `side` grid of routers (side ≤ 64) with XY routing, each with a LAN
/// 10.x.y.0/24 holding one host `h-x-y` at .10. Transit links are /30s from 172.16.0.0/12.
pub fn grid(side: u8, props: LinkProps) -> Topology {
    assert!((1..=64).contains(&side), "invariant: grid side in 1..=64");
    let s = side as usize;
    let mut g = Builder::default();
    let router = |x: usize, y: usize| NodeId((y * s + x) as u32);
    for y in 0..s {
        for x in 0..s {
            g.node(format!("r-{x}-{y}"), NodeKind::Router);
        }
    }
    let mut next_transit: u32 = u32::from(addr(172, 16, 0, 0));
    // east[y][x] = (address of r(x,y) toward east, address of r(x+1,y) toward west)
    let mut east = vec![vec![None; s]; s];
    let mut north = vec![vec![None; s]; s];
    for y in 0..s {
        for x in 0..s {
            for (dx, dy, table) in [(1, 0, &mut east), (0, 1, &mut north)] {
                let (nx, ny) = (x + dx, y + dy);
                if nx >= s || ny >= s {
                    continue;
                }
                let l = g.link(format!("t-{x}-{y}-{nx}-{ny}"), LinkKind::PointToPoint, props);
                let lo = Ipv4Addr::from(next_transit + 1);
                let hi = Ipv4Addr::from(next_transit + 2);
                next_transit += 4;
                g.iface(router(x, y), &format!("to-{nx}-{ny}"), lo, 30, l);
                g.iface(router(nx, ny), &format!("to-{x}-{y}"), hi, 30, l);
                table[y][x] = Some((lo, hi));
            }
        }
    }
    for y in 0..s {
        for x in 0..s {
            let lan = g.link(format!("lan-{x}-{y}"), LinkKind::Segment, props);
            g.iface(router(x, y), "lan", addr(10, x as u8, y as u8, 1), 24, lan);
            let h = g.node(format!("h-{x}-{y}"), NodeKind::Host);
            g.iface(h, "eth0", addr(10, x as u8, y as u8, 10), 24, lan);
            g.route(h, "0.0.0.0/0".parse().expect("literal"), addr(10, x as u8, y as u8, 1));
        }
    }
    for y in 0..s {
        for x in 0..s {
            let r = router(x, y);
            for x2 in 0..s {
                let hop = match x2.cmp(&x) {
                    std::cmp::Ordering::Less => east[y][x - 1].map(|(lo, _)| lo),
                    std::cmp::Ordering::Greater => east[y][x].map(|(_, hi)| hi),
                    std::cmp::Ordering::Equal => continue,
                };
                let net = Ipv4Net::new(addr(10, x2 as u8, 0, 0), 16).expect("literal");
                g.route(r, net, hop.expect("invariant: neighbours exist inside the grid"));
            }
            for y2 in 0..s {
                let hop = match y2.cmp(&y) {
                    std::cmp::Ordering::Less => north[y - 1][x].map(|(lo, _)| lo),
                    std::cmp::Ordering::Greater => north[y][x].map(|(_, hi)| hi),
                    std::cmp::Ordering::Equal => continue,
                };
                let net = Ipv4Net::new(addr(10, x as u8, y2 as u8, 0), 24).expect("literal");
                g.route(r, net, hop.expect("invariant: neighbours exist inside the grid"));
            }
        }
    }
    g.finish(&format!("grid-{side}x{side}"))
}

/// The host of grid cell (x, y).
pub fn grid_host(topo: &Topology, x: u8, y: u8) -> NodeId {
    topo.node_by_name(&format!("h-{x}-{y}")).expect("invariant: grid host exists")
}

/// An enterprise campus of `hosts` hosts for memory and scale figures: a core router and
/// one access router per LAN of up to 1,000 hosts (LAN k is the k-th /22 of 10.0.0.0/8),
/// each access router on its own /30 to the core. Host `h{i}` has one NIC on its LAN, at
/// `campus_addr(i)`, and a default route.
pub fn campus(hosts: u32, props: LinkProps) -> Topology {
    const PER_LAN: u32 = 1000;
    let lans = hosts.div_ceil(PER_LAN).max(1);
    assert!(lans <= 64 * 256, "invariant: at most 16,384 LANs");
    let mut g = Builder::default();
    let core = g.node("core".into(), NodeKind::Router);
    let default: Ipv4Net = "0.0.0.0/0".parse().expect("literal");
    for k in 0..lans {
        let access = g.node(format!("access-{k}"), NodeKind::Router);
        let uplink = g.link(format!("up-{k}"), LinkKind::PointToPoint, props);
        let transit = u32::from(addr(172, 16, 0, 0)) + 4 * k;
        g.iface(core, &format!("to-{k}"), Ipv4Addr::from(transit + 1), 30, uplink);
        g.iface(access, "up", Ipv4Addr::from(transit + 2), 30, uplink);
        g.route(access, default, Ipv4Addr::from(transit + 1));
        let base = u32::from(addr(10, 0, 0, 0)) + (k << 10);
        g.route(core, Ipv4Net::new(Ipv4Addr::from(base), 22).expect("literal"), Ipv4Addr::from(transit + 2));
        let lan = g.link(format!("lan-{k}"), LinkKind::Segment, props);
        g.iface(access, "lan", Ipv4Addr::from(base + 1), 22, lan);
        for i in k * PER_LAN..((k + 1) * PER_LAN).min(hosts) {
            let h = g.node(format!("h{i}"), NodeKind::Host);
            g.iface(h, "eth0", Ipv4Addr::from(base + 10 + i % PER_LAN), 22, lan);
            g.route(h, default, Ipv4Addr::from(base + 1));
        }
    }
    g.finish(&format!("campus-{hosts}"))
}

/// The address of campus host `i`.
pub fn campus_addr(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(addr(10, 0, 0, 0)) + ((i / 1000) << 10) + 10 + i % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::TraceLevel;
    use crate::wire::Datagram;
    use crate::{Engine, Limits, SimRng, SimTime};
    use std::net::SocketAddrV4;

    #[test]
    fn campus_hosts_reach_each_other_across_lans() {
        let t = campus(2500, LinkProps::default());
        assert_eq!(t.nodes.len(), 1 + 3 + 2500);
        let from = t.node_by_name("h5").unwrap();
        let mut e = Engine::new(&t, SimRng::new(1), Limits::default(), TraceLevel::Counters);
        let src = SocketAddrV4::new(campus_addr(5), 5000);
        for to in [6, 1999, 2499] {
            e.send_at(SimTime::ZERO, from, Datagram::udp(src, SocketAddrV4::new(campus_addr(to), 5000), vec![0; 20]));
        }
        e.run();
        assert_eq!(e.trace().counters().delivered, 3);
    }
}
