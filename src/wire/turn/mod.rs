//! TURN framing on the wire (RFC 8656): ChannelData messages, the TCP stream de-framer, and
//! first-byte demultiplexing (RFC 7983).
//!
//! TURN's methods and attributes are STUN's (`wire::stun`); this module owns only what is not
//! a STUN message. What a frame means is left to `proto`.
//!
//! # Deviations
//!
//! | requirement | what we do | why |
//! | --- | --- | --- |
//! | RFC 8656 §12.5: ChannelData over UDP may carry padding | decode ignores any bytes after the claimed length | the RFC gives no other rule for long datagrams |
//! | RFC 6062: TCP relay allocations (Connect, ConnectionBind) | not modelled | the simulator relays UDP; TCP is only the client-to-server leg |
//! | TLS/DTLS on the client-to-server leg | not modelled | encryption does not change framing or timing we model |

mod channel;
mod demux;
mod stream;

pub use channel::{CHANNEL_HEADER_LEN, CHANNEL_MAX, CHANNEL_MIN, ChannelData, ChannelDataError, is_valid_channel};
pub use demux::{Demux, demux};
pub use stream::{Frame, FramingError, StreamDeframer};
