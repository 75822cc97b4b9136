//! Candidate pairs and the check list (RFC 8445 §6.1.2): forming pairs, ordering them,
//! pruning redundant ones and setting their initial states.
//!
//! Every pair the agent ever formed stays in the list, so a report can say what happened to
//! each one and why: pruned pairs are kept as `Cancelled` with a `Pruned` reason, and pairs
//! dropped once nomination completed (§8.1.2) as `Cancelled` with the selected pair named.

use std::fmt;
use std::net::SocketAddrV4;

use super::candidate::{Candidate, CandidateType, Foundation};
use super::priority::pair_priority;
use crate::proto::transaction::RC;
use crate::time::{SimDuration, SimTime};
use crate::wire::stun::TransactionId;

/// A pair's stable id: its index in the order pairs were formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PairId(pub u32);

impl fmt::Display for PairId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pair#{}", self.0)
    }
}

/// RFC 8445 §6.1.2.6 pair states, plus `Cancelled`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PairState {
    Frozen,
    Waiting,
    InProgress,
    Succeeded,
    Failed,
    /// Not an RFC state: the pair left the check list unchecked or with its check abandoned
    /// (pruned as redundant §6.1.2.4, or removed once a pair was nominated §8.1.2).
    Cancelled,
}

impl PairState {
    /// Whether the pair may still produce a check.
    pub fn is_pending(self) -> bool {
        matches!(self, PairState::Frozen | PairState::Waiting | PairState::InProgress)
    }
}

/// Why a pair is in its state: the answer to "why did this pair fail".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PairReason {
    /// Formed as the first pair of its foundation: Waiting (§6.1.2.6).
    FirstOfFoundation,
    /// Formed behind another pair of the same foundation: Frozen (§6.1.2.6).
    FoundationBusy { ahead: PairId },
    /// Redundant with a higher-priority pair from the same base to the same remote
    /// (§6.1.2.4); never checked.
    Pruned { kept: PairId },
    /// Unfrozen because a pair of its foundation succeeded (§7.2.5.3.3).
    FoundationSucceeded { by: PairId },
    /// Unfrozen because no pair was Waiting (§6.1.4.2).
    NothingWaiting,
    /// A connectivity check went out.
    CheckSent { transaction: TransactionId, nominating: bool },
    /// The peer's check arrived on this pair: a triggered check is queued (§7.3.1.4).
    Triggered { from: SocketAddrV4 },
    /// Our check got a 487 and we switched role; the check is queued again (§7.2.5.1).
    RoleConflict,
    /// A success response arrived; `mapped` is XOR-MAPPED-ADDRESS.
    Succeeded { mapped: SocketAddrV4, rtt: SimDuration },
    /// Formed from a success on another pair whose mapped address was a different local
    /// candidate (§7.2.5.3.2).
    DiscoveredBy { checked: PairId },
    /// No response after `sends` transmissions (RFC 8489 §6.2.1 timers).
    Timeout { sends: u32 },
    /// An error response other than 487.
    ErrorResponse { code: u16 },
    /// The response came from or to an address other than the request's (§7.2.5.2.1).
    NonSymmetric { expected: (SocketAddrV4, SocketAddrV4), got: (SocketAddrV4, SocketAddrV4) },
    /// Removed when `selected` was nominated (§8.1.2).
    NominationComplete { selected: PairId },
    /// Consent to send expired on this pair (RFC 7675 §5.1).
    ConsentExpired,
    /// The agent failed while this pair was still Frozen or Waiting (e.g. a passive TCP
    /// candidate the peer never connected to).
    ChecksEnded { was: PairState },
}

/// A pair's foundation (§6.1.2.6): its local and remote candidates' foundations, written
/// `local:remote`. Kept as the two parts, in place: neither part can contain `:` (an
/// `ice-char` is a letter, a digit, `+` or `/`), so comparing the parts is comparing the
/// joined text, and forming a pair allocates no string.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PairFoundation {
    pub local: Foundation,
    pub remote: Foundation,
}

impl fmt::Display for PairFoundation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.local, self.remote)
    }
}

impl fmt::Debug for PairFoundation {
    /// As the joined text would print (`"1:2"`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}:{}\"", self.local, self.remote)
    }
}

/// One STUN transaction sent for a pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRecord {
    pub transaction: TransactionId,
    pub sent_at: SimTime,
    /// Carried USE-CANDIDATE.
    pub nominating: bool,
    /// A consent-freshness request (RFC 7675), not a connectivity check.
    pub consent: bool,
    /// How many times the request went out (1 + retransmissions).
    pub sends: u32,
    /// When each retransmission went out (RFC 8489 §6.2.1), in order.
    pub retransmitted_at: Retransmissions,
    /// When a response arrived, if one did (success or error).
    pub answered_at: Option<SimTime>,
    /// When this transaction failed its pair: no answer before the transaction gave up, or
    /// an answer that fails the check (an error other than a role conflict, a non-symmetric
    /// or unusable response).
    pub failed_at: Option<SimTime>,
}

/// When a check's retransmissions went out, in order, held in place: a check is sent at most
/// `RC` times over UDP (RFC 8489 §6.2.1; once over TCP), so there are at most `RC - 1`, and
/// recording them allocates nothing. It reads as a slice of times.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Retransmissions {
    len: u8,
    at: [SimTime; Retransmissions::MAX],
}

impl Retransmissions {
    /// The most a transaction makes (`Transaction` gives up after `RC` sends).
    pub const MAX: usize = RC as usize - 1;

    pub const fn new() -> Retransmissions {
        Retransmissions { len: 0, at: [SimTime::ZERO; Retransmissions::MAX] }
    }

    /// Records one more retransmission.
    pub(crate) fn push(&mut self, at: SimTime) {
        // `Transaction` retransmits at most `RC - 1` times; the assertion guards the bound
        // should that change without this.
        debug_assert!(usize::from(self.len) < Retransmissions::MAX, "more retransmissions than RC allows");
        if let Some(slot) = self.at.get_mut(usize::from(self.len)) {
            *slot = at;
            self.len += 1;
        }
    }

    pub fn as_slice(&self) -> &[SimTime] {
        &self.at[..usize::from(self.len)]
    }
}

impl Default for Retransmissions {
    fn default() -> Retransmissions {
        Retransmissions::new()
    }
}

impl std::ops::Deref for Retransmissions {
    type Target = [SimTime];

    fn deref(&self) -> &[SimTime] {
        self.as_slice()
    }
}

impl<'a> IntoIterator for &'a Retransmissions {
    type Item = &'a SimTime;
    type IntoIter = std::slice::Iter<'a, SimTime>;

    fn into_iter(self) -> std::slice::Iter<'a, SimTime> {
        self.as_slice().iter()
    }
}

impl fmt::Debug for Retransmissions {
    /// As the list of times it holds (as a `Vec` of them would print).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// A pair's check records, in the order the checks went out; it reads as a slice of them.
/// Most pairs that are checked at all are checked once, so the first record is held in the
/// pair itself and only a second one moves the records to the heap: checking a pair
/// allocates nothing until then.
#[derive(Clone, Default)]
pub struct CheckRecords(Records);

#[derive(Clone, Default)]
enum Records {
    #[default]
    None,
    One(CheckRecord),
    Many(Vec<CheckRecord>),
}

impl CheckRecords {
    pub(crate) fn push(&mut self, r: CheckRecord) {
        self.0 = match std::mem::take(&mut self.0) {
            Records::None => Records::One(r),
            Records::One(first) => Records::Many(vec![first, r]),
            Records::Many(mut v) => {
                v.push(r);
                Records::Many(v)
            }
        };
    }
}

impl std::ops::Deref for CheckRecords {
    type Target = [CheckRecord];

    fn deref(&self) -> &[CheckRecord] {
        match &self.0 {
            Records::None => &[],
            Records::One(r) => std::slice::from_ref(r),
            Records::Many(v) => v,
        }
    }
}

impl std::ops::DerefMut for CheckRecords {
    fn deref_mut(&mut self) -> &mut [CheckRecord] {
        match &mut self.0 {
            Records::None => &mut [],
            Records::One(r) => std::slice::from_mut(r),
            Records::Many(v) => v,
        }
    }
}

impl PartialEq for CheckRecords {
    /// As the lists of records compare, however they are held.
    fn eq(&self, other: &CheckRecords) -> bool {
        **self == **other
    }
}

impl Eq for CheckRecords {}

impl fmt::Debug for CheckRecords {
    /// As the list of records it holds (as a `Vec` of them would print).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a CheckRecords {
    type Item = &'a CheckRecord;
    type IntoIter = std::slice::Iter<'a, CheckRecord>;

    fn into_iter(self) -> std::slice::Iter<'a, CheckRecord> {
        self.iter()
    }
}

/// A local and a remote candidate, and what the checks made of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CandidatePair {
    pub id: PairId,
    pub local: Candidate,
    pub remote: Candidate,
    /// Local and remote foundations joined (§6.1.2.6).
    pub foundation: PairFoundation,
    /// §6.1.2.3, recomputed when the role changes.
    pub priority: u64,
    pub state: PairState,
    /// In the valid list (§7.2.5.3.2): a check proved this local/remote pair works.
    pub valid: bool,
    /// Nominated (§8.1.1) — on a valid pair only.
    pub nominated: bool,
    /// For a valid pair that was not itself checked: the pair whose check produced it.
    pub generated_by: Option<PairId>,
    /// For a checked pair that succeeded: the valid pair it produced (itself or another).
    pub valid_pair: Option<PairId>,
    /// Every transaction sent for this pair.
    pub checks: CheckRecords,
    /// Why the pair is in its state.
    pub reason: Option<PairReason>,
    /// The controlled agent received USE-CANDIDATE before the pair succeeded (§7.3.1.5).
    pub(crate) nominate_on_success: bool,
}

impl CandidatePair {
    /// A new pair with its priority for the given role.
    pub fn new(id: PairId, local: Candidate, remote: Candidate, controlling: bool) -> CandidatePair {
        let foundation = PairFoundation { local: local.foundation, remote: remote.foundation };
        let priority = priority_for(&local, &remote, controlling);
        CandidatePair {
            id,
            local,
            remote,
            foundation,
            priority,
            state: PairState::Frozen,
            valid: false,
            nominated: false,
            generated_by: None,
            valid_pair: None,
            checks: CheckRecords::default(),
            reason: None,
            nominate_on_success: false,
        }
    }

    /// The address checks for this pair leave from (the local candidate's base).
    pub fn local_base(&self) -> SocketAddrV4 {
        self.local.base
    }
}

impl fmt::Display for CandidatePair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.id, self.local, self.remote)
    }
}

/// §6.1.2.3 for a pair, from this agent's role.
pub fn priority_for(local: &Candidate, remote: &Candidate, controlling: bool) -> u64 {
    if controlling {
        pair_priority(local.priority, remote.priority)
    } else {
        pair_priority(remote.priority, local.priority)
    }
}

/// The candidate a check is sent from: a server-reflexive local candidate is replaced by its
/// base (§6.1.2.4), i.e. the host candidate with that address when there is one.
pub fn check_source<'a>(local: &'a Candidate, locals: &'a [Candidate]) -> Option<&'a Candidate> {
    match local.kind {
        CandidateType::Host | CandidateType::Relayed => Some(local),
        CandidateType::ServerReflexive | CandidateType::PeerReflexive => locals.iter().find(|c| {
            matches!(c.kind, CandidateType::Host | CandidateType::Relayed)
                && c.address == local.base
                && c.protocol == local.protocol
        }),
    }
}

/// Forms, orders and prunes pairs for `locals` × `remotes` (§6.1.2.2–§6.1.2.4), then sets
/// the initial states (§6.1.2.6). Ids start at `first_id`. Returns the pairs in priority
/// order, pruned ones included (as `Cancelled`).
#[cfg(test)]
pub fn form_pairs(locals: &[Candidate], remotes: &[Candidate], controlling: bool, first_id: u32) -> Vec<CandidatePair> {
    let mut out = Vec::new();
    form_pairs_into(&mut out, locals, remotes, controlling, first_id);
    out
}

/// `form_pairs`, appended to `out`: the agent forms its pairs at the end of its own list,
/// so they are built and moved once (no batch list, no list of candidate references). What
/// `out` held before is neither read nor changed.
pub fn form_pairs_into(
    out: &mut Vec<CandidatePair>,
    locals: &[Candidate],
    remotes: &[Candidate],
    controlling: bool,
    first_id: u32,
) {
    let start = out.len();
    // A local candidate's check source depends on it alone: found once per local, not per
    // (local, remote), both to size the list and to form it.
    let count = locals
        .iter()
        .filter(|l| check_source(l, locals).is_some())
        .map(|l| remotes.iter().filter(|r| l.can_pair_with(r)).count())
        .sum();
    out.reserve(count);
    for l in locals {
        let Some(src) = check_source(l, locals) else { continue };
        for r in remotes.iter().filter(|r| l.can_pair_with(r)) {
            // The priority is the original local candidate's; the pair is then checked from
            // the base (§6.1.2.4: "replace with its base"). Candidates are copied once, into
            // the pair.
            let mut pair = CandidatePair::new(PairId(0), src.clone(), r.clone(), controlling);
            pair.priority = priority_for(l, r, controlling);
            out.push(pair);
        }
    }
    let batch = &mut out[start..];
    // Highest priority first; ties keep formation order (stable sort) for determinism.
    batch.sort_by_key(|p| std::cmp::Reverse(p.priority));
    for i in 0..batch.len() {
        batch[i].id = PairId(first_id + i as u32);
        // §6.1.2.4: same local base and same remote candidate: keep the higher priority.
        let (earlier, rest) = batch.split_at_mut(i);
        let pair = &mut rest[0];
        if let Some(kept) = earlier.iter().find(|q| {
            q.state != PairState::Cancelled
                && q.local.base == pair.local.base
                && q.local.protocol == pair.local.protocol
                && q.remote.address == pair.remote.address
        }) {
            pair.state = PairState::Cancelled;
            pair.reason = Some(PairReason::Pruned { kept: kept.id });
        }
    }
    set_initial_states(batch);
}

/// §6.1.2.6: per foundation, the highest-priority pair (lowest component first; there is
/// only component 1) is Waiting, the rest Frozen.
pub fn set_initial_states(pairs: &mut [CandidatePair]) {
    for i in 0..pairs.len() {
        if pairs[i].state == PairState::Cancelled {
            continue;
        }
        // The first earlier pair of the same foundation that is not cancelled (earlier ones
        // already have their state), found by scanning: the list is short.
        let (earlier, rest) = pairs.split_at_mut(i);
        let p = &mut rest[0];
        match earlier.iter().find(|q| q.state != PairState::Cancelled && q.foundation == p.foundation) {
            None => {
                p.state = PairState::Waiting;
                p.reason = Some(PairReason::FirstOfFoundation);
            }
            Some(q) => {
                p.state = PairState::Frozen;
                p.reason = Some(PairReason::FoundationBusy { ahead: q.id });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Protocol;

    fn cand(f: &str, kind: CandidateType, addr: &str, base: &str, priority: u32) -> Candidate {
        Candidate {
            foundation: Foundation::new(f).unwrap(),
            component: 1,
            protocol: Protocol::Udp,
            priority,
            address: addr.parse().unwrap(),
            kind,
            base: base.parse().unwrap(),
            related: None,
            tcp_type: None,
        }
    }

    #[test]
    fn srflx_is_replaced_by_its_base_and_pruned() {
        let host = cand("1", CandidateType::Host, "10.0.0.1:5000", "10.0.0.1:5000", 2130706431);
        let srflx = cand("2", CandidateType::ServerReflexive, "203.0.113.1:6000", "10.0.0.1:5000", 1694498815);
        let remote = cand("9", CandidateType::Host, "198.51.100.1:7000", "198.51.100.1:7000", 2130706431);
        let pairs = form_pairs(&[host.clone(), srflx], std::slice::from_ref(&remote), true, 0);
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].local, host);
        assert_eq!(pairs[0].state, PairState::Waiting);
        assert_eq!(pairs[1].local, host, "the srflx pair is checked from its base");
        assert_eq!(pairs[1].state, PairState::Cancelled);
        assert_eq!(pairs[1].reason, Some(PairReason::Pruned { kept: pairs[0].id }));
    }

    #[test]
    fn one_waiting_pair_per_foundation() {
        let l1 = cand("1", CandidateType::Host, "10.0.0.1:5000", "10.0.0.1:5000", 2130706431);
        let l2 = cand("1", CandidateType::Host, "10.0.0.1:5002", "10.0.0.1:5002", 2130706175);
        let l3 = cand("2", CandidateType::Relayed, "192.0.2.1:4000", "192.0.2.1:4000", 16777215);
        let r = cand("7", CandidateType::Host, "198.51.100.1:7000", "198.51.100.1:7000", 2130706431);
        let pairs = form_pairs(&[l1, l2, l3], &[r], true, 0);
        let states: Vec<_> = pairs.iter().map(|p| (p.foundation.to_string(), p.state)).collect();
        let expected = [("1:7", PairState::Waiting), ("1:7", PairState::Frozen), ("2:7", PairState::Waiting)];
        assert_eq!(states, expected.map(|(f, s)| (f.to_owned(), s)));
        assert_eq!(format!("{:?}", pairs[0].foundation), "\"1:7\"", "prints as the joined text");
        assert_eq!(pairs[1].reason, Some(PairReason::FoundationBusy { ahead: pairs[0].id }));
    }

    #[test]
    fn pairs_are_ordered_by_priority_from_our_role() {
        let l = cand("1", CandidateType::Relayed, "192.0.2.1:4000", "192.0.2.1:4000", 100);
        let r1 = cand("7", CandidateType::Host, "198.51.100.1:7000", "198.51.100.1:7000", 300);
        let r2 = cand("8", CandidateType::Host, "198.51.100.2:7000", "198.51.100.2:7000", 200);
        let pairs = form_pairs(std::slice::from_ref(&l), &[r2, r1], false, 5);
        assert_eq!(pairs[0].remote.priority, 300);
        assert_eq!(pairs[0].priority, pair_priority(300, 100));
        assert_eq!(pairs[0].id, PairId(5));
        assert!(pairs[0].priority > pairs[1].priority);
    }
}
