//! STUN messages on the wire (RFC 8489), with the ICE (RFC 8445 §16.1) and TURN (RFC 8656)
//! methods and attributes.
//!
//! This module owns bytes ⇄ `Message` and message integrity. It leaves to others: framing
//! on streams and ChannelData (`wire::turn`), and every decision about what a message means
//! (`proto`). Decoding is total: any `&[u8]` gives a `Message` or a typed `ParseError`.
//!
//! Two forms of each side: `Message` (owned attributes, for tests and tools) and, for the
//! endpoints' hot paths, `MessageView` (reads a packet in place, borrowing its text and
//! bytes) and `MessageWriter` (writes a message straight into its buffer). Both decoders
//! apply the same checks and both encoders write the same bytes.
//!
//! # Deviations from RFC 8489
//!
//! | requirement | what we do | why |
//! | --- | --- | --- |
//! | §9.2.2 / §18.5: SASLprep (OpaqueString) on passwords | not applied; keys use the password as given | every credential in a simulation is ASCII, for which the profile is the identity |
//! | §14.1/§14.2: IPv6 addresses | kept as `Attribute::Other` with the exact bytes | the simulator is IPv4-only; a server can still answer 440/443 |
//! | §14.3, §14.9–14.10, §14.14: length limits on USERNAME, REALM, NONCE, SOFTWARE | not enforced on decode (UTF-8 is) | lenient receiver; the encoder writes what it is given |
//! | §9.2: PASSWORD-ALGORITHMS, USERHASH, ALTERNATE-SERVER | not modelled (carried raw) | MD5 long-term credentials are what TURN servers in the field use |
//! | RFC 3489 compatibility (no magic cookie) | rejected with `NoMagicCookie` | classic STUN is out of scope |
//! | §14: padding bytes | written as zeros, ignored on receipt | as the RFC says; re-encoding a message padded with other bytes differs only there |

mod attribute;
mod error;
mod integrity;
mod message;

pub use attribute::{Attribute, AttributeRef, TRANSPORT_UDP, pad4, types};
pub use error::{AttributeProblem, EncodeError, IntegrityError, ParseError};
pub use integrity::{FINGERPRINT_XOR, IntegrityKey, fingerprint_over, verify_integrity, verify_integrity_sha256};
pub use message::{
    Attributes, Class, HEADER_LEN, MAGIC_COOKIE, Message, MessageView, MessageWriter, Method, TransactionId,
    message_type, split_message_type,
};
