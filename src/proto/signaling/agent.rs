//! A user agent: registers with its registrar, sends requests and responses through it, and
//! reports what arrives. A request unanswered after 32 s (SIP's Timer B) times out.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddrV4;

use super::message::Method;
use super::{SipMessage, Start, segment};
use crate::time::{SimDuration, SimTime};
use crate::wire::{Datagram, Protocol};

/// RFC 3261 Timer B: 64 × T1 (500 ms).
pub const REQUEST_TIMEOUT: SimDuration = SimDuration::from_secs(32);

/// What a user agent learned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserAgentEvent {
    Registered,
    /// A request from another user.
    Request(SipMessage),
    /// A response to one of our requests.
    Response(SipMessage),
    /// No final response in time.
    TimedOut {
        method: Method,
        call_id: String,
    },
}

/// One user's signaling endpoint.
#[derive(Clone, Debug)]
pub struct UserAgent {
    user: String,
    local: SocketAddrV4,
    registrar: SocketAddrV4,
    cseq: u32,
    /// (call id, method) -> deadline for a final response.
    pending: BTreeMap<(String, Method), SimTime>,
    out: VecDeque<Datagram>,
    events: VecDeque<UserAgentEvent>,
}

impl UserAgent {
    pub fn new(user: &str, local: SocketAddrV4, registrar: SocketAddrV4) -> UserAgent {
        UserAgent {
            user: user.into(),
            local,
            registrar,
            cseq: 0,
            pending: BTreeMap::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn local(&self) -> SocketAddrV4 {
        self.local
    }

    pub fn register(&mut self, now: SimTime) {
        let call_id = format!("reg-{}", self.user);
        let user = self.user.clone();
        self.send_request(now, Method::Register, &user, &call_id, "");
    }

    /// Sends a request to `to` through the registrar.
    pub fn send_request(&mut self, now: SimTime, method: Method, to: &str, call_id: &str, body: &str) {
        self.cseq += 1;
        let msg = SipMessage::request(method, &self.user, to, call_id, self.cseq, body);
        if method != Method::Ack {
            self.pending.insert((call_id.to_string(), method), now + REQUEST_TIMEOUT);
        }
        self.out.push_back(segment(self.local, self.registrar, &msg));
    }

    /// Answers `request` with `code` and `body`.
    pub fn respond(&mut self, request: &SipMessage, code: u16, body: &str) {
        self.out.push_back(segment(self.local, self.registrar, &request.response(code, body)));
    }

    pub fn handle_packet(&mut self, _now: SimTime, packet: &Datagram) {
        if packet.protocol() != Protocol::Tcp || packet.dst != self.local {
            return;
        }
        let Ok(msg) = SipMessage::decode(&packet.payload) else { return };
        match msg.start {
            Start::Request(Method::Register) => {
                // Our own REGISTER came back from a registrar chain's end: treat as accepted.
                self.pending.remove(&(msg.call_id.clone(), Method::Register));
                self.events.push_back(UserAgentEvent::Registered);
            }
            Start::Request(_) => self.events.push_back(UserAgentEvent::Request(msg)),
            Start::Response { code, method } => {
                if code >= 200 {
                    self.pending.remove(&(msg.call_id.clone(), method));
                }
                if method == Method::Register && code == 200 {
                    self.events.push_back(UserAgentEvent::Registered);
                } else {
                    self.events.push_back(UserAgentEvent::Response(msg));
                }
            }
        }
    }

    pub fn handle_timeout(&mut self, now: SimTime) {
        let expired: Vec<(String, Method)> =
            self.pending.iter().filter(|(_, t)| **t <= now).map(|(k, _)| k.clone()).collect();
        for (call_id, method) in expired {
            self.pending.remove(&(call_id.clone(), method));
            self.events.push_back(UserAgentEvent::TimedOut { method, call_id });
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Datagram> {
        self.out.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<UserAgentEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<SimTime> {
        self.pending.values().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::signaling::Registrar;

    fn sa(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    /// Two registrars (a front end and an Access Edge passing to it) and two users, joined
    /// by a network that delivers instantly.
    struct Net {
        fe: Registrar,
        edge: Registrar,
        alice: UserAgent,
        bob: UserAgent,
    }

    impl Net {
        /// Delivers everything sent so far; returns whether anything moved.
        fn step(&mut self, t: SimTime) -> bool {
            let mut packets = Vec::new();
            while let Some(d) = self.alice.poll_transmit() {
                packets.push(d)
            }
            while let Some(d) = self.bob.poll_transmit() {
                packets.push(d)
            }
            while let Some(d) = self.fe.poll_transmit() {
                packets.push(d)
            }
            while let Some(d) = self.edge.poll_transmit() {
                packets.push(d)
            }
            let moved = !packets.is_empty();
            for d in packets {
                if self.fe.listens(d.dst) {
                    self.fe.handle_packet(t, &d)
                } else if self.edge.listens(d.dst) {
                    self.edge.handle_packet(t, &d)
                } else if d.dst == self.alice.local() {
                    self.alice.handle_packet(t, &d)
                } else if d.dst == self.bob.local() {
                    self.bob.handle_packet(t, &d)
                }
            }
            moved
        }
    }

    /// Alice (behind an Access Edge) calls Bob (on the front end): the message crosses both
    /// registrars and the answer comes back the same way.
    #[test]
    fn a_call_crosses_edge_and_front_end() {
        let fe_addr = sa("10.0.1.10:5061");
        let edge_int = sa("172.16.20.10:5061");
        let edge_ext = sa("172.16.10.10:5061");
        let mut net = Net {
            fe: Registrar::new(vec![fe_addr], None),
            edge: Registrar::new(vec![edge_int, edge_ext], Some((edge_int, fe_addr))),
            alice: UserAgent::new("alice", sa("198.51.100.6:40000"), edge_ext),
            bob: UserAgent::new("bob", sa("10.0.1.50:40000"), fe_addr),
        };
        let t = SimTime::ZERO;
        net.alice.register(t);
        net.bob.register(t);
        for _ in 0..20 {
            if !net.step(t) {
                break;
            }
        }
        assert_eq!(net.alice.poll_event(), Some(UserAgentEvent::Registered));
        assert_eq!(net.bob.poll_event(), Some(UserAgentEvent::Registered));
        net.alice.send_request(t, Method::Invite, "bob", "c1", "offer");
        let mut got_invite = None;
        for _ in 0..20 {
            if !net.step(t) {
                break;
            }
            while let Some(ev) = net.bob.poll_event() {
                if let UserAgentEvent::Request(m) = ev {
                    net.bob.respond(&m, 200, "answer");
                    got_invite = Some(m);
                }
            }
        }
        assert_eq!(got_invite.map(|m| m.body), Some("offer".to_string()));
        match net.alice.poll_event() {
            Some(UserAgentEvent::Response(m)) => assert_eq!(
                (m.start, m.body.as_str()),
                (Start::Response { code: 200, method: Method::Invite }, "answer")
            ),
            other => panic!("expected the answer, got {other:?}"),
        }
    }

    #[test]
    fn unanswered_requests_time_out() {
        let mut a = UserAgent::new("a", sa("10.0.0.1:1"), sa("10.0.0.2:5061"));
        a.send_request(SimTime::ZERO, Method::Invite, "b", "c", "");
        assert_eq!(a.poll_timeout(), Some(SimTime::ZERO + REQUEST_TIMEOUT));
        a.handle_timeout(SimTime::ZERO + REQUEST_TIMEOUT);
        assert_eq!(a.poll_event(), Some(UserAgentEvent::TimedOut { method: Method::Invite, call_id: "c".into() }));
    }
}
