//! The media phase of a call: the same RTP stream on every working path, measured at the
//! receiver, with the route its packets took and every packet's delay.
//!
//! Which paths exist is the agents' business (the valid pairs of the caller's check list);
//! this module only sends on them, reads the trace, and turns arrivals into statistics. The
//! route of a path is not computed from the topology: it is read off the trace by following
//! one of the stream's first packets hop by hop, and through a relay by matching the datagram
//! the relay sends for it at the same instant (same RTP stream and number).

use std::collections::BTreeMap;
use std::net::SocketAddrV4;

use super::{BackgroundFlow, CallSpec, Direction, MediaSample, PathMedia, agent, describe};
use crate::engine::{Engine, ServiceEvent, ServiceId};
use crate::net::forward::egress;
use crate::proto::ice::{Candidate, CandidatePair, IceAgent, PairId, PairState};
use crate::proto::media::MediaEvent;
use crate::report::quality::{PathQuality, PathStats, compare, estimate};
use crate::time::{SimDuration, SimTime};
use crate::topology::{NodeId, Topology};
use crate::trace::{PacketId, Record, RtpTag, TraceLevel};
use crate::wire::rtp::MediaSource;
use crate::wire::{Datagram, Protocol};

/// Media starts this long after checks settle.
const LEAD_IN: SimDuration = SimDuration::from_millis(100);
/// Media is collected this long after the last packet is sent (late arrivals count).
const DRAIN: SimDuration = SimDuration::from_secs(2);
/// How many of a stream's first packets are followed hop by hop: the first that reaches the
/// receiver gives the path's route, so one lost packet does not leave a path unnamed.
const FOLLOWED: usize = 3;
/// SSRCs are numbered from here, one per stream, in stream order.
const SSRC_BASE: u32 = 0x5eed_0000;

/// A client in the media phase: its node and its media endpoint.
#[derive(Clone, Copy, Debug)]
pub(super) struct Party {
    pub node: NodeId,
    pub media: ServiceId,
}

/// Bulk load that ran during the media phase.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BackgroundPeriod {
    pub from: SimTime,
    pub to: SimTime,
    /// `FROM -> TO at RATE`, node names and the offered rate.
    pub flow: String,
}

/// What the media phase produced.
pub(super) struct MediaRun {
    pub paths: Vec<PathMedia>,
    pub verdict: Option<String>,
    pub started_at: SimTime,
    pub background: Vec<BackgroundPeriod>,
}

/// One RTP stream on one path in one direction.
struct Stream {
    path: usize,
    direction: Direction,
    sender: Party,
    receiver: Party,
    /// The sending socket (a host socket, or a relayed address its TURN client owns).
    local: SocketAddrV4,
    protocol: Protocol,
    remote: SocketAddrV4,
    ssrc: u32,
    /// Every packet sent: when, its sequence number and the engine's id for it.
    sent: Vec<(SimTime, u16, PacketId)>,
}

impl Stream {
    fn new(
        path: usize,
        direction: Direction,
        (sender, receiver): (Party, Party),
        (local, protocol): (SocketAddrV4, Protocol),
        remote: SocketAddrV4,
        ssrc: u32,
    ) -> Stream {
        Stream { path, direction, sender, receiver, local, protocol, remote, ssrc, sent: Vec::new() }
    }
}

/// Sends the call's stream on every valid pair the caller's checks proved (the selected one
/// and the alternatives), in both directions, each stream with its own SSRC at the codec's
/// exact packet times, then measures what arrived. Paths come out in pair order, each
/// caller-to-callee first and callee-to-caller next.
pub(super) fn measure_media(
    e: &mut Engine<'_>,
    spec: &CallSpec,
    caller: Party,
    callee: Party,
    selected: PairId,
) -> MediaRun {
    let topo = e.topology();
    // The working paths: distinct (from, to) of valid pairs, the selected one first.
    let a = agent(e, caller.media);
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
    // Each path both ways: the caller sends from its candidate's base to the remote
    // candidate; the callee answers from its own candidate at that remote address (its
    // base: a host socket, or the relayed address its TURN client owns) to the address the
    // caller's checks came from.
    let b = agent(e, callee.media);
    let mut streams: Vec<Stream> = Vec::new();
    for (i, (_, local, remote)) in paths.iter().enumerate() {
        let ssrc = SSRC_BASE + streams.len() as u32;
        let (from, to) = ((local.base, local.protocol), remote.address);
        streams.push(Stream::new(i, Direction::CallerToCallee, (caller, callee), from, to, ssrc));
        if let Some(base) = answering_base(b, local, remote) {
            let ssrc = SSRC_BASE + streams.len() as u32;
            let from = (base, remote.protocol);
            streams.push(Stream::new(i, Direction::CalleeToCaller, (callee, caller), from, local.address, ssrc));
        }
    }

    let start = e.now() + LEAD_IN;
    let end = start + spec.media_duration;
    let first_record = e.trace().records().len();
    let background = schedule_background(e, &spec.background, start, spec.media_duration);
    for s in &mut streams {
        let mut source = MediaSource::new(spec.codec, s.ssrc, start);
        while source.next_time() < end {
            let (at, rtp) = source.next_packet();
            let bytes = rtp.encode();
            let (local, protocol, remote) = (s.local, s.protocol, s.remote);
            let d = e.command(s.sender.media, |svc, now| match svc {
                crate::engine::Service::Media(m) => m.wrap_media(now, local, protocol, remote, &bytes).0,
                _ => None,
            });
            if let Some(d) = d {
                let id = e.send_at(at, s.sender.node, d);
                s.sent.push((at, rtp.sequence, id));
            }
        }
    }

    let routes = trace_routes(e, &streams, end + DRAIN);
    e.run_until(end + DRAIN);

    // Arrivals, in the order the receivers saw them.
    let by_ssrc: BTreeMap<u32, usize> = streams.iter().enumerate().map(|(k, s)| (s.ssrc, k)).collect();
    let mut stats: Vec<PathStats> = streams.iter().map(|_| PathStats::new(spec.codec.clock_rate)).collect();
    let mut arrived: Vec<Vec<Option<SimTime>>> = streams.iter().map(|s| vec![None; s.sent.len()]).collect();
    for r in &e.trace().records()[first_record..] {
        let Record::Service {
            at, service, event: ServiceEvent::Media(MediaEvent::Media { rtp: Some(ids), .. }), ..
        } = r
        else {
            continue;
        };
        let Some(&k) = by_ssrc.get(&ids.ssrc) else { continue };
        let s = &streams[k];
        if *service != s.receiver.media {
            continue;
        }
        let Some(i) = sent_index(&s.sent, ids.sequence, *at) else { continue };
        stats[k].handle_packet(ids.sequence, s.sent[i].0, *at, ids.timestamp);
        arrived[k][i].get_or_insert(*at);
    }

    let mut out = Vec::new();
    let mut rated = Vec::new();
    let mut selected_index = None;
    for (k, s) in streams.iter().enumerate() {
        let (sel, local, remote) = &paths[s.path];
        let summary = stats[k].summary();
        let name = format!("{} -> {}", describe(local), describe(remote));
        let est = estimate(&spec.codec, &summary).ok();
        if let Some(est) = est
            && s.direction == Direction::CallerToCallee
        {
            if *sel {
                selected_index = Some(rated.len());
            }
            rated.push(PathQuality { name: name.clone(), summary: summary.clone(), estimate: est });
        }
        let samples = s
            .sent
            .iter()
            .zip(&arrived[k])
            .map(|(&(sent, _, _), got)| MediaSample { sent, delay: got.map(|t| t.saturating_since(sent)) })
            .collect();
        out.push(PathMedia {
            path: name,
            direction: s.direction,
            selected: *sel,
            nodes: routes[k].iter().map(|&n| topo.node(n).name.clone()).collect(),
            summary,
            r: est.as_ref().map(|x| x.r),
            mos: est.map(|x| x.mos),
            samples,
        });
    }
    let verdict = selected_index.and_then(|i| compare(&rated, i)).map(|v| v.to_string());
    MediaRun { paths: out, verdict, started_at: start, background }
}

/// The socket the callee answers a path's media from: its own candidate at the caller's
/// remote address (a host socket, or the relayed address its TURN client owns), taken from
/// the callee's valid pair that mirrors the path, else from its candidates. `None` when the
/// callee has no candidate there.
pub(crate) fn answering_base(callee: &IceAgent, local: &Candidate, remote: &Candidate) -> Option<SocketAddrV4> {
    callee
        .pairs()
        .iter()
        .find(|p| p.valid && p.local.address == remote.address && p.remote.address == local.address)
        .map(|p| p.local.base)
        .or_else(|| {
            callee
                .local_candidates()
                .iter()
                .find(|c| c.address == remote.address && c.protocol == remote.protocol)
                .map(|c| c.base)
        })
}

/// The index in `sent` of the packet numbered `sequence` that arrived at `at`: the latest
/// one with that number sent no later than `at` (numbers repeat every 65,536 packets).
fn sent_index(sent: &[(SimTime, u16, PacketId)], sequence: u16, at: SimTime) -> Option<usize> {
    let first = sent.first()?.1;
    let mut k = sequence.wrapping_sub(first) as usize;
    let mut found = None;
    while k < sent.len() && sent[k].0 <= at {
        found = Some(k);
        k += 1 << 16;
    }
    found
}

/// One packet being followed through the network, re-wrapped by relays on the way.
struct Follower {
    stream: usize,
    packet: PacketId,
    nodes: Vec<NodeId>,
    /// Delivered to a node that is not the receiver: waiting for what that node sends for
    /// it at the same instant (a TURN server relaying it).
    relay: Option<(NodeId, SimTime, RtpTag)>,
    /// `Some(true)`: reached the receiver; `Some(false)`: dropped or not relayed.
    done: Option<bool>,
}

impl Follower {
    fn visit(&mut self, node: NodeId) {
        if self.nodes.last() != Some(&node) {
            self.nodes.push(node);
        }
    }
}

/// Records every hop while each stream's first packets cross the network, follows them, and
/// returns each stream's route (the first followed packet that reached the receiver, else
/// as far as the first one got). Stops recording hops once every stream has its answer.
fn trace_routes(e: &mut Engine<'_>, streams: &[Stream], until: SimTime) -> Vec<Vec<NodeId>> {
    const STEP: SimDuration = SimDuration::from_millis(10);
    let mut followers: Vec<Follower> = Vec::new();
    let mut by_packet: BTreeMap<PacketId, usize> = BTreeMap::new();
    for (k, s) in streams.iter().enumerate() {
        for &(_, _, id) in s.sent.iter().take(FOLLOWED) {
            by_packet.insert(id, followers.len());
            followers.push(Follower { stream: k, packet: id, nodes: Vec::new(), relay: None, done: None });
        }
    }
    let settled = |fs: &[Follower]| {
        (0..streams.len()).all(|k| {
            let mine = || fs.iter().filter(|f| f.stream == k);
            mine().any(|f| f.done == Some(true)) || mine().all(|f| f.done.is_some())
        })
    };
    let topo = e.topology();
    e.set_trace_level(TraceLevel::Hops);
    let mut seen = e.trace().records().len();
    while !settled(&followers) && e.now() < until {
        e.run_until((e.now() + STEP).min(until));
        for r in &e.trace().records()[seen..] {
            // A relay's datagram for a packet it was handed at this instant.
            if let Record::Sent { at, packet, node, summary } = r
                && let Some(i) = followers
                    .iter()
                    .position(|f| f.relay.is_some_and(|(n, t, tag)| n == *node && t == *at && summary.rtp == Some(tag)))
            {
                followers[i].relay = None;
                followers[i].packet = *packet;
                by_packet.insert(*packet, i);
                continue;
            }
            for f in followers.iter_mut().filter(|f| f.relay.is_some_and(|(_, t, _)| r.at() > t)) {
                f.relay = None;
                f.done = Some(false);
            }
            let Some(&i) = r.packet().and_then(|p| by_packet.get(&p)) else { continue };
            let f = &mut followers[i];
            if f.done.is_some() || f.relay.is_some() || r.packet() != Some(f.packet) {
                continue;
            }
            match r {
                Record::Sent { node, .. } | Record::Forwarded { node, .. } | Record::Decapsulated { node, .. } => {
                    f.visit(*node)
                }
                Record::Transmitted { to, .. } => f.visit(topo.iface(*to).node),
                Record::Delivered { at, node, summary, .. } => {
                    f.visit(*node);
                    if *node == streams[f.stream].receiver.node {
                        f.done = Some(true);
                    } else {
                        match summary.rtp {
                            Some(tag) => f.relay = Some((*node, *at, tag)),
                            None => f.done = Some(false),
                        }
                    }
                }
                Record::Dropped { .. } => f.done = Some(false),
                _ => {}
            }
        }
        seen = e.trace().records().len();
    }
    e.set_trace_level(TraceLevel::Outcomes);
    (0..streams.len())
        .map(|k| {
            let mine = || followers.iter().filter(|f| f.stream == k);
            mine().find(|f| f.done == Some(true)).or_else(|| mine().next()).map(|f| f.nodes.clone()).unwrap_or_default()
        })
        .collect()
}

/// Puts the background flows on the wire for the media period: UDP packets of 1,200 bytes
/// at each flow's rate, in back-to-back bursts of 50 as a TCP sender's window would put them
/// on the wire. Returns when each ran.
fn schedule_background(
    e: &mut Engine<'_>,
    flows: &[BackgroundFlow],
    start: SimTime,
    duration: SimDuration,
) -> Vec<BackgroundPeriod> {
    const SIZE: usize = 1200;
    const BURST: u64 = 50;
    let topo = e.topology();
    let mut periods = Vec::new();
    for f in flows {
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
        let total = pps * duration.as_nanos() / 1_000_000_000;
        for k in 0..total {
            let at = start + SimDuration::from_nanos((k / BURST) * 1_000_000_000 / bursts_per_sec);
            e.send_at(at, f.from, Datagram::udp(src, dst, vec![0; SIZE]));
        }
        if total > 0 {
            periods.push(BackgroundPeriod { from: start, to: start + duration, flow: flow_name(topo, f) });
        }
    }
    periods
}

/// `lync-fe -> laptop-split at 180 Mbit/s`.
fn flow_name(topo: &Topology, f: &BackgroundFlow) -> String {
    let rate = f.rate as f64;
    let rate = if rate >= 1e9 {
        format!("{} Gbit/s", rate / 1e9)
    } else if rate >= 1e6 {
        format!("{} Mbit/s", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{} kbit/s", rate / 1e3)
    } else {
        format!("{} bit/s", f.rate)
    };
    format!("{} -> {} at {rate}", topo.node(f.from).name, topo.node(f.to).name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_index_finds_the_latest_send_of_a_repeated_number() {
        let at = |ms: u64| SimTime::from_nanos(ms * 1_000_000);
        let sent: Vec<(SimTime, u16, PacketId)> =
            (0..70_000u64).map(|k| (at(k), (65_000u64 + k) as u16, PacketId(k))).collect();
        // Sequence 65_000 was used by packets 0 and 65_536.
        assert_eq!(sent_index(&sent, 65_000, at(10)), Some(0));
        assert_eq!(sent_index(&sent, 65_000, at(65_600)), Some(65_536));
        // A number sent only later cannot have arrived yet.
        assert_eq!(sent_index(&sent, 65_010, at(5)), None);
        assert_eq!(sent_index(&[], 1, at(5)), None);
    }
}
