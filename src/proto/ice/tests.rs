//! Two agents driven against each other through a tiny fake network, by hand: no engine.
//!
//! `drive` moves every `Transmit` through a network closure (which may drop a packet or
//! rewrite its addresses, e.g. a NAT), delivers it 10 ms later to the agent owning the
//! destination, and advances time to the earliest deadline, up to a horizon.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use proptest::prelude::*;

use super::*;
use crate::time::{SimDuration, SimTime};
use crate::wire::Protocol;

fn a(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

fn at(ms: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_millis(ms)
}

/// What the network does with a packet sent from `src` to `dst`: `None` drops it, else the
/// addresses as the receiver sees them.
type Net<'a> = dyn FnMut(Protocol, SocketAddrV4, SocketAddrV4) -> Option<(SocketAddrV4, SocketAddrV4)> + 'a;

/// A packet on its way: (receiving side, destination, protocol, source, bytes).
type InFlight = (usize, SocketAddrV4, Protocol, SocketAddrV4, Vec<u8>);
/// A transmit as logged: (time, side, local, remote, transaction).
type Sent = (SimTime, usize, SocketAddrV4, SocketAddrV4, Option<[u8; 12]>);

/// Everything that happened in a run.
#[derive(Debug, Default, PartialEq)]
struct Log {
    events: [Vec<(SimTime, IceEvent)>; 2],
    delivered: usize,
    dropped: usize,
    /// Every transmit: (time, side, local, remote, transaction).
    sent: Vec<Sent>,
}

impl Log {
    fn has(&self, side: usize, f: impl Fn(&IceEvent) -> bool) -> bool {
        self.events[side].iter().any(|(_, e)| f(e))
    }
}

fn owns(agent: &IceAgent, addr: SocketAddrV4, protocol: Protocol) -> bool {
    agent.local_candidates().iter().any(|c| {
        matches!(c.kind, CandidateType::Host | CandidateType::Relayed) && c.address == addr && c.protocol == protocol
    })
}

/// Runs both agents until neither has anything to do or `horizon` passes (bounded steps).
fn drive(x: &mut IceAgent, y: &mut IceAgent, net: &mut Net<'_>, horizon: SimTime) -> Log {
    drive_with(x, y, net, horizon, SimDuration::from_millis(10))
}

/// `drive` with a one-way latency of `latency`.
fn drive_with(x: &mut IceAgent, y: &mut IceAgent, net: &mut Net<'_>, horizon: SimTime, latency: SimDuration) -> Log {
    let mut log = Log::default();
    let mut queue: BTreeMap<(SimTime, u64), InFlight> = BTreeMap::new();
    let mut seq = 0u64;
    let mut now = SimTime::ZERO;
    for step in 0.. {
        assert!(step < 200_000, "drive did not settle: an agent keeps asking for the same instant");
        for (side, agent) in [&mut *x, &mut *y].into_iter().enumerate() {
            while let Some(t) = agent.poll_transmit() {
                log.sent.push((now, side, t.local, t.remote, t.transaction));
                match net(t.protocol, t.local, t.remote) {
                    Some((src, dst)) => {
                        seq += 1;
                        queue.insert((now + latency, seq), (side, dst, t.protocol, src, t.bytes));
                    }
                    None => log.dropped += 1,
                }
            }
            while let Some(e) = agent.poll_event() {
                log.events[side].push((now, e));
            }
        }
        let next = [queue.keys().next().map(|k| k.0), x.poll_timeout(), y.poll_timeout()].into_iter().flatten().min();
        let Some(next) = next else { break };
        if next > horizon {
            break;
        }
        now = now.max(next);
        while let Some(entry) = queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (_, dst, protocol, src, bytes) = entry.remove();
            let to = if owns(x, dst, protocol) {
                Some(&mut *x)
            } else if owns(y, dst, protocol) {
                Some(&mut *y)
            } else {
                None
            };
            match to {
                Some(agent) => {
                    log.delivered += 1;
                    assert!(agent.handle_receive(now, dst, protocol, src, &bytes), "every packet here is ICE's");
                }
                None => log.dropped += 1,
            }
        }
        for agent in [&mut *x, &mut *y] {
            if agent.poll_timeout().is_some_and(|t| t <= now) {
                agent.handle_timeout(now);
                // Sans-IO invariant: once told the time, no deadline is left in the past.
                assert!(agent.poll_timeout().is_none_or(|t| t > now), "stale deadline at {now}");
            }
        }
    }
    log
}

fn agent(profile: Profile, role: Role, tie_breaker: u64, name: &str, seed: u64) -> IceAgent {
    IceAgent::new(IceConfig::new(profile, role, tie_breaker, name, &format!("{name}-password-0123456789"), seed))
}

/// Signals each agent's credentials and candidates to the other (the SDP travels as text).
fn exchange(x: &mut IceAgent, xn: &str, y: &mut IceAgent, yn: &str) {
    x.set_remote_credentials(yn, &format!("{yn}-password-0123456789"));
    y.set_remote_credentials(xn, &format!("{xn}-password-0123456789"));
    for c in y.local_candidates().to_vec() {
        x.add_remote_candidate(Candidate::from_sdp(&c.to_sdp()).unwrap());
    }
    for c in x.local_candidates().to_vec() {
        y.add_remote_candidate(Candidate::from_sdp(&c.to_sdp()).unwrap());
    }
    x.start_checks(SimTime::ZERO);
    y.start_checks(SimTime::ZERO);
}

/// The two sites of most tests: L (10.0.1.1) behind NAT 203.0.113.1, R (10.0.2.1) behind
/// NAT 203.0.113.2, a TURN relay at 192.0.2.10 whose allocations the agents own directly.
const L_HOST: &str = "10.0.1.1:5000";
const L_PUBLIC: &str = "203.0.113.1:6000";
const L_RELAY: &str = "192.0.2.10:50000";
const R_HOST: &str = "10.0.2.1:5000";
const R_PUBLIC: &str = "203.0.113.2:6000";
const R_RELAY: &str = "192.0.2.10:50002";

fn site(ip: &Ipv4Addr) -> Option<u8> {
    let o = ip.octets();
    (o[0] == 10).then_some(o[2])
}

/// A network of two endpoint-independent NATs (one mapping per host, hairpin-free) and a
/// public relay; `blocked(src, dst)` drops packets by the addresses as sent.
fn nat_net(
    blocked: impl Fn(SocketAddrV4, SocketAddrV4) -> bool,
) -> impl FnMut(Protocol, SocketAddrV4, SocketAddrV4) -> Option<(SocketAddrV4, SocketAddrV4)> {
    let nats = [(a(L_HOST), a(L_PUBLIC)), (a(R_HOST), a(R_PUBLIC))];
    move |_, src, dst| {
        if blocked(src, dst) {
            return None;
        }
        if site(src.ip()).is_some() && site(src.ip()) == site(dst.ip()) {
            return Some((src, dst));
        }
        if site(dst.ip()).is_some() {
            return None; // another site's private address is unroutable
        }
        let src = nats.iter().find(|(h, _)| *h == src).map_or(src, |(_, p)| *p);
        let dst = nats.iter().find(|(_, p)| *p == dst).map_or(dst, |(h, _)| *h);
        Some((src, dst))
    }
}

/// L and R with host, server-reflexive and UDP relayed candidates.
fn full_pair(profile: Profile, l_role: Role, r_role: Role) -> (IceAgent, IceAgent) {
    let mut l = agent(profile, l_role, 20, "left", 1);
    let mut r = agent(profile, r_role, 10, "right", 2);
    for (ag, host, public, relay) in [(&mut l, L_HOST, L_PUBLIC, L_RELAY), (&mut r, R_HOST, R_PUBLIC, R_RELAY)] {
        ag.add_local_candidate(LocalCandidateSpec::host(a(host), 1));
        ag.add_local_candidate(LocalCandidateSpec::server_reflexive(a(public), a(host), 1));
        ag.add_local_candidate(LocalCandidateSpec::relayed(a(relay), a(public), Protocol::Udp, 1));
    }
    (l, r)
}

fn kinds(p: &CandidatePair) -> (CandidateType, CandidateType) {
    (p.local.kind, p.remote.kind)
}

/// Both agents selected, and the same path: one's local is the other's remote.
fn assert_agree(l: &IceAgent, r: &IceAgent) {
    let (ls, rs) = (l.selected_pair().expect("L selected"), r.selected_pair().expect("R selected"));
    assert_eq!(ls.local.address, rs.remote.address, "L {ls} / R {rs}");
    assert_eq!(ls.remote.address, rs.local.address, "L {ls} / R {rs}");
    assert!(ls.valid && rs.valid && ls.nominated && rs.nominated);
}

#[test]
fn open_network_selects_host_pair() {
    let mut l = agent(Profile::Rfc8445, Role::Controlling, 20, "left", 1);
    let mut r = agent(Profile::Rfc8445, Role::Controlled, 10, "right", 2);
    l.add_local_candidate(LocalCandidateSpec::host(a("10.0.0.1:5000"), 1));
    l.add_local_candidate(LocalCandidateSpec::relayed(a(L_RELAY), a("10.0.0.1:5000"), Protocol::Udp, 1));
    r.add_local_candidate(LocalCandidateSpec::host(a("10.0.0.2:5000"), 1));
    r.add_local_candidate(LocalCandidateSpec::relayed(a(R_RELAY), a("10.0.0.2:5000"), Protocol::Udp, 1));
    exchange(&mut l, "left", &mut r, "right");
    let log = drive(&mut l, &mut r, &mut |_, s, d| Some((s, d)), at(10_000));
    assert_eq!(l.state(), AgentState::Completed);
    assert_eq!(r.state(), AgentState::Completed);
    assert_eq!(kinds(l.selected_pair().unwrap()), (CandidateType::Host, CandidateType::Host));
    assert_agree(&l, &r);
    // Regular nomination: the host pair is the best possible, so no settle wait.
    let (t, _) = log.events[0].iter().find(|(_, e)| matches!(e, IceEvent::Selected { .. })).unwrap();
    assert!(*t < at(200), "selected at {t}");
    // Checks stop: the lower pairs were removed once the host pair was nominated.
    assert!(l.pairs().iter().any(|p| matches!(p.reason, Some(PairReason::NominationComplete { .. }))));
    // Consent requests keep flowing on the selected pair.
    let sel = l.selected_pair().unwrap();
    assert!(sel.checks.iter().filter(|c| c.consent && c.answered_at.is_some()).count() >= 1);
}

#[test]
fn host_paths_dropped_selects_server_reflexive() {
    let (mut l, mut r) = full_pair(Profile::Rfc8445, Role::Controlling, Role::Controlled);
    exchange(&mut l, "left", &mut r, "right");
    let mut net = nat_net(|_, _| false);
    let log = drive(&mut l, &mut r, &mut net, at(60_000));
    let sel = l.selected_pair().unwrap();
    assert_eq!(kinds(sel), (CandidateType::ServerReflexive, CandidateType::ServerReflexive), "{sel}");
    assert_eq!(sel.local.address, a(L_PUBLIC));
    assert_eq!(sel.remote.address, a(R_PUBLIC));
    assert_eq!(sel.local.base, a(L_HOST), "media leaves from the host base");
    assert_agree(&l, &r);
    // The srflx valid pair was discovered by the host->srflx check (§7.2.5.3.2).
    assert!(matches!(sel.reason, Some(PairReason::Succeeded { .. }) | Some(PairReason::DiscoveredBy { .. })));
    assert!(sel.generated_by.is_some());
    // The host<->host pair to the other site's private address could never work.
    let host = l.pairs().iter().find(|p| p.remote.address == a(R_HOST)).unwrap();
    assert_ne!(host.state, PairState::Succeeded);
    assert!(log.dropped > 0);
    assert!(!log.has(0, |e| matches!(e, IceEvent::PeerReflexiveDiscovered { .. })));
}

#[test]
fn rewriting_nat_yields_peer_reflexive_candidates() {
    let mut l = agent(Profile::Rfc8445, Role::Controlling, 20, "left", 1);
    let mut r = agent(Profile::Rfc8445, Role::Controlled, 10, "right", 2);
    // Neither knows its server-reflexive address: only the checks can reveal it.
    l.add_local_candidate(LocalCandidateSpec::host(a(L_HOST), 1));
    r.add_local_candidate(LocalCandidateSpec::host(a("198.51.100.7:7000"), 1));
    exchange(&mut l, "left", &mut r, "right");
    let mut net = nat_net(|_, _| false);
    let log = drive(&mut l, &mut r, &mut net, at(10_000));
    let local_prflx = |e: &IceEvent| matches!(e, IceEvent::PeerReflexiveDiscovered { local: true, candidate } if candidate.address == a(L_PUBLIC));
    let remote_prflx = |e: &IceEvent| matches!(e, IceEvent::PeerReflexiveDiscovered { local: false, candidate } if candidate.address == a(L_PUBLIC));
    assert!(log.has(0, local_prflx), "L learns its NAT mapping from R's answer");
    assert!(log.has(1, remote_prflx), "R learns L's mapping from L's request");
    let ls = l.selected_pair().unwrap();
    assert_eq!(ls.local.kind, CandidateType::PeerReflexive);
    assert_eq!(ls.local.priority, candidate_priority(110, 65535, 1), "§7.2.5.3.1: the PRIORITY we sent");
    assert_eq!(r.selected_pair().unwrap().remote.kind, CandidateType::PeerReflexive);
    assert_agree(&l, &r);
}

#[test]
fn role_conflict_resolves_by_tie_breaker() {
    for (roles, winner) in [((Role::Controlling, Role::Controlling), 0), ((Role::Controlled, Role::Controlled), 0)] {
        let (mut l, mut r) = full_pair(Profile::Rfc8445, roles.0, roles.1);
        exchange(&mut l, "left", &mut r, "right");
        let mut net = nat_net(|_, _| false);
        let log = drive(&mut l, &mut r, &mut net, at(60_000));
        // L's tie-breaker (20) is larger: L ends controlling (§7.3.1.1).
        assert_eq!(l.role(), Role::Controlling, "{roles:?}");
        assert_eq!(r.role(), Role::Controlled, "{roles:?}");
        let loser = 1 - winner;
        let switched = if roles.0 == Role::Controlling { loser } else { winner };
        assert!(log.has(switched, |e| matches!(e, IceEvent::RoleChanged { .. })), "{roles:?}");
        assert_agree(&l, &r);
    }
}

#[test]
fn role_conflict_487_makes_the_sender_switch() {
    let (mut l, mut r) = full_pair(Profile::Rfc8445, Role::Controlling, Role::Controlling);
    exchange(&mut l, "left", &mut r, "right");
    let mut net = nat_net(|_, _| false);
    let log = drive(&mut l, &mut r, &mut net, at(60_000));
    // R (smaller tie-breaker) either got a 487 for its own check or switched on L's request.
    assert!(log.has(1, |e| matches!(
        e,
        IceEvent::RoleChanged { to: Role::Controlled, reason: RoleChangeReason::RoleConflictResponse { .. } }
            | IceEvent::RoleChanged { to: Role::Controlled, reason: RoleChangeReason::ConflictingRequest { .. } }
    )));
    assert!(!log.has(0, |e| matches!(e, IceEvent::RoleChanged { .. })));
}

#[test]
fn aggressive_and_regular_nomination_converge() {
    for nomination in [Nomination::Regular, Nomination::Aggressive] {
        let (l, r) = full_pair(Profile::Rfc8445, Role::Controlling, Role::Controlled);
        let (mut l, mut r) =
            (with_profile(l, Profile::Rfc8445, nomination), with_profile(r, Profile::Rfc8445, nomination));
        exchange(&mut l, "left", &mut r, "right");
        let mut net = nat_net(|_, _| false);
        let log = drive(&mut l, &mut r, &mut net, at(60_000));
        assert_agree(&l, &r);
        let nominated = |ag: &IceAgent| ag.pairs().iter().filter(|p| p.nominated).count();
        if nomination == Nomination::Regular {
            assert_eq!(nominated(&l), 1, "regular nomination nominates once");
            assert_eq!(
                kinds(l.selected_pair().unwrap()),
                (CandidateType::ServerReflexive, CandidateType::ServerReflexive)
            );
        } else {
            assert!(nominated(&l) >= 1);
            // Every check carried USE-CANDIDATE.
            assert!(l.pairs().iter().flat_map(|p| &p.checks).filter(|c| !c.consent).all(|c| c.nominating));
        }
        assert!(log.has(0, |e| matches!(e, IceEvent::FirstValidPair { .. })));
    }
}

#[test]
fn everything_dropped_fails_with_per_pair_timeouts() {
    let (mut l, mut r) = full_pair(Profile::Rfc8445, Role::Controlling, Role::Controlled);
    exchange(&mut l, "left", &mut r, "right");
    let log = drive(&mut l, &mut r, &mut |_, _, _| None, at(120_000));
    for (side, ag) in [(0, &l), (1, &r)] {
        assert_eq!(ag.state(), AgentState::Failed);
        assert!(log.has(side, |e| matches!(e, IceEvent::Failed { reason: FailReason::AllPairsFailed { .. } })));
        assert!(ag.selected_pair().is_none());
        for p in ag.pairs() {
            match (&p.state, &p.reason) {
                (PairState::Failed, Some(PairReason::Timeout { sends: 7 })) => {
                    assert_eq!(p.checks.len(), 1);
                    assert_eq!(p.checks[0].sends, 7);
                }
                (PairState::Cancelled, Some(PairReason::Pruned { .. })) => assert!(p.checks.is_empty()),
                other => panic!("{p}: unexpected {other:?}"),
            }
        }
    }
    // Every request (7 per pair) was a transmit with its transaction id.
    assert!(log.sent.iter().all(|s| s.4.is_some()));
    let (t, _) = log.events[0].iter().find(|(_, e)| matches!(e, IceEvent::Failed { .. })).unwrap();
    assert!(*t >= at(39_500) && *t < at(41_000), "failed at {t}");
}

#[test]
fn ms_ice2_orders_host_srflx_udp_relay_tcp_relay() {
    let mut l = agent(Profile::MsIce2, Role::Controlling, 20, "left", 1);
    let host = l.add_local_candidate(LocalCandidateSpec::host(a(L_HOST), 1));
    let srflx = l.add_local_candidate(LocalCandidateSpec::server_reflexive(a(L_PUBLIC), a(L_HOST), 1));
    let udp = l.add_local_candidate(LocalCandidateSpec::relayed(a(L_RELAY), a(L_PUBLIC), Protocol::Udp, 1));
    let tcp = l.add_local_candidate(LocalCandidateSpec::relayed(
        a("192.0.2.10:50004"),
        a("203.0.113.1:6002"),
        Protocol::Tcp,
        1,
    ));
    assert!(host.priority > srflx.priority && srflx.priority > udp.priority && udp.priority > tcp.priority);
    let remote = Candidate::from_sdp("candidate:9 1 UDP 2130706431 198.51.100.7 7000 typ host").unwrap();
    let pp = |c: &Candidate| pair_priority(c.priority, remote.priority);
    assert!(pp(&host) > pp(&srflx) && pp(&srflx) > pp(&udp) && pp(&udp) > pp(&tcp));
    l.set_remote_credentials("right", "x");
    l.add_remote_candidate(remote);
    l.start_checks(SimTime::ZERO);
    let order: Vec<SocketAddrV4> =
        l.pairs().iter().filter(|p| p.state != PairState::Cancelled).map(|p| p.local.address).collect();
    assert_eq!(order, [a(L_HOST), a(L_RELAY), a("192.0.2.10:50004")]);
}

#[test]
fn ms_ice2_falls_back_from_udp_relay_to_tcp_relay() {
    for udp_works in [true, false] {
        let mut l = agent(Profile::MsIce2, Role::Controlling, 20, "left", 1);
        let mut r = agent(Profile::MsIce2, Role::Controlled, 10, "right", 2);
        for (ag, host, public, relay, tcp_relay) in [
            (&mut l, L_HOST, L_PUBLIC, L_RELAY, "192.0.2.10:50004"),
            (&mut r, R_HOST, R_PUBLIC, R_RELAY, "192.0.2.10:50006"),
        ] {
            ag.add_local_candidate(LocalCandidateSpec::host(a(host), 1));
            ag.add_local_candidate(LocalCandidateSpec::relayed(a(relay), a(public), Protocol::Udp, 1));
            ag.add_local_candidate(LocalCandidateSpec::relayed(a(tcp_relay), a(public), Protocol::Tcp, 1));
        }
        exchange(&mut l, "left", &mut r, "right");
        // Only relay-to-relay works (the sites cannot reach each other or the relay
        // directly); UDP to the relay is blocked in the second run, so its allocation is dead.
        let udp_relays = [a(L_RELAY), a(R_RELAY)];
        let mut net = nat_net(move |s, d| {
            let relay = |x: SocketAddrV4| x.ip() == &Ipv4Addr::new(192, 0, 2, 10);
            !(relay(s) && relay(d)) || (!udp_works && (udp_relays.contains(&s) || udp_relays.contains(&d)))
        });
        drive(&mut l, &mut r, &mut net, at(60_000));
        assert_agree(&l, &r);
        let want = if udp_works { a(L_RELAY) } else { a("192.0.2.10:50004") };
        assert_eq!(l.selected_pair().unwrap().local.address, want, "udp_works={udp_works}");
    }
}

#[test]
fn same_seed_same_events() {
    let run = || {
        let (mut l, mut r) = full_pair(Profile::MsIce2, Role::Controlling, Role::Controlled);
        exchange(&mut l, "left", &mut r, "right");
        let mut net = nat_net(|s, _| s == a(L_RELAY));
        drive(&mut l, &mut r, &mut net, at(40_000))
    };
    assert_eq!(run(), run());
}

#[test]
fn media_is_not_ours_and_bad_integrity_is_refused() {
    let (mut l, mut r) = full_pair(Profile::Rfc8445, Role::Controlling, Role::Controlled);
    exchange(&mut l, "left", &mut r, "right");
    assert!(!l.handle_receive(at(1), a(L_HOST), Protocol::Udp, a(R_PUBLIC), &[0x80, 0x60, 0, 1]));
    // R's first check, delivered with a wrong password on L's side.
    let t = r.poll_transmit().unwrap();
    let mut wrong2 =
        IceAgent::new(IceConfig::new(Profile::Rfc8445, Role::Controlling, 20, "left", "another-password", 1));
    wrong2.add_local_candidate(LocalCandidateSpec::host(t.remote, 1));
    assert!(wrong2.handle_receive(at(1), t.remote, Protocol::Udp, t.local, &t.bytes));
    let reply = wrong2.poll_transmit().unwrap();
    let m = crate::wire::stun::Message::decode(&reply.bytes).unwrap();
    assert_eq!(m.error_code().map(|(c, _)| c), Some(401));
    assert!(matches!(wrong2.poll_event(), Some(IceEvent::Discarded { reason: IceDiscard::BadIntegrity, .. })));
}

#[test]
fn checks_are_paced_by_ta() {
    let (mut l, mut r) = full_pair(Profile::Rfc8445, Role::Controlling, Role::Controlled);
    exchange(&mut l, "left", &mut r, "right");
    let log = drive(&mut l, &mut r, &mut |_, _, _| None, at(1_000));
    let firsts: Vec<SimTime> = log.sent.iter().filter(|s| s.1 == 0).map(|s| s.0).collect();
    // New checks at 0, 50, 100 ms …; retransmissions of the first at 500 ms.
    assert_eq!(&firsts[..3], &[at(0), at(50), at(100)]);
}

#[test]
fn consent_is_lost_when_the_path_dies() {
    let (mut l, mut r) = full_pair(Profile::Rfc8445, Role::Controlling, Role::Controlled);
    exchange(&mut l, "left", &mut r, "right");
    let mut alive = true;
    let mut inner = nat_net(|_, _| false);
    // Drive to completion, then cut everything.
    let mut net = |p, s, d| if alive { inner(p, s, d) } else { None };
    let _ = drive(&mut l, &mut r, &mut net, at(5_000));
    assert_eq!(l.state(), AgentState::Completed);
    let sel = l.selected_pair().unwrap().id;
    alive = false;
    let mut net = |p, s, d| if alive { inner(p, s, d) } else { None };
    let log = drive(&mut l, &mut r, &mut net, at(60_000));
    assert!(log.has(0, |e| *e == IceEvent::ConsentLost { pair: sel }));
    assert_eq!(l.state(), AgentState::Failed);
    assert!(l.selected_pair().is_none());
}

#[test]
fn tcp_candidates_pair_active_with_passive_and_passive_waits() {
    let mut l = agent(Profile::MsIce2, Role::Controlling, 20, "left", 1);
    let mut r = agent(Profile::MsIce2, Role::Controlled, 10, "right", 2);
    let tcp = |addr: &str, t| LocalCandidateSpec {
        protocol: Protocol::Tcp,
        tcp_type: Some(t),
        ..LocalCandidateSpec::host(a(addr), 1)
    };
    l.add_local_candidate(tcp("10.0.0.1:9", TcpType::Active));
    r.add_local_candidate(tcp("10.0.0.2:443", TcpType::Passive));
    exchange(&mut l, "left", &mut r, "right");
    // R's only pair has a passive local candidate: it sends no ordinary check.
    assert!(r.poll_transmit().is_none());
    let log = drive(&mut l, &mut r, &mut |_, s, d| Some((s, d)), at(10_000));
    assert!(log.sent.iter().all(|s| s.2.port() == 9 || s.2.port() == 443));
    assert_agree(&l, &r);
}

#[test]
fn slow_path_retransmits_and_late_answers_are_still_ours() {
    let (mut l, mut r) = full_pair(Profile::Rfc8445, Role::Controlling, Role::Controlled);
    exchange(&mut l, "left", &mut r, "right");
    let mut net = nat_net(|_, _| false);
    // 400 ms each way: every check is retransmitted once (RTO 500 ms) before its answer.
    let log = drive_with(&mut l, &mut r, &mut net, at(60_000), SimDuration::from_millis(400));
    assert_agree(&l, &r);
    assert!(l.pairs().iter().flat_map(|p| &p.checks).any(|c| c.sends > 1));
    assert!(log.has(0, |e| matches!(e, IceEvent::Discarded { reason: IceDiscard::StaleTransaction, .. })));
    let rtt = l.pairs().iter().find_map(|p| match p.reason {
        Some(PairReason::Succeeded { rtt, .. }) => Some(rtt),
        _ => None,
    });
    assert_eq!(rtt, Some(SimDuration::from_millis(800)));
}

fn arb_block() -> impl Strategy<Value = Vec<(u8, u8)>> {
    // Endpoints 0..6: L host, L public, L relay, R host, R public, R relay.
    prop::collection::vec((0u8..6, 0u8..6), 0..12)
}

fn endpoint(i: u8) -> SocketAddrV4 {
    a([L_HOST, L_PUBLIC, L_RELAY, R_HOST, R_PUBLIC, R_RELAY][i as usize])
}

/// Which endpoint a packet address belongs to, before NAT (hosts send from host addresses).
fn index_of(x: SocketAddrV4) -> Option<u8> {
    (0..6).find(|&i| endpoint(i) == x)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn selection_is_valid_and_agreed(
        blocked in arb_block(),
        ms in any::<bool>(),
        aggressive in any::<bool>(),
        l_controls in any::<bool>(),
    ) {
        let profile = if ms { Profile::MsIce2 } else { Profile::Rfc8445 };
        let roles = if l_controls { (Role::Controlling, Role::Controlled) } else { (Role::Controlled, Role::Controlling) };
        let (l, r) = full_pair(profile, roles.0, roles.1);
        let nomination = if aggressive { Nomination::Aggressive } else { Nomination::Regular };
        let (mut l, mut r) = (with_profile(l, profile, nomination), with_profile(r, profile, nomination));
        exchange(&mut l, "left", &mut r, "right");
        let blocked2 = blocked.clone();
        // A directional block between two endpoints, judged on the addresses as sent; the
        // public (NAT) endpoint stands for its host's traffic to the outside.
        let mut net = nat_net(move |s, d| {
            let s = index_of(s).map(|i| if i == 0 { 1 } else if i == 3 { 4 } else { i });
            let d = index_of(d);
            matches!((s, d), (Some(s), Some(d)) if blocked2.contains(&(s, d)))
        });
        drive(&mut l, &mut r, &mut net, at(60_000));
        for ag in [&l, &r] {
            if let Some(sel) = ag.selected_pair() {
                prop_assert!(sel.valid && sel.nominated && sel.state == PairState::Succeeded, "{sel:?}");
            }
        }
        prop_assert_eq!(l.selected_pair().is_some(), r.selected_pair().is_some(), "blocked {:?}", blocked);
        if l.selected_pair().is_some() {
            let (ls, rs) = (l.selected_pair().unwrap(), r.selected_pair().unwrap());
            prop_assert_eq!(ls.local.address, rs.remote.address, "blocked {:?}", blocked);
            prop_assert_eq!(ls.remote.address, rs.local.address, "blocked {:?}", blocked);
        }
    }

    #[test]
    fn lossy_network_never_selects_an_unproven_pair(losses in prop::collection::vec(any::<bool>(), 1..64), ms in any::<bool>()) {
        let profile = if ms { Profile::MsIce2 } else { Profile::Rfc8445 };
        let (mut l, mut r) = full_pair(profile, Role::Controlling, Role::Controlled);
        exchange(&mut l, "left", &mut r, "right");
        let mut inner = nat_net(|_, _| false);
        let mut n = 0usize;
        // Packet i is lost when losses[i % len] — about half of them.
        let mut net = |p, s, d| {
            n += 1;
            if losses[n % losses.len()] { None } else { inner(p, s, d) }
        };
        // Long enough for every nomination attempt to run its 39.5 s course.
        drive(&mut l, &mut r, &mut net, at(400_000));
        for ag in [&l, &r] {
            if let Some(sel) = ag.selected_pair() {
                prop_assert!(sel.valid && sel.nominated && sel.state == PairState::Succeeded, "{sel:?}");
            }
        }
        // The controlling agent always concludes, one way or the other.
        prop_assert_ne!(l.state(), AgentState::Running);
    }

    #[test]
    fn same_seed_gives_identical_events(blocked in arb_block(), ms in any::<bool>()) {
        let profile = if ms { Profile::MsIce2 } else { Profile::Rfc8445 };
        let run = || {
            let (mut l, mut r) = full_pair(profile, Role::Controlling, Role::Controlled);
            exchange(&mut l, "left", &mut r, "right");
            let b = blocked.clone();
            let mut net = nat_net(move |s, d| matches!((index_of(s), index_of(d)), (Some(s), Some(d)) if b.contains(&(s, d))));
            drive(&mut l, &mut r, &mut net, at(45_000))
        };
        prop_assert_eq!(run(), run());
    }
}

/// Rebuilds an agent with a profile and nomination mode (same candidates and role).
fn with_profile(old: IceAgent, profile: Profile, nomination: Nomination) -> IceAgent {
    let left = old.local_candidates()[0].address == a(L_HOST);
    let (name, seed, tb) = if left { ("left", 1, 20) } else { ("right", 2, 10) };
    let mut cfg = IceConfig::new(profile, old.role(), tb, name, &format!("{name}-password-0123456789"), seed);
    cfg.nomination = nomination;
    let mut ag = IceAgent::new(cfg);
    let (host, public, relay) = if left { (L_HOST, L_PUBLIC, L_RELAY) } else { (R_HOST, R_PUBLIC, R_RELAY) };
    ag.add_local_candidate(LocalCandidateSpec::host(a(host), 1));
    ag.add_local_candidate(LocalCandidateSpec::server_reflexive(a(public), a(host), 1));
    ag.add_local_candidate(LocalCandidateSpec::relayed(a(relay), a(public), Protocol::Udp, 1));
    ag
}
