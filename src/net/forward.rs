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

/// Decides what `node` does with `packet`, which arrived on `arrived_on` (or was sent by the
/// node itself when `None`). Decrements the TTL of packets it forwards (RFC 791 §3.2).
pub fn forward(topo: &Topology, node: NodeId, arrived_on: Option<IfaceId>, packet: &mut Datagram) -> Verdict {
    let dst = *packet.dst.ip();
    if topo.is_local(node, dst) {
        return Verdict::Deliver;
    }
    let n = topo.node(node);
    if let Some(iface) = arrived_on {
        if !n.forwarding {
            return Verdict::Drop(DropReason::NotForwarding { node, iface, dst });
        }
        if packet.ttl <= 1 {
            return Verdict::Drop(DropReason::TtlExpired { node, iface });
        }
        packet.ttl -= 1;
    }
    let Some((via, target)) = egress(topo, node, dst) else {
        return Verdict::Drop(DropReason::NoRoute { node, dst });
    };
    match neighbour(topo, via, target) {
        Some(to) => Verdict::Forward { via, to },
        None => Verdict::Drop(DropReason::NeighborUnreachable { node, iface: via, next_hop: target }),
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
