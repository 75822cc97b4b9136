//! MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT (RFC 8489 §9, §14.5–14.7).
//!
//! Keys come from short-term credentials (the password) or long-term credentials
//! (MD5 of `username:realm:password`). Passwords are used as given: SASLprep/OpaqueString
//! (RFC 8489 §9.2.2, RFC 8265) is not applied, so callers must hand in prepared strings; every
//! credential the simulator makes is ASCII, for which the preparation is the identity.
//! Hashes are the RustCrypto crates'; CRC-32 is crc32fast's.

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;
use sha2::Sha256;

use super::attribute::types;
use super::error::{EncodeError, IntegrityError};
use super::message::{HEADER_LEN, parse_header, raw_attributes, set_body_length};

/// The value XORed into the CRC-32 of FINGERPRINT (RFC 8489 §14.7).
pub const FINGERPRINT_XOR: u32 = 0x5354_554E;

/// The key for MESSAGE-INTEGRITY(-SHA256), with the HMAC-SHA1 state keyed once (its inner
/// and outer pads already hashed), so each message costs only its own blocks. A key of up
/// to 64 bytes (every long-term key, and ICE passwords of the usual length) is held in
/// place: making or copying one allocates nothing and shares no counter.
#[derive(Clone)]
pub struct IntegrityKey {
    bytes: KeyBytes,
    sha1: HmacSha1,
}

/// A key's bytes: in place up to `INLINE_KEY` bytes, else on the heap.
#[derive(Clone)]
enum KeyBytes {
    Inline { len: u8, buf: [u8; INLINE_KEY] },
    Heap(Box<[u8]>),
}

/// The longest key held in place: one SHA-1 block (a longer HMAC key is hashed first).
const INLINE_KEY: usize = 64;

impl KeyBytes {
    fn new(key: &[u8]) -> KeyBytes {
        match key.len() {
            n @ 0..=INLINE_KEY => {
                let mut buf = [0u8; INLINE_KEY];
                buf[..n].copy_from_slice(key);
                KeyBytes::Inline { len: n as u8, buf }
            }
            _ => KeyBytes::Heap(key.into()),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            KeyBytes::Inline { len, buf } => &buf[..usize::from(*len)],
            KeyBytes::Heap(b) => b,
        }
    }
}

/// HMAC-SHA1 (RFC 2104) over the SHA-1 compression function of the `sha1` crate, with the
/// key's inner and outer pads hashed once. A STUN message is a few blocks, so a MAC is
/// three or four compressions; doing the padding here on a stack block, rather than through
/// the generic `Mac` wrapper (a copy of its whole keyed state per message, then its
/// buffered finalisation), saves about as much again.
#[derive(Clone)]
struct HmacSha1 {
    /// SHA-1 state after the block `key ^ ipad`.
    inner: [u32; 5],
    /// SHA-1 state after the block `key ^ opad`.
    outer: [u32; 5],
}

/// SHA-1's initial state (FIPS 180-4 §5.3.1).
const SHA1_H0: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];

impl HmacSha1 {
    fn new(key: &[u8]) -> HmacSha1 {
        // RFC 2104 §2: a key longer than the block is hashed first, then zero-padded.
        let mut block = [0u8; 64];
        if key.len() > 64 {
            block[..20].copy_from_slice(&Sha1::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let keyed = |pad: u8| {
            let mut state = SHA1_H0;
            sha1::block_api::compress(&mut state, &[block.map(|b| b ^ pad)]);
            state
        };
        HmacSha1 { inner: keyed(0x36), outer: keyed(0x5c) }
    }

    /// The MAC of `parts` joined.
    fn mac(&self, parts: &[&[u8]]) -> [u8; 20] {
        let mut state = self.inner;
        let mut block = [0u8; 64];
        let mut used = 0;
        let mut len = 64u64; // the inner pad's block
        for part in parts {
            len += part.len() as u64;
            let mut rest = *part;
            if used > 0 {
                // Top up the block a previous part began.
                let n = rest.len().min(64 - used);
                block[used..used + n].copy_from_slice(&rest[..n]);
                (used, rest) = (used + n, &rest[n..]);
                if used < 64 {
                    continue;
                }
                sha1::block_api::compress(&mut state, &[block]);
            }
            // Whole blocks straight from the message, the rest into the block.
            let (blocks, tail) = rest.as_chunks::<64>();
            if !blocks.is_empty() {
                sha1::block_api::compress(&mut state, blocks);
            }
            block[..tail.len()].copy_from_slice(tail);
            used = tail.len();
        }
        // SHA-1 padding (FIPS 180-4 §5.1.1): 0x80, zeros, the length in bits.
        block[used] = 0x80;
        block[used + 1..].fill(0);
        if used >= 56 {
            sha1::block_api::compress(&mut state, &[block]);
            block = [0u8; 64];
        }
        block[56..].copy_from_slice(&(len * 8).to_be_bytes());
        sha1::block_api::compress(&mut state, &[block]);
        // The outer hash: its pad's block, then the inner digest in one padded block.
        let mut block = [0u8; 64];
        for (i, word) in state.iter().enumerate() {
            block[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
        }
        block[20] = 0x80;
        block[56..].copy_from_slice(&((64u64 + 20) * 8).to_be_bytes());
        let mut state = self.outer;
        sha1::block_api::compress(&mut state, &[block]);
        let mut tag = [0u8; 20];
        for (i, word) in state.iter().enumerate() {
            tag[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
        }
        tag
    }
}

impl PartialEq for IntegrityKey {
    fn eq(&self, other: &IntegrityKey) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for IntegrityKey {}

impl IntegrityKey {
    fn new(bytes: &[u8]) -> IntegrityKey {
        IntegrityKey { bytes: KeyBytes::new(bytes), sha1: HmacSha1::new(bytes) }
    }

    /// Short-term credentials: key = password (RFC 8489 §9.1.1; SASLprep not applied).
    pub fn short_term(password: &str) -> IntegrityKey {
        IntegrityKey::new(password.as_bytes())
    }

    /// Long-term credentials: key = MD5(username ":" realm ":" password) (RFC 8489 §9.2.2,
    /// the MD5 password algorithm; SASLprep not applied).
    pub fn long_term(username: &str, realm: &str, password: &str) -> IntegrityKey {
        let mut h = Md5::new();
        h.update(username.as_bytes());
        h.update(b":");
        h.update(realm.as_bytes());
        h.update(b":");
        h.update(password.as_bytes());
        IntegrityKey::new(&h.finalize())
    }

    /// Long-term credentials with the SHA-256 password algorithm: key =
    /// SHA-256(username ":" realm ":" password) (RFC 8489 §9.2.2, §18.5.1).
    pub fn long_term_sha256(username: &str, realm: &str, password: &str) -> IntegrityKey {
        let mut h = Sha256::new();
        h.update(username.as_bytes());
        h.update(b":");
        h.update(realm.as_bytes());
        h.update(b":");
        h.update(password.as_bytes());
        IntegrityKey::new(&h.finalize())
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }
}

impl std::fmt::Debug for IntegrityKey {
    /// Keys are secrets: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IntegrityKey(..)")
    }
}

/// Checks the MESSAGE-INTEGRITY (HMAC-SHA1) of a whole encoded message with `key`.
///
/// The HMAC covers the message up to the attribute, with the header length adjusted to end
/// at it (RFC 8489 §14.5), so FINGERPRINT or MESSAGE-INTEGRITY-SHA256 may follow; any other
/// attribute after it is ignored, as decoding ignores it.
pub fn verify_integrity(bytes: &[u8], key: &IntegrityKey) -> Result<(), IntegrityError> {
    let (offset, tag) = find_integrity(bytes, types::MESSAGE_INTEGRITY)?;
    verify_at(bytes, key, offset, tag)
}

/// Checks `tag`, the value of the MESSAGE-INTEGRITY at body offset `offset` of `bytes`.
pub(crate) fn verify_at(bytes: &[u8], key: &IntegrityKey, offset: usize, tag: &[u8]) -> Result<(), IntegrityError> {
    let length = ((offset + 4 + 20) as u16).to_be_bytes();
    let expected = if bytes.get(2..4) == Some(&length[..]) {
        // MESSAGE-INTEGRITY ends the length (no FINGERPRINT after it): one slice.
        key.sha1.mac(&[bytes.get(..HEADER_LEN + offset).unwrap_or_default()])
    } else {
        let (kind, rest) = (bytes.get(..2).unwrap_or_default(), bytes.get(4..HEADER_LEN + offset).unwrap_or_default());
        key.sha1.mac(&[kind, &length, rest])
    };
    // Compared in constant time, as `Mac::verify_slice` does.
    let diff = expected.iter().zip(tag).fold(0u8, |d, (a, b)| d | (a ^ b));
    if tag.len() == expected.len() && diff == 0 { Ok(()) } else { Err(IntegrityError::Mismatch) }
}

/// Checks MESSAGE-INTEGRITY-SHA256, which may be truncated to 16 bytes (RFC 8489 §14.6).
pub fn verify_integrity_sha256(bytes: &[u8], key: &IntegrityKey) -> Result<(), IntegrityError> {
    let (offset, tag) = find_integrity(bytes, types::MESSAGE_INTEGRITY_SHA256)?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length");
    feed_prefix(&mut mac, bytes, offset, tag.len());
    mac.verify_truncated_left(tag).map_err(|_| IntegrityError::Mismatch)
}

/// The FINGERPRINT value for a message whose FINGERPRINT attribute starts at body offset
/// `offset`: CRC-32 of everything before it, with the header length counting it (§14.7).
pub fn fingerprint_over(bytes: &[u8], offset: usize) -> u32 {
    let length = ((offset + 8) as u16).to_be_bytes();
    let mut h = crc32fast::Hasher::new();
    if bytes.get(2..4) == Some(&length[..]) {
        // FINGERPRINT is the last attribute (always, for what we send): the header already
        // says so, and the CRC runs over one slice.
        h.update(bytes.get(..HEADER_LEN + offset).unwrap_or_default());
    } else {
        h.update(bytes.get(..2).unwrap_or_default());
        h.update(&length);
        h.update(bytes.get(4..HEADER_LEN + offset).unwrap_or_default());
    }
    h.finalize() ^ FINGERPRINT_XOR
}

/// Appends MESSAGE-INTEGRITY over an encoded message (RFC 8489 §14.5).
pub(crate) fn append_integrity(b: &mut Vec<u8>, key: &IntegrityKey) -> Result<(), EncodeError> {
    let offset = b.len() - HEADER_LEN;
    set_body_length(b, offset + 4 + 20)?;
    let tag = key.sha1.mac(&[b]);
    b.extend_from_slice(&types::MESSAGE_INTEGRITY.to_be_bytes());
    b.extend_from_slice(&20u16.to_be_bytes());
    b.extend_from_slice(&tag);
    Ok(())
}

/// Appends a full-length (32-byte) MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6).
pub(crate) fn append_integrity_sha256(b: &mut Vec<u8>, key: &IntegrityKey) -> Result<(), EncodeError> {
    let offset = b.len() - HEADER_LEN;
    set_body_length(b, offset + 4 + 32)?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(b);
    let tag = mac.finalize().into_bytes();
    b.extend_from_slice(&types::MESSAGE_INTEGRITY_SHA256.to_be_bytes());
    b.extend_from_slice(&32u16.to_be_bytes());
    b.extend_from_slice(&tag);
    Ok(())
}

/// Appends FINGERPRINT as the last attribute (RFC 8489 §14.7).
pub(crate) fn append_fingerprint(b: &mut Vec<u8>) -> Result<(), EncodeError> {
    let offset = b.len() - HEADER_LEN;
    set_body_length(b, offset + 8)?;
    let crc = fingerprint_over(b, offset);
    b.extend_from_slice(&types::FINGERPRINT.to_be_bytes());
    b.extend_from_slice(&4u16.to_be_bytes());
    b.extend_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Finds the integrity attribute `typ` that counts: the first one, provided nothing that
/// makes it ignored (an earlier MESSAGE-INTEGRITY-SHA256 or FINGERPRINT) precedes it.
fn find_integrity(bytes: &[u8], typ: u16) -> Result<(usize, &[u8]), IntegrityError> {
    parse_header(bytes)?;
    let mut after_sha1 = false;
    for raw in raw_attributes(bytes)? {
        match raw.typ {
            t if t == typ => return Ok((raw.offset, raw.value)),
            types::MESSAGE_INTEGRITY => after_sha1 = true,
            types::MESSAGE_INTEGRITY_SHA256 | types::FINGERPRINT => break,
            _ if after_sha1 => break,
            _ => {}
        }
    }
    Err(IntegrityError::Missing)
}

/// Feeds the HMAC the message up to body offset `offset`, with the header length set to end
/// after an attribute of `tag_len` value bytes at that offset.
fn feed_prefix<M: Mac>(mac: &mut M, bytes: &[u8], offset: usize, tag_len: usize) {
    mac.update(bytes.get(..2).unwrap_or_default());
    mac.update(&((offset + 4 + tag_len) as u16).to_be_bytes());
    mac.update(bytes.get(4..HEADER_LEN + offset).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::stun::{Attribute, Message, Method, TransactionId};

    #[test]
    fn hmac_sha1_matches_the_hmac_crate() {
        // Keys shorter than, equal to and longer than the block; messages around every
        // padding boundary, fed whole and in parts.
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for key_len in [0, 1, 16, 20, 63, 64, 65, 100] {
            let key = &data[..key_len];
            let ours = HmacSha1::new(key);
            for len in (0..200).chain([255, 256, 300]) {
                let mut theirs = <Hmac<Sha1> as KeyInit>::new_from_slice(key).unwrap();
                theirs.update(&data[..len]);
                let expected: [u8; 20] = theirs.finalize().into_bytes().into();
                assert_eq!(ours.mac(&[&data[..len]]), expected, "key {key_len}, message {len}");
                let (a, b) = data[..len].split_at(len / 3);
                assert_eq!(ours.mac(&[a, &[], b]), expected, "in parts: key {key_len}, message {len}");
            }
        }
        // RFC 2202 §3, test case 2.
        let tag = HmacSha1::new(b"Jefe").mac(&[b"what do ya want for nothing?"]);
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    #[test]
    fn long_term_key_is_md5_of_user_realm_password() {
        // MD5("user:realm:pass") = 8493fbc53ba582fb4c044c456bdc40eb.
        let k = IntegrityKey::long_term("user", "realm", "pass");
        let hex: String = k.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "8493fbc53ba582fb4c044c456bdc40eb");
    }

    #[test]
    fn long_term_sha256_key_is_sha256_of_user_realm_password() {
        let k = IntegrityKey::long_term_sha256("user", "realm", "pass");
        let hex: String = k.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "07e934117abd40836e7c6329b54731b2b2d2a5f9a71f544922d75e0730d8251b");
    }

    #[test]
    fn sign_then_verify_and_detect_tampering() {
        let key = IntegrityKey::long_term("u", "r", "p");
        let m = Message::request(Method::ALLOCATE, TransactionId([9; 12])).with(Attribute::Username("u".into()));
        for b in [m.encode_with(Some(&key), true).unwrap(), m.encode_with(Some(&key), false).unwrap()] {
            assert_eq!(verify_integrity(&b, &key), Ok(()));
            assert_eq!(verify_integrity(&b, &IntegrityKey::long_term("u", "r", "q")), Err(IntegrityError::Mismatch));
            let mut t = b.clone();
            t[HEADER_LEN + 4] ^= 1;
            assert_eq!(verify_integrity(&t, &key), Err(IntegrityError::Mismatch));
        }
        assert_eq!(verify_integrity(&m.encode().unwrap(), &key), Err(IntegrityError::Missing));
        let s = m.encode_with_sha256(&key, true).unwrap();
        assert_eq!(verify_integrity_sha256(&s, &key), Ok(()));
        assert_eq!(verify_integrity(&s, &key), Err(IntegrityError::Missing));
        assert!(Message::decode(&s).is_ok());
    }

    #[test]
    fn keys_longer_than_a_block_are_kept_whole() {
        let password = "p".repeat(100);
        let key = IntegrityKey::short_term(&password);
        assert_eq!(key.as_bytes(), password.as_bytes());
        assert_eq!(key.clone(), key);
        assert_ne!(IntegrityKey::short_term(&password[..64]), key);
        let m = Message::request(Method::BINDING, TransactionId([5; 12]));
        let b = m.encode_with(Some(&key), true).unwrap();
        assert_eq!(verify_integrity(&b, &key), Ok(()));
        let mut theirs = <Hmac<Sha1> as KeyInit>::new_from_slice(password.as_bytes()).unwrap();
        feed_prefix(&mut theirs, &b, b.len() - HEADER_LEN - 24 - 8, 20);
        let tag: [u8; 20] = theirs.finalize().into_bytes().into();
        assert_eq!(&b[b.len() - 8 - 20..b.len() - 8], &tag);
    }

    #[test]
    fn both_integrities_then_fingerprint() {
        let key = IntegrityKey::short_term("secret");
        let m = Message::request(Method::BINDING, TransactionId([2; 12]));
        let mut b = m.encode_with(Some(&key), false).unwrap();
        append_integrity_sha256(&mut b, &key).unwrap();
        append_fingerprint(&mut b).unwrap();
        assert_eq!(verify_integrity(&b, &key), Ok(()));
        assert_eq!(verify_integrity_sha256(&b, &key), Ok(()));
        assert_eq!(Message::decode(&b).unwrap().attributes.len(), 3);
    }

    #[test]
    fn fingerprint_mismatch_is_rejected() {
        let m = Message::request(Method::BINDING, TransactionId([2; 12]));
        let mut b = m.encode_with(None, true).unwrap();
        let last = b.len() - 1;
        b[last] ^= 0xff;
        assert!(matches!(Message::decode(&b), Err(crate::wire::stun::ParseError::BadFingerprint { .. })));
    }
}
