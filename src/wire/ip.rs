//! IPv4 datagrams carrying UDP or TCP, and their exact on-the-wire bytes.
//!
//! A `Datagram` keeps header fields as typed values and the payload as real bytes; sizes
//! used for serialization delay, queues and MTU checks are the true IPv4 total length.
//! `to_bytes` emits the header with correct checksums (RFC 791, RFC 768, RFC 9293) so
//! captures open in Wireshark; `parse` is total: any bytes give a datagram or an error.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use serde::Serialize;
use thiserror::Error;

/// IPv4 header length without options (RFC 791 §3.1: IHL = 5 words).
pub const IPV4_HEADER_LEN: usize = 20;
/// RFC 768.
pub const UDP_HEADER_LEN: usize = 8;
/// RFC 9293 §3.1, without options.
pub const TCP_HEADER_LEN: usize = 20;

/// Transport protocol, as the CLI and traces name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Udp,
    Tcp,
}

impl Protocol {
    /// IANA protocol number carried in the IPv4 header.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Udp => 17,
            Protocol::Tcp => 6,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
        })
    }
}

/// TCP control bits (RFC 9293 §3.1), as a byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);

    pub fn has(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

/// The TCP header fields the simulator uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct TcpHeader {
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
}

/// The transport header of a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Udp,
    Tcp(TcpHeader),
}

/// An IPv4 datagram with its transport header and payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub ttl: u8,
    /// The Don't Fragment bit (RFC 791 §3.1).
    pub dont_fragment: bool,
    /// The IPv4 Identification field.
    pub ident: u16,
    pub transport: Transport,
    pub payload: Vec<u8>,
}

/// Why a byte string is not a datagram we understand.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ParseError {
    /// Fewer bytes than the headers need, or than the length fields claim.
    #[error("truncated: need {needed} bytes, have {have}")]
    Truncated { needed: usize, have: usize },
    /// Not IPv4 (version field).
    #[error("IP version {0} is not 4")]
    NotIpv4(u8),
    /// Header length below 20 bytes.
    #[error("bad IPv4 header length {0}")]
    BadHeaderLength(usize),
    /// A protocol other than UDP and TCP.
    #[error("unsupported protocol {0}")]
    UnsupportedProtocol(u8),
    /// The packet is a fragment; reassembly is not modelled.
    #[error("fragments are not supported")]
    Fragment,
    /// A checksum does not match the bytes.
    #[error("{0} checksum mismatch")]
    BadChecksum(&'static str),
}

impl Datagram {
    /// Default TTL of a freshly sent datagram (the value Linux and Windows use).
    pub const DEFAULT_TTL: u8 = 64;

    /// A UDP datagram with the default TTL and DF set, as media stacks send them.
    pub fn udp(src: SocketAddrV4, dst: SocketAddrV4, payload: Vec<u8>) -> Datagram {
        Datagram { src, dst, ttl: Self::DEFAULT_TTL, dont_fragment: true, ident: 0, transport: Transport::Udp, payload }
    }

    /// A TCP segment with the default TTL and DF set.
    pub fn tcp(src: SocketAddrV4, dst: SocketAddrV4, header: TcpHeader, payload: Vec<u8>) -> Datagram {
        Datagram {
            src,
            dst,
            ttl: Self::DEFAULT_TTL,
            dont_fragment: true,
            ident: 0,
            transport: Transport::Tcp(header),
            payload,
        }
    }

    pub fn protocol(&self) -> Protocol {
        match self.transport {
            Transport::Udp => Protocol::Udp,
            Transport::Tcp(_) => Protocol::Tcp,
        }
    }

    /// The IPv4 total length: headers plus payload, the size a link carries.
    pub fn wire_len(&self) -> usize {
        IPV4_HEADER_LEN
            + match self.transport {
                Transport::Udp => UDP_HEADER_LEN,
                Transport::Tcp(_) => TCP_HEADER_LEN,
            }
            + self.payload.len()
    }

    /// The datagram's exact bytes, checksums included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let total = self.wire_len();
        let mut b = Vec::with_capacity(total);
        b.push(0x45); // version 4, IHL 5
        b.push(0); // DSCP/ECN
        b.extend_from_slice(&(total.min(u16::MAX as usize) as u16).to_be_bytes());
        b.extend_from_slice(&self.ident.to_be_bytes());
        b.extend_from_slice(&(if self.dont_fragment { 0x4000u16 } else { 0 }).to_be_bytes());
        b.push(self.ttl);
        b.push(self.protocol().number());
        b.extend_from_slice(&[0, 0]); // header checksum, filled below
        b.extend_from_slice(&self.src.ip().octets());
        b.extend_from_slice(&self.dst.ip().octets());
        let c = checksum(&[&b[..IPV4_HEADER_LEN]], 0);
        b[10..12].copy_from_slice(&c.to_be_bytes());

        let seg_start = b.len();
        b.extend_from_slice(&self.src.port().to_be_bytes());
        b.extend_from_slice(&self.dst.port().to_be_bytes());
        let ck_at = match self.transport {
            Transport::Udp => {
                let len = (UDP_HEADER_LEN + self.payload.len()).min(u16::MAX as usize) as u16;
                b.extend_from_slice(&len.to_be_bytes());
                b.extend_from_slice(&[0, 0]);
                seg_start + 6
            }
            Transport::Tcp(h) => {
                b.extend_from_slice(&h.seq.to_be_bytes());
                b.extend_from_slice(&h.ack.to_be_bytes());
                b.push((TCP_HEADER_LEN as u8 / 4) << 4);
                b.push(h.flags.0);
                b.extend_from_slice(&h.window.to_be_bytes());
                b.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
                seg_start + 16
            }
        };
        b.extend_from_slice(&self.payload);
        let c = checksum(&[&b[seg_start..]], self.pseudo_header_sum(b.len() - seg_start));
        // RFC 768: a computed UDP checksum of zero is sent as all ones.
        let c = if c == 0 && self.protocol() == Protocol::Udp { 0xffff } else { c };
        b[ck_at..ck_at + 2].copy_from_slice(&c.to_be_bytes());
        b
    }

    /// Parses bytes produced by `to_bytes` or any other IPv4 stack, verifying checksums.
    pub fn parse(b: &[u8]) -> Result<Datagram, ParseError> {
        need(b, IPV4_HEADER_LEN)?;
        let version = b[0] >> 4;
        if version != 4 {
            return Err(ParseError::NotIpv4(version));
        }
        let ihl = (b[0] & 0x0f) as usize * 4;
        if ihl < IPV4_HEADER_LEN {
            return Err(ParseError::BadHeaderLength(ihl));
        }
        need(b, ihl)?;
        let total = u16::from_be_bytes([b[2], b[3]]) as usize;
        if total < ihl {
            return Err(ParseError::BadHeaderLength(total));
        }
        need(b, total)?;
        if checksum(&[&b[..ihl]], 0) != 0 {
            return Err(ParseError::BadChecksum("IPv4 header"));
        }
        let ident = u16::from_be_bytes([b[4], b[5]]);
        let frag = u16::from_be_bytes([b[6], b[7]]);
        if frag & 0x2000 != 0 || frag & 0x1fff != 0 {
            return Err(ParseError::Fragment);
        }
        let ttl = b[8];
        let proto = b[9];
        let src_ip = Ipv4Addr::new(b[12], b[13], b[14], b[15]);
        let dst_ip = Ipv4Addr::new(b[16], b[17], b[18], b[19]);
        let seg = &b[ihl..total];
        let (transport, hdr_len) = match proto {
            17 => {
                need(seg, UDP_HEADER_LEN)?;
                (Transport::Udp, UDP_HEADER_LEN)
            }
            6 => {
                need(seg, TCP_HEADER_LEN)?;
                let off = (seg[12] >> 4) as usize * 4;
                if off < TCP_HEADER_LEN {
                    return Err(ParseError::BadHeaderLength(off));
                }
                need(seg, off)?;
                let h = TcpHeader {
                    seq: u32::from_be_bytes([seg[4], seg[5], seg[6], seg[7]]),
                    ack: u32::from_be_bytes([seg[8], seg[9], seg[10], seg[11]]),
                    flags: TcpFlags(seg[13]),
                    window: u16::from_be_bytes([seg[14], seg[15]]),
                };
                (Transport::Tcp(h), off)
            }
            p => return Err(ParseError::UnsupportedProtocol(p)),
        };
        let src = SocketAddrV4::new(src_ip, u16::from_be_bytes([seg[0], seg[1]]));
        let dst = SocketAddrV4::new(dst_ip, u16::from_be_bytes([seg[2], seg[3]]));
        let d = Datagram {
            src,
            dst,
            ttl,
            dont_fragment: frag & 0x4000 != 0,
            ident,
            transport,
            payload: seg[hdr_len..].to_vec(),
        };
        let stored = u16::from_be_bytes(match transport {
            Transport::Udp => [seg[6], seg[7]],
            Transport::Tcp(_) => [seg[16], seg[17]],
        });
        // RFC 768: a zero UDP checksum means "not computed".
        if !(transport == Transport::Udp && stored == 0) && checksum(&[seg], d.pseudo_header_sum(seg.len())) != 0 {
            return Err(ParseError::BadChecksum(if transport == Transport::Udp { "UDP" } else { "TCP" }));
        }
        Ok(d)
    }

    /// The one's-complement sum of the pseudo-header (RFC 768, RFC 9293 §3.1).
    fn pseudo_header_sum(&self, seg_len: usize) -> u32 {
        let s = self.src.ip().octets();
        let d = self.dst.ip().octets();
        let words = [
            u16::from_be_bytes([s[0], s[1]]),
            u16::from_be_bytes([s[2], s[3]]),
            u16::from_be_bytes([d[0], d[1]]),
            u16::from_be_bytes([d[2], d[3]]),
            self.protocol().number() as u16,
            seg_len as u16,
        ];
        words.iter().map(|&w| w as u32).sum()
    }
}

fn need(b: &[u8], n: usize) -> Result<(), ParseError> {
    if b.len() < n { Err(ParseError::Truncated { needed: n, have: b.len() }) } else { Ok(()) }
}

/// The Internet checksum (RFC 1071) over `parts`, starting from a partial sum.
fn checksum(parts: &[&[u8]], initial: u32) -> u16 {
    let mut sum: u64 = initial as u64;
    for part in parts {
        let mut chunks = part.chunks_exact(2);
        for c in &mut chunks {
            sum += u16::from_be_bytes([c[0], c[1]]) as u64;
        }
        if let [last] = chunks.remainder() {
            sum += (*last as u64) << 8;
        }
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sa(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn rfc1071_example_checksum() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2, whose complement is 220d.
        assert_eq!(checksum(&[&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]], 0), 0x220d);
    }

    #[test]
    fn known_ipv4_header_checksum() {
        // A widely used worked example: header 4500 0073 0000 4000 4011 ____ c0a8 0001 c0a8 00c7
        // has checksum b861.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
            0x00, 0xc7,
        ];
        assert_eq!(checksum(&[&h], 0), 0xb861);
    }

    #[test]
    fn udp_round_trip_and_length() {
        let d = Datagram::udp(sa("10.0.0.1:5000"), sa("192.0.2.7:3478"), b"hello".to_vec());
        let bytes = d.to_bytes();
        assert_eq!(bytes.len(), 20 + 8 + 5);
        assert_eq!(d.wire_len(), bytes.len());
        assert_eq!(Datagram::parse(&bytes).unwrap(), d);
    }

    #[test]
    fn corrupted_bytes_are_rejected_not_panicking() {
        let d = Datagram::udp(sa("10.0.0.1:5000"), sa("192.0.2.7:3478"), b"hello".to_vec());
        let mut bytes = d.to_bytes();
        bytes[30] ^= 0xff;
        assert_eq!(Datagram::parse(&bytes), Err(ParseError::BadChecksum("UDP")));
        assert!(matches!(Datagram::parse(&bytes[..10]), Err(ParseError::Truncated { .. })));
    }

    fn arb_datagram() -> impl Strategy<Value = Datagram> {
        (
            any::<[u8; 4]>(),
            any::<u16>(),
            any::<[u8; 4]>(),
            any::<u16>(),
            1u8..=255,
            any::<bool>(),
            any::<u16>(),
            proptest::option::of((any::<u32>(), any::<u32>(), any::<u8>(), any::<u16>())),
            proptest::collection::vec(any::<u8>(), 0..200),
        )
            .prop_map(|(s, sp, d, dp, ttl, df, ident, tcp, payload)| Datagram {
                src: SocketAddrV4::new(s.into(), sp),
                dst: SocketAddrV4::new(d.into(), dp),
                ttl,
                dont_fragment: df,
                ident,
                transport: match tcp {
                    None => Transport::Udp,
                    Some((seq, ack, flags, window)) => {
                        Transport::Tcp(TcpHeader { seq, ack, flags: TcpFlags(flags), window })
                    }
                },
                payload,
            })
    }

    proptest! {
        #[test]
        fn parse_inverts_to_bytes(d in arb_datagram()) {
            prop_assert_eq!(Datagram::parse(&d.to_bytes()).unwrap(), d);
        }

        #[test]
        fn parse_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = Datagram::parse(&bytes);
        }
    }
}
