//! The STUN Binding messages of ICE (RFC 8445 §7.1–§7.3): building checks and answers,
//! and sorting what arrives into requests for us, responses, and everything else.

use std::net::SocketAddrV4;

use super::{IceDiscard, Role};
use crate::wire::stun::{
    Attribute, AttributeRef, Class, EncodeError, IntegrityKey, MessageView, MessageWriter, Method, ParseError,
    TransactionId, pad4, types,
};

/// What the agent puts in a connectivity check.
pub(super) struct CheckRequest<'a> {
    pub transaction: TransactionId,
    /// `remoteUfrag:localUfrag` (§7.2.2).
    pub username: &'a str,
    /// The peer's password (§7.2.2: short-term, keyed by the remote password).
    pub key: &'a IntegrityKey,
    /// The priority a peer-reflexive candidate learned from this check would get (§7.1.1).
    pub priority: u32,
    pub role: Role,
    pub tie_breaker: u64,
    pub use_candidate: bool,
}

/// Encodes a Binding request with USERNAME, PRIORITY, the role attribute, USE-CANDIDATE when
/// nominating, MESSAGE-INTEGRITY and FINGERPRINT (§7.1.1–§7.1.3, §7.2.2).
pub(super) fn build_request(r: &CheckRequest<'_>) -> Result<Vec<u8>, EncodeError> {
    // USERNAME, PRIORITY (8), the role (12) and USE-CANDIDATE (4): one allocation.
    let body = 4 + pad4(r.username.len()) + 8 + 12 + if r.use_candidate { 4 } else { 0 };
    let mut w = MessageWriter::new(Class::Request, Method::BINDING, r.transaction, body);
    // RFC 8445 §7.1.1: PRIORITY MUST be included in a Binding request.
    w.raw(types::USERNAME, r.username.as_bytes()).attribute(&Attribute::Priority(r.priority));
    // RFC 8445 §7.1.3: the controlling agent MUST include ICE-CONTROLLING, the controlled
    // agent MUST include ICE-CONTROLLED.
    w.attribute(&match r.role {
        Role::Controlling => Attribute::IceControlling(r.tie_breaker),
        Role::Controlled => Attribute::IceControlled(r.tie_breaker),
    });
    if r.use_candidate {
        // RFC 8445 §7.1.2: only the controlling agent includes USE-CANDIDATE.
        debug_assert_eq!(r.role, Role::Controlling, "only the controlling agent nominates");
        w.attribute(&Attribute::UseCandidate);
    }
    w.finish(Some(r.key), true)
}

/// A success response to the request `transaction`: XOR-MAPPED-ADDRESS = the request's
/// source (§7.3.1.2), signed with our password, with FINGERPRINT.
pub(super) fn build_success(
    transaction: TransactionId,
    mapped: SocketAddrV4,
    key: &IntegrityKey,
) -> Result<Vec<u8>, EncodeError> {
    let mut w = MessageWriter::new(Class::Success, Method::BINDING, transaction, 12);
    w.attribute(&Attribute::XorMappedAddress(mapped));
    w.finish(Some(key), true)
}

/// An error response to the request `transaction`; signed when `key` is given (a 401
/// cannot be, RFC 8489 §9.1.3).
pub(super) fn build_error(
    transaction: TransactionId,
    code: u16,
    reason: &str,
    key: Option<&IntegrityKey>,
) -> Result<Vec<u8>, EncodeError> {
    let mut w = MessageWriter::new(Class::Error, Method::BINDING, transaction, 8 + pad4(reason.len()));
    w.error_code(code, reason);
    w.finish(key, true)
}

/// A request addressed to us, checked.
#[derive(Debug)]
pub(super) struct Request {
    pub transaction_id: TransactionId,
    pub priority: u32,
    /// The role the sender claims and its tie-breaker.
    pub role: (Role, u64),
    pub use_candidate: bool,
}

/// What arrived (read in place: a response borrows the packet). It lives on the stack for
/// the one call that sorts a packet, so the view's size is cheaper than boxing it would be.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum Incoming<'a> {
    /// A Binding request for this agent whose integrity verified.
    Request(Request),
    /// A Binding request for this agent that must be refused: the request's transaction,
    /// the error to answer (if any) and why.
    BadRequest { transaction_id: TransactionId, answer: Option<(u16, &'static str)>, reason: IceDiscard },
    /// A Binding success or error response (integrity not checked yet: that needs the
    /// transaction's key).
    Response(MessageView<'a>),
    /// A Binding indication (a keepalive): nothing to do.
    Indication,
    /// STUN that is malformed.
    Malformed(ParseError),
    /// Not STUN, or STUN for someone else (another method, another username).
    NotOurs,
}

/// Sorts `bytes` arriving at an agent with `local_ufrag` / `local_pwd`.
pub(super) fn classify<'a>(bytes: &'a [u8], local_ufrag: &str, local_key: &IntegrityKey) -> Incoming<'a> {
    // RFC 7983: STUN starts with 0b00 and carries the magic cookie; anything else is media.
    if bytes.first().is_none_or(|b| b >> 6 != 0) {
        return Incoming::NotOurs;
    }
    let msg = match MessageView::decode(bytes) {
        Ok(m) => m,
        Err(ParseError::NotStun(_) | ParseError::NoMagicCookie(_)) => return Incoming::NotOurs,
        Err(e) => return Incoming::Malformed(e),
    };
    if msg.method != Method::BINDING {
        return Incoming::NotOurs;
    }
    match msg.class {
        Class::Indication => Incoming::Indication,
        Class::Success | Class::Error => Incoming::Response(msg),
        Class::Request => classify_request(&msg, local_ufrag, local_key),
    }
}

fn classify_request<'a>(msg: &MessageView<'a>, local_ufrag: &str, key: &IntegrityKey) -> Incoming<'a> {
    let transaction_id = msg.transaction_id;
    let bad = |answer, reason| Incoming::BadRequest { transaction_id, answer: Some(answer), reason };
    // RFC 8445 §7.3 / RFC 8489 §9.1.3: USERNAME is "ours:theirs" and the integrity uses our
    // password; a request without them gets 400, a wrong one 401.
    let Some(username) = msg.username() else {
        return bad((400, "Bad Request"), IceDiscard::MissingAttribute(types::USERNAME));
    };
    let ours = username.split_once(':').is_some_and(|(l, _)| l == local_ufrag);
    if !ours {
        return bad((401, "Unauthorized"), IceDiscard::WrongUsername);
    }
    if msg.verify_integrity(key).is_err() {
        return bad((401, "Unauthorized"), IceDiscard::BadIntegrity);
    }
    let priority = msg.priority();
    let role = msg.attributes().find_map(|a| match a {
        AttributeRef::IceControlling(t) => Some((Role::Controlling, t)),
        AttributeRef::IceControlled(t) => Some((Role::Controlled, t)),
        _ => None,
    });
    let use_candidate = msg.has(types::USE_CANDIDATE);
    match (priority, role) {
        (Some(priority), Some(role)) => Incoming::Request(Request { transaction_id, priority, role, use_candidate }),
        (None, _) => bad((400, "Bad Request"), IceDiscard::MissingAttribute(types::PRIORITY)),
        (_, None) => bad((400, "Bad Request"), IceDiscard::MissingAttribute(types::ICE_CONTROLLING)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::stun::{Message, verify_integrity};

    fn request(use_candidate: bool) -> Vec<u8> {
        let key = IntegrityKey::short_term("theirpassword");
        build_request(&CheckRequest {
            transaction: TransactionId::derive(1, 1),
            username: "them:us",
            key: &key,
            priority: 1862270975,
            role: Role::Controlling,
            tie_breaker: 42,
            use_candidate,
        })
        .unwrap()
    }

    #[test]
    fn request_carries_the_ice_attributes_and_verifies() {
        let b = request(true);
        let key = IntegrityKey::short_term("theirpassword");
        match classify(&b, "them", &key) {
            Incoming::Request(r) => {
                assert_eq!(r.priority, 1862270975);
                assert_eq!(r.role, (Role::Controlling, 42));
                assert!(r.use_candidate);
                assert_eq!(r.transaction_id, TransactionId::derive(1, 1));
            }
            other => panic!("expected a request, got {other:?}"),
        }
        assert!(matches!(
            classify(&request(false), "them", &key),
            Incoming::Request(Request { use_candidate: false, .. })
        ));
    }

    #[test]
    fn wrong_username_or_password_is_refused_with_401() {
        let b = request(false);
        let key = IntegrityKey::short_term("theirpassword");
        assert!(matches!(
            classify(&b, "someone", &key),
            Incoming::BadRequest { answer: Some((401, _)), reason: IceDiscard::WrongUsername, .. }
        ));
        let wrong = IntegrityKey::short_term("nope");
        assert!(matches!(classify(&b, "them", &wrong), Incoming::BadRequest { reason: IceDiscard::BadIntegrity, .. }));
    }

    #[test]
    fn media_and_other_methods_are_not_ours() {
        let key = IntegrityKey::short_term("p");
        assert!(matches!(classify(&[0x80, 0x00, 0x00], "u", &key), Incoming::NotOurs));
        assert!(matches!(classify(&[], "u", &key), Incoming::NotOurs));
        let alloc = Message::request(Method::ALLOCATE, TransactionId::derive(0, 0)).encode().unwrap();
        assert!(matches!(classify(&alloc, "u", &key), Incoming::NotOurs));
        let mut truncated = request(false);
        truncated.truncate(30);
        assert!(matches!(classify(&truncated, "them", &key), Incoming::Malformed(_)));
    }

    #[test]
    fn success_response_echoes_the_source() {
        let key = IntegrityKey::short_term("ours");
        let req = Message::decode(&request(false)).unwrap();
        let b = build_success(req.transaction_id, "203.0.113.5:6000".parse().unwrap(), &key).unwrap();
        let m = Message::decode(&b).unwrap();
        assert_eq!(m.class, Class::Success);
        assert_eq!(m.transaction_id, req.transaction_id);
        assert_eq!(m.xor_mapped_address(), Some("203.0.113.5:6000".parse().unwrap()));
        assert_eq!(verify_integrity(&b, &key), Ok(()));
    }
}
