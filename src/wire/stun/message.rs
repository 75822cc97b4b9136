//! The STUN message: header, class and method, transaction id, attribute list (RFC 8489 §5–6).
//!
//! `Message::decode` is total: any bytes give a message or a `ParseError`. Attributes that
//! RFC 8489 says to ignore (anything after MESSAGE-INTEGRITY except MESSAGE-INTEGRITY-SHA256
//! and FINGERPRINT, anything after MESSAGE-INTEGRITY-SHA256 except FINGERPRINT, anything after
//! FINGERPRINT) are dropped, so no caller can act on bytes an attacker appended.

use std::fmt;
use std::net::SocketAddrV4;

use super::attribute::{Attribute, AttributeRef, encode_error_code, encode_raw, pad4, types};
use super::error::{EncodeError, IntegrityError, ParseError};
use super::integrity::{self, IntegrityKey};

/// The fixed value in bytes 4–7 of every RFC 8489 message (§5).
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Length of the STUN header (RFC 8489 §5).
pub const HEADER_LEN: usize = 20;

/// The message class (RFC 8489 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    Request,
    Indication,
    Success,
    Error,
}

impl Class {
    /// The two class bits C1 C0.
    fn bits(self) -> u16 {
        match self {
            Class::Request => 0b00,
            Class::Indication => 0b01,
            Class::Success => 0b10,
            Class::Error => 0b11,
        }
    }

    /// Whether this is a success or error response.
    pub fn is_response(self) -> bool {
        matches!(self, Class::Success | Class::Error)
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Class::Request => "request",
            Class::Indication => "indication",
            Class::Success => "success response",
            Class::Error => "error response",
        })
    }
}

/// A 12-bit STUN method (RFC 8489 §5, §18.2; RFC 8656 §17).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Method(u16);

impl Method {
    pub const BINDING: Method = Method(0x001);
    pub const ALLOCATE: Method = Method(0x003);
    pub const REFRESH: Method = Method(0x004);
    pub const SEND: Method = Method(0x006);
    pub const DATA: Method = Method(0x007);
    pub const CREATE_PERMISSION: Method = Method(0x008);
    pub const CHANNEL_BIND: Method = Method(0x009);

    /// A method from its value, if it fits in 12 bits.
    pub const fn new(value: u16) -> Option<Method> {
        if value <= 0x0FFF { Some(Method(value)) } else { None }
    }

    pub const fn value(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Method::BINDING => f.write_str("Binding"),
            Method::ALLOCATE => f.write_str("Allocate"),
            Method::REFRESH => f.write_str("Refresh"),
            Method::SEND => f.write_str("Send"),
            Method::DATA => f.write_str("Data"),
            Method::CREATE_PERMISSION => f.write_str("CreatePermission"),
            Method::CHANNEL_BIND => f.write_str("ChannelBind"),
            Method(v) => write!(f, "method {v:#05x}"),
        }
    }
}

/// The 96-bit transaction id (RFC 8489 §5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(pub [u8; 12]);

impl TransactionId {
    /// A transaction id derived from a seed handed in by the caller and a per-endpoint
    /// counter: no randomness of our own. The last four bytes are the counter, so ids from one
    /// endpoint are distinct for 2^32 transactions; the rest mixes seed and counter
    /// (SplitMix64) so ids look as random as RFC 8489 §5 expects.
    pub fn derive(seed: u64, counter: u64) -> TransactionId {
        let mut z = seed.wrapping_add(counter.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&z.to_be_bytes());
        b[8..].copy_from_slice(&(counter as u32).to_be_bytes());
        TransactionId(b)
    }
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// A STUN message with its attributes in wire order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub class: Class,
    pub method: Method,
    pub transaction_id: TransactionId,
    pub attributes: Vec<Attribute>,
}

impl Message {
    pub fn new(class: Class, method: Method, transaction_id: TransactionId) -> Message {
        Message { class, method, transaction_id, attributes: Vec::new() }
    }

    pub fn request(method: Method, transaction_id: TransactionId) -> Message {
        Message::new(Class::Request, method, transaction_id)
    }

    pub fn indication(method: Method, transaction_id: TransactionId) -> Message {
        Message::new(Class::Indication, method, transaction_id)
    }

    /// A success response to `request`: same method and transaction id (RFC 8489 §6.3.1.1).
    pub fn success_to(request: &Message) -> Message {
        Message::new(Class::Success, request.method, request.transaction_id)
    }

    /// An error response to `request` carrying ERROR-CODE (RFC 8489 §6.3.1.1).
    pub fn error_to(request: &Message, code: u16, reason: &str) -> Message {
        Message::new(Class::Error, request.method, request.transaction_id)
            .with(Attribute::ErrorCode { code, reason: reason.to_owned() })
    }

    /// The message with `attribute` appended.
    pub fn with(mut self, attribute: Attribute) -> Message {
        self.attributes.push(attribute);
        self
    }

    /// Decodes one whole STUN message; `bytes` must be exactly the message. (The checks
    /// are `MessageView::decode`'s; this copies what it borrows.)
    pub fn decode(bytes: &[u8]) -> Result<Message, ParseError> {
        MessageView::decode(bytes).map(|view| view.to_message())
    }

    /// The message's bytes, attributes exactly as listed (any MESSAGE-INTEGRITY or
    /// FINGERPRINT in the list is written as stored, not recomputed).
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        self.encode_with(None, false)
    }

    /// The message's bytes followed by a MESSAGE-INTEGRITY computed with `key` (if given) and
    /// a FINGERPRINT (if asked), in the order RFC 8489 §14.5 and §14.7 require.
    pub fn encode_with(&self, key: Option<&IntegrityKey>, fingerprint: bool) -> Result<Vec<u8>, EncodeError> {
        let body: usize = self.attributes.iter().map(|a| 4 + pad4(a.value_len())).sum();
        let mut w = MessageWriter::new(self.class, self.method, self.transaction_id, body);
        for a in &self.attributes {
            w.attribute(a);
        }
        w.finish(key, fingerprint)
    }

    /// Like `encode_with`, with MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6) instead of SHA-1.
    pub fn encode_with_sha256(&self, key: &IntegrityKey, fingerprint: bool) -> Result<Vec<u8>, EncodeError> {
        let mut b = self.encode()?;
        integrity::append_integrity_sha256(&mut b, key)?;
        if fingerprint {
            integrity::append_fingerprint(&mut b)?;
        }
        Ok(b)
    }

    /// The first attribute of type `typ`.
    pub fn attribute(&self, typ: u16) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.typ() == typ)
    }

    /// Comprehension-required attribute types this codec does not understand, for a 420
    /// response's UNKNOWN-ATTRIBUTES (RFC 8489 §6.3.1.1).
    pub fn unknown_comprehension_required(&self) -> Vec<u16> {
        let mut unknown: Vec<u16> = self
            .attributes
            .iter()
            .map(Attribute::typ)
            .filter(|&t| types::is_comprehension_required(t) && !types::is_known(t))
            .collect();
        unknown.dedup();
        unknown
    }

    pub fn username(&self) -> Option<&str> {
        self.attributes.iter().find_map(|a| if let Attribute::Username(s) = a { Some(s.as_str()) } else { None })
    }

    pub fn realm(&self) -> Option<&str> {
        self.attributes.iter().find_map(|a| if let Attribute::Realm(s) = a { Some(s.as_str()) } else { None })
    }

    pub fn nonce(&self) -> Option<&str> {
        self.attributes.iter().find_map(|a| if let Attribute::Nonce(s) = a { Some(s.as_str()) } else { None })
    }

    /// ERROR-CODE as (code, reason phrase).
    pub fn error_code(&self) -> Option<(u16, &str)> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::ErrorCode { code, reason } => Some((*code, reason.as_str())),
            _ => None,
        })
    }

    pub fn xor_mapped_address(&self) -> Option<std::net::SocketAddrV4> {
        self.attributes.iter().find_map(|a| if let Attribute::XorMappedAddress(s) = a { Some(*s) } else { None })
    }

    pub fn xor_relayed_address(&self) -> Option<std::net::SocketAddrV4> {
        self.attributes.iter().find_map(|a| if let Attribute::XorRelayedAddress(s) = a { Some(*s) } else { None })
    }

    /// Every XOR-PEER-ADDRESS (CreatePermission may carry several, RFC 8656 §9.1).
    pub fn xor_peer_addresses(&self) -> Vec<std::net::SocketAddrV4> {
        self.attributes
            .iter()
            .filter_map(|a| if let Attribute::XorPeerAddress(s) = a { Some(*s) } else { None })
            .collect()
    }

    /// LIFETIME in seconds.
    pub fn lifetime(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| if let Attribute::Lifetime(s) = a { Some(*s) } else { None })
    }

    pub fn data(&self) -> Option<&[u8]> {
        self.attributes.iter().find_map(|a| if let Attribute::Data(d) = a { Some(d.as_slice()) } else { None })
    }

    pub fn channel_number(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| if let Attribute::ChannelNumber(c) = a { Some(*c) } else { None })
    }

    pub fn requested_transport(&self) -> Option<u8> {
        self.attributes.iter().find_map(|a| if let Attribute::RequestedTransport(p) = a { Some(*p) } else { None })
    }

    /// Whether the message carries MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256.
    pub fn has_integrity(&self) -> bool {
        self.attributes
            .iter()
            .any(|a| matches!(a, Attribute::MessageIntegrity(_) | Attribute::MessageIntegritySha256(_)))
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.class)?;
        if let Some((code, reason)) = self.error_code() {
            write!(f, " {code} ({reason})")?;
        }
        Ok(())
    }
}

/// How many attributes a `MessageView` keeps decoded in place; a message with more (none
/// that an endpoint here sends) is walked again for each question instead.
const INLINE_ATTRIBUTES: usize = 12;

/// A decoded STUN message that borrows from its bytes: the same checks as `Message::decode`
/// (header, framing, every attribute that counts, FINGERPRINT), without copying a thing. The
/// endpoints read what arrives through it. The attributes that count (RFC 8489's rules for
/// what follows MESSAGE-INTEGRITY and FINGERPRINT, as in `decode`) are kept decoded in the
/// view itself, so each accessor is a scan of a few values.
#[derive(Clone, Copy, Debug)]
pub struct MessageView<'a> {
    pub class: Class,
    pub method: Method,
    pub transaction_id: TransactionId,
    bytes: &'a [u8],
    /// Attributes on the wire, counted ones and ignored ones alike.
    count: usize,
    /// The first `kept` attributes that count, decoded; when more than fit count, `kept` is
    /// `None` and they are decoded again from `bytes` when asked for.
    inline: [AttributeRef<'a>; INLINE_ATTRIBUTES],
    kept: Option<usize>,
    /// The MESSAGE-INTEGRITY that counts: its body offset and its 20 bytes.
    integrity: Option<(usize, &'a [u8])>,
}

impl<'a> MessageView<'a> {
    /// Checks one whole STUN message; `bytes` must be exactly the message.
    ///
    /// One walk over the attributes checks the framing of all of them and decodes those
    /// that count. The errors are those of a framing pass followed by a decoding pass: an
    /// overrun anywhere wins over a bad value, and among bad values (and a wrong
    /// FINGERPRINT) the first in wire order.
    pub fn decode(bytes: &'a [u8]) -> Result<MessageView<'a>, ParseError> {
        let (class, method, transaction_id) = parse_header(bytes)?;
        let body = bytes.get(HEADER_LEN..).unwrap_or_default();
        let mut inline = [AttributeRef::UseCandidate; INLINE_ATTRIBUTES];
        let (mut pos, mut count, mut kept, mut tail) = (0, 0, 0, Tail::Open);
        let mut integrity = None;
        let mut bad = None;
        while pos < body.len() {
            let raw = next_raw(body, pos)?;
            pos += 4 + pad4(raw.value.len());
            count += 1;
            if bad.is_some() || !tail.keeps(raw.typ) {
                continue;
            }
            let a = match AttributeRef::decode(raw.typ, raw.value) {
                Ok(a) => a,
                Err(e) => {
                    bad = Some(e);
                    continue;
                }
            };
            match a {
                AttributeRef::Fingerprint(found) => {
                    let expected = integrity::fingerprint_over(bytes, raw.offset);
                    if found != expected {
                        bad = Some(ParseError::BadFingerprint { expected, found });
                        continue;
                    }
                }
                AttributeRef::MessageIntegrity(tag) => integrity = Some((raw.offset, tag)),
                _ => {}
            }
            if let Some(slot) = inline.get_mut(kept) {
                *slot = a;
            }
            kept += 1;
        }
        if let Some(e) = bad {
            return Err(e);
        }
        let kept = (kept <= INLINE_ATTRIBUTES).then_some(kept);
        Ok(MessageView { class, method, transaction_id, bytes, count, inline, kept, integrity })
    }

    /// Checks the MESSAGE-INTEGRITY (HMAC-SHA1) with `key`, as `verify_integrity` does on
    /// the message's bytes, from where decoding found the attribute.
    pub fn verify_integrity(&self, key: &IntegrityKey) -> Result<(), IntegrityError> {
        let (offset, tag) = self.integrity.ok_or(IntegrityError::Missing)?;
        integrity::verify_at(self.bytes, key, offset, tag)
    }

    /// The message's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Every attribute that counts, in wire order (those `Message::decode` keeps).
    pub fn attributes(&self) -> Attributes<'_, 'a> {
        match self.kept {
            Some(n) => Attributes(Source::Inline(self.inline[..n].iter())),
            None => {
                let body = self.bytes.get(HEADER_LEN..).unwrap_or_default();
                Attributes(Source::Walk(Kept::new(RawAttributes { body, pos: 0, left: self.count })))
            }
        }
    }

    /// The owned message.
    pub fn to_message(&self) -> Message {
        let mut attributes = Vec::with_capacity(self.count);
        attributes.extend(self.attributes().map(AttributeRef::to_attribute));
        Message { class: self.class, method: self.method, transaction_id: self.transaction_id, attributes }
    }

    /// The first attribute `pick` accepts.
    fn find<T>(&self, pick: impl Fn(AttributeRef<'a>) -> Option<T>) -> Option<T> {
        self.attributes().find_map(pick)
    }

    /// The first attribute of type `typ`.
    pub fn attribute(&self, typ: u16) -> Option<AttributeRef<'a>> {
        self.attributes().find(|a| a.typ() == typ)
    }

    /// Whether an attribute of type `typ` counts.
    pub fn has(&self, typ: u16) -> bool {
        self.attributes().any(|a| a.typ() == typ)
    }

    /// Comprehension-required attribute types this codec does not understand (as
    /// `Message::unknown_comprehension_required`).
    pub fn unknown_comprehension_required(&self) -> Vec<u16> {
        let mut unknown: Vec<u16> = self
            .attributes()
            .map(|a| a.typ())
            .filter(|&t| types::is_comprehension_required(t) && !types::is_known(t))
            .collect();
        unknown.dedup();
        unknown
    }

    pub fn username(&self) -> Option<&'a str> {
        self.find(|a| if let AttributeRef::Username(s) = a { Some(s) } else { None })
    }

    pub fn realm(&self) -> Option<&'a str> {
        self.find(|a| if let AttributeRef::Realm(s) = a { Some(s) } else { None })
    }

    pub fn nonce(&self) -> Option<&'a str> {
        self.find(|a| if let AttributeRef::Nonce(s) = a { Some(s) } else { None })
    }

    /// ERROR-CODE as (code, reason phrase).
    pub fn error_code(&self) -> Option<(u16, &'a str)> {
        self.find(|a| match a {
            AttributeRef::ErrorCode { code, reason } => Some((code, reason)),
            _ => None,
        })
    }

    pub fn xor_mapped_address(&self) -> Option<SocketAddrV4> {
        self.find(|a| if let AttributeRef::XorMappedAddress(s) = a { Some(s) } else { None })
    }

    pub fn xor_relayed_address(&self) -> Option<SocketAddrV4> {
        self.find(|a| if let AttributeRef::XorRelayedAddress(s) = a { Some(s) } else { None })
    }

    /// Every IPv4 XOR-PEER-ADDRESS (CreatePermission may carry several, RFC 8656 §9.1).
    pub fn xor_peer_addresses(&self) -> impl Iterator<Item = SocketAddrV4> + use<'_, 'a> {
        self.attributes().filter_map(|a| if let AttributeRef::XorPeerAddress(s) = a { Some(s) } else { None })
    }

    /// The first IPv4 XOR-PEER-ADDRESS.
    pub fn xor_peer_address(&self) -> Option<SocketAddrV4> {
        self.xor_peer_addresses().next()
    }

    /// Whether some XOR-PEER-ADDRESS holds an address we do not model (IPv6).
    pub fn has_ipv6_peer(&self) -> bool {
        self.attributes().any(|a| matches!(a, AttributeRef::Other { typ: types::XOR_PEER_ADDRESS, .. }))
    }

    /// LIFETIME in seconds.
    pub fn lifetime(&self) -> Option<u32> {
        self.find(|a| if let AttributeRef::Lifetime(s) = a { Some(s) } else { None })
    }

    pub fn data(&self) -> Option<&'a [u8]> {
        self.find(|a| if let AttributeRef::Data(d) = a { Some(d) } else { None })
    }

    pub fn channel_number(&self) -> Option<u16> {
        self.find(|a| if let AttributeRef::ChannelNumber(c) = a { Some(c) } else { None })
    }

    pub fn requested_transport(&self) -> Option<u8> {
        self.find(|a| if let AttributeRef::RequestedTransport(p) = a { Some(p) } else { None })
    }

    pub fn priority(&self) -> Option<u32> {
        self.find(|a| if let AttributeRef::Priority(p) = a { Some(p) } else { None })
    }

    /// Whether the message carries MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256.
    pub fn has_integrity(&self) -> bool {
        self.attributes()
            .any(|a| matches!(a, AttributeRef::MessageIntegrity(_) | AttributeRef::MessageIntegritySha256(_)))
    }
}

/// The attributes of a `MessageView` that count, in wire order: those it keeps decoded, or
/// (for a message with more of them) decoded again from its bytes.
pub struct Attributes<'v, 'a>(Source<'v, 'a>);

enum Source<'v, 'a> {
    Inline(std::slice::Iter<'v, AttributeRef<'a>>),
    Walk(Kept<'a>),
}

impl<'a> Iterator for Attributes<'_, 'a> {
    type Item = AttributeRef<'a>;

    fn next(&mut self) -> Option<AttributeRef<'a>> {
        match &mut self.0 {
            Source::Inline(it) => it.next().copied(),
            // `decode` accepted every one of them, so none is dropped here.
            Source::Walk(kept) => kept.find_map(|raw| AttributeRef::decode(raw.typ, raw.value).ok()),
        }
    }
}

/// Writes a STUN message straight into its buffer: the header, then each attribute as it is
/// added (typed, or text and bytes borrowed from the caller), then MESSAGE-INTEGRITY and
/// FINGERPRINT. No `Message` or attribute list is built, so a request costs one allocation.
/// The first attribute that cannot be encoded is the error `finish` returns, as `encode`
/// would have.
#[derive(Debug)]
pub struct MessageWriter {
    buf: Vec<u8>,
    error: Option<EncodeError>,
}

/// Appends a message header with a zero length (`set_body_length` fills it in at the end).
fn put_header(buf: &mut Vec<u8>, class: Class, method: Method, transaction_id: TransactionId) {
    buf.extend_from_slice(&message_type(class, method).to_be_bytes());
    buf.extend_from_slice(&[0, 0]);
    buf.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    buf.extend_from_slice(&transaction_id.0);
}

impl MessageWriter {
    /// A message with room for `body` bytes of attributes plus MESSAGE-INTEGRITY (24) and
    /// FINGERPRINT (8), so a right guess allocates once.
    pub fn new(class: Class, method: Method, transaction_id: TransactionId, body: usize) -> MessageWriter {
        let mut buf = Vec::with_capacity(HEADER_LEN + body + 32);
        put_header(&mut buf, class, method, transaction_id);
        MessageWriter { buf, error: None }
    }

    fn record(&mut self, r: Result<(), EncodeError>) -> &mut MessageWriter {
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
        self
    }

    /// Appends a typed attribute.
    pub fn attribute(&mut self, a: &Attribute) -> &mut MessageWriter {
        if self.error.is_none() {
            let r = a.encode_into(&mut self.buf);
            self.record(r);
        }
        self
    }

    /// Appends an attribute of type `typ` whose value is `value` as given (USERNAME, REALM,
    /// NONCE, SOFTWARE, DATA from borrowed text or bytes).
    pub fn raw(&mut self, typ: u16, value: &[u8]) -> &mut MessageWriter {
        if self.error.is_none() {
            let r = encode_raw(&mut self.buf, typ, value);
            self.record(r);
        }
        self
    }

    /// Appends ERROR-CODE with `reason` (RFC 8489 §14.8).
    pub fn error_code(&mut self, code: u16, reason: &str) -> &mut MessageWriter {
        if self.error.is_none() {
            let r = encode_error_code(&mut self.buf, code, reason);
            self.record(r);
        }
        self
    }

    /// The message `new`, `attribute` for each of `head`, `raw(typ, &value)` and
    /// `finish(None, false)` write, built in `value`'s own buffer: the value's bytes move up
    /// behind the header instead of being copied into a new allocation. A relay turns every
    /// datagram it forwards into a message (a TURN Data indication), so this saves an
    /// allocation and a copy into cold memory per packet. Errors are the writer's, in its
    /// order (a bad attribute, then a value or message too long); the buffer is dropped then.
    pub fn wrap(
        value: Vec<u8>,
        class: Class,
        method: Method,
        transaction_id: TransactionId,
        head: &[Attribute],
        typ: u16,
    ) -> Result<Vec<u8>, EncodeError> {
        let len = value.len();
        let head_len: usize = head.iter().map(|a| 4 + pad4(a.value_len())).sum();
        let mut b = value;
        // Exactly what the message needs: a buffer that arrived full (a datagram encoded to
        // its length) would otherwise double.
        b.reserve_exact(HEADER_LEN + head_len + 4 + pad4(len) - len);
        // The header and the leading attributes are written after the value, then rotated to
        // the front: a rotation by a short prefix moves the value once, as the copy into a new
        // buffer did, and needs no second buffer.
        put_header(&mut b, class, method, transaction_id);
        for a in head {
            a.encode_into(&mut b)?;
        }
        let len16 = u16::try_from(len).map_err(|_| EncodeError::ValueTooLong { typ, len })?;
        b.extend_from_slice(&typ.to_be_bytes());
        b.extend_from_slice(&len16.to_be_bytes());
        let prefix = b.len() - len;
        b.rotate_right(prefix);
        b.resize(prefix + pad4(len), 0);
        set_body_length(&mut b, prefix + pad4(len) - HEADER_LEN)?;
        Ok(b)
    }

    /// The message's bytes, with MESSAGE-INTEGRITY computed with `key` (if given) and
    /// FINGERPRINT (if asked) appended, as `Message::encode_with`.
    pub fn finish(self, key: Option<&IntegrityKey>, fingerprint: bool) -> Result<Vec<u8>, EncodeError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut b = self.buf;
        let body = b.len() - HEADER_LEN;
        set_body_length(&mut b, body)?;
        if let Some(key) = key {
            integrity::append_integrity(&mut b, key)?;
        }
        if fingerprint {
            integrity::append_fingerprint(&mut b)?;
        }
        Ok(b)
    }
}

/// The 16-bit message type: M11..M7 C1 M6..M4 C0 M3..M0, top two bits zero (RFC 8489 §5).
pub fn message_type(class: Class, method: Method) -> u16 {
    let m = method.0;
    let c = class.bits();
    (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 0b01) << 4) | ((c & 0b10) << 7)
}

/// Splits a message type into class and method; the top two bits are ignored.
pub fn split_message_type(t: u16) -> (Class, Method) {
    let method = (t & 0x000F) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0F80);
    let class = match ((t >> 7) & 0b10) | ((t >> 4) & 0b01) {
        0b00 => Class::Request,
        0b01 => Class::Indication,
        0b10 => Class::Success,
        _ => Class::Error,
    };
    (class, Method(method))
}

/// One attribute as found on the wire: its offset from the start of the message body.
pub(crate) struct RawAttribute<'a> {
    pub offset: usize,
    pub typ: u16,
    pub value: &'a [u8],
}

/// Where in the trailing attributes a decoder is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tail {
    Open,
    AfterIntegrity,
    AfterIntegritySha256,
    AfterFingerprint,
}

/// Checks the header against RFC 8489 §5 and the byte count.
pub(crate) fn parse_header(b: &[u8]) -> Result<(Class, Method, TransactionId), ParseError> {
    let (Some(header), Some(tid)) = (b.get(..8), b.get(8..HEADER_LEN)) else {
        return Err(ParseError::Truncated { needed: HEADER_LEN, have: b.len() });
    };
    // RFC 8489 §5: the most significant 2 bits of every STUN message MUST be zeroes.
    if header[0] & 0xC0 != 0 {
        return Err(ParseError::NotStun(header[0]));
    }
    let cookie = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if cookie != MAGIC_COOKIE {
        return Err(ParseError::NoMagicCookie(cookie));
    }
    let declared = u16::from_be_bytes([header[2], header[3]]) as usize;
    if !declared.is_multiple_of(4) {
        return Err(ParseError::UnalignedLength(declared));
    }
    if declared != b.len() - HEADER_LEN {
        return Err(ParseError::LengthMismatch { declared, actual: b.len() - HEADER_LEN });
    }
    let mut id = [0u8; 12];
    id.copy_from_slice(tid);
    let (class, method) = split_message_type(u16::from_be_bytes([header[0], header[1]]));
    Ok((class, method, TransactionId(id)))
}

/// Walks the attributes of a message whose header `parse_header` accepted. The framing of
/// every attribute is checked before the first is handed out, so an overrun anywhere is
/// reported before anything is decoded.
pub(crate) fn raw_attributes(b: &[u8]) -> Result<RawAttributes<'_>, ParseError> {
    let body = b.get(HEADER_LEN..).unwrap_or_default();
    let (mut pos, mut count) = (0, 0);
    while pos < body.len() {
        pos += 4 + pad4(next_raw(body, pos)?.value.len());
        count += 1;
    }
    Ok(RawAttributes { body, pos: 0, left: count })
}

/// The attribute at body offset `pos` (which is inside `body`), its framing checked.
fn next_raw(body: &[u8], pos: usize) -> Result<RawAttribute<'_>, ParseError> {
    let Some(h) = body.get(pos..pos + 4) else {
        return Err(ParseError::Truncated { needed: HEADER_LEN + pos + 4, have: HEADER_LEN + body.len() });
    };
    let typ = u16::from_be_bytes([h[0], h[1]]);
    let len = u16::from_be_bytes([h[2], h[3]]) as usize;
    // The padded value must fit; padding bytes are ignored (RFC 8489 §14).
    if pos + 4 + pad4(len) > body.len() {
        return Err(ParseError::AttributeOverrun { typ, offset: HEADER_LEN + pos });
    }
    Ok(RawAttribute { offset: pos, typ, value: &body[pos + 4..pos + 4 + len] })
}

/// The attributes of a message body whose framing `raw_attributes` checked, in wire order.
pub(crate) struct RawAttributes<'a> {
    body: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> Iterator for RawAttributes<'a> {
    type Item = RawAttribute<'a>;

    fn next(&mut self) -> Option<RawAttribute<'a>> {
        let h = self.body.get(self.pos..self.pos + 4)?;
        let typ = u16::from_be_bytes([h[0], h[1]]);
        let len = u16::from_be_bytes([h[2], h[3]]) as usize;
        let raw = RawAttribute { offset: self.pos, typ, value: &self.body[self.pos + 4..self.pos + 4 + len] };
        self.pos += 4 + pad4(len);
        self.left -= 1;
        Some(raw)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// The attributes a receiver acts on, in wire order: RFC 8489 §14.5, §14.6: agents MUST
/// ignore attributes that follow MESSAGE-INTEGRITY(-SHA256), except MESSAGE-INTEGRITY-SHA256
/// after MESSAGE-INTEGRITY and FINGERPRINT; §14.7: FINGERPRINT is last.
pub(crate) struct Kept<'a> {
    raw: RawAttributes<'a>,
    tail: Tail,
}

impl<'a> Kept<'a> {
    fn new(raw: RawAttributes<'a>) -> Kept<'a> {
        Kept { raw, tail: Tail::Open }
    }
}

impl<'a> Iterator for Kept<'a> {
    type Item = RawAttribute<'a>;

    fn next(&mut self) -> Option<RawAttribute<'a>> {
        loop {
            let raw = self.raw.next()?;
            if self.tail.keeps(raw.typ) {
                return Some(raw);
            }
        }
    }
}

impl Tail {
    /// Whether an attribute of type `typ` that comes next counts, and moves past it.
    fn keeps(&mut self, typ: u16) -> bool {
        match (*self, typ) {
            (Tail::Open, types::MESSAGE_INTEGRITY) => {
                *self = Tail::AfterIntegrity;
                true
            }
            (Tail::Open | Tail::AfterIntegrity, types::MESSAGE_INTEGRITY_SHA256) => {
                *self = Tail::AfterIntegritySha256;
                true
            }
            (Tail::Open | Tail::AfterIntegrity | Tail::AfterIntegritySha256, types::FINGERPRINT) => {
                *self = Tail::AfterFingerprint;
                true
            }
            (Tail::Open, _) => true,
            _ => false,
        }
    }
}

/// Writes the body length into bytes 2–3 of an encoded message.
pub(crate) fn set_body_length(b: &mut [u8], body: usize) -> Result<(), EncodeError> {
    let len = u16::try_from(body).map_err(|_| EncodeError::MessageTooLong(body))?;
    if let Some(field) = b.get_mut(2..4) {
        field.copy_from_slice(&len.to_be_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_encoding_matches_rfc_examples() {
        // RFC 8489 §5: Binding request 0x0001, success 0x0101, error 0x0111; RFC 8656: Allocate
        // request 0x0003, Data indication 0x0017.
        assert_eq!(message_type(Class::Request, Method::BINDING), 0x0001);
        assert_eq!(message_type(Class::Success, Method::BINDING), 0x0101);
        assert_eq!(message_type(Class::Error, Method::BINDING), 0x0111);
        assert_eq!(message_type(Class::Indication, Method::DATA), 0x0017);
        assert_eq!(message_type(Class::Error, Method::ALLOCATE), 0x0113);
        for m in [0u16, 1, 0x0F, 0x70, 0x80, 0xABC, 0xFFF] {
            for c in [Class::Request, Class::Indication, Class::Success, Class::Error] {
                let method = Method::new(m).unwrap();
                assert_eq!(split_message_type(message_type(c, method)), (c, method));
            }
        }
        assert_eq!(Method::new(0x1000), None);
    }

    #[test]
    fn header_checks() {
        let m = Message::request(Method::BINDING, TransactionId([1; 12]));
        let b = m.encode().unwrap();
        assert_eq!(b.len(), HEADER_LEN);
        assert_eq!(Message::decode(&b).unwrap(), m);
        let mut bad = b.clone();
        bad[0] = 0x40;
        assert_eq!(Message::decode(&bad), Err(ParseError::NotStun(0x40)));
        let mut bad = b.clone();
        bad[4] = 0;
        assert!(matches!(Message::decode(&bad), Err(ParseError::NoMagicCookie(_))));
        let mut bad = b.clone();
        bad[3] = 2;
        assert_eq!(Message::decode(&bad), Err(ParseError::UnalignedLength(2)));
        let mut long = b.clone();
        long.extend_from_slice(&[0; 4]);
        assert_eq!(Message::decode(&long), Err(ParseError::LengthMismatch { declared: 0, actual: 4 }));
        assert!(matches!(Message::decode(&b[..19]), Err(ParseError::Truncated { .. })));
    }

    #[test]
    fn attribute_overrun_is_an_error() {
        let mut b = Message::request(Method::BINDING, TransactionId([1; 12])).encode().unwrap();
        b.extend_from_slice(&[0x80, 0x22, 0x00, 0x09, b'a', b'b', b'c', b'd']);
        b[3] = 8;
        assert_eq!(Message::decode(&b), Err(ParseError::AttributeOverrun { typ: 0x8022, offset: 20 }));
    }

    #[test]
    fn attributes_after_integrity_are_ignored() {
        let key = IntegrityKey::short_term("pw");
        let m = Message::request(Method::BINDING, TransactionId([3; 12])).with(Attribute::Priority(5));
        let mut b = m.encode_with(Some(&key), false).unwrap();
        // An attacker appends XOR-PEER-ADDRESS after MESSAGE-INTEGRITY.
        Attribute::XorPeerAddress("1.2.3.4:5".parse().unwrap()).encode_into(&mut b).unwrap();
        let len = b.len() - HEADER_LEN;
        set_body_length(&mut b, len).unwrap();
        let d = Message::decode(&b).unwrap();
        assert_eq!(d.attributes.len(), 2);
        assert!(d.xor_peer_addresses().is_empty());
        assert_eq!(integrity::verify_integrity(&b, &key), Ok(()));
    }

    #[test]
    fn unknown_comprehension_required_are_listed() {
        let m = Message::request(Method::ALLOCATE, TransactionId::default())
            .with(Attribute::Other { typ: 0x001A, value: vec![] })
            .with(Attribute::Other { typ: 0x8030, value: vec![1] })
            .with(Attribute::Other { typ: types::XOR_PEER_ADDRESS, value: vec![0; 20] });
        assert_eq!(m.unknown_comprehension_required(), vec![0x001A]);
    }

    #[test]
    fn view_reads_what_decode_keeps() {
        let key = IntegrityKey::short_term("pw");
        let v6 = vec![0u8, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let m = Message::request(Method::CREATE_PERMISSION, TransactionId([7; 12]))
            .with(Attribute::Other { typ: types::XOR_PEER_ADDRESS, value: v6 })
            .with(Attribute::XorPeerAddress("192.0.2.1:1000".parse().unwrap()))
            .with(Attribute::XorPeerAddress("192.0.2.2:2000".parse().unwrap()))
            .with(Attribute::Username("user".into()))
            .with(Attribute::Realm("realm".into()))
            .with(Attribute::Nonce("nonce".into()))
            .with(Attribute::ErrorCode { code: 438, reason: "Stale Nonce".into() })
            .with(Attribute::Lifetime(600))
            .with(Attribute::Other { typ: 0x0030, value: vec![1, 2, 3] });
        let mut b = m.encode_with(Some(&key), false).unwrap();
        // Ignored: after MESSAGE-INTEGRITY.
        Attribute::Priority(9).encode_into(&mut b).unwrap();
        let len = b.len() - HEADER_LEN;
        set_body_length(&mut b, len).unwrap();
        integrity::append_fingerprint(&mut b).unwrap();

        let owned = Message::decode(&b).unwrap();
        let view = MessageView::decode(&b).unwrap();
        assert_eq!(view.to_message(), owned);
        assert_eq!(view.attributes().count(), owned.attributes.len());
        assert_eq!(view.username(), owned.username());
        assert_eq!(view.realm(), owned.realm());
        assert_eq!(view.nonce(), owned.nonce());
        assert_eq!(view.error_code(), owned.error_code());
        assert_eq!(view.lifetime(), owned.lifetime());
        assert_eq!(view.xor_peer_addresses().collect::<Vec<_>>(), owned.xor_peer_addresses());
        assert_eq!(view.xor_peer_address(), owned.xor_peer_addresses().first().copied());
        assert!(view.has_ipv6_peer());
        assert_eq!(view.priority(), None, "PRIORITY after MESSAGE-INTEGRITY is ignored");
        assert_eq!(view.unknown_comprehension_required(), owned.unknown_comprehension_required());
        assert!(view.has_integrity() && view.has(types::FINGERPRINT));
        assert_eq!(view.bytes(), &b[..]);
        assert_eq!(view.verify_integrity(&key), Ok(()));
        let wrong = IntegrityKey::short_term("wrong");
        assert_eq!(view.verify_integrity(&wrong), integrity::verify_integrity(&b, &wrong));

        let mut bad = b.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(MessageView::decode(&bad).err(), Message::decode(&bad).err());
    }

    #[test]
    fn view_finds_the_integrity_that_counts() {
        let key = IntegrityKey::short_term("pw");
        let m = Message::request(Method::BINDING, TransactionId([6; 12])).with(Attribute::Priority(1));
        // None; one; one after FINGERPRINT (ignored); a second after the first (ignored).
        let plain = m.encode_with(None, true).unwrap();
        let signed = m.encode_with(Some(&key), true).unwrap();
        let mut late = plain.clone();
        integrity::append_integrity(&mut late, &key).unwrap();
        let mut twice = m.encode_with(Some(&key), false).unwrap();
        integrity::append_integrity(&mut twice, &IntegrityKey::short_term("other")).unwrap();
        for b in [plain, signed, late, twice] {
            let view = MessageView::decode(&b).unwrap();
            for k in [&key, &IntegrityKey::short_term("other")] {
                assert_eq!(view.verify_integrity(k), integrity::verify_integrity(&b, k));
            }
        }
    }

    #[test]
    fn view_of_a_long_message_decodes_again_when_asked() {
        let mut m = Message::request(Method::CREATE_PERMISSION, TransactionId([8; 12]));
        for i in 0..2 * INLINE_ATTRIBUTES as u8 {
            m = m.with(Attribute::XorPeerAddress(SocketAddrV4::new([192, 0, 2, i].into(), 1000)));
        }
        m = m.with(Attribute::Software("long".into()));
        let b = m.encode_with(None, true).unwrap();
        let view = MessageView::decode(&b).unwrap();
        assert_eq!(view.kept, None);
        assert_eq!(view.to_message(), Message::decode(&b).unwrap());
        assert_eq!(view.xor_peer_addresses().count(), 2 * INLINE_ATTRIBUTES);
        assert_eq!(view.attribute(types::SOFTWARE), Some(AttributeRef::Software("long")));
        assert!(view.has(types::FINGERPRINT));
    }

    #[test]
    fn writer_writes_what_encode_writes() {
        let key = IntegrityKey::short_term("pw");
        let tid = TransactionId([4; 12]);
        let m = Message::new(Class::Error, Method::ALLOCATE, tid)
            .with(Attribute::ErrorCode { code: 401, reason: "Unauthorized".into() })
            .with(Attribute::Realm("example.org".into()))
            .with(Attribute::Data(vec![1, 2, 3, 4, 5]))
            .with(Attribute::Lifetime(30));
        let mut w = MessageWriter::new(Class::Error, Method::ALLOCATE, tid, 0);
        w.error_code(401, "Unauthorized")
            .raw(types::REALM, b"example.org")
            .raw(types::DATA, &[1, 2, 3, 4, 5])
            .attribute(&Attribute::Lifetime(30));
        assert_eq!(w.finish(Some(&key), true), m.encode_with(Some(&key), true));

        let mut w = MessageWriter::new(Class::Error, Method::ALLOCATE, tid, 0);
        w.error_code(200, "OK").raw(types::DATA, &[0; 70_000]);
        assert_eq!(w.finish(None, false), Err(EncodeError::ErrorCodeOutOfRange(200)), "the first error is reported");
    }

    #[test]
    fn wrap_writes_what_the_writer_writes() {
        let tid = TransactionId([7; 12]);
        let peer: SocketAddrV4 = "192.0.2.7:40000".parse().unwrap();
        let writer = |head: &[Attribute], value: &[u8]| {
            let mut w = MessageWriter::new(Class::Indication, Method::DATA, tid, 0);
            for a in head {
                w.attribute(a);
            }
            w.raw(types::DATA, value);
            w.finish(None, false)
        };
        let heads: [&[Attribute]; 3] =
            [&[], &[Attribute::XorPeerAddress(peer)], &[Attribute::Lifetime(9), Attribute::XorPeerAddress(peer)]];
        for head in heads {
            // Every padding (0–3 bytes), and lengths a relay sees (audio and video packets).
            for len in (0..=9).chain([112, 172, 1212]) {
                let value: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5a).collect();
                // A buffer with exactly the value's length and one with room to spare.
                let mut roomy = Vec::with_capacity(len + 100);
                roomy.extend_from_slice(&value);
                for buf in [value.clone(), roomy] {
                    let wrapped = MessageWriter::wrap(buf, Class::Indication, Method::DATA, tid, head, types::DATA);
                    assert_eq!(wrapped, writer(head, &value), "{len} bytes after {} attributes", head.len());
                }
            }
        }
        let long = vec![0; 70_000];
        let wrapped = MessageWriter::wrap(long.clone(), Class::Indication, Method::DATA, tid, &[], types::DATA);
        assert_eq!(wrapped, writer(&[], &long));
        assert_eq!(wrapped, Err(EncodeError::ValueTooLong { typ: types::DATA, len: 70_000 }));
        let bad = [Attribute::ErrorCode { code: 200, reason: "OK".into() }];
        let wrapped = MessageWriter::wrap(long.clone(), Class::Indication, Method::DATA, tid, &bad, types::DATA);
        assert_eq!(wrapped, writer(&bad, &long), "the first error is reported");
        let big = vec![0; 65_530];
        let wrapped = MessageWriter::wrap(big.clone(), Class::Indication, Method::DATA, tid, &[], types::DATA);
        assert_eq!(wrapped, writer(&[], &big));
        assert!(matches!(wrapped, Err(EncodeError::MessageTooLong(_))));
    }

    #[test]
    fn derived_transaction_ids_differ() {
        let a = TransactionId::derive(42, 0);
        let b = TransactionId::derive(42, 1);
        let c = TransactionId::derive(43, 0);
        assert!(a != b && a != c && b != c);
        assert_eq!(TransactionId::derive(42, 1), b, "derivation is deterministic");
    }
}
