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
    if topo.is_local(node, dst) {
        return Resolved::Local;
    }
    let Some((via, target)) = egress(topo, node, dst) else {
        return Resolved::NoRoute;
    };
    match neighbour(topo, via, target) {
        Some(to) => Resolved::Out { via, to },
        None => Resolved::Unreachable { via, next_hop: target },
    }
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
