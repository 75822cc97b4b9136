//! Network elements: what each device does with a packet.
//!
//! Every element is a function of (now, the packet, where it arrived) to a `Verdict`; the
//! engine carries out verdicts and is the only code that moves time. Today the elements are
//! the IP forwarding plane shared by hosts and routers (`forward`) and the physical link
//! (`link`). NATs, firewalls, VPNs and DNS views join here later.

pub mod dns;
mod drop;
pub mod firewall;
pub mod forward;
pub mod link;
pub mod nat;
pub mod tunnel;

pub use drop::{DropKind, DropReason};
pub use forward::Verdict;
