//! Writes a capture of a STUN Binding exchange, a TURN Allocate (401 then success),
//! CreatePermission, ChannelBind, a Send indication and ChannelData on UDP 3478, plus STUN
//! and ChannelData framed on TCP 3478, and reads it back with our own parsers.
//!
//! The file is left at `$CARGO_TARGET_TMPDIR/stun-turn.pcap` so it can be opened in
//! Wireshark or checked with `tshark -r … -V -o udp.check_checksum:TRUE`; the test itself
//! does not need tshark.

use std::net::SocketAddrV4;

use icepath::report::pcap::{FILE_HEADER_LEN, PcapWriter, RECORD_HEADER_LEN};
use icepath::time::{SimDuration, SimTime};
use icepath::wire::stun::{Attribute, Class, IntegrityKey, Message, Method, TRANSPORT_UDP, TransactionId};
use icepath::wire::turn::ChannelData;
use icepath::wire::{Datagram, TcpFlags, TcpHeader};

fn sa(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

fn capture() -> Vec<(SimTime, Datagram)> {
    let client = sa("10.0.0.2:50000");
    let reflexive = sa("198.51.100.2:62000");
    let server = sa("192.0.2.10:3478");
    let relayed = sa("192.0.2.10:50000");
    let peer = sa("203.0.113.9:40000");
    let (user, realm, password) = ("1700000000:alice", "example.org", "cGFzc3dvcmQ=");
    let key = IntegrityKey::long_term(user, realm, password);
    let nonce = "6b5a8d4f0e3c2b1a";
    let tid = |n| TransactionId::derive(7, n);
    let soft = || Attribute::Software("icepath".into());
    let mut out = Vec::new();
    let mut t = SimTime::ZERO;
    let mut push = |from: SocketAddrV4, to: SocketAddrV4, payload: Vec<u8>| {
        t += SimDuration::from_millis(10);
        out.push((t, Datagram::udp(from, to, payload)));
    };

    // STUN Binding.
    let req = Message::request(Method::BINDING, tid(1)).with(soft());
    push(client, server, req.encode_with(None, true).unwrap());
    let resp = Message::success_to(&req).with(Attribute::XorMappedAddress(reflexive)).with(soft());
    push(server, client, resp.encode_with(None, true).unwrap());

    // TURN Allocate: 401, then authenticated.
    let alloc = Message::request(Method::ALLOCATE, tid(2)).with(Attribute::RequestedTransport(TRANSPORT_UDP));
    push(client, server, alloc.encode_with(None, true).unwrap());
    let e401 = Message::error_to(&alloc, 401, "Unauthorized")
        .with(Attribute::Realm(realm.into()))
        .with(Attribute::Nonce(nonce.into()));
    push(server, client, e401.encode_with(None, true).unwrap());
    let auth = |m: Message| {
        m.with(Attribute::Username(user.into()))
            .with(Attribute::Realm(realm.into()))
            .with(Attribute::Nonce(nonce.into()))
    };
    let alloc = auth(Message::request(Method::ALLOCATE, tid(3)).with(Attribute::RequestedTransport(TRANSPORT_UDP)));
    push(client, server, alloc.encode_with(Some(&key), true).unwrap());
    let ok = Message::success_to(&alloc)
        .with(Attribute::XorRelayedAddress(relayed))
        .with(Attribute::XorMappedAddress(reflexive))
        .with(Attribute::Lifetime(600));
    push(server, client, ok.encode_with(Some(&key), true).unwrap());

    // CreatePermission and ChannelBind.
    let perm = auth(Message::request(Method::CREATE_PERMISSION, tid(4)).with(Attribute::XorPeerAddress(peer)));
    push(client, server, perm.encode_with(Some(&key), true).unwrap());
    push(server, client, Message::success_to(&perm).encode_with(Some(&key), true).unwrap());
    let bind = auth(
        Message::request(Method::CHANNEL_BIND, tid(5))
            .with(Attribute::ChannelNumber(0x4000))
            .with(Attribute::XorPeerAddress(peer)),
    );
    push(client, server, bind.encode_with(Some(&key), true).unwrap());
    push(server, client, Message::success_to(&bind).encode_with(Some(&key), true).unwrap());

    // Send indication, the relayed datagram, and ChannelData both ways.
    let send = Message::indication(Method::SEND, tid(6))
        .with(Attribute::XorPeerAddress(peer))
        .with(Attribute::Data(b"hello peer".to_vec()));
    push(client, server, send.encode_with(None, true).unwrap());
    push(relayed, peer, b"hello peer".to_vec());
    push(client, server, ChannelData { channel: 0x4000, data: b"via channel".to_vec() }.encode(false).unwrap());
    push(peer, relayed, b"hello back".to_vec());
    push(server, client, ChannelData { channel: 0x4000, data: b"hello back".to_vec() }.encode(false).unwrap());

    // STUN and padded ChannelData on one TCP connection (RFC 8656 §12.5).
    let tcp_client = sa("10.0.0.2:50001");
    let mut stream = Message::request(Method::BINDING, tid(7)).encode_with(None, true).unwrap();
    stream.extend(ChannelData { channel: 0x4001, data: vec![0xab; 5] }.encode(true).unwrap());
    let h = TcpHeader { seq: 1, ack: 1, flags: TcpFlags(TcpFlags::ACK.0 | TcpFlags::PSH.0), window: 65535 };
    t += SimDuration::from_millis(10);
    out.push((t, Datagram::tcp(tcp_client, server, h, stream)));
    out
}

#[test]
fn capture_reads_back_with_our_parsers() {
    let records = capture();
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    for (at, d) in &records {
        w.write(*at, d).unwrap();
    }
    let bytes = w.finish().unwrap();
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("stun-turn.pcap");
    std::fs::write(&path, &bytes).unwrap();

    let mut at = FILE_HEADER_LEN;
    let mut stun = 0;
    for (time, d) in &records {
        let h = &bytes[at..at + RECORD_HEADER_LEN];
        let secs = u32::from_le_bytes(h[0..4].try_into().unwrap()) as u64;
        let nanos = u32::from_le_bytes(h[4..8].try_into().unwrap()) as u64;
        assert_eq!(secs * 1_000_000_000 + nanos, time.as_nanos());
        let len = u32::from_le_bytes(h[8..12].try_into().unwrap()) as usize;
        let back = Datagram::parse(&bytes[at + RECORD_HEADER_LEN..at + RECORD_HEADER_LEN + len]).unwrap();
        assert_eq!(&back, d);
        if back.payload.first().is_some_and(|b| *b < 4) && back.protocol() == icepath::wire::Protocol::Udp {
            let m = Message::decode(&back.payload).unwrap();
            assert!(m.class != Class::Error || m.error_code() == Some((401, "Unauthorized")));
            stun += 1;
        }
        at += RECORD_HEADER_LEN + len;
    }
    assert_eq!(at, bytes.len());
    assert_eq!(stun, 11);
}

/// The real endpoints, driven against each other, captured: what `TurnClient` and
/// `TurnServer` put on the wire, left at `$CARGO_TARGET_TMPDIR/turn-session.pcap`.
#[test]
fn endpoint_session_capture_reads_back() {
    use icepath::proto::turn::RestCredential;
    use icepath::proto::{TurnClient, TurnClientConfig, TurnServer, TurnServerConfig};

    let secret = b"shared";
    let server_addr = sa("192.0.2.10:3478");
    let peer = sa("203.0.113.9:40000");
    let mut scfg = TurnServerConfig::new(server_addr, "192.0.2.10".parse().unwrap(), "example.org", secret);
    scfg.software = Some("icepath".into());
    let mut server = TurnServer::new(scfg);
    let cred = RestCredential::issue(secret, SimTime::ZERO + SimDuration::from_secs(3600), "alice");
    let mut client =
        TurnClient::new(TurnClientConfig::new(sa("10.0.0.2:50000"), server_addr, &cred.username, &cred.password));

    let mut t = SimTime::ZERO;
    let mut records: Vec<(SimTime, Datagram)> = Vec::new();
    let mut step = |client: &mut TurnClient, server: &mut TurnServer, extra: Option<Datagram>| {
        let mut queue: Vec<Datagram> = extra.into_iter().collect();
        for _ in 0..50 {
            queue.extend(std::iter::from_fn(|| client.poll_transmit()));
            queue.extend(std::iter::from_fn(|| server.poll_transmit()));
            if queue.is_empty() {
                return;
            }
            for d in std::mem::take(&mut queue) {
                t += SimDuration::from_millis(1);
                records.push((t, d.clone()));
                if d.dst == client.local() {
                    client.handle_packet(t, &d);
                } else if d.dst != peer {
                    server.handle_packet(t, &d);
                }
            }
        }
    };
    client.binding(SimTime::ZERO);
    step(&mut client, &mut server, None);
    client.allocate(SimTime::ZERO);
    step(&mut client, &mut server, None);
    let relayed = client.relayed().expect("allocated");
    client.create_permission(SimTime::ZERO, peer);
    step(&mut client, &mut server, None);
    client.send(SimTime::ZERO, peer, b"by send indication");
    step(&mut client, &mut server, None);
    let relay_if = server.allocations().next().unwrap().relay;
    step(&mut client, &mut server, Some(Datagram::udp(peer, relay_if, b"by data indication".to_vec())));
    client.channel_bind(SimTime::ZERO, peer);
    step(&mut client, &mut server, None);
    client.send(SimTime::ZERO, peer, b"by channel data");
    step(&mut client, &mut server, None);
    step(&mut client, &mut server, Some(Datagram::udp(peer, relay_if, b"back by channel".to_vec())));
    client.refresh(SimTime::ZERO, SimDuration::ZERO);
    step(&mut client, &mut server, None);
    assert_eq!(relayed, sa("192.0.2.10:50000"));
    assert_eq!(server.allocations().count(), 0);

    let bytes = icepath::report::pcap::pcap_bytes(records.iter().map(|(t, d)| (*t, d)));
    std::fs::write(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("turn-session.pcap"), &bytes).unwrap();
    // binding 2, allocate 4, permission 2, send + relayed 2, peer + data 2, bind 2,
    // channel data + relayed 2, peer + channel data 2, refresh 2.
    assert_eq!(records.len(), 20);
}
