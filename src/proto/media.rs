//! A client's media endpoint: its ICE agent plus the TURN clients that give it
//! server-reflexive and relayed candidates, behind one set of sockets.
//!
//! The UDP TURN client shares the agent's main host socket (so the server-reflexive
//! candidate's base is that host candidate, RFC 8445 §5.1.1.2); packets from the TURN server
//! go to the TURN client, everything else to the agent. Checks from a relayed candidate are
//! sent through the TURN client (Send indication or ChannelData), and what the relay brings
//! back is handed to the agent as arriving on the relayed address.

use std::collections::VecDeque;
use std::net::SocketAddrV4;

use super::ice::{IceAgent, IceEvent};
use super::{Listen, TurnClient, TurnClientEvent};
use crate::time::SimTime;
use crate::wire::rtp::RtpPacket;
use crate::wire::{Datagram, Protocol, TcpFlags, TcpHeader};

/// Something a media endpoint reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaEvent {
    Ice(IceEvent),
    /// From the TURN client at this index (0: UDP, 1: TCP when present).
    Turn {
        client: usize,
        event: TurnClientEvent,
    },
    /// Bytes that were not STUN for the agent (media, once it flows); the RTP header's
    /// identifiers when they are RTP.
    Media {
        local: SocketAddrV4,
        from: SocketAddrV4,
        bytes: usize,
        rtp: Option<RtpIds>,
    },
}

/// The fields of an RTP header that identify a packet of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpIds {
    pub ssrc: u32,
    pub sequence: u16,
    pub timestamp: u32,
}

impl RtpIds {
    fn of(bytes: &[u8]) -> Option<RtpIds> {
        let (sequence, timestamp, ssrc) = RtpPacket::decode_ids(bytes).ok()?;
        Some(RtpIds { ssrc, sequence, timestamp })
    }
}

fn media_event(local: SocketAddrV4, from: SocketAddrV4, bytes: &[u8]) -> MediaEvent {
    MediaEvent::Media { local, from, bytes: bytes.len(), rtp: RtpIds::of(bytes) }
}

/// The agent and its TURN clients.
#[derive(Debug)]
pub struct MediaEndpoint {
    pub agent: IceAgent,
    /// This side's ICE username fragment and password, for the SDP.
    pub ufrag: String,
    pub pwd: String,
    /// Host candidate sockets (UDP). Fixed once built, as every socket of the endpoint: the
    /// engine lists them when the endpoint is attached (`sockets`).
    hosts: Vec<SocketAddrV4>,
    /// TCP host candidate sockets (RFC 6544 active and passive); what crosses them is
    /// framed with a 2-byte length (RFC 4571).
    tcp_hosts: Vec<SocketAddrV4>,
    pub turn: Vec<TurnClient>,
    /// Each TURN client's (protocol, local socket, server), in `turn`'s order: what an
    /// arriving packet is matched against, kept beside the endpoint so that matching an
    /// RTP packet reads no client (each a cold struct of its own at a thousand calls).
    turn_sockets: Vec<(Protocol, SocketAddrV4, SocketAddrV4)>,
    /// A one-word filter of the TURN servers' sockets (`server_bit`): a packet whose source
    /// has no bit here is from no TURN server, so it is not the business of a TURN client
    /// and `turn_sockets` need not be read (the path of every RTP packet of a direct call).
    turn_servers: u64,
    now: SimTime,
    out: VecDeque<Datagram>,
    events: VecDeque<MediaEvent>,
}

/// What came of a datagram handed to the endpoint (`MediaEndpoint::handle_packet`).
#[derive(Debug)]
pub enum Received {
    /// The agent or a TURN client ran: poll for what they send, their events and timers.
    Ran,
    /// Plain media on a host socket, which is all it reports: nothing ran, nothing waits to
    /// be sent, no timer moved, no event is queued.
    Media(MediaEvent),
}

/// RFC 7983 §7: a STUN message starts with two zero bits, RTP and RTCP with 0b10. Bytes
/// that cannot be STUN leave the agent as it was (`IceAgent::handle_receive` returns false
/// at once), so the endpoint does not ask it.
fn may_be_stun(bytes: &[u8]) -> bool {
    bytes.first().is_none_or(|b| b >> 6 == 0)
}

/// `MediaEndpoint::turn_servers`' bit for a server socket.
fn server_bit(server: SocketAddrV4) -> u64 {
    let h = (server.ip().to_bits() ^ u32::from(server.port()).rotate_left(16)).wrapping_mul(0x9e37_79b1);
    1 << (h >> 26)
}

/// One ICE message on a TCP candidate's connection, framed per RFC 4571. The connection
/// itself is not modelled (no handshake; see LIMITATIONS.md).
fn tcp_frame(src: SocketAddrV4, dst: SocketAddrV4, bytes: &[u8]) -> Datagram {
    let mut payload = Vec::with_capacity(bytes.len() + 2);
    payload.extend_from_slice(&(bytes.len().min(u16::MAX as usize) as u16).to_be_bytes());
    payload.extend_from_slice(bytes);
    let h = TcpHeader { flags: TcpFlags(TcpFlags::PSH.0 | TcpFlags::ACK.0), window: 65535, ..TcpHeader::default() };
    Datagram::tcp(src, dst, h, payload)
}

impl MediaEndpoint {
    pub fn new(
        agent: IceAgent,
        ufrag: &str,
        pwd: &str,
        hosts: Vec<SocketAddrV4>,
        turn: Vec<TurnClient>,
    ) -> MediaEndpoint {
        let turn_sockets: Vec<_> = turn.iter().map(|t| (t.protocol(), t.local(), t.server())).collect();
        MediaEndpoint {
            agent,
            ufrag: ufrag.to_string(),
            pwd: pwd.to_string(),
            hosts,
            tcp_hosts: Vec::new(),
            turn_servers: turn_sockets.iter().fold(0, |bits, &(_, _, server)| bits | server_bit(server)),
            turn_sockets,
            turn,
            now: SimTime::ZERO,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The endpoint with TCP host candidate sockets as well (RFC 6544).
    pub fn with_tcp_hosts(mut self, tcp_hosts: Vec<SocketAddrV4>) -> MediaEndpoint {
        self.tcp_hosts = tcp_hosts;
        self
    }

    /// Host candidate sockets (UDP).
    pub fn hosts(&self) -> &[SocketAddrV4] {
        &self.hosts
    }

    /// TCP host candidate sockets.
    pub fn tcp_hosts(&self) -> &[SocketAddrV4] {
        &self.tcp_hosts
    }

    pub fn listens(&self, protocol: Protocol, dst: SocketAddrV4) -> bool {
        (protocol == Protocol::Udp && self.hosts.contains(&dst))
            || (protocol == Protocol::Tcp && self.tcp_hosts.contains(&dst))
            || self.turn_sockets.iter().any(|&(p, local, _)| p == protocol && local == dst)
    }

    /// Every socket `listens` accepts, appended to `out`.
    pub fn sockets(&self, out: &mut Vec<Listen>) {
        out.extend(self.hosts.iter().map(|&a| Listen::socket(Protocol::Udp, a)));
        out.extend(self.tcp_hosts.iter().map(|&a| Listen::socket(Protocol::Tcp, a)));
        out.extend(self.turn_sockets.iter().map(|&(p, local, _)| Listen::socket(p, local)));
    }

    /// Starts gathering: a Binding and an Allocate on every TURN client.
    pub fn gather(&mut self, now: SimTime) {
        self.now = now;
        for t in &mut self.turn {
            t.binding(now);
            t.allocate(now);
        }
        self.pump();
    }

    /// Lets every TURN client reach `peer` (a remote candidate) through its relay.
    pub fn permit(&mut self, now: SimTime, peer: SocketAddrV4) {
        self.now = now;
        for t in &mut self.turn {
            if t.relayed().is_some() {
                t.create_permission(now, peer);
            }
        }
        self.pump();
    }

    /// The datagram that carries `bytes` of media from local candidate `local` to `remote`:
    /// straight from a host socket, or wrapped by the TURN client that owns a relayed
    /// address (so relay overhead is real); and whether the endpoint was left with anything
    /// to poll: false in the usual case (the relay's client sends its one datagram and
    /// changes no timer), so a driver sending media for many calls need not have every TURN
    /// client's queues and timers read after each packet. True when the client queued
    /// more, such as a report that the data could not be wrapped.
    pub fn wrap_media(
        &mut self,
        now: SimTime,
        local: SocketAddrV4,
        protocol: Protocol,
        remote: SocketAddrV4,
        bytes: &[u8],
    ) -> (Option<Datagram>, bool) {
        if let Some(c) = self.turn.iter_mut().find(|c| c.relayed() == Some(local)) {
            c.send(now, remote, bytes);
            let d = c.poll_transmit();
            return (d, !c.is_drained());
        }
        let d = match protocol {
            Protocol::Tcp => tcp_frame(local, remote, bytes),
            Protocol::Udp => Datagram::udp(local, remote, bytes.to_vec()),
        };
        (Some(d), false)
    }

    /// Handles a datagram for one of the endpoint's sockets.
    pub fn handle_packet(&mut self, now: SimTime, packet: &Datagram) -> Received {
        debug_assert!(
            self.turn_sockets.iter().copied().eq(self.turn.iter().map(|t| (t.protocol(), t.local(), t.server()))),
            "invariant: a TURN client's sockets do not change"
        );
        let proto = packet.protocol();
        let from_server = self.turn_servers & server_bit(packet.src) != 0;
        if !from_server && proto == Protocol::Udp && !may_be_stun(&packet.payload) {
            debug_assert!(self.turn_sockets.iter().all(|&(_, _, server)| server != packet.src));
            return self.media_only(packet.dst, packet.src, &packet.payload);
        }
        self.now = now;
        let key = (proto, packet.dst, packet.src);
        let turn = if from_server { self.turn_sockets.iter().position(|&s| s == key) } else { None };
        debug_assert_eq!(turn, self.turn_sockets.iter().position(|&s| s == key));
        match turn {
            Some(i) => {
                // Relayed data goes straight to the agent, read in place (as `pump` would
                // hand it over from a `Data` event, which would copy it).
                if let Some((peer, data)) = self.turn[i].handle_packet_data(now, packet) {
                    match self.turn[i].relayed() {
                        Some(relayed) => {
                            if !may_be_stun(data) || !self.agent.handle_receive(now, relayed, Protocol::Udp, peer, data)
                            {
                                // Relayed media: the client handed the data over with nothing
                                // queued or re-timed, and the agent did not run, so this event
                                // is all that came of it (the path of every relayed RTP packet).
                                return self.media_only(relayed, peer, data);
                            }
                        }
                        None => {
                            let event = TurnClientEvent::Data { peer, data: data.to_vec() };
                            self.events.push_back(MediaEvent::Turn { client: i, event });
                        }
                    }
                }
            }
            None if proto == Protocol::Tcp => {
                // RFC 4571 framing: each message behind its 16-bit length.
                let mut rest = packet.payload.as_slice();
                while rest.len() >= 2 {
                    let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
                    let Some(frame) = rest.get(2..2 + len) else { break };
                    if !self.agent.handle_receive(now, packet.dst, Protocol::Tcp, packet.src, frame) {
                        self.events.push_back(media_event(packet.dst, packet.src, frame));
                    }
                    rest = &rest[2 + len..];
                }
            }
            None => {
                if !self.agent.handle_receive(now, packet.dst, proto, packet.src, &packet.payload) {
                    // Not STUN for the agent (an empty datagram, or STUN it does not take):
                    // the agent is untouched and nothing else ran.
                    return self.media_only(packet.dst, packet.src, &packet.payload);
                }
            }
        }
        self.pump();
        Received::Ran
    }

    /// Media that is all an input came to: nothing ran, so (the engine having polled after
    /// the previous input) nothing waits to be sent or reported besides this event.
    fn media_only(&self, local: SocketAddrV4, from: SocketAddrV4, bytes: &[u8]) -> Received {
        debug_assert!(self.out.is_empty() && self.events.is_empty(), "invariant: pumped after every input");
        Received::Media(media_event(local, from, bytes))
    }

    pub fn handle_timeout(&mut self, now: SimTime) {
        self.now = now;
        self.agent.handle_timeout(now);
        for t in &mut self.turn {
            t.handle_timeout(now);
        }
        self.pump();
    }

    pub fn poll_transmit(&mut self) -> Option<Datagram> {
        // `pump` only appends, so while datagrams wait the first of them is the answer
        // whether or not it runs first; it runs once they are all taken, before the caller
        // moves on to events (the caller may have driven the agent directly).
        if let Some(d) = self.out.pop_front() {
            return Some(d);
        }
        self.pump();
        self.out.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<SimTime> {
        let turn = self.turn.iter().filter_map(|t| t.poll_timeout()).min();
        match (self.agent.poll_timeout(), turn) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves the agent's transmits onto sockets or relays, and relayed data into the agent,
    /// until nothing is left to move.
    fn pump(&mut self) {
        let now = self.now;
        loop {
            let mut moved = false;
            while let Some(t) = self.agent.poll_transmit() {
                moved = true;
                match self.turn.iter_mut().find(|c| c.relayed() == Some(t.local)) {
                    Some(c) => c.send(now, t.remote, &t.bytes),
                    None if t.protocol == Protocol::Tcp => self.out.push_back(tcp_frame(t.local, t.remote, &t.bytes)),
                    None => self.out.push_back(Datagram::udp(t.local, t.remote, t.bytes)),
                }
            }
            for (i, c) in self.turn.iter_mut().enumerate() {
                while let Some(d) = c.poll_transmit() {
                    moved = true;
                    self.out.push_back(d);
                }
                while let Some(ev) = c.poll_event() {
                    moved = true;
                    if let (TurnClientEvent::Data { peer, data }, Some(relayed)) = (&ev, c.relayed()) {
                        if !self.agent.handle_receive(now, relayed, Protocol::Udp, *peer, data) {
                            self.events.push_back(media_event(relayed, *peer, data));
                        }
                        continue;
                    }
                    self.events.push_back(MediaEvent::Turn { client: i, event: ev });
                }
            }
            while let Some(ev) = self.agent.poll_event() {
                moved = true;
                self.events.push_back(MediaEvent::Ice(ev));
            }
            if !moved {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::TurnClientConfig;
    use crate::proto::ice::{IceConfig, Profile, Role};

    fn sa(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    const HOST: &str = "10.0.0.5:50000";
    const SERVER: &str = "192.0.2.10:3478";
    const SERVER_TCP: &str = "192.0.2.10:443";

    /// An endpoint with one UDP host socket, and UDP and TCP TURN clients toward one server
    /// (the UDP one on the host socket, as `start_media` sets them up).
    fn endpoint() -> MediaEndpoint {
        let turn = [(Protocol::Udp, HOST, SERVER), (Protocol::Tcp, "10.0.0.5:50001", SERVER_TCP)]
            .into_iter()
            .map(|(protocol, local, server)| {
                TurnClient::new(TurnClientConfig { protocol, ..TurnClientConfig::new(sa(local), sa(server), "u", "p") })
            })
            .collect();
        let cfg = IceConfig::new(Profile::Rfc8445, Role::Controlled, 1, "ufrag", "password-password-pass", 2);
        MediaEndpoint::new(IceAgent::new(cfg), "ufrag", "password-password-pass", vec![sa(HOST)], turn)
            .with_tcp_hosts(vec![sa("10.0.0.5:50002")])
    }

    fn rtp(sequence: u16) -> Vec<u8> {
        RtpPacket {
            marker: false,
            payload_type: 0,
            sequence,
            timestamp: 160,
            ssrc: 0xabcd,
            csrc: Vec::new(),
            payload: vec![0; 160],
        }
        .encode()
    }

    #[test]
    fn sockets_are_exactly_where_it_listens() {
        let e = endpoint();
        let mut sockets = Vec::new();
        e.sockets(&mut sockets);
        for protocol in [Protocol::Udp, Protocol::Tcp] {
            for port in 49_999..=50_003 {
                for ip in ["10.0.0.5", "10.0.0.6"] {
                    let dst = SocketAddrV4::new(ip.parse().unwrap(), port);
                    let listed = sockets.iter().any(|l| l.matches(protocol, dst));
                    assert_eq!(listed, e.listens(protocol, dst), "{protocol} {dst}");
                }
            }
        }
    }

    #[test]
    fn media_on_a_host_socket_is_reported_without_running_anything() {
        let mut e = endpoint();
        let peer = sa("198.51.100.7:40000");
        match e.handle_packet(SimTime::ZERO, &Datagram::udp(peer, sa(HOST), rtp(7))) {
            Received::Media(MediaEvent::Media { local, from, bytes, rtp: Some(ids) }) => {
                assert_eq!((local, from, bytes), (sa(HOST), peer, 172));
                assert_eq!(ids, RtpIds { ssrc: 0xabcd, sequence: 7, timestamp: 160 });
            }
            other => panic!("expected media, got {other:?}"),
        }
        assert!(e.poll_transmit().is_none() && e.poll_event().is_none());
    }

    #[test]
    fn packets_from_the_turn_server_go_to_its_client_whatever_their_first_byte() {
        let mut e = endpoint();
        // Not STUN, not ChannelData: the TURN client takes it (and discards it), so the
        // endpoint ran and the agent never saw media.
        let got = e.handle_packet(SimTime::ZERO, &Datagram::udp(sa(SERVER), sa(HOST), rtp(1)));
        assert!(matches!(got, Received::Ran), "{got:?}");
        let mut events = Vec::new();
        while let Some(ev) = e.poll_event() {
            events.push(ev);
        }
        assert!(!events.iter().any(|ev| matches!(ev, MediaEvent::Media { .. })), "{events:?}");
    }

    #[test]
    fn the_server_filter_never_misses_a_server() {
        let e = endpoint();
        for &(_, _, server) in &e.turn_sockets {
            assert_ne!(e.turn_servers & server_bit(server), 0);
        }
        // And it is a filter, not a list: most other sockets have no bit.
        let others =
            (1..=200u16).filter(|&p| e.turn_servers & server_bit(SocketAddrV4::new([198, 51, 100, 7].into(), p)) != 0);
        assert!(others.count() < 40);
    }
}
