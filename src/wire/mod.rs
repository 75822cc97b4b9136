//! What travels: IPv4 datagrams with UDP or TCP headers and real payload bytes.
//!
//! STUN (`stun`), TURN framing (`turn`) and RTP with codec-shaped sources (`rtp`) live
//! here. This module never sees the engine, a file or a clock.

mod ip;
pub mod rtp;
pub mod stun;
pub mod turn;

pub use ip::{Datagram, ParseError, Protocol, TcpFlags, TcpHeader, Transport};
