//! Why a packet did not arrive: the device, the interface and the cause.

use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;

use super::nat::NatRefusal;
use crate::topology::{Direction, IfaceId, LinkId, NodeId, Topology};

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
    /// A NAT refused an inbound packet (no mapping, filtering, expiry) or ran out of ports.
    NatRefused { node: NodeId, iface: IfaceId, refusal: NatRefusal },
    /// An inside host addressed the NAT's external address and the NAT does not hairpin.
    NatNoHairpin { node: NodeId, iface: IfaceId },
    /// A firewall denied the packet: by a rule (index into the node's rules) or by its
    /// default policy (`rule: None`). `direction` is set for host firewalls.
    Firewall { node: NodeId, iface: IfaceId, rule: Option<u32>, direction: Option<Direction> },
    /// A concentrator had no tunnel to the client behind `peer` (it never heard from it).
    TunnelNotEstablished { node: NodeId, peer: IfaceId },
    /// A tunnel's outer packet would itself be routed into a tunnel.
    TunnelLoop { node: NodeId, iface: IfaceId },
    /// A tunnel packet that does not unwrap (bad length or inner bytes).
    TunnelMalformed { node: NodeId, iface: IfaceId },
    /// The concentrator's crypto queue was full.
    ConcentratorBusy { node: NodeId },
    /// Client-to-client traffic would turn around in a concentrator that forbids it.
    VpnHairpinBlocked { node: NodeId },
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
    NatRefused,
    NatNoHairpin,
    Firewall,
    TunnelNotEstablished,
    TunnelLoop,
    TunnelMalformed,
    ConcentratorBusy,
    VpnHairpinBlocked,
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
            DropKind::NatRefused => "nat",
            DropKind::NatNoHairpin => "nat-no-hairpin",
            DropKind::Firewall => "firewall",
            DropKind::TunnelNotEstablished => "tunnel-not-established",
            DropKind::TunnelLoop => "tunnel-loop",
            DropKind::TunnelMalformed => "tunnel-malformed",
            DropKind::ConcentratorBusy => "concentrator-busy",
            DropKind::VpnHairpinBlocked => "vpn-hairpin-blocked",
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
            DropReason::NatRefused { .. } => DropKind::NatRefused,
            DropReason::NatNoHairpin { .. } => DropKind::NatNoHairpin,
            DropReason::Firewall { .. } => DropKind::Firewall,
            DropReason::TunnelNotEstablished { .. } => DropKind::TunnelNotEstablished,
            DropReason::TunnelLoop { .. } => DropKind::TunnelLoop,
            DropReason::TunnelMalformed { .. } => DropKind::TunnelMalformed,
            DropReason::ConcentratorBusy { .. } => DropKind::ConcentratorBusy,
            DropReason::VpnHairpinBlocked { .. } => DropKind::VpnHairpinBlocked,
        }
    }

    /// The node where the packet died (for link drops, the transmitting node).
    pub fn node(&self, topo: &Topology) -> NodeId {
        match *self {
            DropReason::NoRoute { node, .. }
            | DropReason::TtlExpired { node, .. }
            | DropReason::NotForwarding { node, .. }
            | DropReason::NeighborUnreachable { node, .. }
            | DropReason::MtuExceeded { node, .. }
            | DropReason::NatRefused { node, .. }
            | DropReason::NatNoHairpin { node, .. }
            | DropReason::Firewall { node, .. }
            | DropReason::TunnelNotEstablished { node, .. }
            | DropReason::TunnelLoop { node, .. }
            | DropReason::TunnelMalformed { node, .. }
            | DropReason::ConcentratorBusy { node }
            | DropReason::VpnHairpinBlocked { node } => node,
            DropReason::QueueFull { iface, .. } | DropReason::LinkLoss { iface, .. } => topo.iface(iface).node,
        }
    }

    /// The interface involved, if any.
    pub fn iface(&self) -> Option<IfaceId> {
        match *self {
            DropReason::NoRoute { .. }
            | DropReason::TunnelNotEstablished { .. }
            | DropReason::ConcentratorBusy { .. }
            | DropReason::VpnHairpinBlocked { .. } => None,
            DropReason::TtlExpired { iface, .. }
            | DropReason::NotForwarding { iface, .. }
            | DropReason::NeighborUnreachable { iface, .. }
            | DropReason::MtuExceeded { iface, .. }
            | DropReason::QueueFull { iface, .. }
            | DropReason::LinkLoss { iface, .. }
            | DropReason::NatRefused { iface, .. }
            | DropReason::NatNoHairpin { iface, .. }
            | DropReason::Firewall { iface, .. }
            | DropReason::TunnelLoop { iface, .. }
            | DropReason::TunnelMalformed { iface, .. } => Some(iface),
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
            DropReason::NatRefused { node, iface, refusal } => {
                write!(f, "{}: NAT refused the packet on {}: {refusal}", name(node), t.iface_label(iface))
            }
            DropReason::NatNoHairpin { node, iface } => write!(
                f,
                "{}: packet from inside ({}) to the NAT's own external address, and this NAT does not hairpin",
                name(node),
                t.iface_label(iface)
            ),
            DropReason::Firewall { node, iface, rule, direction } => {
                let n = t.node(node);
                let dir = match direction {
                    Some(Direction::In) => " inbound",
                    Some(Direction::Out) => " outbound",
                    None => "",
                };
                write!(f, "{}: firewall denied{dir} on {} ", n.name, t.iface_label(iface))?;
                let fw = n.roles.firewall.as_ref();
                match rule.and_then(|i| fw.and_then(|c| c.rules.get(i as usize)).map(|r| (i, r))) {
                    Some((i, r)) => {
                        write!(f, "by rule #{}", i + 1)?;
                        match &r.name {
                            Some(name) => write!(f, " \"{name}\""),
                            None => Ok(()),
                        }
                    }
                    None => f.write_str("by its default policy (no rule matched)"),
                }
            }
            DropReason::TunnelNotEstablished { node, peer } => write!(
                f,
                "{}: no tunnel to {} (the client never reached the concentrator)",
                name(node),
                name(t.iface(peer).node)
            ),
            DropReason::TunnelLoop { node, iface } => write!(
                f,
                "{}: the tunnel's outer packet would be routed into a tunnel again ({})",
                name(node),
                t.iface_label(iface)
            ),
            DropReason::TunnelMalformed { node, iface } => {
                write!(f, "{}: tunnel packet on {} does not unwrap", name(node), t.iface_label(iface))
            }
            DropReason::ConcentratorBusy { node } => {
                write!(f, "{}: crypto queue full (concentrator overloaded)", name(node))
            }
            DropReason::VpnHairpinBlocked { node } => {
                write!(f, "{}: client-to-client traffic may not hairpin through this concentrator", name(node))
            }
        }
    }
}
