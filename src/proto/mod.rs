//! Sans-IO protocol endpoints: state machines that are handed packets and the time, and
//! hand back packets, events and their next deadline.
//!
//! Today: a STUN Binding server (`StunServer`), a TURN server (`TurnServer`) and a TURN
//! client (`TurnClient`, which also does plain STUN Binding). Each follows the same shape:
//!
//! ```text
//! handle_packet(&mut self, now, &Datagram)   handle_timeout(&mut self, now)
//! poll_transmit(&mut self) -> Option<Datagram>
//! poll_event(&mut self) -> Option<Event>      poll_timeout(&self) -> Option<SimTime>
//! ```
//!
//! After each `handle_*` or command the caller drains every `poll_*`. Nothing here reads a
//! clock or draws a random number: transaction ids and nonces come from a seed handed in at
//! construction and a counter. Bytes come from `wire`; what the engine does with the
//! packets is the engine's business. A malformed packet is never an error of the program:
//! the endpoint discards it and says why in an event.

pub mod ice;
pub mod media;
pub mod signaling;
mod stream;
mod stun_server;
mod transaction;
pub mod turn;

use std::net::{Ipv4Addr, SocketAddrV4};

use thiserror::Error;

use crate::wire::Protocol;
use crate::wire::stun::{Class, EncodeError, Method, ParseError};
use crate::wire::turn::{ChannelDataError, FramingError};

pub use ice::{IceAgent, IceConfig, IceEvent};
pub use media::MediaEndpoint;
pub use stream::TcpStream;
pub use stun_server::{StunServer, StunServerEvent};
pub use transaction::{INITIAL_RTO, RC, RM, TI, TimerAction, Transaction};
pub use turn::{TurnClient, TurnClientConfig, TurnClientEvent, TurnServer, TurnServerConfig, TurnServerEvent};

/// One place an endpoint listens: an address, a port range (a single port for most) and a
/// transport protocol. An endpoint's sockets are fixed when it is built, so the engine can
/// list them once per node when it attaches the endpoint, and a delivery reads that list
/// instead of asking each endpoint of the node in turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listen {
    pub protocol: Protocol,
    pub ip: Ipv4Addr,
    pub first: u16,
    pub last: u16,
}

impl Listen {
    /// Exactly `addr`, over `protocol`.
    pub fn socket(protocol: Protocol, addr: SocketAddrV4) -> Listen {
        Listen { protocol, ip: *addr.ip(), first: addr.port(), last: addr.port() }
    }

    pub fn matches(&self, protocol: Protocol, dst: SocketAddrV4) -> bool {
        self.ip == *dst.ip() && self.protocol == protocol && (self.first..=self.last).contains(&dst.port())
    }
}

/// Why an endpoint discarded a packet instead of acting on it.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Discard {
    /// Addressed to none of the endpoint's addresses.
    #[error("not addressed to this endpoint")]
    NotForUs,
    /// Not a STUN message.
    #[error("malformed STUN: {0}")]
    Malformed(ParseError),
    /// Not a ChannelData message.
    #[error("malformed ChannelData: {0}")]
    BadChannelData(ChannelDataError),
    /// A TCP stream out of step; the connection is dropped.
    #[error("TCP framing: {0}")]
    Framing(FramingError),
    /// The first byte is neither STUN nor ChannelData (RFC 7983).
    #[error("first byte {0:#04x} is neither STUN nor ChannelData")]
    UnknownProtocol(u8),
    /// A well-formed message this endpoint has no use for (a response at a server, an
    /// unknown indication).
    #[error("unexpected {method} {class}")]
    Unexpected { method: Method, class: Class },
    /// A response matching no outstanding request.
    #[error("response to no outstanding transaction")]
    UnknownTransaction,
    /// A response whose MESSAGE-INTEGRITY does not verify (RFC 8489 §9.2.5).
    #[error("response failed its integrity check")]
    BadIntegrity,
    /// A required attribute is missing (e.g. a Send indication without DATA).
    #[error("missing attribute {0:#06x}")]
    MissingAttribute(u16),
    /// No allocation for this 5-tuple or relayed address.
    #[error("no allocation")]
    NoAllocation,
    /// Relaying needs a permission for the peer's IP address (RFC 8656 §9).
    #[error("no permission for peer {0}")]
    NoPermission(Ipv4Addr),
    /// ChannelData on a channel that is not bound.
    #[error("channel {0:#06x} is not bound")]
    NoChannel(u16),
    /// Our own answer could not be encoded (e.g. data too large for a STUN attribute).
    #[error("cannot encode: {0}")]
    Encode(EncodeError),
}
