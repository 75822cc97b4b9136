//! Protocol endpoints hosted on nodes: the sans-IO state machines of `proto`, plugged into
//! the engine. A packet delivered to a node goes to the service listening on its
//! destination; what a service transmits leaves from its node; its timers become events.

use std::net::SocketAddrV4;

use crate::proto::media::{MediaEndpoint, MediaEvent, Received};
use crate::proto::signaling::{Registrar, RegistrarEvent, UserAgent, UserAgentEvent};
use crate::proto::{Listen, StunServer, StunServerEvent, TurnClient, TurnClientEvent, TurnServer, TurnServerEvent};
use crate::time::SimTime;
use crate::wire::{Datagram, Protocol};

/// Identifies a service within one engine (numbered in attach order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ServiceId(pub u32);

/// What came of handing a service a datagram.
#[derive(Debug)]
pub enum Handled {
    /// The service ran: it may have something to send, events, a new timer.
    Ran,
    /// The service only reports this (media on a host socket): nothing ran, nothing waits to
    /// be sent, no timer moved and no other event is queued, so there is nothing to poll.
    Event(ServiceEvent),
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
    /// Every place this service listens (`listens` is true exactly for a destination one of
    /// them matches), appended to `out`.
    pub fn sockets(&self, out: &mut Vec<Listen>) {
        let sockets = |p: Protocol, addrs: &[SocketAddrV4], out: &mut Vec<Listen>| {
            out.extend(addrs.iter().map(|&a| Listen::socket(p, a)));
        };
        match self {
            Service::Stun(s) => sockets(Protocol::Udp, s.addresses(), out),
            Service::Turn(t) => {
                let c = t.config();
                sockets(Protocol::Udp, &c.udp, out);
                sockets(Protocol::Tcp, &c.tcp, out);
                // Peers send to relayed addresses on the relay interface (UDP relaying).
                if !c.relay_ports.is_empty() {
                    out.push(Listen {
                        protocol: Protocol::Udp,
                        ip: c.relay_interface,
                        first: *c.relay_ports.start(),
                        last: *c.relay_ports.end(),
                    });
                }
            }
            Service::TurnClient(c) => out.push(Listen::socket(c.protocol(), c.local())),
            Service::Registrar(r) => sockets(Protocol::Tcp, r.addresses(), out),
            Service::UserAgent(u) => out.push(Listen::socket(Protocol::Tcp, u.local())),
            Service::Media(m) => m.sockets(out),
        }
    }

    /// Whether a packet for `dst` over `protocol` is this service's (one of its `sockets`).
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
    /// its bytes on without copying them).
    pub fn handle_packet(&mut self, now: SimTime, packet: Datagram) -> Handled {
        match self {
            Service::Stun(s) => s.handle_packet(now, &packet),
            Service::Turn(t) => t.handle_datagram(now, packet),
            Service::TurnClient(c) => c.handle_packet(now, &packet),
            Service::Registrar(r) => r.handle_packet(now, &packet),
            Service::UserAgent(u) => u.handle_packet(now, &packet),
            Service::Media(m) => {
                return match m.handle_packet(now, &packet) {
                    Received::Ran => Handled::Ran,
                    Received::Media(ev) => Handled::Event(ServiceEvent::Media(ev)),
                };
            }
        }
        Handled::Ran
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

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::proto::TurnServerConfig;

    /// What `sockets` lists is exactly what `listens` accepts: the engine's per-node table
    /// is built from the one and stands in for the other.
    #[test]
    fn a_turn_servers_sockets_are_where_it_listens() {
        let mut cfg = TurnServerConfig::new("192.0.2.10:3478".parse().unwrap(), Ipv4Addr::new(10, 1, 1, 10), "r", b"s");
        cfg.tcp = vec!["192.0.2.10:443".parse().unwrap()];
        cfg.relay_ports = 50_000..=50_009;
        let service = Service::Turn(Box::new(TurnServer::new(cfg)));
        let mut sockets = Vec::new();
        service.sockets(&mut sockets);
        for ip in [Ipv4Addr::new(192, 0, 2, 10), Ipv4Addr::new(10, 1, 1, 10), Ipv4Addr::new(10, 1, 1, 11)] {
            for port in [443, 3478, 3479, 49_999, 50_000, 50_005, 50_009, 50_010] {
                for protocol in [Protocol::Udp, Protocol::Tcp] {
                    let dst = SocketAddrV4::new(ip, port);
                    let listed = sockets.iter().any(|l| l.matches(protocol, dst));
                    assert_eq!(listed, service.listens(protocol, dst), "{protocol} {dst}");
                }
            }
        }
    }
}
