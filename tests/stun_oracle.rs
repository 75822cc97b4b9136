//! Oracle tests: our STUN/TURN codec against an independent implementation, the
//! `stun-types` and `turn-types` crates (dev-dependencies only). Messages we encode must
//! parse there with the same attributes and integrity; messages they encode must parse here.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use icepath::wire::stun::{
    Attribute, Class, IntegrityKey, Message, Method, TransactionId, verify_integrity, verify_integrity_sha256,
};
use icepath::wire::turn::ChannelData;
use proptest::prelude::*;
use stun_types::attribute as sa;
use stun_types::message as sm;
use stun_types::prelude::*;
use turn_types::attribute as ta;

const USER: &str = "1700000000:alice";
const REALM: &str = "example.org";
const PASSWORD: &str = "s3cret";

fn their_credentials() -> sm::MessageIntegrityCredentials {
    sm::LongTermKeyCredentials::new(USER.to_owned(), PASSWORD.to_owned(), REALM.to_owned()).into()
}

fn our_key() -> IntegrityKey {
    IntegrityKey::long_term(USER, REALM, PASSWORD)
}

/// stun-types pairs MESSAGE-INTEGRITY-SHA256 with the SHA-256 password algorithm
/// (RFC 8489 §18.5.1), so that is the key to compare with there.
fn our_sha256_key() -> IntegrityKey {
    IntegrityKey::long_term_sha256(USER, REALM, PASSWORD)
}

fn their_tid(t: TransactionId) -> sm::TransactionId {
    let mut b = [0u8; 16];
    b[4..].copy_from_slice(&t.0);
    u128::from_be_bytes(b).into()
}

fn v4(a: SocketAddr) -> SocketAddrV4 {
    match a {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(a) => panic!("expected IPv4, got {a}"),
    }
}

/// Checks that their parse of attribute `raw` means what our `a` means.
fn same_attribute(a: &Attribute, raw: &sa::RawAttribute<'_>, tid: sm::TransactionId) {
    assert_eq!(raw.header.get_type().value(), a.typ(), "type of {a:?}");
    match a {
        Attribute::XorMappedAddress(x) => assert_eq!(v4(sa::XorMappedAddress::try_from(raw).unwrap().addr(tid)), *x),
        Attribute::XorPeerAddress(x) => assert_eq!(v4(ta::XorPeerAddress::try_from(raw).unwrap().addr(tid)), *x),
        Attribute::XorRelayedAddress(x) => {
            assert_eq!(v4(ta::XorRelayedAddress::try_from(raw).unwrap().addr(tid)), *x)
        }
        Attribute::Username(s) => assert_eq!(sa::Username::try_from(raw).unwrap().username(), s),
        Attribute::Realm(s) => assert_eq!(sa::Realm::try_from(raw).unwrap().realm(), s),
        Attribute::Nonce(s) => assert_eq!(sa::Nonce::try_from(raw).unwrap().nonce(), s),
        Attribute::Software(s) => assert_eq!(sa::Software::try_from(raw).unwrap().software(), s),
        Attribute::ErrorCode { code, reason } => {
            let e = sa::ErrorCode::try_from(raw).unwrap();
            assert_eq!((e.code(), e.reason()), (*code, reason.as_str()));
        }
        Attribute::UnknownAttributes(list) => {
            let u = sa::UnknownAttributes::try_from(raw).unwrap();
            for t in list {
                assert!(u.has_attribute(sa::AttributeType::new(*t)));
            }
        }
        Attribute::Lifetime(s) => assert_eq!(ta::Lifetime::try_from(raw).unwrap().seconds(), *s),
        Attribute::RequestedTransport(p) => assert_eq!(ta::RequestedTransport::try_from(raw).unwrap().protocol(), *p),
        Attribute::ChannelNumber(c) => assert_eq!(ta::ChannelNumber::try_from(raw).unwrap().channel(), *c),
        Attribute::Data(d) => assert_eq!(ta::Data::try_from(raw.clone()).unwrap().data(), d.as_slice()),
        // ICE attributes and the rest have no typed form there: compare the raw value.
        other => {
            let mut ours = Vec::new();
            other.encode_into(&mut ours).unwrap();
            assert_eq!(raw.to_bytes(), ours, "raw bytes of {other:?}");
        }
    }
}

fn arb_addr() -> impl Strategy<Value = SocketAddrV4> {
    (any::<u32>(), any::<u16>()).prop_map(|(ip, port)| SocketAddrV4::new(Ipv4Addr::from(ip), port))
}

/// Attributes both implementations model, within the length limits RFC 8489 sets (which
/// stun-types enforces when it reads a typed value).
fn arb_attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        arb_addr().prop_map(Attribute::XorMappedAddress),
        arb_addr().prop_map(Attribute::XorPeerAddress),
        arb_addr().prop_map(Attribute::XorRelayedAddress),
        "[a-zA-Z0-9:+/=]{1,40}".prop_map(Attribute::Username),
        "[a-z.]{1,30}".prop_map(Attribute::Realm),
        "[a-zA-Z0-9/+]{1,40}".prop_map(Attribute::Nonce),
        "\\PC{0,20}".prop_map(Attribute::Software),
        (300u16..700, "[ -~]{0,30}").prop_map(|(code, reason)| Attribute::ErrorCode { code, reason }),
        proptest::collection::vec(any::<u16>(), 1..5).prop_map(Attribute::UnknownAttributes),
        any::<u32>().prop_map(Attribute::Lifetime),
        any::<u8>().prop_map(Attribute::RequestedTransport),
        (0x4000u16..=0x4FFF).prop_map(Attribute::ChannelNumber),
        proptest::collection::vec(any::<u8>(), 0..60).prop_map(Attribute::Data),
        any::<u32>().prop_map(Attribute::Priority),
        Just(Attribute::UseCandidate),
        any::<u64>().prop_map(Attribute::IceControlling),
        any::<u64>().prop_map(Attribute::IceControlled),
    ]
}

proptest! {
    #[test]
    fn what_we_encode_parses_there(
        class in prop_oneof![Just(Class::Request), Just(Class::Indication), Just(Class::Success), Just(Class::Error)],
        method in prop_oneof![Just(Method::BINDING), Just(Method::ALLOCATE), Just(Method::REFRESH),
            Just(Method::SEND), Just(Method::DATA), Just(Method::CREATE_PERMISSION), Just(Method::CHANNEL_BIND)],
        tid in any::<[u8; 12]>(),
        attributes in proptest::collection::vec(arb_attribute(), 0..8),
        protect in 0u8..3,
    ) {
        let m = Message { class, method, transaction_id: TransactionId(tid), attributes };
        let key = our_key();
        let bytes = match protect {
            0 => m.encode_with(None, true),
            1 => m.encode_with(Some(&key), true),
            _ => m.encode_with_sha256(&our_sha256_key(), true),
        }.unwrap();
        let theirs = sm::Message::from_bytes(&bytes).expect("stun-types parses our bytes (and checks FINGERPRINT)");
        prop_assert_eq!(theirs.method().value(), method.value());
        prop_assert_eq!(u128::from(theirs.transaction_id()), u128::from(their_tid(m.transaction_id)));
        let their_class = match class {
            Class::Request => sm::MessageClass::Request,
            Class::Indication => sm::MessageClass::Indication,
            Class::Success => sm::MessageClass::Success,
            Class::Error => sm::MessageClass::Error,
        };
        prop_assert_eq!(theirs.class(), their_class);
        let raws: Vec<_> = theirs.iter_attributes().map(|(_, r)| r).collect();
        for (a, raw) in m.attributes.iter().zip(&raws) {
            same_attribute(a, raw, theirs.transaction_id());
        }
        prop_assert_eq!(raws.len(), m.attributes.len() + if protect == 0 { 1 } else { 2 });
        match protect {
            0 => {}
            1 => prop_assert_eq!(theirs.validate_integrity(&their_credentials()).unwrap(), sm::IntegrityAlgorithm::Sha1),
            _ => prop_assert_eq!(theirs.validate_integrity(&their_credentials()).unwrap(), sm::IntegrityAlgorithm::Sha256),
        }
    }
}

#[test]
fn what_they_encode_parses_here() {
    let tid = TransactionId([0x42; 12]);
    let ttid = their_tid(tid);
    let peer: SocketAddrV4 = "198.51.100.7:40000".parse().unwrap();
    let relayed: SocketAddrV4 = "203.0.113.5:50000".parse().unwrap();

    // A TURN Allocate success with long-term integrity and FINGERPRINT.
    let mtype = sm::MessageType::from_class_method(sm::MessageClass::Success, turn_types::message::ALLOCATE);
    let mut w = sm::Message::builder(mtype, ttid, sm::MessageWriteVec::new());
    w.add_attribute(&ta::XorRelayedAddress::new(relayed.into(), ttid)).unwrap();
    w.add_attribute(&sa::XorMappedAddress::new(peer.into(), ttid)).unwrap();
    w.add_attribute(&ta::Lifetime::new(600)).unwrap();
    w.add_attribute(&sa::Software::new("stun-types").unwrap()).unwrap();
    w.add_message_integrity(&their_credentials(), sm::IntegrityAlgorithm::Sha1).unwrap();
    w.add_fingerprint().unwrap();
    let bytes = w.finish();
    let m = Message::decode(&bytes).expect("we parse their bytes");
    assert_eq!((m.class, m.method, m.transaction_id), (Class::Success, Method::ALLOCATE, tid));
    assert_eq!(m.xor_relayed_address(), Some(relayed));
    assert_eq!(m.xor_mapped_address(), Some(peer));
    assert_eq!(m.lifetime(), Some(600));
    assert_eq!(m.attributes[3], Attribute::Software("stun-types".into()));
    assert_eq!(verify_integrity(&bytes, &our_key()), Ok(()));

    // A 401 with REALM and NONCE, SHA-256 integrity.
    let mtype = sm::MessageType::from_class_method(sm::MessageClass::Error, turn_types::message::ALLOCATE);
    let mut w = sm::Message::builder(mtype, ttid, sm::MessageWriteVec::new());
    w.add_attribute(&sa::ErrorCode::builder(401).reason("Unauthorized").build().unwrap()).unwrap();
    w.add_attribute(&sa::Realm::new(REALM).unwrap()).unwrap();
    w.add_attribute(&sa::Nonce::new("abcdef0123").unwrap()).unwrap();
    w.add_attribute(&sa::UnknownAttributes::new(&[sa::AttributeType::new(0x001A)])).unwrap();
    w.add_message_integrity(&their_credentials(), sm::IntegrityAlgorithm::Sha256).unwrap();
    let bytes = w.finish();
    let m = Message::decode(&bytes).unwrap();
    assert_eq!(m.error_code(), Some((401, "Unauthorized")));
    assert_eq!(m.realm(), Some(REALM));
    assert_eq!(m.nonce(), Some("abcdef0123"));
    assert_eq!(m.attributes[3], Attribute::UnknownAttributes(vec![0x001A]));
    assert_eq!(verify_integrity_sha256(&bytes, &our_sha256_key()), Ok(()));

    // CreatePermission, ChannelBind and a Send indication.
    for (method, attrs) in [
        (
            turn_types::message::CREATE_PERMISSION,
            vec![Box::new(ta::XorPeerAddress::new(peer.into(), ttid)) as Box<dyn AttributeWrite>],
        ),
        (
            turn_types::message::CHANNEL_BIND,
            vec![Box::new(ta::ChannelNumber::new(0x4001)), Box::new(ta::XorPeerAddress::new(peer.into(), ttid))],
        ),
        (
            turn_types::message::SEND,
            vec![Box::new(ta::XorPeerAddress::new(peer.into(), ttid)), Box::new(ta::Data::new(&[1, 2, 3, 4, 5]))],
        ),
    ] {
        let class =
            if method == turn_types::message::SEND { sm::MessageClass::Indication } else { sm::MessageClass::Request };
        let mut w =
            sm::Message::builder(sm::MessageType::from_class_method(class, method), ttid, sm::MessageWriteVec::new());
        for a in &attrs {
            w.add_attribute(a.as_ref()).unwrap();
        }
        w.add_attribute(&ta::RequestedTransport::new(17)).unwrap();
        w.add_fingerprint().unwrap();
        let bytes = w.finish();
        let m = Message::decode(&bytes).unwrap();
        assert_eq!(m.method.value(), method.value());
        assert_eq!(m.xor_peer_addresses(), vec![peer]);
        assert_eq!(m.requested_transport(), Some(17));
        if method == turn_types::message::CHANNEL_BIND {
            assert_eq!(m.channel_number(), Some(0x4001));
        }
        if method == turn_types::message::SEND {
            assert_eq!(m.data(), Some(&[1u8, 2, 3, 4, 5][..]));
        }
    }
}

#[test]
fn channel_data_agrees_both_ways() {
    let ours = ChannelData { channel: 0x4abc, data: vec![7; 13] };
    let bytes = ours.encode(true).unwrap();
    let theirs = turn_types::channel::ChannelData::parse(&bytes).unwrap();
    assert_eq!((theirs.id(), theirs.data()), (0x4abc, &ours.data[..]));
    let mut out = vec![0u8; 4 + 13];
    turn_types::channel::ChannelData::new(0x4abc, &[7; 13]).write_into_unchecked(&mut out);
    assert_eq!(ChannelData::decode(&out).unwrap(), ours);
}
