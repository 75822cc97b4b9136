//! A TURN client (RFC 8656 §7–§12) that also does plain STUN Binding (RFC 8489).
//!
//! Commands (`binding`, `allocate`, `refresh`, `create_permission`, `channel_bind`, `send`)
//! start transactions; responses and timeouts finish them, reported as events. Long-term
//! authentication follows RFC 8489 §9.2.3: the first Allocate goes without credentials, the
//! 401's REALM and NONCE are kept, and every later request is signed; a 438 refreshes the
//! nonce and retries once. UDP requests are retransmitted (RTO 500 ms doubling, Rc = 7,
//! Rm = 16); over TCP they are sent once and time out after Ti = 39.5 s.
//!
//! While allocated the client keeps its state alive: it refreshes the allocation a minute
//! before it expires, each permission after 240 s (RFC 8656 §9: permissions last 300 s)
//! and each channel binding after 540 s (RFC 8656 §12: bindings last 600 s).

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::proto::Discard;
use crate::proto::stream::TcpStream;
use crate::proto::transaction::{TimerAction, Transaction, Transactions};
use crate::time::{SimDuration, SimTime};
use crate::wire::stun::{
    Attribute, Class, HEADER_LEN, IntegrityKey, MessageView, MessageWriter, Method, ParseError, TRANSPORT_UDP,
    TransactionId, pad4, types,
};
use crate::wire::turn::{CHANNEL_MAX, CHANNEL_MIN, ChannelData, Frame};
use crate::wire::{Datagram, Protocol};

/// Permission refresh interval: before the server's 300 s run out (RFC 8656 §9).
const PERMISSION_REFRESH: SimDuration = SimDuration::from_secs(240);
/// Channel refresh interval: before the server's 600 s run out (RFC 8656 §12).
const CHANNEL_REFRESH: SimDuration = SimDuration::from_secs(540);
/// How long before expiry the allocation is refreshed.
const ALLOCATION_MARGIN: SimDuration = SimDuration::from_secs(60);

/// How a TURN client is set up.
#[derive(Clone, Debug)]
pub struct TurnClientConfig {
    pub local: SocketAddrV4,
    pub server: SocketAddrV4,
    /// UDP, or TCP to the server (the relay to peers is UDP either way).
    pub protocol: Protocol,
    pub username: String,
    pub password: String,
    /// Seeds transaction ids; no other randomness is used.
    pub seed: u64,
    pub software: Option<String>,
}

impl TurnClientConfig {
    pub fn new(local: SocketAddrV4, server: SocketAddrV4, username: &str, password: &str) -> TurnClientConfig {
        TurnClientConfig {
            local,
            server,
            protocol: Protocol::Udp,
            username: username.to_owned(),
            password: password.to_owned(),
            seed: 0,
            software: None,
        }
    }
}

/// What a TURN client learned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TurnClientEvent {
    /// A Binding request succeeded: our server-reflexive address.
    BindingSucceeded {
        reflexive: SocketAddrV4,
    },
    Allocated {
        relayed: SocketAddrV4,
        reflexive: Option<SocketAddrV4>,
        lifetime: SimDuration,
    },
    Refreshed {
        lifetime: SimDuration,
    },
    /// The allocation is gone (Refresh with lifetime 0 succeeded).
    Deallocated,
    PermissionCreated {
        peer: Ipv4Addr,
    },
    ChannelBound {
        channel: u16,
        peer: SocketAddrV4,
    },
    /// Data relayed from a peer, by Data indication or ChannelData.
    Data {
        peer: SocketAddrV4,
        data: Vec<u8>,
    },
    /// The server refused a request.
    RequestFailed {
        method: Method,
        code: u16,
        reason: String,
    },
    /// No response in time (RFC 8489 §6.2.1: 39.5 s over UDP).
    TimedOut {
        method: Method,
    },
    Discarded {
        from: SocketAddrV4,
        reason: Discard,
    },
}

/// What an outstanding transaction asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Request {
    Binding,
    Allocate,
    Refresh { lifetime_secs: u32 },
    CreatePermission { peer: SocketAddrV4 },
    ChannelBind { channel: u16, peer: SocketAddrV4 },
}

impl Request {
    fn method(self) -> Method {
        match self {
            Request::Binding => Method::BINDING,
            Request::Allocate => Method::ALLOCATE,
            Request::Refresh { .. } => Method::REFRESH,
            Request::CreatePermission { .. } => Method::CREATE_PERMISSION,
            Request::ChannelBind { .. } => Method::CHANNEL_BIND,
        }
    }
}

#[derive(Clone, Debug)]
struct Pending {
    request: Request,
    tx: Transaction,
    signed: bool,
    /// Already retried once after a 438.
    renewed_nonce: bool,
}

/// A TURN client on one local address, talking to one server.
#[derive(Debug)]
pub struct TurnClient {
    cfg: TurnClientConfig,
    counter: u64,
    pending: Transactions<Pending>,
    realm: Option<String>,
    nonce: Option<String>,
    key: Option<IntegrityKey>,
    relayed: Option<SocketAddrV4>,
    reflexive: Option<SocketAddrV4>,
    refresh_at: Option<SimTime>,
    /// Peer IPs we asked permissions for, and when to refresh them.
    permissions: BTreeMap<Ipv4Addr, SimTime>,
    /// Confirmed channel bindings, and when to refresh them.
    channels: BTreeMap<u16, (SocketAddrV4, SimTime)>,
    next_channel: u16,
    tcp: Option<TcpStream>,
    out: VecDeque<Datagram>,
    events: VecDeque<TurnClientEvent>,
    /// The earliest timer (`poll_timeout`), recomputed whenever a transaction, the
    /// allocation, a permission or a channel changes, so the question asked after every
    /// packet the endpoint handles is a field read, and relaying data changes nothing.
    deadline: Option<SimTime>,
}

impl TurnClient {
    pub fn new(cfg: TurnClientConfig) -> TurnClient {
        let tcp = (cfg.protocol == Protocol::Tcp).then(|| TcpStream::new(cfg.local, cfg.server));
        TurnClient {
            cfg,
            counter: 0,
            pending: Transactions::default(),
            realm: None,
            nonce: None,
            key: None,
            relayed: None,
            reflexive: None,
            refresh_at: None,
            permissions: BTreeMap::new(),
            channels: BTreeMap::new(),
            next_channel: CHANNEL_MIN,
            tcp,
            out: VecDeque::new(),
            events: VecDeque::new(),
            deadline: None,
        }
    }

    pub fn local(&self) -> SocketAddrV4 {
        self.cfg.local
    }

    /// The transport to the server (UDP, or TCP for TURN over TCP).
    pub fn protocol(&self) -> Protocol {
        self.cfg.protocol
    }

    /// The server this client talks to.
    pub fn server(&self) -> SocketAddrV4 {
        self.cfg.server
    }

    /// The relayed address, once allocated.
    pub fn relayed(&self) -> Option<SocketAddrV4> {
        self.relayed
    }

    /// The server-reflexive address from the last Binding or Allocate response.
    pub fn reflexive(&self) -> Option<SocketAddrV4> {
        self.reflexive
    }

    /// The confirmed channel bound to `peer`.
    pub fn channel_for(&self, peer: SocketAddrV4) -> Option<u16> {
        self.channels.iter().find(|(_, (p, _))| *p == peer).map(|(c, _)| *c)
    }

    /// Sends a Binding request (RFC 8489 §7.2.1) to learn the server-reflexive address.
    pub fn binding(&mut self, now: SimTime) {
        self.start(now, Request::Binding, false);
    }

    /// Requests an allocation (RFC 8656 §7.1).
    pub fn allocate(&mut self, now: SimTime) {
        self.start(now, Request::Allocate, false);
    }

    /// Refreshes the allocation for `lifetime`; zero deletes it (RFC 8656 §7.3).
    pub fn refresh(&mut self, now: SimTime, lifetime: SimDuration) {
        let lifetime_secs = u32::try_from(lifetime.as_nanos() / 1_000_000_000).unwrap_or(u32::MAX);
        self.start(now, Request::Refresh { lifetime_secs }, false);
    }

    /// Installs a permission for `peer`'s IP address (RFC 8656 §9.1).
    pub fn create_permission(&mut self, now: SimTime, peer: SocketAddrV4) {
        self.start(now, Request::CreatePermission { peer }, false);
    }

    /// Binds a channel to `peer` (RFC 8656 §12.1), reusing the peer's channel if it has one;
    /// returns the channel number.
    pub fn channel_bind(&mut self, now: SimTime, peer: SocketAddrV4) -> u16 {
        let channel = self.channel_for(peer).unwrap_or_else(|| {
            let c = self.next_channel;
            self.next_channel = if c >= CHANNEL_MAX { CHANNEL_MIN } else { c + 1 };
            c
        });
        self.start(now, Request::ChannelBind { channel, peer }, false);
        channel
    }

    /// Sends `data` to `peer` through the relay: as ChannelData when a channel is bound,
    /// else in a Send indication (RFC 8656 §11.1, §12.5).
    pub fn send(&mut self, _now: SimTime, peer: SocketAddrV4, data: &[u8]) {
        let bytes = match self.channel_for(peer) {
            Some(channel) => ChannelData { channel, data: data.to_vec() }
                .into_bytes(self.cfg.protocol == Protocol::Tcp)
                .map_err(Discard::BadChannelData),
            None => {
                let tid = self.next_tid();
                let mut w = MessageWriter::new(Class::Indication, Method::SEND, tid, 12 + 4 + pad4(data.len()));
                w.attribute(&Attribute::XorPeerAddress(peer)).raw(types::DATA, data);
                w.finish(None, false).map_err(Discard::Encode)
            }
        };
        match bytes {
            Ok(b) => self.transmit(b),
            Err(reason) => self.events.push_back(TurnClientEvent::Discarded { from: self.cfg.local, reason }),
        }
    }

    pub fn handle_packet(&mut self, now: SimTime, packet: &Datagram) {
        if let Some((peer, data)) = self.handle_packet_data(now, packet) {
            self.events.push_back(TurnClientEvent::Data { peer, data: data.to_vec() });
        }
    }

    /// `handle_packet` for a caller that takes relayed data itself: data from a peer that
    /// arrives over UDP (a Data indication, or ChannelData on a bound channel) is returned,
    /// the peer and the bytes borrowed from `packet`, instead of being copied into a `Data`
    /// event. Everything else is handled exactly as `handle_packet` handles it. (Over TCP
    /// the data comes out of the stream's reassembly, so it is queued as an event.)
    pub fn handle_packet_data<'p>(&mut self, now: SimTime, packet: &'p Datagram) -> Option<(SocketAddrV4, &'p [u8])> {
        if packet.dst != self.cfg.local || packet.src != self.cfg.server || packet.protocol() != self.cfg.protocol {
            self.discard(packet.src, Discard::NotForUs);
            return None;
        }
        self.receive(now, packet)
    }

    fn receive<'p>(&mut self, now: SimTime, packet: &'p Datagram) -> Option<(SocketAddrV4, &'p [u8])> {
        match self.tcp.as_mut() {
            None => return self.handle_bytes(now, &packet.payload),
            Some(stream) => match stream.receive(packet) {
                Ok(frames) => {
                    for f in frames {
                        match f {
                            Frame::Stun(b) => self.handle_stun(now, &b),
                            Frame::ChannelData(cd) => self.handle_channel_data(cd),
                        }
                    }
                }
                Err(e) => self.discard(packet.src, Discard::Framing(e)),
            },
        }
        None
    }

    /// Retransmits, times out, and refreshes what is due.
    pub fn handle_timeout(&mut self, now: SimTime) {
        self.run_timers(now);
        self.refresh_deadline();
    }

    fn run_timers(&mut self, now: SimTime) {
        let mut resend = Vec::new();
        let mut failed = Vec::new();
        for (tid, p) in self.pending.iter_mut() {
            match p.tx.handle_timeout(now) {
                TimerAction::Wait => {}
                TimerAction::Retransmit => resend.push(p.tx.bytes.clone()),
                TimerAction::GiveUp => failed.push(*tid),
            }
        }
        for b in resend {
            self.transmit(b);
        }
        for tid in failed {
            if let Some(p) = self.pending.remove(&tid) {
                self.events.push_back(TurnClientEvent::TimedOut { method: p.request.method() });
            }
        }
        if self.relayed.is_none() {
            return;
        }
        if self.refresh_at.is_some_and(|t| t <= now) {
            self.refresh_at = None;
            self.start(now, Request::Refresh { lifetime_secs: 600 }, false);
        }
        let due: Vec<Ipv4Addr> = self.permissions.iter().filter(|(_, t)| **t <= now).map(|(ip, _)| *ip).collect();
        for ip in due {
            self.permissions.insert(ip, now + PERMISSION_REFRESH);
            self.start(now, Request::CreatePermission { peer: SocketAddrV4::new(ip, 0) }, false);
        }
        let due: Vec<(u16, SocketAddrV4)> =
            self.channels.iter().filter(|(_, (_, t))| *t <= now).map(|(c, (p, _))| (*c, *p)).collect();
        for (channel, peer) in due {
            self.channels.insert(channel, (peer, now + CHANNEL_REFRESH));
            self.start(now, Request::ChannelBind { channel, peer }, false);
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Datagram> {
        self.out.pop_front()
    }

    /// Whether nothing waits to be sent or reported.
    pub fn is_drained(&self) -> bool {
        self.out.is_empty() && self.events.is_empty()
    }

    pub fn poll_event(&mut self) -> Option<TurnClientEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<SimTime> {
        debug_assert_eq!(self.deadline, self.next_deadline(), "invariant: the deadline follows every change");
        self.deadline
    }

    /// The earliest pending retransmission or timeout and, while allocated, keepalive.
    fn next_deadline(&self) -> Option<SimTime> {
        let txs = self.pending.values().map(|p| p.tx.next_timeout());
        let live = self.relayed.is_some();
        let refresh = self.refresh_at.filter(|_| live);
        let perms = self.permissions.values().copied().filter(move |_| live);
        let chans = self.channels.values().map(|(_, t)| *t).filter(move |_| live);
        txs.chain(refresh).chain(perms).chain(chans).min()
    }

    fn refresh_deadline(&mut self) {
        self.deadline = self.next_deadline();
    }

    fn start(&mut self, now: SimTime, request: Request, renewed_nonce: bool) {
        self.send_request(now, request, renewed_nonce);
        self.refresh_deadline();
    }

    /// Encodes `request` straight into its datagram's buffer and opens its transaction.
    fn send_request(&mut self, now: SimTime, request: Request, renewed_nonce: bool) {
        let tid = self.next_tid();
        let signed = request != Request::Binding && self.key.is_some();
        let (realm, nonce) = (self.realm.as_deref().unwrap_or_default(), self.nonce.as_deref().unwrap_or_default());
        let software = self.cfg.software.as_deref();
        let mut body = match request {
            Request::Binding => 0,
            Request::Allocate | Request::Refresh { .. } => 8,
            Request::CreatePermission { .. } => 12,
            Request::ChannelBind { .. } => 8 + 12,
        };
        body += software.map_or(0, |s| 4 + pad4(s.len()));
        if signed {
            body += 12 + pad4(self.cfg.username.len()) + pad4(realm.len()) + pad4(nonce.len());
        }
        let mut w = MessageWriter::new(Class::Request, request.method(), tid, body);
        match request {
            Request::Binding => {}
            Request::Allocate => {
                w.attribute(&Attribute::RequestedTransport(TRANSPORT_UDP));
            }
            Request::Refresh { lifetime_secs } => {
                w.attribute(&Attribute::Lifetime(lifetime_secs));
            }
            Request::CreatePermission { peer } => {
                w.attribute(&Attribute::XorPeerAddress(peer));
            }
            Request::ChannelBind { channel, peer } => {
                w.attribute(&Attribute::ChannelNumber(channel)).attribute(&Attribute::XorPeerAddress(peer));
            }
        }
        if let Some(s) = software {
            w.raw(types::SOFTWARE, s.as_bytes());
        }
        if signed {
            w.raw(types::USERNAME, self.cfg.username.as_bytes())
                .raw(types::REALM, realm.as_bytes())
                .raw(types::NONCE, nonce.as_bytes());
        }
        let key = if signed { self.key.as_ref() } else { None };
        let bytes = match w.finish(key, true) {
            Ok(b) => b,
            Err(e) => return self.discard(self.cfg.local, Discard::Encode(e)),
        };
        let tx = Transaction::new(now, tid, bytes.clone(), self.cfg.protocol == Protocol::Tcp);
        self.pending.insert(tid, Pending { request, tx, signed, renewed_nonce });
        self.transmit(bytes);
    }

    /// One datagram's bytes from the server; relayed data is returned.
    fn handle_bytes<'b>(&mut self, now: SimTime, bytes: &'b [u8]) -> Option<(SocketAddrV4, &'b [u8])> {
        // RFC 8656 §12: the top two bits tell STUN (0b00) from ChannelData (0b01).
        match bytes.first() {
            None => {
                self.discard(self.cfg.server, Discard::Malformed(ParseError::Truncated { needed: HEADER_LEN, have: 0 }))
            }
            Some(b) if b >> 6 == 0b00 => return self.stun_data(now, bytes),
            Some(b) if b >> 6 == 0b01 => match ChannelData::decode_ref(bytes) {
                Ok((channel, data)) => return self.channel_peer(channel).map(|peer| (peer, data)),
                Err(e) => self.discard(self.cfg.server, Discard::BadChannelData(e)),
            },
            Some(&b) => self.discard(self.cfg.server, Discard::UnknownProtocol(b)),
        }
        None
    }

    fn handle_stun(&mut self, now: SimTime, bytes: &[u8]) {
        if let Some((peer, data)) = self.stun_data(now, bytes) {
            self.events.push_back(TurnClientEvent::Data { peer, data: data.to_vec() });
        }
    }

    /// A STUN message from the server; the data of a Data indication is returned.
    fn stun_data<'b>(&mut self, now: SimTime, bytes: &'b [u8]) -> Option<(SocketAddrV4, &'b [u8])> {
        let msg = match MessageView::decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.discard(self.cfg.server, Discard::Malformed(e));
                return None;
            }
        };
        match msg.class {
            Class::Success | Class::Error => {
                self.handle_response(now, &msg);
                self.refresh_deadline();
            }
            Class::Indication if msg.method == Method::DATA => match (msg.xor_peer_address(), msg.data()) {
                (Some(peer), Some(data)) => return Some((peer, data)),
                (None, _) => self.discard(self.cfg.server, Discard::MissingAttribute(types::XOR_PEER_ADDRESS)),
                (_, None) => self.discard(self.cfg.server, Discard::MissingAttribute(types::DATA)),
            },
            class => self.discard(self.cfg.server, Discard::Unexpected { method: msg.method, class }),
        }
        None
    }

    fn handle_channel_data(&mut self, cd: ChannelData) {
        if let Some(peer) = self.channel_peer(cd.channel) {
            self.events.push_back(TurnClientEvent::Data { peer, data: cd.data });
        }
    }

    /// The peer bound to `channel`; ChannelData on a channel that is not bound is discarded.
    fn channel_peer(&mut self, channel: u16) -> Option<SocketAddrV4> {
        let peer = self.channels.get(&channel).map(|&(peer, _)| peer);
        if peer.is_none() {
            self.discard(self.cfg.server, Discard::NoChannel(channel));
        }
        peer
    }

    fn handle_response(&mut self, now: SimTime, msg: &MessageView<'_>) {
        let Some(p) = self.pending.remove(&msg.transaction_id) else {
            return self.discard(self.cfg.server, Discard::UnknownTransaction);
        };
        // RFC 8489 §9.2.5: a response to a signed request is checked with the same key;
        // one that fails is discarded as if never received (the transaction continues).
        if p.signed
            && msg.has_integrity()
            && let Some(key) = &self.key
            && msg.verify_integrity(key).is_err()
        {
            self.pending.insert(msg.transaction_id, p);
            return self.discard(self.cfg.server, Discard::BadIntegrity);
        }
        if msg.class == Class::Success {
            return self.handle_success(now, p.request, msg);
        }
        let (code, reason) = msg.error_code().map_or((0, String::new()), |(c, r)| (c, r.to_owned()));
        let challenge = match (code, msg.realm(), msg.nonce()) {
            // RFC 8489 §9.2.5: a 401 to an unsigned request carries REALM and NONCE to retry
            // with; a 438 carries a new NONCE, retried once.
            (401, Some(realm), Some(nonce)) if !p.signed => Some((realm, nonce)),
            (438, Some(realm), Some(nonce)) if !p.renewed_nonce => Some((realm, nonce)),
            _ => None,
        };
        match challenge {
            Some((realm, nonce)) => {
                self.key = Some(IntegrityKey::long_term(&self.cfg.username, realm, &self.cfg.password));
                self.realm = Some(realm.to_owned());
                self.nonce = Some(nonce.to_owned());
                self.start(now, p.request, code == 438);
            }
            None => self.events.push_back(TurnClientEvent::RequestFailed { method: p.request.method(), code, reason }),
        }
    }

    fn handle_success(&mut self, now: SimTime, request: Request, msg: &MessageView<'_>) {
        let lifetime = SimDuration::from_secs(msg.lifetime().unwrap_or(0) as u64);
        let event = match request {
            Request::Binding => {
                let Some(reflexive) = msg.xor_mapped_address() else {
                    return self.discard(self.cfg.server, Discard::MissingAttribute(types::XOR_MAPPED_ADDRESS));
                };
                self.reflexive = Some(reflexive);
                TurnClientEvent::BindingSucceeded { reflexive }
            }
            Request::Allocate => {
                let Some(relayed) = msg.xor_relayed_address() else {
                    return self.discard(self.cfg.server, Discard::MissingAttribute(types::XOR_RELAYED_ADDRESS));
                };
                self.relayed = Some(relayed);
                self.reflexive = msg.xor_mapped_address().or(self.reflexive);
                self.refresh_at = Some(refresh_time(now, lifetime));
                TurnClientEvent::Allocated { relayed, reflexive: msg.xor_mapped_address(), lifetime }
            }
            Request::Refresh { lifetime_secs: 0 } => {
                self.relayed = None;
                self.refresh_at = None;
                self.permissions.clear();
                self.channels.clear();
                TurnClientEvent::Deallocated
            }
            Request::Refresh { .. } => {
                self.refresh_at = Some(refresh_time(now, lifetime));
                TurnClientEvent::Refreshed { lifetime }
            }
            Request::CreatePermission { peer } => {
                let fresh = self.permissions.insert(*peer.ip(), now + PERMISSION_REFRESH).is_none();
                if !fresh {
                    return;
                }
                TurnClientEvent::PermissionCreated { peer: *peer.ip() }
            }
            Request::ChannelBind { channel, peer } => {
                let fresh = self.channels.insert(channel, (peer, now + CHANNEL_REFRESH)).is_none();
                // A channel binding also installs a permission (RFC 8656 §12.2).
                self.permissions.entry(*peer.ip()).or_insert(now + PERMISSION_REFRESH);
                if !fresh {
                    return;
                }
                TurnClientEvent::ChannelBound { channel, peer }
            }
        };
        self.events.push_back(event);
    }

    fn transmit(&mut self, bytes: Vec<u8>) {
        let d = match self.tcp.as_mut() {
            Some(stream) => stream.segment(bytes),
            None => Datagram::udp(self.cfg.local, self.cfg.server, bytes),
        };
        self.out.push_back(d);
    }

    fn next_tid(&mut self) -> TransactionId {
        self.counter += 1;
        TransactionId::derive(self.cfg.seed, self.counter)
    }

    fn discard(&mut self, from: SocketAddrV4, reason: Discard) {
        self.events.push_back(TurnClientEvent::Discarded { from, reason });
    }
}

/// When to refresh an allocation granted for `lifetime`: a minute early, or halfway for
/// short lifetimes.
fn refresh_time(now: SimTime, lifetime: SimDuration) -> SimTime {
    let margin = if lifetime > ALLOCATION_MARGIN + ALLOCATION_MARGIN {
        ALLOCATION_MARGIN
    } else {
        SimDuration::from_nanos(lifetime.as_nanos() / 2)
    };
    now + SimDuration::from_nanos(lifetime.as_nanos() - margin.as_nanos())
}
