//! The ICE agent's state machine (RFC 8445 §6–§8, RFC 7675 consent).
//!
//! Inputs: `add_local_candidate`, `set_remote_credentials`, `add_remote_candidate`,
//! `start_checks`, `handle_receive`, `handle_timeout`. Outputs: `poll_transmit`,
//! `poll_event`, `poll_timeout`. Every input ends with `tick`, which does whatever is due:
//! retransmissions and timeouts, consent, nomination, and one paced check (Ta, §14.2).

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddrV4;

use super::candidate::{Candidate, CandidateType, TcpType};
use super::checklist::{
    CandidatePair, CheckRecord, PairFoundation, PairId, PairReason, PairState, Retransmissions, form_pairs_into,
};
use super::priority::{LocalCandidateSpec, Ranker, candidate_priority, type_preference};
use super::stun::{self, CheckRequest, Incoming};
use super::{AgentState, FailReason, IceConfig, IceDiscard, IceEvent, Nomination, Role, Transmit};
use crate::proto::transaction::{TI, TimerAction, Transaction, Transactions};
use crate::time::SimTime;
use crate::wire::Protocol;
use crate::wire::stun::{IntegrityKey, TransactionId};

mod receive;

/// Transactions a pair may start (ordinary, triggered, after a role conflict) before a
/// request from the peer no longer triggers a new one; nomination checks are not counted
/// against it. RFC 8445 sets no such bound (see the module deviations).
const MAX_CHECKS_PER_PAIR: usize = 5;

/// An outstanding Binding request.
#[derive(Clone, Debug)]
struct Outstanding {
    pair: PairId,
    tx: Transaction,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    protocol: Protocol,
    /// Carried USE-CANDIDATE.
    nominating: bool,
    /// The controlling agent's deliberate nomination of a valid pair (regular nomination, or
    /// a valid pair found before a role switch).
    nomination_check: bool,
    /// A consent request (RFC 7675).
    consent: bool,
    /// §7.3.1.4: superseded by a triggered check — no retransmission, no failure, but a
    /// response still counts.
    cancelled: bool,
    /// The PRIORITY we sent: a peer-reflexive local candidate learned from the answer gets it.
    priority: u32,
    /// The role we claimed, for 487 handling (§7.2.5.1).
    role: Role,
    sent_at: SimTime,
}

/// A check waiting in the triggered-check queue (§6.1.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Triggered {
    pair: PairId,
    /// A regular nomination: repeat the check with USE-CANDIDATE (§8.1.1).
    nominate: bool,
}

/// A request that arrived before `start_checks`, replayed once the pairs exist.
#[derive(Clone, Debug)]
struct Early {
    local: SocketAddrV4,
    protocol: Protocol,
    from: SocketAddrV4,
    priority: u32,
    use_candidate: bool,
}

/// RFC 7675 state on the selected pair.
#[derive(Clone, Copy, Debug)]
struct Consent {
    next_send: SimTime,
    last_response: SimTime,
}

/// A full ICE agent for one component of one data stream.
#[derive(Debug)]
pub struct IceAgent {
    cfg: IceConfig,
    role: Role,
    state: AgentState,
    ranker: Ranker,
    local_key: IntegrityKey,
    local: Vec<Candidate>,
    remote: Vec<Candidate>,
    /// The USERNAME of our checks, `remoteUfrag:localUfrag` (§7.2.2), once the peer's
    /// credentials are known.
    check_username: Option<String>,
    remote_key: Option<IntegrityKey>,
    /// Every pair ever formed, highest priority first (ties by id).
    pairs: Vec<CandidatePair>,
    next_pair_id: u32,
    triggered: VecDeque<Triggered>,
    pending: Transactions<Outstanding>,
    counter: u64,
    started: bool,
    /// When `start_checks` ran: passive TCP pairs wait for the peer until Ti after it.
    started_at: SimTime,
    early: Vec<Early>,
    next_check_at: Option<SimTime>,
    last_check_at: Option<SimTime>,
    first_valid_at: Option<SimTime>,
    /// Regular nomination in flight: the valid pair being nominated.
    nominating: Option<PairId>,
    nomination_failed: BTreeSet<PairId>,
    selected: Option<PairId>,
    consent: Option<Consent>,
    prflx_remotes: u32,
    /// Some pair's local candidate is passive TCP (pairs are never removed, so this only
    /// ever turns on): until then no pair waits on `passive_deadline`, and asking costs no
    /// scan.
    passive_pairs: bool,
    /// `next_deadline()` as of the end of the last input: every public method that changes
    /// the agent ends by refreshing it, so `poll_timeout`, asked after every packet the
    /// endpoint handles, reads a field instead of scanning transactions and pairs.
    deadline: Option<SimTime>,
    out: VecDeque<Transmit>,
    events: VecDeque<IceEvent>,
}

impl IceAgent {
    pub fn new(cfg: IceConfig) -> IceAgent {
        IceAgent {
            role: cfg.role,
            local_key: IntegrityKey::short_term(&cfg.local_pwd),
            cfg,
            state: AgentState::Gathering,
            ranker: Ranker::default(),
            local: Vec::new(),
            remote: Vec::new(),
            check_username: None,
            remote_key: None,
            pairs: Vec::new(),
            next_pair_id: 0,
            triggered: VecDeque::new(),
            pending: Transactions::default(),
            counter: 0,
            started: false,
            started_at: SimTime::ZERO,
            early: Vec::new(),
            next_check_at: None,
            last_check_at: None,
            first_valid_at: None,
            nominating: None,
            nomination_failed: BTreeSet::new(),
            selected: None,
            consent: None,
            prflx_remotes: 0,
            passive_pairs: false,
            deadline: None,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Computes the priority (RFC 8445 §5.1.2, or the MS-ICE2 variant) and foundation,
    /// stores and returns the candidate. Added after `start_checks`, it is paired at once.
    pub fn add_local_candidate(&mut self, spec: LocalCandidateSpec) -> Candidate {
        let c = Candidate {
            foundation: self.ranker.foundation(&spec),
            component: 1,
            protocol: spec.protocol,
            priority: self.ranker.priority(self.cfg.profile, &spec),
            address: spec.address,
            kind: spec.kind,
            base: spec.base,
            related: spec.related,
            tcp_type: spec.tcp_type,
        };
        self.local.push(c.clone());
        if self.started && self.is_live() {
            self.extend_pairs_of(Some(std::slice::from_ref(&c)), None);
            self.refresh_deadline();
        }
        c
    }

    pub fn local_candidates(&self) -> &[Candidate] {
        &self.local
    }

    pub fn remote_candidates(&self) -> &[Candidate] {
        &self.remote
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// The peer's ufrag and password (from its SDP).
    pub fn set_remote_credentials(&mut self, ufrag: &str, pwd: &str) {
        // Written into one string of the right size (`format!` may grow its buffer).
        let local = &self.cfg.local_ufrag;
        let mut username = String::with_capacity(ufrag.len() + 1 + local.len());
        username.extend([ufrag, ":", local.as_str()]);
        self.check_username = Some(username);
        self.remote_key = Some(IntegrityKey::short_term(pwd));
    }

    /// A candidate from the peer's SDP. Added after `start_checks`, it is paired at once.
    pub fn add_remote_candidate(&mut self, c: Candidate) {
        if self.remote.iter().any(|r| r.address == c.address && r.protocol == c.protocol) {
            return;
        }
        self.remote.push(c.clone());
        if self.started && self.is_live() {
            self.extend_pairs_of(None, Some(std::slice::from_ref(&c)));
            self.refresh_deadline();
        }
    }

    /// Forms pairs (§6.1.2), prunes (§6.1.2.4), sets initial states (§6.1.2.6) and starts
    /// the Ta-paced checks.
    pub fn start_checks(&mut self, now: SimTime) {
        if self.started {
            return;
        }
        self.start(now);
        self.refresh_deadline();
    }

    fn start(&mut self, now: SimTime) {
        self.started = true;
        self.started_at = now;
        self.state = AgentState::Running;
        self.extend_pairs_of(None, None);
        for e in std::mem::take(&mut self.early) {
            self.process_request(now, e.local, e.protocol, e.from, e.priority, e.use_candidate);
        }
        if !self.pairs.iter().any(|p| p.state != PairState::Cancelled) {
            self.fail(FailReason::NoPairs);
            return;
        }
        self.arm(now);
        self.tick(now);
    }

    /// Bytes arrived on a local candidate's address (for a relayed candidate: the caller
    /// unwraps TURN and passes the relayed address as `local` and the peer as `from`).
    /// Returns false when the bytes are not STUN for this agent (e.g. media), so the caller
    /// can use them.
    pub fn handle_receive(
        &mut self,
        now: SimTime,
        local: SocketAddrV4,
        protocol: Protocol,
        from: SocketAddrV4,
        bytes: &[u8],
    ) -> bool {
        let ours = match stun::classify(bytes, &self.cfg.local_ufrag, &self.local_key) {
            // Media and other traffic leave the agent as it was: nothing to run (its timers
            // run from `handle_timeout`), which is what lets the endpoint skip polling it.
            Incoming::NotOurs => return false,
            Incoming::Indication => true,
            Incoming::Malformed(e) => {
                self.events.push_back(IceEvent::Discarded { from, reason: IceDiscard::Malformed(e) });
                true
            }
            Incoming::BadRequest { transaction_id, answer, reason } => {
                if let Some((code, text)) = answer
                    && let Ok(b) = stun::build_error(transaction_id, code, text, None)
                {
                    self.send(local, protocol, from, b, Some(transaction_id));
                }
                self.events.push_back(IceEvent::Discarded { from, reason });
                true
            }
            Incoming::Request(req) => {
                self.handle_request(now, local, protocol, from, req);
                true
            }
            Incoming::Response(msg) => self.handle_response(now, local, protocol, from, &msg),
        };
        self.tick(now);
        self.refresh_deadline();
        ours
    }

    /// Retransmits, times out, keeps consent, nominates and sends the next paced check.
    pub fn handle_timeout(&mut self, now: SimTime) {
        self.tick(now);
        self.refresh_deadline();
    }

    /// What to send: from which local address (a host address, or a relayed address the
    /// caller sends through TURN) to which remote address.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<IceEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<SimTime> {
        debug_assert_eq!(self.deadline, self.next_deadline(), "invariant: the deadline follows every input");
        self.deadline
    }

    fn refresh_deadline(&mut self) {
        self.deadline = self.next_deadline();
    }

    /// The earliest retransmission or transaction timeout, paced check, nomination,
    /// consent check or passive TCP deadline.
    fn next_deadline(&self) -> Option<SimTime> {
        let txs = self.pending.values().map(|o| o.tx.next_timeout());
        let consent = self.consent.iter().flat_map(|c| [c.next_send, c.last_response + self.cfg.consent_timeout]);
        txs.chain(self.next_check_at).chain(self.settle_deadline()).chain(consent).chain(self.passive_deadline()).min()
    }

    /// Every pair formed, highest priority first, with its state, flags, checks and reason.
    pub fn pairs(&self) -> &[CandidatePair] {
        &self.pairs
    }

    /// One pair by id.
    pub fn pair(&self, id: PairId) -> Option<&CandidatePair> {
        self.pairs.iter().find(|p| p.id == id)
    }

    /// The nominated pair media uses (send from `local.base`, to `remote.address`).
    pub fn selected_pair(&self) -> Option<&CandidatePair> {
        self.selected.and_then(|id| self.pair(id))
    }

    pub fn state(&self) -> AgentState {
        self.state
    }

    // ----- what is due -----

    fn tick(&mut self, now: SimTime) {
        self.expire_passive(now);
        self.run_transactions(now);
        self.run_consent(now);
        self.maybe_nominate(now);
        self.run_pacer(now);
        self.check_finished(now);
    }

    fn run_transactions(&mut self, now: SimTime) {
        // Retransmissions go out in id order as their timers are visited (none of them
        // changes another's timer); expiries are handled after all of them.
        let mut expired = Vec::new();
        for i in 0..self.pending.len() {
            let Some((&tid, o)) = self.pending.get_index_mut(i) else { break };
            match o.tx.handle_timeout(now) {
                TimerAction::Wait => {}
                TimerAction::Retransmit if o.cancelled || o.consent => {}
                TimerAction::Retransmit => {
                    let (local, protocol, remote, bytes) = (o.local, o.protocol, o.remote, o.tx.bytes.clone());
                    let (pair, sends) = (o.pair, o.tx.sends());
                    self.record(pair, tid, |r| {
                        r.sends = sends;
                        r.retransmitted_at.push(now);
                    });
                    self.send(local, protocol, remote, bytes, Some(tid));
                }
                TimerAction::GiveUp => expired.push(tid),
            }
        }
        for tid in expired {
            let Some(o) = self.pending.remove(&tid) else { continue };
            if o.cancelled || o.consent {
                continue;
            }
            let current =
                self.pair(o.pair).is_some_and(|p| p.state == PairState::InProgress && last_check(p) == Some(tid));
            if current {
                self.record(o.pair, tid, |r| r.failed_at = Some(now));
                self.set_state(o.pair, PairState::Failed, PairReason::Timeout { sends: o.tx.sends() });
                self.after_check_failed(&o);
                self.arm(now);
            }
        }
    }

    fn run_consent(&mut self, now: SimTime) {
        let (Some(c), Some(sel)) = (self.consent, self.selected) else { return };
        if now >= c.last_response + self.cfg.consent_timeout {
            // RFC 7675 §5.1: no response for 30 s: consent is lost, stop sending.
            self.consent = None;
            self.selected = None;
            self.set_state(sel, PairState::Failed, PairReason::ConsentExpired);
            self.events.push_back(IceEvent::ConsentLost { pair: sel });
            self.fail(FailReason::ConsentExpired { pair: sel });
            return;
        }
        if now >= c.next_send {
            self.consent = Some(Consent { next_send: now + self.cfg.consent_interval, ..c });
            self.send_request(now, sel, false, true);
        }
    }

    /// When the controlling agent nominates the best valid pair (regular nomination; see the
    /// module deviations).
    fn settle_deadline(&self) -> Option<SimTime> {
        // With aggressive nomination every successful check nominates; this path then only
        // matters for valid pairs found before a role switch made us controlling.
        let waiting = self.role == Role::Controlling
            && self.nominating.is_none()
            && self.selected.is_none()
            && self.state == AgentState::Running;
        if waiting && self.best_valid().is_some() {
            self.first_valid_at.map(|t| t + self.cfg.nomination_settle)
        } else {
            None
        }
    }

    /// The highest-priority valid pair not yet tried for nomination in vain.
    fn best_valid(&self) -> Option<&CandidatePair> {
        self.pairs
            .iter()
            .find(|p| p.valid && p.state == PairState::Succeeded && !self.nomination_failed.contains(&p.id))
    }

    fn maybe_nominate(&mut self, now: SimTime) {
        // A nomination whose check is neither queued nor outstanding any more was lost (its
        // transaction was superseded and expired): choose again.
        if self.nominating.is_some()
            && !self.triggered.iter().any(|t| t.nominate)
            && !self.pending.values().any(|o| o.nomination_check && !o.cancelled)
        {
            self.nominating = None;
        }
        let Some(deadline) = self.settle_deadline() else { return };
        let Some(best) = self.best_valid() else { return };
        let better_pending = self.pairs.iter().any(|p| p.priority > best.priority && self.has_work(p, now))
            || self.triggered.iter().any(|t| self.pair(t.pair).is_some_and(|p| p.priority > best.priority));
        if better_pending && now < deadline {
            return;
        }
        let (best, checked) = (best.id, best.generated_by.unwrap_or(best.id));
        self.nominating = Some(best);
        // §8.1.1: repeat the check that produced the valid pair, with USE-CANDIDATE.
        self.triggered.push_front(Triggered { pair: checked, nominate: true });
        self.arm(now);
    }

    /// Sends one check if Ta has passed: a triggered one first, else the best Waiting pair,
    /// else unfreezes a pair (§6.1.4.2).
    fn run_pacer(&mut self, now: SimTime) {
        let Some(at) = self.next_check_at else { return };
        if at > now {
            return;
        }
        if self.remote_key.is_none() || !self.is_live() {
            self.next_check_at = None;
            return;
        }
        match self.next_check() {
            Some(t) => {
                self.send_request(now, t.pair, t.nominate, false);
                self.last_check_at = Some(now);
                self.next_check_at = Some(now + self.cfg.ta);
            }
            None => self.next_check_at = None,
        }
    }

    fn next_check(&mut self) -> Option<Triggered> {
        while let Some(t) = self.triggered.pop_front() {
            if self.pair(t.pair).is_some_and(|p| p.state == PairState::Waiting || t.nominate) {
                return Some(t);
            }
        }
        if self.state != AgentState::Running {
            return None;
        }
        if let Some(p) = self.pairs.iter().find(|p| p.state == PairState::Waiting && can_originate(p)) {
            return Some(Triggered { pair: p.id, nominate: false });
        }
        // A foundation is busy while one of its pairs is Waiting or In-Progress; the list is
        // short, so scanning it beats building a set.
        let busy = |f: &PairFoundation| {
            self.pairs
                .iter()
                .any(|q| matches!(q.state, PairState::Waiting | PairState::InProgress) && q.foundation == *f)
        };
        let id = self
            .pairs
            .iter()
            .find(|p| p.state == PairState::Frozen && can_originate(p) && !busy(&p.foundation))
            .map(|p| p.id)?;
        self.set_state(id, PairState::Waiting, PairReason::NothingWaiting);
        Some(Triggered { pair: id, nominate: false })
    }

    /// Ends the agent when nothing can change any more (§8.1.2 failure).
    fn check_finished(&mut self, now: SimTime) {
        if self.state != AgentState::Running || !self.started {
            return;
        }
        let work = self.pairs.iter().any(|p| self.has_work(p, now))
            || !self.triggered.is_empty()
            || self.pending.values().any(|o| !o.cancelled && !o.consent)
            || self.nominating.is_some();
        if work {
            return;
        }
        let valid = self.pairs.iter().filter(|p| p.valid && p.state == PairState::Succeeded).count();
        let usable = self.pairs.iter().any(|p| p.valid && !self.nomination_failed.contains(&p.id));
        let reason = match self.role {
            Role::Controlling if valid > 0 && !usable => FailReason::NominationFailed { valid },
            Role::Controlling if valid > 0 => return, // nomination is due at the settle deadline
            Role::Controlled if valid > 0 => return,  // waiting for the controlling agent
            _ => FailReason::AllPairsFailed { pairs: self.pairs.len() },
        };
        self.fail(reason);
    }

    fn fail(&mut self, reason: FailReason) {
        if self.state == AgentState::Failed {
            return;
        }
        // Each pair is looked at and changed in turn: changing one leaves the others as
        // they were, so no list of them is needed first.
        for i in 0..self.pairs.len() {
            let was = self.pairs[i].state;
            if was.is_pending() {
                self.set_state_at(i, PairState::Cancelled, PairReason::ChecksEnded { was });
            }
        }
        self.triggered.clear();
        self.next_check_at = None;
        self.state = AgentState::Failed;
        self.events.push_back(IceEvent::Failed { reason });
    }

    // ----- sending -----

    fn send_request(&mut self, now: SimTime, id: PairId, nominate: bool, consent: bool) {
        let (Some(username), Some(key)) = (&self.check_username, &self.remote_key) else { return };
        let Some(p) = self.pair(id) else { return };
        let (local, remote, protocol) = (p.local.base, p.remote.address, p.local.protocol);
        // §7.1.1: PRIORITY = what a peer-reflexive candidate from this base would get.
        let local_pref = (p.local.priority >> 8) & 0xFFFF;
        let priority = candidate_priority(type_preference(CandidateType::PeerReflexive), local_pref, p.local.component);
        let use_candidate =
            self.role == Role::Controlling && !consent && (nominate || self.cfg.nomination == Nomination::Aggressive);
        let transaction = TransactionId::derive(self.cfg.seed, self.counter);
        let bytes = stun::build_request(&CheckRequest {
            transaction,
            username,
            key,
            priority,
            role: self.role,
            tie_breaker: self.cfg.tie_breaker,
            use_candidate,
        })
        .expect("a Binding request with short attributes always encodes");
        self.counter += 1;
        // §7.3.1.4: a new check on a pair supersedes its outstanding one.
        if !consent {
            for o in self.pending.values_mut().filter(|o| o.pair == id && !o.consent) {
                o.cancelled = true;
            }
        }
        let tx = Transaction::new(now, transaction, bytes.clone(), protocol == Protocol::Tcp);
        let o = Outstanding {
            pair: id,
            tx,
            local,
            remote,
            protocol,
            nominating: use_candidate,
            nomination_check: nominate && use_candidate,
            consent,
            cancelled: false,
            priority,
            role: self.role,
            sent_at: now,
        };
        self.pending.insert(transaction, o);
        if let Some(p) = self.pair_mut(id) {
            p.checks.push(CheckRecord {
                transaction,
                sent_at: now,
                nominating: use_candidate,
                consent,
                sends: 1,
                retransmitted_at: Retransmissions::new(),
                answered_at: None,
                failed_at: None,
            });
        }
        if !consent {
            self.set_state(id, PairState::InProgress, PairReason::CheckSent { transaction, nominating: use_candidate });
        }
        self.send(local, protocol, remote, bytes, Some(transaction));
    }

    fn send(
        &mut self,
        local: SocketAddrV4,
        protocol: Protocol,
        remote: SocketAddrV4,
        bytes: Vec<u8>,
        tid: Option<TransactionId>,
    ) {
        self.out.push_back(Transmit { local, protocol, remote, bytes, transaction: tid.map(|t| t.0) });
    }

    /// Makes sure the pacer runs: now, or Ta after the last check.
    fn arm(&mut self, now: SimTime) {
        if self.started && self.next_check_at.is_none() {
            let at = self.last_check_at.map_or(now, |t| (t + self.cfg.ta).max(now));
            self.next_check_at = Some(at);
        }
    }

    // ----- nomination and selection (§8) -----

    fn nominate(&mut self, now: SimTime, valid: PairId) {
        let Some(p) = self.pair_mut(valid) else { return };
        if !p.nominated {
            p.nominated = true;
            self.events.push_back(IceEvent::Nominated { pair: valid });
        }
        // A regular nomination in flight ends with whichever valid pair its check produced.
        self.nominating = None;
        self.update_selection(now);
    }

    /// The selected pair is the highest-priority nominated valid pair (§8.1.1; RFC 5245
    /// §8.1.1.2 for aggressive nomination).
    fn update_selection(&mut self, now: SimTime) {
        if self.state == AgentState::Failed {
            return;
        }
        let Some(best) = self.pairs.iter().find(|p| p.nominated && p.valid && p.state == PairState::Succeeded) else {
            return;
        };
        let (best, best_priority) = (best.id, best.priority);
        if self.selected == Some(best) {
            return;
        }
        self.selected = Some(best);
        self.state = AgentState::Completed;
        self.consent = Some(Consent { next_send: now + self.cfg.consent_interval, last_response: now });
        self.events.push_back(IceEvent::Selected { pair: best });
        // §8.1.2: remove Waiting and Frozen pairs and stop In-Progress checks; with aggressive
        // nomination (RFC 5245 §8.1.2) higher-priority checks go on and may upgrade.
        let keep_higher = self.cfg.nomination == Nomination::Aggressive;
        // Pairs are looked at and changed in turn (changing one leaves the others as they
        // were), so no list of them is needed first.
        for i in 0..self.pairs.len() {
            let (id, was, priority) = (self.pairs[i].id, self.pairs[i].state, self.pairs[i].priority);
            let remove = match was {
                PairState::Frozen | PairState::Waiting => true,
                PairState::InProgress => !(keep_higher && priority > best_priority),
                _ => false,
            };
            if !remove {
                continue;
            }
            if was == PairState::InProgress {
                for o in self.pending.values_mut().filter(|o| o.pair == id && !o.consent) {
                    o.cancelled = true;
                }
            }
            self.set_state_at(i, PairState::Cancelled, PairReason::NominationComplete { selected: best });
        }
        self.triggered.retain(|t| t.nominate);
    }

    // ----- bookkeeping -----

    /// Adds pairs for new candidates, pruned against the existing ones (§6.1.2.4) and with
    /// initial states that respect foundations already in the list (§6.1.2.6).
    /// `extend_pairs` for the given new local or remote candidates, or all of them (`None`),
    /// against every candidate on the other side.
    fn extend_pairs_of(&mut self, locals: Option<&[Candidate]>, remotes: Option<&[Candidate]>) {
        // Lent out while pairing, so the lists need no copies.
        let (all_locals, all_remotes) = (std::mem::take(&mut self.local), std::mem::take(&mut self.remote));
        self.extend_pairs(&all_locals, locals.unwrap_or(&all_locals), remotes.unwrap_or(&all_remotes));
        (self.local, self.remote) = (all_locals, all_remotes);
    }

    fn extend_pairs(&mut self, all_locals: &[Candidate], locals: &[Candidate], remotes: &[Candidate]) {
        // The new pairs are formed at the end of the list itself, then filtered and checked
        // against everything before them there, in order.
        let start = self.pairs.len();
        form_pairs_into(&mut self.pairs, all_locals, remotes, self.role == Role::Controlling, self.next_pair_id);
        // Pairs of every local candidate with the new remote ones (all of them, at the start)
        // need no filtering: each pair's local candidate is one of `locals` itself.
        if !std::ptr::eq(locals, all_locals) {
            retain_from(&mut self.pairs, start, |p| {
                locals.iter().any(|l| l.base == p.local.base || l.address == p.local.address)
            });
        }
        self.events.reserve(self.pairs.len() - start);
        for i in start..self.pairs.len() {
            // Pruning and foundations look at every pair before this one: the old pairs and
            // the new ones already settled, as when each was appended in turn.
            let (before, rest) = self.pairs.split_at_mut(i);
            let p = &mut rest[0];
            self.next_pair_id = self.next_pair_id.max(p.id.0 + 1);
            if p.state != PairState::Cancelled {
                if let Some(kept) = before.iter().find(|q| {
                    q.state != PairState::Cancelled
                        && q.local.base == p.local.base
                        && q.local.protocol == p.local.protocol
                        && q.remote.address == p.remote.address
                }) {
                    p.state = PairState::Cancelled;
                    p.reason = Some(PairReason::Pruned { kept: kept.id });
                } else if let Some(q) =
                    before.iter().find(|q| q.foundation == p.foundation && q.state != PairState::Cancelled)
                {
                    if q.state == PairState::Succeeded {
                        p.state = PairState::Waiting;
                        p.reason = Some(PairReason::FoundationSucceeded { by: q.id });
                    } else {
                        p.state = PairState::Frozen;
                        p.reason = Some(PairReason::FoundationBusy { ahead: q.id });
                    }
                }
            }
            self.passive_pairs |= !can_originate(p);
            self.events.push_back(IceEvent::PairFormed {
                pair: p.id,
                state: p.state,
                reason: p.reason.clone().unwrap_or(PairReason::FirstOfFoundation),
            });
        }
        self.sort_pairs();
    }

    /// Appends a new pair (the caller sorts the list again).
    fn add_pair(&mut self, p: CandidatePair) {
        self.passive_pairs |= !can_originate(&p);
        self.pairs.push(p);
    }

    fn sort_pairs(&mut self) {
        self.pairs.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
    }

    fn pair_mut(&mut self, id: PairId) -> Option<&mut CandidatePair> {
        self.pairs.iter_mut().find(|p| p.id == id)
    }

    fn record(&mut self, pair: PairId, tid: TransactionId, f: impl FnOnce(&mut CheckRecord)) {
        if let Some(r) = self.pair_mut(pair).and_then(|p| p.checks.iter_mut().find(|r| r.transaction == tid)) {
            f(r);
        }
    }

    /// Every state change carries its reason; an event when the state actually changes.
    fn set_state(&mut self, id: PairId, to: PairState, reason: PairReason) {
        if let Some(i) = self.pairs.iter().position(|p| p.id == id) {
            self.set_state_at(i, to, reason);
        }
    }

    /// `set_state` for the pair at `index` in the list.
    fn set_state_at(&mut self, index: usize, to: PairState, reason: PairReason) {
        let p = &mut self.pairs[index];
        let (id, from) = (p.id, p.state);
        p.state = to;
        p.reason = Some(reason.clone());
        if from != to {
            self.events.push_back(IceEvent::PairStateChanged { pair: id, from, to, reason });
        }
    }

    /// Whether `p` may still produce a check of ours.
    fn has_work(&self, p: &CandidatePair, now: SimTime) -> bool {
        match p.state {
            PairState::InProgress => true,
            PairState::Waiting | PairState::Frozen => {
                can_originate(p)
                    || self.triggered.iter().any(|t| t.pair == p.id)
                    || self.passive_deadline().is_some_and(|t| now < t)
            }
            _ => false,
        }
    }

    /// A pair whose local candidate is passive TCP waits for the peer to connect; we give
    /// up on it when an active check would have failed too (Ti after the start).
    fn passive_deadline(&self) -> Option<SimTime> {
        let waiting = self.passive_pairs
            && self.state == AgentState::Running
            && self
                .pairs
                .iter()
                .any(|p| matches!(p.state, PairState::Waiting | PairState::Frozen) && !can_originate(p));
        waiting.then(|| self.started_at + TI)
    }

    /// At the passive deadline, pairs still waiting on a passive TCP candidate for a peer
    /// that never connected fail (otherwise the deadline would stay due for ever).
    fn expire_passive(&mut self, now: SimTime) {
        if self.passive_deadline().is_none_or(|t| now < t) {
            return;
        }
        // Pairs are looked at and changed in turn (changing one leaves the others as they
        // were), so no list of them is needed first.
        for i in 0..self.pairs.len() {
            let p = &self.pairs[i];
            let (id, was) = (p.id, p.state);
            if matches!(was, PairState::Waiting | PairState::Frozen)
                && !can_originate(p)
                && !self.triggered.iter().any(|t| t.pair == id)
            {
                self.set_state_at(i, PairState::Failed, PairReason::ChecksEnded { was });
            }
        }
    }

    /// Whether `tid` is one this agent issued (ids are `derive(seed, counter)` with the
    /// counter in the last four bytes).
    fn is_own_transaction(&self, tid: TransactionId) -> bool {
        let counter = u64::from(u32::from_be_bytes([tid.0[8], tid.0[9], tid.0[10], tid.0[11]]));
        counter < self.counter && TransactionId::derive(self.cfg.seed, counter) == tid
    }

    fn is_live(&self) -> bool {
        self.state != AgentState::Failed
    }
}

/// RFC 6544 §6.2: a passive TCP candidate never opens a connection, so it sends no ordinary
/// checks (triggered checks go over the connection the peer opened).
fn can_originate(p: &CandidatePair) -> bool {
    p.local.tcp_type != Some(TcpType::Passive)
}

/// Whether bytes arriving at `local` over `protocol` arrived on candidate `c` (host and
/// relayed candidates receive; reflexive ones arrive at their base).
fn is_receiving(c: &Candidate, local: SocketAddrV4, protocol: Protocol) -> bool {
    matches!(c.kind, CandidateType::Host | CandidateType::Relayed) && c.address == local && c.protocol == protocol
}

/// `Vec::retain` for the elements from `start` on, in order; those before are kept as they are.
fn retain_from<T>(v: &mut Vec<T>, start: usize, mut keep: impl FnMut(&T) -> bool) {
    let mut kept = start;
    for i in start..v.len() {
        if keep(&v[i]) {
            v.swap(kept, i);
            kept += 1;
        }
    }
    v.truncate(kept);
}

fn last_check(p: &CandidatePair) -> Option<TransactionId> {
    p.checks.iter().rev().find(|r| !r.consent).map(|r| r.transaction)
}
