//! A TURN server (RFC 8656) with long-term credentials in the TURN REST API form.
//!
//! It listens on UDP and TCP addresses (say UDP 3478 and TCP 443, on an internal and an
//! external interface), relays UDP from a port range on its relay interface, and advertises
//! the relayed address it is configured with, which may differ from the interface address
//! when a 1:1 NAT stands in front (as on an Edge server). Authentication follows RFC 8489
//! §9.2.4: a request without MESSAGE-INTEGRITY gets 401 with REALM and NONCE; the password
//! is recomputed from the shared secret (`credentials`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::{Range, RangeInclusive};

use super::allocation::{Allocation, AllocationCounters, ChannelBinding, FiveTuple};
use super::credentials::{rest_expiry, rest_password};
use crate::proto::Discard;
use crate::proto::stream::TcpStream;
use crate::proto::stun_server::answer_binding;
use crate::time::{SimDuration, SimTime};
use crate::wire::stun::{
    Attribute, Class, HEADER_LEN, IntegrityKey, MessageView, MessageWriter, Method, ParseError, TRANSPORT_UDP,
    TransactionId, pad4, types,
};
use crate::wire::turn::{CHANNEL_HEADER_LEN, ChannelData, Frame, is_valid_channel};
use crate::wire::{Datagram, Protocol, Transport};

/// How a TURN server is set up.
#[derive(Clone, Debug)]
pub struct TurnServerConfig {
    /// UDP addresses clients reach the server on.
    pub udp: Vec<SocketAddrV4>,
    /// TCP addresses clients reach the server on.
    pub tcp: Vec<SocketAddrV4>,
    /// The interface address relayed sockets are bound to.
    pub relay_interface: Ipv4Addr,
    /// The relayed address told to clients (XOR-RELAYED-ADDRESS); differs from
    /// `relay_interface` behind a 1:1 NAT.
    pub relay_advertised: Ipv4Addr,
    /// Ports relayed sockets are taken from, lowest free first.
    pub relay_ports: RangeInclusive<u16>,
    pub realm: String,
    /// The shared secret of the TURN REST API scheme.
    pub secret: Vec<u8>,
    /// Seeds the nonces; no other randomness is used.
    pub seed: u64,
    /// Allocation lifetime when the client asks for less or nothing (RFC 8656 §2.2: 600 s).
    pub default_lifetime: SimDuration,
    /// The longest lifetime granted (RFC 8656 §7.2 recommends 3600 s).
    pub max_lifetime: SimDuration,
    /// Permission lifetime (RFC 8656 §9: 300 s).
    pub permission_lifetime: SimDuration,
    /// Channel binding lifetime (RFC 8656 §12: 600 s).
    pub channel_lifetime: SimDuration,
    pub software: Option<String>,
}

impl TurnServerConfig {
    /// A server on UDP `listen` relaying from `relay` (advertised as itself), with the RFC's
    /// default lifetimes and ports 50000–59999.
    pub fn new(listen: SocketAddrV4, relay: Ipv4Addr, realm: &str, secret: &[u8]) -> TurnServerConfig {
        TurnServerConfig {
            udp: vec![listen],
            tcp: Vec::new(),
            relay_interface: relay,
            relay_advertised: relay,
            relay_ports: 50000..=59999,
            realm: realm.to_owned(),
            secret: secret.to_vec(),
            seed: 0,
            default_lifetime: SimDuration::from_secs(600),
            max_lifetime: SimDuration::from_secs(3600),
            permission_lifetime: SimDuration::from_secs(300),
            channel_lifetime: SimDuration::from_secs(600),
            software: None,
        }
    }
}

/// Why an allocation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteReason {
    /// Its lifetime ran out without a Refresh.
    Expired,
    /// The client sent Refresh with LIFETIME 0 (RFC 8656 §7.3).
    Refreshed,
    /// Its TCP connection closed or fell out of step: the allocation lives on the
    /// connection's 5-tuple.
    ConnectionClosed,
}

/// What a TURN server did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TurnServerEvent {
    AllocationCreated {
        client: SocketAddrV4,
        protocol: Protocol,
        relayed: SocketAddrV4,
        lifetime: SimDuration,
    },
    AllocationRefreshed {
        client: SocketAddrV4,
        lifetime: SimDuration,
    },
    AllocationDeleted {
        client: SocketAddrV4,
        reason: DeleteReason,
        counters: AllocationCounters,
    },
    PermissionInstalled {
        client: SocketAddrV4,
        peer: Ipv4Addr,
    },
    ChannelBound {
        client: SocketAddrV4,
        channel: u16,
        peer: SocketAddrV4,
    },
    /// An error response was sent.
    Rejected {
        client: SocketAddrV4,
        method: Method,
        code: u16,
    },
    Discarded {
        from: SocketAddrV4,
        reason: Discard,
    },
}

/// A TURN server.
#[derive(Debug)]
pub struct TurnServer {
    cfg: TurnServerConfig,
    allocations: BTreeMap<FiveTuple, Allocation>,
    by_port: BTreeMap<u16, FiveTuple>,
    next_port: u16,
    nonces: BTreeSet<String>,
    /// Long-term keys already derived, by username: the realm they were derived for and the
    /// key (REST password then MD5), so each request costs one lookup instead of two hashes.
    keys: BTreeMap<String, (String, IntegrityKey)>,
    counter: u64,
    /// The last response per 5-tuple, resent for a retransmitted request (RFC 8656 §7.2).
    last_response: BTreeMap<FiveTuple, (TransactionId, Method, Vec<u8>)>,
    tcp: BTreeMap<(SocketAddrV4, SocketAddrV4), TcpStream>,
    out: VecDeque<Datagram>,
    events: VecDeque<TurnServerEvent>,
    /// Each allocation's earliest expiry (of itself, a permission or a channel), ordered by
    /// time: `poll_timeout` is the first entry, and a timeout visits only the allocations
    /// due. Kept up to date per allocation after anything that can change one, so neither
    /// relaying a packet nor answering a request walks every allocation (a busy Edge holds
    /// thousands).
    timeouts: BTreeSet<(SimTime, FiveTuple)>,
    /// The entry each allocation has in `timeouts`.
    armed: BTreeMap<FiveTuple, SimTime>,
    /// Allocations a request or deletion may have changed since their entries were set.
    touched: Vec<FiveTuple>,
}

/// An error to answer a request with.
struct Reject {
    code: u16,
    reason: &'static str,
    /// Add REALM and a fresh NONCE (401, 438).
    challenge: bool,
    /// Sign with this key (errors after successful authentication); boxed, as a key is
    /// large next to the rest and only this rare path carries one.
    key: Option<Box<IntegrityKey>>,
    unknown: Vec<u16>,
}

impl Reject {
    fn new(code: u16, reason: &'static str) -> Reject {
        Reject { code, reason, challenge: false, key: None, unknown: Vec::new() }
    }
    fn challenge(code: u16, reason: &'static str) -> Reject {
        Reject { challenge: true, ..Reject::new(code, reason) }
    }
    fn signed(code: u16, reason: &'static str, key: &IntegrityKey) -> Reject {
        Reject { key: Some(Box::new(key.clone())), ..Reject::new(code, reason) }
    }
}

/// What a success response carries after SOFTWARE, in order (at most three attributes, all
/// fixed-size, so answering builds no list).
type Granted = [Option<Attribute>; 3];

/// A success response with nothing but SOFTWARE.
const NOTHING: Granted = [None, None, None];

impl TurnServer {
    pub fn new(cfg: TurnServerConfig) -> TurnServer {
        let next_port = *cfg.relay_ports.start();
        TurnServer {
            cfg,
            allocations: BTreeMap::new(),
            by_port: BTreeMap::new(),
            next_port,
            nonces: BTreeSet::new(),
            keys: BTreeMap::new(),
            counter: 0,
            last_response: BTreeMap::new(),
            tcp: BTreeMap::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            timeouts: BTreeSet::new(),
            armed: BTreeMap::new(),
            touched: Vec::new(),
        }
    }

    pub fn config(&self) -> &TurnServerConfig {
        &self.cfg
    }

    /// Handles a datagram that stays the caller's: as `handle_datagram` on a copy.
    pub fn handle_packet(&mut self, now: SimTime, packet: &Datagram) {
        self.handle_datagram(now, packet.clone());
    }

    /// Handles a datagram the server may keep: relayed data leaves in the buffer it arrived
    /// in (a Send indication's or ChannelData's data moved to the front, a peer's datagram
    /// wrapped where it lies), so relaying a packet allocates nothing.
    pub fn handle_datagram(&mut self, now: SimTime, packet: Datagram) {
        self.dispatch(now, packet);
        self.refresh_deadline();
    }

    fn dispatch(&mut self, now: SimTime, packet: Datagram) {
        let relay_port = (*packet.dst.ip() == self.cfg.relay_interface && packet.transport == Transport::Udp)
            .then(|| self.by_port.get(&packet.dst.port()).copied())
            .flatten();
        if let Some(tuple) = relay_port {
            return self.handle_peer_packet(now, tuple, packet);
        }
        match packet.transport {
            Transport::Udp if self.cfg.udp.contains(&packet.dst) => {
                let tuple = FiveTuple { protocol: Protocol::Udp, client: packet.src, server: packet.dst };
                self.handle_client_datagram(now, tuple, packet.payload);
            }
            Transport::Tcp(_) if self.cfg.tcp.contains(&packet.dst) => self.handle_tcp_segment(now, &packet),
            _ => self.discard(packet.src, Discard::NotForUs),
        }
    }

    /// Expires allocations, permissions and channel bindings that are due.
    pub fn handle_timeout(&mut self, now: SimTime) {
        let mut due: Vec<FiveTuple> = self.timeouts.iter().take_while(|(t, _)| *t <= now).map(|(_, f)| *f).collect();
        // Deletions in 5-tuple order, whatever order their deadlines fell in.
        due.sort_unstable();
        for &t in &due {
            match self.allocations.get_mut(&t) {
                Some(a) if a.expires <= now => self.delete_allocation(t, DeleteReason::Expired),
                Some(a) => {
                    a.prune(now);
                    self.touched.push(t);
                }
                None => self.touched.push(t),
            }
        }
        self.refresh_deadline();
    }

    /// Re-files the allocations touched since the last call under their next expiry.
    fn refresh_deadline(&mut self) {
        while let Some(t) = self.touched.pop() {
            let at = self.allocations.get(&t).map(Allocation::next_timeout);
            // Most requests leave an allocation's first expiry where it was filed (or file a
            // new one after a fresh allocation's): then there is nothing to move.
            if self.armed.get(&t).copied() == at {
                continue;
            }
            if let Some(old) = self.armed.remove(&t) {
                self.timeouts.remove(&(old, t));
            }
            if let Some(at) = at {
                self.timeouts.insert((at, t));
                self.armed.insert(t, at);
            }
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Datagram> {
        self.out.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<TurnServerEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<SimTime> {
        debug_assert!(self.touched.is_empty(), "invariant: the deadline is refreshed after every input");
        self.timeouts.first().map(|(t, _)| *t)
    }

    /// Every live allocation, in 5-tuple order.
    pub fn allocations(&self) -> impl Iterator<Item = &Allocation> {
        self.allocations.values()
    }

    /// The counters of the allocation `client` holds (over any transport).
    pub fn counters(&self, client: SocketAddrV4) -> Option<AllocationCounters> {
        self.allocations.values().find(|a| a.five_tuple.client == client).map(|a| a.counters)
    }

    fn handle_tcp_segment(&mut self, now: SimTime, packet: &Datagram) {
        let conn = (packet.src, packet.dst);
        let tuple = FiveTuple { protocol: Protocol::Tcp, client: packet.src, server: packet.dst };
        if TcpStream::is_close(packet) {
            self.tcp.remove(&conn);
            if self.allocations.contains_key(&tuple) {
                self.delete_allocation(tuple, DeleteReason::ConnectionClosed);
            }
            return;
        }
        if packet.payload.is_empty() {
            return;
        }
        let stream = self.tcp.entry(conn).or_insert_with(|| TcpStream::new(packet.dst, packet.src));
        match stream.receive(packet) {
            Ok(frames) => {
                for f in frames {
                    match f {
                        Frame::Stun(bytes) => self.handle_stun(now, tuple, bytes),
                        Frame::ChannelData(cd) => self.handle_client_channel_data(now, tuple, cd.channel, cd.data),
                    }
                }
            }
            Err(e) => {
                self.tcp.remove(&conn);
                self.discard(packet.src, Discard::Framing(e));
                if self.allocations.contains_key(&tuple) {
                    self.delete_allocation(tuple, DeleteReason::ConnectionClosed);
                }
            }
        }
    }

    fn handle_client_datagram(&mut self, now: SimTime, tuple: FiveTuple, bytes: Vec<u8>) {
        // RFC 8656 §12: the top two bits tell STUN (0b00) from ChannelData (0b01).
        match bytes.first() {
            None => {
                self.discard(tuple.client, Discard::Malformed(ParseError::Truncated { needed: HEADER_LEN, have: 0 }))
            }
            Some(b) if b >> 6 == 0b00 => self.handle_stun(now, tuple, bytes),
            Some(b) if b >> 6 == 0b01 => match ChannelData::decode_ref(&bytes) {
                Ok((channel, data)) => {
                    // The data follows the header; padding, if any, is cut off with it.
                    let data = CHANNEL_HEADER_LEN..CHANNEL_HEADER_LEN + data.len();
                    self.handle_client_channel_data(now, tuple, channel, into_data(bytes, data))
                }
                Err(e) => self.discard(tuple.client, Discard::BadChannelData(e)),
            },
            Some(&b) => self.discard(tuple.client, Discard::UnknownProtocol(b)),
        }
    }

    fn handle_stun(&mut self, now: SimTime, tuple: FiveTuple, bytes: Vec<u8>) {
        let msg = match MessageView::decode(&bytes) {
            Ok(m) => m,
            Err(e) => return self.discard(tuple.client, Discard::Malformed(e)),
        };
        match (msg.class, msg.method) {
            (Class::Request, _) => self.handle_request(now, tuple, &msg),
            (Class::Indication, Method::SEND) => {
                // RFC 8656 §11.2: relay DATA to XOR-PEER-ADDRESS, if permitted.
                let (Some(peer), Some(data)) = (msg.xor_peer_address(), msg.data()) else {
                    let missing = if msg.data().is_none() { types::DATA } else { types::XOR_PEER_ADDRESS };
                    return self.discard(tuple.client, Discard::MissingAttribute(missing));
                };
                match range_within(&bytes, data) {
                    Some(range) => self.relay_to_peer(now, tuple, peer, into_data(bytes, range)),
                    // Unreachable (the view borrows `bytes`); copying keeps it harmless.
                    None => {
                        let data = data.to_vec();
                        self.relay_to_peer(now, tuple, peer, data)
                    }
                }
            }
            (class, method) => self.discard(tuple.client, Discard::Unexpected { method, class }),
        }
    }

    fn handle_request(&mut self, now: SimTime, tuple: FiveTuple, msg: &MessageView<'_>) {
        self.touched.push(tuple);
        if let Some((tid, method, cached)) = self.last_response.get(&tuple)
            && *tid == msg.transaction_id
            && *method == msg.method
        {
            // RFC 8656 §7.2: a retransmitted request gets the original response again.
            let cached = cached.clone();
            return self.send_to_client(tuple, cached);
        }
        if msg.method == Method::BINDING {
            match answer_binding(msg, tuple.client, self.cfg.software.as_deref()) {
                Some(Ok(b)) => self.send_to_client(tuple, b),
                Some(Err(reason)) => self.discard(tuple.client, reason),
                None => {}
            }
            return;
        }
        let unknown = msg.unknown_comprehension_required();
        if !unknown.is_empty() {
            // RFC 8489 §6.3.1.1: MUST answer 420 listing them.
            let reject = Reject { unknown, ..Reject::new(420, "Unknown Attribute") };
            return self.reject(tuple, msg, reject);
        }
        let key = match self.authenticate(now, tuple, msg) {
            Ok(key) => key,
            Err(reject) => return self.reject(tuple, msg, reject),
        };
        let result = match msg.method {
            Method::ALLOCATE => self.allocate(now, tuple, msg, &key),
            Method::REFRESH => self.refresh(now, tuple, msg, &key),
            Method::CREATE_PERMISSION => self.create_permission(now, tuple, msg, &key),
            Method::CHANNEL_BIND => self.channel_bind(now, tuple, msg, &key),
            _ => Err(Reject::signed(400, "Bad Request", &key)),
        };
        match result {
            Ok(granted) => {
                let software = self.cfg.software.as_deref();
                let body = software.map_or(0, |s| 4 + pad4(s.len())) + 12 + 8 + 12;
                let mut w = MessageWriter::new(Class::Success, msg.method, msg.transaction_id, body);
                if let Some(s) = software {
                    w.raw(types::SOFTWARE, s.as_bytes());
                }
                for a in granted.iter().flatten() {
                    w.attribute(a);
                }
                match w.finish(Some(&key), msg.has(types::FINGERPRINT)) {
                    Ok(b) => {
                        // The 5-tuple's previous response is overwritten in its own buffer.
                        match self.last_response.get_mut(&tuple) {
                            Some((tid, method, cached)) => {
                                (*tid, *method) = (msg.transaction_id, msg.method);
                                cached.clear();
                                cached.extend_from_slice(&b);
                            }
                            None => {
                                self.last_response.insert(tuple, (msg.transaction_id, msg.method, b.clone()));
                            }
                        }
                        self.send_to_client(tuple, b);
                    }
                    Err(e) => self.discard(tuple.client, Discard::Encode(e)),
                }
            }
            Err(reject) => self.reject(tuple, msg, reject),
        }
    }

    /// RFC 8489 §9.2.4 with the RFC 8656 §5 rule that requests on an allocation must use
    /// the credentials that created it. Returns the key to sign the response with.
    fn authenticate(&mut self, now: SimTime, tuple: FiveTuple, msg: &MessageView<'_>) -> Result<IntegrityKey, Reject> {
        if !msg.has_integrity() {
            // RFC 8489 §9.2.4: no MESSAGE-INTEGRITY → 401 with REALM and NONCE, no integrity.
            return Err(Reject::challenge(401, "Unauthorized"));
        }
        let (Some(user), Some(realm), Some(nonce)) = (msg.username(), msg.realm(), msg.nonce()) else {
            // RFC 8489 §9.2.4: MESSAGE-INTEGRITY without USERNAME, REALM or NONCE → 400.
            return Err(Reject::new(400, "Bad Request"));
        };
        if !self.nonces.contains(nonce) {
            // RFC 8489 §9.2.4: an invalid or expired NONCE → 438 with a new NONCE.
            return Err(Reject::challenge(438, "Stale Nonce"));
        }
        let key = self.long_term_key(user, realm);
        let valid = realm == self.cfg.realm && msg.verify_integrity(&key).is_ok();
        if let Some(a) = self.allocations.get(&tuple)
            && (a.username != user || !valid)
        {
            // RFC 8656 §5: credentials other than the allocation's → 441.
            return Err(Reject::new(441, "Wrong Credentials"));
        }
        if !valid {
            // RFC 8489 §9.2.4: integrity check fails → 401.
            return Err(Reject::challenge(401, "Unauthorized"));
        }
        if rest_expiry(user).is_none_or(|expiry| expiry <= now) {
            return Err(Reject::challenge(401, "Unauthorized"));
        }
        Ok(key)
    }

    fn allocate(
        &mut self,
        now: SimTime,
        tuple: FiveTuple,
        msg: &MessageView<'_>,
        key: &IntegrityKey,
    ) -> Result<Granted, Reject> {
        if self.allocations.contains_key(&tuple) {
            // RFC 8656 §7.2: an allocation on this 5-tuple already exists → 437.
            return Err(Reject::signed(437, "Allocation Mismatch", key));
        }
        match msg.requested_transport() {
            None => return Err(Reject::signed(400, "Bad Request", key)),
            Some(TRANSPORT_UDP) => {}
            // RFC 8656 §7.2: a transport other than UDP → 442.
            Some(_) => return Err(Reject::signed(442, "Unsupported Transport Protocol", key)),
        }
        let Some(port) = self.free_port() else {
            return Err(Reject::signed(508, "Insufficient Capacity", key));
        };
        let lifetime = self.granted_lifetime(msg.lifetime());
        let relay = SocketAddrV4::new(self.cfg.relay_interface, port);
        let relayed = SocketAddrV4::new(self.cfg.relay_advertised, port);
        let username = msg.username().unwrap_or_default().to_owned();
        self.allocations.insert(
            tuple,
            Allocation {
                five_tuple: tuple,
                username,
                relay,
                relayed,
                expires: now + lifetime,
                permissions: BTreeMap::new(),
                channels: BTreeMap::new(),
                counters: AllocationCounters::default(),
            },
        );
        self.by_port.insert(port, tuple);
        self.events.push_back(TurnServerEvent::AllocationCreated {
            client: tuple.client,
            protocol: tuple.protocol,
            relayed,
            lifetime,
        });
        Ok([
            Some(Attribute::XorRelayedAddress(relayed)),
            Some(Attribute::Lifetime(secs(lifetime))),
            Some(Attribute::XorMappedAddress(tuple.client)),
        ])
    }

    fn refresh(
        &mut self,
        now: SimTime,
        tuple: FiveTuple,
        msg: &MessageView<'_>,
        key: &IntegrityKey,
    ) -> Result<Granted, Reject> {
        if !self.allocations.contains_key(&tuple) {
            return Err(Reject::signed(437, "Allocation Mismatch", key));
        }
        if msg.lifetime() == Some(0) {
            self.delete_allocation(tuple, DeleteReason::Refreshed);
            return Ok([Some(Attribute::Lifetime(0)), None, None]);
        }
        let lifetime = self.granted_lifetime(msg.lifetime());
        if let Some(a) = self.allocations.get_mut(&tuple) {
            a.expires = now + lifetime;
        }
        self.events.push_back(TurnServerEvent::AllocationRefreshed { client: tuple.client, lifetime });
        Ok([Some(Attribute::Lifetime(secs(lifetime))), None, None])
    }

    fn create_permission(
        &mut self,
        now: SimTime,
        tuple: FiveTuple,
        msg: &MessageView<'_>,
        key: &IntegrityKey,
    ) -> Result<Granted, Reject> {
        if !self.allocations.contains_key(&tuple) {
            return Err(Reject::signed(437, "Allocation Mismatch", key));
        }
        if msg.has_ipv6_peer() {
            return Err(Reject::signed(443, "Peer Address Family Mismatch", key));
        }
        if msg.xor_peer_address().is_none() {
            return Err(Reject::signed(400, "Bad Request", key));
        }
        let until = now + self.cfg.permission_lifetime;
        for peer in msg.xor_peer_addresses() {
            self.install_permission(tuple, *peer.ip(), until);
        }
        Ok(NOTHING)
    }

    fn channel_bind(
        &mut self,
        now: SimTime,
        tuple: FiveTuple,
        msg: &MessageView<'_>,
        key: &IntegrityKey,
    ) -> Result<Granted, Reject> {
        let Some(a) = self.allocations.get_mut(&tuple) else {
            return Err(Reject::signed(437, "Allocation Mismatch", key));
        };
        if msg.has_ipv6_peer() {
            return Err(Reject::signed(443, "Peer Address Family Mismatch", key));
        }
        let (Some(channel), Some(peer)) = (msg.channel_number(), msg.xor_peer_address()) else {
            return Err(Reject::signed(400, "Bad Request", key));
        };
        // RFC 8656 §12.2: the number must be in range, and neither the channel nor the peer
        // may already be bound to something else.
        let clash = a.channel_peer(now, channel).is_some_and(|p| p != peer)
            || a.peer_channel(now, peer).is_some_and(|c| c != channel);
        if !is_valid_channel(channel) || clash {
            return Err(Reject::signed(400, "Bad Request", key));
        }
        let fresh = a.channel_peer(now, channel).is_none();
        a.channels.insert(channel, ChannelBinding { peer, expires: now + self.cfg.channel_lifetime });
        let until = now + self.cfg.permission_lifetime;
        self.install_permission(tuple, *peer.ip(), until);
        if fresh {
            self.events.push_back(TurnServerEvent::ChannelBound { client: tuple.client, channel, peer });
        }
        Ok(NOTHING)
    }

    /// ChannelData from the client: relay to the bound peer (RFC 8656 §12.6).
    fn handle_client_channel_data(&mut self, now: SimTime, tuple: FiveTuple, channel: u16, data: Vec<u8>) {
        let Some(a) = self.allocations.get(&tuple) else {
            return self.discard(tuple.client, Discard::NoAllocation);
        };
        let Some(peer) = a.channel_peer(now, channel) else {
            return self.discard(tuple.client, Discard::NoChannel(channel));
        };
        self.relay_to_peer(now, tuple, peer, data);
    }

    fn relay_to_peer(&mut self, now: SimTime, tuple: FiveTuple, peer: SocketAddrV4, data: Vec<u8>) {
        let Some(a) = self.allocations.get_mut(&tuple) else {
            return self.discard(tuple.client, Discard::NoAllocation);
        };
        if !a.has_permission(now, *peer.ip()) {
            // RFC 8656 §11.2: without a permission the data MUST be discarded.
            a.counters.dropped_no_permission += 1;
            return self.discard(tuple.client, Discard::NoPermission(*peer.ip()));
        }
        a.counters.packets_to_peer += 1;
        a.counters.bytes_to_peer += data.len() as u64;
        self.out.push_back(Datagram::udp(a.relay, peer, data));
    }

    /// A datagram from a peer on a relayed port (RFC 8656 §11.3, §12.6), wrapped for the
    /// client in its own buffer.
    fn handle_peer_packet(&mut self, now: SimTime, tuple: FiveTuple, packet: Datagram) {
        let from = packet.src;
        let Some(a) = self.allocations.get_mut(&tuple) else {
            return self.discard(from, Discard::NoAllocation);
        };
        if !a.has_permission(now, *from.ip()) {
            // RFC 8656 §11.3: no permission for the peer's IP → silently discarded.
            a.counters.dropped_no_permission += 1;
            return self.discard(from, Discard::NoPermission(*from.ip()));
        }
        a.counters.packets_from_peer += 1;
        a.counters.bytes_from_peer += packet.payload.len() as u64;
        let bytes = match a.peer_channel(now, from) {
            Some(channel) => ChannelData { channel, data: packet.payload }
                .into_bytes(tuple.protocol == Protocol::Tcp)
                .map_err(Discard::BadChannelData),
            None => {
                let tid = self.next_transaction_id();
                let head = [Attribute::XorPeerAddress(from)];
                MessageWriter::wrap(packet.payload, Class::Indication, Method::DATA, tid, &head, types::DATA)
                    .map_err(Discard::Encode)
            }
        };
        match bytes {
            Ok(b) => self.send_to_client(tuple, b),
            Err(reason) => self.discard(from, reason),
        }
    }

    fn reject(&mut self, tuple: FiveTuple, msg: &MessageView<'_>, r: Reject) {
        let nonce = r.challenge.then(|| self.new_nonce());
        let software = self.cfg.software.as_deref();
        let unknown_len = if r.unknown.is_empty() { 0 } else { 4 + pad4(2 * r.unknown.len()) };
        let mut body = 8 + pad4(r.reason.len()) + unknown_len;
        body += software.map_or(0, |s| 4 + pad4(s.len()));
        if let Some(nonce) = &nonce {
            body += 8 + pad4(self.cfg.realm.len()) + pad4(nonce.len());
        }
        let mut w = MessageWriter::new(Class::Error, msg.method, msg.transaction_id, body);
        w.error_code(r.code, r.reason);
        if !r.unknown.is_empty() {
            w.attribute(&Attribute::UnknownAttributes(r.unknown));
        }
        if let Some(nonce) = &nonce {
            w.raw(types::REALM, self.cfg.realm.as_bytes()).raw(types::NONCE, nonce.as_bytes());
        }
        if let Some(s) = software {
            w.raw(types::SOFTWARE, s.as_bytes());
        }
        self.events.push_back(TurnServerEvent::Rejected { client: tuple.client, method: msg.method, code: r.code });
        match w.finish(r.key.as_deref(), msg.has(types::FINGERPRINT)) {
            Ok(b) => self.send_to_client(tuple, b),
            Err(e) => self.discard(tuple.client, Discard::Encode(e)),
        }
    }

    fn send_to_client(&mut self, tuple: FiveTuple, bytes: Vec<u8>) {
        let d = match tuple.protocol {
            Protocol::Udp => Datagram::udp(tuple.server, tuple.client, bytes),
            Protocol::Tcp => self
                .tcp
                .entry((tuple.client, tuple.server))
                .or_insert_with(|| TcpStream::new(tuple.server, tuple.client))
                .segment(bytes),
        };
        self.out.push_back(d);
    }

    fn install_permission(&mut self, tuple: FiveTuple, peer: Ipv4Addr, until: SimTime) {
        if let Some(a) = self.allocations.get_mut(&tuple)
            && a.permissions.insert(peer, until).is_none()
        {
            self.events.push_back(TurnServerEvent::PermissionInstalled { client: tuple.client, peer });
        }
    }

    fn delete_allocation(&mut self, tuple: FiveTuple, reason: DeleteReason) {
        self.touched.push(tuple);
        if let Some(a) = self.allocations.remove(&tuple) {
            self.by_port.remove(&a.relay.port());
            self.last_response.remove(&tuple);
            self.events.push_back(TurnServerEvent::AllocationDeleted {
                client: tuple.client,
                reason,
                counters: a.counters,
            });
        }
    }

    /// The next free relay port at or after the cursor, wrapping once round the range.
    fn free_port(&mut self) -> Option<u16> {
        let (lo, hi) = (*self.cfg.relay_ports.start(), *self.cfg.relay_ports.end());
        if lo > hi {
            return None;
        }
        let span = (hi - lo) as u32 + 1;
        let start = self.next_port.clamp(lo, hi);
        for i in 0..span {
            let port = lo + ((start - lo) as u32 + i).rem_euclid(span) as u16;
            if !self.by_port.contains_key(&port) {
                self.next_port = if port == hi { lo } else { port + 1 };
                return Some(port);
            }
        }
        None
    }

    /// RFC 8656 §7.2: min(requested, max), but never below the default.
    fn granted_lifetime(&self, requested_secs: Option<u32>) -> SimDuration {
        let requested = requested_secs.map_or(self.cfg.default_lifetime, |s| SimDuration::from_secs(s as u64));
        requested.min(self.cfg.max_lifetime).max(self.cfg.default_lifetime)
    }

    /// The long-term key for `user` in `realm`: the REST password recomputed from the shared
    /// secret, then MD5 (RFC 8489 §9.2.2), remembered per user.
    fn long_term_key(&mut self, user: &str, realm: &str) -> IntegrityKey {
        if let Some((r, key)) = self.keys.get(user)
            && r == realm
        {
            return key.clone();
        }
        let password = rest_password(&self.cfg.secret, user);
        let key = IntegrityKey::long_term(user, realm, &password);
        self.keys.insert(user.to_owned(), (realm.to_owned(), key.clone()));
        key
    }

    fn new_nonce(&mut self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.counter += 1;
        let id = TransactionId::derive(self.cfg.seed ^ 0x6e6f_6e63_6521, self.counter);
        let mut nonce = String::with_capacity(2 * id.0.len());
        for b in id.0 {
            nonce.push(HEX[usize::from(b >> 4)] as char);
            nonce.push(HEX[usize::from(b & 0x0f)] as char);
        }
        self.nonces.insert(nonce.clone());
        nonce
    }

    fn next_transaction_id(&mut self) -> TransactionId {
        self.counter += 1;
        TransactionId::derive(self.cfg.seed, self.counter)
    }

    fn discard(&mut self, from: SocketAddrV4, reason: Discard) {
        self.events.push_back(TurnServerEvent::Discarded { from, reason });
    }
}

/// Where `part`, a slice borrowed from `whole`, lies in it (`None` if it does not).
fn range_within(whole: &[u8], part: &[u8]) -> Option<Range<usize>> {
    let start = part.as_ptr().addr().checked_sub(whole.as_ptr().addr())?;
    let end = start.checked_add(part.len())?;
    (end <= whole.len()).then_some(start..end)
}

/// `bytes` cut down to `range` in place: the data is moved to the front of its own buffer
/// (a relayed packet's payload leaves in the allocation it arrived in).
fn into_data(mut bytes: Vec<u8>, range: Range<usize>) -> Vec<u8> {
    debug_assert!(range.end <= bytes.len(), "invariant: the range was read from these bytes");
    let len = range.len();
    bytes.copy_within(range, 0);
    bytes.truncate(len);
    bytes
}

fn secs(d: SimDuration) -> u32 {
    u32::try_from(d.as_nanos() / 1_000_000_000).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_cut_out_of_its_own_buffer() {
        let bytes: Vec<u8> = (0..40).collect();
        let (inner, other) = (&bytes[12..30], [0u8; 4]);
        assert_eq!(range_within(&bytes, inner), Some(12..30));
        assert_eq!(range_within(&bytes, &bytes[40..]), Some(40..40));
        assert_eq!(range_within(&bytes, &other), None);
        let ptr = bytes.as_ptr();
        let cut = into_data(bytes.clone(), 12..30);
        assert_eq!(cut, (12..30).collect::<Vec<u8>>());
        let kept = into_data(bytes, 36..40);
        assert_eq!((kept.as_slice(), kept.as_ptr()), ([36, 37, 38, 39].as_slice(), ptr), "the same allocation");
    }
}
