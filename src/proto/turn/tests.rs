//! A TURN client and server driven against each other by hand, with a peer on the far side
//! of the relay. No engine: packets are handed across instantly and time is set explicitly.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::*;
use crate::proto::Discard;
use crate::time::{SimDuration, SimTime};
use crate::wire::stun::{Attribute, Message, Method, TransactionId};
use crate::wire::{Datagram, Protocol};

const SECRET: &[u8] = b"edge-shared-secret";
const REALM: &str = "example.org";

fn sa(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

fn server_addr() -> SocketAddrV4 {
    sa("192.0.2.10:3478")
}

fn server_tcp() -> SocketAddrV4 {
    sa("192.0.2.10:443")
}

fn peer() -> SocketAddrV4 {
    sa("203.0.113.9:40000")
}

fn at(secs: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs(secs)
}

/// An Edge-like server: relays on 10.1.1.10, advertised as 192.0.2.10 (a 1:1 NAT in front).
fn server_with(secret: &[u8]) -> TurnServer {
    let mut cfg = TurnServerConfig::new(server_addr(), Ipv4Addr::new(10, 1, 1, 10), REALM, secret);
    cfg.relay_advertised = Ipv4Addr::new(192, 0, 2, 10);
    cfg.tcp = vec![server_tcp()];
    cfg.seed = 99;
    TurnServer::new(cfg)
}

fn client_with(local: &str, secret: &[u8], protocol: Protocol) -> TurnClient {
    client_seeded(local, secret, protocol, 7)
}

fn client_seeded(local: &str, secret: &[u8], protocol: Protocol, seed: u64) -> TurnClient {
    let cred = RestCredential::issue(secret, at(86_400), "alice");
    let server = if protocol == Protocol::Tcp { server_tcp() } else { server_addr() };
    let mut cfg = TurnClientConfig::new(sa(local), server, &cred.username, &cred.password);
    cfg.protocol = protocol;
    cfg.seed = seed;
    TurnClient::new(cfg)
}

/// Runs client and server to idle at `now`, handing packets across; returns what the server
/// relayed towards peers. Bounded: a livelock fails the test instead of hanging it.
fn drive(c: &mut TurnClient, s: &mut TurnServer, now: SimTime) -> Vec<Datagram> {
    let mut to_peers = Vec::new();
    for _ in 0..100 {
        let mut moved = false;
        while let Some(d) = c.poll_transmit() {
            moved = true;
            s.handle_packet(now, &d);
        }
        while let Some(d) = s.poll_transmit() {
            moved = true;
            if d.dst == c.local() {
                c.handle_packet(now, &d);
            } else {
                to_peers.push(d);
            }
        }
        if !moved {
            return to_peers;
        }
    }
    panic!("client and server did not go idle in 100 rounds");
}

fn client_events(c: &mut TurnClient) -> Vec<TurnClientEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn server_events(s: &mut TurnServer) -> Vec<TurnServerEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// A client with an allocation, its events drained.
fn allocated(protocol: Protocol) -> (TurnClient, TurnServer) {
    let mut s = server_with(SECRET);
    let mut c = client_with("10.0.0.2:50000", SECRET, protocol);
    c.allocate(at(0));
    drive(&mut c, &mut s, at(0));
    assert!(c.relayed().is_some(), "allocation failed: {:?}", client_events(&mut c));
    client_events(&mut c);
    server_events(&mut s);
    (c, s)
}

#[test]
fn binding_reports_the_source_address_as_seen_by_the_server() {
    let mut s = server_with(SECRET);
    let mut c = client_with("10.0.0.2:50000", SECRET, Protocol::Udp);
    c.binding(at(0));
    // A NAT between them: the server sees the client as 198.51.100.2:62000.
    let req = c.poll_transmit().unwrap();
    let natted = Datagram::udp(sa("198.51.100.2:62000"), req.dst, req.payload);
    s.handle_packet(at(0), &natted);
    let resp = s.poll_transmit().unwrap();
    assert_eq!(resp.dst, sa("198.51.100.2:62000"));
    c.handle_packet(at(0), &Datagram::udp(resp.src, c.local(), resp.payload));
    assert_eq!(client_events(&mut c), vec![TurnClientEvent::BindingSucceeded { reflexive: sa("198.51.100.2:62000") }]);
    assert_eq!(c.reflexive(), Some(sa("198.51.100.2:62000")));
}

#[test]
fn allocate_is_challenged_with_401_then_succeeds() {
    let mut s = server_with(SECRET);
    let mut c = client_with("10.0.0.2:50000", SECRET, Protocol::Udp);
    c.allocate(at(0));
    let first = c.poll_transmit().unwrap();
    assert!(!Message::decode(&first.payload).unwrap().has_integrity(), "the first Allocate carries no credentials");
    s.handle_packet(at(0), &first);
    let challenge = Message::decode(&s.poll_transmit().unwrap().payload).unwrap();
    assert_eq!(challenge.error_code(), Some((401, "Unauthorized")));
    assert_eq!(challenge.realm(), Some(REALM));
    assert!(challenge.nonce().is_some());
    assert!(!challenge.has_integrity(), "RFC 8489 §9.2.4: the 401 is not signed");
    c.handle_packet(at(0), &Datagram::udp(server_addr(), c.local(), challenge.encode().unwrap()));
    drive(&mut c, &mut s, at(0));

    let relayed = sa("192.0.2.10:50000");
    assert_eq!(
        client_events(&mut c),
        vec![TurnClientEvent::Allocated {
            relayed,
            reflexive: Some(sa("10.0.0.2:50000")),
            lifetime: SimDuration::from_secs(600),
        }]
    );
    let events = server_events(&mut s);
    assert_eq!(events[0], TurnServerEvent::Rejected { client: c.local(), method: Method::ALLOCATE, code: 401 });
    assert_eq!(
        events[1],
        TurnServerEvent::AllocationCreated {
            client: c.local(),
            protocol: Protocol::Udp,
            relayed,
            lifetime: SimDuration::from_secs(600)
        }
    );
    let a = s.allocations().next().unwrap();
    assert_eq!(a.relay, sa("10.1.1.10:50000"), "bound on the interface, advertised as the public address");
    assert_eq!(s.poll_timeout(), Some(at(600)));
}

#[test]
fn relay_ports_are_taken_in_order_and_reused_after_delete() {
    let mut s = server_with(SECRET);
    let mut clients: Vec<TurnClient> =
        (0..3).map(|i| client_with(&format!("10.0.0.{}:5000", i + 2), SECRET, Protocol::Udp)).collect();
    for c in &mut clients {
        c.allocate(at(0));
        drive(c, &mut s, at(0));
    }
    let ports: Vec<u16> = clients.iter().map(|c| c.relayed().unwrap().port()).collect();
    assert_eq!(ports, [50000, 50001, 50002]);
}

#[test]
fn a_server_with_another_secret_answers_401_and_the_client_gives_up() {
    let mut s = server_with(b"another-secret");
    let mut c = client_with("10.0.0.2:50000", SECRET, Protocol::Udp);
    c.allocate(at(0));
    drive(&mut c, &mut s, at(0));
    assert_eq!(
        client_events(&mut c),
        vec![TurnClientEvent::RequestFailed { method: Method::ALLOCATE, code: 401, reason: "Unauthorized".into() }]
    );
    assert_eq!(s.allocations().count(), 0);
    assert_eq!(c.poll_timeout(), None, "nothing left outstanding");
}

#[test]
fn wrong_credentials_on_an_existing_allocation_get_441() {
    let (_c, mut s) = allocated(Protocol::Udp);
    // Same 5-tuple, credentials minted with a different secret.
    let mut intruder = client_seeded("10.0.0.2:50000", b"stale-secret", Protocol::Udp, 8);
    intruder.refresh(at(1), SimDuration::from_secs(600));
    drive(&mut intruder, &mut s, at(1));
    assert_eq!(
        client_events(&mut intruder),
        vec![TurnClientEvent::RequestFailed { method: Method::REFRESH, code: 441, reason: "Wrong Credentials".into() }]
    );
    assert_eq!(s.allocations().count(), 1, "the allocation survives");
}

#[test]
fn second_allocate_on_the_same_five_tuple_gets_437_but_a_retransmission_gets_the_original() {
    let (mut c, mut s) = allocated(Protocol::Udp);
    c.allocate(at(1));
    drive(&mut c, &mut s, at(1));
    assert_eq!(
        client_events(&mut c),
        vec![TurnClientEvent::RequestFailed {
            method: Method::ALLOCATE,
            code: 437,
            reason: "Allocation Mismatch".into()
        }]
    );

    // A retransmitted Allocate (its success was lost) is answered with the same success.
    let mut s = server_with(SECRET);
    let mut c = client_with("10.0.0.2:50000", SECRET, Protocol::Udp);
    c.allocate(at(0));
    drive(&mut c, &mut s, at(0));
    let mut c2 = client_with("10.0.0.2:50000", SECRET, Protocol::Udp);
    c2.allocate(at(0));
    let unsigned = c2.poll_transmit().unwrap();
    s.handle_packet(at(0), &unsigned);
    c2.handle_packet(at(0), &s.poll_transmit().unwrap());
    let signed = c2.poll_transmit().unwrap();
    s.handle_packet(at(0), &signed);
    let first = s.poll_transmit().unwrap();
    s.handle_packet(at(0), &signed);
    let second = s.poll_transmit().unwrap();
    assert_eq!(first.payload, second.payload);
}

#[test]
fn without_permission_peer_data_is_dropped_and_counted() {
    let (mut c, mut s) = allocated(Protocol::Udp);
    let relay = s.allocations().next().unwrap().relay;
    s.handle_packet(at(1), &Datagram::udp(peer(), relay, b"knock knock".to_vec()));
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(
        server_events(&mut s),
        vec![TurnServerEvent::Discarded { from: peer(), reason: Discard::NoPermission(*peer().ip()) }]
    );
    c.send(at(1), peer(), b"hello?");
    assert!(drive(&mut c, &mut s, at(1)).is_empty(), "the client cannot reach an unpermitted peer either");
    assert_eq!(s.counters(c.local()).unwrap().dropped_no_permission, 2);
    assert_eq!(s.counters(c.local()).unwrap().packets_to_peer, 0);
}

#[test]
fn with_permission_data_is_relayed_both_ways_by_send_and_data_indications() {
    let (mut c, mut s) = allocated(Protocol::Udp);
    c.create_permission(at(1), peer());
    drive(&mut c, &mut s, at(1));
    assert_eq!(client_events(&mut c), vec![TurnClientEvent::PermissionCreated { peer: *peer().ip() }]);

    c.send(at(2), peer(), b"hello peer");
    let out = drive(&mut c, &mut s, at(2));
    assert_eq!(out, vec![Datagram::udp(sa("10.1.1.10:50000"), peer(), b"hello peer".to_vec())]);

    // Any port of the permitted IP may answer (RFC 8656 §9: permissions ignore the port).
    let other_port = SocketAddrV4::new(*peer().ip(), 40001);
    s.handle_packet(at(3), &Datagram::udp(other_port, sa("10.1.1.10:50000"), b"hello back".to_vec()));
    let to_client = s.poll_transmit().unwrap();
    assert_eq!(Message::decode(&to_client.payload).unwrap().method, Method::DATA);
    c.handle_packet(at(3), &to_client);
    assert_eq!(client_events(&mut c), vec![TurnClientEvent::Data { peer: other_port, data: b"hello back".to_vec() }]);

    let n = s.counters(c.local()).unwrap();
    assert_eq!((n.packets_to_peer, n.bytes_to_peer, n.packets_from_peer, n.bytes_from_peer), (1, 10, 1, 10));
}

#[test]
fn channel_binding_carries_data_as_channel_data_both_ways() {
    let (mut c, mut s) = allocated(Protocol::Udp);
    let channel = c.channel_bind(at(1), peer());
    drive(&mut c, &mut s, at(1));
    assert_eq!(channel, 0x4000);
    assert_eq!(client_events(&mut c), vec![TurnClientEvent::ChannelBound { channel, peer: peer() }]);
    assert!(server_events(&mut s).contains(&TurnServerEvent::ChannelBound {
        client: c.local(),
        channel,
        peer: peer()
    }));

    c.send(at(2), peer(), b"via channel");
    let sent = c.poll_transmit().unwrap();
    assert_eq!(sent.payload[..2], [0x40, 0x00], "ChannelData, not a Send indication");
    s.handle_packet(at(2), &sent);
    assert_eq!(s.poll_transmit().unwrap(), Datagram::udp(sa("10.1.1.10:50000"), peer(), b"via channel".to_vec()));

    s.handle_packet(at(3), &Datagram::udp(peer(), sa("10.1.1.10:50000"), b"back".to_vec()));
    let back = s.poll_transmit().unwrap();
    assert_eq!(back.payload, [0x40, 0x00, 0x00, 0x04, b'b', b'a', b'c', b'k']);
    c.handle_packet(at(3), &back);
    assert_eq!(client_events(&mut c), vec![TurnClientEvent::Data { peer: peer(), data: b"back".to_vec() }]);
    let n = s.counters(c.local()).unwrap();
    assert_eq!((n.packets_to_peer, n.packets_from_peer, n.dropped_no_permission), (1, 1, 0));
}

#[test]
fn refresh_with_lifetime_zero_deletes_the_allocation() {
    let (mut c, mut s) = allocated(Protocol::Udp);
    c.refresh(at(5), SimDuration::ZERO);
    drive(&mut c, &mut s, at(5));
    assert_eq!(client_events(&mut c), vec![TurnClientEvent::Deallocated]);
    assert_eq!(s.allocations().count(), 0);
    assert!(matches!(
        server_events(&mut s).as_slice(),
        [TurnServerEvent::AllocationDeleted { reason: DeleteReason::Refreshed, .. }]
    ));
    assert_eq!(c.relayed(), None);
    assert_eq!(s.poll_timeout(), None);
    s.handle_packet(at(6), &Datagram::udp(peer(), sa("10.1.1.10:50000"), vec![1]));
    assert!(matches!(server_events(&mut s).as_slice(), [TurnServerEvent::Discarded { reason: Discard::NotForUs, .. }]));
}

#[test]
fn allocations_and_permissions_expire_without_refresh() {
    let (mut c, mut s) = allocated(Protocol::Udp);
    c.create_permission(at(0), peer());
    drive(&mut c, &mut s, at(0));
    // The permission runs out at 300 s (RFC 8656 §9) if nobody refreshes it.
    assert_eq!(s.poll_timeout(), Some(at(300)));
    s.handle_timeout(at(300));
    s.handle_packet(at(301), &Datagram::udp(peer(), sa("10.1.1.10:50000"), vec![1]));
    assert_eq!(s.poll_transmit(), None);
    s.handle_timeout(at(600));
    assert_eq!(s.allocations().count(), 0);
    assert!(
        server_events(&mut s)
            .iter()
            .any(|e| matches!(e, TurnServerEvent::AllocationDeleted { reason: DeleteReason::Expired, .. }))
    );
}

#[test]
fn the_client_keeps_its_allocation_and_permissions_alive() {
    let (mut c, mut s) = allocated(Protocol::Udp);
    c.create_permission(at(0), peer());
    drive(&mut c, &mut s, at(0));
    client_events(&mut c);
    // Run both for 30 minutes of virtual time, waking each at its own deadlines.
    let mut now = at(0);
    for _ in 0..1000 {
        let next = [c.poll_timeout(), s.poll_timeout()].into_iter().flatten().min().unwrap();
        if next > at(1800) {
            break;
        }
        now = next;
        c.handle_timeout(now);
        s.handle_timeout(now);
        drive(&mut c, &mut s, now);
    }
    assert!(now >= at(1680), "refreshes ran until {now}");
    s.handle_timeout(at(1800));
    assert_eq!(s.allocations().count(), 1);
    assert!(s.allocations().next().unwrap().has_permission(at(1800), *peer().ip()));
    assert!(client_events(&mut c).iter().all(|e| matches!(e, TurnClientEvent::Refreshed { .. })));
}

#[test]
fn udp_requests_are_retransmitted_on_the_rfc_schedule_then_time_out() {
    let mut c = client_with("10.0.0.2:50000", SECRET, Protocol::Udp);
    c.binding(at(0));
    let mut sends = vec![];
    let mut payloads = vec![];
    let mut now = at(0);
    loop {
        while let Some(d) = c.poll_transmit() {
            sends.push(now.as_nanos() / 1_000_000);
            payloads.push(d.payload);
        }
        let Some(next) = c.poll_timeout() else { break };
        now = next;
        c.handle_timeout(now);
    }
    assert_eq!(sends, [0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert!(payloads.windows(2).all(|w| w[0] == w[1]), "retransmissions are identical");
    assert_eq!(now, SimTime::ZERO + SimDuration::from_millis(39_500));
    assert_eq!(client_events(&mut c), vec![TurnClientEvent::TimedOut { method: Method::BINDING }]);
}

#[test]
fn a_lost_response_is_recovered_by_retransmission() {
    let mut s = server_with(SECRET);
    let mut c = client_with("10.0.0.2:50000", SECRET, Protocol::Udp);
    c.binding(at(0));
    s.handle_packet(at(0), &c.poll_transmit().unwrap());
    s.poll_transmit().unwrap(); // lost
    c.handle_timeout(SimTime::ZERO + SimDuration::from_millis(500));
    drive(&mut c, &mut s, SimTime::ZERO + SimDuration::from_millis(500));
    assert_eq!(client_events(&mut c), vec![TurnClientEvent::BindingSucceeded { reflexive: c.local() }]);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn unknown_comprehension_required_attribute_gets_420() {
    let mut s = server_with(SECRET);
    let req = Message::request(Method::ALLOCATE, TransactionId([1; 12]))
        .with(Attribute::Other { typ: 0x0018, value: vec![0x80, 0, 0, 0] }); // EVEN-PORT
    s.handle_packet(at(0), &Datagram::udp(sa("10.0.0.2:1"), server_addr(), req.encode().unwrap()));
    let resp = Message::decode(&s.poll_transmit().unwrap().payload).unwrap();
    assert_eq!(resp.error_code(), Some((420, "Unknown Attribute")));
    assert!(resp.attributes.contains(&Attribute::UnknownAttributes(vec![0x0018])));
}

#[test]
fn turn_over_tcp_allocates_and_relays_channel_data() {
    let (mut c, mut s) = allocated(Protocol::Tcp);
    assert_eq!(s.allocations().next().unwrap().five_tuple.protocol, Protocol::Tcp);
    let channel = c.channel_bind(at(1), peer());
    drive(&mut c, &mut s, at(1));
    c.send(at(2), peer(), b"over tcp");
    assert_eq!(drive(&mut c, &mut s, at(2)), vec![Datagram::udp(sa("10.1.1.10:50000"), peer(), b"over tcp".to_vec())]);
    s.handle_packet(at(3), &Datagram::udp(peer(), sa("10.1.1.10:50000"), b"back".to_vec()));
    let seg = s.poll_transmit().unwrap();
    assert_eq!(seg.protocol(), Protocol::Tcp);
    assert_eq!(seg.payload.len(), 8, "ChannelData over TCP is padded to four bytes");
    c.handle_packet(at(3), &seg);
    assert!(client_events(&mut c).contains(&TurnClientEvent::Data { peer: peer(), data: b"back".to_vec() }));
    assert_eq!(channel, 0x4000);

    // Closing the connection deletes the allocation.
    let fin = Datagram::tcp(
        c.local(),
        server_tcp(),
        crate::wire::TcpHeader { flags: crate::wire::TcpFlags::FIN, ..Default::default() },
        vec![],
    );
    s.handle_packet(at(4), &fin);
    assert_eq!(s.allocations().count(), 0);
}

#[test]
fn garbage_never_panics_the_endpoints() {
    let (mut c, mut s) = allocated(Protocol::Udp);
    let mut seed = 0x1234_5678_u64;
    for len in 0..200usize {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8 & if len % 2 == 0 { 0x7f } else { 0xff }
            })
            .collect();
        s.handle_packet(at(1), &Datagram::udp(c.local(), server_addr(), bytes.clone()));
        s.handle_packet(at(1), &Datagram::udp(peer(), sa("10.1.1.10:50000"), bytes.clone()));
        c.handle_packet(at(1), &Datagram::udp(server_addr(), c.local(), bytes));
    }
    while s.poll_transmit().is_some() {}
    while c.poll_transmit().is_some() {}
}

#[test]
fn relaying_in_place_gives_the_bytes_of_the_copying_encoders() {
    use crate::wire::stun::{Class, MessageWriter, types};
    use crate::wire::turn::ChannelData;

    let relay = sa("10.1.1.10:50000");
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        for channel in [false, true] {
            let (mut c, mut s) = allocated(protocol);
            if channel {
                c.channel_bind(at(1), peer());
            } else {
                c.create_permission(at(1), peer());
            }
            drive(&mut c, &mut s, at(1));
            client_events(&mut c);
            // Every padding, and the sizes of audio and video packets.
            for len in (0..=9).chain([112, 172, 1212]) {
                let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8 ^ 0xa5).collect();
                // Client to peer: the data leaves alone, moved to the front of the buffer the
                // Send indication or ChannelData arrived in.
                c.send(at(2), peer(), &data);
                let to_peers = drive(&mut c, &mut s, at(2));
                assert_eq!(to_peers, vec![Datagram::udp(relay, peer(), data.clone())], "{protocol:?} {len} bytes");

                // Peer to client, from a buffer of exactly the data and from one with room.
                let mut roomy = Vec::with_capacity(len + 64);
                roomy.extend_from_slice(&data);
                for payload in [data.clone(), roomy] {
                    s.handle_datagram(at(3), Datagram::udp(peer(), relay, payload));
                    let out = s.poll_transmit().unwrap();
                    let expected = if channel {
                        ChannelData { channel: 0x4000, data: data.clone() }.encode(protocol == Protocol::Tcp).unwrap()
                    } else {
                        let tid = TransactionId(out.payload[8..20].try_into().unwrap());
                        let mut w = MessageWriter::new(Class::Indication, Method::DATA, tid, 0);
                        w.attribute(&Attribute::XorPeerAddress(peer())).raw(types::DATA, &data);
                        w.finish(None, false).unwrap()
                    };
                    assert_eq!(out.payload, expected, "{protocol:?} channel {channel} {len} bytes");
                    c.handle_packet(at(3), &out);
                    assert_eq!(client_events(&mut c), vec![TurnClientEvent::Data { peer: peer(), data: data.clone() }]);
                }
            }
            assert!(
                !server_events(&mut s).iter().any(|e| matches!(e, TurnServerEvent::Discarded { .. })),
                "nothing was discarded"
            );
        }
    }
}
