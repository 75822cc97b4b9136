//! A sans-IO ICE agent (RFC 8445), with the MS-ICE2 profile Lync and Skype for Business use.
//!
//! The agent is handed its candidates (it gathers nothing: host, server-reflexive and
//! relayed addresses come from the caller, which ran STUN/TURN), the peer's credentials and
//! candidates, the time, and the bytes that arrive on its candidates. It hands back STUN
//! Binding requests and responses to send (`Transmit`), events (`IceEvent`) and its next
//! deadline. It decides which pair wins from the packets it sees — nothing else does.
//!
//! Files: `candidate` (candidates and their SDP), `priority` (RFC 8445 / MS-ICE2 priorities,
//! foundations), `checklist` (pairs, pruning, initial states), `agent` (the state machine:
//! pacing, checks, responses, nomination, consent), `stun` (building and reading the
//! Binding messages). Tests that drive two agents against each other are in `tests.rs`.
//!
//! One data stream with one component (RTP, component 1) is modelled: the caller runs one
//! agent per media stream.
//!
//! # Deviations from RFC 8445, RFC 6544 and RFC 7675
//!
//! | requirement | what we do | why |
//! | --- | --- | --- |
//! | §14.3: RTO for checks = max(500 ms, N·Ta·(Waiting + In-Progress)) | the crate's RFC 8489 `Transaction` schedule: 500 ms doubling, 7 sends, failure at 39.5 s; over TCP one send and failure at 39.5 s | with the few pairs of a call the RFC formula gives 500 ms too; one retransmission schedule for the whole crate |
//! | §14.2: retransmissions are paced by Ta as well | only new checks are paced | keeps timing readable; retransmissions are rare on a simulated network |
//! | §5.1.1.3: foundation includes the STUN/TURN server's address | type, base IP (related IP for relayed), transport and relay transport | the caller does not hand us the server; one server per transport is what Lync uses |
//! | §8.1.1: when to nominate (regular nomination) is left to the agent | when no pair that could beat the best valid pair is still pending, or `nomination_settle` after the first valid pair | deterministic, and bounded when a better path silently drops checks |
//! | §7.3.1.4: triggered checks after ICE completed | for requests carrying USE-CANDIDATE (so a controlled agent can follow an aggressive nomination upgrade), and under aggressive nomination for a pair above the selected one (so the upgrade the agent keeps its own higher checks alive for can also come from the peer's check); others are just answered | checks stop once a pair is selected, as RFC 8445 §8.1.2 intends, except where a better pair can still take over |
//! | §7.3.1.4: a request on a Failed or In-Progress pair always triggers a new check | not after the pair started 5 transactions | two agents whose answers are lost would otherwise trigger each other forever (implementations bound this with an overall timer) |
//! | §8.1.2: controlled agent fails when the controlling agent never nominates | the controlled agent fails only when every pair failed | it cannot know the other side gave up; the controlling agent reports the failure |
//! | RFC 6544: TCP connection establishment, framing (RFC 4571), simultaneous open | not done here: a TCP `Transmit` names the local and remote address; the caller owns the connection | sans-IO: the engine models TCP |
//! | RFC 7675 §5.1: consent requests every 4–6 s at random, retransmitted | one request every `consent_interval` (no jitter, no retransmission); consent lost `consent_timeout` after the last response | deterministic; the outcome only depends on whether responses arrive |
//! | §5.1.2.1 + RFC 8421: local preference for multi-homed hosts | 65535 for the first interface, −2 per further interface, −0x2000 for a VPN interface | unique per interface; prefers physical over tunnel interfaces |
//! | MS-ICE2 (profile `MsIce2`) | see docs/ms-ice2.md: priority formula from MS-ICE2/libnice; aggressive nomination by default | |

mod agent;
mod candidate;
mod checklist;
mod priority;
mod stun;

use std::fmt;
use std::net::SocketAddrV4;

pub use agent::IceAgent;
pub use candidate::{Candidate, CandidateType, Foundation, SdpError, TcpType};
pub use checklist::{
    CandidatePair, CheckRecord, CheckRecords, PairFoundation, PairId, PairReason, PairState, Retransmissions,
};
pub use priority::{LocalCandidateSpec, candidate_priority, pair_priority, relay_allocated_over, type_preference};

use crate::time::SimDuration;
use crate::wire::Protocol;
use crate::wire::stun::ParseError;

/// Which rules the agent follows where RFC 8445 and Microsoft's MS-ICE2 differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// RFC 8445 as written (WebRTC, Teams' standards mode).
    Rfc8445,
    /// [MS-ICE2] as Lync / Skype for Business speak it: the MS-ICE2 local preference and
    /// aggressive nomination (docs/ms-ice2.md).
    MsIce2,
}

/// The agent's role (RFC 8445 §6.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Controlling,
    Controlled,
}

impl Role {
    fn flipped(self) -> Role {
        match self {
            Role::Controlling => Role::Controlled,
            Role::Controlled => Role::Controlling,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Controlling => "controlling",
            Role::Controlled => "controlled",
        })
    }
}

/// How the controlling agent nominates (RFC 8445 §8.1.1; RFC 5245 §8.1.1.2 for aggressive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Nomination {
    /// Check first, then repeat the check of the chosen valid pair with USE-CANDIDATE.
    Regular,
    /// USE-CANDIDATE on every check: the first pair that works is used at once, and a
    /// higher-priority one that works later replaces it.
    Aggressive,
}

/// How an agent is set up.
#[derive(Clone, Debug)]
pub struct IceConfig {
    pub profile: Profile,
    /// The initial role; a role conflict may change it (§7.3.1.1).
    pub role: Role,
    /// ICE-CONTROLLING / ICE-CONTROLLED tie-breaker (§7.1.3).
    pub tie_breaker: u64,
    pub local_ufrag: String,
    pub local_pwd: String,
    /// Pacing of new checks (§14.2; 50 ms by default).
    pub ta: SimDuration,
    pub nomination: Nomination,
    /// Regular nomination: how long after the first valid pair the controlling agent waits
    /// for better pairs before nominating the best valid one.
    pub nomination_settle: SimDuration,
    /// RFC 7675: a consent request this often on the selected pair.
    pub consent_interval: SimDuration,
    /// RFC 7675 §5.1: consent is lost this long after the last response (30 s).
    pub consent_timeout: SimDuration,
    /// Seeds transaction ids (`TransactionId::derive`); no other randomness is used.
    pub seed: u64,
}

impl IceConfig {
    /// A configuration with RFC defaults for `profile`: Ta 50 ms, regular nomination for
    /// RFC 8445 and aggressive for MS-ICE2, settle 1 s, consent every 5 s, lost after 30 s.
    pub fn new(profile: Profile, role: Role, tie_breaker: u64, ufrag: &str, pwd: &str, seed: u64) -> IceConfig {
        IceConfig {
            profile,
            role,
            tie_breaker,
            local_ufrag: ufrag.to_owned(),
            local_pwd: pwd.to_owned(),
            ta: SimDuration::from_millis(50),
            nomination: match profile {
                Profile::Rfc8445 => Nomination::Regular,
                Profile::MsIce2 => Nomination::Aggressive,
            },
            nomination_settle: SimDuration::from_secs(1),
            consent_interval: SimDuration::from_secs(5),
            consent_timeout: SimDuration::from_secs(30),
            seed,
        }
    }
}

/// Bytes to send: from which local address (a host candidate's address, or a relayed
/// address the caller sends through TURN) to which remote address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The local candidate's base: a host address, or a relayed address.
    pub local: SocketAddrV4,
    pub protocol: Protocol,
    pub remote: SocketAddrV4,
    pub bytes: Vec<u8>,
    /// The STUN transaction id (of the request, or of the request a response answers), so
    /// the caller can match a lost check with the network's drop record.
    pub transaction: Option<[u8; 12]>,
}

/// The agent's overall state (RFC 8445 §6.1.3 check-list states, plus Gathering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AgentState {
    /// Before `start_checks`: candidates are being collected.
    Gathering,
    Running,
    /// A pair is selected.
    Completed,
    Failed,
}

/// Why the agent changed role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleChangeReason {
    /// A request claimed the same role with a larger tie-breaker (§7.3.1.1).
    ConflictingRequest { from: SocketAddrV4, their_tie_breaker: u64 },
    /// Our request was answered with 487 Role Conflict (§7.2.5.1).
    RoleConflictResponse { pair: PairId },
}

/// Why the agent failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailReason {
    /// No local and remote candidates could be paired (component, transport, TCP roles).
    NoPairs,
    /// Every pair failed; see each pair's reason.
    AllPairsFailed { pairs: usize },
    /// Some pairs worked but every nomination check failed.
    NominationFailed { valid: usize },
    /// Consent to send expired on the selected pair (RFC 7675).
    ConsentExpired { pair: PairId },
}

impl std::fmt::Display for FailReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailReason::NoPairs => f.write_str("no candidate pairs could be formed"),
            FailReason::AllPairsFailed { pairs } => write!(f, "all {pairs} candidate pairs failed"),
            FailReason::NominationFailed { valid } => {
                write!(f, "{valid} pairs worked but every nomination check failed")
            }
            FailReason::ConsentExpired { pair } => write!(f, "consent expired on pair {}", pair.0),
        }
    }
}

/// Why bytes that looked like ours were dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IceDiscard {
    /// STUN-looking but undecodable.
    Malformed(ParseError),
    /// A request with a USERNAME that is not `ours:theirs` (§7.3).
    WrongUsername,
    /// MESSAGE-INTEGRITY missing or wrong (§7.3; answered 400/401 when it is a request).
    BadIntegrity,
    /// A request without PRIORITY or a role attribute (§7.3: answered 400).
    MissingAttribute(u16),
    /// Arrived on an address that is no local candidate's base.
    NoLocalCandidate,
    /// A success response without XOR-MAPPED-ADDRESS.
    NoMappedAddress,
    /// A response to a check of ours that had already ended (answered or timed out).
    StaleTransaction,
}

/// What happened, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IceEvent {
    /// A pair entered the check list (at `start_checks`, on a triggered check for an
    /// unknown pair, or as a valid pair discovered by another pair's check).
    PairFormed {
        pair: PairId,
        state: PairState,
        reason: PairReason,
    },
    PairStateChanged {
        pair: PairId,
        from: PairState,
        to: PairState,
        reason: PairReason,
    },
    /// The first valid pair: media may start here (early media).
    FirstValidPair {
        pair: PairId,
    },
    /// A candidate learned from a check (§7.2.5.3.1 local, §7.3.1.3 remote).
    PeerReflexiveDiscovered {
        local: bool,
        candidate: Candidate,
    },
    RoleChanged {
        to: Role,
        reason: RoleChangeReason,
    },
    /// A pair was nominated (valid and USE-CANDIDATE confirmed).
    Nominated {
        pair: PairId,
    },
    /// Nomination complete: the selected pair (again when aggressive nomination upgrades).
    Selected {
        pair: PairId,
    },
    /// Checks done and nothing works.
    Failed {
        reason: FailReason,
    },
    ConsentLost {
        pair: PairId,
    },
    /// STUN for this agent that it could not use.
    Discarded {
        from: SocketAddrV4,
        reason: IceDiscard,
    },
}

#[cfg(test)]
mod tests;
