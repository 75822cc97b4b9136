//! The discrete-event engine: the only code that advances time.
//!
//! The engine owns the event queue, the packets in flight and the per-interface link state.
//! It pops the earliest event, hands the packet to the element that should see it
//! (`net::forward` for hosts and routers, `net::link` for the wire), carries out the verdict
//! and schedules what follows. It stops when nothing is left to do or at a stated limit: the
//! time horizon or the event budget. A routing loop ends by TTL expiry, never by a hang.

mod ahead;
mod queue;
mod service;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use rustc_hash::FxHashMap;

use crate::net::DropReason;
use crate::net::firewall::{Crossing, Decider, Firewall, FirewallVerdict};
use crate::net::forward::{Fib, Resolved, Verdict, decide, egress, resolve};
use crate::net::link::{LinkDrop, LinkTx};
use crate::net::nat::{Nat, NatOutcome};
use crate::net::tunnel::{self, CryptoEngine, TunnelPayload};
use crate::proto::media::{MediaEvent, RtpIds};
use crate::proto::signaling::{Registrar, SIP_PORT, UserAgent};
use crate::proto::turn::RestCredential;
use crate::proto::{Listen, TurnServer, TurnServerConfig};
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};
use crate::topology::{Action, Direction, Encapsulation, IfaceId, LinkId, LinkProps, NodeId, NodeKind, Topology};
use crate::trace::{PacketId, PacketSummary, Record, Trace, TraceLevel};
use crate::wire::{Datagram, Protocol, TcpFlags, TcpHeader, Transport};

use ahead::Ahead;
pub use queue::EventQueue;
pub use service::{Handled, Service, ServiceEvent, ServiceId};

/// The limits a run stops at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Events later than this are not processed.
    pub horizon: SimTime,
    /// At most this many events are processed.
    pub max_events: u64,
    /// At most this many events at one instant: more means something keeps rescheduling
    /// itself without time moving (a stuck timer), and the run stops.
    pub max_events_per_instant: u64,
}

impl Default for Limits {
    /// One hour of virtual time and 100 million events: far beyond any single call, and
    /// small enough that a runaway run stops in seconds of real time.
    fn default() -> Self {
        Limits {
            horizon: SimTime::ZERO + SimDuration::from_secs(3600),
            max_events: 100_000_000,
            max_events_per_instant: 1_000_000,
        }
    }
}

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "reason")]
pub enum StopReason {
    /// No events were left: every packet was delivered or dropped.
    Idle,
    /// The next event lay beyond the time horizon.
    Horizon { horizon: SimTime },
    /// The event budget was used up.
    EventBudget { max_events: u64 },
    /// Too many events at one instant: time stopped moving.
    Stalled { at: SimTime, events: u64 },
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Idle => f.write_str("idle: every packet was delivered or dropped"),
            StopReason::Horizon { horizon } => write!(f, "stopped at the time horizon ({horizon})"),
            StopReason::EventBudget { max_events } => {
                write!(f, "stopped after the event budget of {max_events} events (an event storm?)")
            }
            StopReason::Stalled { at, events } => {
                write!(f, "stopped: {events} events at {at} without time moving (a timer that keeps firing?)")
            }
        }
    }
}

/// What a run did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    pub stop: StopReason,
    pub events: u64,
    /// Virtual time of the last processed event.
    pub end: SimTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    /// A node's own stack sends a packet it originated.
    Originate { slot: u32, node: NodeId },
    /// A node emits a packet it already holds (a tunnel's outer packet after encryption).
    Egress { slot: u32, node: NodeId },
    /// A packet finished crossing a link (or was unwrapped from a tunnel) and arrives on
    /// an interface.
    Arrive { slot: u32, iface: IfaceId },
    /// A service's timer fires (ignored if the service re-armed it for another time).
    Timer { service: ServiceId },
}

/// An `Event` in eight bytes, so a queue entry (time and event) is sixteen: the kind in the
/// top two bits, then the packet slot (or service) in 30 bits, then the node or interface.
#[derive(Clone, Copy)]
struct PackedEvent(u64);

/// Packet slots are reused, so this bounds the packets in flight at once, not in a run.
const MAX_SLOTS: u32 = 1 << 30;

impl From<Event> for PackedEvent {
    fn from(e: Event) -> Self {
        let (kind, a, b) = match e {
            Event::Originate { slot, node } => (0u64, slot, node.0),
            Event::Egress { slot, node } => (1, slot, node.0),
            Event::Arrive { slot, iface } => (2, slot, iface.0),
            Event::Timer { service } => (3, service.0, 0),
        };
        debug_assert!(a < MAX_SLOTS);
        PackedEvent(kind << 62 | (a as u64) << 32 | b as u64)
    }
}

impl From<PackedEvent> for Event {
    fn from(p: PackedEvent) -> Self {
        let a = ((p.0 >> 32) as u32) & (MAX_SLOTS - 1);
        let b = p.0 as u32;
        match p.0 >> 62 {
            0 => Event::Originate { slot: a, node: NodeId(b) },
            1 => Event::Egress { slot: a, node: NodeId(b) },
            2 => Event::Arrive { slot: a, iface: IfaceId(b) },
            _ => Event::Timer { service: ServiceId(a) },
        }
    }
}

/// A service and where it runs.
struct Hosted {
    node: NodeId,
    service: Service,
    /// The time its timer event is queued for, if any.
    armed: Option<SimTime>,
}

/// A packet on its way, in the engine's slab: one cache line, so a hop reads one line of
/// it (an 80-byte slot, as it was with the `send_out` pin inside, straddled two).
#[repr(align(64))]
struct InFlight {
    id: PacketId,
    datagram: Datagram,
}

const _: () = assert!(std::mem::size_of::<Option<InFlight>>() == 64);

/// An RTP packet a media endpoint received, as the compact log keeps it
/// (`Engine::set_rtp_log`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpArrival {
    pub at: SimTime,
    pub service: ServiceId,
    pub ids: RtpIds,
}

/// A service event kept for the caller (`Engine::set_service_log`).
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceNote {
    pub at: SimTime,
    pub node: NodeId,
    pub service: ServiceId,
    pub event: ServiceEvent,
}

/// The TCP port clients send signaling from.
pub const SIP_CLIENT_PORT: u16 = 40000;

/// A VPN client's tunnel as its concentrator knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VpnSession {
    pub concentrator: NodeId,
    /// The client's inner (VPN) address.
    pub inner: Ipv4Addr,
    /// Where the client's tunnel packets come from, as the concentrator sees them (after
    /// any NAT on the way).
    pub outer: SocketAddrV4,
    pub since: SimTime,
}

/// A simulation of one topology.
pub struct Engine<'t> {
    topo: &'t Topology,
    rng: SimRng,
    now: SimTime,
    limits: Limits,
    queue: Ahead<PackedEvent>,
    packets: Vec<Option<InFlight>>,
    /// For a packet originated with `send_out`, by slot until it leaves: the interface it
    /// must leave by and the neighbour's interface it goes to, whatever the routing table
    /// says. Rare, so kept out of the packet's slot.
    pinned: FxHashMap<u32, (IfaceId, IfaceId)>,
    free: Vec<u32>,
    /// Per node (indexed by `NodeId`): what a hop reads and changes of the node, in one
    /// cache line.
    nodes: Vec<NodeState>,
    /// Per interface (indexed by `IfaceId`): what a hop reads of it, its link's properties
    /// and its transmit state, together (`Port`).
    ports: Vec<Port>,
    /// Each VPN concentrator's crypto engine (its packet budget), by node.
    crypto: FxHashMap<NodeId, CryptoEngine>,
    /// Client tunnels learned by concentrators, keyed by (concentrator, inner address).
    sessions: BTreeMap<(NodeId, Ipv4Addr), VpnSession>,
    /// Which program owns a (node, protocol, port) socket, learned from what it sends.
    sockets: FxHashMap<(NodeId, Protocol, u16), u32>,
    apps: Vec<String>,
    tunnel_seq: u32,
    echo: bool,
    replies: BTreeSet<PacketId>,
    services: Vec<Hosted>,
    /// Service events kept for the caller to drain, when asked (`set_service_log`).
    service_log: Option<Vec<ServiceNote>>,
    /// RTP arrivals kept apart from the other service events, when asked (`set_rtp_log`).
    rtp_log: Option<Vec<RtpArrival>>,
    /// Each Edge's public address (`Topology::edge_public_address`), found once: looking it
    /// up scans every node, too slow to repeat for each of thousands of clients.
    edge_public: FxHashMap<NodeId, Ipv4Addr>,
    /// Whether `link_bytes` reports the ports' byte counts (`set_link_counters`).
    link_counting: bool,
    /// Every datagram as it went onto a link, when capturing (for pcap).
    capture: Option<Vec<(SimTime, Datagram)>>,
    next_packet: u64,
    events: u64,
    /// Events processed at the current instant (for the stall limit).
    same_instant: u64,
    trace: Trace,
}

impl<'t> Engine<'t> {
    pub fn new(topo: &'t Topology, rng: SimRng, limits: Limits, level: TraceLevel) -> Self {
        let root = rng;
        let ports = topo
            .ifaces
            .iter()
            .map(|f| {
                let link = topo.link(f.link);
                Port {
                    hot: IfaceHot { node: f.node, link: f.link, addr: f.addr, is_tunnel: f.is_tunnel },
                    props: link.props,
                    tx: LinkTx::new(rng.fork_fmt(format_args!("link/{}/{}", link.name, topo.iface_label(f.id)))),
                    bytes: 0,
                }
            })
            .collect();
        let crypto = topo
            .nodes
            .iter()
            .filter_map(|n| {
                let c = n.roles.concentrator.as_ref()?;
                Some((n.id, CryptoEngine::new(c, rng.fork_fmt(format_args!("vpn/{}", n.name)))))
            })
            .collect();
        let nodes = topo
            .nodes
            .iter()
            .map(|n| {
                let r = &n.roles;
                let tunnel_end = r.concentrator.is_some() || r.vpn.is_some() || !r.site_tunnels.is_empty();
                let bits = if n.forwarding { FORWARDS } else { 0 }
                    | if is_host_style(n.kind) { HOST_STYLE } else { 0 }
                    | if tunnel_end { TUNNEL_END } else { 0 };
                NodeState {
                    nat: r.nat.clone().map(|c| Box::new(Nat::new(c, rng.fork_fmt(format_args!("nat/{}", n.name))))),
                    firewall: r.firewall.clone().map(|c| Box::new(Firewall::new(c))),
                    bits,
                    last: None,
                    resolved: None,
                    listeners: Box::default(),
                }
            })
            .collect();
        Engine {
            topo,
            nodes,
            ports,
            crypto,
            rng: root,
            now: SimTime::ZERO,
            limits,
            queue: Ahead::new(),
            packets: Vec::new(),
            pinned: FxHashMap::default(),
            free: Vec::new(),
            sessions: BTreeMap::new(),
            sockets: FxHashMap::default(),
            apps: Vec::new(),
            tunnel_seq: 0,
            echo: false,
            replies: BTreeSet::new(),
            services: Vec::new(),
            edge_public: topo.edge_public_addresses(),
            service_log: None,
            rtp_log: None,
            link_counting: false,
            capture: None,
            next_packet: 1,
            events: 0,
            same_instant: 0,
            trace: Trace::new(level),
        }
    }

    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Events waiting in the queue.
    pub fn pending_events(&self) -> usize {
        self.queue.len()
    }

    /// Heap bytes held by the event queue (for the memory figures in `benches/README.md`).
    pub fn queue_heap_bytes(&self) -> usize {
        self.queue.heap_bytes()
    }

    /// When the next pending event is due (`None` when idle): a driver can run exactly to
    /// it (`run_until`) and look at its services after every instant, without polling on a
    /// fixed grid.
    pub fn next_event_at(&self) -> Option<SimTime> {
        self.queue.peek_time()
    }

    /// The topology being simulated.
    pub fn topology(&self) -> &'t Topology {
        self.topo
    }

    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Records at `level` from now on, e.g. every hop for a short window of a long run.
    pub fn set_trace_level(&mut self, level: TraceLevel) {
        self.trace.set_level(level);
    }

    pub fn into_trace(self) -> Trace {
        self.trace
    }

    /// The NAT state of `node`, if it translates.
    pub fn nat(&self, node: NodeId) -> Option<&Nat> {
        self.nodes[node.0 as usize].nat.as_deref()
    }

    /// Client tunnels the concentrators know, in (concentrator, address) order.
    pub fn vpn_sessions(&self) -> impl Iterator<Item = &VpnSession> {
        self.sessions.values()
    }

    /// Schedules `node` to send `datagram` at `at` (not before the current time).
    pub fn send_at(&mut self, at: SimTime, node: NodeId, datagram: Datagram) -> PacketId {
        self.send_from_app(at, node, datagram, None)
    }

    /// Records that `app` owns the (node, protocol, port) socket, so host firewall rules
    /// scoped to a program apply to what it sends and receives there.
    pub fn bind_app(&mut self, node: NodeId, protocol: Protocol, port: u16, app: &str) {
        let id = match self.apps.iter().position(|a| a == app) {
            Some(i) => i as u32,
            None => {
                self.apps.push(app.to_string());
                (self.apps.len() - 1) as u32
            }
        };
        self.sockets.insert((node, protocol, port), id);
    }

    /// As `send_at`, from a named program (host firewall rules can be scoped to it; the
    /// socket's port is remembered so replies are attributed to the same program).
    pub fn send_from_app(&mut self, at: SimTime, node: NodeId, datagram: Datagram, app: Option<&str>) -> PacketId {
        if let Some(app) = app {
            self.bind_app(node, datagram.protocol(), datagram.src.port(), app);
        }
        let id = PacketId(self.next_packet);
        self.next_packet += 1;
        let slot = self.store(InFlight { id, datagram });
        self.queue.push(at.max(self.now), Event::Originate { slot, node }.into());
        id
    }

    /// Schedules `node` to send `datagram` out of its interface `via` to the neighbour at
    /// `next_hop` on that link, bypassing its routing table (as a program bound to one NIC
    /// with a static next hop would; the zone audit uses it to probe from each NIC of a
    /// multi-homed server). The node's own firewall and NAT still apply. `None` when no
    /// interface on that link owns `next_hop`.
    pub fn send_out(
        &mut self,
        at: SimTime,
        node: NodeId,
        via: IfaceId,
        next_hop: Ipv4Addr,
        datagram: Datagram,
    ) -> Option<PacketId> {
        let to = self.topo.neighbour_on(self.topo.iface(via).link, next_hop)?;
        let id = PacketId(self.next_packet);
        self.next_packet += 1;
        let slot = self.store(InFlight { id, datagram });
        self.pinned.insert(slot, (via, to));
        self.queue.push(at.max(self.now), Event::Originate { slot, node }.into());
        Some(id)
    }

    /// Every VPN client connects: it sends a tunnel-setup packet to its concentrator, as
    /// IKE would, so the concentrator learns where the client is (through any NAT). Run
    /// the engine afterwards to let the handshakes land.
    pub fn connect_vpns(&mut self) {
        let topo = self.topo;
        for n in &topo.nodes {
            let Some(vpn) = &n.roles.vpn else { continue };
            let Some((via, _)) = egress(topo, n.id, vpn.server) else { continue };
            let src = SocketAddrV4::new(topo.iface(via).addr, vpn.encapsulation.port);
            let dst = SocketAddrV4::new(vpn.server, vpn.encapsulation.port);
            let inner = topo.iface(vpn.iface).addr;
            self.send_at(self.now, n.id, tunnel::hello(src, dst, inner));
        }
    }

    /// Runs until idle or a limit is reached.
    pub fn run(&mut self) -> RunOutcome {
        self.run_until(SimTime::MAX)
    }

    /// Processes every event up to and including `deadline` (or until a limit), then
    /// returns with the clock at the deadline; more packets can be sent and the run resumed.
    /// Reports `Idle` when nothing is pending at or before the deadline.
    pub fn run_until(&mut self, deadline: SimTime) -> RunOutcome {
        loop {
            let Some(at) = self.queue.peek_time() else {
                self.advance_clock(deadline);
                return self.outcome(StopReason::Idle);
            };
            if at > self.limits.horizon {
                return self.outcome(StopReason::Horizon { horizon: self.limits.horizon });
            }
            if at > deadline {
                self.advance_clock(deadline);
                return self.outcome(StopReason::Idle);
            }
            if self.events >= self.limits.max_events {
                return self.outcome(StopReason::EventBudget { max_events: self.limits.max_events });
            }
            if at == self.now {
                self.same_instant += 1;
                if self.same_instant > self.limits.max_events_per_instant {
                    return self.outcome(StopReason::Stalled { at, events: self.same_instant });
                }
            } else {
                self.same_instant = 1;
            }
            let (at, event) = self.queue.pop().expect("peeked above");
            assert!(at >= self.now, "invariant: time never runs backwards ({at} < {})", self.now);
            self.now = at;
            self.events += 1;
            self.look_ahead();
            self.handle(event.into());
        }
    }

    /// After a bounded run, the clock stands at the deadline (not beyond the horizon), so a
    /// caller stepping through time always moves forward. An unbounded run leaves it at the
    /// last event.
    fn advance_clock(&mut self, deadline: SimTime) {
        if deadline != SimTime::MAX {
            self.now = self.now.max(deadline.min(self.limits.horizon));
        }
    }

    fn outcome(&self, stop: StopReason) -> RunOutcome {
        RunOutcome { stop, events: self.events, end: self.now }
    }

    /// Keeps up to `AHEAD` events in the queue's window and asks the caches for what they
    /// will read, in stages along each event's chain of lookups:
    ///
    /// - as an event joins the window: its packet's slot and the interface it arrives on, or
    ///   the node it leaves from (their indexes are in the event);
    /// - two events before its turn: an arrival's node (its index is in the interface,
    ///   fetched by then);
    /// - one event before: that node's NAT, if it has one (its address is in the node).
    ///
    /// Only hints: nothing here changes what a run does. The figures are in
    /// `benches/README.md`.
    #[inline]
    fn look_ahead(&mut self) {
        let (packets, ports, nodes, services) = (&self.packets, &self.ports, &self.nodes, &self.services);
        self.queue.fill(AHEAD, self.now + AHEAD_SPAN, |&e| match e.into() {
            Event::Arrive { slot, iface } => {
                prefetch(packets.get(slot as usize));
                prefetch(ports.get(iface.0 as usize));
            }
            Event::Originate { slot, node } | Event::Egress { slot, node } => {
                prefetch(packets.get(slot as usize));
                prefetch(nodes.get(node.0 as usize));
            }
            Event::Timer { service } => prefetch(services.get(service.0 as usize)),
        });
        let arrival_node = |i: usize| match self.queue.in_window(i).map(|&e| e.into()) {
            Some(Event::Arrive { iface, .. }) => {
                ports.get(iface.0 as usize).and_then(|p| nodes.get(p.hot.node.0 as usize))
            }
            _ => None,
        };
        prefetch(arrival_node(2));
        prefetch(arrival_node(0).and_then(|n| n.nat.as_deref()));
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Originate { slot, node } => {
                let now = self.now;
                let p = self.packets[slot as usize].as_ref().expect("invariant: an event's packet is in flight");
                let (id, d) = (p.id, &p.datagram);
                self.trace.sent(|| Record::Sent { at: now, packet: id, node, summary: PacketSummary::of(d) });
                let pin = if self.pinned.is_empty() { None } else { self.pinned.remove(&slot) };
                match pin {
                    Some((via, to)) => {
                        if self.host_filter(slot, node, via, Direction::Out) {
                            self.leave(slot, node, None, via, to);
                        }
                    }
                    None => self.route(slot, node, None),
                }
            }
            Event::Egress { slot, node } => self.route(slot, node, None),
            Event::Arrive { slot, iface } => self.arrive(slot, iface),
            Event::Timer { service } => {
                let h = &mut self.services[service.0 as usize];
                if h.armed == Some(self.now) {
                    h.armed = None;
                    h.service.handle_timeout(self.now);
                    self.poll_service(service);
                }
            }
        }
    }

    /// Runs `service` on `node`: packets to its addresses are handed to it, what it sends
    /// leaves from `node`, its timers are honoured.
    pub fn attach(&mut self, node: NodeId, service: Service) -> ServiceId {
        let id = ServiceId(self.services.len() as u32);
        let mut sockets = Vec::new();
        service.sockets(&mut sockets);
        self.services.push(Hosted { node, service, armed: None });
        let on = &mut self.nodes[node.0 as usize].listeners;
        *on = on.iter().copied().chain(sockets.into_iter().map(|listen| Listener { listen, service: id })).collect();
        self.poll_service(id);
        id
    }

    /// Stops service `id` and hands it back: packets to its addresses are no longer its,
    /// its timer is cancelled, and what it has not yet sent is dropped. Its slot keeps an
    /// inert stand-in (a registrar listening nowhere), so other ids stay valid. A long run
    /// that starts and ends many calls detaches their endpoints so that a new endpoint on
    /// the same sockets receives its packets.
    pub fn detach(&mut self, id: ServiceId) -> Service {
        let h = &mut self.services[id.0 as usize];
        h.armed = None;
        let on = &mut self.nodes[h.node.0 as usize].listeners;
        *on = on.iter().copied().filter(|l| l.service != id).collect();
        let inert = Service::Registrar(Box::new(Registrar::new(Vec::new(), None)));
        std::mem::replace(&mut h.service, inert)
    }

    /// Keeps every service event for `drain_service_events` instead of writing it to the
    /// trace (when on, the trace has no service records). Lets a driver of many calls react
    /// to events without asking the trace to keep every packet.
    pub fn set_service_log(&mut self, on: bool) {
        self.service_log = on.then(Vec::new);
    }

    /// Keeps the RTP packets media endpoints receive in their own compact log (time,
    /// service, RTP identifiers: 24 bytes instead of a 128-byte `ServiceNote`) for
    /// `swap_rtp_arrivals`, instead of in the service log or the trace with the other
    /// service events. For a driver of thousands of streams, which reads nothing else of
    /// them.
    pub fn set_rtp_log(&mut self, on: bool) {
        self.rtp_log = on.then(Vec::new);
    }

    /// Moves the RTP arrivals since the last swap into `buf` (cleared first), in the order
    /// they happened; as `swap_service_events`, no allocation once both have grown.
    pub fn swap_rtp_arrivals(&mut self, buf: &mut Vec<RtpArrival>) {
        buf.clear();
        std::mem::swap(self.rtp_log.get_or_insert_with(Vec::new), buf);
    }

    /// The service events since the last drain, in the order they happened.
    pub fn drain_service_events(&mut self) -> std::vec::Drain<'_, ServiceNote> {
        self.service_log.get_or_insert_with(Vec::new).drain(..)
    }

    /// Moves the service events since the last drain into `buf` (cleared first), handing
    /// the engine `buf`'s storage to fill next: no allocation once both have grown.
    pub fn swap_service_events(&mut self, buf: &mut Vec<ServiceNote>) {
        buf.clear();
        std::mem::swap(self.service_log.get_or_insert_with(Vec::new), buf);
    }

    /// Counts the bytes (IPv4 total length) each interface puts on its link, from now on.
    pub fn set_link_counters(&mut self, on: bool) {
        self.link_counting = on;
        for port in &mut self.ports {
            port.bytes = 0;
        }
    }

    /// Bytes each interface has put on its link since counting started (in `IfaceId`
    /// order); nothing when not counting.
    pub fn link_bytes(&self) -> impl ExactSizeIterator<Item = u64> + '_ {
        let ports = if self.link_counting { &self.ports[..] } else { &[] };
        ports.iter().map(|p| p.bytes)
    }

    /// The service `id`, to read its state.
    pub fn service(&self, id: ServiceId) -> &Service {
        &self.services[id.0 as usize].service
    }

    /// Gives `f` the service and the current time (to issue a command such as "allocate"),
    /// then sends what it produced.
    pub fn command<R>(&mut self, id: ServiceId, f: impl FnOnce(&mut Service, SimTime) -> R) -> R {
        let now = self.now;
        let r = f(&mut self.services[id.0 as usize].service, now);
        self.poll_service(id);
        r
    }

    /// As `command`, for a command that says whether it left the service anything to poll
    /// (the second value `f` returns): when it says not, the service is not polled, which
    /// spares reading all of it (an endpoint's every TURN client) for each packet a driver
    /// sends. Debug builds check the claim: nothing to send, no event, the same timer.
    pub fn command_polling_if<R>(&mut self, id: ServiceId, f: impl FnOnce(&mut Service, SimTime) -> (R, bool)) -> R {
        let now = self.now;
        let h = &mut self.services[id.0 as usize];
        #[cfg(debug_assertions)]
        let timer = h.service.poll_timeout();
        let (r, poll) = f(&mut h.service, now);
        if poll {
            self.poll_service(id);
        } else {
            #[cfg(debug_assertions)]
            {
                let h = &mut self.services[id.0 as usize];
                assert_eq!(h.armed, timer.map(|t| t.max(now)), "a poll would have re-armed the timer");
                let s = &mut h.service;
                assert_eq!(s.poll_timeout(), timer, "a quiet command moved the service's timer");
                assert!(s.poll_transmit().is_none(), "a quiet command left a datagram to send");
                assert!(s.poll_event().is_none(), "a quiet command left an event");
            }
        }
        r
    }

    /// Starts the A/V relay of every Edge: a TURN server (which also answers STUN Binding)
    /// on UDP and TCP on both the internal and the external interface, relaying from the
    /// external interface and advertising the configured public address. Returns the
    /// services in node order.
    pub fn start_edges(&mut self) -> Vec<(NodeId, ServiceId)> {
        let topo = self.topo;
        let mut out = Vec::new();
        for n in &topo.nodes {
            let Some(edge) = &n.roles.edge else { continue };
            let faces = [topo.iface(edge.internal).addr, topo.iface(edge.external).addr];
            let cfg = TurnServerConfig {
                udp: faces.iter().map(|&a| SocketAddrV4::new(a, edge.udp_port)).collect(),
                tcp: faces.iter().map(|&a| SocketAddrV4::new(a, edge.tcp_port)).collect(),
                relay_interface: faces[1],
                relay_advertised: edge.advertised,
                relay_ports: edge.relay_ports.clone(),
                realm: edge.realm.clone(),
                secret: edge.secret.clone().into_bytes(),
                seed: self.seed_for(&format!("turn/{}", n.name)),
                software: Some("icepath A/V Edge".to_string()),
                ..TurnServerConfig::new(SocketAddrV4::new(faces[1], edge.udp_port), faces[1], &edge.realm, b"")
            };
            let id = self.attach(n.id, Service::Turn(Box::new(TurnServer::new(cfg))));
            out.push((n.id, id));
        }
        out
    }

    /// Starts signaling: a registrar on every node some client registers with or that has
    /// an upstream (listening on TCP 5061 on each of its addresses), and a user agent on
    /// every client, which registers at once. Returns the user agents by node.
    pub fn start_signaling(&mut self) -> BTreeMap<NodeId, ServiceId> {
        self.start_registrars();
        let mut agents = BTreeMap::new();
        for n in &self.topo.nodes {
            let Some(id) = self.attach_user_agent(n.id) else { continue };
            self.command(id, |s, now| {
                if let Service::UserAgent(u) = s {
                    u.register(now);
                }
            });
            agents.insert(n.id, id);
        }
        agents
    }

    /// The registrars of `start_signaling`: one on every node some client registers with
    /// or that has an upstream, listening on TCP 5061 on each of its addresses.
    pub fn start_registrars(&mut self) {
        let topo = self.topo;
        let first_addr = |n: NodeId| topo.node(n).ifaces.first().map(|&i| topo.iface(i).addr);
        let mut registrars: BTreeSet<NodeId> = BTreeSet::new();
        for n in &topo.nodes {
            if let Some(sip) = &n.roles.sip {
                registrars.extend(sip.registrar);
                if sip.upstream.is_some() {
                    registrars.insert(n.id);
                }
            }
        }
        for &r in &registrars {
            let n = topo.node(r);
            let listen = n.ifaces.iter().map(|&i| SocketAddrV4::new(topo.iface(i).addr, SIP_PORT)).collect();
            let upstream = n.roles.sip.as_ref().and_then(|s| s.upstream).and_then(|up| {
                let to = first_addr(up)?;
                let (via, _) = egress(topo, r, to)?;
                Some((SocketAddrV4::new(topo.iface(via).addr, SIP_PORT), SocketAddrV4::new(to, SIP_PORT)))
            });
            self.attach(r, Service::Registrar(Box::new(Registrar::new(listen, upstream))));
        }
    }

    /// Attaches the user agent of client `node` (not yet registered), talking to its
    /// registrar as `start_signaling` would; `None` for a node without a registrar or
    /// without a route to it.
    pub fn attach_user_agent(&mut self, node: NodeId) -> Option<ServiceId> {
        let topo = self.topo;
        let first_addr = |n: NodeId| topo.node(n).ifaces.first().map(|&i| topo.iface(i).addr);
        let n = topo.node(node);
        let sip = n.roles.sip.as_ref()?;
        let reg = sip.registrar?;
        // External users reach an Access Edge at its published address.
        // Others on a segment they share with the client (a PSTN gateway knows its
        // Mediation Server by the NIC on their segment), else at the first of their
        // addresses the client has a route to.
        let target = match self.edge_public.get(&reg).copied() {
            Some(public) => Some(public),
            None => {
                let addrs: Vec<_> = topo.node(reg).ifaces.iter().map(|&i| topo.iface(i).addr).collect();
                let on_link = |a: &std::net::Ipv4Addr| n.ifaces.iter().any(|&i| topo.iface(i).net.contains(a));
                addrs
                    .iter()
                    .find(|a| on_link(a))
                    .or_else(|| addrs.iter().find(|&&a| egress(topo, n.id, a).is_some()))
                    .copied()
                    .or_else(|| first_addr(reg))
            }
        };
        let target = target?;
        let (via, _) = egress(topo, n.id, target)?;
        let local = SocketAddrV4::new(topo.iface(via).addr, SIP_CLIENT_PORT);
        let ua = UserAgent::new(&sip.user, local, SocketAddrV4::new(target, SIP_PORT));
        Some(self.attach(node, Service::UserAgent(Box::new(ua))))
    }

    /// Where the internet reaches Edge `edge` (`Topology::edge_public_address`, looked up
    /// once per run); `None` for a node that is not an Edge.
    pub fn edge_public_address(&self, edge: NodeId) -> Option<Ipv4Addr> {
        self.edge_public.get(&edge).copied()
    }

    /// A deterministic per-component seed for endpoints that number their transactions.
    pub fn seed_for(&self, label: &str) -> u64 {
        self.rng.fork(label).next_u64()
    }

    /// Sends what a service produced, records its events and re-arms its timer.
    fn poll_service(&mut self, id: ServiceId) {
        let now = self.now;
        loop {
            let h = &mut self.services[id.0 as usize];
            let node = h.node;
            if let Some(d) = h.service.poll_transmit() {
                self.send_at(now, node, d);
                continue;
            }
            if let Some(ev) = h.service.poll_event() {
                note_event(
                    &mut self.service_log,
                    &mut self.rtp_log,
                    &mut self.trace,
                    ServiceNote { at: now, node, service: id, event: ev },
                );
                continue;
            }
            break;
        }
        let h = &mut self.services[id.0 as usize];
        match h.service.poll_timeout() {
            Some(t) if h.armed != Some(t.max(now)) => {
                let t = t.max(now);
                h.armed = Some(t);
                self.queue.push(t, Event::Timer { service: id }.into());
            }
            Some(_) => {}
            None => h.armed = None,
        }
    }

    /// A packet arrives on `iface`: NAT and tunnel handling, then routing.
    fn arrive(&mut self, slot: u32, iface: IfaceId) {
        let hot = self.ports[iface.0 as usize].hot;
        let node = hot.node;
        // Tunnel packets for this device are its own business, before any NAT lookup (an
        // IPsec peer terminating on a NAT box's public address).
        if self.nodes[node.0 as usize].bits & TUNNEL_END != 0
            && !hot.is_tunnel
            && let Some(end) = self.tunnel_end_for(node, slot)
        {
            return self.decapsulate(slot, node, iface, end);
        }
        if let Some(nat) = self.nodes[node.0 as usize].nat.as_mut() {
            let p = self.packets[slot as usize].as_mut().expect("invariant: an event's packet is in flight");
            let dst = *p.datagram.dst.ip();
            let outcome = if iface == nat.config().outside {
                // Inbound translation before routing (RFC 4787 §5), like DNAT in PREROUTING.
                nat.inbound(self.now, &mut p.datagram)
            } else if nat.owns_external(dst) {
                // Hairpinning (RFC 4787 §6): translate the source as if leaving, then the
                // destination as if arriving, so the inside peer sees the external source.
                if !nat.config().behavior.hairpinning {
                    return self.drop_packet(slot, DropReason::NatNoHairpin { node, iface });
                }
                let before = (p.datagram.src, p.datagram.dst);
                match nat.outbound(self.now, &mut p.datagram) {
                    NatOutcome::Refused(refusal) => {
                        return self.drop_packet(slot, DropReason::NatRefused { node, iface, refusal });
                    }
                    _ => match nat.inbound(self.now, &mut p.datagram) {
                        NatOutcome::Translated { action, .. } => NatOutcome::Translated { action, before },
                        other => other,
                    },
                }
            } else {
                NatOutcome::PassThrough
            };
            if !self.nat_outcome(slot, node, iface, outcome) {
                return;
            }
        }
        self.route(slot, node, Some(iface));
    }

    /// Routes a packet at `node` (arrived on `arrived_on`, or sent by the node itself) and
    /// carries out the verdict: local delivery through the host firewall, or forwarding
    /// through the network firewall, NAT and tunnels onto a link.
    fn route(&mut self, slot: u32, node: NodeId, arrived_on: Option<IfaceId>) {
        let topo = self.topo;
        let p = self.packets[slot as usize].as_mut().expect("invariant: an event's packet is in flight");
        let id = p.id;
        let dst = *p.datagram.dst.ip();
        let state = &mut self.nodes[node.0 as usize];
        let bits = state.bits;
        let resolved = match state.last {
            // Addressed to the interface it came in on: delivered here, whatever else the
            // node routes (a host's own traffic alternates with what it receives).
            _ if arrived_on.is_some_and(|i| self.ports[i.0 as usize].hot.addr == dst) => Resolved::Local,
            // A host sends most of its packets to one peer: the memo answers without a
            // probe into the node's forwarding map.
            Some((to, r)) if to == dst => r,
            _ => {
                let r = match state.resolved.get_or_insert_with(|| Box::new(Resolver::Seen(Vec::new()))).as_mut() {
                    Resolver::Fib(fib) => fib.lookup(dst),
                    Resolver::Seen(seen) => match seen.iter().find(|&&(a, _)| a == dst) {
                        Some(&(_, r)) => r,
                        None => {
                            let r = resolve(topo, node, dst);
                            if seen.len() < FIB_AFTER {
                                seen.push((dst, r));
                            } else {
                                state.resolved = Some(Box::new(Resolver::Fib(Fib::build(topo, node))));
                            }
                            r
                        }
                    },
                };
                debug_assert_eq!(r, resolve(topo, node, dst), "the forwarding memory of {node:?} disagrees for {dst}");
                state.last = Some((dst, r));
                r
            }
        };
        match decide(resolved, bits & FORWARDS != 0, node, arrived_on, &mut p.datagram) {
            Verdict::Drop(reason) => self.drop_packet(slot, reason),
            Verdict::Deliver => {
                if let Some(iface) = arrived_on {
                    // A host checks what reaches it with its own rules; a firewall or router
                    // checks traffic to its own addresses with its rule set, as an input
                    // crossing (no outgoing interface, so `out:` rules do not match it).
                    let passed = if bits & HOST_STYLE != 0 {
                        self.host_filter(slot, node, iface, Direction::In)
                    } else {
                        self.network_filter(slot, node, iface, None)
                    };
                    if !passed {
                        return;
                    }
                }
                self.deliver(slot, node, arrived_on);
            }
            Verdict::Forward { via, to } => {
                let ttl = p.datagram.ttl;
                match arrived_on {
                    Some(iface) => {
                        let now = self.now;
                        self.trace.forwarded(|| Record::Forwarded {
                            at: now,
                            packet: id,
                            node,
                            arrived_on: iface,
                            ttl,
                        });
                        if !self.network_filter(slot, node, iface, Some(via)) {
                            return;
                        }
                    }
                    None => {
                        if !self.host_filter(slot, node, via, Direction::Out) {
                            return;
                        }
                    }
                }
                self.leave(slot, node, arrived_on, via, to);
            }
        }
    }

    /// The last steps on `node` before the wire: outbound NAT, tunnel encapsulation, MTU,
    /// then the link.
    fn leave(&mut self, slot: u32, node: NodeId, arrived_on: Option<IfaceId>, via: IfaceId, to: IfaceId) {
        let topo = self.topo;
        if let Some(nat) = self.nodes[node.0 as usize].nat.as_mut() {
            let p = self.packets[slot as usize].as_mut().expect("invariant: an event's packet is in flight");
            // Packets the box sends from its own address (tunnel outer packets, its own
            // traffic) keep their source; forwarded inside traffic is translated.
            let own = arrived_on.is_none() && topo.is_local(node, *p.datagram.src.ip());
            if via == nat.config().outside && arrived_on != Some(via) && !own {
                let outcome = nat.outbound(self.now, &mut p.datagram);
                if !self.nat_outcome(slot, node, via, outcome) {
                    return;
                }
            }
        }
        let port = &mut self.ports[via.0 as usize];
        if port.hot.is_tunnel {
            return self.encapsulate(slot, node, arrived_on, via, to);
        }
        let p = self.packets[slot as usize].as_ref().expect("invariant: an event's packet is in flight");
        let (id, size, dont_fragment) = (p.id, p.datagram.wire_len() as u32, p.datagram.dont_fragment);
        let link = port.hot.link;
        if size > port.props.mtu {
            let reason = DropReason::MtuExceeded { node, iface: via, size, mtu: port.props.mtu, dont_fragment };
            return self.drop_packet(slot, reason);
        }
        match port.tx.transmit(self.now, &port.props, size) {
            Ok(transit) => {
                // Counted whether or not anyone asked: the line is in cache, a test is not cheaper.
                port.bytes += size as u64;
                if let Some(c) = self.capture.as_mut() {
                    c.push((self.now, self.packets[slot as usize].as_ref().expect("in flight").datagram.clone()));
                }
                let now = self.now;
                self.trace.detail(|| Record::Transmitted { at: now, packet: id, link, from: via, to, transit });
                self.queue.push(self.now + transit.total(), Event::Arrive { slot, iface: to }.into());
            }
            Err(LinkDrop::QueueFull) => self.drop_packet(slot, DropReason::QueueFull { link, iface: via }),
            Err(LinkDrop::Lost) => self.drop_packet(slot, DropReason::LinkLoss { link, iface: via }),
        }
    }

    /// Records what a NAT did to the packet, or drops it. Returns false when dropped.
    fn nat_outcome(&mut self, slot: u32, node: NodeId, iface: IfaceId, outcome: NatOutcome) -> bool {
        match outcome {
            NatOutcome::Translated { action, before } => {
                let p = self.packet(slot);
                let (id, after) = (p.id, (p.datagram.src, p.datagram.dst));
                let now = self.now;
                self.trace.detail(|| Record::Translated { at: now, packet: id, node, action, before, after });
                true
            }
            NatOutcome::PassThrough => true,
            NatOutcome::Refused(refusal) => {
                self.drop_packet(slot, DropReason::NatRefused { node, iface, refusal });
                false
            }
        }
    }

    /// Host firewalls (hosts, Edge and DNS servers) decide traffic to and from the node.
    /// Returns false when the packet was dropped.
    fn host_filter(&mut self, slot: u32, node: NodeId, iface: IfaceId, direction: Direction) -> bool {
        if self.nodes[node.0 as usize].bits & HOST_STYLE == 0 {
            return true;
        }
        let topo = self.topo;
        let Some(fw) = self.nodes[node.0 as usize].firewall.as_mut() else { return true };
        let p = self.packets[slot as usize].as_ref().expect("invariant: an event's packet is in flight");
        let port = match direction {
            Direction::Out => p.datagram.src.port(),
            Direction::In => p.datagram.dst.port(),
        };
        let app = self.sockets.get(&(node, p.datagram.protocol(), port)).map(|&i| self.apps[i as usize].as_str());
        let f = topo.iface(iface);
        let crossing = Crossing {
            direction: Some(direction),
            in_iface: (direction == Direction::In).then_some(iface),
            out_iface: (direction == Direction::Out).then_some(iface),
            iface_type: Some(f.iface_type),
            profile: Some(f.profile),
            app,
        };
        let verdict = fw.check(self.now, &p.datagram, &crossing);
        self.firewall_outcome(slot, node, iface, verdict, Some(direction))
    }

    /// Network firewalls (firewall nodes and routers with rules) decide forwarded traffic,
    /// and traffic to their own addresses (`via` is `None`).
    fn network_filter(&mut self, slot: u32, node: NodeId, arrived_on: IfaceId, via: Option<IfaceId>) -> bool {
        if self.nodes[node.0 as usize].bits & HOST_STYLE != 0 {
            return true;
        }
        let Some(fw) = self.nodes[node.0 as usize].firewall.as_mut() else { return true };
        let p = self.packets[slot as usize].as_ref().expect("invariant: an event's packet is in flight");
        let crossing = Crossing {
            direction: None,
            in_iface: Some(arrived_on),
            out_iface: via,
            iface_type: None,
            profile: None,
            app: None,
        };
        let verdict = fw.check(self.now, &p.datagram, &crossing);
        self.firewall_outcome(slot, node, arrived_on, verdict, None)
    }

    fn firewall_outcome(
        &mut self,
        slot: u32,
        node: NodeId,
        iface: IfaceId,
        verdict: FirewallVerdict,
        direction: Option<Direction>,
    ) -> bool {
        let id = self.packet(slot).id;
        match verdict.action {
            Action::Allow => {
                let now = self.now;
                self.trace.detail(|| Record::Allowed { at: now, packet: id, node, decider: verdict.decider });
                true
            }
            Action::Deny => {
                let rule = match verdict.decider {
                    Decider::Rule(i) => Some(i),
                    _ => None,
                };
                self.drop_packet(slot, DropReason::Firewall { node, iface, rule, direction });
                false
            }
        }
    }

    /// Which tunnel, if any, terminates at `node` for this packet: it is addressed to the
    /// node on a tunnel port and comes from where the tunnel's far end lives.
    fn tunnel_end_for(&self, node: NodeId, slot: u32) -> Option<TunnelEnd> {
        let topo = self.topo;
        let n = topo.node(node);
        let d = &self.packet(slot).datagram;
        if d.protocol() != Protocol::Udp || !topo.is_local(node, *d.dst.ip()) {
            return None;
        }
        let port = d.dst.port();
        if let Some(c) = &n.roles.concentrator {
            // Any client of this concentrator using this port.
            let enc = topo.links[topo.iface(c.tunnel).link.0 as usize]
                .members
                .iter()
                .filter_map(|&m| topo.node(topo.iface(m).node).roles.vpn.as_ref())
                .map(|v| v.encapsulation)
                .find(|e| e.port == port)?;
            return Some(TunnelEnd { iface: c.tunnel, encapsulation: enc });
        }
        if let Some(v) = &n.roles.vpn
            && v.encapsulation.port == port
            && *d.src.ip() == v.server
        {
            return Some(TunnelEnd { iface: v.iface, encapsulation: v.encapsulation });
        }
        n.roles
            .site_tunnels
            .iter()
            .find(|t| t.encapsulation.port == port && *d.src.ip() == t.remote)
            .map(|t| TunnelEnd { iface: t.iface, encapsulation: t.encapsulation })
    }

    /// Unwraps a tunnel packet that arrived on `iface` and hands the inner packet to the
    /// tunnel interface (after the crypto engine, on a concentrator).
    fn decapsulate(&mut self, slot: u32, node: NodeId, iface: IfaceId, end: TunnelEnd) {
        let topo = self.topo;
        let p = self.packets[slot as usize].as_ref().expect("invariant: an event's packet is in flight");
        let outer_src = p.datagram.src;
        let id = p.id;
        let payload = match tunnel::decapsulate(&p.datagram, end.encapsulation) {
            Ok(x) => x,
            Err(_) => return self.drop_packet(slot, DropReason::TunnelMalformed { node, iface }),
        };
        let is_concentrator = topo.node(node).roles.concentrator.is_some();
        let inner = match payload {
            TunnelPayload::Hello { inner } => {
                if is_concentrator {
                    self.learn_session(node, inner, outer_src);
                }
                return self.deliver(slot, node, Some(iface));
            }
            TunnelPayload::Data(inner) => inner,
        };
        let mut delay = SimDuration::ZERO;
        if is_concentrator {
            self.learn_session(node, *inner.src.ip(), outer_src);
            match self.crypto_delay(node) {
                Some(d) => delay = d,
                None => return self.drop_packet(slot, DropReason::ConcentratorBusy { node }),
            }
        }
        let tunnel = topo.iface(end.iface).link;
        let now = self.now;
        self.trace.detail(|| Record::Decapsulated {
            at: now,
            packet: id,
            node,
            tunnel,
            inner: PacketSummary::of(&inner),
            delay,
        });
        self.packets[slot as usize].as_mut().expect("invariant: in flight").datagram = inner;
        self.queue.push(self.now + delay, Event::Arrive { slot, iface: end.iface }.into());
    }

    fn learn_session(&mut self, node: NodeId, inner: Ipv4Addr, outer: SocketAddrV4) {
        let now = self.now;
        self.sessions.entry((node, inner)).and_modify(|s| s.outer = outer).or_insert(VpnSession {
            concentrator: node,
            inner,
            outer,
            since: now,
        });
    }

    /// Wraps a packet leaving by tunnel interface `via` toward tunnel member `to`, and
    /// sends the outer packet from `node` (after the crypto engine, on a concentrator).
    fn encapsulate(&mut self, slot: u32, node: NodeId, arrived_on: Option<IfaceId>, via: IfaceId, to: IfaceId) {
        let topo = self.topo;
        let n = topo.node(node);
        let (src, dst, enc) = if let Some(c) = n.roles.concentrator.as_ref().filter(|c| c.tunnel == via) {
            if arrived_on == Some(via) && !c.hairpin {
                return self.drop_packet(slot, DropReason::VpnHairpinBlocked { node });
            }
            let client = topo.iface(to);
            let Some(enc) = topo.node(client.node).roles.vpn.as_ref().map(|v| v.encapsulation) else {
                return self.drop_packet(slot, DropReason::TunnelNotEstablished { node, peer: to });
            };
            let Some(session) = self.sessions.get(&(node, client.addr)) else {
                return self.drop_packet(slot, DropReason::TunnelNotEstablished { node, peer: to });
            };
            (SocketAddrV4::new(topo.iface(c.outside).addr, enc.port), session.outer, enc)
        } else if let Some(v) = n.roles.vpn.as_ref().filter(|v| v.iface == via) {
            let Some((under, _)) = egress(topo, node, v.server).filter(|(i, _)| !topo.iface(*i).is_tunnel) else {
                return self.drop_packet(slot, DropReason::TunnelLoop { node, iface: via });
            };
            let port = v.encapsulation.port;
            (SocketAddrV4::new(topo.iface(under).addr, port), SocketAddrV4::new(v.server, port), v.encapsulation)
        } else if let Some(t) = n.roles.site_tunnels.iter().find(|t| t.iface == via) {
            let port = t.encapsulation.port;
            (SocketAddrV4::new(t.local, port), SocketAddrV4::new(t.remote, port), t.encapsulation)
        } else {
            return self.drop_packet(slot, DropReason::TunnelNotEstablished { node, peer: to });
        };
        self.tunnel_seq = self.tunnel_seq.wrapping_add(1);
        let p = self.packets[slot as usize].as_mut().expect("invariant: an event's packet is in flight");
        let outer = tunnel::encapsulate(&p.datagram, src, dst, enc, self.tunnel_seq);
        if egress(topo, node, *outer.dst.ip()).is_some_and(|(i, _)| topo.iface(i).is_tunnel) {
            return self.drop_packet(slot, DropReason::TunnelLoop { node, iface: via });
        }
        let id = p.id;
        let tunnel = topo.iface(via).link;
        let now = self.now;
        self.trace.detail(|| Record::Encapsulated {
            at: now,
            packet: id,
            node,
            tunnel,
            outer: PacketSummary::of(&outer),
        });
        p.datagram = outer;
        let Some(delay) = self.crypto_delay(node) else {
            return self.drop_packet(slot, DropReason::ConcentratorBusy { node });
        };
        if delay == SimDuration::ZERO {
            self.route(slot, node, None);
        } else {
            self.queue.push(self.now + delay, Event::Egress { slot, node }.into());
        }
    }

    /// How long concentrator `node`'s crypto engine holds one more packet (nothing on a node
    /// without one); `None` when its packet budget is spent.
    fn crypto_delay(&mut self, node: NodeId) -> Option<SimDuration> {
        match self.crypto.get_mut(&node) {
            Some(c) => c.admit(self.now),
            None => Some(SimDuration::ZERO),
        }
    }

    /// Records a delivery and, when echoing, sends the reply back where it came from.
    fn deliver(&mut self, slot: u32, node: NodeId, iface: Option<IfaceId>) {
        let p = self.packets[slot as usize].take().expect("invariant: an event's packet is in flight");
        self.free.push(slot);
        let now = self.now;
        self.trace.delivered(|| Record::Delivered {
            at: now,
            packet: p.id,
            node,
            iface,
            summary: PacketSummary::of(&p.datagram),
        });
        let (protocol, dst) = (p.datagram.protocol(), p.datagram.dst);
        let listeners = &self.nodes[node.0 as usize].listeners;
        let listener = listeners.iter().find(|l| l.listen.matches(protocol, dst)).map(|l| l.service);
        debug_assert_eq!(
            listener,
            {
                let mut ids: Vec<ServiceId> = listeners.iter().map(|l| l.service).collect();
                ids.dedup();
                ids.into_iter().find(|id| self.services[id.0 as usize].service.listens(protocol, dst))
            },
            "invariant: the node's socket list answers as its services would"
        );
        if let Some(id) = listener {
            match self.services[id.0 as usize].service.handle_packet(self.now, p.datagram) {
                Handled::Ran => self.poll_service(id),
                Handled::Event(event) => {
                    let n = ServiceNote { at: now, node, service: id, event };
                    note_event(&mut self.service_log, &mut self.rtp_log, &mut self.trace, n);
                }
            }
            return;
        }
        if self.echo && !self.replies.contains(&p.id) && !is_tunnel_hello(&p.datagram) {
            let mut reply = p.datagram;
            std::mem::swap(&mut reply.src, &mut reply.dst);
            reply.ttl = Datagram::DEFAULT_TTL;
            if let Transport::Tcp(h) = &mut reply.transport {
                *h = TcpHeader {
                    seq: h.ack,
                    ack: h.seq.wrapping_add(1),
                    flags: TcpFlags(TcpFlags::SYN.0 | TcpFlags::ACK.0),
                    window: h.window,
                };
            }
            let id = self.send_at(self.now, node, reply);
            self.replies.insert(id);
        }
    }

    /// Records every datagram as it goes onto a link (the view of a capture on every
    /// interface at once: a packet appears once per hop, showing each translation).
    pub fn set_capture(&mut self, on: bool) {
        self.capture = on.then(Vec::new);
    }

    /// The captured datagrams, in time order.
    pub fn captured(&self) -> &[(SimTime, Datagram)] {
        self.capture.as_deref().unwrap_or_default()
    }

    /// Media-relay credentials for `user` as the Edge's MRAS would issue them: derived from
    /// the Edge pool's secret, valid for `validity` (Lync: 8 hours) from now.
    pub fn mras_credentials(&self, edge: NodeId, user: &str, validity: SimDuration) -> Option<RestCredential> {
        let e = self.topo.node(edge).roles.edge.as_ref()?;
        Some(RestCredential::issue(e.secret.as_bytes(), self.now + validity, user))
    }

    /// Makes every destination answer each packet it receives with one reply to the source
    /// it saw (addresses swapped, same payload), as an echo or STUN server would; replies are
    /// not answered. Shows return paths through NATs and stateful firewalls.
    pub fn set_echo(&mut self, echo: bool) {
        self.echo = echo;
    }

    /// Whether `id` is a reply sent because of `set_echo`.
    pub fn is_reply(&self, id: PacketId) -> bool {
        self.replies.contains(&id)
    }

    fn drop_packet(&mut self, slot: u32, reason: DropReason) {
        let id = self.packet(slot).id;
        self.trace.record(Record::Dropped { at: self.now, packet: id, reason });
        self.release(slot);
    }

    fn packet(&self, slot: u32) -> &InFlight {
        self.packets[slot as usize].as_ref().expect("invariant: an event's packet is in flight")
    }

    fn store(&mut self, p: InFlight) -> u32 {
        match self.free.pop() {
            Some(slot) => {
                self.packets[slot as usize] = Some(p);
                slot
            }
            None => {
                self.packets.push(Some(p));
                (self.packets.len() - 1) as u32
            }
        }
    }

    fn release(&mut self, slot: u32) {
        self.packets[slot as usize] = None;
        self.free.push(slot);
    }
}

/// Keeps a service's event for the driver or the trace: an RTP arrival in the compact log
/// when there is one (`Engine::set_rtp_log`); any other event in the driver's log when it
/// asked for one (`Engine::set_service_log`), else in the trace.
fn note_event(
    log: &mut Option<Vec<ServiceNote>>,
    rtp_log: &mut Option<Vec<RtpArrival>>,
    trace: &mut Trace,
    n: ServiceNote,
) {
    if let (Some(rtp), ServiceEvent::Media(MediaEvent::Media { rtp: Some(ids), .. })) = (rtp_log.as_mut(), &n.event) {
        rtp.push(RtpArrival { at: n.at, service: n.service, ids: *ids });
        return;
    }
    match log {
        Some(log) => log.push(n),
        None => trace.record(Record::Service { at: n.at, node: n.node, service: n.service, event: n.event }),
    }
}

/// Events the engine holds in the queue's window (`Ahead`) to prefetch for, and how far
/// ahead of the clock they may be (see `Ahead::fill`).
const AHEAD: usize = 8;
const AHEAD_SPAN: SimDuration = SimDuration::from_micros(10);

/// A hint to bring `r`'s cache line in (nothing if `None` or not on x86-64).
#[inline(always)]
fn prefetch<T>(r: Option<&T>) {
    #[cfg(target_arch = "x86_64")]
    if let Some(r) = r {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: `_mm_prefetch` needs SSE, which every x86-64 processor has (it is in the
        // target's baseline), and a prefetch only hints: it reads nothing into the program
        // and cannot fault, here on an address taken from a live reference.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((r as *const T).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

/// What the engine keeps per node for the hops through it: one cache line.
#[derive(Debug)]
#[repr(align(64))]
struct NodeState {
    /// NAT and firewall state: boxed, so the many nodes without them cost a pointer each
    /// rather than the state's size.
    nat: Option<Box<Nat>>,
    firewall: Option<Box<Firewall>>,
    /// Where the services attached here listen (`Service::sockets`), in attach order
    /// (detached ones removed): a delivery goes to the first that matches, reading this list
    /// and then only the service it picks. Rebuilt on attach and detach, which are rare
    /// beside deliveries.
    listeners: Box<[Listener]>,
    /// `FORWARDS`, `HOST_STYLE` and `TUNNEL_END`: what every hop asks of its node, without
    /// a read of the whole topology `Node`.
    bits: u8,
    /// The last destination routed here and what `forward::resolve` said of it.
    last: Option<(Ipv4Addr, Resolved)>,
    /// What the node does with packets for each destination (`forward::resolve`), made on
    /// the first miss of `last`. The topology does not change during a run, so neither
    /// does the answer. One table per node rather than one for the run: a busy router's
    /// entries stay together (and in cache) instead of being spread over a table holding
    /// every node's.
    resolved: Option<Box<Resolver>>,
}

/// A node's memory of `forward::resolve`: the destinations it has seen, until there are
/// `FIB_AFTER` of them; then its compiled table (`forward::Fib`), whose size follows the
/// node's configuration rather than its traffic. Hosts and home routers talk to a handful
/// of addresses and keep the short list (a scan of a line or four, where a hash map read a
/// line of control bytes and then one of entries); a router in the middle of an enterprise
/// forwards to every public address there is, and a map of them all spread its lookups
/// over megabytes.
#[derive(Debug)]
enum Resolver {
    Seen(Vec<(Ipv4Addr, Resolved)>),
    Fib(Fib),
}

/// Destinations a node remembers one by one before it compiles its forwarding table.
const FIB_AFTER: usize = 16;

// A hop reads one line of its node and at most three of its interface.
const _: () = assert!(std::mem::size_of::<NodeState>() == 64);
const _: () = assert!(std::mem::size_of::<Port>() <= 192);

/// One entry of `NodeState::listeners`.
#[derive(Clone, Copy, Debug)]
struct Listener {
    listen: Listen,
    service: ServiceId,
}

/// `NodeState::bits`: the node routes packets not addressed to it.
const FORWARDS: u8 = 1;
/// `NodeState::bits`: the node filters with a host firewall (`is_host_style`).
const HOST_STYLE: u8 = 2;
/// `NodeState::bits`: a tunnel can end here (a concentrator, VPN client or site-to-site
/// end), so only these nodes look for one.
const TUNNEL_END: u8 = 4;

/// One interface as the hops through it see it: read on arrival (`hot`), and on the way
/// out also its link's properties and its transmitter. Copied out of the topology into one
/// dense, cache-line-aligned array, so a hop reads two or three neighbouring lines instead
/// of the topology's `Interface` and `Link` and a separate transmitter.
#[repr(align(64))]
struct Port {
    hot: IfaceHot,
    props: LinkProps,
    tx: LinkTx,
    /// Bytes put on the link since `set_link_counters` last reset them.
    bytes: u64,
}

/// What a hop reads of an interface on arrival.
#[derive(Clone, Copy, Debug)]
struct IfaceHot {
    node: NodeId,
    link: LinkId,
    addr: Ipv4Addr,
    is_tunnel: bool,
}

/// Where a tunnel packet is unwrapped: the tunnel interface the inner packet arrives on.
#[derive(Clone, Copy, Debug)]
struct TunnelEnd {
    iface: IfaceId,
    encapsulation: Encapsulation,
}

fn is_tunnel_hello(d: &Datagram) -> bool {
    matches!(tunnel::decapsulate(d, Encapsulation::IPSEC), Ok(TunnelPayload::Hello { .. }))
}

/// Hosts, Edge servers and DNS servers filter what they send and receive (host firewall);
/// the other kinds filter what they forward (network firewall).
fn is_host_style(kind: NodeKind) -> bool {
    matches!(kind, NodeKind::Host | NodeKind::Edge | NodeKind::Dns)
}

#[cfg(test)]
mod tests;
