//! Why bytes are not a STUN message, and why a message cannot be encoded or verified.

use thiserror::Error;

/// Why a byte string is not a STUN message we accept. Decoding never panics: every input
/// gives a message or one of these.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ParseError {
    /// Fewer bytes than the header or a length field needs.
    #[error("truncated: need {needed} bytes, have {have}")]
    Truncated { needed: usize, have: usize },
    /// The two most significant bits are not zero (RFC 8489 §5), so this is not STUN.
    #[error("not STUN: first byte {0:#04x} has a top bit set")]
    NotStun(u8),
    /// The magic cookie is missing (RFC 8489 §5); RFC 3489 messages are not supported.
    #[error("magic cookie is {0:#010x}, not 0x2112a442")]
    NoMagicCookie(u32),
    /// The header length is not a multiple of four (RFC 8489 §5).
    #[error("message length {0} is not a multiple of 4")]
    UnalignedLength(usize),
    /// The header length disagrees with the number of bytes given.
    #[error("header says {declared} bytes after the header, {actual} given")]
    LengthMismatch { declared: usize, actual: usize },
    /// An attribute's length runs past the end of the message.
    #[error("attribute {typ:#06x} at offset {offset} runs past the end of the message")]
    AttributeOverrun { typ: u16, offset: usize },
    /// A known attribute whose value is malformed.
    #[error("attribute {typ:#06x}: {problem}")]
    BadAttribute { typ: u16, problem: AttributeProblem },
    /// The FINGERPRINT does not match the message (RFC 8489 §14.7).
    #[error("fingerprint {found:#010x} does not match the computed {expected:#010x}")]
    BadFingerprint { expected: u32, found: u32 },
}

/// What is wrong with a known attribute's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum AttributeProblem {
    /// The value has a length this attribute never has.
    #[error("wrong length {0}")]
    Length(usize),
    /// Text that is not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// An address family other than IPv4 (1) and IPv6 (2).
    #[error("unknown address family {0}")]
    AddressFamily(u8),
    /// An ERROR-CODE class outside 3–6 or number above 99 (RFC 8489 §14.8).
    #[error("error class {class} number {number} is out of range")]
    ErrorCode { class: u8, number: u8 },
}

/// Why a message cannot be put on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// An attribute value longer than the 16-bit length field allows.
    #[error("attribute {typ:#06x} value of {len} bytes does not fit a 16-bit length")]
    ValueTooLong { typ: u16, len: usize },
    /// The attributes together exceed the 16-bit message length.
    #[error("message body of {0} bytes does not fit a 16-bit length")]
    MessageTooLong(usize),
    /// ERROR-CODE must be 300–699 (RFC 8489 §14.8).
    #[error("error code {0} is outside 300-699")]
    ErrorCodeOutOfRange(u16),
    /// MESSAGE-INTEGRITY-SHA256 must be 16–32 bytes in steps of 4 (RFC 8489 §14.6).
    #[error("MESSAGE-INTEGRITY-SHA256 of {0} bytes")]
    BadIntegrityLength(usize),
}

/// Why a message's integrity could not be confirmed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum IntegrityError {
    /// The message carries no MESSAGE-INTEGRITY (or -SHA256) that counts.
    #[error("no message integrity attribute")]
    Missing,
    /// The HMAC does not match: wrong key or altered bytes.
    #[error("message integrity does not match")]
    Mismatch,
    /// The bytes are not a well-formed STUN message.
    #[error(transparent)]
    Malformed(#[from] ParseError),
}
