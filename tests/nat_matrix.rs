//! The NAT matrix (issue 5): every ordered pair of the six sites of
//! `topologies/nat-matrix.yaml` places a Lync call (MS-ICE2, seed 1), once with the A/V
//! Edge's relay and once without it, and the winning pair's candidate types are compared
//! with a table derived by hand from the NAT behaviours — not copied from the output.
//!
//! # How the table is derived
//!
//! Candidates (MS-ICE2 priorities: type preference host 126 > prflx 110 > srflx 100 >
//! relay 0, then the transport to the server: UDP 15 > TCP 6):
//!
//! - `open`: host = its public address. Its srflx equals its host and is not offered.
//! - `fc`, `rc`, `prc` (RFC 4787 endpoint-independent mapping, ports preserved): host
//!   (private), srflx = NAT:50000, which is also the mapping towards ANY peer.
//! - `sym` (address-and-port-dependent mapping): host, srflx = the mapping towards the
//!   Edge's STUN port only; every other destination gets a new port, which the peer can only
//!   learn as a peer-reflexive candidate (RFC 8445 §7.3.1.3) from a check that reached it.
//! - `udpblock`: host (private, and no UDP leaves the hotel at all) and a relayed candidate
//!   allocated over TCP 443 (no UDP allocation, no srflx).
//! - With the relay every client also has a UDP-allocated and a TCP-allocated relayed
//!   candidate on the Edge; the relay answers peers whose IP has a permission (the client
//!   permits every remote candidate's IP when it starts checks).
//!
//! Private host addresses are unroutable on the internet core, so every check to one dies
//! at `core` with "no route". A pair's priority is set by its weaker candidate first
//! (RFC 8445 §6.1.2.3), so the order of pair kinds is: host–host, host–prflx, …,
//! host–srflx, prflx–srflx, srflx–srflx, then relay(UDP) with host, prflx, srflx, relay(UDP),
//! then relay(TCP) with anything. Under MS-ICE2 the caller (controlling) nominates
//! aggressively: every check of its own that succeeds is nominated, and the selected pair is
//! the highest-priority one that ever succeeds (UDP direct > UDP NAT > UDP relay > TCP
//! relay). A check's valid pair takes its local candidate from the mapped address
//! (RFC 8445 §7.2.5.3.2): from behind an EIM NAT that is the srflx candidate, from behind a
//! symmetric NAT a new peer-reflexive one (§7.2.5.3.1). Timing: the callee starts checking
//! when it answers, the caller about one signaling trip later, when the 183 arrives — so the
//! callee's first checks open the callee's own NAT filters before the caller's checks
//! arrive, and the callee's checks reach the caller's NAT before the caller has sent
//! anything to the callee (dropped by any filtering but endpoint-independent).
//!
//! Each cell below names the winning pair as the caller sees it, `local ↔ remote`.

mod common;

use common::matrix::*;
use icepath::Topology;
use icepath::scenario::{CallOutcome, CallSpec, run_call};
use icepath::schema::load_topology;

fn load(relays: bool) -> Topology {
    let text = std::fs::read_to_string(FILE).expect("reading the topology");
    let text = if relays {
        text
    } else {
        let n = text.matches(", relay: edge01}").count();
        assert_eq!(n, 7, "every laptop lists the relay");
        text.replace(", relay: edge01}", "}")
    };
    let loaded = load_topology(FILE, &text).unwrap_or_else(|e| panic!("{FILE} does not load: {e:?}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    loaded.topology
}

fn call(topo: &Topology, caller: &str, callee: &str) -> CallOutcome {
    // MS-ICE2 audio, seed 1, 45 s to connect, no media phase.
    let spec = CallSpec::new(
        topo.node_by_name(caller).expect("caller exists"),
        topo.node_by_name(callee).expect("callee exists"),
    );
    run_call(topo, &spec).expect("both ends have a sip block")
}

/// The winner's candidate types, as the caller sees them.
fn winner(o: &CallOutcome) -> Win {
    let Some(sel) = &o.selected else { return Fail };
    let row = o
        .pairs
        .iter()
        .find(|p| p.local == sel.local && p.remote == sel.remote)
        .unwrap_or_else(|| panic!("the selected pair is in the table: {}", o.to_text()));
    // RFC 8445 §6.1.2.3: the pair priority holds min(G, D) and max(G, D).
    let (lo, hi) = ((row.priority >> 32) as u32, ((row.priority & 0xFFFF_FFFF) >> 1) as u32);
    let local_relay = relay_line_priority(&o.caller_candidates, &sel.local);
    let kind = |desc: &str, prio: Option<u32>| match desc.split(' ').next().unwrap() {
        "host" => Host,
        "srflx" => Srflx,
        "prflx" => Prflx,
        "relay" => relay_kind(prio.expect("a relayed candidate's priority is known")),
        other => panic!("unknown candidate type {other}"),
    };
    let local = kind(&sel.local, local_relay);
    // The remote relayed candidate's priority: the callee's SDP is not reliable after a
    // promotion (see `promotion_re_invite_is_taken_for_a_new_call`), so take it from
    // the pair priority: it is the lower one unless both are relays.
    let remote_prio = match local_relay {
        Some(l) if l == lo => hi,
        Some(_) => lo,
        None => lo,
    };
    Pair(local, kind(&sel.remote, Some(remote_prio)))
}

/// MS-ICE2 relayed candidate: priority = (2^12 · transport + other) · 2^8 + 255 with type
/// preference 0, transport UDP = 15, TCP = 6 (src/proto/ice/priority.rs).
fn relay_kind(priority: u32) -> K {
    assert!(priority >> 24 == 0, "a relayed candidate has type preference 0: {priority}");
    match (priority >> 20) & 0xF {
        15 => RelayU,
        6 => RelayT,
        t => panic!("unexpected transport preference {t} in {priority}"),
    }
}

/// The priority on the `typ relay` SDP line of `desc` ("relay udp IP:PORT"), if it is one.
fn relay_line_priority(lines: &[String], desc: &str) -> Option<u32> {
    let mut w = desc.split(' ');
    if w.next() != Some("relay") {
        return None;
    }
    let addr = w.nth(1)?;
    let (ip, port) = addr.split_once(':')?;
    lines.iter().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 8 && f[4] == ip && f[5] == port && f[7] == "relay").then(|| f[3].parse().unwrap())
    })
}

/// Runs a table; returns the report lines and the cells that differ from what is asserted.
fn run_table(topo: &Topology, cells: &[Cell]) -> (Vec<(String, CallOutcome)>, Vec<String>) {
    let mut outcomes = Vec::new();
    let mut wrong = Vec::new();
    for cell in cells {
        let o = call(topo, cell.caller, cell.callee);
        let got = winner(&o);
        let want = cell.today.unwrap_or(cell.expect);
        if got != want {
            wrong.push(format!("{} -> {}: expected {want}, got {got}\n{}", cell.caller, cell.callee, o.to_text()));
        }
        outcomes.push((format!("{} -> {}", cell.caller, cell.callee), o));
    }
    (outcomes, wrong)
}

/// The matrix as a table (printed with `--nocapture`, and shown when a cell fails).
fn summary(cells: &[Cell], outcomes: &[(String, CallOutcome)]) -> String {
    let mut s = format!("{:<22} {:<20} {:<20} {:<44} {}\n", "call", "expected", "actual", "early media", "promoted");
    for (cell, (name, o)) in cells.iter().zip(outcomes) {
        let early = o.early_media.as_ref().map_or("-".to_string(), |e| format!("{} -> {}", e.local, e.remote));
        let fixme = if cell.today.is_some() { " FIXME" } else { "" };
        s += &format!(
            "{name:<22} {:<20} {:<20} {early:<44} {}{fixme}\n",
            cell.expect.to_string(),
            winner(o).to_string(),
            o.promoted_at.map_or("-".to_string(), |t| t.to_string())
        );
    }
    s
}

fn covers_every_ordered_pair(cells: &[Cell]) {
    for a in SITES {
        for b in SITES {
            let n = cells.iter().filter(|c| c.caller == a && c.callee == b).count();
            assert_eq!(n, usize::from(a != b), "{a} -> {b}");
        }
    }
}

#[test]
fn with_the_edge_relay_every_call_connects_on_the_derived_pair() {
    let topo = load(true);
    let cells = with_relay_table();
    covers_every_ordered_pair(&cells);
    let (outcomes, wrong) = run_table(&topo, &cells);
    eprintln!("{}", summary(&cells, &outcomes));
    assert!(wrong.is_empty(), "{} cells differ:\n{}", wrong.len(), wrong.join("\n"));
    for (name, o) in &outcomes {
        assert!(o.connected(), "{name}: every call connects with the relay\n{}", o.to_text());
        assert!(o.signaling_ok, "{name}");
    }
}

#[test]
fn relay_over_tcp_is_the_relayed_candidate_on_port_50001() {
    // The TURN TCP client uses MEDIA_PORT + 1 (50001); through open's no NAT and the hotel's
    // port-preserving NAT its mapped address (raddr) keeps that port, and its priority is the
    // lower (TCP) one.
    let topo = load(true);
    let o = call(&topo, "open", "udpblock");
    let relays: Vec<&String> = o.caller_candidates.iter().filter(|l| l.contains("typ relay")).collect();
    assert_eq!(relays.len(), 2, "{relays:?}");
    let kinds: Vec<(K, &str)> = relays
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (relay_kind(f[3].parse().unwrap()), f[11])
        })
        .collect();
    assert_eq!(kinds, [(RelayU, "50000"), (RelayT, "50001")], "{relays:?}");
    // udpblock offers only the TCP relay (no UDP leaves the hotel) besides its host.
    let o = call(&topo, "udpblock", "open");
    let lines = &o.caller_candidates;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains("typ host"), "{lines:?}");
    assert!(lines[1].contains("typ relay raddr 198.51.100.22 rport 50001"), "{lines:?}");
    assert_eq!(relay_kind(lines[1].split_whitespace().nth(3).unwrap().parse().unwrap()), RelayT);
}

/// S15 twice over: two guests of two UDP-blocking hotels reach each other only relay(TCP)
/// to relay(TCP), both allocated on the Edge's TCP 443 (the relay forwards to itself).
#[test]
fn udpblock_to_udpblock_meets_on_two_tcp_relays() {
    let topo = load(true);
    for (a, b) in [("udpblock", "udpblock2"), ("udpblock2", "udpblock")] {
        let o = call(&topo, a, b);
        assert!(o.connected(), "{a} -> {b}\n{}", o.to_text());
        assert_eq!(winner(&o), Pair(RelayT, RelayT), "{a} -> {b}\n{}", o.to_text());
    }
    let topo = load(false);
    let o = call(&topo, "udpblock", "udpblock2");
    assert!(!o.connected(), "{}", o.to_text());
    assert!(o.pairs.iter().any(|p| p.reason.contains("dropped by udpblock-nat: firewall denied")), "{}", o.to_text());
}

#[test]
fn without_the_relay_only_calls_to_and_from_the_open_site_connect() {
    let topo = load(false);
    let cells = without_relay_table();
    covers_every_ordered_pair(&cells);
    let (outcomes, wrong) = run_table(&topo, &cells);
    eprintln!("{}", summary(&cells, &outcomes));
    assert!(wrong.is_empty(), "{} cells differ:\n{}", wrong.len(), wrong.join("\n"));
    for ((name, o), cell) in outcomes.iter().zip(&cells) {
        assert!(o.signaling_ok, "{name}: signaling is TCP 5061 and works everywhere");
        assert!(
            o.caller_candidates.iter().all(|l| l.contains("typ host")),
            "{name}: only host candidates\n{}",
            o.to_text()
        );
        if cell.expect != Fail {
            continue;
        }
        let failure = o.failure.as_deref().unwrap_or("");
        assert!(failure.contains("every candidate pair failed"), "{name}: {failure}\n{}", o.to_text());
        // Why: the caller's checks die at its own hotel's firewall (udpblock), or at the
        // core, which has no route to the callee's private LAN.
        let why = if cell.caller == "udpblock" {
            "dropped by udpblock-nat: firewall denied on udpblock-nat/lan0 by rule #1"
        } else {
            "dropped by core: no route to"
        };
        assert!(
            o.pairs.iter().all(|p| p.state == "failed" && p.reason.contains(why)),
            "{name}: every pair fails with {why:?}\n{}",
            o.to_text()
        );
    }
}

/// The matrix files load cleanly both ways.
#[test]
fn the_topology_loads_without_warnings() {
    let _ = load(true);
    let _ = load(false);
}

/// A promotion re-INVITE is part of the same call: the callee acknowledges it, keeps the
/// candidates it answered the first INVITE with, and starts no second agent.
#[test]
fn promotion_re_invite_stays_in_the_call() {
    let topo = load(true);
    let o = call(&topo, "prc", "sym");
    assert!(o.promoted_at.is_some(), "{}", o.to_text());
    assert_eq!(o.callee_candidates.len(), 4, "{}", o.to_text());
    let invites = o.timeline.iter().filter(|s| s.node == "sym" && s.what == "received INVITE").count();
    assert_eq!(invites, 2, "the original INVITE and the re-INVITE\n{}", o.to_text());
    assert!(!o.timeline.iter().any(|s| s.node == "sym" && s.what.starts_with("ICE failed")), "{}", o.to_text());
}
