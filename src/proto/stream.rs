//! One TCP connection seen as a byte stream in each direction.
//!
//! The simulator's TCP is a carrier for STUN/TURN framing (RFC 8656 §12.5, RFC 8489
//! §6.2.2), not a TCP implementation: there is no handshake, no retransmission and no flow
//! control. Segments are assumed to arrive in order (the links do not reorder unless told
//! to); sequence and acknowledgement numbers count the bytes sent and received, so captures
//! look plausible. Each data segment is one PSH|ACK carrying whole frames.

use std::net::SocketAddrV4;

use crate::wire::turn::{Frame, FramingError, StreamDeframer};
use crate::wire::{Datagram, TcpFlags, TcpHeader, Transport};

/// The receive and send state of one connection, from one end.
#[derive(Clone, Debug)]
pub struct TcpStream {
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
    deframer: StreamDeframer,
    snd_nxt: u32,
    rcv_nxt: u32,
}

impl TcpStream {
    pub fn new(local: SocketAddrV4, remote: SocketAddrV4) -> TcpStream {
        TcpStream { local, remote, deframer: StreamDeframer::new(), snd_nxt: 1, rcv_nxt: 1 }
    }

    /// A segment carrying `bytes` from `local` to `remote`.
    pub fn segment(&mut self, bytes: Vec<u8>) -> Datagram {
        let h = TcpHeader {
            seq: self.snd_nxt,
            ack: self.rcv_nxt,
            flags: TcpFlags(TcpFlags::PSH.0 | TcpFlags::ACK.0),
            window: u16::MAX,
        };
        self.snd_nxt = self.snd_nxt.wrapping_add(bytes.len() as u32);
        Datagram::tcp(self.local, self.remote, h, bytes)
    }

    /// Takes a received segment's payload and returns the whole frames it completed. An
    /// error means the stream is out of step and the connection should be dropped.
    pub fn receive(&mut self, packet: &Datagram) -> Result<Vec<Frame>, FramingError> {
        if let Transport::Tcp(_) = packet.transport {
            self.rcv_nxt = self.rcv_nxt.wrapping_add(packet.payload.len() as u32);
        }
        self.deframer.push(&packet.payload);
        let mut frames = Vec::new();
        while let Some(f) = self.deframer.next_frame()? {
            frames.push(f);
        }
        Ok(frames)
    }

    /// Whether a segment ends the connection (FIN or RST).
    pub fn is_close(packet: &Datagram) -> bool {
        matches!(packet.transport, Transport::Tcp(h) if h.flags.has(TcpFlags::FIN) || h.flags.has(TcpFlags::RST))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::turn::ChannelData;

    #[test]
    fn frames_split_across_segments_are_reassembled() {
        let a: SocketAddrV4 = "10.0.0.1:5000".parse().unwrap();
        let b: SocketAddrV4 = "10.0.0.2:443".parse().unwrap();
        let mut tx = TcpStream::new(a, b);
        let mut rx = TcpStream::new(b, a);
        let cd = ChannelData { channel: 0x4000, data: vec![1; 10] }.encode(true).unwrap();
        let s1 = tx.segment(cd[..5].to_vec());
        let s2 = tx.segment(cd[5..].to_vec());
        assert!(rx.receive(&s1).unwrap().is_empty());
        assert_eq!(
            rx.receive(&s2).unwrap(),
            vec![Frame::ChannelData(ChannelData { channel: 0x4000, data: vec![1; 10] })]
        );
        let Transport::Tcp(h) = s2.transport else { panic!("a TCP segment") };
        assert_eq!(h.seq, 6);
    }
}
