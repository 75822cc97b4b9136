//! RTP (RFC 3550 §5.1): the fixed header, its codec, the codecs a call can carry, and a
//! sans-IO generator of a media stream's packets.
//!
//! This module owns the bytes of an RTP packet and the timing of a sender: which packet
//! leaves when, with which sequence number and timestamp. It leaves RTCP, SRTP, the jitter
//! buffer and every quality figure to others (`report::quality` turns arrivals into delay,
//! jitter, loss and a MOS estimate). It never sees the engine or a clock: a `MediaSource`
//! is handed its start time and computes every later instant from it.
//!
//! Deviations from RFC 3550, in one place:
//! - §5.1 says the initial sequence number and timestamp SHOULD be random. `wire` has no
//!   randomness, so `MediaSource::new` starts both at zero and the caller draws them from its
//!   own seeded stream with `MediaSource::with_initial`.
//! - §5.1/§5.3: a received header extension is skipped, not kept; `encode` never writes one,
//!   and never pads.
//! - §A.1 source validation (probation) is a receiver's job and lives in `report::quality`.

use thiserror::Error;

use crate::time::{SimDuration, SimTime};

/// The RTP version this codec speaks (RFC 3550 §5.1: "This document defines version 2").
pub const RTP_VERSION: u8 = 2;
/// Length of the fixed header, without CSRCs (RFC 3550 §5.1).
pub const RTP_HEADER_LEN: usize = 12;
/// Most CSRCs a header can list: the CC field has four bits (RFC 3550 §5.1).
pub const MAX_CSRC: usize = 15;

/// An RTP packet as we send and receive it: the fixed header, the CSRC list and the payload.
/// Padding and header extensions are consumed by `decode` and never produced by `encode`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpPacket {
    /// M bit; its meaning is the profile's (RFC 3551 §4.1: first packet of a talkspurt for
    /// audio; last packet of a frame for video, e.g. RFC 6184 §5.1).
    pub marker: bool,
    /// PT, seven bits (RFC 3550 §5.1).
    pub payload_type: u8,
    pub sequence: u16,
    /// Sampling instant of the first octet of the payload, in clock-rate ticks (RFC 3550 §5.1).
    pub timestamp: u32,
    pub ssrc: u32,
    /// Contributing sources, at most 15.
    pub csrc: Vec<u32>,
    pub payload: Vec<u8>,
}

/// Why bytes are not an RTP packet, or a packet cannot be encoded. Decoding is total: every
/// input gives a packet or one of these.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RtpError {
    /// Fewer bytes than the header, CSRC list, extension or padding need.
    #[error("truncated: need {needed} bytes, have {have}")]
    Truncated { needed: usize, have: usize },
    /// The version field is not 2 (RFC 3550 §5.1).
    #[error("RTP version {0}, expected 2")]
    Version(u8),
    /// The padding count is zero or larger than what follows the header (RFC 3550 §5.1:
    /// the last octet counts the padding octets, itself included).
    #[error("padding count {count} does not fit the {available} bytes after the header")]
    BadPadding { count: u8, available: usize },
    /// More than 15 CSRCs to encode (RFC 3550 §5.1: CC has four bits).
    #[error("{0} CSRCs do not fit the 4-bit CC field")]
    TooManyCsrcs(usize),
    /// A payload type above 127 to encode (RFC 3550 §5.1: PT has seven bits).
    #[error("payload type {0} does not fit seven bits")]
    PayloadType(u8),
}

impl RtpPacket {
    /// The packet's bytes, or why it has none.
    pub fn try_encode(&self) -> Result<Vec<u8>, RtpError> {
        let mut b = Vec::with_capacity(self.wire_len());
        self.try_encode_into(&mut b)?;
        Ok(b)
    }

    /// Appends the packet's bytes (as `try_encode` gives them) to `b`, a buffer the caller
    /// may reuse or size itself; on error nothing is appended.
    pub fn try_encode_into(&self, b: &mut Vec<u8>) -> Result<(), RtpError> {
        if self.csrc.len() > MAX_CSRC {
            return Err(RtpError::TooManyCsrcs(self.csrc.len()));
        }
        if self.payload_type > 0x7f {
            return Err(RtpError::PayloadType(self.payload_type));
        }
        b.reserve(self.wire_len());
        // RFC 3550 §5.1: V=2, P=0, X=0, CC in the low four bits.
        b.push(RTP_VERSION << 6 | self.csrc.len() as u8);
        b.push(u8::from(self.marker) << 7 | self.payload_type);
        b.extend_from_slice(&self.sequence.to_be_bytes());
        b.extend_from_slice(&self.timestamp.to_be_bytes());
        b.extend_from_slice(&self.ssrc.to_be_bytes());
        for c in &self.csrc {
            b.extend_from_slice(&c.to_be_bytes());
        }
        b.extend_from_slice(&self.payload);
        Ok(())
    }

    /// The packet's bytes. Panics when the packet breaks the invariants of `RtpPacket`
    /// (more than 15 CSRCs, PT above 127): those are built by our own code, never read off
    /// the network.
    pub fn encode(&self) -> Vec<u8> {
        match self.try_encode() {
            Ok(b) => b,
            Err(e) => panic!("invariant: an RtpPacket we build is encodable: {e}"),
        }
    }

    /// Bytes `encode` produces: header, CSRCs and payload.
    pub fn wire_len(&self) -> usize {
        RTP_HEADER_LEN + 4 * self.csrc.len() + self.payload.len()
    }

    /// The sequence number, timestamp and SSRC of the RTP packet `bytes`, accepted or
    /// refused exactly as `decode` would, without copying the payload (a receiver of many
    /// streams reads these per packet).
    pub fn decode_ids(bytes: &[u8]) -> Result<(u16, u32, u32), RtpError> {
        let truncated = |needed: usize| RtpError::Truncated { needed, have: bytes.len() };
        let Some(h) = bytes.get(..RTP_HEADER_LEN) else {
            return Err(truncated(RTP_HEADER_LEN));
        };
        let version = h[0] >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::Version(version));
        }
        let mut at = RTP_HEADER_LEN + 4 * (h[0] & 0x0f) as usize;
        if at > bytes.len() {
            return Err(truncated(at));
        }
        if h[0] & 0x10 != 0 {
            let Some(x) = bytes.get(at..at + 4) else {
                return Err(truncated(at + 4));
            };
            at += 4 + 4 * u16::from_be_bytes([x[2], x[3]]) as usize;
            if at > bytes.len() {
                return Err(truncated(at));
            }
        }
        if h[0] & 0x20 != 0 {
            let count = bytes[bytes.len() - 1];
            let available = bytes.len() - at;
            if count == 0 || count as usize > available {
                return Err(RtpError::BadPadding { count, available });
            }
        }
        Ok((
            u16::from_be_bytes([h[2], h[3]]),
            u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
            u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
        ))
    }

    /// Decodes one RTP packet (a whole UDP payload). Total: never panics.
    pub fn decode(bytes: &[u8]) -> Result<RtpPacket, RtpError> {
        let truncated = |needed: usize| RtpError::Truncated { needed, have: bytes.len() };
        let Some(h) = bytes.get(..RTP_HEADER_LEN) else {
            return Err(truncated(RTP_HEADER_LEN));
        };
        let version = h[0] >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::Version(version)); // RFC 3550 §5.1
        }
        let has_padding = h[0] & 0x20 != 0;
        let has_extension = h[0] & 0x10 != 0;
        let cc = (h[0] & 0x0f) as usize;
        let marker = h[1] & 0x80 != 0;
        let payload_type = h[1] & 0x7f;
        let sequence = u16::from_be_bytes([h[2], h[3]]);
        let timestamp = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        let ssrc = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);

        let mut at = RTP_HEADER_LEN;
        let csrc_end = at + 4 * cc;
        let Some(list) = bytes.get(at..csrc_end) else {
            return Err(truncated(csrc_end));
        };
        let csrc = list.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect();
        at = csrc_end;

        if has_extension {
            // RFC 3550 §5.3.1: 16 bits defined by profile, 16 bits of length in 32-bit words
            // not counting this 4-byte header; we skip the whole extension.
            let Some(x) = bytes.get(at..at + 4) else {
                return Err(truncated(at + 4));
            };
            let words = u16::from_be_bytes([x[2], x[3]]) as usize;
            at += 4 + 4 * words;
            if at > bytes.len() {
                return Err(truncated(at));
            }
        }

        let mut end = bytes.len();
        if has_padding {
            // RFC 3550 §5.1: the last octet is the padding count, itself included.
            let count = bytes[end - 1];
            let available = end - at;
            if count == 0 || count as usize > available {
                return Err(RtpError::BadPadding { count, available });
            }
            end -= count as usize;
        }
        Ok(RtpPacket { marker, payload_type, sequence, timestamp, ssrc, csrc, payload: bytes[at..end].to_vec() })
    }
}

/// What a codec puts in each frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameSize {
    /// Constant-rate audio: this many payload bytes every frame, in one packet.
    Audio { bytes_per_frame: usize },
    /// Video at a constant bitrate, each frame split into packets of at most `max_packet`
    /// payload bytes; the marker is set on a frame's last packet. Every `keyframe_interval`
    /// frames (0: never) a keyframe opens a group of pictures and weighs `keyframe_weight`
    /// times a predicted frame; the group as a whole still carries exactly its share of the
    /// bitrate, so keyframes make bursts, not extra bandwidth.
    Video { bits_per_sec: u64, max_packet: usize, keyframe_interval: u32, keyframe_weight: u32 },
}

/// The E-model's view of a speech codec (ITU-T G.107 §7.4): its equipment impairment factor
/// Ie and packet-loss robustness factor Bpl, both on the narrowband R scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Impairment {
    pub ie: f64,
    pub bpl: f64,
}

/// A codec as the simulator sends it: RTP numbering, frame timing and size, algorithmic
/// delay, and (for speech) its E-model impairment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Codec {
    pub name: &'static str,
    pub payload_type: u8,
    /// RTP timestamp ticks per second.
    pub clock_rate: u32,
    /// One frame's duration (ptime for audio, 1/frame-rate for video).
    pub frame: SimDuration,
    /// Encoder look-ahead beyond the frame itself, which adds to mouth-to-ear delay.
    pub lookahead: SimDuration,
    pub size: FrameSize,
    /// `None` for video: the E-model rates speech only.
    pub impairment: Option<Impairment>,
}

impl Codec {
    /// G.711 µ-law (RFC 3551 §4.5.14 and Table 4: PT 0, 8000 Hz; one octet per sample, so
    /// 160 bytes per 20 ms frame) with packet loss concealment.
    ///
    /// Ie = 0: ITU-T G.113 (11/2007) Appendix I, Table I.1 (G.711 is the reference codec).
    /// Bpl = 25.1: G.113 Appendix I, Table I.3, G.711 with the PLC of G.711 Appendix I,
    /// random loss. That row was measured with 10 ms packets; we use it for 20 ms ones, as
    /// planning tools commonly do (a deviation: longer packets lose more speech per loss).
    pub const PCMU: Codec = Codec {
        name: "PCMU",
        payload_type: 0,
        clock_rate: 8000,
        frame: SimDuration::from_millis(20),
        lookahead: SimDuration::ZERO,
        size: FrameSize::Audio { bytes_per_frame: 160 },
        impairment: Some(Impairment { ie: 0.0, bpl: 25.1 }),
    };

    /// G.711 µ-law without packet loss concealment: Bpl = 4.3 from ITU-T G.113 (11/2007)
    /// Appendix I, Table I.3 (G.711, PLC none, 10 ms packets, random loss); else as `PCMU`.
    pub const PCMU_NO_PLC: Codec =
        Codec { name: "PCMU (no PLC)", impairment: Some(Impairment { ie: 0.0, bpl: 4.3 }), ..Codec::PCMU };

    /// Opus in wideband SILK mode at 40 kbit/s, 20 ms frames: 100 payload bytes per frame
    /// (40 000 bit/s × 20 ms / 8). RFC 7587 §4.1: the RTP clock rate is always 48 000 Hz;
    /// PT 111 is dynamic (RFC 3551 §6), the value WebRTC stacks customarily offer. This stands
    /// for the SILK-family codecs of Lync/Teams too (Opus's speech layer is SILK, RFC 6716 §2).
    ///
    /// Look-ahead 6.5 ms: libopus's default, 26.5 ms algorithmic delay with 20 ms frames.
    ///
    /// Ie and Bpl are GUESSES: ITU-T publishes no narrowband-scale planning values for
    /// Opus or SILK (G.113 covers G.722/G.722.2 on the wideband scale only). Ie = 0: the
    /// narrowband E-model cannot credit wideband speech, and at 40 kbit/s the codec is at
    /// least as clean as G.711 on that scale. Bpl = 25.1: we assume its concealment is no
    /// worse than G.711 Appendix I PLC (the `PCMU` row), and give no credit for in-band FEC.
    pub const OPUS: Codec = Codec {
        name: "opus",
        payload_type: 111,
        clock_rate: 48_000,
        frame: SimDuration::from_millis(20),
        lookahead: SimDuration::from_micros(6_500),
        size: FrameSize::Audio { bytes_per_frame: 100 },
        impairment: Some(Impairment { ie: 0.0, bpl: 25.1 }),
    };

    /// A generic video codec: `bits_per_sec` of payload at 30 frames per second on the
    /// 90 kHz video clock (RFC 3551 §5 and Table 5: video formats use 90 000 Hz), each frame split into
    /// packets of at most `max_packet` payload bytes. PT 96 is the first dynamic value
    /// (RFC 3551 §6). No look-ahead, no E-model impairment, no keyframes (see
    /// `with_keyframes`).
    pub const fn video(bits_per_sec: u64, max_packet: usize) -> Codec {
        Codec {
            name: "video",
            payload_type: 96,
            clock_rate: 90_000,
            // 1/30 s is not a whole number of nanoseconds; timing is computed from the
            // 3000-tick frame (see `ticks_per_frame`), so this rounding never accumulates.
            frame: SimDuration::from_nanos(33_333_333),
            lookahead: SimDuration::ZERO,
            size: FrameSize::Video { bits_per_sec, max_packet, keyframe_interval: 0, keyframe_weight: 1 },
            impairment: None,
        }
    }

    /// RTP payload bytes per packet for video and screen sharing: a 1,500-byte Ethernet MTU
    /// less IPv4/UDP (28) and RTP (12) headers leaves 1,460, but WebRTC stacks packetise at
    /// about 1,200 so that TURN (ChannelData 4, Send indication 36) and VPN encapsulation
    /// (IPsec NAT-T adds some 50–70 bytes) still fit without fragmentation.
    pub const MEDIA_PACKET: usize = 1200;

    /// Conference video as `icepath call --media video` sends it: `bits_per_sec` at 30 fps in
    /// `MEDIA_PACKET`-sized packets, a keyframe every 2 s (60 frames) weighing 8 predicted
    /// frames. The keyframe figures are assumptions in the range H.264 conferencing encoders
    /// show (I-frames several times a P-frame, a keyframe every one to a few seconds), not
    /// a measured encoder.
    pub const fn conference_video(bits_per_sec: u64) -> Codec {
        Codec::video(bits_per_sec, Codec::MEDIA_PACKET).with_keyframes(60, 8)
    }

    /// Screen sharing as an RDP-like stream (Lync carries application sharing over RDP on
    /// TCP): `bits_per_sec` of screen updates, 10 per second, in `MEDIA_PACKET`-sized RTP
    /// packets (PT 97, dynamic; 90 kHz clock as for video). No keyframes: a full repaint is
    /// rare. An assumption about the shape of the traffic, not a model of RDP itself.
    pub const fn desktop_sharing(bits_per_sec: u64) -> Codec {
        Codec {
            name: "desktop-sharing",
            payload_type: 97,
            frame: SimDuration::from_millis(100),
            ..Codec::video(bits_per_sec, Codec::MEDIA_PACKET)
        }
    }

    /// The same video codec with a keyframe every `interval` frames (0: never) weighing
    /// `weight` predicted frames (at least 1). Audio codecs are returned unchanged.
    pub const fn with_keyframes(mut self, interval: u32, weight: u32) -> Codec {
        if let FrameSize::Video { bits_per_sec, max_packet, .. } = self.size {
            let weight = if weight == 0 { 1 } else { weight };
            self.size =
                FrameSize::Video { bits_per_sec, max_packet, keyframe_interval: interval, keyframe_weight: weight };
        }
        self
    }

    /// Whether this codec carries speech (the E-model rates it).
    pub fn is_audio(&self) -> bool {
        matches!(self.size, FrameSize::Audio { .. })
    }

    /// RTP timestamp ticks per frame: clock rate × frame duration, rounded to the nearest
    /// tick (160 for PCMU, 960 for Opus at 20 ms, 3000 for 30 fps video).
    pub fn ticks_per_frame(&self) -> u32 {
        let t = (self.clock_rate as u128 * self.frame.as_nanos() as u128 + 500_000_000) / 1_000_000_000;
        t.min(u32::MAX as u128) as u32
    }

    /// When frame `k` is sent, `start` being frame 0: exact in ticks, floored to nanoseconds.
    fn frame_offset(&self, k: u64) -> SimDuration {
        let ns = k as u128 * self.ticks_per_frame() as u128 * 1_000_000_000 / self.clock_rate.max(1) as u128;
        SimDuration::from_nanos(ns.min(u64::MAX as u128) as u64)
    }

    /// Payload bytes in frame `k`. Video spreads the bitrate exactly: frames k..k+1 carry the
    /// bytes owed between the starts of frames k and k + 1, so no remainder is lost. With
    /// keyframes, a group of N frames carries what its N frames are owed, shared out by
    /// weight (the keyframe `keyframe_weight`, the others 1), again without remainder.
    fn frame_bytes(&self, k: u64) -> usize {
        match self.size {
            FrameSize::Audio { bytes_per_frame } => bytes_per_frame,
            FrameSize::Video { bits_per_sec, keyframe_interval, keyframe_weight, .. } => {
                let owed = |k: u64| {
                    k as u128 * self.ticks_per_frame() as u128 * bits_per_sec as u128
                        / (8 * self.clock_rate.max(1) as u128)
                };
                let bytes = if keyframe_interval == 0 {
                    owed(k + 1) - owed(k)
                } else {
                    let n = keyframe_interval as u64;
                    let (group, j) = (k / n, k % n);
                    let share = owed((group + 1) * n) - owed(group * n);
                    let w = keyframe_weight.max(1) as u128;
                    let total = w + n as u128 - 1;
                    // Weight of the frames before position j of the group.
                    let before = |j: u64| if j == 0 { 0 } else { w + j as u128 - 1 };
                    share * before(j + 1) / total - share * before(j) / total
                };
                bytes.min(usize::MAX as u128) as usize
            }
        }
    }
}

/// A sans-IO RTP sender: yields each packet of one stream, in order, with the instant it
/// leaves. Packets of one video frame share that frame's instant and timestamp.
#[derive(Clone, Debug)]
pub struct MediaSource {
    codec: Codec,
    ssrc: u32,
    start: SimTime,
    first_sequence: u16,
    first_timestamp: u32,
    /// Frame being packetised and how many of its payload bytes are already sent.
    frame: u64,
    frame_sent: usize,
    /// Packets yielded so far.
    sent: u64,
    /// When frame `frame` leaves, its payload bytes and the codec's ticks per frame, worked
    /// out once per frame: each takes 128-bit divisions, and a sender asks when its next
    /// packet leaves several times per packet.
    frame_at: SimTime,
    frame_len: usize,
    ticks: u32,
}

impl MediaSource {
    /// A stream of `codec` from `ssrc` whose first frame leaves at `start`, with sequence
    /// number and timestamp starting at zero.
    pub fn new(codec: Codec, ssrc: u32, start: SimTime) -> MediaSource {
        let mut s = MediaSource {
            codec,
            ssrc,
            start,
            first_sequence: 0,
            first_timestamp: 0,
            frame: 0,
            frame_sent: 0,
            sent: 0,
            frame_at: start,
            frame_len: 0,
            ticks: codec.ticks_per_frame(),
        };
        s.enter_frame(0);
        s
    }

    /// Moves to frame `k`, none of it sent yet.
    fn enter_frame(&mut self, k: u64) {
        self.frame = k;
        self.frame_sent = 0;
        self.frame_at = self.start + self.codec.frame_offset(k);
        self.frame_len = self.codec.frame_bytes(k);
    }

    /// The same stream with the given initial sequence number and timestamp, which RFC 3550
    /// §5.1 says SHOULD be random: the caller draws them from its seeded stream.
    pub fn with_initial(mut self, sequence: u16, timestamp: u32) -> MediaSource {
        self.first_sequence = sequence;
        self.first_timestamp = timestamp;
        self
    }

    pub fn codec(&self) -> &Codec {
        &self.codec
    }

    /// When the next packet leaves.
    pub fn next_time(&self) -> SimTime {
        debug_assert_eq!(self.frame_at, self.start + self.codec.frame_offset(self.frame));
        self.frame_at
    }

    /// The next packet and the instant it leaves. The stream never ends.
    pub fn next_packet(&mut self) -> (SimTime, RtpPacket) {
        let (at, mut packet, len) = self.next_header();
        packet.payload = vec![0; len];
        (at, packet)
    }

    /// The bytes of the next packet (`next_packet`'s, encoded) appended to `buf`, without
    /// building the packet and its payload: the instant it leaves and its sequence number.
    /// A sender of many streams writes each packet straight into the buffer it is sent in.
    /// Fails as `RtpPacket::try_encode` would (a codec whose PT does not fit seven bits),
    /// appending nothing; the source moves past the packet either way.
    pub fn next_packet_into(&mut self, buf: &mut Vec<u8>) -> Result<(SimTime, u16), RtpError> {
        let (at, header, len) = self.next_header();
        buf.reserve(header.wire_len() + len);
        header.try_encode_into(buf)?;
        buf.resize(buf.len() + len, 0);
        Ok((at, header.sequence))
    }

    /// How many bytes the next packet takes encoded (what `next_packet_into` appends).
    pub fn next_wire_len(&self) -> usize {
        RTP_HEADER_LEN + self.next_len().0
    }

    /// The next packet's payload length, and whether it ends its frame.
    fn next_len(&self) -> (usize, bool) {
        let frame_bytes = self.frame_len;
        debug_assert_eq!(frame_bytes, self.codec.frame_bytes(self.frame));
        match self.codec.size {
            FrameSize::Audio { .. } => (frame_bytes, true),
            FrameSize::Video { max_packet, .. } => {
                let len = (frame_bytes - self.frame_sent).min(max_packet.max(1));
                (len, self.frame_sent + len == frame_bytes)
            }
        }
    }

    /// The next packet with an empty payload, the instant it leaves and its payload length;
    /// moves the source past it.
    fn next_header(&mut self) -> (SimTime, RtpPacket, usize) {
        let at = self.next_time();
        let (len, last_of_frame) = self.next_len();
        let marker = match self.codec.size {
            // RFC 3551 §4.1: the first packet of a talkspurt; a stream without silence
            // suppression has one talkspurt, so only its first packet.
            FrameSize::Audio { .. } => self.sent == 0,
            // RFC 6184 §5.1 (and most video payload formats): the last packet of a frame.
            FrameSize::Video { .. } => last_of_frame,
        };
        // RFC 3550 §5.1: the sequence number increments by one per packet and the timestamp
        // by the sampling clock, both modulo their width.
        // Modulo 2^32 (the product's low 32 bits), as the timestamp field wraps.
        let ticks = (self.frame as u32).wrapping_mul(self.ticks);
        let packet = RtpPacket {
            marker,
            payload_type: self.codec.payload_type,
            sequence: self.first_sequence.wrapping_add(self.sent as u16),
            timestamp: self.first_timestamp.wrapping_add(ticks),
            ssrc: self.ssrc,
            csrc: Vec::new(),
            payload: Vec::new(),
        };
        self.sent += 1;
        if last_of_frame {
            self.enter_frame(self.frame + 1);
        } else {
            self.frame_sent += len;
        }
        (at, packet, len)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn encodes_a_known_header_byte_for_byte() {
        // RFC 3550 §5.1 layout, written by hand:
        //   byte 0: V=2 (10) P=0 X=0 CC=1 (0001)         -> 1000_0001 = 0x81
        //   byte 1: M=1, PT=0                            -> 1000_0000 = 0x80
        //   sequence 0x1234, timestamp 0xdeadbeef, SSRC 0x11223344, CSRC 0xaabbccdd
        let p = RtpPacket {
            marker: true,
            payload_type: 0,
            sequence: 0x1234,
            timestamp: 0xdead_beef,
            ssrc: 0x1122_3344,
            csrc: vec![0xaabb_ccdd],
            payload: vec![1, 2],
        };
        let expected = [
            0x81, 0x80, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0x11, 0x22, 0x33, 0x44, 0xaa, 0xbb, 0xcc, 0xdd, 0x01, 0x02,
        ];
        assert_eq!(p.encode(), expected);
        assert_eq!(p.wire_len(), expected.len());
        assert_eq!(RtpPacket::decode(&expected).unwrap(), p);
    }

    #[test]
    fn decode_skips_extension_and_strips_padding() {
        // byte 0: V=2 P=1 X=1 CC=0 -> 1011_0000 = 0xb0; byte 1: M=0 PT=111 = 0x6f.
        // Extension: profile 0xbede, length 1 word, then that word. Payload aa bb, then
        // three octets of padding whose last says 3.
        let bytes = [
            0xb0, 0x6f, 0x00, 0x01, 0x00, 0x00, 0x09, 0x60, 0x00, 0x00, 0xab, 0xcd, 0xbe, 0xde, 0x00, 0x01, 0x10, 0xff,
            0x00, 0x00, 0xaa, 0xbb, 0x00, 0x00, 0x03,
        ];
        let p = RtpPacket::decode(&bytes).unwrap();
        assert!(!p.marker);
        assert_eq!((p.payload_type, p.sequence, p.timestamp, p.ssrc), (111, 1, 0x960, 0xabcd));
        assert!(p.csrc.is_empty());
        assert_eq!(p.payload, [0xaa, 0xbb]);
    }

    #[test]
    fn malformed_headers_are_errors() {
        let good = RtpPacket {
            marker: false,
            payload_type: 8,
            sequence: 7,
            timestamp: 9,
            ssrc: 1,
            csrc: vec![],
            payload: vec![5; 4],
        }
        .encode();
        assert_eq!(RtpPacket::decode(&good[..11]), Err(RtpError::Truncated { needed: 12, have: 11 }));
        let mut v1 = good.clone();
        v1[0] = 0x40;
        assert_eq!(RtpPacket::decode(&v1), Err(RtpError::Version(1)));
        let mut cc = good.clone();
        cc[0] |= 0x02; // claims two CSRCs (8 bytes) but only 4 follow
        assert_eq!(RtpPacket::decode(&cc), Err(RtpError::Truncated { needed: 20, have: 16 }));
        let mut pad = good.clone();
        pad[0] |= 0x20;
        *pad.last_mut().unwrap() = 0; // a padding count of zero
        assert_eq!(RtpPacket::decode(&pad), Err(RtpError::BadPadding { count: 0, available: 4 }));
        *pad.last_mut().unwrap() = 5;
        assert_eq!(RtpPacket::decode(&pad), Err(RtpError::BadPadding { count: 5, available: 4 }));
        let mut ext = good[..12].to_vec();
        ext[0] |= 0x10;
        ext.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0]); // two words promised, one given
        assert_eq!(RtpPacket::decode(&ext), Err(RtpError::Truncated { needed: 24, have: 20 }));
        let too_many = RtpPacket { csrc: vec![0; 16], ..RtpPacket::decode(&good).unwrap() };
        assert_eq!(too_many.try_encode(), Err(RtpError::TooManyCsrcs(16)));
        let bad_pt = RtpPacket { payload_type: 128, ..RtpPacket::decode(&good).unwrap() };
        assert_eq!(bad_pt.try_encode(), Err(RtpError::PayloadType(128)));
    }

    #[test]
    fn pcmu_source_sends_50_packets_a_second_of_172_bytes() {
        let start = SimTime::from_nanos(1_000_000_000);
        let mut src = MediaSource::new(Codec::PCMU, 0x5eed, start).with_initial(65_534, u32::MAX - 100);
        let packets: Vec<_> = (0..51).map(|_| src.next_packet()).collect();
        // 50 pps: packet 50 leaves exactly one second after packet 0.
        assert_eq!(packets[50].0, start + SimDuration::from_secs(1));
        for (i, (at, p)) in packets.iter().enumerate() {
            assert_eq!(*at, start + SimDuration::from_millis(20 * i as u64));
            assert_eq!(p.encode().len(), 12 + 160); // RTP header + 20 ms of µ-law
            assert_eq!(p.payload_type, 0);
            assert_eq!(p.ssrc, 0x5eed);
            assert_eq!(p.marker, i == 0, "only the talkspurt's first packet is marked");
            // Both counters wrap: 65534, 65535, 0, … and the timestamp steps 160 ticks.
            assert_eq!(p.sequence, 65_534u16.wrapping_add(i as u16));
            assert_eq!(p.timestamp, (u32::MAX - 100).wrapping_add(160 * i as u32));
        }
        assert_eq!(src.next_time(), start + SimDuration::from_millis(1020));
    }

    #[test]
    fn next_packet_into_writes_what_next_packet_encodes() {
        let codecs = [
            Codec::PCMU,
            Codec::OPUS,
            Codec::video(1_000_000, 1200),
            Codec::conference_video(1_500_000),
            Codec::desktop_sharing(300_000),
        ];
        for codec in codecs {
            let start = SimTime::from_nanos(3_000_000);
            let mut built = MediaSource::new(codec, 0x77, start).with_initial(65_500, u32::MAX - 5000);
            let mut written = built.clone();
            // Into a reused buffer (as a relayed stream is), after what it held before.
            let mut reused = vec![0xee; 3];
            for i in 0..200 {
                let len = written.next_wire_len();
                let (at, p) = built.next_packet();
                reused.truncate(3);
                let mut fresh = Vec::with_capacity(len);
                let mut again = written.clone();
                assert_eq!(written.next_packet_into(&mut fresh), Ok((at, p.sequence)), "{} #{i}", codec.name);
                again.next_packet_into(&mut reused).unwrap();
                assert_eq!(fresh, p.encode(), "{} #{i}", codec.name);
                assert_eq!((fresh.len(), fresh.capacity()), (len, len), "next_wire_len is exact");
                assert_eq!(reused[3..], fresh[..]);
                assert_eq!(reused[..3], [0xee; 3]);
            }
            assert_eq!(written.next_time(), built.next_time());
        }
        let bad = Codec { payload_type: 200, ..Codec::PCMU };
        let mut buf = Vec::new();
        assert_eq!(MediaSource::new(bad, 1, SimTime::ZERO).next_packet_into(&mut buf), Err(RtpError::PayloadType(200)));
        assert!(buf.is_empty());
    }

    #[test]
    fn opus_timestamps_advance_by_960() {
        let mut src = MediaSource::new(Codec::OPUS, 1, SimTime::ZERO);
        let (_, a) = src.next_packet();
        let (t, b) = src.next_packet();
        assert_eq!(t, SimTime::from_nanos(20_000_000));
        assert_eq!(b.timestamp - a.timestamp, 960);
        assert_eq!(b.payload.len(), 100);
    }

    #[test]
    fn video_splits_frames_and_marks_their_last_packet() {
        // 1 Mbit/s at 30 fps: 1_000_000 / 8 / 30 = 4166.67 bytes per frame; frames carry
        // 4166 or 4167 bytes so that 30 frames carry exactly 125 000.
        let codec = Codec::video(1_000_000, 1200);
        assert_eq!(codec.ticks_per_frame(), 3000);
        let mut src = MediaSource::new(codec, 2, SimTime::ZERO);
        let mut frames: Vec<Vec<(SimTime, RtpPacket)>> = vec![vec![]];
        while frames.len() <= 30 {
            let (t, p) = src.next_packet();
            let done = p.marker;
            frames.last_mut().unwrap().push((t, p));
            if done {
                frames.push(vec![]);
            }
        }
        frames.pop();
        let total: usize = frames.iter().flatten().map(|(_, p)| p.payload.len()).sum();
        assert_eq!(total, 125_000);
        for (k, f) in frames.iter().enumerate() {
            assert_eq!(f.len(), 4, "4166 bytes in 1200-byte packets: 1200, 1200, 1200, 566 or 567");
            assert!(f.iter().all(|(t, p)| p.payload.len() <= 1200
                && *t == SimTime::from_nanos(k as u64 * 1_000_000_000 / 30)
                && p.timestamp == 3000 * k as u32));
            assert!(f[..3].iter().all(|(_, p)| !p.marker));
        }
        // Sequence numbers run on across frames.
        let seqs: Vec<u16> = frames.iter().flatten().map(|(_, p)| p.sequence).collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
        // The 31st frame starts exactly one second in.
        assert_eq!(src.next_time(), SimTime::from_nanos(1_000_000_000));
    }

    #[test]
    fn keyframes_are_bursts_within_the_bitrate() {
        // 1.5 Mbit/s at 30 fps: 6250 bytes per frame on average; a 60-frame group carries
        // 2 s × 187 500 bytes = 375 000, shared 8 : 1 : 1 … over 67 weights, so the keyframe
        // gets 375 000 × 8 / 67 = 44 776 bytes and a predicted frame 5597 or 5598.
        let codec = Codec::conference_video(1_500_000);
        assert_eq!(codec.frame_bytes(0), 44_776);
        let group: usize = (0..60).map(|k| codec.frame_bytes(k)).sum();
        assert_eq!(group, 375_000);
        assert!((1..60).all(|k| (5597..=5598).contains(&codec.frame_bytes(k))));
        assert_eq!(codec.frame_bytes(60), 44_776, "the next group opens with a keyframe");
        // The keyframe is split into 1200-byte packets sharing one timestamp, marked last.
        let mut src = MediaSource::new(codec, 3, SimTime::ZERO);
        let first: Vec<_> = (0..38).map(|_| src.next_packet()).collect();
        assert!(first.iter().all(|(t, p)| *t == SimTime::ZERO && p.timestamp == 0));
        assert!(first[..37].iter().all(|(_, p)| !p.marker && p.payload.len() == 1200));
        assert!(first[37].1.marker && first[37].1.payload.len() == 44_776 - 37 * 1200);
        let (t, p) = src.next_packet();
        assert_eq!((t, p.timestamp), (SimTime::from_nanos(33_333_333), 3000));
    }

    #[test]
    fn desktop_sharing_sends_ten_updates_a_second() {
        let codec = Codec::desktop_sharing(500_000);
        assert_eq!(codec.ticks_per_frame(), 9000);
        // 500 kbit/s = 62 500 bytes a second, 6250 per update: five full packets and 250 bytes.
        assert_eq!(codec.frame_bytes(0), 6250);
        let mut src = MediaSource::new(codec, 4, SimTime::ZERO);
        let update: Vec<_> = (0..6).map(|_| src.next_packet()).collect();
        assert!(update[5].1.marker && update[5].1.payload.len() == 250);
        assert_eq!(src.next_time(), SimTime::from_nanos(100_000_000));
        assert!(!codec.is_audio() && Codec::PCMU.is_audio());
    }

    fn arb_packet() -> impl Strategy<Value = RtpPacket> {
        (
            any::<bool>(),
            0u8..128,
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            proptest::collection::vec(any::<u32>(), 0..=MAX_CSRC),
            proptest::collection::vec(any::<u8>(), 0..200),
        )
            .prop_map(|(marker, payload_type, sequence, timestamp, ssrc, csrc, payload)| RtpPacket {
                marker,
                payload_type,
                sequence,
                timestamp,
                ssrc,
                csrc,
                payload,
            })
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(p in arb_packet()) {
            prop_assert_eq!(RtpPacket::decode(&p.encode()), Ok(p));
        }

        #[test]
        fn decode_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = RtpPacket::decode(&bytes);
        }

        #[test]
        fn decode_is_total_on_mutated_packets(p in arb_packet(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6), cut in any::<usize>()) {
            let mut b = p.encode();
            for (at, x) in flips {
                let i = at % b.len();
                b[i] ^= x;
            }
            b[0] = (b[0] & 0x3f) | 0x80; // keep version 2 so the deeper checks run
            b.truncate(cut % (b.len() + 1));
            let _ = RtpPacket::decode(&b);
        }
    }

    #[test]
    fn decode_ids_agrees_with_decode() {
        let mut cases: Vec<Vec<u8>> = Vec::new();
        let p = RtpPacket {
            marker: true,
            payload_type: 0,
            sequence: 7,
            timestamp: 9,
            ssrc: 11,
            csrc: vec![1, 2],
            payload: vec![5; 20],
        };
        let good = p.encode();
        cases.push(good.clone());
        for cut in 0..good.len() {
            cases.push(good[..cut].to_vec());
        }
        for first in [0x80u8, 0x90, 0xa0, 0xb3, 0x40, 0x8f, 0xbf] {
            let mut b = good.clone();
            b[0] = first;
            cases.push(b.clone());
            let last = b.len() - 1;
            b[last] = 0;
            cases.push(b.clone());
            b[last] = 200;
            cases.push(b);
        }
        for b in cases {
            let ids = RtpPacket::decode(&b).map(|p| (p.sequence, p.timestamp, p.ssrc));
            assert_eq!(RtpPacket::decode_ids(&b), ids, "{b:02x?}");
        }
    }
}
