//! ChannelData messages (RFC 8656 §12.4): a 4-byte header (channel number, length) and the
//! application data, padded to four bytes over TCP.

use thiserror::Error;

/// The first valid channel number (RFC 8656 §12).
pub const CHANNEL_MIN: u16 = 0x4000;
/// The last valid channel number (RFC 8656 §12); 0x5000–0xFFFF are reserved.
pub const CHANNEL_MAX: u16 = 0x4FFF;
/// Length of the ChannelData header.
pub const CHANNEL_HEADER_LEN: usize = 4;

/// Whether `n` is a channel number a client may bind (RFC 8656 §12).
pub fn is_valid_channel(n: u16) -> bool {
    (CHANNEL_MIN..=CHANNEL_MAX).contains(&n)
}

/// A ChannelData message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelData {
    pub channel: u16,
    pub data: Vec<u8>,
}

/// Why bytes are not a ChannelData message.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ChannelDataError {
    /// Fewer bytes than the header or its length field claims (RFC 8656 §12.5: discarded).
    #[error("truncated: need {needed} bytes, have {have}")]
    Truncated { needed: usize, have: usize },
    /// A channel number outside 0x4000–0x4FFF.
    #[error("channel number {0:#06x} is outside 0x4000-0x4fff")]
    InvalidChannel(u16),
    /// The data does not fit a 16-bit length.
    #[error("{0} bytes of data do not fit a 16-bit length")]
    TooLong(usize),
}

impl ChannelData {
    /// The message's bytes. `pad` adds zero padding to a multiple of four, which RFC 8656
    /// §12.5 requires over TCP and allows over UDP.
    pub fn encode(&self, pad: bool) -> Result<Vec<u8>, ChannelDataError> {
        if !is_valid_channel(self.channel) {
            return Err(ChannelDataError::InvalidChannel(self.channel));
        }
        let len = u16::try_from(self.data.len()).map_err(|_| ChannelDataError::TooLong(self.data.len()))?;
        let mut b = Vec::with_capacity(CHANNEL_HEADER_LEN + self.data.len() + 3);
        b.extend_from_slice(&self.channel.to_be_bytes());
        b.extend_from_slice(&len.to_be_bytes());
        b.extend_from_slice(&self.data);
        if pad {
            b.resize(CHANNEL_HEADER_LEN + self.data.len().div_ceil(4) * 4, 0);
        }
        Ok(b)
    }

    /// `encode`'s bytes, built in the data's own buffer: the 4-byte header is written after
    /// the data and rotated to the front, so a relay sending data on allocates nothing (when
    /// the buffer has the room) and copies it only within itself.
    pub fn into_bytes(self, pad: bool) -> Result<Vec<u8>, ChannelDataError> {
        if !is_valid_channel(self.channel) {
            return Err(ChannelDataError::InvalidChannel(self.channel));
        }
        let len = self.data.len();
        let len16 = u16::try_from(len).map_err(|_| ChannelDataError::TooLong(len))?;
        let total = CHANNEL_HEADER_LEN + if pad { len.div_ceil(4) * 4 } else { len };
        let mut b = self.data;
        b.reserve_exact(total - len);
        b.extend_from_slice(&self.channel.to_be_bytes());
        b.extend_from_slice(&len16.to_be_bytes());
        b.rotate_right(CHANNEL_HEADER_LEN);
        b.resize(total, 0);
        Ok(b)
    }

    /// Decodes a ChannelData message from the start of `bytes`; bytes after the claimed
    /// length (padding) are ignored. Total: never panics.
    pub fn decode(bytes: &[u8]) -> Result<ChannelData, ChannelDataError> {
        ChannelData::decode_ref(bytes).map(|(channel, data)| ChannelData { channel, data: data.to_vec() })
    }

    /// `decode`, with the data borrowed from `bytes`: the channel number and the data.
    pub fn decode_ref(bytes: &[u8]) -> Result<(u16, &[u8]), ChannelDataError> {
        let Some(h) = bytes.get(..CHANNEL_HEADER_LEN) else {
            return Err(ChannelDataError::Truncated { needed: CHANNEL_HEADER_LEN, have: bytes.len() });
        };
        let channel = u16::from_be_bytes([h[0], h[1]]);
        if !is_valid_channel(channel) {
            return Err(ChannelDataError::InvalidChannel(channel));
        }
        let len = u16::from_be_bytes([h[2], h[3]]) as usize;
        // RFC 8656 §12.5: a datagram too short for the claimed length is silently discarded.
        let Some(data) = bytes.get(CHANNEL_HEADER_LEN..CHANNEL_HEADER_LEN + len) else {
            return Err(ChannelDataError::Truncated { needed: CHANNEL_HEADER_LEN + len, have: bytes.len() });
        };
        Ok((channel, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn into_bytes_writes_what_encode_writes() {
        let cd = |data: &[u8]| ChannelData { channel: 0x4abc, data: data.to_vec() };
        for len in (0..=9).chain([172, 1212]) {
            let data: Vec<u8> = (0..len).map(|i| i as u8 | 0x80).collect();
            for pad in [false, true] {
                let expected = cd(&data).encode(pad);
                assert_eq!(cd(&data).into_bytes(pad), expected, "{len} bytes, pad {pad}");
                let mut roomy = Vec::with_capacity(len + 8);
                roomy.extend_from_slice(&data);
                assert_eq!(ChannelData { channel: 0x4abc, data: roomy }.into_bytes(pad), expected);
            }
        }
        let bad = ChannelData { channel: 0x3fff, data: vec![1] };
        assert_eq!(bad.into_bytes(false), Err(ChannelDataError::InvalidChannel(0x3fff)));
        let long = ChannelData { channel: 0x4000, data: vec![0; 70_000] };
        assert_eq!(long.into_bytes(true), Err(ChannelDataError::TooLong(70_000)));
    }

    #[test]
    fn encode_pads_only_when_asked() {
        let cd = ChannelData { channel: 0x4001, data: vec![1, 2, 3, 4, 5] };
        assert_eq!(cd.encode(false).unwrap(), [0x40, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]);
        assert_eq!(cd.encode(true).unwrap(), [0x40, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0]);
        assert_eq!(ChannelData::decode(&cd.encode(true).unwrap()).unwrap(), cd);
        assert_eq!(ChannelData::decode(&cd.encode(false).unwrap()).unwrap(), cd);
    }

    #[test]
    fn bad_channel_and_short_data_are_errors() {
        assert_eq!(ChannelData::decode(&[0x50, 0, 0, 0]), Err(ChannelDataError::InvalidChannel(0x5000)));
        assert_eq!(ChannelData::decode(&[0x40, 0, 0, 4, 1]), Err(ChannelDataError::Truncated { needed: 8, have: 5 }));
        assert!(ChannelData { channel: 0x3fff, data: vec![] }.encode(false).is_err());
        assert!(ChannelData::decode(&[0x40]).is_err());
    }
}
