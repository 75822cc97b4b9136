//! A call between two clients, as Lync places one: both sign in, the caller gathers its
//! candidates (host on every interface, VPN included; server-reflexive and relayed from its
//! Edge over UDP and TCP), offers them in an INVITE through the registrars, the callee
//! gathers and answers with 183 Session Progress, both run ICE checks across the simulated
//! network, media may start on the first pair that works (early media) and the caller
//! promotes it to the final pair with a re-INVITE. Nothing here picks the winner: the
//! agents do, from the packets that got through.

mod json;
mod media;

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
use crate::report::quality::PathSummary;
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};
use crate::topology::{IfaceType, NodeId, Topology};
use crate::trace::{PacketId, Record, TraceLevel};
use crate::wire::rtp::Codec;
use crate::wire::{Datagram, Protocol};

pub use media::BackgroundPeriod;
pub(crate) use media::answering_base;
use media::{MediaRun, Party, measure_media};

/// How long a client waits for its relay before it offers what it has.
pub(crate) const GATHER: SimDuration = SimDuration::from_secs(2);
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
    /// The codec media is sent with once connected: a speech codec for audio (rated by the
    /// E-model), a video-shaped one (`Codec::conference_video`, `Codec::desktop_sharing`)
    /// for video and desktop sharing. File transfer sends no measured stream.
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
    /// Audio needs a speech codec; video and desktop sharing need a video-shaped one.
    #[error("{media:?} media cannot be sent with the {codec} codec")]
    CodecMismatch { media: MediaType, codec: &'static str },
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
    /// Every connectivity check the caller's agent sent on this pair and what became of
    /// it, in time order (consent-freshness requests are not checks and are left out).
    pub checks: Vec<CheckEvent>,
}

/// Something that happened to one connectivity check of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CheckEvent {
    pub at: SimTime,
    pub kind: CheckKind,
}

/// What happened to a check: sent, sent again (RFC 8489 §6.2.1), a response arrived
/// (success or error), or it failed its pair (no answer before the transaction gave up, or
/// an answer that fails the check). An error response is `answered` then `failed` at the
/// same instant; a role conflict (487) is only `answered`, as the check is repeated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckKind {
    Sent,
    Retransmitted,
    Answered,
    Failed,
}

/// A pair with when it was chosen.
#[derive(Clone, Debug, Serialize)]
pub struct ChosenPair {
    pub at: SimTime,
    pub local: String,
    pub remote: String,
}

/// Which way a stream flowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    CallerToCallee,
    CalleeToCaller,
}

/// Media on one working path in one direction.
#[derive(Clone, Debug, Serialize)]
pub struct PathMedia {
    /// The caller's pair (`local -> remote`, as the caller's check list names it), whichever
    /// way the stream flowed.
    pub path: String,
    pub direction: Direction,
    /// The pair ICE selected.
    pub selected: bool,
    /// The nodes the stream's packets crossed, sender to receiver, read off the trace by
    /// following one of its first packets hop by hop (tunnel ends, concentrators and relays
    /// included). Empty when none of the followed packets left the sender.
    pub nodes: Vec<String>,
    pub summary: PathSummary,
    /// E-model R and MOS; `None` for video (G.107 rates speech only) or when nothing arrived.
    pub r: Option<f64>,
    pub mos: Option<f64>,
    /// One per RTP packet sent, in send order. In JSON each is `[sent, delay]` in
    /// nanoseconds (`delay` null when lost), the whole list on one line.
    pub samples: Vec<MediaSample>,
}

/// One RTP packet of a stream: when it left and how long it took to arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaSample {
    pub sent: SimTime,
    /// `None`: lost (never arrived before the media phase ended).
    pub delay: Option<SimDuration>,
}

impl Serialize for MediaSample {
    /// As a pair `[sent, delay]`: thousands of them per path, so no field names.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.sent, self.delay).serialize(s)
    }
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
    /// The nodes the INVITE crossed from the caller to the callee, through every proxy
    /// (registrars, Edges), as far as it got.
    pub signaling_path: Vec<String>,
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
    /// When the first media packet left (`None` when no media phase ran).
    pub media_started_at: Option<SimTime>,
    /// Media measured on every working path, the selected one first; each path caller to
    /// callee, then (when the callee could answer on it) callee to caller.
    pub media_paths: Vec<PathMedia>,
    /// When background load ran during the media phase.
    pub background: Vec<BackgroundPeriod>,
    /// Whether ICE chose the best-sounding path, and by how much it missed, judged caller to
    /// callee (the direction the caller's checks chose for; the other is in the table).
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
    let fits = match spec.media {
        MediaType::Audio => spec.codec.is_audio(),
        MediaType::Video | MediaType::DesktopSharing => !spec.codec.is_audio(),
        MediaType::FileTransfer => true,
    };
    if !fits {
        return Err(CallError::CodecMismatch { media: spec.media, codec: spec.codec.name });
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
    let caller_gathers_at = e.now();
    let media = start_media(&mut e, topo, spec, caller.node, Role::Controlling);
    caller.media = Some(media);
    let gathered_at = e.now() + GATHER;
    e.run_until(gathered_at);
    let offer = local_offer(&mut e, topo, caller.node, media);
    let invite_at = e.now();
    // Every hop is recorded until the callee has the INVITE, to draw its path.
    let invite_records = e.trace().records().len();
    e.set_trace_level(TraceLevel::Hops);
    let call_id = "call-1".to_string();
    e.command(caller.ua, |s, now| {
        if let Service::UserAgent(u) = s {
            u.send_request(now, Method::Invite, &callee_user, &call_id, &offer.sdp);
        }
    });

    let deadline = invite_at + spec.connect_timeout;
    let mut seen = e.trace().records().len();
    let mut callee_gather_until: Option<(SimTime, SipMessage)> = None;
    let mut callee_gathers_at: Option<SimTime> = None;
    let mut callee_offered_at: Option<SimTime> = None;
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
                        e.set_trace_level(TraceLevel::Outcomes);
                        let mid = start_media(&mut e, topo, spec, callee.node, Role::Controlled);
                        callee_gathers_at = Some(at);
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
            callee_offered_at = Some(e.now());
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

    // The INVITE's path ends at the callee, so records after it (kept at the outcome level
    // once the callee had it) do not change it.
    e.set_trace_level(TraceLevel::Outcomes);
    let signaling_path = sip_path(&e.trace().records()[invite_records..], topo, caller.node, callee.node);
    let media_run = match (selected, callee.media) {
        (Some((_, sel)), Some(callee_media))
            if spec.media_duration > SimDuration::ZERO && spec.media != MediaType::FileTransfer =>
        {
            let caller = Party { node: caller.node, media };
            let callee = Party { node: callee.node, media: callee_media };
            Some(measure_media(&mut e, spec, caller, callee, sel))
        }
        _ => None,
    };
    let (media_started_at, media_paths, verdict, background) = match media_run {
        Some(MediaRun { paths, verdict, started_at, background }) => (Some(started_at), paths, verdict, background),
        None => (None, Vec::new(), None, Vec::new()),
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
    let mut timeline = timeline(&e, topo);
    // Gathering: each side's agent gathers for a fixed window before it offers (the
    // caller in its INVITE, the callee in its answer).
    let step = |at: SimTime, node: NodeId, what: String| CallStep { at, node: topo.node(node).name.clone(), what };
    let gathered = |n: usize| format!("gathered {n} candidate{}", if n == 1 { "" } else { "s" });
    timeline.push(step(caller_gathers_at, caller.node, "starts gathering candidates".into()));
    timeline.push(step(gathered_at, caller.node, gathered(offer.lines.len())));
    if let Some(at) = callee_gathers_at {
        timeline.push(step(at, callee.node, "starts gathering candidates".into()));
    }
    if let (Some(at), Some(o)) = (callee_offered_at, &callee_offer) {
        timeline.push(step(at, callee.node, gathered(o.lines.len())));
    }
    timeline.sort_by_key(|s| s.at);
    let mut gathering = gathering_notes(&e, topo, caller.node, media);
    if let Some(m) = callee.media {
        gathering.extend(gathering_notes(&e, topo, callee.node, m));
    }
    Ok(CallOutcome {
        caller: topo.node(spec.caller).name.clone(),
        callee: topo.node(spec.callee).name.clone(),
        profile: profile_name(spec.profile).into(),
        media: spec.media,
        seed: spec.seed,
        signaling_ok,
        signaling_path: signaling_path.iter().map(|&n| topo.node(n).name.clone()).collect(),
        caller_candidates: offer.lines,
        callee_candidates: callee_offer.map(|o| o.lines).unwrap_or_default(),
        pairs,
        early_media,
        time_to_connect: first_selected_at.map(|at| at - invite_at),
        selected: selected_pair,
        promoted_at,
        media_started_at,
        media_paths,
        background,
        verdict,
        remote_candidate: selected.map(|(_, id)| remote_candidate_line(caller_agent, id).trim_end().to_string()),
        failure,
        gathering,
        timeline,
        capture: e.captured().to_vec(),
    })
}

/// The INVITE's way from `caller` toward `callee`, read off hop records: SIP packets in the
/// order they were sent, each followed node by node, chained from the caller through each
/// proxy that forwarded it to a node it had not reached yet (so a proxy's provisional
/// answer back to the caller is left out). Ends at the callee, or where the INVITE stopped.
fn sip_path(records: &[Record], topo: &Topology, caller: NodeId, callee: NodeId) -> Vec<NodeId> {
    use std::collections::BTreeMap;
    let is_sip = |s: &crate::trace::PacketSummary| {
        s.src.port() == crate::proto::signaling::SIP_PORT || s.dst.port() == crate::proto::signaling::SIP_PORT
    };
    // Each SIP packet's nodes, in sending order.
    let mut order = Vec::new();
    let mut hops: BTreeMap<PacketId, Vec<NodeId>> = BTreeMap::new();
    for r in records {
        let (packet, node) = match r {
            Record::Sent { packet, node, summary, .. } if is_sip(summary) => {
                order.push(*packet);
                hops.insert(*packet, Vec::new());
                (*packet, *node)
            }
            Record::Forwarded { packet, node, .. } | Record::Decapsulated { packet, node, .. } => (*packet, *node),
            Record::Transmitted { packet, to, .. } => (*packet, topo.iface(*to).node),
            Record::Delivered { packet, node, .. } => (*packet, *node),
            _ => continue,
        };
        if let Some(nodes) = hops.get_mut(&packet)
            && nodes.last() != Some(&node)
        {
            nodes.push(node);
        }
    }
    let mut path = vec![caller];
    for packet in order {
        let nodes = &hops[&packet];
        let (Some(&from), Some(&to)) = (nodes.first(), nodes.last()) else { continue };
        if Some(&from) != path.last() || path.contains(&to) {
            continue;
        }
        path.extend(&nodes[1..]);
        if to == callee {
            break;
        }
    }
    path
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
        let public = e.edge_public_address(edge_node).unwrap_or(edge.advertised);
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
    let endpoint = MediaEndpoint::new(IceAgent::new(cfg), &ufrag, &pwd, hosts, turn).with_tcp_hosts(tcp_hosts);
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
        let tcp_only = !m.tcp_hosts().is_empty() && m.hosts().is_empty();
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

pub(crate) struct RemoteOffer {
    ufrag: String,
    pwd: String,
    candidates: Vec<Candidate>,
}

pub(crate) fn parse_offer(body: &str) -> RemoteOffer {
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

pub(crate) fn start_checks(e: &mut Engine<'_>, media: ServiceId, remote: &RemoteOffer) {
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

pub(crate) fn agent<'a>(e: &'a Engine<'_>, media: ServiceId) -> &'a IceAgent {
    match e.service(media) {
        Service::Media(m) => &m.agent,
        _ => unreachable!("media service"),
    }
}

pub(crate) fn remote_candidate_line(a: &IceAgent, pair: PairId) -> String {
    let p = a.pairs().iter().find(|p| p.id == pair).expect("selected pair exists");
    format!("a=remote-candidates:1 {} {}\r\n", p.remote.address.ip(), p.remote.address.port())
}

pub(crate) fn describe(c: &Candidate) -> String {
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
        checks: check_events(p),
    }
}

/// A pair's checks as a time line of sends, retransmissions, answers and failures.
fn check_events(p: &CandidatePair) -> Vec<CheckEvent> {
    let mut out = Vec::new();
    for c in p.checks.iter().filter(|c| !c.consent) {
        let mut ev = |at: SimTime, kind: CheckKind| out.push(CheckEvent { at, kind });
        ev(c.sent_at, CheckKind::Sent);
        for &t in &c.retransmitted_at {
            ev(t, CheckKind::Retransmitted);
        }
        if let Some(t) = c.answered_at {
            ev(t, CheckKind::Answered);
        }
        if let Some(t) = c.failed_at {
            ev(t, CheckKind::Failed);
        }
    }
    // Stable: events of one instant keep the order above.
    out.sort_by_key(|x| x.at);
    out
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
                        format!("ICE failed: {reason}")
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

/// A profile as results name it.
fn profile_name(p: Profile) -> &'static str {
    match p {
        Profile::Rfc8445 => "rfc8445",
        Profile::MsIce2 => "ms-ice2",
    }
}

impl CallOutcome {
    /// The outcome of a call that could not be placed at all (`why`), for reports that
    /// judge it like any other failed call.
    pub fn not_placed(topo: &Topology, spec: &CallSpec, why: &str) -> CallOutcome {
        CallOutcome {
            caller: topo.node(spec.caller).name.clone(),
            callee: topo.node(spec.callee).name.clone(),
            profile: profile_name(spec.profile).into(),
            media: spec.media,
            seed: spec.seed,
            signaling_ok: false,
            signaling_path: Vec::new(),
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
            background: Vec::new(),
            media_started_at: None,
            timeline: Vec::new(),
            capture: Vec::new(),
        }
    }

    /// Whether media has a selected pair.
    pub fn connected(&self) -> bool {
        self.selected.is_some()
    }

    /// Pretty JSON, except that each path's `samples` list is written on one line.
    pub fn to_json(&self) -> String {
        json::to_json(self)
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
        if self.signaling_path.len() > 1 {
            let _ = writeln!(o, "  INVITE path: {}", self.signaling_path.join(" -> "));
        }
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
            let _ = writeln!(o, "media on every working path (-> caller to callee, <- callee to caller):");
            let _ = writeln!(
                o,
                "  {:<62} {:>3} {:>9} {:>9} {:>9} {:>9} {:>5}  {:>5} {:>4}",
                "path (the caller's pair)", "dir", "delay", "p95", "jitter", "loss", "ooo", "R", "MOS"
            );
            let arrow = |d: Direction| match d {
                Direction::CallerToCallee => "->",
                Direction::CalleeToCaller => "<-",
            };
            for (k, m) in self.media_paths.iter().enumerate() {
                let s = &m.summary;
                let ms = |d: SimDuration| format!("{:.1}ms", d.as_millis_f64());
                let (mean, p95) = s.delay.as_ref().map_or(("-".into(), "-".into()), |d| (ms(d.mean), ms(d.p95)));
                // A path's second direction continues its first row.
                let same = k > 0 && self.media_paths[k - 1].path == m.path;
                let (mark, name) = match (same, m.selected) {
                    (true, _) => ("  ", ""),
                    (false, true) => ("* ", m.path.as_str()),
                    (false, false) => ("  ", m.path.as_str()),
                };
                let _ = writeln!(
                    o,
                    "{mark}{:<62} {:>3} {:>9} {:>9} {:>9} {:>8.2}% {:>5}  {:>5} {:>4}",
                    name,
                    arrow(m.direction),
                    mean,
                    p95,
                    ms(s.jitter),
                    100.0 * s.loss_fraction,
                    s.out_of_order,
                    m.r.map_or("-".into(), |r| format!("{r:.1}")),
                    m.mos.map_or("-".into(), |x| format!("{x:.2}"))
                );
                let last_of_path = self.media_paths.get(k + 1).is_none_or(|n| n.path != m.path);
                if last_of_path {
                    for d in self.media_paths[..=k]
                        .iter()
                        .rev()
                        .take_while(|d| d.path == m.path)
                        .collect::<Vec<_>>()
                        .iter()
                        .rev()
                    {
                        if !d.nodes.is_empty() {
                            let _ = writeln!(o, "    {} {}", arrow(d.direction), d.nodes.join(" > "));
                        }
                    }
                }
            }
            if let Some(v) = &self.verdict {
                let _ = writeln!(o, "verdict: {v}");
            } else if self.media_paths.iter().all(|m| m.mos.is_none()) && self.media != MediaType::Audio {
                let _ = writeln!(
                    o,
                    "MOS: none (-): the ITU-T G.107 E-model rates speech only; compare {} paths by delay, jitter and loss",
                    if self.media == MediaType::Video { "video" } else { "screen-sharing" }
                );
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
