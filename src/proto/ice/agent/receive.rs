//! What arrives: Binding requests (RFC 8445 §7.3) and responses to our checks (§7.2.5).

use std::net::SocketAddrV4;

use super::{Early, IceAgent, MAX_CHECKS_PER_PAIR, Outstanding, Triggered, is_receiving};
use crate::proto::ice::candidate::{Candidate, CandidateType, Foundation, TcpType};
use crate::proto::ice::checklist::{CandidatePair, PairId, PairReason, PairState, priority_for};
use crate::proto::ice::priority::LocalCandidateSpec;
use crate::proto::ice::stun::{self, Request};
use crate::proto::ice::{AgentState, IceDiscard, IceEvent, Nomination, Role, RoleChangeReason};
use crate::time::SimTime;
use crate::wire::Protocol;
use crate::wire::stun::{Class, MessageView};

impl IceAgent {
    // ----- requests (§7.3) -----

    pub(super) fn handle_request(
        &mut self,
        now: SimTime,
        local: SocketAddrV4,
        protocol: Protocol,
        from: SocketAddrV4,
        req: Request,
    ) {
        if !self.local.iter().any(|c| is_receiving(c, local, protocol)) {
            self.events.push_back(IceEvent::Discarded { from, reason: IceDiscard::NoLocalCandidate });
            return;
        }
        // §7.3.1.1: role conflicts.
        let (their_role, their_tb) = req.role;
        if their_role == self.role {
            let we_win = self.cfg.tie_breaker >= their_tb;
            let keep = match self.role {
                Role::Controlling => we_win,
                Role::Controlled => !we_win,
            };
            if keep {
                // RFC 8445 §7.3.1.1: reply 487 (Role Conflict) and keep our role.
                if let Ok(b) = stun::build_error(req.transaction_id, 487, "Role Conflict", Some(&self.local_key)) {
                    self.send(local, protocol, from, b, Some(req.transaction_id));
                }
                return;
            }
            self.switch_role(now, RoleChangeReason::ConflictingRequest { from, their_tie_breaker: their_tb });
        }
        // §7.3.1.2: success response, XOR-MAPPED-ADDRESS = the source of the request.
        if let Ok(b) = stun::build_success(req.transaction_id, from, &self.local_key) {
            self.send(local, protocol, from, b, Some(req.transaction_id));
        }
        if !self.started {
            self.early.push(Early { local, protocol, from, priority: req.priority, use_candidate: req.use_candidate });
            return;
        }
        self.process_request(now, local, protocol, from, req.priority, req.use_candidate);
    }

    /// §7.3.1.3–§7.3.1.5 once the check list exists.
    pub(super) fn process_request(
        &mut self,
        now: SimTime,
        local: SocketAddrV4,
        protocol: Protocol,
        from: SocketAddrV4,
        priority: u32,
        use_candidate: bool,
    ) {
        if !self.is_live() {
            return;
        }
        // Candidates are looked up by index and cloned only into a pair or an event.
        let Some(li) = self.local.iter().position(|c| is_receiving(c, local, protocol)) else { return };
        // §7.3.1.3: a source we do not know is a peer-reflexive remote candidate.
        let ri = match self.remote.iter().position(|r| r.address == from && r.protocol == protocol) {
            Some(ri) => ri,
            None => {
                self.prflx_remotes += 1;
                let lc = &self.local[li];
                let c = Candidate {
                    foundation: Foundation::numbered("prflx", self.prflx_remotes),
                    component: lc.component,
                    protocol,
                    priority,
                    address: from,
                    kind: CandidateType::PeerReflexive,
                    base: from,
                    related: None,
                    tcp_type: lc.tcp_type.map(|t| match t {
                        TcpType::Active => TcpType::Passive,
                        TcpType::Passive => TcpType::Active,
                        TcpType::SimultaneousOpen => TcpType::SimultaneousOpen,
                    }),
                };
                self.remote.push(c.clone());
                self.events.push_back(IceEvent::PeerReflexiveDiscovered { local: false, candidate: c });
                self.remote.len() - 1
            }
        };
        let (lc, rc) = (&self.local[li], &self.remote[ri]);
        if self.state == AgentState::Completed && !use_candidate {
            // Answered. Checks are over, except that aggressive nomination still upgrades
            // to a better pair (as `update_selection` keeps higher checks running): a check
            // on a pair above the selected one is triggered as §7.3.1.4 says.
            let controlling = self.role == Role::Controlling;
            let better = self.cfg.nomination == Nomination::Aggressive
                && self
                    .selected
                    .and_then(|s| self.pair(s))
                    .is_some_and(|sel| priority_for(lc, rc, controlling) > sel.priority);
            if !better {
                return; // (module deviations)
            }
        }
        let controlled_nomination = use_candidate && self.role == Role::Controlled;
        // §7.3.1.4: the pair the request arrived on.
        let found = self
            .pairs
            .iter()
            .filter(|p| p.local.address == lc.address && p.local.protocol == protocol && p.remote.address == from)
            .min_by_key(|p| p.state == PairState::Cancelled)
            .map(|p| p.id);
        let id = match found {
            Some(id) => id,
            None => {
                let id = PairId(self.next_pair_id);
                self.next_pair_id += 1;
                let mut p = CandidatePair::new(id, lc.clone(), rc.clone(), self.role == Role::Controlling);
                p.reason = Some(PairReason::Triggered { from });
                self.events.push_back(IceEvent::PairFormed {
                    pair: id,
                    state: PairState::Frozen,
                    reason: PairReason::Triggered { from },
                });
                self.add_pair(p);
                self.sort_pairs();
                id
            }
        };
        let state = self.pair(id).map(|p| p.state).unwrap_or(PairState::Failed);
        let checks = self.pair(id).map_or(0, |p| p.checks.iter().filter(|c| !c.consent).count());
        // Module deviations: a pair that already used its share of checks is not triggered
        // again, so two agents whose answers are lost cannot trigger each other forever.
        let exhausted = checks >= MAX_CHECKS_PER_PAIR && matches!(state, PairState::InProgress | PairState::Failed);
        if state != PairState::Succeeded && !exhausted {
            // A superseded nomination check is repeated as one (§8.1.1 still holds).
            let mut nominate = false;
            if state == PairState::InProgress {
                for o in self.pending.values_mut().filter(|o| o.pair == id && !o.consent && !o.cancelled) {
                    o.cancelled = true;
                    nominate |= o.nomination_check;
                }
            }
            self.set_state(id, PairState::Waiting, PairReason::Triggered { from });
            match self.triggered.iter_mut().find(|t| t.pair == id) {
                Some(t) => t.nominate |= nominate,
                None => self.triggered.push_back(Triggered { pair: id, nominate }),
            }
            self.arm(now);
        }
        // §7.3.1.5: USE-CANDIDATE at the controlled agent.
        if controlled_nomination {
            let valid = self.pair(id).and_then(|p| if p.state == PairState::Succeeded { p.valid_pair } else { None });
            match valid {
                Some(v) => self.nominate(now, v),
                None => {
                    if let Some(p) = self.pair_mut(id) {
                        p.nominate_on_success = true;
                    }
                }
            }
        }
    }

    pub(super) fn switch_role(&mut self, now: SimTime, reason: RoleChangeReason) {
        self.role = self.role.flipped();
        let controlling = self.role == Role::Controlling;
        // §7.3.1.1 / §7.2.5.1: the pair priorities MUST be recomputed.
        for p in &mut self.pairs {
            p.priority = priority_for(&p.local, &p.remote, controlling);
        }
        self.sort_pairs();
        if !controlling {
            self.nominating = None;
        }
        self.events.push_back(IceEvent::RoleChanged { to: self.role, reason });
        self.arm(now);
    }

    // ----- responses (§7.2.5) -----

    pub(super) fn handle_response(
        &mut self,
        now: SimTime,
        local: SocketAddrV4,
        protocol: Protocol,
        from: SocketAddrV4,
        msg: &MessageView<'_>,
    ) -> bool {
        if !self.pending.contains_key(&msg.transaction_id) {
            // A late answer to a check of ours that already ended (e.g. both the request and
            // its retransmission were answered) is still ours; anything else is not.
            let late = self.is_own_transaction(msg.transaction_id);
            if late {
                self.events.push_back(IceEvent::Discarded { from, reason: IceDiscard::StaleTransaction });
            }
            return late;
        }
        // §7.2.5: responses are signed with the peer's password; others are dropped.
        if self.remote_key.as_ref().is_none_or(|k| msg.verify_integrity(k).is_err()) {
            self.events.push_back(IceEvent::Discarded { from, reason: IceDiscard::BadIntegrity });
            return true;
        }
        let tid = msg.transaction_id;
        let Some(o) = self.pending.remove(&tid) else { return true };
        self.record(o.pair, tid, |r| r.answered_at = Some(now));
        let symmetric = from == o.remote && local == o.local && protocol == o.protocol;
        if o.consent {
            if symmetric
                && msg.class == Class::Success
                && let Some(c) = &mut self.consent
            {
                c.last_response = now;
            }
            return true;
        }
        if !symmetric {
            // RFC 8445 §7.2.5.2.1: the check fails if source and destination are not symmetric.
            let reason = PairReason::NonSymmetric { expected: (o.remote, o.local), got: (from, local) };
            self.record(o.pair, tid, |r| r.failed_at = Some(now));
            self.set_state(o.pair, PairState::Failed, reason);
            self.after_check_failed(&o);
            self.arm(now);
            return true;
        }
        if msg.class == Class::Error {
            let code = msg.error_code().map_or(0, |(c, _)| c);
            if code == 487 {
                // §7.2.5.1: switch to the role opposite to the one the request claimed,
                // and retry the check.
                if self.role == o.role {
                    self.switch_role(now, RoleChangeReason::RoleConflictResponse { pair: o.pair });
                }
                self.set_state(o.pair, PairState::Waiting, PairReason::RoleConflict);
                self.triggered.push_back(Triggered { pair: o.pair, nominate: false });
                self.arm(now);
            } else {
                self.record(o.pair, tid, |r| r.failed_at = Some(now));
                self.set_state(o.pair, PairState::Failed, PairReason::ErrorResponse { code });
                self.after_check_failed(&o);
                self.arm(now);
            }
            return true;
        }
        let Some(mapped) = msg.xor_mapped_address() else {
            self.events.push_back(IceEvent::Discarded { from, reason: IceDiscard::NoMappedAddress });
            self.record(o.pair, tid, |r| r.failed_at = Some(now));
            self.set_state(o.pair, PairState::Failed, PairReason::ErrorResponse { code: 0 });
            self.after_check_failed(&o);
            return true;
        };
        self.check_succeeded(now, &o, mapped);
        true
    }

    /// §7.2.5.3: a successful check.
    fn check_succeeded(&mut self, now: SimTime, o: &Outstanding, mapped: SocketAddrV4) {
        // What is needed of the checked pair, not a copy of it (its check history included).
        let Some(checked) = self.pair(o.pair) else { return };
        let (checked_id, checked_local, remote) = (checked.id, checked.local.address, checked.remote.address);
        let (component, tcp_type) = (checked.local.component, checked.local.tcp_type);
        // §7.2.5.3.1: a mapped address that is no local candidate is a peer-reflexive one.
        let local = match self.local.iter().position(|c| c.address == mapped && c.protocol == o.protocol) {
            Some(i) => i,
            None => {
                let spec = LocalCandidateSpec {
                    kind: CandidateType::PeerReflexive,
                    protocol: o.protocol,
                    address: mapped,
                    base: o.local,
                    related: Some(o.local),
                    tcp_type,
                    interface: u32::MAX,
                    is_vpn: false,
                    relay_via: None,
                };
                let c = Candidate {
                    foundation: self.ranker.foundation(&spec),
                    component,
                    protocol: o.protocol,
                    priority: o.priority,
                    address: mapped,
                    kind: CandidateType::PeerReflexive,
                    base: o.local,
                    related: Some(o.local),
                    tcp_type,
                };
                self.local.push(c.clone());
                self.events.push_back(IceEvent::PeerReflexiveDiscovered { local: true, candidate: c });
                self.local.len() - 1
            }
        };
        // §7.2.5.3.2: the valid pair is (mapped local candidate, the checked remote); the
        // local candidate's address is `mapped`.
        let valid_id = if mapped == checked_local {
            checked_id
        } else if let Some(p) = self.pairs.iter().find(|p| p.local.address == mapped && p.remote.address == remote) {
            p.id
        } else {
            let id = PairId(self.next_pair_id);
            self.next_pair_id += 1;
            let remote = self.pair(checked_id).map(|p| p.remote.clone()).expect("the checked pair exists");
            let mut p = CandidatePair::new(id, self.local[local].clone(), remote, self.role == Role::Controlling);
            p.generated_by = Some(checked_id);
            p.state = PairState::Succeeded;
            p.reason = Some(PairReason::DiscoveredBy { checked: checked_id });
            self.events.push_back(IceEvent::PairFormed {
                pair: id,
                state: PairState::Succeeded,
                reason: PairReason::DiscoveredBy { checked: checked_id },
            });
            self.add_pair(p);
            self.sort_pairs();
            id
        };
        // §7.2.5.3.3: the checked pair succeeded; its foundation's frozen pairs may go.
        let rtt = now.saturating_since(o.sent_at);
        self.set_state(checked_id, PairState::Succeeded, PairReason::Succeeded { mapped, rtt });
        if valid_id != checked_id {
            self.set_state(valid_id, PairState::Succeeded, PairReason::DiscoveredBy { checked: checked_id });
        }
        let first_valid = !self.pairs.iter().any(|p| p.valid);
        let mut nominate_now = o.nominating && self.role == Role::Controlling;
        if let Some(p) = self.pair_mut(checked_id) {
            p.valid_pair = Some(valid_id);
            nominate_now |= std::mem::take(&mut p.nominate_on_success);
        }
        if let Some(v) = self.pair_mut(valid_id) {
            v.valid = true;
        }
        // Unfrozen in list order, as they stand now.
        while let Some(id) = self.pair(checked_id).and_then(|checked| {
            self.pairs.iter().find(|p| p.state == PairState::Frozen && p.foundation == checked.foundation).map(|p| p.id)
        }) {
            self.set_state(id, PairState::Waiting, PairReason::FoundationSucceeded { by: checked_id });
        }
        if first_valid {
            self.first_valid_at = Some(now);
            self.events.push_back(IceEvent::FirstValidPair { pair: valid_id });
        }
        // §7.2.5.3.4 (controlling) and §7.3.1.5 (controlled, USE-CANDIDATE seen earlier).
        if nominate_now {
            self.nominate(now, valid_id);
        }
        self.arm(now);
    }

    pub(super) fn after_check_failed(&mut self, o: &Outstanding) {
        if o.nomination_check
            && let Some(n) = self.nominating.take()
        {
            self.nomination_failed.insert(n);
        }
    }
}
