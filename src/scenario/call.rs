//! A call between two clients, as Lync places one: both sign in, the caller gathers its
//! candidates (host on every interface, VPN included; server-reflexive and relayed from its
//! Edge over UDP and TCP), offers them in an INVITE through the registrars, the callee
//! gathers and answers with 183 Session Progress, both run ICE checks across the simulated
//! network, media may start on the first pair that works (early media) and the caller
//! promotes it to the final pair with a re-INVITE. Nothing here picks the winner: the
//! agents do, from the packets that got through.

use std::collections::BTreeMap;
use std::net::SocketAddrV4;

use serde::Serialize;
use thiserror::Error;

use crate::engine::{Engine, Limits, Service, ServiceEvent, ServiceId};
use crate::net::forward::egress;
use crate::proto::MediaEndpoint;
use crate::proto::ice::{
    AgentState, Candidate, CandidatePair, CandidateType, IceAgent, IceConfig, IceEvent, LocalCandidateSpec, PairId,
    PairReason, PairState, Profile, Role, TcpType,
};
use crate::proto::media::MediaEvent;
use crate::proto::signaling::{Method, SipMessage, Start, UserAgentEvent};
use crate::proto::{TurnClient, TurnClientConfig};
use crate::report::quality::{PathQuality, PathStats, PathSummary, compare, estimate};
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};
use crate::topology::{IfaceType, NodeId, Topology};
use crate::trace::{PacketId, Record, TraceLevel};
use crate::wire::rtp::{Codec, MediaSource};
use crate::wire::{Datagram, Protocol};

/// How long a client waits for its relay before it offers what it has.
const GATHER: SimDuration = SimDuration::from_secs(2);
/// The program that owns a Lync client's sockets (host firewall rules name it).
pub const CLIENT_APP_LYNC: &str = "communicator.exe";
/// The program that owns a WebRTC client's sockets.
pub const CLIENT_APP_WEBRTC: &str = "browser";
/// The UDP port of a client's media socket (Lync's default media range starts here).
const MEDIA_PORT: u16 = 50000;

/// What the call carries. Desktop sharing and file transfer are TCP-only in Lync (seeds
/// 003, 004): they offer TCP candidates (RFC 6544 active/passive host candidates and the
/// relay allocated over TCP) and nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MediaType {
    Audio,
    Video,
    DesktopSharing,
    FileTransfer,
}

impl MediaType {
    pub fn is_tcp_only(self) -> bool {
        matches!(self, MediaType::DesktopSharing | MediaType::FileTransfer)
    }
}

/// The TCP port of a passive TCP host candidate (an active one uses the discard port 9, as
/// RFC 6544 §4.5 says to advertise).
const TCP_PASSIVE_PORT: u16 = 50002;
const TCP_ACTIVE_PORT: u16 = 9;

/// Bulk traffic that competes with the call while media flows (seed 000: "other network
/// activity, such as a large file transfer, can degrade the call"): UDP packets of 1,200
/// bytes from one node to another at a rate, in back-to-back bursts of 50 as a TCP sender's
/// window would put them on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BackgroundFlow {
    pub from: NodeId,
    pub to: NodeId,
    /// Bits per second.
    pub rate: u64,
}

/// What to call.
#[derive(Clone, Debug)]
pub struct CallSpec {
    pub caller: NodeId,
    pub callee: NodeId,
    pub profile: Profile,
    pub media: MediaType,
    /// The audio codec media is sent with once connected (speech: rated by the E-model).
    pub codec: Codec,
    /// How long media flows on every working path after checks settle (zero: no media).
    pub media_duration: SimDuration,
    /// Bulk flows running while media flows.
    pub background: Vec<BackgroundFlow>,
    pub seed: u64,
    /// Give up on connectivity this long after the offer.
    pub connect_timeout: SimDuration,
    /// How long after both clients sign in the caller starts the call.
    pub start: SimDuration,
    pub capture: bool,
}

impl CallSpec {
    /// A Lync audio call (MS-ICE2, G.711) with seed 1, 45 s to connect, no media phase,
    /// no background traffic and no capture; set fields to change them.
    pub fn new(caller: NodeId, callee: NodeId) -> CallSpec {
        CallSpec {
            caller,
            callee,
            profile: Profile::MsIce2,
            media: MediaType::Audio,
            codec: Codec::PCMU,
            media_duration: SimDuration::ZERO,
            background: Vec::new(),
            seed: 1,
            connect_timeout: SimDuration::from_secs(45),
            start: SimDuration::ZERO,
            capture: false,
        }
    }
}

/// Why a call could not be set up at all.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CallError {
    #[error("node `{0}` has no `sip:` block (no registrar to place calls through)")]
    NoSip(String),
    #[error("node `{0}` has no route to its registrar `{1}` (it cannot sign in)")]
    NoRouteToRegistrar(String, String),
}

/// One pair as a row of the result table.
#[derive(Clone, Debug, Serialize)]
pub struct PairRow {
    pub local: String,
    pub remote: String,
    pub priority: u64,
    pub state: String,
    pub nominated: bool,
    /// Why it ended as it did, down to the device that dropped its checks.
    pub reason: String,
}

/// A pair with when it was chosen.
#[derive(Clone, Debug, Serialize)]
pub struct ChosenPair {
    pub at: SimTime,
    pub local: String,
    pub remote: String,
}

/// Media on one working path, caller to callee.
#[derive(Clone, Debug, Serialize)]
pub struct PathMedia {
    pub path: String,
    pub selected: bool,
    pub summary: PathSummary,
    pub r: Option<f64>,
    pub mos: Option<f64>,
}

/// One line of the call's timeline.
#[derive(Clone, Debug, Serialize)]
pub struct CallStep {
    pub at: SimTime,
    pub node: String,
    pub what: String,
}

/// What happened.
#[derive(Clone, Debug, Serialize)]
pub struct CallOutcome {
    pub caller: String,
    pub callee: String,
    pub profile: String,
    pub media: MediaType,
    pub seed: u64,
    pub signaling_ok: bool,
    pub caller_candidates: Vec<String>,
    pub callee_candidates: Vec<String>,
    pub pairs: Vec<PairRow>,
    pub early_media: Option<ChosenPair>,
    pub selected: Option<ChosenPair>,
    pub promoted_at: Option<SimTime>,
    /// The selected pair's remote candidate as the caller's SDP names it
    /// (`a=remote-candidates`, RFC 8839 §5.2).
    pub remote_candidate: Option<String>,
    /// From the INVITE to the caller's first selected pair (media can flow).
    pub time_to_connect: Option<SimDuration>,
    /// Media measured caller to callee on every working path, the selected one first.
    pub media_paths: Vec<PathMedia>,
    /// Whether ICE chose the best-sounding path, and by how much it missed.
    pub verdict: Option<String>,
    pub failure: Option<String>,
    /// Why a client's relay (and server-reflexive) candidates are missing: each TURN
    /// allocation that failed, the device that dropped its packets, and the route that sent
    /// them there.
    pub gathering: Vec<String>,
    pub timeline: Vec<CallStep>,
    #[serde(skip)]
    pub capture: Vec<(SimTime, Datagram)>,
}

struct Side {
    node: NodeId,
    ua: ServiceId,
    media: Option<ServiceId>,
}

/// Places the call.
pub fn run_call(topo: &Topology, spec: &CallSpec) -> Result<CallOutcome, CallError> {
    for n in [spec.caller, spec.callee] {
        if topo.node(n).roles.sip.as_ref().and_then(|s| s.registrar).is_none() {
            return Err(CallError::NoSip(topo.node(n).name.clone()));
        }
    }
    let mut e = Engine::new(topo, SimRng::new(spec.seed), Limits::default(), TraceLevel::Outcomes);
    e.set_capture(spec.capture);
    e.connect_vpns();
    e.run();
    e.start_edges();
    let uas = e.start_signaling();
    for n in [spec.caller, spec.callee] {
        if !uas.contains_key(&n) {
            let reg = topo.node(n).roles.sip.as_ref().and_then(|s| s.registrar).map(|r| topo.node(r).name.clone());
            return Err(CallError::NoRouteToRegistrar(topo.node(n).name.clone(), reg.unwrap_or_default()));
        }
    }
    let t0 = e.now();
    e.run_until(t0 + SimDuration::from_secs(2) + spec.start);
    let callee_user = topo.node(spec.callee).roles.sip.as_ref().map(|s| s.user.clone()).unwrap_or_default();
    let mut caller = Side { node: spec.caller, ua: uas[&spec.caller], media: None };
    let mut callee = Side { node: spec.callee, ua: uas[&spec.callee], media: None };

    // The caller gathers, then offers.
    let media = start_media(&mut e, topo, spec, caller.node, Role::Controlling);
    caller.media = Some(media);
    let gathered_at = e.now() + GATHER;
    e.run_until(gathered_at);
    let offer = local_offer(&mut e, topo, caller.node, media);
    let invite_at = e.now();
    let call_id = "call-1".to_string();
    e.command(caller.ua, |s, now| {
        if let Service::UserAgent(u) = s {
            u.send_request(now, Method::Invite, &callee_user, &call_id, &offer.sdp);
        }
    });

    let deadline = invite_at + spec.connect_timeout;
    let mut seen = e.trace().records().len();
    let mut callee_gather_until: Option<(SimTime, SipMessage)> = None;
    let mut signaling_ok = false;
    let mut failure = None;
    let mut early: Option<(SimTime, PairId)> = None;
    let mut selected: Option<(SimTime, PairId)> = None;
    let mut callee_offer = None;
    let mut promoted_at = None;
    let mut first_selected_at: Option<SimTime> = None;
    let mut caller_failed = false;
    while e.now() < deadline {
        let step = (e.now() + SimDuration::from_millis(5)).min(deadline);
        e.run_until(step);
        let records: Vec<Record> = e.trace().records()[seen..].to_vec();
        seen = e.trace().records().len();
        for r in records {
            let Record::Service { at, service, event, .. } = r else { continue };
            match event {
                ServiceEvent::UserAgent(UserAgentEvent::Request(m))
                    if service == callee.ua && m.start == Start::Request(Method::Invite) =>
                {
                    if callee.media.is_none() {
                        let mid = start_media(&mut e, topo, spec, callee.node, Role::Controlled);
                        callee.media = Some(mid);
                        callee_gather_until = Some((at + GATHER, m));
                    } else {
                        // A re-INVITE on the same call (promotion): acknowledge it; the
                        // callee's agent already follows the controlling side's choice.
                        e.command(callee.ua, |s, _| {
                            if let Service::UserAgent(u) = s {
                                u.respond(&m, 200, "");
                            }
                        });
                    }
                }
                ServiceEvent::UserAgent(UserAgentEvent::Response(m)) if service == caller.ua => {
                    if let Start::Response { code: 183, method: Method::Invite } = m.start {
                        if signaling_ok {
                            continue;
                        }
                        signaling_ok = true;
                        let remote = parse_offer(&m.body);
                        start_checks(&mut e, media, &remote);
                    } else if let Start::Response { code, .. } = m.start
                        && code >= 300
                    {
                        failure = Some(format!("the callee's side answered the INVITE with {code}"));
                    }
                }
                ServiceEvent::UserAgent(UserAgentEvent::TimedOut { method, .. })
                    if service == caller.ua && method == Method::Invite && !signaling_ok =>
                {
                    failure = Some("signaling failed: the INVITE was never answered".to_string());
                }
                ServiceEvent::Media(MediaEvent::Ice(ev)) if service == media => match ev {
                    IceEvent::FirstValidPair { pair } if early.is_none() => early = Some((at, pair)),
                    IceEvent::Selected { pair } => {
                        first_selected_at.get_or_insert(at);
                        selected = Some((at, pair));
                    }
                    IceEvent::Failed { .. } => caller_failed = true,
                    _ => {}
                },
                _ => {}
            }
        }
        // The callee offers its candidates once it has gathered.
        if let Some((until, invite)) = callee_gather_until.clone()
            && e.now() >= until
        {
            callee_gather_until = None;
            let mid = callee.media.expect("set with the gather deadline");
            let answer = local_offer(&mut e, topo, callee.node, mid);
            start_checks(&mut e, mid, &parse_offer(&invite.body));
            let body = answer.sdp.clone();
            callee_offer = Some(answer);
            e.command(callee.ua, |s, _| {
                if let Service::UserAgent(u) = s {
                    u.respond(&invite, 183, &body);
                    u.respond(&invite, 200, &body);
                }
            });
        }
        if failure.is_some() || caller_failed {
            break;
        }
        if let (Some((sel_at, sel)), Some((_, first))) = (selected, early) {
            // Promotion (seeds 003, 004): when the controlling agent moves media from the
            // early pair to a better one, the caller tells the callee with a re-INVITE
            // naming the remote candidate.
            if sel != first && promoted_at.is_none() {
                let line = remote_candidate_line(agent(&e, media), sel);
                e.command(caller.ua, |s, now| {
                    if let Service::UserAgent(u) = s {
                        u.send_request(now, Method::Invite, &callee_user, "call-1", &line);
                    }
                });
                promoted_at = Some(sel_at);
            }
            // Done once no check is pending (a better pair could still take over before).
            let a = agent(&e, media);
            let pending = a.pairs().iter().any(|p| p.state.is_pending());
            if matches!(a.state(), AgentState::Completed) && !pending {
                break;
            }
        }
    }

    let (media_paths, verdict) = match (selected, callee.media) {
        (Some((_, sel)), Some(callee_media))
            if spec.media_duration > SimDuration::ZERO && !spec.media.is_tcp_only() =>
        {
            measure_media(&mut e, spec, caller.node, media, callee_media, sel)
        }
        _ => (Vec::new(), None),
    };
    let caller_agent = agent(&e, media);
    let pairs = caller_agent.pairs().iter().map(|p| pair_row(&e, topo, p)).collect();
    let chosen = |x: Option<(SimTime, PairId)>| {
        x.and_then(|(at, id)| {
            let p = caller_agent.pairs().iter().find(|p| p.id == id)?;
            Some(ChosenPair { at, local: describe(&p.local), remote: describe(&p.remote) })
        })
    };
    let early_media = chosen(early);
    let selected_pair = chosen(selected);
    if selected_pair.is_none() && failure.is_none() {
        failure = Some(if caller_failed {
            "every candidate pair failed (see the pair table)".to_string()
        } else if !signaling_ok {
            "signaling did not complete before the timeout".to_string()
        } else {
            "no pair was selected before the timeout".to_string()
        });
    }
    let timeline = timeline(&e, topo);
    let mut gathering = gathering_notes(&e, topo, caller.node, media);
    if let Some(m) = callee.media {
        gathering.extend(gathering_notes(&e, topo, callee.node, m));
    }
    Ok(CallOutcome {
        caller: topo.node(spec.caller).name.clone(),
        callee: topo.node(spec.callee).name.clone(),
        profile: match spec.profile {
            Profile::Rfc8445 => "rfc8445".into(),
            Profile::MsIce2 => "ms-ice2".into(),
        },
        media: spec.media,
        seed: spec.seed,
        signaling_ok,
        caller_candidates: offer.lines,
        callee_candidates: callee_offer.map(|o| o.lines).unwrap_or_default(),
        pairs,
        early_media,
        time_to_connect: first_selected_at.map(|at| at - invite_at),
        selected: selected_pair,
        promoted_at,
        media_paths,
        verdict,
        remote_candidate: selected.map(|(_, id)| remote_candidate_line(caller_agent, id).trim_end().to_string()),
        failure,
        gathering,
        timeline,
        capture: e.captured().to_vec(),
    })
}

/// The TURN clients a client uses toward its Edge, configured as MRAS would: UDP on its
/// media socket (also its STUN client for the server-reflexive address) and TCP beside it,
/// or only TCP for TCP-only media. An external user (signed in through the Edge) talks to the
/// Edge's public face, an internal user to its internal NIC.
pub fn relay_clients(e: &Engine<'_>, topo: &Topology, node: NodeId, tcp_only: bool) -> Vec<TurnClient> {
    let n = topo.node(node);
    let sip = n.roles.sip.as_ref();
    let mut turn = Vec::new();
    if let Some(edge_node) = sip.and_then(|s| s.relay) {
        let edge = topo.node(edge_node).roles.edge.as_ref().expect("validated: relay names an edge");
        // External users (signed in through the Edge) use its public face; internal ones its
        // internal NIC (MRAS hands out the matching address).
        let external = sip.and_then(|s| s.registrar).is_some_and(|r| topo.node(r).roles.edge.is_some());
        let public = topo.edge_public_address(edge_node).unwrap_or(edge.advertised);
        let server_ip = if external { public } else { topo.iface(edge.internal).addr };
        if let Some((via, _)) = egress(topo, node, server_ip) {
            let local_ip = topo.iface(via).addr;
            // MRAS credentials: from the relay's own pool member unless the file says another.
            let issuer = sip.and_then(|s| s.credentials).unwrap_or(edge_node);
            let cred =
                e.mras_credentials(issuer, &n.name, SimDuration::from_secs(8 * 3600)).expect("validated: an edge");
            for (protocol, port, local_port) in
                [(Protocol::Udp, edge.udp_port, MEDIA_PORT), (Protocol::Tcp, edge.tcp_port, MEDIA_PORT + 1)]
            {
                if tcp_only && protocol == Protocol::Udp {
                    continue;
                }
                let cfg = TurnClientConfig {
                    protocol,
                    seed: e.seed_for(&format!("turn-client/{}/{protocol}", n.name)),
                    ..TurnClientConfig::new(
                        SocketAddrV4::new(local_ip, local_port),
                        SocketAddrV4::new(server_ip, port),
                        &cred.username,
                        &cred.password,
                    )
                };
                turn.push(TurnClient::new(cfg));
            }
        }
    }
    turn
}

/// Sends the same RTP stream, caller to callee, on every valid pair the caller's checks
/// proved (the selected one and the alternatives), each stream with its own SSRC, at the
/// codec's exact packet times; then measures what arrived at the callee.
fn measure_media(
    e: &mut Engine<'_>,
    spec: &CallSpec,
    caller: NodeId,
    caller_media: ServiceId,
    callee_media: ServiceId,
    selected: PairId,
) -> (Vec<PathMedia>, Option<String>) {
    // The working paths: distinct (from, to) of valid pairs, the selected one first.
    let a = agent(e, caller_media);
    let mut paths: Vec<(bool, Candidate, Candidate)> = Vec::new();
    let mut push = |p: &CandidatePair, sel: bool| {
        if !paths.iter().any(|(_, l, r)| l.base == p.local.base && r.address == p.remote.address) {
            paths.push((sel, p.local.clone(), p.remote.clone()));
        }
    };
    if let Some(p) = a.pair(selected) {
        push(p, true);
    }
    for p in a.pairs().iter().filter(|p| p.valid && p.state == PairState::Succeeded) {
        push(p, false);
    }
    let start = e.now() + SimDuration::from_millis(100);
    let first_record = e.trace().records().len();
    schedule_background(e, spec, start);
    let mut sent: BTreeMap<(u32, u16), SimTime> = BTreeMap::new();
    for (i, (_, local, remote)) in paths.iter().enumerate() {
        let ssrc = 0x5eed_0000 + i as u32;
        let mut source = MediaSource::new(spec.codec, ssrc, start);
        while source.next_time() < start + spec.media_duration {
            let (at, rtp) = source.next_packet();
            let bytes = rtp.encode();
            let d = e.command(caller_media, |s, now| match s {
                Service::Media(m) => m.wrap_media(now, local.base, local.protocol, remote.address, &bytes),
                _ => None,
            });
            if let Some(d) = d {
                e.send_at(at, caller, d);
                sent.insert((ssrc, rtp.sequence), at);
            }
        }
    }
    e.run_until(start + spec.media_duration + SimDuration::from_secs(2));
    let mut stats: Vec<PathStats> = paths.iter().map(|_| PathStats::new(spec.codec.clock_rate)).collect();
    for r in &e.trace().records()[first_record..] {
        let Record::Service {
            at, service, event: ServiceEvent::Media(MediaEvent::Media { rtp: Some(ids), .. }), ..
        } = r
        else {
            continue;
        };
        if *service != callee_media {
            continue;
        }
        let i = ids.ssrc.wrapping_sub(0x5eed_0000) as usize;
        if let (Some(st), Some(&t)) = (stats.get_mut(i), sent.get(&(ids.ssrc, ids.sequence))) {
            st.handle_packet(ids.sequence, t, *at, ids.timestamp);
        }
    }
    let mut out = Vec::new();
    let mut rated = Vec::new();
    let mut selected_index = None;
    for ((sel, local, remote), st) in paths.iter().zip(&stats) {
        let summary = st.summary();
        let name = format!("{} -> {}", describe(local), describe(remote));
        let est = estimate(&spec.codec, &summary).ok();
        if let Some(est) = est {
            if *sel {
                selected_index = Some(rated.len());
            }
            rated.push(PathQuality { name: name.clone(), summary: summary.clone(), estimate: est });
        }
        out.push(PathMedia {
            path: name,
            selected: *sel,
            summary,
            r: est.as_ref().map(|x| x.r),
            mos: est.map(|x| x.mos),
        });
    }
    let verdict = selected_index.and_then(|i| compare(&rated, i)).map(|v| v.to_string());
    (out, verdict)
}

/// Puts the background flows on the wire for the media period.
fn schedule_background(e: &mut Engine<'_>, spec: &CallSpec, start: SimTime) {
    const SIZE: usize = 1200;
    const BURST: u64 = 50;
    let topo = e.topology();
    for f in &spec.background {
        // A VPN user is reached at its VPN address (corporate traffic rides the tunnel).
        let to = topo.node(f.to);
        let dst = match &to.roles.vpn {
            Some(v) => Some(topo.iface(v.iface).addr),
            None => to.ifaces.first().map(|&i| topo.iface(i).addr),
        };
        let Some(dst) = dst else { continue };
        let Some((via, _)) = egress(topo, f.from, dst) else { continue };
        let src = SocketAddrV4::new(topo.iface(via).addr, 40009);
        let dst = SocketAddrV4::new(dst, 9);
        let wire_bits = ((SIZE + 28) * 8) as u64;
        let pps = (f.rate / wire_bits).max(1);
        let bursts_per_sec = pps.div_ceil(BURST);
        let total = pps * spec.media_duration.as_nanos() / 1_000_000_000;
        for k in 0..total {
            let at = start + SimDuration::from_nanos((k / BURST) * 1_000_000_000 / bursts_per_sec);
            e.send_at(at, f.from, Datagram::udp(src, dst, vec![0; SIZE]));
        }
    }
}

/// A client's media endpoint: host sockets on every interface (VPN included) and TURN
/// clients (UDP on the main socket, TCP beside it) toward its Edge.
pub fn start_media(e: &mut Engine<'_>, topo: &Topology, spec: &CallSpec, node: NodeId, role: Role) -> ServiceId {
    let n = topo.node(node);
    let tcp_only = spec.media.is_tcp_only();
    let hosts: Vec<SocketAddrV4> = if tcp_only {
        Vec::new()
    } else {
        n.ifaces.iter().map(|&i| SocketAddrV4::new(topo.iface(i).addr, MEDIA_PORT)).collect()
    };
    let tcp_hosts: Vec<SocketAddrV4> = if tcp_only {
        n.ifaces
            .iter()
            .flat_map(|&i| {
                let a = topo.iface(i).addr;
                [SocketAddrV4::new(a, TCP_ACTIVE_PORT), SocketAddrV4::new(a, TCP_PASSIVE_PORT)]
            })
            .collect()
    } else {
        Vec::new()
    };
    let turn = relay_clients(e, topo, node, tcp_only);
    let tie_breaker = e.seed_for(&format!("ice-tie/{}", n.name));
    // RFC 8445 §5.3: at least 4 ufrag and 22 password characters.
    let ufrag = format!("{:08x}", tie_breaker >> 32);
    let pwd = format!("{:024x}", (tie_breaker as u128) * 0x9e37_79b9);
    let cfg = IceConfig::new(spec.profile, role, tie_breaker, &ufrag, &pwd, e.seed_for(&format!("ice/{}", n.name)));
    // The media sockets belong to the client program, so Windows Firewall rules scoped to
    // it (seed 000) apply to its checks and media.
    let app = match spec.profile {
        Profile::MsIce2 => CLIENT_APP_LYNC,
        Profile::Rfc8445 => CLIENT_APP_WEBRTC,
    };
    for port in [MEDIA_PORT, MEDIA_PORT + 1, TCP_ACTIVE_PORT, TCP_PASSIVE_PORT] {
        e.bind_app(node, Protocol::Udp, port, app);
        e.bind_app(node, Protocol::Tcp, port, app);
    }
    let mut endpoint = MediaEndpoint::new(IceAgent::new(cfg), &ufrag, &pwd, hosts, turn);
    endpoint.tcp_hosts = tcp_hosts;
    let id = e.attach(node, Service::Media(Box::new(endpoint)));
    e.command(id, |s, now| {
        if let Service::Media(m) = s {
            m.gather(now);
        }
    });
    id
}

/// A side's offer: ICE credentials, the SDP body, and its candidate lines (`a=candidate:`).
#[derive(Clone, Debug)]
pub struct Offer {
    pub ufrag: String,
    pub pwd: String,
    pub sdp: String,
    pub lines: Vec<String>,
}

/// A client's UDP media socket on each interface, with the interface's index (its local
/// preference slot) and whether it is a VPN interface.
pub fn host_sockets(topo: &Topology, node: NodeId) -> Vec<(SocketAddrV4, u32, bool)> {
    topo.node(node)
        .ifaces
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let f = topo.iface(i);
            (SocketAddrV4::new(f.addr, MEDIA_PORT), k as u32, f.iface_type == IfaceType::RemoteAccess)
        })
        .collect()
}

/// Turns what was gathered into local candidates and the SDP that carries them.
pub fn local_offer(e: &mut Engine<'_>, topo: &Topology, node: NodeId, media: ServiceId) -> Offer {
    let ifaces = host_sockets(topo, node);
    e.command(media, |s, _| {
        let Service::Media(m) = s else { unreachable!("media service") };
        let tcp_only = !m.tcp_hosts.is_empty() && m.hosts.is_empty();
        for &(addr, k, is_vpn) in &ifaces {
            if tcp_only {
                for (port, t) in [(TCP_ACTIVE_PORT, TcpType::Active), (TCP_PASSIVE_PORT, TcpType::Passive)] {
                    let a = SocketAddrV4::new(*addr.ip(), port);
                    let spec = LocalCandidateSpec {
                        protocol: Protocol::Tcp,
                        tcp_type: Some(t),
                        is_vpn,
                        ..LocalCandidateSpec::host(a, k)
                    };
                    m.agent.add_local_candidate(spec);
                }
            } else {
                let mut spec = LocalCandidateSpec::host(addr, k);
                spec.is_vpn = is_vpn;
                m.agent.add_local_candidate(spec);
            }
        }
        let mut extra = Vec::new();
        for t in &m.turn {
            let k = ifaces.iter().find(|(a, _, _)| a.ip() == t.local().ip()).map_or(0, |x| x.1);
            if t.protocol() == Protocol::Udp
                && let Some(r) = t.reflexive()
            {
                let base = SocketAddrV4::new(*t.local().ip(), MEDIA_PORT);
                if r != base {
                    extra.push(LocalCandidateSpec::server_reflexive(r, base, k));
                }
            }
            if let Some(relayed) = t.relayed() {
                let mapped = t.reflexive().unwrap_or(t.local());
                extra.push(LocalCandidateSpec::relayed(relayed, mapped, t.protocol(), k));
            }
        }
        for spec in extra {
            m.agent.add_local_candidate(spec);
        }
    });
    let Service::Media(m) = e.service(media) else { unreachable!("media service") };
    let lines: Vec<String> = m.agent.local_candidates().iter().map(|c| format!("a={}", c.to_sdp())).collect();
    let (ufrag, pwd) = (m.ufrag.clone(), m.pwd.clone());
    let sdp = format!("a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\n{}\r\n", lines.join("\r\n"));
    Offer { ufrag, pwd, sdp, lines }
}

struct RemoteOffer {
    ufrag: String,
    pwd: String,
    candidates: Vec<Candidate>,
}

fn parse_offer(body: &str) -> RemoteOffer {
    let mut o = RemoteOffer { ufrag: String::new(), pwd: String::new(), candidates: Vec::new() };
    for line in body.lines() {
        let line = line.trim();
        if let Some(u) = line.strip_prefix("a=ice-ufrag:") {
            o.ufrag = u.to_string();
        } else if let Some(p) = line.strip_prefix("a=ice-pwd:") {
            o.pwd = p.to_string();
        } else if let Some(c) = line.strip_prefix("a=")
            && let Ok(c) = Candidate::from_sdp(c)
        {
            o.candidates.push(c);
        }
    }
    o
}

fn start_checks(e: &mut Engine<'_>, media: ServiceId, remote: &RemoteOffer) {
    e.command(media, |s, now| {
        let Service::Media(m) = s else { unreachable!("media service") };
        m.agent.set_remote_credentials(&remote.ufrag, &remote.pwd);
        for c in &remote.candidates {
            m.agent.add_remote_candidate(c.clone());
            m.permit(now, c.address);
        }
        m.agent.start_checks(now);
    });
}

fn agent<'a>(e: &'a Engine<'_>, media: ServiceId) -> &'a IceAgent {
    match e.service(media) {
        Service::Media(m) => &m.agent,
        _ => unreachable!("media service"),
    }
}

fn remote_candidate_line(a: &IceAgent, pair: PairId) -> String {
    let p = a.pairs().iter().find(|p| p.id == pair).expect("selected pair exists");
    format!("a=remote-candidates:1 {} {}\r\n", p.remote.address.ip(), p.remote.address.port())
}

fn describe(c: &Candidate) -> String {
    let kind = match c.kind {
        CandidateType::Host => "host",
        CandidateType::ServerReflexive => "srflx",
        CandidateType::PeerReflexive => "prflx",
        CandidateType::Relayed => "relay",
    };
    format!("{kind} {} {}", c.protocol, c.address)
}

/// A pair as a table row, with the network's verdict on its lost checks.
fn pair_row(e: &Engine<'_>, topo: &Topology, p: &CandidatePair) -> PairRow {
    let mut reason = p.reason.as_ref().map_or_else(String::new, reason_text);
    if matches!(p.state, PairState::Failed | PairState::InProgress) {
        let txns: Vec<[u8; 12]> = p.checks.iter().map(|c| c.transaction.0).collect();
        if let Some(drop) = drop_for(e, topo, &txns) {
            reason = format!("{reason}; {drop}");
        }
    }
    PairRow {
        local: describe(&p.local),
        remote: describe(&p.remote),
        priority: p.priority,
        state: format!("{:?}", p.state).to_lowercase(),
        nominated: p.nominated,
        reason,
    }
}

/// A pair's reason as a short phrase.
fn reason_text(r: &PairReason) -> String {
    match r {
        PairReason::FirstOfFoundation => "first of its foundation".into(),
        PairReason::FoundationBusy { ahead } => format!("frozen behind pair {}", ahead.0),
        PairReason::Pruned { kept } => format!("pruned (redundant with pair {})", kept.0),
        PairReason::FoundationSucceeded { by } => format!("unfrozen by pair {}", by.0),
        PairReason::NothingWaiting => "unfrozen (nothing waiting)".into(),
        PairReason::CheckSent { nominating, .. } => {
            if *nominating {
                "check sent (nominating), no answer yet".into()
            } else {
                "check sent, no answer yet".into()
            }
        }
        PairReason::Triggered { from } => format!("triggered by a check from {from}"),
        PairReason::RoleConflict => "role conflict (487), check repeated".into(),
        PairReason::Succeeded { mapped, rtt } => format!("answered in {rtt}, mapped {mapped}"),
        PairReason::DiscoveredBy { checked } => format!("learned from the check of pair {}", checked.0),
        PairReason::Timeout { sends } => format!("no answer after {sends} transmissions"),
        PairReason::ErrorResponse { code } => format!("error response {code}"),
        PairReason::NonSymmetric { got, .. } => format!("non-symmetric response from {}", got.0),
        PairReason::NominationComplete { selected } => format!("stopped: pair {} was nominated", selected.0),
        PairReason::ConsentExpired => "consent expired".into(),
        other => format!("{other:?}"),
    }
}

/// The first drop of a packet carrying one of `txns`, as a sentence.
fn drop_for(e: &Engine<'_>, topo: &Topology, txns: &[[u8; 12]]) -> Option<String> {
    let mut carrying: BTreeMap<PacketId, ()> = BTreeMap::new();
    for r in e.trace().records() {
        match r {
            Record::Sent { packet, summary, .. } if summary.stun_transaction.is_some_and(|t| txns.contains(&t)) => {
                carrying.insert(*packet, ());
            }
            Record::Dropped { packet, reason, .. } if carrying.contains_key(packet) => {
                return Some(format!("dropped by {}", reason.describe(topo)));
            }
            _ => {}
        }
    }
    None
}

/// Explains each relay allocation of `node` that failed: the first drop of one of its
/// exchanges with the server (requests or answers, matched by STUN transaction id) and,
/// when another node sent the dropped packet, the route that node chose for it (a missing
/// persistent route shows up as "by its default route").
fn gathering_notes(e: &Engine<'_>, topo: &Topology, node: NodeId, media: ServiceId) -> Vec<String> {
    let Service::Media(m) = e.service(media) else { return Vec::new() };
    let who = &topo.node(node).name;
    let mut notes = Vec::new();
    // The Edge the client was sent to (its published address may belong to a NAT in front).
    let relay = topo.node(node).roles.sip.as_ref().and_then(|s| s.relay).map(|r| topo.node(r).name.clone());
    for (index, t) in m.turn.iter().enumerate().filter(|(_, t)| t.relayed().is_none()) {
        let server = t.server();
        let edge = relay.clone().unwrap_or_else(|| server.ip().to_string());
        // Refused by the server (a 401 for credentials it cannot verify, seed 004)?
        let refused = e.trace().records().iter().find_map(|r| match r {
            Record::Service {
                service,
                event:
                    ServiceEvent::Media(MediaEvent::Turn {
                        client,
                        event: crate::proto::TurnClientEvent::RequestFailed { code, reason, .. },
                    }),
                ..
            } if *service == media && *client == index => Some(format!("{code} {reason}")),
            _ => None,
        });
        if let Some(refused) = refused {
            notes.push(format!("{who}: relay allocation on {edge} ({} {server}) refused: {refused}", t.protocol()));
            continue;
        }
        let mut txns: Vec<[u8; 12]> = Vec::new();
        let mut origin: BTreeMap<PacketId, (NodeId, std::net::Ipv4Addr)> = BTreeMap::new();
        let mut why = None;
        for r in e.trace().records() {
            match r {
                Record::Sent { packet, node: from, summary, .. } => {
                    let ours = *from == node && summary.src == t.local() && summary.dst == server;
                    if let Some(id) = summary.stun_transaction
                        && (ours || txns.contains(&id))
                    {
                        if ours && !txns.contains(&id) {
                            txns.push(id);
                        }
                        origin.insert(*packet, (*from, *summary.dst.ip()));
                    }
                }
                Record::Dropped { packet, reason, .. } => {
                    if let Some(&(from, dst)) = origin.get(packet) {
                        let mut text = format!("dropped by {}", reason.describe(topo));
                        if from != node {
                            text.push_str(&route_note(topo, from, dst));
                        }
                        why = Some(text);
                        break;
                    }
                }
                _ => {}
            }
        }
        let why = why.unwrap_or_else(|| "no answer (nothing on the path reported a drop)".to_string());
        notes.push(format!("{who}: relay allocation on {edge} ({} {server}) failed: {why}", t.protocol()));
    }
    notes
}

/// How `node` routes toward `dst`, as a clause for an explanation.
fn route_note(topo: &Topology, node: NodeId, dst: std::net::Ipv4Addr) -> String {
    let n = topo.node(node);
    match n.routes.lookup(dst) {
        Some(r) if r.prefix.prefix_len() == 0 => {
            let via = r.next_hop.map_or_else(String::new, |h| format!(" via {h}"));
            format!("; {} sent it by its default route{via}: it has no route to {dst}", n.name)
        }
        Some(r) => format!("; {} sent it by its route to {}", n.name, r.prefix),
        None => format!("; {} has no route to {dst}", n.name),
    }
}

fn timeline(e: &Engine<'_>, topo: &Topology) -> Vec<CallStep> {
    e.trace()
        .records()
        .iter()
        .filter_map(|r| match r {
            Record::Service { at, node, event, .. } => {
                let what = match event {
                    ServiceEvent::UserAgent(UserAgentEvent::Registered) => "registered".to_string(),
                    ServiceEvent::UserAgent(UserAgentEvent::Request(m)) => format!("received {}", start_name(&m.start)),
                    ServiceEvent::UserAgent(UserAgentEvent::Response(m)) => {
                        format!("received {}", start_name(&m.start))
                    }
                    ServiceEvent::UserAgent(UserAgentEvent::TimedOut { method, .. }) => {
                        format!("{} timed out", method.as_str())
                    }
                    ServiceEvent::Media(MediaEvent::Ice(IceEvent::FirstValidPair { .. })) => {
                        "first valid pair (early media may start)".to_string()
                    }
                    ServiceEvent::Media(MediaEvent::Ice(IceEvent::Selected { .. })) => "pair selected".to_string(),
                    ServiceEvent::Media(MediaEvent::Ice(IceEvent::Failed { reason })) => {
                        format!("ICE failed: {reason:?}")
                    }
                    _ => return None,
                };
                Some(CallStep { at: *at, node: topo.node(*node).name.clone(), what })
            }
            _ => None,
        })
        .collect()
}

fn start_name(s: &Start) -> String {
    match s {
        Start::Request(m) => m.as_str().to_string(),
        Start::Response { code, method } => format!("{code} to {}", method.as_str()),
    }
}

impl CallOutcome {
    /// The outcome of a call that could not be placed at all (`why`), for reports that
    /// judge it like any other failed call.
    pub fn not_placed(topo: &Topology, spec: &CallSpec, why: &str) -> CallOutcome {
        CallOutcome {
            caller: topo.node(spec.caller).name.clone(),
            callee: topo.node(spec.callee).name.clone(),
            profile: match spec.profile {
                Profile::Rfc8445 => "rfc8445".into(),
                Profile::MsIce2 => "ms-ice2".into(),
            },
            media: spec.media,
            seed: spec.seed,
            signaling_ok: false,
            caller_candidates: Vec::new(),
            callee_candidates: Vec::new(),
            pairs: Vec::new(),
            early_media: None,
            selected: None,
            promoted_at: None,
            remote_candidate: None,
            time_to_connect: None,
            media_paths: Vec::new(),
            verdict: None,
            failure: Some(format!("the call could not be placed: {why}")),
            gathering: Vec::new(),
            timeline: Vec::new(),
            capture: Vec::new(),
        }
    }

    /// Whether media has a selected pair.
    pub fn connected(&self) -> bool {
        self.selected.is_some()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("invariant: the call outcome serializes") + "\n"
    }

    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut o = String::new();
        let media = match self.media {
            MediaType::Audio => "audio",
            MediaType::Video => "video",
            MediaType::DesktopSharing => "desktop sharing, TCP only",
            MediaType::FileTransfer => "file transfer, TCP only",
        };
        let _ = writeln!(o, "call: {} -> {} ({media}, {}, seed {})", self.caller, self.callee, self.profile, self.seed);
        let _ = writeln!(
            o,
            "signaling: {}",
            if self.signaling_ok { "ok (INVITE answered with candidates)" } else { "FAILED" }
        );
        for (who, lines) in [(&self.caller, &self.caller_candidates), (&self.callee, &self.callee_candidates)] {
            let _ = writeln!(o, "candidates of {who}:");
            for l in lines {
                let _ = writeln!(o, "  {l}");
            }
        }
        for g in &self.gathering {
            let _ = writeln!(o, "gathering: {g}");
        }
        let _ = writeln!(o, "pairs (the caller's check list):");
        let _ = writeln!(o, "  {:<28} {:<28} {:>20}  {:<11} reason", "local", "remote", "priority", "state");
        for p in &self.pairs {
            let state = if p.nominated { format!("{}*", p.state) } else { p.state.clone() };
            let _ = writeln!(o, "  {:<28} {:<28} {:>20}  {:<11} {}", p.local, p.remote, p.priority, state, p.reason);
        }
        let show = |c: &Option<ChosenPair>| {
            c.as_ref().map_or_else(|| "none".to_string(), |c| format!("{} -> {} at {}", c.local, c.remote, c.at))
        };
        let _ = writeln!(o, "early media: {}", show(&self.early_media));
        let _ = writeln!(o, "selected:    {}", show(&self.selected));
        if let Some(line) = &self.remote_candidate {
            let _ = writeln!(o, "final choice (caller's re-INVITE SDP): {line}");
        }
        if let Some(t) = self.promoted_at {
            let _ = writeln!(o, "promoted by re-INVITE at {t}");
        }
        if let Some(t) = self.time_to_connect {
            let _ = writeln!(o, "time to connect: {t}");
        }
        if !self.media_paths.is_empty() {
            let _ = writeln!(o, "media, caller to callee, on every working path:");
            let _ = writeln!(
                o,
                "  {:<62} {:>10} {:>10} {:>10} {:>9} {:>6}  {:>5} {:>4}",
                "path", "delay", "p95", "jitter", "loss", "ooo", "R", "MOS"
            );
            for m in &self.media_paths {
                let s = &m.summary;
                let ms = |d: SimDuration| format!("{:.1}ms", d.as_millis_f64());
                let (mean, p95) = s.delay.as_ref().map_or(("-".into(), "-".into()), |d| (ms(d.mean), ms(d.p95)));
                let mark = if m.selected { "* " } else { "  " };
                let _ = writeln!(
                    o,
                    "{mark}{:<62} {:>10} {:>10} {:>10} {:>8.2}% {:>6}  {:>5} {:>4}",
                    m.path,
                    mean,
                    p95,
                    ms(s.jitter),
                    100.0 * s.loss_fraction,
                    s.out_of_order,
                    m.r.map_or("-".into(), |r| format!("{r:.1}")),
                    m.mos.map_or("-".into(), |x| format!("{x:.2}"))
                );
            }
            if let Some(v) = &self.verdict {
                let _ = writeln!(o, "verdict: {v}");
            }
        }
        let _ = writeln!(o, "timeline:");
        for s in &self.timeline {
            let _ = writeln!(o, "  {:>14}  {:<12} {}", s.at.to_string(), s.node, s.what);
        }
        let _ = match &self.failure {
            None => writeln!(o, "result: connected"),
            Some(f) => writeln!(o, "result: FAILED: {f}"),
        };
        o
    }
}
