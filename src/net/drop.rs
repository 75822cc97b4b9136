//! Why a packet did not arrive: the device, the interface and the cause.

use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::topology::{IfaceId, LinkId, NodeId, Topology};

/// The reason a packet was dropped, with the ids of everything involved. `describe` turns it
/// into a sentence naming them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The node's routing table has no route for the destination.
    NoRoute { node: NodeId, dst: Ipv4Addr },
    /// The TTL reached zero at this node (RFC 791 §3.2): usually a routing loop.
    TtlExpired { node: NodeId, iface: IfaceId },
    /// A packet for someone else reached a node that does not forward (a host).
    NotForwarding { node: NodeId, iface: IfaceId, dst: Ipv4Addr },
    /// The route's next hop is not an address on the egress link (ARP would fail).
    NeighborUnreachable { node: NodeId, iface: IfaceId, next_hop: Ipv4Addr },
    /// The datagram is larger than the egress link's MTU. With DF set this is what a real
    /// router does; without DF a real router would fragment, which we do not model.
    MtuExceeded { node: NodeId, iface: IfaceId, size: u32, mtu: u32, dont_fragment: bool },
    /// The transmit queue of the egress interface was full (tail drop).
    QueueFull { link: LinkId, iface: IfaceId },
    /// Lost in transit by the link's random loss.
    LinkLoss { link: LinkId, iface: IfaceId },
}

/// The cause alone, for counters and machine-readable output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropKind {
    NoRoute,
    TtlExpired,
    NotForwarding,
    NeighborUnreachable,
    MtuExceeded,
    QueueFull,
    LinkLoss,
}

impl DropKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DropKind::NoRoute => "no-route",
            DropKind::TtlExpired => "ttl-expired",
            DropKind::NotForwarding => "not-forwarding",
            DropKind::NeighborUnreachable => "neighbor-unreachable",
            DropKind::MtuExceeded => "mtu-exceeded",
            DropKind::QueueFull => "queue-full",
            DropKind::LinkLoss => "link-loss",
        }
    }
}

impl DropReason {
    pub fn kind(&self) -> DropKind {
        match self {
            DropReason::NoRoute { .. } => DropKind::NoRoute,
            DropReason::TtlExpired { .. } => DropKind::TtlExpired,
            DropReason::NotForwarding { .. } => DropKind::NotForwarding,
            DropReason::NeighborUnreachable { .. } => DropKind::NeighborUnreachable,
            DropReason::MtuExceeded { .. } => DropKind::MtuExceeded,
            DropReason::QueueFull { .. } => DropKind::QueueFull,
            DropReason::LinkLoss { .. } => DropKind::LinkLoss,
        }
    }

    /// The node where the packet died (for link drops, the transmitting node).
    pub fn node(&self, topo: &Topology) -> NodeId {
        match *self {
            DropReason::NoRoute { node, .. }
            | DropReason::TtlExpired { node, .. }
            | DropReason::NotForwarding { node, .. }
            | DropReason::NeighborUnreachable { node, .. }
            | DropReason::MtuExceeded { node, .. } => node,
            DropReason::QueueFull { iface, .. } | DropReason::LinkLoss { iface, .. } => topo.iface(iface).node,
        }
    }

    /// The interface involved, if any.
    pub fn iface(&self) -> Option<IfaceId> {
        match *self {
            DropReason::NoRoute { .. } => None,
            DropReason::TtlExpired { iface, .. }
            | DropReason::NotForwarding { iface, .. }
            | DropReason::NeighborUnreachable { iface, .. }
            | DropReason::MtuExceeded { iface, .. }
            | DropReason::QueueFull { iface, .. }
            | DropReason::LinkLoss { iface, .. } => Some(iface),
        }
    }

    /// A sentence naming the device, interface and cause.
    pub fn describe<'a>(&'a self, topo: &'a Topology) -> Described<'a> {
        Described { reason: self, topo }
    }
}

/// `DropReason` bound to its topology for display.
pub struct Described<'a> {
    reason: &'a DropReason,
    topo: &'a Topology,
}

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.topo;
        let name = |n: NodeId| t.node(n).name.as_str();
        match *self.reason {
            DropReason::NoRoute { node, dst } => {
                write!(f, "{}: no route to {dst} (no matching prefix and no default route)", name(node))
            }
            DropReason::TtlExpired { node, iface } => {
                write!(f, "{}: TTL expired on arrival at {} (routing loop?)", name(node), t.iface_label(iface))
            }
            DropReason::NotForwarding { node, iface, dst } => write!(
                f,
                "{}: packet for {dst} arrived on {} but this {} does not forward",
                name(node),
                t.iface_label(iface),
                t.node(node).kind.as_str()
            ),
            DropReason::NeighborUnreachable { node, iface, next_hop } => write!(
                f,
                "{}: next hop {next_hop} is not on link {} of {} (no neighbour answers)",
                name(node),
                t.link(t.iface(iface).link).name,
                t.iface_label(iface)
            ),
            DropReason::MtuExceeded { node, iface, size, mtu, dont_fragment } => {
                write!(f, "{}: {size}-byte datagram exceeds MTU {mtu} of {}", name(node), t.iface_label(iface))?;
                if dont_fragment {
                    f.write_str(" with DF set")
                } else {
                    f.write_str(" (fragmentation is not modelled)")
                }
            }
            DropReason::QueueFull { link, iface } => write!(
                f,
                "{}: transmit queue full on link {} (tail drop at {})",
                name(t.iface(iface).node),
                t.link(link).name,
                t.iface_label(iface)
            ),
            DropReason::LinkLoss { link, iface } => write!(
                f,
                "{}: lost on link {} (random loss {}%) after leaving {}",
                name(t.iface(iface).node),
                t.link(link).name,
                t.link(link).props.loss * 100.0,
                t.iface_label(iface)
            ),
        }
    }
}
