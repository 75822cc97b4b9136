//! Telling STUN, ChannelData, DTLS and RTP apart on one 5-tuple by the first byte (RFC 7983 §7).

/// What the first byte of a packet says it is (RFC 7983 §7, as updated by RFC 9443).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Demux {
    /// 0–3: STUN.
    Stun,
    /// 16–19: ZRTP.
    Zrtp,
    /// 20–63: DTLS.
    Dtls,
    /// 64–79: TURN ChannelData.
    ChannelData,
    /// 128–191: RTP or RTCP.
    Rtp,
    /// Anything else: dropped.
    Unknown,
}

/// Classifies a packet by its first byte (RFC 7983 §7).
pub fn demux(first_byte: u8) -> Demux {
    match first_byte {
        0..=3 => Demux::Stun,
        16..=19 => Demux::Zrtp,
        20..=63 => Demux::Dtls,
        64..=79 => Demux::ChannelData,
        128..=191 => Demux::Rtp,
        _ => Demux::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc7983() {
        assert_eq!(demux(0), Demux::Stun);
        assert_eq!(demux(3), Demux::Stun);
        assert_eq!(demux(4), Demux::Unknown);
        assert_eq!(demux(22), Demux::Dtls);
        assert_eq!(demux(0x40), Demux::ChannelData);
        assert_eq!(demux(79), Demux::ChannelData);
        assert_eq!(demux(80), Demux::Unknown);
        assert_eq!(demux(0x80), Demux::Rtp);
        assert_eq!(demux(191), Demux::Rtp);
        assert_eq!(demux(192), Demux::Unknown);
    }
}
