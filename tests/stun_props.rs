//! Property tests for the STUN/TURN codecs: decoding inverts encoding, and no input, random
//! or mutated, panics a decoder. These are the fuzz targets: run with a larger
//! `PROPTEST_CASES` to fuzz longer.

use std::net::{Ipv4Addr, SocketAddrV4};

use icepath::wire::stun::{
    Attribute, Class, IntegrityKey, Message, Method, TransactionId, types, verify_integrity, verify_integrity_sha256,
};
use icepath::wire::turn::{ChannelData, Frame, StreamDeframer, demux};
use proptest::prelude::*;

fn arb_addr() -> impl Strategy<Value = SocketAddrV4> {
    (any::<u32>(), any::<u16>()).prop_map(|(ip, port)| SocketAddrV4::new(Ipv4Addr::from(ip), port))
}

fn arb_text() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}

/// Any attribute that may appear before MESSAGE-INTEGRITY.
fn arb_body_attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        arb_addr().prop_map(Attribute::MappedAddress),
        arb_addr().prop_map(Attribute::XorMappedAddress),
        arb_addr().prop_map(Attribute::XorRelayedAddress),
        arb_addr().prop_map(Attribute::XorPeerAddress),
        arb_text().prop_map(Attribute::Username),
        arb_text().prop_map(Attribute::Realm),
        arb_text().prop_map(Attribute::Nonce),
        arb_text().prop_map(Attribute::Software),
        (300u16..700, arb_text()).prop_map(|(code, reason)| Attribute::ErrorCode { code, reason }),
        proptest::collection::vec(any::<u16>(), 0..6).prop_map(Attribute::UnknownAttributes),
        any::<u32>().prop_map(Attribute::Priority),
        Just(Attribute::UseCandidate),
        any::<u64>().prop_map(Attribute::IceControlling),
        any::<u64>().prop_map(Attribute::IceControlled),
        any::<u8>().prop_map(Attribute::RequestedTransport),
        any::<u32>().prop_map(Attribute::Lifetime),
        proptest::collection::vec(any::<u8>(), 0..80).prop_map(Attribute::Data),
        any::<u16>().prop_map(Attribute::ChannelNumber),
        (
            any::<u16>().prop_filter("unknown type", |t| !types::is_known(*t)),
            proptest::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(typ, value)| Attribute::Other { typ, value }),
    ]
}

/// Any message our decoder returns unchanged: body attributes, then optionally the
/// integrity attributes in the order RFC 8489 §14.5–14.6 allow (values are not checked by
/// decoding; FINGERPRINT is, so it is tested separately).
fn arb_message() -> impl Strategy<Value = Message> {
    (
        prop_oneof![Just(Class::Request), Just(Class::Indication), Just(Class::Success), Just(Class::Error)],
        0u16..0x1000,
        any::<[u8; 12]>(),
        proptest::collection::vec(arb_body_attribute(), 0..8),
        proptest::option::of(any::<[u8; 20]>()),
        proptest::option::of((4usize..=8).prop_flat_map(|w| proptest::collection::vec(any::<u8>(), w * 4))),
    )
        .prop_map(|(class, method, tid, mut attributes, mi, mi256)| {
            attributes.extend(mi.map(Attribute::MessageIntegrity));
            attributes.extend(mi256.map(Attribute::MessageIntegritySha256));
            Message { class, method: Method::new(method).unwrap(), transaction_id: TransactionId(tid), attributes }
        })
}

/// Applies `(position, xor)` flips and an optional truncation to `bytes`.
fn mutate(mut bytes: Vec<u8>, flips: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    if !bytes.is_empty() {
        for &(at, x) in flips {
            let i = at % bytes.len();
            bytes[i] ^= x;
        }
    }
    if let Some(c) = cut {
        bytes.truncate(c % (bytes.len() + 1));
    }
    bytes
}

proptest! {
    #[test]
    fn decode_inverts_encode(m in arb_message()) {
        let bytes = m.encode().unwrap();
        prop_assert_eq!(bytes.len() % 4, 0);
        prop_assert_eq!(Message::decode(&bytes).unwrap(), m);
    }

    #[test]
    fn signed_messages_verify_and_decode(m in arb_message(), password in "[ -~]{0,20}", sha256 in any::<bool>()) {
        let body = Message { attributes: m.attributes.iter().filter(|a| !matches!(a,
            Attribute::MessageIntegrity(_) | Attribute::MessageIntegritySha256(_))).cloned().collect(), ..m };
        let key = IntegrityKey::short_term(&password);
        let bytes = if sha256 { body.encode_with_sha256(&key, true) } else { body.encode_with(Some(&key), true) }.unwrap();
        let decoded = Message::decode(&bytes).unwrap();
        prop_assert_eq!(&decoded.attributes[..body.attributes.len()], &body.attributes[..]);
        prop_assert!(matches!(decoded.attributes.last(), Some(Attribute::Fingerprint(_))));
        if sha256 {
            prop_assert_eq!(verify_integrity_sha256(&bytes, &key), Ok(()));
        } else {
            prop_assert_eq!(verify_integrity(&bytes, &key), Ok(()));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let key = IntegrityKey::short_term("k");
        let _ = Message::decode(&bytes);
        let _ = verify_integrity(&bytes, &key);
        let _ = verify_integrity_sha256(&bytes, &key);
        let _ = ChannelData::decode(&bytes);
        let _ = bytes.first().map(|b| demux(*b));
        let mut d = StreamDeframer::new();
        d.push(&bytes);
        while let Ok(Some(_)) = d.next_frame() {}
    }

    #[test]
    fn arbitrary_attribute_bodies_never_panic(
        tid in any::<[u8; 12]>(),
        raw in proptest::collection::vec((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..24)), 0..6),
    ) {
        // A well-formed header and attribute framing around arbitrary values of any type,
        // so the value decoders themselves are exercised.
        let mut b = vec![0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42];
        b.extend_from_slice(&tid);
        for (typ, value) in &raw {
            b.extend_from_slice(&typ.to_be_bytes());
            b.extend_from_slice(&(value.len() as u16).to_be_bytes());
            b.extend_from_slice(value);
            b.resize(b.len().div_ceil(4) * 4, 0);
        }
        let len = (b.len() - 20) as u16;
        b[2..4].copy_from_slice(&len.to_be_bytes());
        let _ = Message::decode(&b);
        let _ = verify_integrity(&b, &IntegrityKey::short_term("k"));
    }

    #[test]
    fn mutated_messages_never_panic(
        m in arb_message(),
        flips in proptest::collection::vec((any::<usize>(), 1u8..), 1..6),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let key = IntegrityKey::long_term("u", "r", "p");
        let body = Message { attributes: m.attributes.iter().filter(|a| !matches!(a,
            Attribute::MessageIntegrity(_) | Attribute::MessageIntegritySha256(_))).cloned().collect(), ..m };
        let bytes = mutate(body.encode_with(Some(&key), true).unwrap(), &flips, cut);
        let _ = Message::decode(&bytes);
        let _ = verify_integrity(&bytes, &key);
        let _ = verify_integrity_sha256(&bytes, &key);
    }

    #[test]
    fn channel_data_round_trips(channel in 0x4000u16..=0x4FFF, data in proptest::collection::vec(any::<u8>(), 0..100), pad in any::<bool>()) {
        let cd = ChannelData { channel, data };
        prop_assert_eq!(ChannelData::decode(&cd.encode(pad).unwrap()).unwrap(), cd);
    }

    #[test]
    fn deframing_does_not_depend_on_chunking(
        msgs in proptest::collection::vec(prop_oneof![
            arb_message().prop_map(|m| Frame::Stun(m.encode().unwrap())),
            (0x4000u16..=0x4FFF, proptest::collection::vec(any::<u8>(), 0..50))
                .prop_map(|(channel, data)| Frame::ChannelData(ChannelData { channel, data })),
        ], 0..6),
        chunk in 1usize..40,
    ) {
        let mut stream = Vec::new();
        for f in &msgs {
            match f {
                Frame::Stun(b) => stream.extend_from_slice(b),
                Frame::ChannelData(cd) => stream.extend(cd.encode(true).unwrap()),
            }
        }
        let mut d = StreamDeframer::new();
        let mut out = Vec::new();
        for piece in stream.chunks(chunk) {
            d.push(piece);
            while let Some(f) = d.next_frame().unwrap() {
                out.push(f);
            }
        }
        prop_assert_eq!(out, msgs);
        prop_assert_eq!(d.buffered(), 0);
    }
}
