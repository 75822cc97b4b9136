//! A registrar: remembers where each registered user is (the address their messages came
//! from, so NATs on the way keep working), delivers messages to registered users, and passes
//! everything else to its upstream (an Access Edge forwards to the front end).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddrV4;

use super::message::Method;
use super::{SipMessage, Start, segment};
use crate::time::SimTime;
use crate::wire::{Datagram, Protocol};

/// What a registrar did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrarEvent {
    Registered {
        user: String,
        at: SocketAddrV4,
    },
    Routed {
        call_id: String,
        to_user: String,
        next: SocketAddrV4,
    },
    /// Nobody to deliver to and no upstream: answered 404 (requests) or dropped (responses).
    NotFound {
        user: String,
    },
    Discarded {
        from: SocketAddrV4,
    },
}

/// A registrar listening on TCP addresses.
#[derive(Clone, Debug)]
pub struct Registrar {
    listen: Vec<SocketAddrV4>,
    /// (send from, send to) for messages it cannot deliver itself.
    upstream: Option<(SocketAddrV4, SocketAddrV4)>,
    /// user -> (where they are, which of our addresses they talk to).
    users: BTreeMap<String, (SocketAddrV4, SocketAddrV4)>,
    out: VecDeque<Datagram>,
    events: VecDeque<RegistrarEvent>,
}

impl Registrar {
    pub fn new(listen: Vec<SocketAddrV4>, upstream: Option<(SocketAddrV4, SocketAddrV4)>) -> Registrar {
        Registrar { listen, upstream, users: BTreeMap::new(), out: VecDeque::new(), events: VecDeque::new() }
    }

    pub fn listens(&self, dst: SocketAddrV4) -> bool {
        self.listen.contains(&dst)
    }

    /// The TCP sockets it listens on.
    pub fn addresses(&self) -> &[SocketAddrV4] {
        &self.listen
    }

    pub fn handle_packet(&mut self, _now: SimTime, packet: &Datagram) {
        if packet.protocol() != Protocol::Tcp || !self.listens(packet.dst) {
            return;
        }
        let Ok(msg) = SipMessage::decode(&packet.payload) else {
            self.events.push_back(RegistrarEvent::Discarded { from: packet.src });
            return;
        };
        if msg.start == Start::Request(Method::Register) {
            self.users.insert(msg.from.clone(), (packet.src, packet.dst));
            self.events.push_back(RegistrarEvent::Registered { user: msg.from.clone(), at: packet.src });
            // The upstream learns that this user is reached through us.
            if let Some((from, to)) = self.upstream {
                self.out.push_back(segment(from, to, &msg));
            } else {
                self.out.push_back(segment(packet.dst, packet.src, &msg.response(200, "")));
            }
            return;
        }
        // A REGISTER answered by the upstream goes back to the user who registered.
        self.route(msg, packet.src);
    }

    fn route(&mut self, msg: SipMessage, came_from: SocketAddrV4) {
        let target = msg.destination().to_string();
        let next = match self.users.get(&target) {
            // Never send a message back where it came from (two registrars pointing at each other).
            Some(&(peer, local)) if peer != came_from => Some((local, peer)),
            _ => self.upstream.filter(|&(_, up)| up != came_from),
        };
        match next {
            Some((from, to)) => {
                self.events.push_back(RegistrarEvent::Routed {
                    call_id: msg.call_id.clone(),
                    to_user: target,
                    next: to,
                });
                self.out.push_back(segment(from, to, &msg));
            }
            None => {
                self.events.push_back(RegistrarEvent::NotFound { user: target });
                if let Start::Request(_) = msg.start {
                    let back = self.users.get(&msg.from).copied();
                    if let Some((peer, local)) = back {
                        self.out.push_back(segment(local, peer, &msg.response(404, "")));
                    }
                }
            }
        }
    }

    pub fn handle_timeout(&mut self, _now: SimTime) {}

    pub fn poll_transmit(&mut self) -> Option<Datagram> {
        self.out.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<RegistrarEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<SimTime> {
        None
    }
}
