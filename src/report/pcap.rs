//! Packet captures: a classic libpcap file of the datagrams a run carried, for Wireshark.
//!
//! The file uses the nanosecond-resolution magic (0xa1b23c4d) so virtual time is kept
//! exactly, and LINKTYPE_RAW (101), so each record is the bare IPv4 datagram as
//! `Datagram::to_bytes` emits it, checksums included. Timestamps count from the Unix epoch
//! as if the run started at 1970-01-01 00:00:00 UTC; nothing here reads a clock. Numbers are
//! written little-endian on every machine, so captures are byte-identical everywhere.

use std::io::{self, Write};

use crate::time::SimTime;
use crate::wire::Datagram;

/// The magic number of a nanosecond-resolution pcap file.
pub const PCAP_MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// LINKTYPE_RAW: each packet begins with an IPv4 or IPv6 header.
pub const LINKTYPE_RAW: u32 = 101;
/// The largest packet a record holds whole (an IPv4 datagram is at most 65535 bytes).
pub const SNAPLEN: u32 = 65_535;
/// Length of the file header.
pub const FILE_HEADER_LEN: usize = 24;
/// Length of each record header.
pub const RECORD_HEADER_LEN: usize = 16;

/// Writes a pcap file record by record.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    records: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header to `out`.
    pub fn new(mut out: W) -> io::Result<PcapWriter<W>> {
        out.write_all(&file_header())?;
        Ok(PcapWriter { out, records: 0 })
    }

    /// Appends datagram `d`, seen at virtual time `at`.
    pub fn write(&mut self, at: SimTime, d: &Datagram) -> io::Result<()> {
        let bytes = d.to_bytes();
        self.out.write_all(&record_header(at, bytes.len()))?;
        self.out.write_all(&bytes)?;
        self.records += 1;
        Ok(())
    }

    /// How many records have been written.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A whole pcap file in memory.
pub fn pcap_bytes<'a>(records: impl IntoIterator<Item = (SimTime, &'a Datagram)>) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new()).expect("writing to a Vec cannot fail");
    for (at, d) in records {
        w.write(at, d).expect("writing to a Vec cannot fail");
    }
    w.out
}

/// The 24-byte global header (version 2.4, no time zone offset).
fn file_header() -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[0..4].copy_from_slice(&PCAP_MAGIC_NANOS.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    // thiszone and sigfigs stay zero.
    h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
    h
}

/// The 16-byte record header: seconds, nanoseconds, captured and original length.
fn record_header(at: SimTime, len: usize) -> [u8; RECORD_HEADER_LEN] {
    let ns = at.as_nanos();
    // Seconds past 2106 do not fit the 32-bit field; they saturate rather than wrap.
    let secs = u32::try_from(ns / 1_000_000_000).unwrap_or(u32::MAX);
    let nanos = (ns % 1_000_000_000) as u32;
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[0..4].copy_from_slice(&secs.to_le_bytes());
    h[4..8].copy_from_slice(&nanos.to_le_bytes());
    h[8..12].copy_from_slice(&len.min(SNAPLEN).to_le_bytes());
    h[12..16].copy_from_slice(&len.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimDuration;

    #[test]
    fn file_header_bytes() {
        let b = pcap_bytes([]);
        assert_eq!(
            b,
            [
                0x4d, 0x3c, 0xb2, 0xa1, // magic, nanosecond resolution, little-endian
                0x02, 0x00, 0x04, 0x00, // version 2.4
                0, 0, 0, 0, // thiszone
                0, 0, 0, 0, // sigfigs
                0xff, 0xff, 0x00, 0x00, // snaplen 65535
                0x65, 0x00, 0x00, 0x00, // LINKTYPE_RAW
            ]
        );
    }

    #[test]
    fn record_carries_time_and_exact_datagram_bytes() {
        let d = Datagram::udp("10.0.0.1:5000".parse().unwrap(), "192.0.2.7:3478".parse().unwrap(), vec![1, 2, 3]);
        let at = SimTime::ZERO + SimDuration::from_secs(3) + SimDuration::from_nanos(250);
        let b = pcap_bytes([(at, &d)]);
        let r = &b[FILE_HEADER_LEN..];
        assert_eq!(r[0..4], 3u32.to_le_bytes());
        assert_eq!(r[4..8], 250u32.to_le_bytes());
        assert_eq!(r[8..12], 31u32.to_le_bytes());
        assert_eq!(r[12..16], 31u32.to_le_bytes());
        assert_eq!(&r[RECORD_HEADER_LEN..], &d.to_bytes()[..]);
        assert_eq!(Datagram::parse(&r[RECORD_HEADER_LEN..]).unwrap(), d);
    }

    #[test]
    fn writer_counts_and_returns_its_output() {
        let d = Datagram::udp("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap(), vec![]);
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write(SimTime::ZERO, &d).unwrap();
        w.write(SimTime::ZERO, &d).unwrap();
        assert_eq!(w.records(), 2);
        assert_eq!(w.finish().unwrap().len(), FILE_HEADER_LEN + 2 * (RECORD_HEADER_LEN + 28));
    }
}
