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
    Forward { via: IfaceId, to: IfaceId },
    /// The packet is for this node.
    Deliver,
    Drop(DropReason),
}

/// Decides what `node` does with `packet`, which arrived on `arrived_on` (or was sent by the
/// node itself when `None`). Decrements the TTL of packets it forwards (RFC 791 §3.2).
pub fn forward(topo: &Topology, node: NodeId, arrived_on: Option<IfaceId>, packet: &mut Datagram) -> Verdict {
    let dst = *packet.dst.ip();
    if let Some(owner) = topo.iface_by_addr(dst) {
        if topo.iface(owner).node == node {
            return Verdict::Deliver;
        }
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
    let Some(route) = n.routes.lookup(dst) else {
        return Verdict::Drop(DropReason::NoRoute { node, dst });
    };
    let target = route.next_hop.unwrap_or(dst);
    let via = match route.iface {
        Some(i) => i,
        None => match on_link_iface(topo, node, target) {
            Some(i) => i,
            None => return Verdict::Drop(DropReason::NoRoute { node, dst: target }),
        },
    };
    match neighbour(topo, via, target) {
        Some(to) => Verdict::Forward { via, to },
        None => Verdict::Drop(DropReason::NeighborUnreachable { node, iface: via, next_hop: target }),
    }
}

/// The node's interface whose subnet holds `addr`, the first in file order.
fn on_link_iface(topo: &Topology, node: NodeId, addr: Ipv4Addr) -> Option<IfaceId> {
    topo.node(node).ifaces.iter().copied().find(|&i| topo.iface(i).net.contains(&addr))
}

/// The interface on `via`'s link that owns `addr` (what ARP would find).
fn neighbour(topo: &Topology, via: IfaceId, addr: Ipv4Addr) -> Option<IfaceId> {
    let to = topo.iface_by_addr(addr)?;
    (to != via && topo.iface(to).link == topo.iface(via).link).then_some(to)
}
