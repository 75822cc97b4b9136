//! Splitting a TCP byte stream into STUN messages and ChannelData frames (RFC 8656 §12.5,
//! RFC 8489 §6.2.2).
//!
//! Over TCP, STUN messages are delimited by their own length field and ChannelData messages
//! by theirs, padded to four bytes. The first two bits of each frame say which it is
//! (RFC 8656 §12: 0b00 STUN, 0b01 ChannelData); anything else, or a reserved channel number,
//! means the stream is out of step, and the connection should be closed: the deframer stays
//! failed from then on. (RFC 7983's narrower ranges in `demux` are for sharing a 5-tuple
//! with media; on a TURN connection every STUN method is possible.)

use thiserror::Error;

use super::channel::{CHANNEL_HEADER_LEN, ChannelData, is_valid_channel};
use crate::wire::stun::HEADER_LEN;

/// One frame cut from the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// The exact bytes of one STUN message (for `Message::decode` and integrity checks).
    Stun(Vec<u8>),
    /// A ChannelData message, padding removed.
    ChannelData(ChannelData),
}

/// Why the stream cannot be split further.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum FramingError {
    /// A frame starts with a byte whose top two bits are neither 0b00 nor 0b01.
    #[error("stream out of step: frame starts with byte {0:#04x}")]
    UnknownFirstByte(u8),
    /// A ChannelData frame with a reserved channel number (0x5000–0x7FFF).
    #[error("stream out of step: reserved channel number {0:#06x}")]
    InvalidChannel(u16),
}

/// Accumulates stream bytes and yields whole frames.
#[derive(Clone, Debug, Default)]
pub struct StreamDeframer {
    buf: Vec<u8>,
    failed: Option<FramingError>,
}

impl StreamDeframer {
    pub fn new() -> StreamDeframer {
        StreamDeframer::default()
    }

    /// Appends bytes received on the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// The next whole frame, `Ok(None)` when more bytes are needed, or the error that put
    /// the stream out of step (again on every later call).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FramingError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let (Some(&first), Some(h)) = (self.buf.first(), self.buf.get(..4)) else {
            return Ok(None);
        };
        let len = u16::from_be_bytes([h[2], h[3]]) as usize;
        let channel = u16::from_be_bytes([h[0], h[1]]);
        let frame_len = match first >> 6 {
            0b00 => HEADER_LEN + len,
            // RFC 8656 §12.5: over TCP, ChannelData is padded to a multiple of four.
            0b01 if is_valid_channel(channel) => CHANNEL_HEADER_LEN + len.div_ceil(4) * 4,
            0b01 => return Err(self.fail(FramingError::InvalidChannel(channel))),
            _ => return Err(self.fail(FramingError::UnknownFirstByte(first))),
        };
        if self.buf.len() < frame_len {
            return Ok(None);
        }
        let bytes: Vec<u8> = self.buf.drain(..frame_len).collect();
        Ok(Some(if first >> 6 == 0 {
            Frame::Stun(bytes)
        } else {
            let data = bytes.get(CHANNEL_HEADER_LEN..CHANNEL_HEADER_LEN + len).unwrap_or_default().to_vec();
            Frame::ChannelData(ChannelData { channel, data })
        }))
    }

    fn fail(&mut self, e: FramingError) -> FramingError {
        self.failed = Some(e);
        self.buf.clear();
        e
    }

    /// Bytes received but not yet part of a whole frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::stun::{Message, Method, TransactionId};

    #[test]
    fn splits_mixed_frames_fed_a_byte_at_a_time() {
        let stun = Message::request(Method::BINDING, TransactionId([5; 12])).encode().unwrap();
        let cd = ChannelData { channel: 0x4abc, data: vec![9; 7] };
        let mut stream = stun.clone();
        stream.extend(cd.encode(true).unwrap());
        stream.extend(stun.clone());
        let mut d = StreamDeframer::new();
        let mut frames = Vec::new();
        for b in &stream {
            d.push(std::slice::from_ref(b));
            while let Some(f) = d.next_frame().unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(frames, vec![Frame::Stun(stun.clone()), Frame::ChannelData(cd), Frame::Stun(stun)]);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn any_stun_method_frames_and_reserved_channels_fail() {
        let stun = Message::request(Method::new(0xFFF).unwrap(), TransactionId([5; 12])).encode().unwrap();
        let mut d = StreamDeframer::new();
        d.push(&stun);
        assert_eq!(d.next_frame(), Ok(Some(Frame::Stun(stun))));
        d.push(&[0x50, 0x00, 0x00, 0x00]);
        assert_eq!(d.next_frame(), Err(FramingError::InvalidChannel(0x5000)));
    }

    #[test]
    fn garbage_puts_the_stream_out_of_step_for_good() {
        let mut d = StreamDeframer::new();
        d.push(&[0xff, 0, 0, 0]);
        assert_eq!(d.next_frame(), Err(FramingError::UnknownFirstByte(0xff)));
        d.push(&Message::request(Method::BINDING, TransactionId([5; 12])).encode().unwrap());
        assert_eq!(d.next_frame(), Err(FramingError::UnknownFirstByte(0xff)));
    }
}
