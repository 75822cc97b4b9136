//! Differential testing (issue 5): an independent sans-IO ICE agent — str0m's `is` crate,
//! the agent inside the str0m WebRTC stack — places the caller's side of every call of the
//! NAT matrix (`topologies/nat-matrix.yaml`, with the Edge relay) against OUR agent on the
//! callee's side (MS-ICE2, controlled), across the same simulated network, and the winning
//! pair's candidate types are compared with the table of `tests/nat_matrix.rs`.
//!
//! # How the foreign agent is hosted (no change to `src/`)
//!
//! The engine hands delivered packets to services only, and a `Record::Delivered` carries
//! no payload. But with capturing on and the trace at `TraceLevel::Hops`, every datagram put
//! onto a link is captured (with its bytes) exactly when a `Record::Transmitted` naming its
//! `PacketId` is recorded, so zipping the two gives each packet's bytes on its last hop,
//! i.e. as delivered. The adapter steps the engine in small slices (`STEP`), feeds the
//! foreign agent what was delivered to its node (at the delivery time), and sends what it
//! transmits with `Engine::send_at` (at the end of the slice: responses are late by at most
//! `STEP`). Server-reflexive and relayed candidates come from our `TurnClient`s, attached
//! as services on the caller's node exactly as the call driver configures them (UDP on the
//! media socket 50000, TCP on 50001); checks from a relayed candidate go out through them
//! (`TurnClient::send`), and what the relay brings back (`TurnClientEvent::Data`, recorded
//! in the trace with its bytes) is handed to the agent as arriving on the relayed address.
//!
//! # Time and randomness
//!
//! `is` takes `std::time::Instant`. One `Instant` base is created per call and only ever
//! advanced by `SimTime` offsets (`base + sim_ns`), so the agent sees virtual time only and
//! its decisions do not depend on the wall clock. Its ICE credentials and tie-breaker are
//! set from fixed values; its STUN transaction ids come from `fastrand`'s thread-local
//! generator (through `str0m-proto`), which the adapter seeds before each call, so a run's
//! packets are byte-identical every time (`the_foreign_run_is_deterministic`).
//!
//! # Schedule
//!
//! No SIP is run: the candidates are exchanged in the test. To keep the timing of the
//! checks the same as in a real call, the schedule of each cell is taken from our own call
//! (`run_call`, seed 1) between the same sites: when the callee received the INVITE (it
//! starts gathering), when it answered (it starts checking: 2 s later), and when the caller
//! received the 183 (it starts checking), each rounded up to the call driver's 5 ms loop.
//!
//! The differences found, cell by cell, are explained at `differences()` (with the relay:
//! one of 30, `sym -> prc`, a ranking difference from the relay type preference; without
//! the relay: none).
//!
//! # What differs between the agents without changing a winner
//!
//! - Nomination: `is` (controlling) nominates the highest-priority pair that has succeeded
//!   and re-nominates whenever a better one succeeds ("nomination is not final"); MS-ICE2
//!   nominates aggressively. Both end on the best pair that ever works, which is why the
//!   table carries over (rc -> sym: `is` nominates three times, relay first).
//! - Pair ranking: `is` ranks the pair it checked (e.g. host <-> remote) rather than the
//!   valid pair built from the mapped address (srflx/prflx <-> remote); the winner here is
//!   classified as RFC 8445 §7.2.5.3.2 defines the valid pair, from the mapped address of
//!   the success response `is` received (the local candidate `is` itself holds for it).
//! - Priorities: `is` uses RFC 8445 with libwebrtc's type preferences (host 126, prflx 110,
//!   srflx 100, relay-over-UDP 2) and its own local-preference bands; relayed candidates are
//!   offered with UDP to the peer, the UDP allocation first, so its counter ranks it above
//!   the TCP allocation, as MS-ICE2's transport preference does.
//! - Timers: `is` paces checks at Ta = 50 ms with an initial RTO of 250 ms (max 3 s); ours
//!   (MS-ICE2) the RFC 8489 schedule from 500 ms.
//! - No SIP runs in this test, so the links carry no signaling bytes (the schedule still
//!   follows the real call's), and the foreign agent's answers leave up to `STEP` (100 µs)
//!   after the request arrived.

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::net::{SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use common::matrix::*;
use icepath::engine::{Service, ServiceEvent, ServiceId};
use icepath::proto::ice::{Candidate, Role};
use icepath::proto::{TurnClient, TurnClientEvent};
use icepath::scenario::{CallOutcome, CallSpec, run_call};
use icepath::schema::load_topology;
use icepath::topology::NodeId;
use icepath::trace::{PacketId, Record, TraceLevel};
use icepath::wire::{Datagram, Protocol};
use icepath::{Engine, Limits, SimDuration, SimRng, SimTime, Topology};

const MEDIA_PORT: u16 = 50000;
/// How far the engine runs before the foreign agent is given what arrived.
const STEP: SimDuration = SimDuration::from_micros(100);
/// The call driver's loop period (its commands land on this grid after the INVITE).
const DRIVER_LOOP: SimDuration = SimDuration::from_millis(5);
/// How long after the caller starts checking the foreign agent is watched.
const WATCH: SimDuration = SimDuration::from_secs(45);

/// The with-relay table of the NAT matrix (our agent on both sides, MS-ICE2), as the
/// caller sees the winner (`local <-> remote`).
fn ours(caller: &str, callee: &str) -> Win {
    expected(&with_relay_table(), caller, callee)
}

/// Where the foreign (str0m `is`, controlling) caller's winner differs from ours, and why
/// (the winner `is` selects, checked as such). Every other cell agrees.
fn differences(relays: bool, caller: &str, callee: &str) -> Option<(Win, &'static str)> {
    match (relays, caller, callee) {
        // Both candidate pairs work: `is`'s check from its host to our UDP relay succeeds
        // (mapped: a new sym mapping, so the valid pair is prflx <-> relay(UDP), our winner),
        // and so does its check from its UDP relay to prc's srflx. The order differs by the
        // priority formula alone. A pair's priority is led by its weaker candidate
        // (RFC 8445 §6.1.2.3). MS-ICE2 gives every relayed candidate type preference 0, so
        // between two MS-ICE2 agents both pairs share the same minimum (a relay with
        // transport preference UDP: 15859711) and the stronger candidate decides (prflx 110
        // > srflx 100): prflx <-> relay(UDP). `is` takes libwebrtc's type preferences,
        // relayed-over-UDP = 2 (its relay: 37748479 = 2·2^24 + …), so its own relay outranks
        // ours (15859711): relay(is) <-> srflx has minimum 37748479 and beats host/prflx <->
        // relay(ours) with minimum 15859711. Neither agent is wrong (type preferences are a
        // local choice, RFC 8445 §5.1.2.2); the two pairs are both relayed once, through the
        // same Edge.
        (true, "sym", "prc") => Some((
            Pair(RelayU, Srflx),
            "relay type preference: is 2 (libwebrtc) vs MS-ICE2 0, so is's relay outranks ours",
        )),
        _ => None,
    }
}

fn load(relays: bool) -> Topology {
    let text = std::fs::read_to_string(FILE).expect("reading the topology");
    // Without the relay: as tests/nat_matrix.rs, no laptop lists the Edge.
    let text = if relays { text } else { text.replace(", relay: edge01}", "}") };
    let loaded = load_topology(FILE, &text).unwrap_or_else(|e| panic!("{FILE} does not load: {e:?}"));
    loaded.topology
}

// ---------------------------------------------------------------------------------------
// The schedule, from our own call between the same sites.

struct Schedule {
    /// The caller starts gathering (the call driver: 2 s after signing in).
    caller_gather: SimTime,
    /// The caller's candidates are final (the INVITE leaves).
    invite: SimTime,
    callee_gather: SimTime,
    callee_checks: SimTime,
    caller_checks: SimTime,
}

fn on_driver_grid(invite: SimTime, t: SimTime) -> SimTime {
    let step = DRIVER_LOOP.as_nanos();
    let d = t.as_nanos().saturating_sub(invite.as_nanos());
    SimTime::from_nanos(invite.as_nanos() + d.div_ceil(step) * step)
}

fn schedule(o: &CallOutcome) -> Schedule {
    let at = |node: &str, what: &str| {
        o.timeline
            .iter()
            .find(|s| s.node == node && s.what == what)
            .unwrap_or_else(|| panic!("{node} {what}\n{}", o.to_text()))
            .at
    };
    // run_call: nothing to connect (no VPN), so the clients sign in at 0 and the caller
    // gathers from 2 s to 4 s, when the INVITE leaves.
    let caller_gather = SimTime::from_nanos(SimDuration::from_secs(2).as_nanos());
    let invite = SimTime::from_nanos(SimDuration::from_secs(4).as_nanos());
    let got_invite = at(&o.callee, "received INVITE");
    let got_183 = at(&o.caller, "received 183 to INVITE");
    let callee_gather = on_driver_grid(invite, got_invite);
    let answer = SimTime::from_nanos(got_invite.as_nanos() + SimDuration::from_secs(2).as_nanos());
    Schedule {
        caller_gather,
        invite,
        callee_gather,
        callee_checks: on_driver_grid(invite, answer),
        caller_checks: on_driver_grid(invite, got_183),
    }
}

// ---------------------------------------------------------------------------------------
// Gathering, as the call driver does it.

/// The TURN clients of a client, exactly as the call driver configures them (every client
/// of the matrix signs in to `fe` directly, so toward the Edge's internal NIC).
fn turn_clients(e: &Engine<'_>, topo: &Topology, node: NodeId) -> Vec<TurnClient> {
    icepath::scenario::relay_clients(e, topo, node, false)
}

fn bind_media(e: &mut Engine<'_>, node: NodeId) {
    for port in [MEDIA_PORT, MEDIA_PORT + 1] {
        e.bind_app(node, Protocol::Udp, port, "communicator.exe");
        e.bind_app(node, Protocol::Tcp, port, "communicator.exe");
    }
}

/// OUR side: the call driver's media endpoint (MS-ICE2), gathering from now.
fn start_ours(e: &mut Engine<'_>, topo: &Topology, node: NodeId, role: Role) -> ServiceId {
    let spec = CallSpec { connect_timeout: WATCH, ..CallSpec::new(node, node) };
    icepath::scenario::start_media(e, topo, &spec, node, role)
}

/// OUR side's offer, as the call driver makes it: ufrag, pwd, candidate lines.
fn offer_ours(e: &mut Engine<'_>, topo: &Topology, node: NodeId, media: ServiceId) -> (String, String, Vec<String>) {
    let o = icepath::scenario::local_offer(e, topo, node, media);
    let lines = o.lines.iter().map(|l| l.trim_start_matches("a=").to_string()).collect();
    (o.ufrag, o.pwd, lines)
}

// ---------------------------------------------------------------------------------------
// The foreign agent and its adapter.

struct Foreign {
    node: NodeId,
    agent: is::IceAgent,
    base: Instant,
    /// UDP then TCP TURN client services.
    turn: Vec<ServiceId>,
    /// Relayed address of each TURN client, once allocated.
    relayed: Vec<Option<SocketAddrV4>>,
    /// (arrived on, from) -> the mapped address of the last success response.
    mapped: BTreeMap<(SocketAddr, SocketAddr), SocketAddr>,
    /// The last `NominatedSend` (local base, remote).
    nominated: Option<(SocketAddr, SocketAddr)>,
    nominations: Vec<(SimTime, SocketAddr, SocketAddr)>,
}

impl Foreign {
    fn instant(&self, t: SimTime) -> Instant {
        self.base + Duration::from_nanos(t.as_nanos())
    }

    fn sim(&self, i: Instant) -> SimTime {
        SimTime::from_nanos(i.saturating_duration_since(self.base).as_nanos() as u64)
    }

    fn receive(&mut self, at: SimTime, proto: Protocol, src: SocketAddrV4, dst: SocketAddrV4, bytes: &[u8]) {
        let Ok(message) = is::stun::StunMessage::parse(bytes) else { return };
        if message.is_successful_binding_response()
            && let Some(m) = message.mapped_address()
        {
            self.mapped.insert((SocketAddr::V4(dst), SocketAddr::V4(src)), m);
        }
        let proto = match proto {
            Protocol::Udp => is::Protocol::Udp,
            Protocol::Tcp => is::Protocol::Tcp,
        };
        let packet =
            is::stun::StunPacket { proto, source: SocketAddr::V4(src), destination: SocketAddr::V4(dst), message };
        let now = self.instant(at);
        self.agent.handle_packet(now, packet);
    }

    /// Sends what the agent transmits (through the relay for relayed sources) and notes
    /// its nominations.
    fn flush(&mut self, e: &mut Engine<'_>) {
        while let Some(t) = self.agent.poll_transmit() {
            let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (t.source, t.destination) else { panic!("IPv4 only") };
            let bytes: Vec<u8> = t.contents.into();
            match self.relayed.iter().position(|r| *r == Some(src)) {
                Some(i) => e.command(self.turn[i], |s, now| {
                    if let Service::TurnClient(c) = s {
                        c.send(now, dst, &bytes);
                    }
                }),
                None => {
                    e.send_at(e.now(), self.node, Datagram::udp(src, dst, bytes));
                }
            }
        }
        while let Some(ev) = self.agent.poll_event() {
            if let is::IceAgentEvent::NominatedSend { source, destination, .. } = ev {
                self.nominated = Some((source, destination));
                self.nominations.push((e.now(), source, destination));
            }
        }
    }
}

fn turn_client<'a>(e: &'a Engine<'_>, id: ServiceId) -> &'a TurnClient {
    match e.service(id) {
        Service::TurnClient(c) => c,
        _ => unreachable!("a TURN client service"),
    }
}

/// The foreign winner's candidate types, as the caller sees them (RFC 8445 §7.2.5.3.2: the
/// valid pair's local candidate is the one whose address is the mapped address).
fn foreign_winner(f: &Foreign) -> Win {
    let Some((source, destination)) = f.nominated else { return Fail };
    classify(f, source, destination)
}

/// Every pair whose check succeeded for the foreign agent, classified as the winner is.
fn foreign_valid(f: &Foreign) -> Vec<Win> {
    let mut v: Vec<Win> = f.mapped.keys().map(|&(local, remote)| classify(f, local, remote)).collect();
    v.dedup();
    v
}

/// A pair sending from `source` (a base) to `destination`, by candidate types.
fn classify(f: &Foreign, source: SocketAddr, destination: SocketAddr) -> Win {
    let local = match f.relayed.iter().position(|r| r.map(SocketAddr::V4) == Some(source)) {
        Some(0) => RelayU,
        Some(_) => RelayT,
        None => {
            let mapped = f.mapped.get(&(source, destination)).copied().unwrap_or(source);
            let c = f.agent.local_candidates().find(|c| c.addr() == mapped).expect("the mapped address is a candidate");
            kind(c.kind(), None)
        }
    };
    let remote = f.agent.remote_candidates().find(|c| c.addr() == destination).expect("the remote is a candidate");
    Pair(local, kind(remote.kind(), Some(remote.prio())))
}

fn kind(k: is::CandidateKind, prio: Option<u32>) -> K {
    match k {
        is::CandidateKind::Host => Host,
        is::CandidateKind::ServerReflexive => Srflx,
        is::CandidateKind::PeerReflexive => Prflx,
        is::CandidateKind::Relayed => {
            // Our (MS-ICE2) relayed candidates: transport preference UDP 15, TCP 6 in bits 20-23.
            match (prio.expect("remote relays carry our priority") >> 20) & 0xF {
                15 => RelayU,
                6 => RelayT,
                t => panic!("unexpected transport preference {t}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// One call: foreign caller (controlling) -> our callee (controlled).

struct Run {
    win: Win,
    /// The pairs that worked for the foreign agent (their checks were answered).
    valid: Vec<Win>,
    /// Every datagram of the run as it went onto a link.
    capture: Vec<(SimTime, Datagram)>,
    /// When the foreign agent nominated (it may move to a better pair later).
    nominations: Vec<SimTime>,
    text: String,
}

fn foreign_call(topo: &Topology, caller: &str, callee: &str, sched: &Schedule) -> Run {
    let caller_node = topo.node_by_name(caller).expect("caller");
    let callee_node = topo.node_by_name(callee).expect("callee");
    // `is` draws its STUN transaction ids from fastrand's thread-local generator: seed it,
    // so the packets (not only the decisions) are the same on every run.
    fastrand::seed(1);
    let mut e = Engine::new(topo, SimRng::new(1), Limits::default(), TraceLevel::Hops);
    e.set_capture(true);
    e.start_edges();
    e.run_until(sched.caller_gather);

    // The foreign caller gathers with our TURN clients.
    bind_media(&mut e, caller_node);
    let mut turn = Vec::new();
    for c in turn_clients(&e, topo, caller_node) {
        let id = e.attach(caller_node, Service::TurnClient(Box::new(c)));
        e.command(id, |s, now| {
            if let Service::TurnClient(c) = s {
                c.binding(now);
                c.allocate(now);
            }
        });
        turn.push(id);
    }
    let mut agent = is::IceAgent::new(is::IceCreds {
        ufrag: "str0mcaller".to_string(),
        pass: "str0m-caller-password-0123".to_string(),
    });
    agent.set_controlling(true);
    agent.set_control_tie_breaker(0x5712_0000_0000_0001);
    let mut f = Foreign {
        node: caller_node,
        agent,
        base: Instant::now(),
        relayed: vec![None; turn.len()],
        turn,
        mapped: BTreeMap::new(),
        nominated: None,
        nominations: Vec::new(),
    };

    let mut payloads: BTreeMap<PacketId, Datagram> = BTreeMap::new();
    let (mut seen, mut captured) = (0usize, 0usize);
    let mut callee_media: Option<ServiceId> = None;
    let mut caller_offer: Option<(String, String, Vec<String>)> = None;
    let mut callee_offer: Option<(String, String, Vec<String>)> = None;
    let mut actions: VecDeque<(SimTime, u8)> =
        [(sched.invite, 0u8), (sched.callee_gather, 1), (sched.callee_checks, 2), (sched.caller_checks, 3)]
            .into_iter()
            .collect();
    actions.make_contiguous().sort();
    let end = SimTime::from_nanos(sched.caller_checks.as_nanos() + WATCH.as_nanos());
    let mut next_foreign: Option<SimTime> = None;
    let servers: Vec<SocketAddrV4> = f.turn.iter().map(|&id| turn_client(&e, id).server()).collect();

    while e.now() < end {
        let mut to = SimTime::from_nanos(e.now().as_nanos() + STEP.as_nanos()).min(end);
        if let Some(t) = next_foreign
            && t > e.now()
        {
            to = to.min(t);
        }
        if let Some(&(t, _)) = actions.front()
            && t > e.now()
        {
            to = to.min(t);
        }
        e.run_until(to);

        // What reached the caller's node: its bytes from the capture (one capture per
        // `Transmitted`, in the same order).
        let records = e.trace().records();
        let caps = e.captured();
        let mut inbound: Vec<(SimTime, Protocol, SocketAddrV4, SocketAddrV4, Vec<u8>)> = Vec::new();
        for r in &records[seen..] {
            match r {
                Record::Transmitted { packet, .. } => {
                    payloads.insert(*packet, caps[captured].1.clone());
                    captured += 1;
                }
                Record::Delivered { at, packet, node, .. } => {
                    // A packet a node sends to itself crosses no link and is never captured.
                    let Some(d) = payloads.remove(packet) else { continue };
                    if *node == caller_node
                        && d.protocol() == Protocol::Udp
                        && d.dst.port() == MEDIA_PORT
                        && !servers.contains(&d.src)
                    {
                        inbound.push((*at, Protocol::Udp, d.src, d.dst, d.payload));
                    }
                }
                Record::Dropped { packet, .. } => {
                    payloads.remove(packet);
                }
                Record::Service { at, service, event: ServiceEvent::TurnClient(ev), .. } => {
                    if let Some(i) = f.turn.iter().position(|t| t == service) {
                        match ev {
                            TurnClientEvent::Allocated { relayed, .. } => f.relayed[i] = Some(*relayed),
                            TurnClientEvent::Data { peer, data } => {
                                let relayed = f.relayed[i].expect("data comes through an allocation");
                                inbound.push((*at, Protocol::Udp, *peer, relayed, data.clone()));
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        seen = records.len();
        assert_eq!(captured, caps.len(), "every capture has its Transmitted record");
        for (at, proto, src, dst, bytes) in inbound {
            f.receive(at, proto, src, dst, &bytes);
        }
        let now = e.now();
        if next_foreign.is_some_and(|t| t <= now) {
            f.agent.handle_timeout(f.instant(now));
        }

        while let Some(&(t, what)) = actions.front() {
            if t > now {
                break;
            }
            actions.pop_front();
            match what {
                // The caller's candidates: host, srflx (if it differs), relay UDP, relay TCP.
                0 => {
                    let mut lines = Vec::new();
                    for (addr, _, _) in icepath::scenario::host_sockets(topo, caller_node) {
                        let c = is::Candidate::host(SocketAddr::V4(addr), "udp").expect("host");
                        f.agent.add_local_candidate(c);
                    }
                    let udp = f.turn.first().map(|&id| turn_client(&e, id));
                    if let Some(udp) = udp
                        && let Some(r) = udp.reflexive()
                        && r != udp.local()
                    {
                        let c = is::Candidate::server_reflexive(SocketAddr::V4(r), SocketAddr::V4(udp.local()), "udp")
                            .expect("srflx");
                        f.agent.add_local_candidate(c);
                    }
                    // Relayed candidates carry UDP to the peer whatever the transport to
                    // the server; the UDP allocation is added first, so `is`'s local
                    // preference counter ranks it above the TCP one.
                    for i in 0..f.turn.len() {
                        let client = turn_client(&e, f.turn[i]);
                        if let Some(relayed) = client.relayed() {
                            let c =
                                is::Candidate::relayed(SocketAddr::V4(relayed), SocketAddr::V4(client.local()), "udp")
                                    .expect("relayed");
                            f.agent.add_local_candidate(c);
                        }
                    }
                    for c in f.agent.local_candidates() {
                        lines.push(c.to_sdp_string());
                    }
                    f.agent.handle_timeout(f.instant(now));
                    let creds = f.agent.local_credentials().clone();
                    caller_offer = Some((creds.ufrag, creds.pass, lines));
                }
                1 => callee_media = Some(start_ours(&mut e, topo, callee_node, Role::Controlled)),
                // The callee answers and starts checking toward the caller's offer.
                2 => {
                    let mid = callee_media.expect("started before");
                    callee_offer = Some(offer_ours(&mut e, topo, callee_node, mid));
                    let (ufrag, pwd, lines) = caller_offer.clone().expect("offered");
                    let remote: Vec<Candidate> =
                        lines.iter().map(|l| Candidate::from_sdp(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect();
                    e.command(mid, |s, now| {
                        let Service::Media(m) = s else { unreachable!() };
                        m.agent.set_remote_credentials(&ufrag, &pwd);
                        for c in &remote {
                            m.agent.add_remote_candidate(c.clone());
                            m.permit(now, c.address);
                        }
                        m.agent.start_checks(now);
                    });
                }
                // The caller gets the answer: permissions on both relays, then checks.
                3 => {
                    let (ufrag, pass, lines) = callee_offer.clone().expect("answered");
                    f.agent.set_remote_credentials(is::IceCreds { ufrag, pass });
                    for l in &lines {
                        let c = is::Candidate::from_sdp_string(l).unwrap_or_else(|e| panic!("{l}: {e}"));
                        let SocketAddr::V4(peer) = c.addr() else { panic!("IPv4 only") };
                        f.agent.add_remote_candidate(c);
                        for &id in &f.turn {
                            e.command(id, |s, now| {
                                if let Service::TurnClient(c) = s
                                    && c.relayed().is_some()
                                {
                                    c.create_permission(now, peer);
                                }
                            });
                        }
                    }
                    f.agent.handle_timeout(f.instant(now));
                }
                _ => unreachable!(),
            }
        }
        f.flush(&mut e);
        next_foreign = f.agent.poll_timeout().map(|i| f.sim(i));
    }

    let win = foreign_winner(&f);
    let mut text = format!("foreign {caller} -> our {callee}: {win}\n");
    let (_, _, lines) = caller_offer.unwrap_or_default();
    text += &format!("  caller (is) offered: {lines:?}\n");
    text += &format!("  callee (ours) answered: {:?}\n", callee_offer.map(|o| o.2).unwrap_or_default());
    for (at, s, d) in &f.nominations {
        text += &format!("  {at}: is nominated {s} -> {d}\n");
    }
    text += &format!("  mapped: {:?}\n", f.mapped);
    let nominations = f.nominations.iter().map(|n| n.0).collect();
    Run { win, valid: foreign_valid(&f), nominations, capture: e.captured().to_vec(), text }
}

fn our_call(topo: &Topology, caller: &str, callee: &str) -> CallOutcome {
    let spec = CallSpec::new(topo.node_by_name(caller).expect("caller"), topo.node_by_name(callee).expect("callee"));
    run_call(topo, &spec).expect("sip blocks")
}

/// Runs every ordered pair of sites with the foreign caller and our callee; returns the
/// report and the cells whose winner is neither ours nor an explained difference.
fn run_matrix(relays: bool, expected: fn(&str, &str) -> Win) -> (String, Vec<String>) {
    let topo = load(relays);
    let mut report = format!(
        "{:<20} {:<20} {:<20} {:<26} note\n",
        "call", "ours (table)", "is -> ours", "is nominations (first at)"
    );
    let mut wrong = Vec::new();
    for caller in SITES {
        for callee in SITES {
            if caller == callee {
                continue;
            }
            let o = our_call(&topo, caller, callee);
            let sched = schedule(&o);
            let run = foreign_call(&topo, caller, callee, &sched);
            let expect = expected(caller, callee);
            let (want, note) = differences(relays, caller, callee).map_or((expect, ""), |(w, why)| (w, why));
            let name = format!("{caller} -> {callee}");
            let note = if note.is_empty() { "" } else { "DIFFERS (see differences())" };
            let noms = run.nominations.first().map_or("-".to_string(), |t| format!("{} ({t})", run.nominations.len()));
            report += &format!("{name:<20} {:<20} {:<20} {noms:<26} {note}\n", expect.to_string(), run.win.to_string());
            if std::env::var_os("ICE_DIFF_VERBOSE").is_some() {
                report += &run.text;
            }
            if run.win != want {
                wrong.push(format!("{name}: expected {want}, got {}\n{}", run.win, run.text));
            }
            // An explained difference is one of ranking, not of connectivity: our winner
            // worked for the foreign agent too.
            if want != expect && !run.valid.contains(&expect) {
                wrong.push(format!("{name}: our winner {expect} did not work for is: {:?}\n{}", run.valid, run.text));
            }
        }
    }
    (report, wrong)
}

#[test]
fn str0m_is_caller_against_our_callee_with_the_relay() {
    let (report, wrong) = run_matrix(true, ours);
    eprintln!("{report}");
    assert!(wrong.is_empty(), "{} cells differ:\n{}", wrong.len(), wrong.join("\n"));
}

/// The without-relay table of `tests/nat_matrix.rs`: only calls to and from `open` connect.
/// The without-relay table of the NAT matrix.
fn ours_without_relay(caller: &str, callee: &str) -> Win {
    expected(&without_relay_table(), caller, callee)
}

#[test]
fn str0m_is_caller_against_our_callee_without_the_relay() {
    let (report, wrong) = run_matrix(false, ours_without_relay);
    eprintln!("{report}");
    assert!(wrong.is_empty(), "{} cells differ:\n{}", wrong.len(), wrong.join("\n"));
}

/// Same cell twice (rc -> sym: three nominations, through the relay first): the same
/// packets at the same times.
#[test]
fn the_foreign_run_is_deterministic() {
    let topo = load(true);
    let o = our_call(&topo, "rc", "sym");
    let sched = schedule(&o);
    let a = foreign_call(&topo, "rc", "sym", &sched);
    let b = foreign_call(&topo, "rc", "sym", &sched);
    assert_eq!(a.nominations.len(), 3, "{}", a.text);
    assert!(a.capture == b.capture, "two runs of one cell differ");
    assert_eq!(a.text, b.text);
}
