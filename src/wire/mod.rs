//! What travels: IPv4 datagrams with UDP or TCP headers and real payload bytes.
//!
//! Later work adds STUN, TURN and RTP codecs here. This module never sees the engine, a
//! file or a clock.

mod ip;
pub mod stun;
pub mod turn;

pub use ip::{Datagram, ParseError, Protocol, TcpFlags, TcpHeader, Transport};
