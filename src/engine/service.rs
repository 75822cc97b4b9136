//! Protocol endpoints hosted on nodes: the sans-IO state machines of `proto`, plugged into
//! the engine. A packet delivered to a node goes to the service listening on its
//! destination; what a service transmits leaves from its node; its timers become events.

use std::net::SocketAddrV4;

use crate::proto::media::{MediaEndpoint, MediaEvent};
use crate::proto::signaling::{Registrar, RegistrarEvent, UserAgent, UserAgentEvent};
use crate::proto::{StunServer, StunServerEvent, TurnClient, TurnClientEvent, TurnServer, TurnServerEvent};
use crate::time::SimTime;
use crate::wire::{Datagram, Protocol};

/// Identifies a service within one engine (numbered in attach order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ServiceId(pub u32);

/// `Service::protocols`: UDP.
pub const PROTO_UDP: u8 = 1;
/// `Service::protocols`: TCP.
pub const PROTO_TCP: u8 = 2;

/// The `Service::protocols` bit of `p`.
pub fn proto_bit(p: Protocol) -> u8 {
    match p {
        Protocol::Udp => PROTO_UDP,
        Protocol::Tcp => PROTO_TCP,
    }
}

/// A protocol endpoint running on a node.
#[derive(Debug)]
pub enum Service {
    Stun(StunServer),
    Turn(Box<TurnServer>),
    TurnClient(Box<TurnClient>),
    Registrar(Box<Registrar>),
    UserAgent(Box<UserAgent>),
    Media(Box<MediaEndpoint>),
}

/// Something a service reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceEvent {
    Stun(StunServerEvent),
    Turn(TurnServerEvent),
    TurnClient(TurnClientEvent),
    Registrar(RegistrarEvent),
    UserAgent(UserAgentEvent),
    Media(MediaEvent),
}

impl Service {
    /// Whether a packet for `dst` over `protocol` is this service's.
    /// The transport protocols this service can ever listen on (`PROTO_UDP`, `PROTO_TCP`),
    /// by kind alone: lets a delivery pass over a service without reading it.
    pub fn protocols(&self) -> u8 {
        match self {
            Service::Stun(_) => PROTO_UDP,
            Service::TurnClient(c) => proto_bit(c.protocol()),
            Service::Registrar(_) | Service::UserAgent(_) => PROTO_TCP,
            Service::Turn(_) | Service::Media(_) => PROTO_UDP | PROTO_TCP,
        }
    }

    pub fn listens(&self, protocol: Protocol, dst: SocketAddrV4) -> bool {
        match self {
            Service::Stun(s) => protocol == Protocol::Udp && s.addresses().contains(&dst),
            Service::Turn(t) => {
                let c = t.config();
                let listening = match protocol {
                    Protocol::Udp => c.udp.contains(&dst),
                    Protocol::Tcp => c.tcp.contains(&dst),
                };
                // Peers send to relayed addresses on the relay interface (UDP relaying).
                listening
                    || (protocol == Protocol::Udp
                        && *dst.ip() == c.relay_interface
                        && c.relay_ports.contains(&dst.port()))
            }
            Service::TurnClient(c) => c.protocol() == protocol && c.local() == dst,
            Service::Registrar(r) => protocol == Protocol::Tcp && r.listens(dst),
            Service::UserAgent(u) => protocol == Protocol::Tcp && u.local() == dst,
            Service::Media(m) => m.listens(protocol, dst),
        }
    }

    /// Hands the service a datagram, which is the service's from here on (a relay may send
    /// its bytes on without copying them). Returns true when the service says only events can
    /// have come of it (nothing to send, no timer moved), so the engine polls for events alone.
    pub fn handle_packet(&mut self, now: SimTime, packet: Datagram) -> bool {
        match self {
            Service::Stun(s) => s.handle_packet(now, &packet),
            Service::Turn(t) => t.handle_datagram(now, packet),
            Service::TurnClient(c) => c.handle_packet(now, &packet),
            Service::Registrar(r) => r.handle_packet(now, &packet),
            Service::UserAgent(u) => u.handle_packet(now, &packet),
            Service::Media(m) => return m.handle_packet(now, &packet),
        }
        false
    }

    pub fn handle_timeout(&mut self, now: SimTime) {
        match self {
            Service::Stun(s) => s.handle_timeout(now),
            Service::Turn(t) => t.handle_timeout(now),
            Service::TurnClient(c) => c.handle_timeout(now),
            Service::Registrar(r) => r.handle_timeout(now),
            Service::UserAgent(u) => u.handle_timeout(now),
            Service::Media(m) => m.handle_timeout(now),
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Datagram> {
        match self {
            Service::Stun(s) => s.poll_transmit(),
            Service::Turn(t) => t.poll_transmit(),
            Service::TurnClient(c) => c.poll_transmit(),
            Service::Registrar(r) => r.poll_transmit(),
            Service::UserAgent(u) => u.poll_transmit(),
            Service::Media(m) => m.poll_transmit(),
        }
    }

    pub fn poll_event(&mut self) -> Option<ServiceEvent> {
        match self {
            Service::Stun(s) => s.poll_event().map(ServiceEvent::Stun),
            Service::Turn(t) => t.poll_event().map(ServiceEvent::Turn),
            Service::TurnClient(c) => c.poll_event().map(ServiceEvent::TurnClient),
            Service::Registrar(r) => r.poll_event().map(ServiceEvent::Registrar),
            Service::UserAgent(u) => u.poll_event().map(ServiceEvent::UserAgent),
            Service::Media(m) => m.poll_event().map(ServiceEvent::Media),
        }
    }

    pub fn poll_timeout(&self) -> Option<SimTime> {
        match self {
            Service::Stun(s) => s.poll_timeout(),
            Service::Turn(t) => t.poll_timeout(),
            Service::TurnClient(c) => c.poll_timeout(),
            Service::Registrar(r) => r.poll_timeout(),
            Service::UserAgent(u) => u.poll_timeout(),
            Service::Media(m) => m.poll_timeout(),
        }
    }
}
