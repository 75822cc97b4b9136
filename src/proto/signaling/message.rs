//! Signaling messages: a small SIP-shaped text format (request line or status line,
//! headers, an optional SDP body), carried over TCP as Lync carries SIP over TLS.
//!
//! Only what routing a call needs is modelled: the method or status, who it is from and
//! to, the call it belongs to, its sequence number and the body. Parsing is total.

use std::fmt::Write as _;

use thiserror::Error;

/// A request method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    Register,
    Invite,
    Ack,
    Message,
    Bye,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Register => "REGISTER",
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Message => "MESSAGE",
            Method::Bye => "BYE",
        }
    }

    fn parse(s: &str) -> Option<Method> {
        Some(match s {
            "REGISTER" => Method::Register,
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "MESSAGE" => Method::Message,
            "BYE" => Method::Bye,
            _ => return None,
        })
    }
}

/// Request or response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    Request(Method),
    /// A status code and the method of the request it answers.
    Response {
        code: u16,
        method: Method,
    },
}

/// One signaling message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipMessage {
    pub start: Start,
    pub from: String,
    pub to: String,
    pub call_id: String,
    pub cseq: u32,
    pub body: String,
}

/// Why bytes are not a signaling message.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SipParseError {
    #[error("not UTF-8")]
    NotText,
    #[error("bad start line `{0}`")]
    StartLine(String),
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("bad header `{0}`")]
    Header(String),
}

impl SipMessage {
    pub fn request(method: Method, from: &str, to: &str, call_id: &str, cseq: u32, body: &str) -> SipMessage {
        SipMessage {
            start: Start::Request(method),
            from: from.into(),
            to: to.into(),
            call_id: call_id.into(),
            cseq,
            body: body.into(),
        }
    }

    /// The response to `self` with `code` and `body`.
    pub fn response(&self, code: u16, body: &str) -> SipMessage {
        let method = match self.start {
            Start::Request(m) => m,
            Start::Response { method, .. } => method,
        };
        SipMessage { start: Start::Response { code, method }, body: body.into(), ..self.clone() }
    }

    /// The user the message travels toward: the callee for requests, the caller for responses.
    pub fn destination(&self) -> &str {
        match self.start {
            Start::Request(_) => &self.to,
            Start::Response { .. } => &self.from,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut s = String::new();
        match &self.start {
            Start::Request(m) => {
                let _ = write!(s, "{} sip:{} SIP/2.0\r\n", m.as_str(), self.to);
            }
            Start::Response { code, .. } => {
                let _ = write!(s, "SIP/2.0 {code} {}\r\n", reason(*code));
            }
        }
        let method = match &self.start {
            Start::Request(m) | Start::Response { method: m, .. } => m.as_str(),
        };
        let _ = write!(
            s,
            "From: <sip:{}>\r\nTo: <sip:{}>\r\nCall-ID: {}\r\nCSeq: {} {method}\r\nContent-Length: {}\r\n\r\n{}",
            self.from,
            self.to,
            self.call_id,
            self.cseq,
            self.body.len(),
            self.body
        );
        s.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<SipMessage, SipParseError> {
        let text = std::str::from_utf8(bytes).map_err(|_| SipParseError::NotText)?;
        let (head, body) = text.split_once("\r\n\r\n").ok_or(SipParseError::MissingHeader("blank line"))?;
        let mut lines = head.split("\r\n");
        let first = lines.next().unwrap_or_default();
        let bad_start = || SipParseError::StartLine(first.chars().take(60).collect());
        let mut parts = first.split(' ');
        let (a, b) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        let mut from = None;
        let mut to = None;
        let mut call_id = None;
        let mut cseq = None;
        for line in lines {
            let (name, value) =
                line.split_once(": ").ok_or_else(|| SipParseError::Header(line.chars().take(60).collect()))?;
            let user = || value.trim_start_matches("<sip:").trim_end_matches('>').to_string();
            match name {
                "From" => from = Some(user()),
                "To" => to = Some(user()),
                "Call-ID" => call_id = Some(value.to_string()),
                "CSeq" => {
                    let (n, m) = value.split_once(' ').ok_or_else(|| SipParseError::Header(line.into()))?;
                    let n = n.parse::<u32>().map_err(|_| SipParseError::Header(line.into()))?;
                    let m = Method::parse(m).ok_or_else(|| SipParseError::Header(line.into()))?;
                    cseq = Some((n, m));
                }
                _ => {}
            }
        }
        let (cseq, cseq_method) = cseq.ok_or(SipParseError::MissingHeader("CSeq"))?;
        let start = if a == "SIP/2.0" {
            Start::Response { code: b.parse().map_err(|_| bad_start())?, method: cseq_method }
        } else {
            Start::Request(Method::parse(a).ok_or_else(bad_start)?)
        };
        Ok(SipMessage {
            start,
            from: from.ok_or(SipParseError::MissingHeader("From"))?,
            to: to.ok_or(SipParseError::MissingHeader("To"))?,
            call_id: call_id.ok_or(SipParseError::MissingHeader("Call-ID"))?,
            cseq,
            body: body.to_string(),
        })
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        404 => "Not Found",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        let invite = SipMessage::request(
            Method::Invite,
            "alice",
            "bob",
            "call-1",
            1,
            "v=0\r\na=candidate:1 1 UDP 1 10.0.0.1 5 typ host\r\n",
        );
        assert_eq!(SipMessage::decode(&invite.encode()), Ok(invite.clone()));
        let ok = invite.response(183, "v=0\r\n");
        assert_eq!(SipMessage::decode(&ok.encode()), Ok(ok.clone()));
        assert_eq!(ok.destination(), "alice");
        assert!(String::from_utf8(ok.encode()).unwrap().starts_with("SIP/2.0 183 Session Progress\r\n"));
    }

    proptest! {
        #[test]
        fn decode_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = SipMessage::decode(&bytes);
        }
    }
}
