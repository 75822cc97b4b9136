//! ICE candidates (RFC 8445 §5.1) and their SDP form (RFC 8839 §5.1, RFC 6544 §4.5).
//!
//! A `Candidate` is what both agents know about a transport address: its foundation,
//! component, protocol, priority, address, type and, for reflexive and relayed candidates,
//! the related address. The base (§5.1.1.1) is local knowledge and never travels: a candidate
//! read from SDP gets its own address as base, which is what a remote candidate needs.
//!
//! `Candidate::from_sdp` is total: any text gives a candidate or a typed `SdpError`.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use thiserror::Error;

use crate::wire::Protocol;

/// The four candidate types of RFC 8445 §5.1.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CandidateType {
    Host,
    ServerReflexive,
    PeerReflexive,
    Relayed,
}

impl CandidateType {
    /// The `typ` token of RFC 8839 §5.1.
    pub fn sdp_name(self) -> &'static str {
        match self {
            CandidateType::Host => "host",
            CandidateType::ServerReflexive => "srflx",
            CandidateType::PeerReflexive => "prflx",
            CandidateType::Relayed => "relay",
        }
    }
}

impl fmt::Display for CandidateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sdp_name())
    }
}

/// The connection role of a TCP candidate (RFC 6544 §4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcpType {
    /// Opens connections, never accepts them.
    Active,
    /// Accepts connections, never opens them.
    Passive,
    /// Simultaneous open: both ends open at once.
    SimultaneousOpen,
}

impl TcpType {
    /// The `tcptype` value of RFC 6544 §4.5.
    pub fn sdp_name(self) -> &'static str {
        match self {
            TcpType::Active => "active",
            TcpType::Passive => "passive",
            TcpType::SimultaneousOpen => "so",
        }
    }

    /// Whether a local candidate of this type may be paired with a remote one of `remote`
    /// (RFC 6544 §6.2: active with passive, passive with active, S-O with S-O).
    pub fn pairs_with(self, remote: TcpType) -> bool {
        matches!(
            (self, remote),
            (TcpType::Active, TcpType::Passive)
                | (TcpType::Passive, TcpType::Active)
                | (TcpType::SimultaneousOpen, TcpType::SimultaneousOpen)
        )
    }
}

/// A candidate's foundation: 1 to 32 characters (RFC 8839 §5.1 allows no more), held in
/// place rather than on the heap. A candidate is copied into every pair it is part of and
/// into events, and with its text inline such a copy allocates nothing. It reads, prints,
/// compares and hashes as the text it holds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Foundation {
    len: u8,
    bytes: [u8; Foundation::MAX],
}

impl Foundation {
    /// The longest foundation (RFC 8839 §5.1: `1*32ice-char`).
    pub const MAX: usize = 32;

    /// `text` as a foundation, if it is not longer than `MAX` bytes.
    pub fn new(text: &str) -> Option<Foundation> {
        let mut f = Foundation { len: 0, bytes: [0; Foundation::MAX] };
        f.bytes.get_mut(..text.len())?.copy_from_slice(text.as_bytes());
        f.len = text.len() as u8;
        Some(f)
    }

    /// `prefix` (at most 22 bytes, so any `u32` fits after it) followed by `n` in decimal:
    /// the numbered foundations the agent makes.
    pub(crate) fn numbered(prefix: &str, n: u32) -> Foundation {
        debug_assert!(prefix.len() <= Foundation::MAX - 10, "room for ten digits");
        let (digits, i) = decimal(n);
        let mut f = Foundation::new(prefix).unwrap_or(Foundation { len: 0, bytes: [0; Foundation::MAX] });
        for &d in &digits[i..] {
            if let Some(b) = f.bytes.get_mut(usize::from(f.len)) {
                *b = d;
                f.len += 1;
            }
        }
        f
    }

    pub fn as_str(&self) -> &str {
        // Only whole `&str`s and ASCII digits are ever written into `bytes`.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl std::ops::Deref for Foundation {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::hash::Hash for Foundation {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for Foundation {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Foundation {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Foundation {
    /// As the text would print (`"1"`), so events read as they did with a `String`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Foundation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One candidate (RFC 8445 §5.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// Up to 32 `ice-char`s (RFC 8839 §5.1); equal for candidates that share type, base IP
    /// and server (RFC 8445 §5.1.1.3).
    pub foundation: Foundation,
    /// 1 = RTP. Only component 1 is used today; the field keeps the SDP whole.
    pub component: u16,
    pub protocol: Protocol,
    pub priority: u32,
    /// The transport address.
    pub address: SocketAddrV4,
    pub kind: CandidateType,
    /// RFC 8445 §5.1.1.1: the address the agent sends from for this candidate (the host
    /// address for a reflexive candidate; the relayed address itself for a relayed one).
    pub base: SocketAddrV4,
    /// `raddr`/`rport`: the base of a reflexive candidate, the mapped address of a relayed one.
    pub related: Option<SocketAddrV4>,
    /// Set exactly when `protocol` is TCP (RFC 6544 §4.5).
    pub tcp_type: Option<TcpType>,
}

/// Why a line is not an ICE candidate attribute.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SdpError {
    /// The line does not start with `candidate:` (or `a=candidate:`).
    #[error("not a candidate attribute (expected \"candidate:\")")]
    NotCandidate,
    /// The line ends before a required field.
    #[error("missing {0}")]
    Missing(&'static str),
    /// The foundation is empty, longer than 32 characters, or has a character outside
    /// ALPHA / DIGIT / "+" / "/".
    #[error("bad foundation {0:?}")]
    BadFoundation(String),
    /// The component id is not a number from 1 to 256.
    #[error("bad component id {0:?}")]
    BadComponent(String),
    /// A transport other than UDP and TCP (or Microsoft's TCP-ACT / TCP-PASS).
    #[error("unknown transport {0:?}")]
    UnknownTransport(String),
    /// The priority is not a number from 1 to 2^31 - 1.
    #[error("bad priority {0:?}")]
    BadPriority(String),
    /// Not a dotted-quad IPv4 address (FQDN and IPv6 candidates are not modelled).
    #[error("bad address {0:?}")]
    BadAddress(String),
    /// Not a port number.
    #[error("bad port {0:?}")]
    BadPort(String),
    /// The `typ` keyword is missing where expected.
    #[error("expected \"typ\", found {0:?}")]
    ExpectedTyp(String),
    /// A candidate type other than host, srflx, prflx and relay.
    #[error("unknown candidate type {0:?}")]
    UnknownType(String),
    /// `raddr` without `rport` or the other way round.
    #[error("raddr and rport must come together")]
    HalfRelated,
    /// A `tcptype` other than active, passive and so.
    #[error("unknown tcptype {0:?}")]
    UnknownTcpType(String),
    /// A TCP candidate without `tcptype`, or a UDP candidate with one (RFC 6544 §4.5).
    #[error("tcptype does not match the transport")]
    TcpTypeMismatch,
    /// An extension name without a value (RFC 8839 §5.1: name SP value).
    #[error("extension {0:?} has no value")]
    DanglingExtension(String),
}

impl Candidate {
    /// An `a=candidate:` SDP attribute value (RFC 8839 §5.1 grammar, RFC 6544 §4.5 for TCP),
    /// e.g. `candidate:1 1 UDP 2130706431 10.0.0.1 50000 typ host`.
    pub fn to_sdp(&self) -> String {
        // Written piece by piece rather than through `format!`: every offer and answer
        // writes one line per candidate, and the formatting machinery cost more than the
        // rest of the line.
        let transport = match self.protocol {
            Protocol::Udp => "UDP",
            Protocol::Tcp => "TCP",
        };
        let mut s = String::with_capacity(96 + self.foundation.len());
        s.push_str("candidate:");
        s.push_str(&self.foundation);
        s.push(' ');
        push_decimal(&mut s, u32::from(self.component));
        s.push(' ');
        s.push_str(transport);
        s.push(' ');
        push_decimal(&mut s, self.priority);
        s.push(' ');
        push_address(&mut s, self.address, " ");
        s.push_str(" typ ");
        s.push_str(self.kind.sdp_name());
        if let Some(r) = self.related {
            s.push_str(" raddr ");
            push_address(&mut s, r, " rport ");
        }
        if let Some(t) = self.tcp_type {
            s.push_str(" tcptype ");
            s.push_str(t.sdp_name());
        }
        s
    }

    /// Reads a candidate attribute, with or without the leading `a=`. Unknown extensions are
    /// skipped; the base is set to the address (it never travels in SDP).
    pub fn from_sdp(line: &str) -> Result<Candidate, SdpError> {
        let line = line.trim();
        let line = line.strip_prefix("a=").unwrap_or(line);
        let rest = line.strip_prefix("candidate:").ok_or(SdpError::NotCandidate)?;
        let mut f = rest.split_ascii_whitespace();
        let mut next = |what| f.next().ok_or(SdpError::Missing(what));

        let foundation = next("foundation")?;
        let ice_char = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/';
        let foundation = match Foundation::new(foundation) {
            Some(f) if foundation.chars().all(ice_char) => f,
            _ => return Err(SdpError::BadFoundation(foundation.to_owned())),
        };
        let component_text = next("component id")?;
        let component = match component_text.parse::<u16>() {
            Ok(c) if (1..=256).contains(&c) && component_text.len() <= 3 => c,
            _ => return Err(SdpError::BadComponent(component_text.to_owned())),
        };
        let transport = next("transport")?;
        // Microsoft's SDP (MS-SDPEXT) names TCP candidates TCP-ACT and TCP-PASS.
        let is = |name: &str| transport.eq_ignore_ascii_case(name);
        let (protocol, ms_tcp_type) = if is("UDP") {
            (Protocol::Udp, None)
        } else if is("TCP") {
            (Protocol::Tcp, None)
        } else if is("TCP-ACT") {
            (Protocol::Tcp, Some(TcpType::Active))
        } else if is("TCP-PASS") {
            (Protocol::Tcp, Some(TcpType::Passive))
        } else {
            return Err(SdpError::UnknownTransport(transport.to_owned()));
        };
        let priority_text = next("priority")?;
        let priority = match priority_text.parse::<u32>() {
            Ok(p) if (1..=0x7FFF_FFFF).contains(&p) && priority_text.len() <= 10 => p,
            _ => return Err(SdpError::BadPriority(priority_text.to_owned())),
        };
        let ip = parse_ip(next("connection address")?)?;
        let port = parse_port(next("port")?)?;
        let typ = next("typ")?;
        if typ != "typ" {
            return Err(SdpError::ExpectedTyp(typ.to_owned()));
        }
        let kind_text = next("candidate type")?;
        let kind = match kind_text {
            "host" => CandidateType::Host,
            "srflx" => CandidateType::ServerReflexive,
            "prflx" => CandidateType::PeerReflexive,
            "relay" => CandidateType::Relayed,
            _ => return Err(SdpError::UnknownType(kind_text.to_owned())),
        };

        let (mut raddr, mut rport, mut tcp_type) = (None, None, ms_tcp_type);
        while let Some(name) = f.next() {
            let value = f.next().ok_or_else(|| SdpError::DanglingExtension(name.to_owned()))?;
            match name {
                "raddr" => raddr = Some(parse_ip(value)?),
                "rport" => rport = Some(parse_port(value)?),
                "tcptype" => {
                    tcp_type = Some(match value {
                        "active" => TcpType::Active,
                        "passive" => TcpType::Passive,
                        "so" => TcpType::SimultaneousOpen,
                        _ => return Err(SdpError::UnknownTcpType(value.to_owned())),
                    })
                }
                // RFC 8839 §5.1: unknown extensions are ignored.
                _ => {}
            }
        }
        let related = match (raddr, rport) {
            (Some(ip), Some(port)) => Some(SocketAddrV4::new(ip, port)),
            (None, None) => None,
            _ => return Err(SdpError::HalfRelated),
        };
        if (protocol == Protocol::Tcp) != tcp_type.is_some() {
            return Err(SdpError::TcpTypeMismatch);
        }
        let address = SocketAddrV4::new(ip, port);
        Ok(Candidate { foundation, component, protocol, priority, address, kind, base: address, related, tcp_type })
    }

    /// Whether a check may go from this (local) candidate to `remote`: same component and
    /// protocol, and for TCP compatible connection roles (RFC 8445 §6.1.2.2, RFC 6544 §6.2).
    pub fn can_pair_with(&self, remote: &Candidate) -> bool {
        if self.component != remote.component || self.protocol != remote.protocol {
            return false;
        }
        match (self.tcp_type, remote.tcp_type) {
            (Some(l), Some(r)) => l.pairs_with(r),
            (None, None) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.kind, self.protocol, self.address)
    }
}

/// `n`'s decimal digits, in ASCII, right-aligned: they are `digits[start..]`.
fn decimal(mut n: u32) -> ([u8; 10], usize) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return (digits, i);
        }
    }
}

/// Appends `n` in decimal.
fn push_decimal(s: &mut String, n: u32) {
    let (digits, i) = decimal(n);
    // ASCII digits: always UTF-8.
    s.push_str(std::str::from_utf8(&digits[i..]).unwrap_or_default());
}

/// Appends `a`'s dotted-quad IP, `between`, then its port.
fn push_address(s: &mut String, a: SocketAddrV4, between: &str) {
    for (i, octet) in a.ip().octets().into_iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        push_decimal(s, u32::from(octet));
    }
    s.push_str(between);
    push_decimal(s, u32::from(a.port()));
}

fn parse_ip(s: &str) -> Result<Ipv4Addr, SdpError> {
    s.parse().map_err(|_| SdpError::BadAddress(s.to_owned()))
}

fn parse_port(s: &str) -> Result<u16, SdpError> {
    match s.parse::<u16>() {
        Ok(p) if s.len() <= 5 => Ok(p),
        _ => Err(SdpError::BadPort(s.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn host() -> Candidate {
        let a: SocketAddrV4 = "10.0.0.1:50000".parse().unwrap();
        Candidate {
            foundation: Foundation::new("1").unwrap(),
            component: 1,
            protocol: Protocol::Udp,
            priority: 2130706431,
            address: a,
            kind: CandidateType::Host,
            base: a,
            related: None,
            tcp_type: None,
        }
    }

    #[test]
    fn host_line_matches_rfc8839_shape() {
        assert_eq!(host().to_sdp(), "candidate:1 1 UDP 2130706431 10.0.0.1 50000 typ host");
        assert_eq!(Candidate::from_sdp("a=candidate:1 1 udp 2130706431 10.0.0.1 50000 typ host"), Ok(host()));
    }

    #[test]
    fn related_address_tcptype_and_extensions() {
        let c = Candidate::from_sdp(
            "candidate:4 1 TCP 1684797439 192.0.2.7 443 typ srflx raddr 10.0.0.1 rport 50010 tcptype passive generation 0",
        )
        .unwrap();
        assert_eq!(c.kind, CandidateType::ServerReflexive);
        assert_eq!(c.related, Some("10.0.0.1:50010".parse().unwrap()));
        assert_eq!(c.tcp_type, Some(TcpType::Passive));
        assert_eq!(c.base, c.address);
    }

    #[test]
    fn microsoft_tcp_transports_are_read_as_tcptype() {
        let c =
            Candidate::from_sdp("candidate:3 1 TCP-ACT 174846975 192.0.2.9 50020 typ relay raddr 192.0.2.1 rport 3478")
                .unwrap();
        assert_eq!((c.protocol, c.tcp_type), (Protocol::Tcp, Some(TcpType::Active)));
        assert!(c.to_sdp().ends_with("tcptype active"));
    }

    #[test]
    fn typed_errors() {
        let e = |s| Candidate::from_sdp(s).unwrap_err();
        assert_eq!(e("foo"), SdpError::NotCandidate);
        assert_eq!(e("candidate:1 1 UDP"), SdpError::Missing("priority"));
        assert_eq!(e("candidate:1 0 UDP 1 10.0.0.1 1 typ host"), SdpError::BadComponent("0".into()));
        assert_eq!(e("candidate:1 1 SCTP 1 10.0.0.1 1 typ host"), SdpError::UnknownTransport("SCTP".into()));
        assert_eq!(e("candidate:1 1 UDP 0 10.0.0.1 1 typ host"), SdpError::BadPriority("0".into()));
        assert_eq!(e("candidate:1 1 UDP 1 host.example 1 typ host"), SdpError::BadAddress("host.example".into()));
        assert_eq!(e("candidate:1 1 UDP 1 10.0.0.1 1 type host"), SdpError::ExpectedTyp("type".into()));
        assert_eq!(e("candidate:1 1 UDP 1 10.0.0.1 1 typ stun"), SdpError::UnknownType("stun".into()));
        assert_eq!(e("candidate:1 1 UDP 1 10.0.0.1 1 typ srflx raddr"), SdpError::DanglingExtension("raddr".into()));
        assert_eq!(e("candidate:1 1 UDP 1 10.0.0.1 1 typ srflx raddr 10.0.0.2"), SdpError::HalfRelated);
        assert_eq!(e("candidate:1 1 UDP 1 10.0.0.1 1 typ srflx raddr 10.0.0.2 x y"), SdpError::HalfRelated);
        assert_eq!(e("candidate:1 1 TCP 1 10.0.0.1 1 typ host"), SdpError::TcpTypeMismatch);
        assert_eq!(e("candidate:a_b 1 UDP 1 10.0.0.1 1 typ host"), SdpError::BadFoundation("a_b".into()));
    }

    #[test]
    fn tcp_roles_pair_as_rfc6544_says() {
        assert!(TcpType::Active.pairs_with(TcpType::Passive));
        assert!(!TcpType::Active.pairs_with(TcpType::Active));
        assert!(TcpType::SimultaneousOpen.pairs_with(TcpType::SimultaneousOpen));
        let mut tcp = host();
        tcp.protocol = Protocol::Tcp;
        tcp.tcp_type = Some(TcpType::Active);
        assert!(!host().can_pair_with(&tcp));
    }

    fn arb_addr() -> impl Strategy<Value = SocketAddrV4> {
        (any::<u32>(), any::<u16>()).prop_map(|(ip, port)| SocketAddrV4::new(Ipv4Addr::from(ip), port))
    }

    prop_compose! {
        fn arb_candidate()(
            foundation in "[A-Za-z0-9+/]{1,32}",
            component in 1u16..=256,
            tcp in prop::option::of(prop_oneof![
                Just(TcpType::Active), Just(TcpType::Passive), Just(TcpType::SimultaneousOpen)
            ]),
            priority in 1u32..=0x7FFF_FFFF,
            address in arb_addr(),
            kind in prop_oneof![
                Just(CandidateType::Host), Just(CandidateType::ServerReflexive),
                Just(CandidateType::PeerReflexive), Just(CandidateType::Relayed)
            ],
            related in prop::option::of(arb_addr()),
        ) -> Candidate {
            let protocol = if tcp.is_some() { Protocol::Tcp } else { Protocol::Udp };
            let foundation = Foundation::new(&foundation).unwrap();
            Candidate { foundation, component, protocol, priority, address, kind, base: address, related, tcp_type: tcp }
        }
    }

    proptest! {
        #[test]
        fn sdp_round_trips(c in arb_candidate()) {
            prop_assert_eq!(Candidate::from_sdp(&c.to_sdp()), Ok(c));
        }

        #[test]
        fn sdp_line_is_the_rfc8839_shape(c in arb_candidate()) {
            // The line as `format!` would write it.
            let transport = if c.protocol == Protocol::Udp { "UDP" } else { "TCP" };
            let mut expected = format!(
                "candidate:{} {} {} {} {} {} typ {}",
                c.foundation, c.component, transport, c.priority, c.address.ip(), c.address.port(), c.kind.sdp_name()
            );
            if let Some(r) = c.related {
                expected.push_str(&format!(" raddr {} rport {}", r.ip(), r.port()));
            }
            if let Some(t) = c.tcp_type {
                expected.push_str(&format!(" tcptype {}", t.sdp_name()));
            }
            prop_assert_eq!(c.to_sdp(), expected);
        }

        #[test]
        fn from_sdp_never_panics(s in "\\PC{0,120}") {
            let _ = Candidate::from_sdp(&s);
        }

        #[test]
        fn from_sdp_never_panics_on_mutated_lines(c in arb_candidate(), cut in 0usize..200, junk in "[ -~]{0,8}") {
            let mut s = c.to_sdp();
            let at = s.char_indices().map(|(i, _)| i).nth(cut % s.len().max(1)).unwrap_or(0);
            s.insert_str(at, &junk);
            let _ = Candidate::from_sdp(&s);
        }
    }
}
