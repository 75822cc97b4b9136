//! icepath: a network path simulator for ICE/NAT/VPN topologies.
//!
//! A topology file (`schema`) becomes a validated network model (`topology`). The discrete
//! event engine (`engine`) moves real IPv4 datagrams (`wire`) across that network in virtual
//! time (`time`), link by link and hop by hop (`net`), drawing every random number from one
//! seed (`rng`), and records what happened (`trace`). Everything is deterministic: the same
//! topology and seed give byte-identical results.
//!
//! See ARCHITECTURE.md for the code map and the invariants between modules.

pub mod engine;
pub mod net;
pub mod population;
pub mod proto;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod schema;
pub mod suite;
pub mod sweep;
pub mod time;
pub mod topology;
pub mod trace;
pub mod wire;

pub use engine::{Engine, Limits, RunOutcome, StopReason};
pub use rng::SimRng;
pub use time::{SimDuration, SimTime};
pub use topology::Topology;
