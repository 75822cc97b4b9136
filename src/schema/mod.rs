//! The topology file as written: YAML text in, a validated `Topology` or every problem out.
//!
//! `load_topology(file, text)` is pure: it is handed the file name (for messages and the
//! default topology name) and the text, and does no I/O. It reports every problem at once,
//! each with file, line, column, the place in the document (`nodes[2].interfaces[0].address`),
//! what was expected and what was found, the way a compiler would. `render` adds a source
//! snippet under each diagnostic. Turning the diagnostics into an exit code is `main.rs`'s job.
//!
//! How it works: `tree` parses the text with serde-saphyr into a small positioned tree;
//! `read` decodes that tree by hand (so one bad field does not hide the next) into file
//! structs that keep their positions; `check` compares values across the document
//! (references, duplicates, subnets, routes) and builds the `Topology`; `read::middlebox` and
//! `check::middlebox` do the same for NAT, firewall, VPN, Edge, DNS and tunnel blocks. `units` reads
//! quantities such as `1.5ms` and `100Mbit`; `decode` holds the reading helpers.
//!
//! # The format
//!
//! See `docs/topology-format.md` for the full reference. In short:
//!
//! ```yaml
//! # What real network this models (a convention for bundled files, not enforced).
//! name: branch-office            # optional; default: the file name without extension
//! description: "..."             # optional
//! zones:                         # optional: zone name -> description (or nothing)
//!   lan: "Corporate LAN"
//! links:                         # required
//!   - id: wan-1                  # required; [A-Za-z0-9._-]+, unique among links
//!     kind: p2p                  # p2p (exactly 2 members) | segment (default)
//!     subnet: 203.0.113.0/30     # optional; every member address must lie inside it
//!     latency: 20ms              # default 0; units ns, us, ms, s; decimals allowed
//!     jitter: 2ms                # uniform; or {mean: 2ms, distribution: uniform|normal|pareto}
//!     loss: 0.5%                 # or a probability 0.005; default 0
//!     bandwidth: 100Mbit         # bit, kbit, Mbit, Gbit (or bps...); absent = infinite
//!     queue: 100 packets         # default 1000 packets; or bytes: 64KB, 64KiB, 1500B
//!     mtu: 1500                  # default 1500; 68..=65535
//!     reorder: false             # whether jitter may reorder packets; default false
//! nodes:                         # required
//!   - id: laptop                 # required; [A-Za-z0-9._-]+, unique among nodes
//!     kind: host                 # required: host | router | nat | firewall | vpn-concentrator | edge | dns
//!     zone: lan                  # optional; must be declared under `zones`
//!     forwarding: false          # default: true for router, nat, firewall, vpn-concentrator
//!     interfaces:                # required, at least one
//!       - name: eth0             # required, unique within the node
//!         address: 10.0.0.10/24  # required; not the network or broadcast address
//!         link: wan-1            # required; must name a link
//!         type: wireless         # lan (default) | wireless; remote-access is the VPN's own
//!         profile: private       # domain | private | public (default)
//!         role: external         # edge nodes only: internal | external, one of each
//!     gateway: 10.0.0.1          # optional default route; must be on-link
//!     routes:                    # optional static routes
//!       - to: 10.1.0.0/16        # required; a subnet or `default`
//!         via: 10.0.0.1          # next hop, on-link; and/or
//!         interface: eth0        # an interface of this node
//!         metric: 1              # default 1; lower wins
//!     resolver: dns-int          # optional: a node of kind dns
//!     nat:                       # kind nat (required), router, firewall
//!       outside: wan0            # required: an interface of this node
//!       preset: symmetric        # full-cone | restricted-cone | port-restricted-cone | symmetric | cgnat
//!       mapping: address-dependent   # and/or filtering:, port-allocation:, ports: 1024-65535,
//!                                # udp-timeout:, tcp-timeout:, tcp-transitory-timeout:,
//!                                # refresh-on-inbound:, hairpinning:, external:
//!       static: [{internal: 10.0.5.10, external: 203.0.113.20}]
//!       forwards: [{protocol: udp, port: 3478, to: 10.0.5.10:3478}]
//!     firewall:                  # any kind; required on kind firewall
//!       order: first-match       # | deny-first (default on host and edge)
//!       default: deny            # network kinds; hosts and edges: default-in, default-out
//!       rules:                   # action, src, dst, protocol, src-ports, ports for all;
//!         - {action: allow, in: wan0, protocol: udp, ports: 3478}   # in/out: network kinds
//!         - {action: deny, direction: in, app: communicator.exe, local: 10.99.0.0/24,
//!            remote: any, interface-type: remote-access, profile: domain}  # host and edge
//!     vpn:                       # hosts only; needs a gateway
//!       address: 10.99.0.10/24   # in the concentrator's pool; interface: vpn0 by default
//!       concentrator: corp-vpn   # a node of kind vpn-concentrator
//!       mode: split              # full | split (include required, exclude optional)
//!       include: [10.0.0.0/8]    # also: server, encapsulation (ipsec | dtls), overhead, profile
//!     concentrator:              # kind vpn-concentrator only (required)
//!       outside: ext0            # required
//!       pool: 10.99.0.0/24       # required; the concentrator is pool0 at 10.99.0.1
//!       crypto-delay: 0.3ms      # also crypto-jitter, capacity: 20000pps, queue, hairpin
//!     edge: {advertised: 203.0.113.20}   # kind edge only, optional
//!     views:                     # kind dns only (required): first match on clients wins
//!       - {name: vpn, clients: [10.99.0.0/16], records: {sip.contoso.com: 203.0.113.20}}
//! tunnels:                       # optional site-to-site tunnels between routers
//!   - id: branch-hq              # unique among links and tunnels
//!     a: {node: br-rtr, interface: tun0, address: 169.254.10.1/30, underlay: wan0}
//!     b: {node: hq-rtr, interface: tun0, address: 169.254.10.2/30, underlay: wan0}
//! ```
//!
//! Warnings (the file still loads): a link with fewer than two members, subnets of
//! different links (client pools and tunnels included) that overlap without being
//! identical, and an Edge whose default gateway is on its internal side.

mod check;
pub(crate) mod decode;
mod read;
mod render;
pub(crate) mod tree;
pub(crate) mod units;

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::topology::{NodeKind, Topology};

pub use render::{render, render_fancy};
pub use units::{UnitError, parse_bandwidth, parse_duration};

/// The name among `candidates` that `found` is most likely a typo of, if any is close
/// enough (used for "did you mean" hints here and on the command line).
pub fn suggest<'c>(found: &str, candidates: &[&'c str]) -> Option<&'c str> {
    decode::closest(found, candidates.iter().copied())
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One problem found in a file, with its place.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    /// 1-based line of the offending value (or key).
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
    /// Place in the document, like `nodes[2].interfaces[0].address`; empty for the whole file.
    pub path: String,
    /// `problem` rendered as text.
    pub message: String,
    pub hint: Option<String>,
    /// What went wrong, for callers that branch on it.
    pub problem: Problem,
    /// Byte offset of the offending text in the source.
    pub offset: usize,
    /// Byte length of the offending text (zero for maps, lists and empty values).
    pub len: usize,
}

/// What kind of name a reference failed to find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefKind {
    Link,
    Zone,
    Interface,
    Node,
}

impl fmt::Display for RefKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RefKind::Link => "link",
            RefKind::Zone => "zone",
            RefKind::Interface => "interface",
            RefKind::Node => "node",
        })
    }
}

/// What kind of name is defined twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DupKind {
    /// A key repeated within one map.
    Key,
    NodeId,
    LinkId,
    /// An interface name repeated within one node (virtual VPN and tunnel interfaces included).
    InterfaceName,
    /// A DNS view name repeated within one server.
    ViewName,
}

impl fmt::Display for DupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DupKind::Key => "key",
            DupKind::NodeId => "node id",
            DupKind::LinkId => "link id",
            DupKind::InterfaceName => "interface name",
            DupKind::ViewName => "view name",
        })
    }
}

/// What is wrong, one variant per class of problem. The `Display` text is the message.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Problem {
    /// The text is not well-formed YAML, or holds more than one document.
    #[error("invalid YAML: {message}")]
    Syntax { message: String },
    /// A map has a key the schema does not define.
    #[error("unknown field `{field}`; expected one of {}", expected.join(", "))]
    UnknownField { field: String, expected: Vec<String> },
    /// A required field is absent.
    #[error("missing required field `{field}`")]
    MissingField { field: &'static str },
    /// A route has neither a next hop nor an interface.
    #[error("a route needs `via`, `interface` or both; found neither")]
    MissingNextHop,
    /// The value has the wrong shape: a list where a map belongs, a map where text belongs.
    #[error("expected {expected}; found {found}")]
    WrongType { expected: String, found: String },
    /// The value has the right shape but is not valid: a bad address, unit, kind or range.
    #[error("expected {expected}; found {found}")]
    InvalidValue { expected: String, found: String },
    /// A value parses but is beyond what any real network would have.
    #[error("{what} of {found} is larger than sanity allows (at most {limit})")]
    TooLarge { what: &'static str, found: String, limit: String },
    /// An interface address is the network or broadcast address of its subnet.
    #[error("{addr} is the {which} address of {net}; an interface needs a host address")]
    ReservedAddress { addr: Ipv4Net, which: &'static str, net: Ipv4Net },
    /// A subnet or route destination has bits set beyond its prefix length.
    #[error("{found} has host bits set; expected a network address")]
    HostBitsSet { found: Ipv4Net },
    /// A name refers to a link, zone or interface that is not declared.
    #[error("unknown {kind} \"{name}\"")]
    UnknownReference { kind: RefKind, name: String },
    /// A name is defined twice where names must be unique.
    #[error("duplicate {kind} \"{name}\"")]
    Duplicate { kind: DupKind, name: String },
    /// Two interfaces have the same address.
    #[error("address {addr} is already assigned to {first}")]
    DuplicateAddress { addr: Ipv4Addr, first: String },
    /// An interface address lies outside the subnet its link declares.
    #[error("address {addr} is outside subnet {subnet} of link \"{link}\"")]
    OutsideSubnet { addr: Ipv4Net, link: String, subnet: Ipv4Net },
    /// Two interfaces on one link disagree about the link's subnet (`other` names the first
    /// interface, like `router/eth0 on the same link "lan"`).
    #[error("subnet {net} differs from {other_net} of {other}")]
    SubnetMismatch { net: Ipv4Net, other_net: Ipv4Net, other: String },
    /// A gateway or next hop is not inside a subnet the node (or the named interface) is on.
    #[error("{what} {addr} is not on-link: it is outside {scope}")]
    NotOnLink { what: &'static str, addr: Ipv4Addr, scope: String },
    /// A gateway or next hop is the node's own address.
    #[error("{what} {addr} is this node's own address")]
    OwnAddress { what: &'static str, addr: Ipv4Addr },
    /// A point-to-point link without exactly two members.
    #[error("point-to-point link \"{link}\" has {count} member interface(s); expected exactly 2")]
    PointToPointMembers { link: String, count: usize },
    /// Warning: a link with fewer than two members carries no traffic.
    #[error("link \"{link}\" has {count} member interface(s), so nothing can cross it")]
    LonelyLink { link: String, count: usize },
    /// A field is valid YAML but belongs to other node kinds (`nat` on a host, `app` in a
    /// rule of a network firewall, `role` on an interface of a router).
    #[error("`{field}` is not allowed on a node of kind `{}` (only on {allowed})", kind.as_str())]
    FieldNotForKind { field: &'static str, kind: NodeKind, allowed: &'static str },
    /// A node kind whose behaviour comes from a block the node lacks (`kind: nat` without `nat`).
    #[error("a node of kind `{}` needs a `{field}` block", kind.as_str())]
    BlockRequired { kind: NodeKind, field: &'static str },
    /// A NAT whose behaviour is not fully given: no preset, and not both RFC 4787 behaviours.
    #[error("a NAT needs a `preset`, or both `mapping` and `filtering`; found {found}")]
    NatBehaviorMissing { found: &'static str },
    /// A port range written high to low.
    #[error("port range inverted: {lo}-{hi} starts above where it ends")]
    PortRangeInverted { lo: u16, hi: u16 },
    /// A reference to a node of the wrong kind (a VPN whose concentrator is an Edge).
    #[error("node \"{name}\" is {} {}, not {expected}", article(kind.as_str()), kind.as_str())]
    WrongNodeKind { name: String, kind: NodeKind, expected: &'static str },
    /// A full-tunnel VPN given `include` or `exclude` routes, which only split tunnels have.
    #[error("`{field}` does not apply to `mode: full`: a tunnel-all VPN sends everything into the tunnel")]
    FullTunnelRoutes { field: &'static str },
    /// A VPN client address outside its concentrator's pool.
    #[error("address {addr} is outside pool {pool} of concentrator \"{concentrator}\"")]
    OutsidePool { addr: Ipv4Net, pool: Ipv4Net, concentrator: String },
    /// An Edge without exactly one internal and one external interface.
    #[error("an Edge needs an internal and an external interface; found {count} with `role: {role}`")]
    EdgeInterfaces { role: &'static str, count: usize },
    /// Warning: an Edge whose default gateway is on its internal side.
    #[error("gateway {gateway} of Edge \"{node}\" is on its internal subnet {net}")]
    EdgeGatewayInternal { node: String, gateway: Ipv4Addr, net: Ipv4Net },
    /// Warning: subnets of different links overlap without being identical.
    #[error("subnet {net} of link \"{link}\" overlaps {other_net} of link \"{other_link}\"")]
    OverlappingSubnets { net: Ipv4Net, link: String, other_net: Ipv4Net, other_link: String },
}

impl Problem {
    /// Warnings describe legal but suspicious files; everything else stops the load.
    pub fn severity(&self) -> Severity {
        match self {
            Problem::LonelyLink { .. } | Problem::OverlappingSubnets { .. } | Problem::EdgeGatewayInternal { .. } => {
                Severity::Warning
            }
            _ => Severity::Error,
        }
    }
}

/// "a" or "an" for a kind name, as the message reads it aloud.
fn article(word: &str) -> &'static str {
    // `nat` reads "a NAT", the vowels of the other kinds read as vowels.
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

/// A topology that passed validation, with the warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    pub topology: Topology,
    pub warnings: Vec<Diagnostic>,
}

/// Every problem found in a file that could not be loaded: errors and warnings, sorted by
/// line and column.
#[derive(Debug, thiserror::Error)]
pub struct LoadError {
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadError {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Error)
    }
}

impl fmt::Display for LoadError {
    /// One compiler-style line per diagnostic (plus its hint), without source snippets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl Diagnostic {
    fn new(file: &str, pos: tree::Pos, path: &str, problem: Problem, hint: Option<String>) -> Self {
        Diagnostic {
            severity: problem.severity(),
            file: file.to_string(),
            line: pos.line,
            column: pos.column,
            path: path.to_string(),
            message: problem.to_string(),
            hint,
            problem,
            offset: pos.offset,
            len: pos.len,
        }
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: error: path: message`, then `  hint: ...` on a second line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}: ", self.file, self.line, self.column, self.severity)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Reads a topology file. Pure: `file` is only used in messages and as the default name.
/// Never panics; on failure returns every error and warning, sorted by position.
pub fn load_topology(file: &str, text: &str) -> Result<Loaded, LoadError> {
    load_patched(file, text, None)
}

/// Something that edits a topology's document tree before it is decoded (a scenario's
/// overrides), reporting its own problems against the file it was read from.
pub(crate) struct Overlay<'a> {
    /// The file the patch's values come from (their positions have `src == 1`).
    pub file: &'a str,
    pub apply: &'a dyn Fn(&mut decode::Decoder<'_>, &mut tree::Value),
}

/// `load_topology`, with an overlay patched into the document first. Problems are sorted
/// with the topology file's first, then the overlay's.
pub(crate) fn load_patched(file: &str, text: &str, overlay: Option<Overlay<'_>>) -> Result<Loaded, LoadError> {
    let mut dc = match &overlay {
        Some(o) => decode::Decoder::with_overlay(file, o.file),
        None => decode::Decoder::new(file),
    };
    let topology = match tree::parse(text) {
        Ok(mut doc) => {
            if let Some(o) = &overlay {
                (o.apply)(&mut dc, &mut doc);
            }
            // An override that names nothing is left out; the rest is still checked, so
            // every problem is reported at once.
            let parsed = read::read_file(&mut dc, &doc);
            check::check_and_build(&mut dc, file, parsed)
        }
        Err(e) => {
            let problem = Problem::Syntax { message: e.message };
            dc.report(e.pos, &decode::Path::root(), problem, e.hint);
            None
        }
    };
    let mut diagnostics = dc.diagnostics;
    diagnostics.sort_by_key(|d| (d.file != file, d.line, d.column));
    match topology {
        Some(topology) if !diagnostics.iter().any(|d| d.severity == Severity::Error) => {
            Ok(Loaded { topology, warnings: diagnostics })
        }
        _ => Err(LoadError { diagnostics }),
    }
}
