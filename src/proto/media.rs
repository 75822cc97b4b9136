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
use super::{TurnClient, TurnClientEvent};
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
    /// Host candidate sockets (UDP).
    pub hosts: Vec<SocketAddrV4>,
    /// TCP host candidate sockets (RFC 6544 active and passive); what crosses them is
    /// framed with a 2-byte length (RFC 4571).
    pub tcp_hosts: Vec<SocketAddrV4>,
    pub turn: Vec<TurnClient>,
    /// Each TURN client's (protocol, local socket, server), in `turn`'s order: what an
    /// arriving packet is matched against, kept beside the endpoint so that matching an
    /// RTP packet reads no client (each a cold struct of its own at a thousand calls).
    turn_sockets: Vec<(Protocol, SocketAddrV4, SocketAddrV4)>,
    now: SimTime,
    out: VecDeque<Datagram>,
    events: VecDeque<MediaEvent>,
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
        MediaEndpoint {
            agent,
            ufrag: ufrag.to_string(),
            pwd: pwd.to_string(),
            hosts,
            tcp_hosts: Vec::new(),
            turn_sockets: turn.iter().map(|t| (t.protocol(), t.local(), t.server())).collect(),
            turn,
            now: SimTime::ZERO,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    pub fn listens(&self, protocol: Protocol, dst: SocketAddrV4) -> bool {
        (protocol == Protocol::Udp && self.hosts.contains(&dst))
            || (protocol == Protocol::Tcp && self.tcp_hosts.contains(&dst))
            || self.turn_sockets.iter().any(|&(p, local, _)| p == protocol && local == dst)
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
    /// address (so relay overhead is real).
    pub fn wrap_media(
        &mut self,
        now: SimTime,
        local: SocketAddrV4,
        protocol: Protocol,
        remote: SocketAddrV4,
        bytes: &[u8],
    ) -> Option<Datagram> {
        if let Some(c) = self.turn.iter_mut().find(|c| c.relayed() == Some(local)) {
            c.send(now, remote, bytes);
            return c.poll_transmit();
        }
        Some(match protocol {
            Protocol::Tcp => tcp_frame(local, remote, bytes),
            Protocol::Udp => Datagram::udp(local, remote, bytes.to_vec()),
        })
    }

    /// Handles a datagram for one of the endpoint's sockets. Returns true when it was plain
    /// media on a host socket: then only a `Media` event was queued, nothing is waiting to
    /// be sent and no timer moved, so the caller need not poll for either (the path every
    /// RTP packet of a direct call takes).
    pub fn handle_packet(&mut self, now: SimTime, packet: &Datagram) -> bool {
        self.now = now;
        debug_assert!(
            self.turn_sockets.iter().copied().eq(self.turn.iter().map(|t| (t.protocol(), t.local(), t.server()))),
            "invariant: a TURN client's sockets do not change"
        );
        let key = (packet.protocol(), packet.dst, packet.src);
        let turn = self.turn_sockets.iter().position(|&s| s == key);
        match turn {
            Some(i) => {
                // Relayed data goes straight to the agent, read in place (as `pump` would
                // hand it over from a `Data` event, which would copy it).
                if let Some((peer, data)) = self.turn[i].handle_packet_data(now, packet) {
                    match self.turn[i].relayed() {
                        Some(relayed) => {
                            if !self.agent.handle_receive(now, relayed, Protocol::Udp, peer, data) {
                                self.events.push_back(media_event(relayed, peer, data));
                            }
                        }
                        None => {
                            let event = TurnClientEvent::Data { peer, data: data.to_vec() };
                            self.events.push_back(MediaEvent::Turn { client: i, event });
                        }
                    }
                }
            }
            None if packet.protocol() == Protocol::Tcp => {
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
                let proto = packet.protocol();
                if !self.agent.handle_receive(now, packet.dst, proto, packet.src, &packet.payload) {
                    // Not STUN: the agent is untouched and nothing else ran. The engine polled
                    // after the last input, so nothing is waiting to be sent either.
                    debug_assert!(self.out.is_empty(), "invariant: pumped after every input");
                    self.events.push_back(media_event(packet.dst, packet.src, &packet.payload));
                    return true;
                }
            }
        }
        self.pump();
        false
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
