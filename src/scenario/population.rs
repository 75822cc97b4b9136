//! A population run: many calls at once on one shared network (one engine), so links,
//! concentrators and Edges carry the aggregate load, as a capacity planner needs to see.
//!
//! Calls arrive per the call model (Poisson arrivals, or a fixed number started over a
//! ramp), from the seeded stream; the callee is drawn among the other users and a call
//! whose caller or callee is already on a call is skipped. Each call goes through the same
//! steps as `run_call` — both clients gather on their Edge for two seconds, the caller
//! offers in an INVITE through the registrars, the callee answers with 183, both agents
//! check, the caller promotes with a re-INVITE when the final pair differs from the early
//! one — using the same pieces (`start_media`, `local_offer`, `start_checks`, user agents,
//! relay clients). The driver keeps a small state machine per call, keyed by Call-ID and
//! by media endpoint, and reacts to the engine's service events (`Engine::set_service_log`)
//! rather than to trace records, so the trace keeps counters only.
//!
//! Differences from a single call, chosen for scale: media flows on the selected pair
//! only (both ways), not on every working pair; no hop-by-hop route is traced; each stream
//! keeps running statistics (count, delay, RFC 3550 jitter), not per-packet samples; RTP
//! packets are put on the wire step by step (every 20 ms), so the number in flight stays
//! small. Once media flows, each client frees the relay allocations it does not use
//! (RFC 8445 §8.3), and at hang-up the caller sends BYE and both release the rest
//! (Refresh with lifetime 0) and their media endpoints are detached.

mod report;
mod stats;

use std::collections::VecDeque;
use std::net::SocketAddrV4;

use rustc_hash::FxHashMap;

use super::call::{
    CallSpec, GATHER, MediaType, agent, answering_base, describe, local_offer, parse_offer, remote_candidate_line,
    start_checks, start_media,
};
use crate::engine::{Engine, Limits, Service, ServiceEvent, ServiceId};
use crate::population::{Arrivals, DurationModel, PopulationSpec, User};
use crate::proto::TurnServerEvent;
use crate::proto::ice::{AgentState, CandidateType, IceEvent, PairId, Role};
use crate::proto::media::MediaEvent;
use crate::proto::signaling::{Method, SipMessage, Start, UserAgentEvent};
use crate::report::quality::estimate;
use crate::rng::{RngStream, SimRng};
use crate::time::{SimDuration, SimTime};
use crate::topology::{NodeId, Topology};
use crate::trace::TraceLevel;
use crate::wire::rtp::{Codec, MediaSource};
use crate::wire::{Datagram, Protocol};

pub use report::{CallRecord, EdgeSeries, LinkLoad, PopulationOutcome, QualitySummary};
use stats::StreamStats;

/// How often the driver looks at the calls.
const STEP: SimDuration = SimDuration::from_millis(20);
/// How much RTP a call in its media phase puts on the wire at a time: its packets keep
/// their own send times, and the driver need not visit every call at every step (at
/// thousands of concurrent calls, the visits were a tenth of the run's cache misses).
const MEDIA_BATCH: SimDuration = SimDuration::from_millis(100);
/// Users register over this long at the start, so registrars are not hit all at once.
const REGISTRATION: SimDuration = SimDuration::from_secs(3);
/// Media starts this long after checks settle (as in a single call).
const LEAD_IN: SimDuration = SimDuration::from_millis(100);
/// A client frees relay allocations it does not use this long after media starts
/// (RFC 8445 §8.3: three seconds after ICE completes).
const FREE_UNUSED: SimDuration = SimDuration::from_secs(3);
/// After its last packet a stream is measured for this long more (late arrivals count).
const DRAIN: SimDuration = SimDuration::from_secs(1);
/// Media starts once the caller's checks settle, or this long after it selected a pair
/// when a check stays pending (a later, better pair would still be promoted to, but media
/// stays on the pair selected when it started).
const SETTLE: SimDuration = SimDuration::from_secs(2);
/// Give up on a call this long after its INVITE if no pair was selected.
const CONNECT_TIMEOUT: SimDuration = SimDuration::from_secs(45);
/// SSRCs: call `k`'s caller-to-callee stream is `SSRC_BASE + 2k`, the other `+ 1`.
const SSRC_BASE: u32 = 0x1000_0000;
/// Exponential call durations are drawn between these multiples of the mean, so one call
/// cannot keep a run going for hours.
const DURATION_CAP: f64 = 5.0;

/// How to run a population.
#[derive(Clone, Debug)]
pub struct PopulationOptions {
    pub seed: u64,
    /// Calls arrive during this window (after registration); the run then lets every call
    /// end.
    pub window: SimDuration,
    /// How often Edge and link load is sampled.
    pub sample: SimDuration,
    /// How many links the report ranks.
    pub top_links: usize,
}

impl Default for PopulationOptions {
    fn default() -> Self {
        PopulationOptions {
            seed: 1,
            window: SimDuration::from_secs(60),
            sample: SimDuration::from_secs(1),
            top_links: 10,
        }
    }
}

/// Where a call is.
#[derive(Clone, Debug)]
enum Phase {
    /// The caller gathers until then, then offers.
    Gathering(SimTime),
    /// INVITE sent: waiting for the answer and for checks to settle.
    Connecting,
    /// Media flows until `until`.
    Media {
        until: SimTime,
    },
    /// Measuring late arrivals until then.
    Draining(SimTime),
    Done,
}

/// One RTP stream of a call.
struct Stream {
    sender: (NodeId, ServiceId),
    /// Its place in `Drive::receiving` (the call's index times two, plus one for the
    /// callee's direction), which its SSRC also encodes.
    slot: usize,
    local: SocketAddrV4,
    protocol: Protocol,
    remote: SocketAddrV4,
    /// `local` is a relayed address: packets go through the sender's TURN client.
    relayed: bool,
    /// Spare room a packet sent straight from `local` is made with: `remote` is a relayed
    /// candidate, whose TURN server wraps each packet in a Data indication in the buffer it
    /// arrived in, which then need not grow (and move).
    headroom: usize,
    source: MediaSource,
}

/// The receiving end of a stream, kept apart from its call in one flat table indexed by
/// SSRC: every RTP arrival goes straight to it, without reading the call and its stream
/// list (cold at 1,000 concurrent calls).
struct Receiving {
    receiver: ServiceId,
    stats: StreamStats,
}

/// One call's state.
struct Call {
    caller: usize,
    callee: usize,
    media: MediaType,
    codec: Codec,
    duration: SimDuration,
    placed_at: SimTime,
    call_id: String,
    phase: Phase,
    caller_media: ServiceId,
    callee_media: Option<ServiceId>,
    /// The callee gathers until then, then answers this INVITE.
    callee_gather: Option<(SimTime, SipMessage)>,
    invite_at: Option<SimTime>,
    checks_started: bool,
    early: Option<PairId>,
    selected: Option<(SimTime, PairId)>,
    promoted: bool,
    failure: Option<String>,
    streams: Vec<Stream>,
    free_unused_at: Option<SimTime>,
    media_started_at: Option<SimTime>,
    /// The selected pair's candidate types and name, kept for the record once the
    /// endpoints are gone.
    selected_pair: Option<(CandidateType, CandidateType, String)>,
    ended_at: Option<SimTime>,
}

/// What the driver knows of each user.
struct UserState {
    node: NodeId,
    ua: Option<ServiceId>,
    /// The call the user is on.
    busy: Option<usize>,
}

/// Runs the population `spec` on `topo`, the topology generated for it, whose users are
/// `users` and Edge servers `edges` (node ids in the topology).
pub fn run_population(
    topo: &Topology,
    spec: &PopulationSpec,
    users: &[User],
    edges: &[String],
    opts: &PopulationOptions,
) -> PopulationOutcome {
    let max_duration = match spec.calls.distribution {
        DurationModel::Fixed => spec.calls.duration,
        DurationModel::Exponential => {
            SimDuration::from_nanos((spec.calls.duration.as_nanos() as f64 * DURATION_CAP) as u64)
        }
    };
    let horizon =
        SimTime::ZERO + REGISTRATION + opts.window + max_duration + CONNECT_TIMEOUT + SimDuration::from_secs(60);
    let limits = Limits { horizon, max_events: u64::MAX, max_events_per_instant: 50_000_000 };
    let mut e = Engine::new(topo, SimRng::new(opts.seed), limits, TraceLevel::Counters);
    e.set_service_log(true);
    // RTP arrivals only update their stream's statistics, which nothing else in a step
    // reads or changes (streams start in `advance`, between steps): they come in their own
    // compact log, handled before the step's other events.
    e.set_rtp_log(true);
    e.connect_vpns();
    e.run_until(SimTime::ZERO + SimDuration::from_millis(500));
    let turn: Vec<(NodeId, ServiceId)> = e.start_edges();
    let edge_turn: Vec<ServiceId> = edges
        .iter()
        .map(|name| {
            let node = topo.node_by_name(name).expect("invariant: generated edges exist");
            turn.iter().find(|(n, _)| *n == node).map(|(_, s)| *s).expect("invariant: every edge runs a relay")
        })
        .collect();
    let turn_edge: FxHashMap<ServiceId, usize> = edge_turn.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    e.start_registrars();
    let mut people: Vec<UserState> = users
        .iter()
        .map(|u| {
            let node = topo.node_by_name(&u.name).expect("invariant: generated users exist");
            UserState { node, ua: e.attach_user_agent(node), busy: None }
        })
        .collect();
    let ua_user: FxHashMap<ServiceId, usize> =
        people.iter().enumerate().filter_map(|(i, p)| p.ua.map(|ua| (ua, i))).collect();
    e.set_link_counters(true);

    let t0 = e.now();
    let calls_from = t0 + REGISTRATION;
    let calls_until = calls_from + opts.window;
    let mut rng = SimRng::new(opts.seed).fork("population/calls");
    let mut arrivals = plan_arrivals(spec, users.len(), calls_from, opts.window, &mut rng);
    let mut next_registration = 0usize;
    let register_gap = SimDuration::from_nanos(REGISTRATION.as_nanos() / (people.len() as u64 + 1));

    let mut calls: Vec<Call> = Vec::new();
    // Per call, the first step end the driver must visit it before (`Call::wake_at`); set
    // to zero whenever an event may have changed the call.
    let mut wake: Vec<SimTime> = Vec::new();
    let mut active: Vec<usize> = Vec::new();
    let mut by_media: FxHashMap<ServiceId, usize> = FxHashMap::default();
    let mut by_call_id: FxHashMap<String, usize> = FxHashMap::default();
    let mut skipped_busy = 0u64;
    let mut peak_concurrent = 0u64;
    let mut notes = Vec::new();
    let mut arrivals_rtp = Vec::new();
    let mut load = report::LoadSampler::new(&e, edge_turn.len(), opts.sample, calls_from);
    let mut deleted_relay_bytes = vec![0u64; edge_turn.len()];
    let mut drive = Drive { freed: 0, phases: SimRng::new(opts.seed), receiving: Vec::new(), scratch: Vec::new() };

    loop {
        let now = e.now();
        // Registrations due.
        while next_registration < people.len()
            && t0 + SimDuration::from_nanos(register_gap.as_nanos() * next_registration as u64) <= now
        {
            if let Some(ua) = people[next_registration].ua {
                e.command(ua, |s, now| {
                    if let Service::UserAgent(u) = s {
                        u.register(now);
                    }
                });
            }
            next_registration += 1;
        }
        // Arrivals due.
        while arrivals.front().is_some_and(|a| *a <= now) {
            arrivals.pop_front();
            let Some((caller, callee)) = pick_pair(spec, &people, &mut rng) else {
                skipped_busy += 1;
                continue;
            };
            let video = rng.unit() < spec.calls.video_share;
            let duration = draw_duration(spec, &mut rng);
            let k = calls.len();
            let (media, codec) = if video {
                (MediaType::Video, Codec::conference_video(spec.calls.video_bitrate))
            } else {
                (MediaType::Audio, spec.calls.codec)
            };
            let call_spec = call_spec(people[caller].node, people[callee].node, media, codec);
            let mid = start_media(&mut e, topo, &call_spec, people[caller].node, Role::Controlling);
            by_media.insert(mid, k);
            let call_id = format!("pop-{}", k + 1);
            by_call_id.insert(call_id.clone(), k);
            people[caller].busy = Some(k);
            people[callee].busy = Some(k);
            wake.push(SimTime::ZERO);
            calls.push(Call {
                caller,
                callee,
                media,
                codec,
                duration,
                placed_at: now,
                call_id,
                phase: Phase::Gathering(now + GATHER),
                caller_media: mid,
                callee_media: None,
                callee_gather: None,
                invite_at: None,
                checks_started: false,
                early: None,
                selected: None,
                promoted: false,
                failure: None,
                streams: Vec::new(),
                free_unused_at: None,
                media_started_at: None,
                selected_pair: None,
                ended_at: None,
            });
            active.push(k);
            peak_concurrent = peak_concurrent.max(active.len() as u64);
        }
        // Each active call moves on.
        let step_end = now + STEP;
        let mut finished = Vec::new();
        for &k in &active {
            if wake[k] >= step_end {
                continue;
            }
            let c = &mut calls[k];
            advance(&mut e, topo, c, k, &people, step_end, &mut drive);
            if matches!(c.phase, Phase::Done) {
                finished.push(k);
            }
            wake[k] = c.wake_at().unwrap_or(SimTime::ZERO);
        }
        for k in finished {
            active.retain(|&a| a != k);
            hang_up(&mut e, &mut calls[k], &mut by_media);
            calls[k].ended_at = Some(e.now());
            let (caller, callee) = (calls[k].caller, calls[k].callee);
            people[caller].busy = None;
            people[callee].busy = None;
        }
        load.maybe_sample(&e, &edge_turn, &deleted_relay_bytes, now);
        if arrivals.is_empty() && active.is_empty() && now >= calls_until {
            break;
        }
        if now >= horizon {
            for &k in &active {
                calls[k].failure.get_or_insert_with(|| "still running when the run's horizon was reached".into());
            }
            break;
        }
        e.run_until(step_end);
        // What happened during the step.
        e.swap_rtp_arrivals(&mut arrivals_rtp);
        for a in &arrivals_rtp {
            let slot = a.ids.ssrc.wrapping_sub(SSRC_BASE) as usize;
            if let Some(Some(r)) = drive.receiving.get_mut(slot)
                && r.receiver == a.service
            {
                r.stats.on_receive(a.ids.sequence, a.ids.timestamp, a.at);
            }
        }
        e.swap_service_events(&mut notes);
        for n in notes.drain(..) {
            match n.event {
                ServiceEvent::Media(MediaEvent::Ice(ev)) => {
                    let Some(&k) = by_media.get(&n.service) else { continue };
                    wake[k] = SimTime::ZERO;
                    let c = &mut calls[k];
                    if n.service != c.caller_media {
                        continue;
                    }
                    match ev {
                        IceEvent::FirstValidPair { pair } if c.early.is_none() => c.early = Some(pair),
                        IceEvent::Selected { pair } => c.selected = Some((n.at, pair)),
                        IceEvent::Failed { .. } if c.selected.is_none() => {
                            c.failure.get_or_insert_with(|| "every candidate pair failed".into());
                        }
                        _ => {}
                    }
                }
                ServiceEvent::UserAgent(ev) => {
                    let Some(&user) = ua_user.get(&n.service) else { continue };
                    if let Some(k) = people[user].busy {
                        wake[k] = SimTime::ZERO;
                    }
                    on_signaling(&mut e, topo, &mut calls, &by_call_id, &mut by_media, &people, user, n.at, ev);
                }
                ServiceEvent::Turn(TurnServerEvent::AllocationDeleted { counters, .. }) => {
                    if let Some(&i) = turn_edge.get(&n.service) {
                        deleted_relay_bytes[i] += counters.bytes_to_peer + counters.bytes_from_peer;
                    }
                }
                _ => {}
            }
        }
    }
    // Let the last releases reach the Edges.
    let end = e.now();
    e.run_until(end + SimDuration::from_secs(2));
    for n in e.drain_service_events() {
        if let ServiceEvent::Turn(TurnServerEvent::AllocationDeleted { counters, .. }) = n.event
            && let Some(&i) = turn_edge.get(&n.service)
        {
            deleted_relay_bytes[i] += counters.bytes_to_peer + counters.bytes_from_peer;
        }
    }
    let end = e.now();
    load.sample(&e, &edge_turn, &deleted_relay_bytes, end);
    let records: Vec<CallRecord> =
        calls.iter().enumerate().map(|(k, c)| record(users, k, c, &drive.receiving)).collect();
    report::outcome(report::Inputs {
        topo,
        spec,
        users,
        edges,
        opts,
        calls: records,
        skipped_busy,
        peak_concurrent,
        relay_clients_freed: drive.freed,
        load,
        end,
        counters: e.trace().counters().clone(),
    })
}

impl Call {
    /// In the media phase, the earliest instant the driver has something to do for the
    /// call: the first RTP packet not yet on the wire, releasing unused relays, or the end
    /// of media. `None` in other phases: visit at every step.
    fn wake_at(&self) -> Option<SimTime> {
        let Phase::Media { until } = self.phase else { return None };
        let next = self.streams.iter().map(|s| s.source.next_time()).min().unwrap_or(until);
        Some(next.min(until).min(self.free_unused_at.unwrap_or(until)))
    }
}

/// The `CallSpec` `start_media` reads (profile, media kind, codec).
fn call_spec(caller: NodeId, callee: NodeId, media: MediaType, codec: Codec) -> CallSpec {
    CallSpec { media, codec, ..CallSpec::new(caller, callee) }
}

/// The instants calls arrive at, in order.
fn plan_arrivals(
    spec: &PopulationSpec,
    users: usize,
    from: SimTime,
    window: SimDuration,
    rng: &mut RngStream,
) -> VecDeque<SimTime> {
    let mut out = VecDeque::new();
    let end = from + window;
    match spec.calls.arrivals {
        Arrivals::Poisson { per_user_per_hour } => {
            let rate = users as f64 * per_user_per_hour / 3600.0;
            if rate <= 0.0 {
                return out;
            }
            let mut t = from;
            loop {
                // Exponential gaps: -ln(U)/rate, U in (0, 1].
                let gap = -rng.unit_open_low().ln() / rate;
                t += SimDuration::from_nanos((gap * 1e9) as u64);
                if t >= end {
                    break;
                }
                out.push_back(t);
            }
        }
        Arrivals::Concurrent { count, ramp } => {
            for k in 0..count as u64 {
                out.push_back(from + SimDuration::from_nanos(ramp.as_nanos() * k / count.max(1) as u64));
            }
        }
    }
    out
}

/// Caller and callee for a new call. Poisson arrivals draw once and skip the call when
/// either is busy (a busy user does not call, and an incoming call to a busy user is not
/// placed); a load test (`concurrent`) draws again until it finds two free users.
fn pick_pair(spec: &PopulationSpec, people: &[UserState], rng: &mut RngStream) -> Option<(usize, usize)> {
    let n = people.len();
    let tries = match spec.calls.arrivals {
        Arrivals::Poisson { .. } => 1,
        Arrivals::Concurrent { .. } => 64,
    };
    for _ in 0..tries {
        let caller = (rng.next_u64() % n as u64) as usize;
        let callee = (caller + 1 + (rng.next_u64() % (n as u64 - 1)) as usize) % n;
        if people[caller].busy.is_none() && people[callee].busy.is_none() {
            return Some((caller, callee));
        }
    }
    None
}

fn draw_duration(spec: &PopulationSpec, rng: &mut RngStream) -> SimDuration {
    let mean = spec.calls.duration;
    match spec.calls.distribution {
        DurationModel::Fixed => mean,
        DurationModel::Exponential => {
            let x = (-rng.unit_open_low().ln()).clamp(0.02, DURATION_CAP);
            SimDuration::from_nanos((mean.as_nanos() as f64 * x) as u64)
        }
    }
}

/// Moves one call along before the engine runs to `step_end`.
#[allow(clippy::too_many_arguments)]
fn advance(
    e: &mut Engine<'_>,
    topo: &Topology,
    c: &mut Call,
    k: usize,
    people: &[UserState],
    step_end: SimTime,
    drive: &mut Drive,
) {
    let now = e.now();
    if c.failure.is_some() && !matches!(c.phase, Phase::Done) {
        c.phase = Phase::Done;
        return;
    }
    match c.phase.clone() {
        Phase::Gathering(until) if now >= until => {
            let caller = people[c.caller].node;
            let offer = local_offer(e, topo, caller, c.caller_media);
            let callee_user = topo.node(people[c.callee].node).roles.sip.as_ref().map(|s| s.user.clone());
            let (Some(ua), Some(callee_user)) = (people[c.caller].ua, callee_user) else {
                c.failure = Some("the caller could not sign in".into());
                return;
            };
            let call_id = c.call_id.clone();
            e.command(ua, |s, now| {
                if let Service::UserAgent(u) = s {
                    u.send_request(now, Method::Invite, &callee_user, &call_id, &offer.sdp);
                }
            });
            c.invite_at = Some(now);
            c.phase = Phase::Connecting;
        }
        Phase::Gathering(_) => {}
        Phase::Connecting => {
            // The callee answers once it has gathered.
            if let Some((until, _)) = &c.callee_gather
                && now >= *until
            {
                let (_, invite) = c.callee_gather.take().expect("checked above");
                let callee = people[c.callee].node;
                let mid = c.callee_media.expect("set with the gather deadline");
                let answer = local_offer(e, topo, callee, mid);
                start_checks(e, mid, &parse_offer(&invite.body));
                if let Some(ua) = people[c.callee].ua {
                    e.command(ua, |s, _| {
                        if let Service::UserAgent(u) = s {
                            u.respond(&invite, 183, &answer.sdp);
                            u.respond(&invite, 200, &answer.sdp);
                        }
                    });
                }
            }
            if let (Some((sel_at, sel)), Some(first)) = (c.selected, c.early) {
                // Promotion: the final pair differs from the early one.
                if sel != first && !c.promoted {
                    c.promoted = true;
                    let line = remote_candidate_line(agent(e, c.caller_media), sel);
                    let callee_user = topo.node(people[c.callee].node).roles.sip.as_ref().map(|s| s.user.clone());
                    if let (Some(ua), Some(to)) = (people[c.caller].ua, callee_user) {
                        let call_id = c.call_id.clone();
                        e.command(ua, |s, now| {
                            if let Service::UserAgent(u) = s {
                                u.send_request(now, Method::Invite, &to, &call_id, &line);
                            }
                        });
                    }
                }
                let a = agent(e, c.caller_media);
                let pending = a.pairs().iter().any(|p| p.state.is_pending());
                if (matches!(a.state(), AgentState::Completed) && !pending) || now >= sel_at + SETTLE {
                    start_streams(e, c, k, people, sel, now + LEAD_IN, drive);
                    let until = now + LEAD_IN + c.duration;
                    c.media_started_at = Some(now + LEAD_IN);
                    c.free_unused_at = Some(now + LEAD_IN + FREE_UNUSED);
                    c.phase = Phase::Media { until };
                    send_media(e, c, step_end.min(until), drive);
                    return;
                }
            }
            if c.invite_at.is_some_and(|t| now >= t + CONNECT_TIMEOUT) {
                c.failure = Some(if c.checks_started {
                    "no pair was selected before the timeout".into()
                } else {
                    "signaling did not complete before the timeout".into()
                });
            }
        }
        Phase::Media { until } => {
            if c.free_unused_at.is_some_and(|t| now >= t) {
                c.free_unused_at = None;
                drive.freed += free_unused(e, c);
            }
            if now >= until {
                c.phase = Phase::Draining(now + DRAIN);
            } else {
                send_media(e, c, (now + MEDIA_BATCH).max(step_end).min(until), drive);
            }
        }
        Phase::Draining(until) => {
            if now >= until {
                c.phase = Phase::Done;
            }
        }
        Phase::Done => {}
    }
}

/// Reacts to what a user agent reported.
#[allow(clippy::too_many_arguments)]
fn on_signaling(
    e: &mut Engine<'_>,
    topo: &Topology,
    calls: &mut [Call],
    by_call_id: &FxHashMap<String, usize>,
    by_media: &mut FxHashMap<ServiceId, usize>,
    people: &[UserState],
    user: usize,
    at: SimTime,
    ev: UserAgentEvent,
) {
    match ev {
        UserAgentEvent::Request(m) => {
            let Some(&k) = by_call_id.get(&m.call_id) else { return };
            let c = &mut calls[k];
            let ua = people[user].ua.expect("events come from attached agents");
            match m.start {
                Start::Request(Method::Invite) if user == c.callee && c.callee_media.is_none() => {
                    if matches!(c.phase, Phase::Done) || c.failure.is_some() {
                        return;
                    }
                    let spec = call_spec(people[c.caller].node, people[c.callee].node, c.media, c.codec);
                    let mid = start_media(e, topo, &spec, people[c.callee].node, Role::Controlled);
                    by_media.insert(mid, k);
                    c.callee_media = Some(mid);
                    c.callee_gather = Some((at + GATHER, m));
                }
                // A re-INVITE (promotion) or a BYE: acknowledge it.
                Start::Request(Method::Invite | Method::Bye) => {
                    e.command(ua, |s, _| {
                        if let Service::UserAgent(u) = s {
                            u.respond(&m, 200, "");
                        }
                    });
                }
                _ => {}
            }
        }
        UserAgentEvent::Response(m) => {
            let Some(&k) = by_call_id.get(&m.call_id) else { return };
            let c = &mut calls[k];
            if user != c.caller {
                return;
            }
            match m.start {
                Start::Response { code: 183, method: Method::Invite } if !c.checks_started => {
                    c.checks_started = true;
                    if !matches!(c.phase, Phase::Done) {
                        start_checks(e, c.caller_media, &parse_offer(&m.body));
                    }
                }
                Start::Response { code, method: Method::Invite } if code >= 300 && c.selected.is_none() => {
                    c.failure.get_or_insert_with(|| format!("the callee's side answered the INVITE with {code}"));
                }
                _ => {}
            }
        }
        UserAgentEvent::TimedOut { method: Method::Invite, call_id } => {
            if let Some(&k) = by_call_id.get(&call_id)
                && !calls[k].checks_started
            {
                calls[k].failure.get_or_insert_with(|| "signaling failed: the INVITE was never answered".into());
            }
        }
        _ => {}
    }
}

/// Sets up the call's two streams on the selected pair: the caller sends from its
/// candidate's base to the remote candidate; the callee answers from its own candidate at
/// that remote address to where the caller's checks came from (as `measure_media` does).
fn start_streams(
    e: &mut Engine<'_>,
    c: &mut Call,
    k: usize,
    people: &[UserState],
    sel: PairId,
    start: SimTime,
    drive: &mut Drive,
) {
    let phases = &drive.phases;
    // Each sender's packet clock starts at its own offset within one frame: endpoints do
    // not share a clock, and streams started on the driver's 20 ms grid would otherwise
    // reach a shared link in the same nanosecond every frame (at 10,000 calls, bursts of
    // thousands of packets that overflow an Edge link's queue although its mean load is
    // under a third of its rate).
    let frame = c.codec.frame.as_nanos().max(1);
    let phase = |dir: u32| {
        let mut r = phases.fork_fmt(format_args!("population/media-phase/{k}/{dir}"));
        start + SimDuration::from_nanos((r.unit() * frame as f64) as u64 % frame)
    };
    let Some(callee_media) = c.callee_media else { return };
    let Some(p) = agent(e, c.caller_media).pair(sel).cloned() else { return };
    let (local, remote) = (p.local, p.remote);
    c.selected_pair = Some((local.kind, remote.kind, format!("{} -> {}", describe(&local), describe(&remote))));
    let back = answering_base(agent(e, callee_media), &local, &remote);
    let clock = c.codec.clock_rate;
    let ssrc = SSRC_BASE.wrapping_add(2 * k as u32);
    let (forth, back_slot) = (2 * k, 2 * k + 1);
    let receiving = &mut drive.receiving;
    if receiving.len() <= back_slot {
        receiving.resize_with(back_slot + 1, || None);
    }
    receiving[forth] = Some(Receiving { receiver: callee_media, stats: StreamStats::new(clock) });
    c.streams.push(Stream {
        sender: (people[c.caller].node, c.caller_media),
        slot: forth,
        local: local.base,
        protocol: local.protocol,
        remote: remote.address,
        relayed: is_relayed(e, c.caller_media, local.base),
        headroom: relay_room(remote.kind),
        source: MediaSource::new(c.codec, ssrc, phase(0)),
    });
    if let Some(base) = back {
        receiving[back_slot] = Some(Receiving { receiver: c.caller_media, stats: StreamStats::new(clock) });
        c.streams.push(Stream {
            sender: (people[c.callee].node, callee_media),
            slot: back_slot,
            local: base,
            protocol: remote.protocol,
            remote: local.address,
            relayed: is_relayed(e, callee_media, base),
            headroom: relay_room(local.kind),
            source: MediaSource::new(c.codec, ssrc + 1, phase(1)),
        });
    }
}

/// The room a TURN server needs in front of and behind a packet sent to a candidate of type
/// `kind` to wrap it for its client: a Data indication's header, XOR-PEER-ADDRESS and DATA
/// header (20 + 12 + 4 bytes) and up to 3 bytes of padding (RFC 8656 §11.3).
fn relay_room(kind: CandidateType) -> usize {
    match kind {
        CandidateType::Relayed => 20 + 12 + 4 + 3,
        _ => 0,
    }
}

/// Whether `local` is a relayed address of the endpoint's TURN clients.
fn is_relayed(e: &Engine<'_>, media: ServiceId, local: SocketAddrV4) -> bool {
    match e.service(media) {
        Service::Media(m) => m.turn.iter().any(|t| t.relayed() == Some(local)),
        _ => false,
    }
}

/// What the driver carries from step to step besides the calls.
struct Drive {
    /// Relay allocations released because media did not use them.
    freed: u64,
    /// Seeds each media stream's start offset within a frame: a stream forked per call and
    /// direction, so the plan's draws do not depend on which calls connect and a call's
    /// offsets do not shift when another call changes (sweep variants stay comparable).
    phases: SimRng,
    /// Each stream's receiving end, by slot (`Stream::slot`).
    receiving: Vec<Option<Receiving>>,
    /// The buffer RTP packets are written into when their endpoint copies them on (relayed
    /// or over TCP): one allocation for the run instead of one per packet.
    scratch: Vec<u8>,
}

/// Puts every RTP packet due before `until` on the wire. Each packet is written once, into
/// the buffer it travels in: a direct stream's own exact-size buffer (with room for the Data
/// indication a relay at the far end wraps it in there), or, when the endpoint copies it
/// into a Send indication or a TCP frame, the one scratch buffer all such packets share.
fn send_media(e: &mut Engine<'_>, c: &mut Call, until: SimTime, drive: &mut Drive) {
    let scratch = &mut drive.scratch;
    for s in &mut c.streams {
        while s.source.next_time() < until {
            let (local, protocol, remote) = (s.local, s.protocol, s.remote);
            let wrapped = s.relayed || protocol != Protocol::Udp;
            let mut bytes = if wrapped {
                scratch.clear();
                std::mem::take(scratch)
            } else {
                Vec::with_capacity(s.source.next_wire_len() + s.headroom)
            };
            let (at, sequence) = match s.source.next_packet_into(&mut bytes) {
                Ok(sent) => sent,
                Err(e) => panic!("invariant: an RtpPacket we build is encodable: {e}"),
            };
            let d = if wrapped {
                let d = e.command_polling_if(s.sender.1, |svc, now| match svc {
                    Service::Media(m) => m.wrap_media(now, local, protocol, remote, &bytes),
                    _ => (None, true),
                });
                *scratch = bytes;
                d
            } else {
                // What `wrap_media` builds for a host socket, without waking the endpoint.
                Some(Datagram::udp(local, remote, bytes))
            };
            if let Some(d) = d {
                e.send_at(at, s.sender.0, d);
                if let Some(r) = drive.receiving[s.slot].as_mut() {
                    r.stats.on_send(sequence, at);
                }
            }
        }
    }
}

/// Releases the relay allocations a client does not send media from (RFC 8445 §8.3).
/// Returns how many were released.
fn free_unused(e: &mut Engine<'_>, c: &Call) -> u64 {
    let mut freed = 0;
    for s in &c.streams {
        let used = s.local;
        freed += e.command(s.sender.1, |svc, now| {
            let Service::Media(m) = svc else { return 0 };
            let mut n = 0;
            for t in m.turn.iter_mut().filter(|t| t.relayed().is_some_and(|r| r != used)) {
                t.refresh(now, SimDuration::ZERO);
                n += 1;
            }
            n
        });
    }
    freed
}

/// Ends a call: BYE from the caller (when it got that far), every remaining relay
/// allocation released, both media endpoints detached.
fn hang_up(e: &mut Engine<'_>, c: &mut Call, by_media: &mut FxHashMap<ServiceId, usize>) {
    for mid in std::iter::once(c.caller_media).chain(c.callee_media) {
        e.command(mid, |svc, now| {
            if let Service::Media(m) = svc {
                for t in m.turn.iter_mut().filter(|t| t.relayed().is_some()) {
                    t.refresh(now, SimDuration::ZERO);
                }
            }
        });
        e.detach(mid);
        by_media.remove(&mid);
    }
}

/// A call as the report lists it.
fn record(users: &[User], k: usize, c: &Call, receiving: &[Option<Receiving>]) -> CallRecord {
    let kind = |c: CandidateType| match c {
        CandidateType::Host => "host",
        CandidateType::ServerReflexive => "srflx",
        CandidateType::PeerReflexive => "prflx",
        CandidateType::Relayed => "relay",
    };
    let connected = c.media_started_at.is_some() && c.failure.is_none();
    let (pair, pair_type, relayed) = match (&c.selected_pair, connected) {
        (Some((l, r, name)), true) => {
            let relayed = *l == CandidateType::Relayed || *r == CandidateType::Relayed;
            (Some(name.clone()), Some(format!("{}-{}", kind(*l), kind(*r))), Some(relayed))
        }
        _ => (None, None, None),
    };
    let streams: Vec<report::StreamRecord> = c
        .streams
        .iter()
        .filter_map(|s| receiving[s.slot].as_ref())
        .map(|r| {
            let summary = r.stats.summary();
            let mos = estimate(&c.codec, &summary).ok().map(|x| stats::round(x.mos));
            report::StreamRecord {
                sent: r.stats.sent,
                received: r.stats.received,
                delay_ms: r.stats.mean_delay().map(|d| stats::round(d.as_millis_f64())),
                jitter_ms: stats::round(summary.jitter.as_millis_f64()),
                loss: stats::round(summary.loss_fraction),
                mos,
            }
        })
        .collect();
    CallRecord {
        id: k + 1,
        caller: users[c.caller].name.clone(),
        callee: users[c.callee].name.clone(),
        caller_kind: users[c.caller].kind,
        callee_kind: users[c.callee].kind,
        media: c.media,
        placed_at: c.placed_at,
        ended_at: c.ended_at,
        connected,
        setup: c.selected.zip(c.invite_at).map(|((t, _), i)| t.saturating_since(i)),
        pair,
        pair_type,
        relayed,
        promoted: c.promoted,
        mos: streams.iter().filter_map(|s| s.mos).reduce(f64::min),
        streams,
        failure: c.failure.clone(),
    }
}
