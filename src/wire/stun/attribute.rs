//! STUN attributes: the typed values we understand and the raw ones we carry.
//!
//! Each attribute is a type-length-value record padded to four bytes (RFC 8489 §14). The
//! types we model decode into typed variants; every other type, and a known type in a form we
//! do not model (an IPv6 address), is kept as `Attribute::Other` with its exact value bytes, so
//! a server can answer an unknown comprehension-required attribute with 420 (RFC 8489 §14) and
//! an IPv6 address with 440/443 (RFC 8656 §7.2, §9.1).

use std::net::{Ipv4Addr, SocketAddrV4};

use super::error::{AttributeProblem, EncodeError, ParseError};
use super::message::MAGIC_COOKIE;

/// Attribute type codes (RFC 8489 §18.3, RFC 8445 §16.1, RFC 8656 §18).
pub mod types {
    pub const MAPPED_ADDRESS: u16 = 0x0001;
    pub const USERNAME: u16 = 0x0006;
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    pub const ERROR_CODE: u16 = 0x0009;
    pub const UNKNOWN_ATTRIBUTES: u16 = 0x000A;
    pub const CHANNEL_NUMBER: u16 = 0x000C;
    pub const LIFETIME: u16 = 0x000D;
    pub const XOR_PEER_ADDRESS: u16 = 0x0012;
    pub const DATA: u16 = 0x0013;
    pub const REALM: u16 = 0x0014;
    pub const NONCE: u16 = 0x0015;
    pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
    pub const REQUESTED_TRANSPORT: u16 = 0x0019;
    pub const MESSAGE_INTEGRITY_SHA256: u16 = 0x001C;
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    pub const PRIORITY: u16 = 0x0024;
    pub const USE_CANDIDATE: u16 = 0x0025;
    pub const SOFTWARE: u16 = 0x8022;
    pub const FINGERPRINT: u16 = 0x8028;
    pub const ICE_CONTROLLED: u16 = 0x8029;
    pub const ICE_CONTROLLING: u16 = 0x802A;

    /// Every type this codec decodes into a typed variant.
    pub const KNOWN: [u16; 21] = [
        MAPPED_ADDRESS,
        USERNAME,
        MESSAGE_INTEGRITY,
        ERROR_CODE,
        UNKNOWN_ATTRIBUTES,
        CHANNEL_NUMBER,
        LIFETIME,
        XOR_PEER_ADDRESS,
        DATA,
        REALM,
        NONCE,
        XOR_RELAYED_ADDRESS,
        REQUESTED_TRANSPORT,
        MESSAGE_INTEGRITY_SHA256,
        XOR_MAPPED_ADDRESS,
        PRIORITY,
        USE_CANDIDATE,
        SOFTWARE,
        FINGERPRINT,
        ICE_CONTROLLED,
        ICE_CONTROLLING,
    ];

    /// Whether `typ` is one this codec understands.
    pub fn is_known(typ: u16) -> bool {
        KNOWN.contains(&typ)
    }

    /// Types 0x0000–0x7FFF are comprehension-required (RFC 8489 §14).
    pub fn is_comprehension_required(typ: u16) -> bool {
        typ < 0x8000
    }
}

/// IANA protocol number for UDP, the only REQUESTED-TRANSPORT RFC 8656 §7.2 allows.
pub const TRANSPORT_UDP: u8 = 17;

/// One STUN attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attribute {
    /// MAPPED-ADDRESS (RFC 8489 §14.1).
    MappedAddress(SocketAddrV4),
    /// XOR-MAPPED-ADDRESS (RFC 8489 §14.2), stored un-XORed.
    XorMappedAddress(SocketAddrV4),
    /// USERNAME (RFC 8489 §14.3).
    Username(String),
    /// MESSAGE-INTEGRITY: HMAC-SHA1 (RFC 8489 §14.5).
    MessageIntegrity([u8; 20]),
    /// MESSAGE-INTEGRITY-SHA256: HMAC-SHA256, 16 to 32 bytes in steps of 4 (RFC 8489 §14.6).
    MessageIntegritySha256(Vec<u8>),
    /// FINGERPRINT: CRC-32 XOR 0x5354554e (RFC 8489 §14.7).
    Fingerprint(u32),
    /// ERROR-CODE (RFC 8489 §14.8): `code` is 300–699.
    ErrorCode { code: u16, reason: String },
    /// UNKNOWN-ATTRIBUTES (RFC 8489 §14.9).
    UnknownAttributes(Vec<u16>),
    /// REALM (RFC 8489 §14.9).
    Realm(String),
    /// NONCE (RFC 8489 §14.10).
    Nonce(String),
    /// SOFTWARE (RFC 8489 §14.14).
    Software(String),
    /// PRIORITY (RFC 8445 §16.1).
    Priority(u32),
    /// USE-CANDIDATE (RFC 8445 §16.1): no value.
    UseCandidate,
    /// ICE-CONTROLLING with its tie-breaker (RFC 8445 §16.1).
    IceControlling(u64),
    /// ICE-CONTROLLED with its tie-breaker (RFC 8445 §16.1).
    IceControlled(u64),
    /// REQUESTED-TRANSPORT: an IANA protocol number (RFC 8656 §18.7).
    RequestedTransport(u8),
    /// LIFETIME in whole seconds, as on the wire (RFC 8656 §18.2).
    Lifetime(u32),
    /// XOR-RELAYED-ADDRESS (RFC 8656 §18.5), stored un-XORed.
    XorRelayedAddress(SocketAddrV4),
    /// XOR-PEER-ADDRESS (RFC 8656 §18.3), stored un-XORed.
    XorPeerAddress(SocketAddrV4),
    /// DATA (RFC 8656 §18.4).
    Data(Vec<u8>),
    /// CHANNEL-NUMBER (RFC 8656 §18.1), as received: validity (0x4000–0x4FFF) is the
    /// server's to judge, since a bad number is answered with 400, not dropped.
    ChannelNumber(u16),
    /// Any other attribute, or a known type in a form we do not model (IPv6 addresses).
    Other { typ: u16, value: Vec<u8> },
}

impl Attribute {
    /// The attribute's type code.
    pub fn typ(&self) -> u16 {
        use types::*;
        match self {
            Attribute::MappedAddress(_) => MAPPED_ADDRESS,
            Attribute::XorMappedAddress(_) => XOR_MAPPED_ADDRESS,
            Attribute::Username(_) => USERNAME,
            Attribute::MessageIntegrity(_) => MESSAGE_INTEGRITY,
            Attribute::MessageIntegritySha256(_) => MESSAGE_INTEGRITY_SHA256,
            Attribute::Fingerprint(_) => FINGERPRINT,
            Attribute::ErrorCode { .. } => ERROR_CODE,
            Attribute::UnknownAttributes(_) => UNKNOWN_ATTRIBUTES,
            Attribute::Realm(_) => REALM,
            Attribute::Nonce(_) => NONCE,
            Attribute::Software(_) => SOFTWARE,
            Attribute::Priority(_) => PRIORITY,
            Attribute::UseCandidate => USE_CANDIDATE,
            Attribute::IceControlling(_) => ICE_CONTROLLING,
            Attribute::IceControlled(_) => ICE_CONTROLLED,
            Attribute::RequestedTransport(_) => REQUESTED_TRANSPORT,
            Attribute::Lifetime(_) => LIFETIME,
            Attribute::XorRelayedAddress(_) => XOR_RELAYED_ADDRESS,
            Attribute::XorPeerAddress(_) => XOR_PEER_ADDRESS,
            Attribute::Data(_) => DATA,
            Attribute::ChannelNumber(_) => CHANNEL_NUMBER,
            Attribute::Other { typ, .. } => *typ,
        }
    }

    /// Decodes one attribute value. (IPv4 addresses are XORed with the cookie alone; the
    /// transaction id would matter only for IPv6, which we keep raw.)
    pub fn decode(typ: u16, v: &[u8]) -> Result<Attribute, ParseError> {
        AttributeRef::decode(typ, v).map(AttributeRef::to_attribute)
    }

    /// The length of the attribute's value, without header or padding.
    pub fn value_len(&self) -> usize {
        match self {
            Attribute::MappedAddress(_)
            | Attribute::XorMappedAddress(_)
            | Attribute::XorRelayedAddress(_)
            | Attribute::XorPeerAddress(_)
            | Attribute::IceControlling(_)
            | Attribute::IceControlled(_) => 8,
            Attribute::Username(s) | Attribute::Realm(s) | Attribute::Nonce(s) | Attribute::Software(s) => s.len(),
            Attribute::MessageIntegrity(_) => 20,
            Attribute::MessageIntegritySha256(h) => h.len(),
            Attribute::ErrorCode { reason, .. } => 4 + reason.len(),
            Attribute::UnknownAttributes(list) => 2 * list.len(),
            Attribute::UseCandidate => 0,
            Attribute::Fingerprint(_)
            | Attribute::Priority(_)
            | Attribute::RequestedTransport(_)
            | Attribute::Lifetime(_)
            | Attribute::ChannelNumber(_) => 4,
            Attribute::Data(d) => d.len(),
            Attribute::Other { value, .. } => value.len(),
        }
    }

    /// Appends the attribute (header, value, zero padding) to `out`, writing the value in
    /// place (no buffer of its own).
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Attribute::MessageIntegritySha256(h) if !(16..=32).contains(&h.len()) || !h.len().is_multiple_of(4) => {
                return Err(EncodeError::BadIntegrityLength(h.len()));
            }
            Attribute::ErrorCode { code, .. } if !(300..=699).contains(code) => {
                return Err(EncodeError::ErrorCodeOutOfRange(*code));
            }
            _ => {}
        }
        let len = self.value_len();
        let len16 = u16::try_from(len).map_err(|_| EncodeError::ValueTooLong { typ: self.typ(), len })?;
        out.reserve(4 + pad4(len));
        out.extend_from_slice(&self.typ().to_be_bytes());
        out.extend_from_slice(&len16.to_be_bytes());
        match self {
            Attribute::MappedAddress(a) => encode_address(out, *a, false),
            Attribute::XorMappedAddress(a) | Attribute::XorRelayedAddress(a) | Attribute::XorPeerAddress(a) => {
                encode_address(out, *a, true)
            }
            Attribute::Username(s) | Attribute::Realm(s) | Attribute::Nonce(s) | Attribute::Software(s) => {
                out.extend_from_slice(s.as_bytes())
            }
            Attribute::MessageIntegrity(h) => out.extend_from_slice(h),
            Attribute::MessageIntegritySha256(h) => out.extend_from_slice(h),
            Attribute::Fingerprint(f) => out.extend_from_slice(&f.to_be_bytes()),
            Attribute::ErrorCode { code, reason } => {
                out.extend_from_slice(&[0, 0, (code / 100) as u8, (code % 100) as u8]);
                out.extend_from_slice(reason.as_bytes());
            }
            Attribute::UnknownAttributes(list) => list.iter().for_each(|t| out.extend_from_slice(&t.to_be_bytes())),
            Attribute::Priority(p) => out.extend_from_slice(&p.to_be_bytes()),
            Attribute::UseCandidate => {}
            Attribute::IceControlling(t) | Attribute::IceControlled(t) => out.extend_from_slice(&t.to_be_bytes()),
            Attribute::RequestedTransport(p) => out.extend_from_slice(&[*p, 0, 0, 0]),
            Attribute::Lifetime(s) => out.extend_from_slice(&s.to_be_bytes()),
            Attribute::Data(d) => out.extend_from_slice(d),
            Attribute::ChannelNumber(c) => {
                let [a, b] = c.to_be_bytes();
                out.extend_from_slice(&[a, b, 0, 0]);
            }
            Attribute::Other { value, .. } => out.extend_from_slice(value),
        }
        out.resize(out.len() + pad4(len) - len, 0);
        Ok(())
    }
}

/// One STUN attribute as found in a packet, borrowing its text and bytes from it: what
/// `MessageView` hands out, so reading a message allocates nothing. `Attribute` is the owned
/// form; both decode through `AttributeRef::decode`, so they accept exactly the same values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributeRef<'a> {
    MappedAddress(SocketAddrV4),
    XorMappedAddress(SocketAddrV4),
    Username(&'a str),
    /// Exactly 20 bytes.
    MessageIntegrity(&'a [u8]),
    MessageIntegritySha256(&'a [u8]),
    Fingerprint(u32),
    ErrorCode {
        code: u16,
        reason: &'a str,
    },
    /// The list as on the wire: big-endian 16-bit types (an even number of bytes).
    UnknownAttributes(&'a [u8]),
    Realm(&'a str),
    Nonce(&'a str),
    Software(&'a str),
    Priority(u32),
    UseCandidate,
    IceControlling(u64),
    IceControlled(u64),
    RequestedTransport(u8),
    Lifetime(u32),
    XorRelayedAddress(SocketAddrV4),
    XorPeerAddress(SocketAddrV4),
    Data(&'a [u8]),
    ChannelNumber(u16),
    Other {
        typ: u16,
        value: &'a [u8],
    },
}

impl<'a> AttributeRef<'a> {
    /// Decodes one attribute value, borrowing from `v` (the rules of `Attribute::decode`).
    pub fn decode(typ: u16, v: &'a [u8]) -> Result<AttributeRef<'a>, ParseError> {
        use types::*;
        let bad = |problem| ParseError::BadAttribute { typ, problem };
        let fixed = |n: usize| if v.len() == n { Ok(()) } else { Err(bad(AttributeProblem::Length(v.len()))) };
        let text = |b: &'a [u8]| std::str::from_utf8(b).map_err(|_| bad(AttributeProblem::NotUtf8));
        Ok(match typ {
            MAPPED_ADDRESS | XOR_MAPPED_ADDRESS | XOR_PEER_ADDRESS | XOR_RELAYED_ADDRESS => {
                let Some(addr) = decode_address(v, typ != MAPPED_ADDRESS).map_err(bad)? else {
                    return Ok(AttributeRef::Other { typ, value: v });
                };
                match typ {
                    MAPPED_ADDRESS => AttributeRef::MappedAddress(addr),
                    XOR_MAPPED_ADDRESS => AttributeRef::XorMappedAddress(addr),
                    XOR_PEER_ADDRESS => AttributeRef::XorPeerAddress(addr),
                    _ => AttributeRef::XorRelayedAddress(addr),
                }
            }
            USERNAME => AttributeRef::Username(text(v)?),
            REALM => AttributeRef::Realm(text(v)?),
            NONCE => AttributeRef::Nonce(text(v)?),
            SOFTWARE => AttributeRef::Software(text(v)?),
            MESSAGE_INTEGRITY => {
                fixed(20)?;
                AttributeRef::MessageIntegrity(v)
            }
            MESSAGE_INTEGRITY_SHA256 => {
                // RFC 8489 §14.6: at least 16 bytes, at most 32, a multiple of 4.
                if !(16..=32).contains(&v.len()) || !v.len().is_multiple_of(4) {
                    return Err(bad(AttributeProblem::Length(v.len())));
                }
                AttributeRef::MessageIntegritySha256(v)
            }
            FINGERPRINT => {
                fixed(4)?;
                AttributeRef::Fingerprint(be_u32(v))
            }
            ERROR_CODE => {
                if v.len() < 4 {
                    return Err(bad(AttributeProblem::Length(v.len())));
                }
                let class = (v[2] & 0x07) as u16;
                let number = v[3] as u16;
                // RFC 8489 §14.8: class 3–6, number 0–99.
                if !(3..=6).contains(&class) || number > 99 {
                    return Err(bad(AttributeProblem::ErrorCode { class: class as u8, number: number as u8 }));
                }
                AttributeRef::ErrorCode { code: class * 100 + number, reason: text(&v[4..])? }
            }
            UNKNOWN_ATTRIBUTES => {
                if !v.len().is_multiple_of(2) {
                    return Err(bad(AttributeProblem::Length(v.len())));
                }
                AttributeRef::UnknownAttributes(v)
            }
            PRIORITY => {
                fixed(4)?;
                AttributeRef::Priority(be_u32(v))
            }
            USE_CANDIDATE => {
                fixed(0)?;
                AttributeRef::UseCandidate
            }
            ICE_CONTROLLING | ICE_CONTROLLED => {
                fixed(8)?;
                let mut b = [0u8; 8];
                b.copy_from_slice(v);
                let tie = u64::from_be_bytes(b);
                if typ == ICE_CONTROLLING {
                    AttributeRef::IceControlling(tie)
                } else {
                    AttributeRef::IceControlled(tie)
                }
            }
            REQUESTED_TRANSPORT => {
                // RFC 8656 §18.7: protocol number then 24 RFFU bits, ignored on receipt.
                fixed(4)?;
                AttributeRef::RequestedTransport(v[0])
            }
            LIFETIME => {
                fixed(4)?;
                AttributeRef::Lifetime(be_u32(v))
            }
            DATA => AttributeRef::Data(v),
            CHANNEL_NUMBER => {
                // RFC 8656 §18.1: number then 16 RFFU bits, ignored on receipt.
                fixed(4)?;
                AttributeRef::ChannelNumber(u16::from_be_bytes([v[0], v[1]]))
            }
            _ => AttributeRef::Other { typ, value: v },
        })
    }

    /// The attribute's type code.
    pub fn typ(&self) -> u16 {
        use types::*;
        match self {
            AttributeRef::MappedAddress(_) => MAPPED_ADDRESS,
            AttributeRef::XorMappedAddress(_) => XOR_MAPPED_ADDRESS,
            AttributeRef::Username(_) => USERNAME,
            AttributeRef::MessageIntegrity(_) => MESSAGE_INTEGRITY,
            AttributeRef::MessageIntegritySha256(_) => MESSAGE_INTEGRITY_SHA256,
            AttributeRef::Fingerprint(_) => FINGERPRINT,
            AttributeRef::ErrorCode { .. } => ERROR_CODE,
            AttributeRef::UnknownAttributes(_) => UNKNOWN_ATTRIBUTES,
            AttributeRef::Realm(_) => REALM,
            AttributeRef::Nonce(_) => NONCE,
            AttributeRef::Software(_) => SOFTWARE,
            AttributeRef::Priority(_) => PRIORITY,
            AttributeRef::UseCandidate => USE_CANDIDATE,
            AttributeRef::IceControlling(_) => ICE_CONTROLLING,
            AttributeRef::IceControlled(_) => ICE_CONTROLLED,
            AttributeRef::RequestedTransport(_) => REQUESTED_TRANSPORT,
            AttributeRef::Lifetime(_) => LIFETIME,
            AttributeRef::XorRelayedAddress(_) => XOR_RELAYED_ADDRESS,
            AttributeRef::XorPeerAddress(_) => XOR_PEER_ADDRESS,
            AttributeRef::Data(_) => DATA,
            AttributeRef::ChannelNumber(_) => CHANNEL_NUMBER,
            AttributeRef::Other { typ, .. } => *typ,
        }
    }

    /// The owned attribute (copies the text and bytes).
    pub fn to_attribute(self) -> Attribute {
        match self {
            AttributeRef::MappedAddress(a) => Attribute::MappedAddress(a),
            AttributeRef::XorMappedAddress(a) => Attribute::XorMappedAddress(a),
            AttributeRef::Username(s) => Attribute::Username(s.to_owned()),
            AttributeRef::MessageIntegrity(h) => {
                let mut tag = [0u8; 20];
                tag.copy_from_slice(h);
                Attribute::MessageIntegrity(tag)
            }
            AttributeRef::MessageIntegritySha256(h) => Attribute::MessageIntegritySha256(h.to_vec()),
            AttributeRef::Fingerprint(f) => Attribute::Fingerprint(f),
            AttributeRef::ErrorCode { code, reason } => Attribute::ErrorCode { code, reason: reason.to_owned() },
            AttributeRef::UnknownAttributes(list) => {
                Attribute::UnknownAttributes(list.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect())
            }
            AttributeRef::Realm(s) => Attribute::Realm(s.to_owned()),
            AttributeRef::Nonce(s) => Attribute::Nonce(s.to_owned()),
            AttributeRef::Software(s) => Attribute::Software(s.to_owned()),
            AttributeRef::Priority(p) => Attribute::Priority(p),
            AttributeRef::UseCandidate => Attribute::UseCandidate,
            AttributeRef::IceControlling(t) => Attribute::IceControlling(t),
            AttributeRef::IceControlled(t) => Attribute::IceControlled(t),
            AttributeRef::RequestedTransport(p) => Attribute::RequestedTransport(p),
            AttributeRef::Lifetime(s) => Attribute::Lifetime(s),
            AttributeRef::XorRelayedAddress(a) => Attribute::XorRelayedAddress(a),
            AttributeRef::XorPeerAddress(a) => Attribute::XorPeerAddress(a),
            AttributeRef::Data(d) => Attribute::Data(d.to_vec()),
            AttributeRef::ChannelNumber(c) => Attribute::ChannelNumber(c),
            AttributeRef::Other { typ, value } => Attribute::Other { typ, value: value.to_vec() },
        }
    }
}

/// Appends an attribute whose value is `value` as given (header, value, zero padding): text
/// and byte attributes written straight from borrowed data, with no `Attribute` built.
pub(crate) fn encode_raw(out: &mut Vec<u8>, typ: u16, value: &[u8]) -> Result<(), EncodeError> {
    let len = value.len();
    let len16 = u16::try_from(len).map_err(|_| EncodeError::ValueTooLong { typ, len })?;
    out.reserve(4 + pad4(len));
    out.extend_from_slice(&typ.to_be_bytes());
    out.extend_from_slice(&len16.to_be_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + pad4(len) - len, 0);
    Ok(())
}

/// Appends ERROR-CODE (RFC 8489 §14.8): class and number from `code`, which must be 300–699,
/// then the reason phrase.
pub(crate) fn encode_error_code(out: &mut Vec<u8>, code: u16, reason: &str) -> Result<(), EncodeError> {
    if !(300..=699).contains(&code) {
        return Err(EncodeError::ErrorCodeOutOfRange(code));
    }
    let len = 4 + reason.len();
    let len16 = u16::try_from(len).map_err(|_| EncodeError::ValueTooLong { typ: types::ERROR_CODE, len })?;
    out.reserve(4 + pad4(len));
    out.extend_from_slice(&types::ERROR_CODE.to_be_bytes());
    out.extend_from_slice(&len16.to_be_bytes());
    out.extend_from_slice(&[0, 0, (code / 100) as u8, (code % 100) as u8]);
    out.extend_from_slice(reason.as_bytes());
    out.resize(out.len() + pad4(len) - len, 0);
    Ok(())
}

/// `n` rounded up to a multiple of four: the space a value takes with its padding.
pub fn pad4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

fn be_u32(v: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&v[..4]);
    u32::from_be_bytes(b)
}

/// Decodes an address value (RFC 8489 §14.1, §14.2). `Ok(None)` is an IPv6 address, which we
/// carry raw rather than model.
fn decode_address(v: &[u8], xor: bool) -> Result<Option<SocketAddrV4>, AttributeProblem> {
    let (Some(&family), Some(port)) = (v.get(1), v.get(2..4)) else {
        return Err(AttributeProblem::Length(v.len()));
    };
    match family {
        0x01 => {
            if v.len() != 8 {
                return Err(AttributeProblem::Length(v.len()));
            }
            let mut port = u16::from_be_bytes([port[0], port[1]]);
            let mut ip = be_u32(&v[4..8]);
            if xor {
                // RFC 8489 §14.2: X-Port is XORed with the cookie's top 16 bits, X-Address with it all.
                port ^= (MAGIC_COOKIE >> 16) as u16;
                ip ^= MAGIC_COOKIE;
            }
            Ok(Some(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        0x02 if v.len() == 20 => Ok(None),
        0x02 => Err(AttributeProblem::Length(v.len())),
        f => Err(AttributeProblem::AddressFamily(f)),
    }
}

fn encode_address(out: &mut Vec<u8>, a: SocketAddrV4, xor: bool) {
    let (mut port, mut ip) = (a.port(), u32::from(*a.ip()));
    if xor {
        port ^= (MAGIC_COOKIE >> 16) as u16;
        ip ^= MAGIC_COOKIE;
    }
    out.extend_from_slice(&[0, 0x01]);
    out.extend_from_slice(&port.to_be_bytes());
    out.extend_from_slice(&ip.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(a: Attribute) {
        let mut out = Vec::new();
        a.encode_into(&mut out).unwrap();
        assert_eq!(out.len() % 4, 0, "attributes are padded to four bytes");
        let len = u16::from_be_bytes([out[2], out[3]]) as usize;
        let back = Attribute::decode(a.typ(), &out[4..4 + len]).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn typed_attributes_round_trip() {
        let addr: SocketAddrV4 = "192.0.2.1:32853".parse().unwrap();
        for a in [
            Attribute::MappedAddress(addr),
            Attribute::XorMappedAddress(addr),
            Attribute::XorPeerAddress(addr),
            Attribute::XorRelayedAddress(addr),
            Attribute::Username("evtj:h6vY".into()),
            Attribute::ErrorCode { code: 420, reason: "Unknown Attribute".into() },
            Attribute::UnknownAttributes(vec![0x0018, 0x001a, 0x0022]),
            Attribute::Priority(0x6e0001ff),
            Attribute::UseCandidate,
            Attribute::IceControlled(0x932ff9b151263b36),
            Attribute::RequestedTransport(TRANSPORT_UDP),
            Attribute::Lifetime(600),
            Attribute::ChannelNumber(0x4000),
            Attribute::Data(vec![1, 2, 3, 4, 5]),
            Attribute::Other { typ: 0x001A, value: vec![] },
        ] {
            round_trip(a);
        }
    }

    #[test]
    fn xor_mapped_address_matches_rfc5769_bytes() {
        // RFC 5769 §2.2: 192.0.2.1 port 32853 is sent as 0001 a147 e112a643.
        let a = Attribute::XorMappedAddress("192.0.2.1:32853".parse().unwrap());
        let mut out = Vec::new();
        a.encode_into(&mut out).unwrap();
        assert_eq!(out, [0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43]);
    }

    #[test]
    fn ipv6_address_is_kept_raw_and_bad_family_is_an_error() {
        let v6 = [0u8, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(
            Attribute::decode(types::XOR_PEER_ADDRESS, &v6).unwrap(),
            Attribute::Other { typ: types::XOR_PEER_ADDRESS, value: v6.to_vec() }
        );
        assert_eq!(
            Attribute::decode(types::MAPPED_ADDRESS, &[0, 3, 0, 0, 1, 2, 3, 4]),
            Err(ParseError::BadAttribute { typ: types::MAPPED_ADDRESS, problem: AttributeProblem::AddressFamily(3) })
        );
        assert!(Attribute::decode(types::MAPPED_ADDRESS, &[0]).is_err());
    }

    #[test]
    fn error_code_outside_300_to_699_is_refused_both_ways() {
        assert_eq!(
            Attribute::ErrorCode { code: 200, reason: String::new() }.encode_into(&mut Vec::new()),
            Err(EncodeError::ErrorCodeOutOfRange(200))
        );
        assert!(Attribute::decode(types::ERROR_CODE, &[0, 0, 4, 100]).is_err());
        assert!(Attribute::decode(types::ERROR_CODE, &[0, 0, 2, 0]).is_err());
    }

    #[test]
    fn comprehension_ranges() {
        assert!(types::is_comprehension_required(0x001A));
        assert!(!types::is_comprehension_required(0x8022));
        assert!(types::is_known(types::XOR_RELAYED_ADDRESS));
        assert!(!types::is_known(0x0018));
    }
}
