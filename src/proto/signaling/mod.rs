//! Call signaling: registrars that route SIP-shaped messages between users, and the user
//! agent a client uses to register, call and answer. Signaling rides TCP segments through
//! the simulated network like any other traffic, so it can work while media fails (seed
//! 001: IM works, audio does not) and fail when a client cannot reach its registrar.

mod agent;
mod message;
mod registrar;

pub use agent::{UserAgent, UserAgentEvent};
pub use message::{Method, SipMessage, SipParseError, Start};
pub use registrar::{Registrar, RegistrarEvent};

use std::net::SocketAddrV4;

use crate::wire::{Datagram, TcpFlags, TcpHeader};

/// The TCP port signaling uses (SIP over TLS).
pub const SIP_PORT: u16 = 5061;

/// One message in one TCP segment.
fn segment(src: SocketAddrV4, dst: SocketAddrV4, msg: &SipMessage) -> Datagram {
    let h = TcpHeader { flags: TcpFlags(TcpFlags::PSH.0 | TcpFlags::ACK.0), window: 65535, ..TcpHeader::default() };
    Datagram::tcp(src, dst, h, msg.encode())
}
