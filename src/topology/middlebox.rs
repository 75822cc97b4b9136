//! Configuration of the devices between endpoints: NATs, firewalls, VPNs, Edge servers and
//! DNS views. These are plain validated values; the behaviour lives in `net`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::RangeInclusive;

use ipnet::Ipv4Net;
use serde::Serialize;

use super::{IfaceId, Jitter, NodeId};
use crate::time::SimDuration;
use crate::wire::Protocol;

/// RFC 4787 §4.1: what makes two outbound flows share one external mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MappingBehavior {
    /// One mapping per internal endpoint, whatever the destination.
    EndpointIndependent,
    /// One mapping per internal endpoint and destination address.
    AddressDependent,
    /// One mapping per internal endpoint and destination address and port.
    AddressAndPortDependent,
}

/// RFC 4787 §5: which inbound packets an existing mapping admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FilteringBehavior {
    /// Anyone may send to the mapping.
    EndpointIndependent,
    /// Only addresses the internal endpoint has sent to.
    AddressDependent,
    /// Only address and port pairs the internal endpoint has sent to.
    AddressAndPortDependent,
}

/// RFC 4787 §4.2.1: how external ports are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortAllocation {
    /// Keep the internal port when it is free, else the next free one.
    Preserve,
    /// The next free port after the last one handed out.
    Sequential,
    /// A random free port (from the NAT's seeded stream).
    Random,
}

/// Named NAT behaviours architects use, each a fixed RFC 4787 decomposition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NatPreset {
    FullCone,
    RestrictedCone,
    PortRestrictedCone,
    Symmetric,
    Cgnat,
}

impl NatPreset {
    pub const ALL: [NatPreset; 5] = [
        NatPreset::FullCone,
        NatPreset::RestrictedCone,
        NatPreset::PortRestrictedCone,
        NatPreset::Symmetric,
        NatPreset::Cgnat,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NatPreset::FullCone => "full-cone",
            NatPreset::RestrictedCone => "restricted-cone",
            NatPreset::PortRestrictedCone => "port-restricted-cone",
            NatPreset::Symmetric => "symmetric",
            NatPreset::Cgnat => "cgnat",
        }
    }

    /// The preset's behaviour (RFC 4787 §3 maps the RFC 3489 "cone" names onto mapping and
    /// filtering behaviours; RFC 6888 describes carrier-grade NATs).
    pub fn behavior(self) -> NatBehavior {
        use FilteringBehavior as F;
        use MappingBehavior as M;
        let base = NatBehavior::default();
        match self {
            NatPreset::FullCone => {
                NatBehavior { mapping: M::EndpointIndependent, filtering: F::EndpointIndependent, ..base }
            }
            NatPreset::RestrictedCone => {
                NatBehavior { mapping: M::EndpointIndependent, filtering: F::AddressDependent, ..base }
            }
            NatPreset::PortRestrictedCone => {
                NatBehavior { mapping: M::EndpointIndependent, filtering: F::AddressAndPortDependent, ..base }
            }
            NatPreset::Symmetric => NatBehavior {
                mapping: M::AddressAndPortDependent,
                filtering: F::AddressAndPortDependent,
                port_allocation: PortAllocation::Sequential,
                ..base
            },
            // RFC 6888 REQ-1 asks carrier NATs for endpoint-independent mapping; real ones
            // filter strictly and randomise ports (RFC 6056), and must hairpin (REQ-9 of 4787).
            NatPreset::Cgnat => NatBehavior {
                mapping: M::EndpointIndependent,
                filtering: F::AddressAndPortDependent,
                port_allocation: PortAllocation::Random,
                hairpinning: true,
                ..base
            },
        }
    }
}

/// A NAT's complete behaviour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NatBehavior {
    pub mapping: MappingBehavior,
    pub filtering: FilteringBehavior,
    pub port_allocation: PortAllocation,
    /// External ports handed out for dynamic mappings.
    pub port_range: RangeInclusive<u16>,
    /// Idle time after which a UDP mapping expires (RFC 4787 REQ-5: at least 2 minutes).
    pub udp_timeout: SimDuration,
    /// Idle time of an established TCP mapping (RFC 5382 REQ-5: at least 2 h 4 min).
    pub tcp_established_timeout: SimDuration,
    /// Idle time of a TCP mapping being opened or closed (RFC 5382: 4 minutes).
    pub tcp_transitory_timeout: SimDuration,
    /// Whether inbound packets also refresh a mapping (RFC 4787 REQ-6 makes outbound
    /// refresh mandatory and inbound refresh optional).
    pub refresh_on_inbound: bool,
    /// Whether an internal host can reach another through the NAT's external address.
    pub hairpinning: bool,
}

impl Default for NatBehavior {
    fn default() -> Self {
        NatBehavior {
            mapping: MappingBehavior::EndpointIndependent,
            filtering: FilteringBehavior::AddressAndPortDependent,
            port_allocation: PortAllocation::Preserve,
            port_range: 1024..=65535,
            udp_timeout: SimDuration::from_secs(120),
            tcp_established_timeout: SimDuration::from_secs(7440),
            tcp_transitory_timeout: SimDuration::from_secs(240),
            refresh_on_inbound: true,
            hairpinning: false,
        }
    }
}

/// A one-to-one address translation (the Edge behind a NAT): every port of `external`
/// reaches `internal`, and traffic from `internal` leaves as `external`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StaticNat {
    pub internal: Ipv4Addr,
    pub external: Ipv4Addr,
}

/// A published port: unsolicited traffic to `external_port` goes to `internal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PortForward {
    pub protocol: Protocol,
    pub external_port: u16,
    pub internal: SocketAddrV4,
}

/// NAT on a node: translation between `outside` and every other interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NatConfig {
    pub preset: Option<NatPreset>,
    pub behavior: NatBehavior,
    /// The interface facing the outside world.
    pub outside: IfaceId,
    /// The address dynamic mappings use (the outside interface's address unless set).
    pub external: Ipv4Addr,
    pub static_nat: Vec<StaticNat>,
    pub port_forwards: Vec<PortForward>,
}

/// Allow or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Allow,
    Deny,
}

/// For host firewalls: the packet is arriving at or leaving the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    In,
    Out,
}

/// The Windows Firewall interface types a host rule can be scoped to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IfaceType {
    Lan,
    Wireless,
    /// A VPN (dial-up / remote access) interface.
    RemoteAccess,
}

/// The network profile Windows assigns each connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkProfile {
    Domain,
    Private,
    Public,
}

/// One firewall rule. Empty address lists and `None` fields match anything.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FirewallRule {
    pub name: Option<String>,
    pub action: Action,
    /// Host firewalls: which way the packet goes. `None`: both.
    pub direction: Option<Direction>,
    /// Network firewalls: the interface the packet arrived on.
    pub in_iface: Option<IfaceId>,
    /// Network firewalls: the interface the packet leaves by.
    pub out_iface: Option<IfaceId>,
    pub src: Vec<Ipv4Net>,
    pub dst: Vec<Ipv4Net>,
    /// Host firewalls: the host's own address (source when sending, destination when
    /// receiving), as Windows Firewall's "local IP addresses" scope.
    pub local: Vec<Ipv4Net>,
    /// Host firewalls: the peer's address, as Windows Firewall's "remote IP addresses".
    pub remote: Vec<Ipv4Net>,
    pub protocol: Option<Protocol>,
    pub src_ports: Option<RangeInclusive<u16>>,
    pub dst_ports: Option<RangeInclusive<u16>>,
    /// Host firewalls: the interface type the packet uses.
    pub iface_type: Option<IfaceType>,
    /// Host firewalls: the network profile of the interface the packet uses.
    pub profile: Option<NetworkProfile>,
    /// Host firewalls: the program that owns the socket (e.g. `communicator.exe`).
    pub app: Option<String>,
}

impl FirewallRule {
    /// A rule with `action` that matches every packet; set fields to narrow it.
    pub fn any(action: Action) -> FirewallRule {
        FirewallRule {
            name: None,
            action,
            direction: None,
            in_iface: None,
            out_iface: None,
            src: Vec::new(),
            dst: Vec::new(),
            local: Vec::new(),
            remote: Vec::new(),
            protocol: None,
            src_ports: None,
            dst_ports: None,
            iface_type: None,
            profile: None,
            app: None,
        }
    }
}

/// How rules are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleOrder {
    /// The first matching rule decides (network firewalls, iptables, ACLs).
    FirstMatch,
    /// A matching deny rule beats any allow rule (Windows Firewall's precedence).
    DenyFirst,
}

/// A stateful packet filter, on a firewall node, a router or a host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FirewallConfig {
    pub rules: Vec<FirewallRule>,
    pub order: RuleOrder,
    /// What happens to a new flow no rule matched, per direction for hosts (`default_in`
    /// also serves network firewalls).
    pub default_in: Action,
    pub default_out: Action,
    /// Whether return traffic of an allowed flow passes without rule evaluation.
    pub stateful: bool,
    pub udp_timeout: SimDuration,
    pub tcp_timeout: SimDuration,
}

/// What a VPN client tunnels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum TunnelMode {
    /// Tunnel-all: everything but the tunnel's own traffic to the concentrator.
    Full,
    /// Only `include` prefixes enter the tunnel, minus `exclude` ones.
    Split { include: Vec<Ipv4Net>, exclude: Vec<Ipv4Net> },
}

/// How tunnel packets are wrapped: an outer IPv4/UDP header to `port` plus `overhead`
/// bytes of headers and trailers (ESP header, IV, padding, ICV...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Encapsulation {
    pub name: &'static str,
    pub port: u16,
    pub overhead: u16,
}

impl Encapsulation {
    /// IPsec ESP in UDP (RFC 3948, NAT-T port 4500): 8-byte ESP header, 16-byte IV,
    /// up to 15 bytes of padding plus 2 trailer bytes, 16-byte ICV (AES-GCM/CBC-HMAC).
    pub const IPSEC: Encapsulation = Encapsulation { name: "ipsec", port: 4500, overhead: 57 };
    /// An SSL VPN over DTLS on 443: 13-byte DTLS record header, 16-byte tag, 8 bytes of
    /// explicit nonce (AnyConnect-style).
    pub const DTLS: Encapsulation = Encapsulation { name: "dtls", port: 443, overhead: 37 };
}

/// A host's VPN client: the virtual interface and where it tunnels to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VpnClient {
    /// The virtual interface (type remote-access) holding the VPN address.
    pub iface: IfaceId,
    pub concentrator: NodeId,
    /// The concentrator's public address the tunnel is built to.
    pub server: Ipv4Addr,
    pub mode: TunnelMode,
    pub encapsulation: Encapsulation,
}

/// A VPN concentrator: terminates client tunnels and costs time per packet.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Concentrator {
    /// The public interface tunnels arrive on.
    pub outside: IfaceId,
    /// The virtual interface facing the clients (the pool's gateway).
    pub tunnel: IfaceId,
    pub pool: Ipv4Net,
    /// Fixed crypto processing time per packet (decrypt or encrypt).
    pub crypto_delay: SimDuration,
    pub crypto_jitter: Option<Jitter>,
    /// Packets per second the crypto engine handles; `None`: unlimited.
    pub capacity_pps: Option<u64>,
    /// Packets waiting for the crypto engine before it drops.
    pub queue_packets: u32,
    /// Whether client-to-client traffic may turn around in the concentrator.
    pub hairpin: bool,
}

/// A site-to-site tunnel end on a router: its virtual interface sends to the peer's
/// underlay address from its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SiteTunnelEnd {
    pub iface: IfaceId,
    /// This router's underlay (public) address the tunnel leaves from.
    pub local: Ipv4Addr,
    /// The peer router's underlay address.
    pub remote: Ipv4Addr,
    pub encapsulation: Encapsulation,
}

/// The two faces of a dual-NIC Edge server and its A/V relay service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EdgeConfig {
    pub internal: IfaceId,
    pub external: IfaceId,
    /// The public address the Edge advertises for its relay (differs from the external
    /// interface's address when a static NAT sits in front).
    pub advertised: Ipv4Addr,
    /// The Edge pool this server belongs to; members of a pool share `secret`.
    pub pool: String,
    /// The secret media-relay credentials are derived from (MRAS). Defaults to one derived
    /// from the pool name, so pool members agree unless a file says otherwise.
    pub secret: String,
    /// The long-term credential realm (Lync uses "RTCMEDIA").
    pub realm: String,
    /// Ports relayed addresses are allocated from, on the external interface.
    pub relay_ports: RangeInclusive<u16>,
    /// STUN/TURN over UDP, on both interfaces.
    pub udp_port: u16,
    /// TURN over TCP, on both interfaces.
    pub tcp_port: u16,
}

impl EdgeConfig {
    /// Lync's defaults: RTCMEDIA realm, UDP 3478, TCP 443, relay ports 50000-59999.
    pub const REALM: &'static str = "RTCMEDIA";

    /// The secret of a pool that names none: a stable function of the pool name.
    pub fn pool_secret(pool: &str) -> String {
        format!("icepath-pool-secret:{pool}")
    }
}

/// One DNS view: the clients it answers and its records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DnsView {
    pub name: String,
    /// Source prefixes this view answers; the first view that matches a query's source wins.
    pub clients: Vec<Ipv4Net>,
    /// Lower-case names to addresses.
    pub records: BTreeMap<String, Vec<Ipv4Addr>>,
}

/// A DNS server with split-brain views.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DnsServer {
    pub views: Vec<DnsView>,
}

/// A node's part in call signaling (SIP, as Lync uses it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SipConfig {
    /// The user this node signs in as (its id unless set).
    pub user: String,
    /// Where a client registers and sends its calls (a front end, or an Access Edge for
    /// external users).
    pub registrar: Option<NodeId>,
    /// Where a registrar passes on what it cannot deliver itself (an Access Edge forwards
    /// to the front end).
    pub upstream: Option<NodeId>,
    /// The A/V Edge whose relay a client uses for its server-reflexive and relayed
    /// candidates (MRAS hands it out).
    pub relay: Option<NodeId>,
    /// The Edge whose MRAS issued the client's relay credentials, when not `relay` itself
    /// (seed 004: a client sent to another pool member than the one that issued them).
    pub credentials: Option<NodeId>,
}

/// The optional roles of a node, all off by default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeRoles {
    pub nat: Option<NatConfig>,
    pub firewall: Option<FirewallConfig>,
    pub vpn: Option<VpnClient>,
    pub concentrator: Option<Concentrator>,
    pub site_tunnels: Vec<SiteTunnelEnd>,
    pub edge: Option<EdgeConfig>,
    pub dns: Option<DnsServer>,
    /// The DNS server this node asks.
    pub resolver: Option<NodeId>,
    /// Signaling: registrar, upstream, media relay.
    pub sip: Option<SipConfig>,
}

impl NodeRoles {
    /// The empty set of roles, shared by every node that has none.
    pub fn none() -> std::sync::Arc<NodeRoles> {
        static NONE: std::sync::OnceLock<std::sync::Arc<NodeRoles>> = std::sync::OnceLock::new();
        NONE.get_or_init(Default::default).clone()
    }

    /// `roles` to store in a node: the shared empty set when it has none.
    pub fn share(roles: NodeRoles) -> std::sync::Arc<NodeRoles> {
        if roles == NodeRoles::default() { NodeRoles::none() } else { std::sync::Arc::new(roles) }
    }
}
