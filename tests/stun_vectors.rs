//! RFC 5769 STUN test vectors, written in as hex from the RFC text.
//!
//! The RFC pads two of its vectors with spaces (0x20) where we write zeros; padding is
//! ignored on receipt (RFC 8489 §14), so those vectors are checked byte-for-byte after the
//! padding bytes are zeroed, and their integrity is checked on the RFC's own bytes.

use std::net::SocketAddrV4;

use icepath::wire::stun::{
    Attribute, Class, IntegrityError, IntegrityKey, Message, Method, TransactionId, verify_integrity,
};

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
}

/// RFC 5769 §2.1 Sample Request (software "STUN test client", username "evtj:h6vY").
const SAMPLE_REQUEST: &str = "
    00 01 00 58  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
    80 22 00 10  53 54 55 4e  20 74 65 73  74 20 63 6c  69 65 6e 74
    00 24 00 04  6e 00 01 ff
    80 29 00 08  93 2f f9 b1  51 26 3b 36
    00 06 00 09  65 76 74 6a  3a 68 36 76  59 20 20 20
    00 08 00 14  9a ea a7 0c  bf d8 cb 56  78 1e f2 b5  b2 d3 f2 49  c1 b5 71 a2
    80 28 00 04  e5 7a 3b cf";

/// RFC 5769 §2.2 Sample IPv4 Response (software "test vector", 192.0.2.1 port 32853).
const SAMPLE_IPV4_RESPONSE: &str = "
    01 01 00 3c  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
    80 22 00 0b  74 65 73 74  20 76 65 63  74 6f 72 20
    00 20 00 08  00 01 a1 47  e1 12 a6 43
    00 08 00 14  2b 91 f5 99  fd 9e 90 c3  8c 74 89 f9  2a f9 ba 53  f0 6b e7 d7
    80 28 00 04  c0 7d 4c 96";

/// RFC 5769 §2.3 Sample IPv6 Response (2001:db8:1234:5678:11:2233:4455:6677 port 32853).
const SAMPLE_IPV6_RESPONSE: &str = "
    01 01 00 48  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
    80 22 00 0b  74 65 73 74  20 76 65 63  74 6f 72 20
    00 20 00 14  00 02 a1 47  01 13 a9 fa  a5 d3 f1 79  bc 25 f4 b5  be d2 b9 d9
    00 08 00 14  a3 82 95 4e  4b e6 7b f1  17 84 c9 7c  82 92 c2 75  bf e3 ed 41
    80 28 00 04  c8 fb 0b 4c";

/// RFC 5769 §2.4 Sample Request with Long-Term Authentication.
const SAMPLE_LONG_TERM_REQUEST: &str = "
    00 01 00 60  21 12 a4 42  78 ad 34 33  c6 ad 72 c0  29 da 41 2e
    00 06 00 12  e3 83 9e e3  83 88 e3 83  aa e3 83 83  e3 82 af e3  82 b9 00 00
    00 15 00 1c  66 2f 2f 34  39 39 6b 39  35 34 64 36  4f 4c 33 34  6f 4c 39 46  53 54 76 79  36 34 73 41
    00 14 00 0b  65 78 61 6d  70 6c 65 2e  6f 72 67 00
    00 08 00 14  f6 70 24 65  6d d6 4a 3e  02 b8 e0 71  2e 85 c9 a2  8c a8 96 66";

/// Short-term password of §2.1–2.3.
const PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";

fn tid(s: &str) -> TransactionId {
    TransactionId(hex(s).try_into().unwrap())
}

fn zero_bytes(mut b: Vec<u8>, at: &[usize]) -> Vec<u8> {
    for &i in at {
        b[i] = 0;
    }
    b
}

#[test]
fn rfc5769_2_1_sample_request() {
    let bytes = hex(SAMPLE_REQUEST);
    assert_eq!(bytes.len(), 108);
    let m = Message::decode(&bytes).expect("the RFC's request decodes (fingerprint checked)");
    assert_eq!((m.class, m.method), (Class::Request, Method::BINDING));
    assert_eq!(m.transaction_id, tid("b7e7a701bc34d686fa87dfae"));
    assert_eq!(m.attributes[0], Attribute::Software("STUN test client".into()));
    assert_eq!(m.attributes[1], Attribute::Priority(0x6e0001ff));
    assert_eq!(m.attributes[2], Attribute::IceControlled(0x932ff9b151263b36));
    assert_eq!(m.attributes[3], Attribute::Username("evtj:h6vY".into()));
    assert!(matches!(m.attributes[4], Attribute::MessageIntegrity(_)));
    assert_eq!(m.attributes[5], Attribute::Fingerprint(0xe57a3bcf));
    assert_eq!(verify_integrity(&bytes, &IntegrityKey::short_term(PASSWORD)), Ok(()));
    assert_eq!(verify_integrity(&bytes, &IntegrityKey::short_term("wrong")), Err(IntegrityError::Mismatch));
    // Re-encoding gives the RFC's bytes, with the username's space padding (bytes 73-75) as zeros.
    assert_eq!(m.encode().unwrap(), zero_bytes(bytes, &[73, 74, 75]));
}

#[test]
fn rfc5769_2_2_sample_ipv4_response() {
    let bytes = hex(SAMPLE_IPV4_RESPONSE);
    assert_eq!(bytes.len(), 80);
    let m = Message::decode(&bytes).unwrap();
    assert_eq!((m.class, m.method), (Class::Success, Method::BINDING));
    assert_eq!(m.attributes[0], Attribute::Software("test vector".into()));
    assert_eq!(m.xor_mapped_address(), Some("192.0.2.1:32853".parse::<SocketAddrV4>().unwrap()));
    assert_eq!(m.attributes[3], Attribute::Fingerprint(0xc07d4c96));
    assert_eq!(verify_integrity(&bytes, &IntegrityKey::short_term(PASSWORD)), Ok(()));
    // The software name's padding (byte 35) is a space in the RFC.
    assert_eq!(m.encode().unwrap(), zero_bytes(bytes, &[35]));
}

#[test]
fn rfc5769_2_2_response_built_from_scratch_verifies() {
    // Our own encoding of the same response, signed and fingerprinted by us: it differs from
    // the RFC only in the padding byte, so its integrity and fingerprint are fresh values that
    // must still verify and decode.
    let key = IntegrityKey::short_term(PASSWORD);
    let m = Message::new(Class::Success, Method::BINDING, tid("b7e7a701bc34d686fa87dfae"))
        .with(Attribute::Software("test vector".into()))
        .with(Attribute::XorMappedAddress("192.0.2.1:32853".parse().unwrap()));
    let ours = m.encode_with(Some(&key), true).unwrap();
    let rfc = hex(SAMPLE_IPV4_RESPONSE);
    assert_eq!(ours.len(), rfc.len());
    assert_eq!(ours[..35], rfc[..35]);
    assert_eq!(ours[36..48], rfc[36..48]);
    assert_eq!(verify_integrity(&ours, &key), Ok(()));
    assert!(Message::decode(&ours).is_ok());
}

#[test]
fn rfc5769_2_3_sample_ipv6_response_is_carried_raw() {
    let bytes = hex(SAMPLE_IPV6_RESPONSE);
    let m = Message::decode(&bytes).unwrap();
    assert_eq!(m.xor_mapped_address(), None);
    assert!(matches!(&m.attributes[1], Attribute::Other { typ: 0x0020, value } if value.len() == 20));
    assert_eq!(verify_integrity(&bytes, &IntegrityKey::short_term(PASSWORD)), Ok(()));
    assert_eq!(m.encode().unwrap(), zero_bytes(bytes, &[35]));
}

#[test]
fn rfc5769_2_4_long_term_request_is_byte_exact() {
    let bytes = hex(SAMPLE_LONG_TERM_REQUEST);
    assert_eq!(bytes.len(), 116);
    let m = Message::decode(&bytes).unwrap();
    let username = "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}";
    assert_eq!(m.username(), Some(username));
    assert_eq!(m.nonce(), Some("f//499k954d6OL34oL9FSTvy64sA"));
    assert_eq!(m.realm(), Some("example.org"));
    // The RFC's password "The<U+00AD>M<U+00AA>tr<U+2168>" is "TheMatrIX" after SASLprep,
    // which we do not apply (see the module's deviations), so the prepared form is given.
    let key = IntegrityKey::long_term(username, "example.org", "TheMatrIX");
    assert_eq!(verify_integrity(&bytes, &key), Ok(()));
    // The padding here is zeros, so re-encoding is byte-exact ...
    assert_eq!(m.encode().unwrap(), bytes);
    // ... and so is signing the attributes ourselves.
    let unsigned = Message { attributes: m.attributes[..3].to_vec(), ..m.clone() };
    assert_eq!(unsigned.encode_with(Some(&key), false).unwrap(), bytes);
}
