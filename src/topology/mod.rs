//! The validated, in-memory model of a network.
//!
//! A `Topology` is what the simulator runs on: nodes with their interfaces and routing
//! tables, links with their physical properties, and the zones that group nodes for reports
//! and audits. It is built by `schema` from a checked YAML file, or by code (benches, tests),
//! and it knows nothing about YAML or spans: every value here is already valid.
//!
//! The node/link graph is a petgraph `UnGraph` whose node weights are `NodeId`s and whose
//! edge weights are `LinkId`s (a shared segment with n members contributes a clique).

pub mod generate;
mod middlebox;
mod route;

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;

use ipnet::Ipv4Net;
use petgraph::graph::{NodeIndex, UnGraph};
use petgraph::unionfind::UnionFind;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::time::SimDuration;

pub use middlebox::{
    Action, Concentrator, Direction, DnsServer, DnsView, EdgeConfig, Encapsulation, FilteringBehavior, FirewallConfig,
    FirewallRule, IfaceType, MappingBehavior, NatBehavior, NatConfig, NatPreset, NetworkProfile, NodeRoles,
    PortAllocation, PortForward, RuleOrder, SipConfig, SiteTunnelEnd, StaticNat, TunnelMode, VpnClient,
};
pub use route::{Route, RouteOrigin, RouteTable};

/// Index of a node in `Topology::nodes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct NodeId(pub u32);

/// Index of a link in `Topology::links`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct LinkId(pub u32);

/// Index of an interface in `Topology::ifaces` (global across nodes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct IfaceId(pub u32);

/// What a node is. The kind sets defaults (whether it forwards) and which roles the file
/// may give it; the behaviour comes from its `NodeRoles`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    /// An end system: sends and receives, forwards only if `forwarding` is set.
    Host,
    /// Forwards packets between its interfaces by longest-prefix match.
    Router,
    /// A router whose outside interface translates addresses.
    Nat,
    /// A router that filters.
    Firewall,
    /// Terminates remote-access VPN tunnels.
    VpnConcentrator,
    /// A dual-NIC Edge server: internal and external interface, does not forward.
    Edge,
    /// A DNS server with views.
    Dns,
}

impl NodeKind {
    pub const ALL: [NodeKind; 7] = [
        NodeKind::Host,
        NodeKind::Router,
        NodeKind::Nat,
        NodeKind::Firewall,
        NodeKind::VpnConcentrator,
        NodeKind::Edge,
        NodeKind::Dns,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Host => "host",
            NodeKind::Router => "router",
            NodeKind::Nat => "nat",
            NodeKind::Firewall => "firewall",
            NodeKind::VpnConcentrator => "vpn-concentrator",
            NodeKind::Edge => "edge",
            NodeKind::Dns => "dns",
        }
    }

    /// Whether nodes of this kind route packets between interfaces unless told otherwise.
    pub fn forwards_by_default(self) -> bool {
        matches!(self, NodeKind::Router | NodeKind::Nat | NodeKind::Firewall | NodeKind::VpnConcentrator)
    }
}

/// A network element.
#[derive(Clone, Debug)]
pub struct Node {
    pub id: NodeId,
    /// The identifier written in the topology file.
    pub name: String,
    pub kind: NodeKind,
    pub zone: Option<String>,
    pub ifaces: Vec<IfaceId>,
    /// Whether packets not addressed to this node are routed on (routers) or dropped (hosts).
    pub forwarding: bool,
    /// Connected routes plus the static routes of the file.
    pub routes: RouteTable,
    /// NAT, firewall, VPN, Edge and DNS roles. Shared: every node without roles points at
    /// one empty set (`NodeRoles::none`), so a plain host does not carry 500 bytes of
    /// `None`s.
    pub roles: Arc<NodeRoles>,
}

/// A network interface: one address on one link.
#[derive(Clone, Debug)]
pub struct Interface {
    pub id: IfaceId,
    pub node: NodeId,
    pub name: String,
    pub addr: Ipv4Addr,
    /// The on-link subnet (address with its prefix length).
    pub net: Ipv4Net,
    pub link: LinkId,
    /// Further addresses the interface answers for on its link (a NAT's public pool and
    /// static-NAT addresses, proxy-ARP style).
    pub aliases: Vec<Ipv4Addr>,
    /// Windows Firewall's interface type (a VPN client's virtual interface is remote-access).
    pub iface_type: IfaceType,
    /// The network profile of the connection.
    pub profile: NetworkProfile,
    /// Whether the interface is virtual: a tunnel end whose "link" is reached by
    /// encapsulating into the underlay.
    pub is_tunnel: bool,
}

impl Interface {
    /// Whether `addr` is this interface's address or one of its aliases.
    pub fn owns(&self, addr: Ipv4Addr) -> bool {
        self.addr == addr || self.aliases.contains(&addr)
    }

    /// Its address, then its aliases.
    pub fn addresses(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        std::iter::once(self.addr).chain(self.aliases.iter().copied())
    }
}

/// How a link's extra delay is distributed. Every distribution is parameterised by its
/// mean, so `jitter: 5ms` means "5 ms of extra delay on average" whatever the shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JitterDistribution {
    /// Uniform on [0, 2 * mean).
    Uniform,
    /// Normal with the given mean and a standard deviation of half the mean, cut at zero.
    Normal,
    /// Pareto with shape 2.5 (a heavy tail: rare long delays), scaled to the given mean.
    Pareto,
}

/// Random extra delay added to each packet crossing a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Jitter {
    pub mean: SimDuration,
    pub distribution: JitterDistribution,
}

/// How much a link's transmit queue holds before it drops arrivals (tail drop).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueueLimit {
    Bytes(u64),
    Packets(u32),
}

/// Whether a link joins exactly two interfaces or is a shared L2 segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkKind {
    PointToPoint,
    Segment,
    /// A virtual link between tunnel ends: a remote-access VPN's client pool or a
    /// site-to-site tunnel. Crossing it means encapsulation over the underlay.
    Tunnel,
}

/// The physical behaviour of a link, applied per direction of each transmitting interface.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LinkProps {
    /// One-way propagation delay.
    pub latency: SimDuration,
    pub jitter: Option<Jitter>,
    /// Probability in [0, 1] that a packet is lost in transit.
    pub loss: f64,
    /// Bit rate; `None` means infinitely fast (no serialization delay, no queueing).
    pub bandwidth: Option<u64>,
    pub queue: QueueLimit,
    /// Largest IP datagram, in bytes, the link carries.
    pub mtu: u32,
    /// Whether jitter may reorder packets. When false (the default), a packet never arrives
    /// before the one sent ahead of it in the same direction, as on a real FIFO path.
    pub reorder: bool,
}

impl Default for LinkProps {
    fn default() -> Self {
        LinkProps {
            latency: SimDuration::ZERO,
            jitter: None,
            loss: 0.0,
            bandwidth: None,
            queue: QueueLimit::Packets(1000),
            mtu: 1500,
            reorder: false,
        }
    }
}

/// A point-to-point link or shared segment.
#[derive(Clone, Debug)]
pub struct Link {
    pub id: LinkId,
    pub name: String,
    pub kind: LinkKind,
    pub props: LinkProps,
    /// Interfaces attached, in file order.
    pub members: Vec<IfaceId>,
}

/// A zone: a named group of nodes (internet, dmz, lan, home) for reports and audits.
#[derive(Clone, Debug, Default)]
pub struct Zone {
    pub description: Option<String>,
    pub members: Vec<NodeId>,
}

/// A validated network.
#[derive(Clone, Debug)]
pub struct Topology {
    pub name: String,
    pub nodes: Vec<Node>,
    pub links: Vec<Link>,
    pub ifaces: Vec<Interface>,
    pub zones: BTreeMap<String, Zone>,
    /// Which nodes a link joins, for connectivity questions (`islands`): one edge per
    /// point-to-point link; a segment's members joined in a chain, in member order. A chain
    /// connects exactly what a full mesh would with n - 1 edges instead of n(n - 1)/2 (a LAN
    /// of 1,000 hosts would otherwise cost half a million edges, 12 KB per host).
    pub graph: UnGraph<NodeId, LinkId>,
    node_by_name: FxHashMap<String, NodeId>,
    iface_by_addr: FxHashMap<Ipv4Addr, IfaceId>,
    /// Addresses owned on links with more than `SCAN_LIMIT` members and by nodes with more
    /// than `SCAN_LIMIT` interfaces, so the per-hop questions "who on this link has that
    /// address" and "is that address mine" stay O(1) on a big LAN or an ISP router with a
    /// line per home. Keyed by link or node as well as address: private addresses repeat
    /// across homes, so a global map cannot answer them.
    on_big_link: FxHashMap<(LinkId, Ipv4Addr), IfaceId>,
    on_big_node: FxHashMap<(NodeId, Ipv4Addr), IfaceId>,
}

/// Links and nodes up to this many interfaces are scanned; bigger ones are indexed.
const SCAN_LIMIT: usize = 8;

/// The parts from which a `Topology` is assembled; ids must be the indices of their vectors.
#[derive(Clone, Debug, Default)]
pub struct TopologyParts {
    pub name: String,
    pub nodes: Vec<Node>,
    pub links: Vec<Link>,
    pub ifaces: Vec<Interface>,
    pub zones: BTreeMap<String, Zone>,
}

impl Topology {
    /// Assembles a topology: checks that ids match positions, adds each interface's
    /// connected route to its node, fills zone membership, and builds the graph.
    ///
    /// Panics if the parts violate the id invariant; `schema` and the builders in tests
    /// always produce consistent parts, and user input never reaches here unchecked.
    pub fn new(parts: TopologyParts) -> Topology {
        let TopologyParts { name, mut nodes, links, ifaces, mut zones } = parts;
        for (i, n) in nodes.iter().enumerate() {
            assert_eq!(n.id.0 as usize, i, "invariant: node ids are their positions");
        }
        for (i, l) in links.iter().enumerate() {
            assert_eq!(l.id.0 as usize, i, "invariant: link ids are their positions");
        }
        for (i, f) in ifaces.iter().enumerate() {
            assert_eq!(f.id.0 as usize, i, "invariant: interface ids are their positions");
        }
        for f in &ifaces {
            nodes[f.node.0 as usize].routes.insert(Route {
                prefix: f.net.trunc(),
                next_hop: None,
                iface: Some(f.id),
                metric: 0,
                origin: RouteOrigin::Connected,
            });
        }
        for z in zones.values_mut() {
            z.members.clear();
        }
        for n in &nodes {
            if let Some(z) = &n.zone {
                zones.entry(z.clone()).or_default().members.push(n.id);
            }
        }
        let mut graph = UnGraph::with_capacity(nodes.len(), links.len());
        for n in &nodes {
            graph.add_node(n.id);
        }
        for l in &links {
            for pair in l.members.windows(2) {
                let na = ifaces[pair[0].0 as usize].node.0 as usize;
                let nb = ifaces[pair[1].0 as usize].node.0 as usize;
                graph.add_edge(NodeIndex::new(na), NodeIndex::new(nb), l.id);
            }
        }
        let node_by_name = nodes.iter().map(|n| (n.name.clone(), n.id)).collect();
        let iface_by_addr = ifaces.iter().flat_map(|f| f.addresses().map(move |a| (a, f.id))).collect();
        let mut on_big_link = FxHashMap::default();
        let mut on_big_node = FxHashMap::default();
        for f in &ifaces {
            let big_link = links[f.link.0 as usize].members.len() > SCAN_LIMIT;
            let big_node = nodes[f.node.0 as usize].ifaces.len() > SCAN_LIMIT;
            if big_link || big_node {
                for a in f.addresses() {
                    if big_link {
                        on_big_link.entry((f.link, a)).or_insert(f.id);
                    }
                    if big_node {
                        on_big_node.entry((f.node, a)).or_insert(f.id);
                    }
                }
            }
        }
        Topology { name, nodes, links, ifaces, zones, graph, node_by_name, iface_by_addr, on_big_link, on_big_node }
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0 as usize]
    }
    pub fn link(&self, id: LinkId) -> &Link {
        &self.links[id.0 as usize]
    }
    pub fn iface(&self, id: IfaceId) -> &Interface {
        &self.ifaces[id.0 as usize]
    }
    /// Where the internet reaches an Edge's external NIC (what its public DNS names): the
    /// external address of a 1:1 NAT that publishes the NIC, else the NIC's own address.
    /// External clients sign in and allocate relays there. It is deliberately not the
    /// Edge's `advertised` address, which is only what the Edge hands out in its relayed
    /// candidates: a wrong one there (seed 004: "make sure it's correct") breaks the peers'
    /// checks, not the client's way to the Edge. `None` for a node that is not an Edge.
    pub fn edge_public_address(&self, edge: NodeId) -> Option<Ipv4Addr> {
        self.edge_public_addresses().get(&edge).copied()
    }
    /// `edge_public_address` of every Edge, in one pass over the nodes (a run with
    /// thousands of clients looks it up once).
    pub fn edge_public_addresses(&self) -> FxHashMap<NodeId, Ipv4Addr> {
        // The first 1:1 NAT in file order that publishes a NIC wins.
        let published: FxHashMap<Ipv4Addr, Ipv4Addr> = self
            .nodes
            .iter()
            .filter_map(|n| n.roles.nat.as_ref())
            .flat_map(|nat| &nat.static_nat)
            .rev()
            .map(|s| (s.internal, s.external))
            .collect();
        self.nodes
            .iter()
            .filter_map(|n| {
                let nic = self.iface(n.roles.edge.as_ref()?.external).addr;
                Some((n.id, published.get(&nic).copied().unwrap_or(nic)))
            })
            .collect()
    }
    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.node_by_name.get(name).copied()
    }
    /// The interface that owns `addr`, if any node has it.
    pub fn iface_by_addr(&self, addr: Ipv4Addr) -> Option<IfaceId> {
        self.iface_by_addr.get(&addr).copied()
    }
    /// Whether `addr` belongs to one of `node`'s interfaces.
    pub fn is_local(&self, node: NodeId, addr: Ipv4Addr) -> bool {
        let ifaces = &self.node(node).ifaces;
        if ifaces.len() <= SCAN_LIMIT {
            ifaces.iter().any(|&i| self.iface(i).owns(addr))
        } else {
            self.on_big_node.contains_key(&(node, addr))
        }
    }
    /// The interface on `link` that owns `addr` (what ARP would find).
    pub fn neighbour_on(&self, link: LinkId, addr: Ipv4Addr) -> Option<IfaceId> {
        // A scan beats hashing on the small links that carry most hops; big segments hash.
        let members = &self.link(link).members;
        if members.len() <= SCAN_LIMIT {
            members.iter().copied().find(|&i| self.iface(i).owns(addr))
        } else {
            self.on_big_link.get(&(link, addr)).copied()
        }
    }
    /// `node/iface`, the way traces name an interface.
    pub fn iface_label(&self, id: IfaceId) -> IfaceLabel<'_> {
        IfaceLabel { topo: self, id }
    }
    /// Groups of nodes joined by links, each sorted, the largest (then first) group first. A
    /// connected network has one island; more mean some nodes can never reach others.
    pub fn islands(&self) -> Vec<Vec<NodeId>> {
        let mut sets = UnionFind::<usize>::new(self.nodes.len());
        for e in self.graph.edge_indices() {
            let (a, b) = self.graph.edge_endpoints(e).expect("invariant: edge indices are valid");
            sets.union(a.index(), b.index());
        }
        let mut groups: BTreeMap<usize, Vec<NodeId>> = BTreeMap::new();
        for n in &self.nodes {
            groups.entry(sets.find(n.id.0 as usize)).or_default().push(n.id);
        }
        let mut out: Vec<Vec<NodeId>> = groups.into_values().collect();
        out.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
        out
    }

    /// Distinct subnets in use, sorted, with the links that carry them.
    pub fn subnets(&self) -> BTreeMap<Ipv4Net, Vec<LinkId>> {
        let mut out: BTreeMap<Ipv4Net, Vec<LinkId>> = BTreeMap::new();
        for f in &self.ifaces {
            let v = out.entry(f.net.trunc()).or_default();
            if !v.contains(&f.link) {
                v.push(f.link);
            }
        }
        out
    }
}

/// Displays an interface as `node/iface`.
pub struct IfaceLabel<'a> {
    topo: &'a Topology,
    id: IfaceId,
}

impl fmt::Display for IfaceLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.topo.iface(self.id);
        write!(f, "{}/{}", self.topo.node(i.node).name, i.name)
    }
}
