//! Routing tables: longest-prefix match over connected and static routes.
//!
//! Lookups run once per hop of every packet, so the table keeps, for each prefix length in
//! use (longest first), a hash map from masked destination to the best route of that
//! prefix. A lookup probes at most one map per distinct length, usually two or three.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use rustc_hash::FxHashMap;
use serde::Serialize;

use super::IfaceId;

/// Where a route came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteOrigin {
    /// Derived from an interface's address and prefix.
    Connected,
    /// Written in the topology (including a host's `gateway`).
    Static,
}

/// One entry of a routing table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Route {
    pub prefix: Ipv4Net,
    /// Gateway to hand the packet to; `None` means the destination is on-link.
    pub next_hop: Option<Ipv4Addr>,
    /// Egress interface; `None` means "the interface whose subnet holds the next hop".
    pub iface: Option<IfaceId>,
    /// Lower wins among routes with the same prefix.
    pub metric: u32,
    pub origin: RouteOrigin,
}

/// A node's routing table.
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
    /// (prefix length, masked network -> index of best route), longest length first.
    index: Vec<(u8, FxHashMap<u32, usize>)>,
}

impl RouteTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route. Among routes with the same prefix the lowest metric wins, and the
    /// earliest added wins a tie (connected routes are added first).
    pub fn insert(&mut self, route: Route) {
        let route = Route { prefix: route.prefix.trunc(), ..route };
        let len = route.prefix.prefix_len();
        // Keep `index` sorted by length, longest first; at most 33 entries.
        let pos = match self.index.iter().position(|(l, _)| *l <= len) {
            Some(p) if self.index[p].0 == len => p,
            Some(p) => {
                self.index.insert(p, (len, FxHashMap::default()));
                p
            }
            None => {
                self.index.push((len, FxHashMap::default()));
                self.index.len() - 1
            }
        };
        let i = self.routes.len();
        self.routes.push(route);
        let best = self.index[pos].1.entry(u32::from(route.prefix.network())).or_insert(i);
        if self.routes[*best].metric > route.metric {
            *best = i;
        }
    }

    /// Every route, in insertion order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The best route for `dst`: longest prefix, then lowest metric, then first added.
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<&Route> {
        let d = u32::from(dst);
        for (len, map) in &self.index {
            if let Some(&i) = map.get(&(d & mask(*len))) {
                return Some(&self.routes[i]);
            }
        }
        None
    }
}

fn mask(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len as u32) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(prefix: &str, metric: u32) -> Route {
        Route { prefix: prefix.parse().unwrap(), next_hop: None, iface: None, metric, origin: RouteOrigin::Static }
    }

    #[test]
    fn longest_prefix_then_metric_wins() {
        let mut t = RouteTable::new();
        t.insert(r("0.0.0.0/0", 0));
        t.insert(r("10.0.0.0/8", 5));
        t.insert(r("10.1.0.0/16", 9));
        t.insert(r("10.1.0.0/16", 3));
        let a = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(t.lookup(a("10.1.2.3")).unwrap().metric, 3);
        assert_eq!(t.lookup(a("10.2.2.3")).unwrap().prefix.prefix_len(), 8);
        assert_eq!(t.lookup(a("8.8.8.8")).unwrap().prefix.prefix_len(), 0);
    }

    #[test]
    fn no_default_means_no_route() {
        let mut t = RouteTable::new();
        t.insert(r("192.168.1.0/24", 0));
        assert!(t.lookup("192.168.2.1".parse().unwrap()).is_none());
    }

    /// The obvious linear scan, as a reference for the indexed table.
    fn brute_force(routes: &[Route], dst: Ipv4Addr) -> Option<Route> {
        let mut best: Option<Route> = None;
        for r in routes {
            if !r.prefix.contains(&dst) {
                continue;
            }
            best = match best {
                None => Some(*r),
                Some(b) if r.prefix.prefix_len() > b.prefix.prefix_len() => Some(*r),
                Some(b) if r.prefix.prefix_len() == b.prefix.prefix_len() && r.metric < b.metric => Some(*r),
                keep => keep,
            };
        }
        best
    }

    proptest! {
        #[test]
        fn lookup_agrees_with_brute_force(
            raw in proptest::collection::vec((any::<u32>(), 0u8..=32, 0u32..4), 0..40),
            probes in proptest::collection::vec(any::<u32>(), 1..40),
        ) {
            let mut t = RouteTable::new();
            let mut routes = Vec::new();
            for (addr, len, metric) in raw {
                // Cluster addresses so prefixes overlap often.
                let addr = Ipv4Addr::from(addr & 0xFF0F_0F0F);
                let route = r(&Ipv4Net::new(addr, len).unwrap().trunc().to_string(), metric);
                routes.push(route);
                t.insert(route);
            }
            for p in probes {
                let dst = Ipv4Addr::from(p & 0xFF0F_0F0F);
                prop_assert_eq!(t.lookup(dst).copied(), brute_force(&routes, dst));
            }
        }
    }
}
