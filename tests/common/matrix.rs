//! The NAT matrix shared by `tests/nat_matrix.rs` (our agent on both sides) and
//! `tests/ice_differential.rs` (a foreign agent as caller): the sites, the candidate kinds a
//! winner is described by, and the expected winner of every cell, each derived by hand from
//! the NAT behaviours (see the derivation at the top of `tests/nat_matrix.rs`).

use std::fmt;

pub use K::*;
pub use Win::{Fail, Pair};

pub const FILE: &str = "topologies/nat-matrix.yaml";
pub const SITES: [&str; 6] = ["open", "fc", "rc", "prc", "sym", "udpblock"];

/// A candidate type as the winner reports it; relays by the transport they were allocated over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum K {
    Host,
    Srflx,
    Prflx,
    /// Relayed, allocated over UDP 3478.
    RelayU,
    /// Relayed, allocated over TCP 443 (the last resort).
    RelayT,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Win {
    Pair(K, K),
    /// No pair works; the failure names a drop by a NAT, a firewall, or a missing route.
    Fail,
}

impl fmt::Display for Win {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Win::Pair(l, r) => write!(f, "{l:?} <-> {r:?}"),
            Win::Fail => f.write_str("FAIL"),
        }
    }
}

/// One cell: caller, callee, the derived winner, and (FIXME cells only) today's output
/// where the program disagrees.
pub struct Cell {
    pub caller: &'static str,
    pub callee: &'static str,
    pub expect: Win,
    pub today: Option<Win>,
}

pub const fn c(caller: &'static str, callee: &'static str, expect: Win) -> Cell {
    Cell { caller, callee, expect, today: None }
}

/// With the relay (`relay: edge01` on every laptop).
pub fn with_relay_table() -> Vec<Cell> {
    vec![
        // open calling: its host is public, so each callee's own early checks to it open
        // the callee's filter towards open:50000 (they reach open directly).
        // EIM callee: open's check to the callee's srflx passes (fc: any source; rc/prc: the
        // callee already sent to open:50000 from that very mapping); host–srflx.
        c("open", "fc", Pair(Host, Srflx)),
        c("open", "rc", Pair(Host, Srflx)),
        c("open", "prc", Pair(Host, Srflx)),
        // sym callee: its srflx only admits the Edge, but its check to open came from a new
        // mapping P, which open learns as a peer-reflexive candidate (§7.3.1.3); the
        // triggered check to P passes (P was opened towards open:50000). host–prflx beats
        // everything else possible.
        c("open", "sym", Pair(Host, Prflx)),
        // udpblock callee: only its TCP-allocated relay can receive. open's check from its
        // public host to that relayed address is permitted (udpblock permitted open's IP)
        // and answered through the relay: host–relay(TCP), the best pair containing the TCP
        // relay (its max is a host).
        c("open", "udpblock", Pair(Host, RelayT)),
        // fc calling (EIM/EIF): it can be reached by anyone on NAT:50000.
        // open callee: the check to open's public host is answered; mapped = fc's srflx.
        c("fc", "open", Pair(Srflx, Host)),
        // EIM callee: the callee's early check to fc's srflx opened the callee's filter for
        // fc's NAT:50000 (and got through fc's EIF filter); fc's check to the callee's srflx
        // succeeds with mapped = fc's srflx: srflx–srflx (no prflx exists between EIM NATs).
        c("fc", "rc", Pair(Srflx, Srflx)),
        c("fc", "prc", Pair(Srflx, Srflx)),
        // sym callee: its check to fc's srflx (from new mapping P) passes fc's EIF filter,
        // so fc learns P as prflx; the triggered check to P passes sym's filter; mapped =
        // fc's srflx: srflx–prflx (above srflx–srflx, far above any relay).
        c("fc", "sym", Pair(Srflx, Prflx)),
        // udpblock callee: fc's check to the TCP relay is answered; mapped = fc's srflx.
        c("fc", "udpblock", Pair(Srflx, RelayT)),
        // rc calling (EIM, address-dependent filtering).
        c("rc", "open", Pair(Srflx, Host)),
        c("rc", "fc", Pair(Srflx, Srflx)),
        // prc callee already sent to rc's srflx (opening prc for exactly it): rc's check passes.
        c("rc", "prc", Pair(Srflx, Srflx)),
        // sym callee: its first check (from P, to rc's srflx) is dropped by rc's filter (rc
        // never sent to sym's IP yet). rc's check to sym's srflx is dropped by sym, but it
        // opens rc's filter for sym's IP (any port). sym's retransmission of that check
        // (RFC 8489 schedule: 0.5 s, 1.5 s, …, from the same mapping P) now passes, rc learns
        // P as prflx, the triggered check to P passes sym's filter: srflx–prflx. Relay pairs
        // succeed earlier, but aggressive nomination moves media up to the better pair.
        // Once rc has selected the relay pair, sym's retransmitted check (from a new mapping)
        // reaches rc through the filter rc opened toward sym's address; aggressive
        // nomination triggers a check on that better pair and upgrades to it.
        c("rc", "sym", Pair(Srflx, Prflx)),
        c("rc", "udpblock", Pair(Srflx, RelayT)),
        // prc calling (EIM, address-and-port-dependent filtering): as rc, except with sym.
        c("prc", "open", Pair(Srflx, Host)),
        c("prc", "fc", Pair(Srflx, Srflx)),
        c("prc", "rc", Pair(Srflx, Srflx)),
        // sym callee: sym's checks come from new ports prc never sent to (dropped), and
        // prc's checks to sym's srflx are dropped by sym: no direct path (the classic
        // port-restricted ↔ symmetric failure). Relays: sym's check to prc's UDP relay comes
        // from a new mapping P3 that prc learns as prflx; prc's relay → P3 passes sym's
        // filter (P3 was opened towards that relayed address): relay(UDP)–prflx, which beats
        // prc-srflx → sym's UDP relay (relay(UDP)–srflx: srflx < prflx).
        c("prc", "sym", Pair(RelayU, Prflx)),
        c("prc", "udpblock", Pair(Srflx, RelayT)),
        // sym calling: every check it sends leaves from a new mapping, so its mapped address
        // is a new peer-reflexive local candidate.
        // open callee: prflx–host.
        c("sym", "open", Pair(Prflx, Host)),
        // fc callee: sym's check to fc's srflx passes EIF: prflx–srflx.
        c("sym", "fc", Pair(Prflx, Srflx)),
        // rc callee: rc's early check to sym's srflx opened rc's filter for sym's IP, so
        // sym's check (another port, same IP) passes: prflx–srflx.
        c("sym", "rc", Pair(Prflx, Srflx)),
        // prc callee: prc opened its filter only for sym's srflx port; sym's checks come
        // from other ports: no direct path. sym's check to prc's UDP relay (from new mapping
        // P3, permitted by sym's IP) is answered through the relay: mapped = P3, prflx–
        // relay(UDP), above relay(UDP) → prc srflx (srflx < prflx).
        c("sym", "prc", Pair(Prflx, RelayU)),
        // udpblock callee: sym's check to the TCP relay: prflx–relay(TCP).
        c("sym", "udpblock", Pair(Prflx, RelayT)),
        // udpblock calling: none of its UDP leaves the hotel; it sends only through its
        // TCP-allocated relay, so its local candidate is always relay(TCP). Which remote
        // candidate the relay can reach: open's public host; an EIM callee's srflx (the
        // callee's early check to udpblock's relayed address opened exactly that hole, and
        // fc's is open anyway); sym's new mapping towards the relayed address, learned as
        // prflx when sym's check arrives through the relay.
        c("udpblock", "open", Pair(RelayT, Host)),
        c("udpblock", "fc", Pair(RelayT, Srflx)),
        c("udpblock", "rc", Pair(RelayT, Srflx)),
        c("udpblock", "prc", Pair(RelayT, Srflx)),
        c("udpblock", "sym", Pair(RelayT, Prflx)),
    ]
}

/// Without the relay: no TURN client, so no srflx and no relayed candidates — only host
/// candidates, and peer-reflexive ones learned from checks.
pub fn without_relay_table() -> Vec<Cell> {
    let mut cells = Vec::new();
    for caller in SITES {
        for callee in SITES {
            if caller == callee {
                continue;
            }
            let expect = match (caller, callee) {
                // Nothing UDP leaves the hotel, and nothing can reach its private host.
                ("udpblock", _) | (_, "udpblock") => Fail,
                // open calling a NATed callee: the callee's own check to open's public host
                // arrives from its NAT mapping (EIM: NAT:50000; sym: a new port), unknown to
                // open, so open learns it as prflx; the triggered check back passes the
                // callee's filter, which that very check opened: host–prflx.
                ("open", _) => Pair(Host, Prflx),
                // A NATed caller calling open: its check to open's public host is answered;
                // mapped = its NAT mapping, which is no candidate of its own (no srflx was
                // gathered): prflx–host.
                (_, "open") => Pair(Prflx, Host),
                // NAT ↔ NAT: each side only knows the other's private address; every check dies
                // at the core (no route) and nothing can be learned.
                _ => Fail,
            };
            cells.push(c(caller, callee, expect));
        }
    }
    cells
}

/// The expected winner of `caller -> callee` in `table`.
pub fn expected(table: &[Cell], caller: &str, callee: &str) -> Win {
    table
        .iter()
        .find(|c| c.caller == caller && c.callee == callee)
        .map(|c| c.expect)
        .unwrap_or_else(|| panic!("no cell {caller} -> {callee}"))
}
