//! The IP forwarding plane of hosts and routers: local delivery, TTL, longest-prefix match
//! and next-hop resolution on the egress link.

use std::net::Ipv4Addr;

use crate::topology::{IfaceId, NodeId, Topology};
use crate::wire::Datagram;

use super::DropReason;

/// What a node does with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send out of `via` to the neighbour interface `to` on the same link.
    Forward {
        via: IfaceId,
        to: IfaceId,
    },
    /// The packet is for this node.
    Deliver,
    Drop(DropReason),
}

/// What `node` would do with any packet for one destination, before it looks at the
/// packet's TTL or where it came from: the part of forwarding that depends on the topology
/// alone (`decide` does the rest), so a run can remember it per (node, destination)
/// instead of walking the node's interfaces, routes and the egress link's members for
/// every packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// The destination is one of the node's addresses.
    Local,
    /// Out of `via` to the neighbour interface `to`.
    Out { via: IfaceId, to: IfaceId },
    /// No route matches.
    NoRoute,
    /// The route's next hop (or the destination, on a connected route) is not on `via`'s link.
    Unreachable { via: IfaceId, next_hop: Ipv4Addr },
}

/// `Resolved` for `dst` at `node`.
pub fn resolve(topo: &Topology, node: NodeId, dst: Ipv4Addr) -> Resolved {
    answer(topo, node, dst).at(dst)
}

/// What `node` does with `packet`, which arrived on `arrived_on` (or was sent by the node
/// itself when `None`), given what `resolve` found for its destination: local delivery
/// first, then a node that does not forward drops what is not for it, then the TTL
/// (decremented when the packet goes on, RFC 791 §3.2), then the route.
pub fn decide(
    resolved: Resolved,
    forwarding: bool,
    node: NodeId,
    arrived_on: Option<IfaceId>,
    packet: &mut Datagram,
) -> Verdict {
    if resolved == Resolved::Local {
        return Verdict::Deliver;
    }
    if let Some(iface) = arrived_on {
        if !forwarding {
            return Verdict::Drop(DropReason::NotForwarding { node, iface, dst: *packet.dst.ip() });
        }
        if packet.ttl <= 1 {
            return Verdict::Drop(DropReason::TtlExpired { node, iface });
        }
        packet.ttl -= 1;
    }
    match resolved {
        Resolved::Local => Verdict::Deliver,
        Resolved::Out { via, to } => Verdict::Forward { via, to },
        Resolved::NoRoute => Verdict::Drop(DropReason::NoRoute { node, dst: *packet.dst.ip() }),
        Resolved::Unreachable { via, next_hop } => {
            Verdict::Drop(DropReason::NeighborUnreachable { node, iface: via, next_hop })
        }
    }
}

/// The interface `node` sends toward `dst` from, and the on-link address it hands the packet
/// to (the route's next hop, or `dst` itself for a connected route). `None`: no route.
pub fn egress(topo: &Topology, node: NodeId, dst: Ipv4Addr) -> Option<(IfaceId, Ipv4Addr)> {
    let route = topo.node(node).routes.lookup(dst)?;
    let target = route.next_hop.unwrap_or(dst);
    let via = match route.iface {
        Some(i) => i,
        None => on_link_iface(topo, node, target)?,
    };
    Some((via, target))
}

/// The node's interface whose subnet holds `addr`, the first in file order.
fn on_link_iface(topo: &Topology, node: NodeId, addr: Ipv4Addr) -> Option<IfaceId> {
    topo.node(node).ifaces.iter().copied().find(|&i| topo.iface(i).net.contains(&addr))
}

/// The interface on `via`'s link that owns `addr`, other than `via` itself.
fn neighbour(topo: &Topology, via: IfaceId, addr: Ipv4Addr) -> Option<IfaceId> {
    topo.neighbour_on(topo.iface(via).link, addr).filter(|&to| to != via)
}

/// `resolve`'s rule, with the one answer that names the destination itself kept apart:
/// a connected route whose destination is not on the link is unreachable at `dst`, a
/// different next hop for every address. `Fib` stores this form so that one interval can
/// stand for many addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Same(Resolved),
    /// `Resolved::Unreachable { via, next_hop: dst }`.
    UnreachableAtDst {
        via: IfaceId,
    },
}

impl Answer {
    fn at(self, dst: Ipv4Addr) -> Resolved {
        match self {
            Answer::Same(r) => r,
            Answer::UnreachableAtDst { via } => Resolved::Unreachable { via, next_hop: dst },
        }
    }
}

fn answer(topo: &Topology, node: NodeId, dst: Ipv4Addr) -> Answer {
    if topo.is_local(node, dst) {
        return Answer::Same(Resolved::Local);
    }
    let Some((via, target)) = egress(topo, node, dst) else {
        return Answer::Same(Resolved::NoRoute);
    };
    match neighbour(topo, via, target) {
        Some(to) => Answer::Same(Resolved::Out { via, to }),
        // `egress` took `dst` itself as the target: a connected route.
        None if topo.node(node).routes.lookup(dst).is_some_and(|r| r.next_hop.is_none()) => {
            Answer::UnreachableAtDst { via }
        }
        None => Answer::Same(Resolved::Unreachable { via, next_hop: target }),
    }
}

/// A node's forwarding decisions for the whole IPv4 space, compiled from its topology: the
/// space cut into intervals on which `resolve` gives one answer, found by binary search.
///
/// `resolve` can only change its answer where one of its inputs does: at the ends of a
/// route's prefix (longest-prefix match), of an interface's subnet (which interface holds
/// an on-link next hop), and around each address the node or a neighbour on its links owns
/// (local delivery, which neighbour takes a connected destination). So the table has an
/// interval per such stretch, and its size follows the node's configuration: routes,
/// interfaces and link members, not the destinations traffic happens to use. A busy
/// router's per-destination cache grows with every address it has ever forwarded to and
/// spreads its lookups over all of it; this table stays a few kilobytes that stay in cache.
#[derive(Clone, Debug)]
pub struct Fib {
    /// The first start of each block, ascending: a search reads this (a few lines, shared
    /// by every lookup and so in cache), then one line of its block's starts and one of its
    /// answers, where a binary search over all the starts read a dozen lines, the last
    /// few of them cold.
    firsts: Box<[u32]>,
    blocks: Box<[FibBlock]>,
    intervals: usize,
}

/// Starts of intervals in one block of a `Fib`.
const FIB_BLOCK: usize = 16;

/// `FIB_BLOCK` consecutive intervals: their first addresses (ascending; unused places, in
/// the last block only, hold `u32::MAX` and the last interval's answer) and their answers.
#[derive(Clone, Debug)]
#[repr(align(64))]
struct FibBlock {
    starts: [u32; FIB_BLOCK],
    answers: [Answer; FIB_BLOCK],
}

impl Fib {
    /// The table of `node`.
    pub fn build(topo: &Topology, node: NodeId) -> Fib {
        let n = topo.node(node);
        let mut cuts: Vec<u32> = vec![0];
        let mut range = |first: u32, last: u32| {
            cuts.push(first);
            if let Some(next) = last.checked_add(1) {
                cuts.push(next);
            }
        };
        for r in n.routes.routes() {
            range(u32::from(r.prefix.network()), u32::from(r.prefix.broadcast()));
        }
        for &i in &n.ifaces {
            let iface = topo.iface(i);
            range(u32::from(iface.net.network()), u32::from(iface.net.broadcast()));
            for &member in &topo.link(iface.link).members {
                for a in topo.iface(member).addresses() {
                    range(u32::from(a), u32::from(a));
                }
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut intervals: Vec<(u32, Answer)> = Vec::with_capacity(cuts.len());
        for c in cuts {
            let a = answer(topo, node, Ipv4Addr::from(c));
            if intervals.last().map(|&(_, last)| last) != Some(a) {
                intervals.push((c, a));
            }
        }
        let blocks: Box<[FibBlock]> = intervals
            .chunks(FIB_BLOCK)
            .map(|chunk| {
                // Padding answers as the block's last interval does: only an address of
                // 255.255.255.255 counts the padding, and then it is the last interval's.
                let last = chunk[chunk.len() - 1].1;
                let mut b = FibBlock { starts: [u32::MAX; FIB_BLOCK], answers: [last; FIB_BLOCK] };
                for (j, &(start, a)) in chunk.iter().enumerate() {
                    b.starts[j] = start;
                    b.answers[j] = a;
                }
                b
            })
            .collect();
        Fib { firsts: blocks.iter().map(|b| b.starts[0]).collect(), blocks, intervals: intervals.len() }
    }

    /// What `resolve(topo, node, dst)` gives for the node this table was built for.
    #[inline]
    pub fn lookup(&self, dst: Ipv4Addr) -> Resolved {
        let d = u32::from(dst);
        // The first block starts at 0, so at least one first start is at or below `d`, and
        // so is its block's first start.
        let block = &self.blocks[self.firsts.partition_point(|&s| s <= d) - 1];
        let j = block.starts.iter().filter(|&&s| s <= d).count() - 1;
        block.answers[j].at(dst)
    }

    /// Intervals in the table.
    pub fn len(&self) -> usize {
        self.intervals
    }

    pub fn is_empty(&self) -> bool {
        self.intervals == 0
    }

    /// Bytes on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.firsts.len() * std::mem::size_of::<u32>() + self.blocks.len() * std::mem::size_of::<FibBlock>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::population::{generate, read_population};
    use proptest::prelude::*;

    /// Every bundled topology, and a generated enterprise (sites, homes, VPN, Edges).
    fn topologies() -> Vec<(String, Topology)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/topologies");
        let mut files: Vec<_> = std::fs::read_dir(dir).expect("topologies/").flatten().map(|e| e.path()).collect();
        files.sort();
        let mut out: Vec<(String, Topology)> = files
            .iter()
            .map(|p| {
                let text = std::fs::read_to_string(p).expect("readable");
                let name = p.display().to_string();
                let t = crate::schema::load_topology(&name, &text).expect("bundled topologies load").topology;
                (name, t)
            })
            .collect();
        let spec = read_population(
            "fib.yaml",
            "name: fib\nseed: 3\nsites: {count: 2, users: 130}\nhomes: {users: 200, vpn: {share: 20%, full: 50%}}\n\
             vpn: {concentrators: 2}\nedges: {pools: 2, servers: 2}\ncalls: {arrivals: concurrent, count: 10}\n",
        )
        .expect("the population reads");
        let g = generate(&spec, spec.seed);
        out.push((
            "population".into(),
            crate::schema::load_topology("fib-topology.yaml", &g.yaml).expect("loads").topology,
        ));
        out
    }

    /// Addresses where a table could go wrong: every interval edge it was built from and its
    /// neighbours, both ends of the space, and some of the space between.
    fn probes(topo: &Topology, node: NodeId) -> Vec<u32> {
        let n = topo.node(node);
        let mut edges = vec![0, u32::MAX];
        for r in n.routes.routes() {
            edges.extend([u32::from(r.prefix.network()), u32::from(r.prefix.broadcast())]);
            edges.extend(r.next_hop.map(u32::from));
        }
        for &i in &n.ifaces {
            let iface = topo.iface(i);
            edges.extend([u32::from(iface.net.network()), u32::from(iface.net.broadcast())]);
            for &m in &topo.link(iface.link).members {
                edges.extend(topo.iface(m).addresses().map(u32::from));
            }
        }
        let mut out: Vec<u32> = edges.iter().flat_map(|&e| [e.wrapping_sub(1), e, e.wrapping_add(1)]).collect();
        out.extend((0..64u32).map(|k| k.wrapping_mul(0x0400_0001)));
        out
    }

    #[test]
    fn the_table_answers_as_resolve_does_at_every_edge() {
        let mut checked = 0;
        for (name, topo) in topologies() {
            for n in &topo.nodes {
                let fib = Fib::build(&topo, n.id);
                assert!(!fib.is_empty() && fib.heap_bytes() > 0);
                for d in probes(&topo, n.id) {
                    let dst = Ipv4Addr::from(d);
                    assert_eq!(fib.lookup(dst), resolve(&topo, n.id, dst), "{name}: node {} for {dst}", n.name);
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000, "only {checked} lookups checked");
    }

    #[test]
    fn a_router_on_a_busy_segment_needs_more_than_one_block() {
        // An ISP router of the generated enterprise: one interval per home router on each of
        // its access segments, so the two-level search crosses blocks.
        let (_, topo) = topologies().pop().expect("the population");
        let isp = topo.nodes.iter().find(|n| n.name.starts_with("isp")).expect("an ISP router");
        let fib = Fib::build(&topo, isp.id);
        assert!(fib.len() > 3 * FIB_BLOCK, "{} intervals", fib.len());
        for d in probes(&topo, isp.id) {
            assert_eq!(fib.lookup(Ipv4Addr::from(d)), resolve(&topo, isp.id, Ipv4Addr::from(d)));
        }
    }

    proptest! {
        #[test]
        fn any_address_gets_resolves_answer(node in 0usize..64, d in any::<u32>()) {
            thread_local! {
                static TOPO: Topology = topologies().pop().expect("the population").1;
            }
            TOPO.with(|topo| {
                let id = topo.nodes[node % topo.nodes.len()].id;
                let dst = Ipv4Addr::from(d);
                prop_assert_eq!(Fib::build(topo, id).lookup(dst), resolve(topo, id, dst));
                Ok(())
            })?;
        }
    }
}
