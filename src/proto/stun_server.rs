//! A STUN Binding server (RFC 8489 §6.3, §7.3): answers each Binding request with the
//! source address it came from, as XOR-MAPPED-ADDRESS.
//!
//! It keeps no state between requests (RFC 8489 §6.3.1), needs no credentials (the Binding
//! usage of NAT discovery is unauthenticated) and never sets a timer.

use std::collections::VecDeque;
use std::net::SocketAddrV4;

use super::Discard;
use crate::time::SimTime;
use crate::wire::Datagram;
use crate::wire::stun::{Attribute, Class, MessageView, MessageWriter, Method, pad4, types};

/// What a Binding server did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StunServerEvent {
    /// A Binding request was answered with `mapped` (the request's source).
    Answered { server: SocketAddrV4, mapped: SocketAddrV4 },
    /// A packet was not answered, and why.
    Discarded { from: SocketAddrV4, reason: Discard },
}

/// A stateless STUN Binding server on one or more UDP addresses.
#[derive(Clone, Debug)]
pub struct StunServer {
    addresses: Vec<SocketAddrV4>,
    software: Option<String>,
    out: VecDeque<Datagram>,
    events: VecDeque<StunServerEvent>,
}

impl StunServer {
    /// A server answering on `addresses` (UDP).
    pub fn new(addresses: impl IntoIterator<Item = SocketAddrV4>) -> StunServer {
        StunServer {
            addresses: addresses.into_iter().collect(),
            software: None,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The UDP addresses answered on.
    pub fn addresses(&self) -> &[SocketAddrV4] {
        &self.addresses
    }

    /// Adds SOFTWARE to every response (RFC 8489 §14.14).
    pub fn with_software(mut self, software: &str) -> StunServer {
        self.software = Some(software.to_owned());
        self
    }

    pub fn handle_packet(&mut self, _now: SimTime, packet: &Datagram) {
        if !self.addresses.contains(&packet.dst) {
            return self.discard(packet.src, Discard::NotForUs);
        }
        let request = match MessageView::decode(&packet.payload) {
            Ok(m) => m,
            Err(e) => return self.discard(packet.src, Discard::Malformed(e)),
        };
        match answer_binding(&request, packet.src, self.software.as_deref()) {
            Some(Ok(bytes)) => {
                self.out.push_back(Datagram::udp(packet.dst, packet.src, bytes));
                self.events.push_back(StunServerEvent::Answered { server: packet.dst, mapped: packet.src });
            }
            Some(Err(reason)) => self.discard(packet.src, reason),
            None => self.discard(packet.src, Discard::Unexpected { method: request.method, class: request.class }),
        }
    }

    /// The server sets no timers.
    pub fn handle_timeout(&mut self, _now: SimTime) {}

    pub fn poll_transmit(&mut self) -> Option<Datagram> {
        self.out.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<StunServerEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<SimTime> {
        None
    }

    fn discard(&mut self, from: SocketAddrV4, reason: Discard) {
        self.events.push_back(StunServerEvent::Discarded { from, reason });
    }
}

/// The response bytes to a Binding request from `from`: success with XOR-MAPPED-ADDRESS, or
/// 420 listing unknown comprehension-required attributes (RFC 8489 §6.3.1.1). `None` when
/// `request` is not a Binding request (indications need no answer, §6.3.2).
pub(crate) fn answer_binding(
    request: &MessageView<'_>,
    from: SocketAddrV4,
    software: Option<&str>,
) -> Option<Result<Vec<u8>, Discard>> {
    if request.method != Method::BINDING || request.class != Class::Request {
        return None;
    }
    let fingerprint = request.has(types::FINGERPRINT);
    let unknown = request.unknown_comprehension_required();
    let software_len = software.map_or(0, |s| 4 + pad4(s.len()));
    let (id, method) = (request.transaction_id, request.method);
    let mut w = if unknown.is_empty() {
        let mut w = MessageWriter::new(Class::Success, method, id, 12 + software_len);
        w.attribute(&Attribute::XorMappedAddress(from));
        w
    } else {
        // RFC 8489 §6.3.1.1: unknown comprehension-required attributes MUST get a 420.
        const REASON: &str = "Unknown Attribute";
        let body = 8 + pad4(REASON.len()) + 4 + pad4(2 * unknown.len()) + software_len;
        let mut w = MessageWriter::new(Class::Error, method, id, body);
        w.error_code(420, REASON).attribute(&Attribute::UnknownAttributes(unknown));
        w
    };
    if let Some(s) = software {
        w.raw(types::SOFTWARE, s.as_bytes());
    }
    Some(w.finish(None, fingerprint).map_err(Discard::Encode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::stun::Message;
    use crate::wire::stun::TransactionId;

    fn sa(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn binding_request_gets_its_source_back() {
        let server = sa("192.0.2.1:3478");
        let mut s = StunServer::new([server]).with_software("icepath");
        let req = Message::request(Method::BINDING, TransactionId([1; 12]));
        s.handle_packet(
            SimTime::ZERO,
            &Datagram::udp(sa("198.51.100.9:4000"), server, req.encode_with(None, true).unwrap()),
        );
        let out = s.poll_transmit().unwrap();
        assert_eq!((out.src, out.dst), (server, sa("198.51.100.9:4000")));
        let resp = Message::decode(&out.payload).unwrap();
        assert_eq!(resp.class, Class::Success);
        assert_eq!(resp.transaction_id, req.transaction_id);
        assert_eq!(resp.xor_mapped_address(), Some(sa("198.51.100.9:4000")));
        assert!(matches!(resp.attributes.last(), Some(Attribute::Fingerprint(_))));
        assert_eq!(s.poll_event(), Some(StunServerEvent::Answered { server, mapped: sa("198.51.100.9:4000") }));
        assert_eq!(s.poll_transmit(), None);
    }

    #[test]
    fn unknown_required_attribute_gets_420_and_garbage_is_discarded() {
        let server = sa("192.0.2.1:3478");
        let mut s = StunServer::new([server]);
        let req = Message::request(Method::BINDING, TransactionId([1; 12]))
            .with(Attribute::Other { typ: 0x0030, value: vec![] });
        s.handle_packet(SimTime::ZERO, &Datagram::udp(sa("10.0.0.1:1"), server, req.encode().unwrap()));
        let resp = Message::decode(&s.poll_transmit().unwrap().payload).unwrap();
        assert_eq!(resp.error_code(), Some((420, "Unknown Attribute")));
        assert_eq!(
            resp.attribute(crate::wire::stun::types::UNKNOWN_ATTRIBUTES),
            Some(&Attribute::UnknownAttributes(vec![0x0030]))
        );

        s.handle_packet(SimTime::ZERO, &Datagram::udp(sa("10.0.0.1:1"), server, vec![1, 2, 3]));
        s.handle_packet(SimTime::ZERO, &Datagram::udp(sa("10.0.0.1:1"), sa("192.0.2.1:9"), vec![]));
        assert_eq!(s.poll_transmit(), None);
        s.poll_event();
        assert!(matches!(s.poll_event(), Some(StunServerEvent::Discarded { reason: Discard::Malformed(_), .. })));
        assert!(matches!(s.poll_event(), Some(StunServerEvent::Discarded { reason: Discard::NotForUs, .. })));
    }
}
