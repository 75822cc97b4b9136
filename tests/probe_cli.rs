//! `icepath probe` and `--pcap` on the bundled enterprise Edge.

mod common;

use common::{check_golden, icepath, stderr, stdout};
use icepath::wire::Datagram;
use icepath::wire::stun::Message;

const EDGE: &str = "topologies/enterprise-edge.yaml";

#[test]
fn home_user_allocates_on_the_edge_golden() {
    let o = icepath(&["probe", EDGE, "--from", "home-pc", "--server", "edge01"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("result: allocated; server-reflexive 198.51.100.6:50000, relayed 203.0.113.20:5"), "{out}");
    check_golden("tests/golden/cli/probe-home-udp.txt", &out);
}

#[test]
fn turn_over_tcp_443_allocates_too() {
    let o = icepath(&["probe", EDGE, "--from", "home-pc", "--server", "edge01", "--transport", "tcp"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("over tcp"));
}

/// Seed 001: the branch user reaches the Edge's internal NIC, but the Edge answers by its
/// default gateway on the external side and the external firewall drops the answers.
#[test]
fn branch_user_cannot_allocate_on_the_internal_interface() {
    let o = icepath(&["probe", EDGE, "--from", "branch-pc", "--server", "edge01", "--via", "internal"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("DROPPED: ext-fw: firewall denied on ext-fw/dmz0 by rule #11"), "{out}");
    assert!(out.contains("Allocate timed out") && out.contains("result: FAILED to allocate"), "{out}");
}

#[test]
fn unknown_edge_is_an_input_error() {
    let o = icepath(&["probe", EDGE, "--from", "home-pc", "--server", "edge1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("did you mean `edge01`?"), "{}", stderr(&o));
    let o = icepath(&["probe", EDGE, "--from", "home-pc", "--server", "lync-fe"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("node `lync-fe` is not an Edge"), "{}", stderr(&o));
}

/// The capture is a valid nanosecond pcap of raw IPv4 whose every record parses back,
/// checksums included, and whose UDP payloads are real STUN messages.
#[test]
fn pcap_holds_real_stun_bytes() {
    let path = std::env::temp_dir().join(format!("icepath-probe-{}.pcap", std::process::id()));
    let p = path.to_str().unwrap();
    let o = icepath(&["probe", EDGE, "--from", "home-pc", "--server", "edge01", "--pcap", p]);
    assert_eq!(o.status.code(), Some(0));
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(&bytes[..4], &0xa1b2_3c4du32.to_le_bytes(), "nanosecond pcap magic");
    assert_eq!(u32::from_le_bytes(bytes[20..24].try_into().unwrap()), 101, "LINKTYPE_RAW");
    let mut at = 24;
    let mut stun = 0;
    while at < bytes.len() {
        let incl = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let d = Datagram::parse(&bytes[at + 16..at + 16 + incl]).expect("every record is a valid datagram");
        if Message::decode(&d.payload).is_ok() {
            stun += 1;
        }
        at += 16 + incl;
    }
    assert_eq!(at, bytes.len());
    assert!(stun >= 12, "binding, 401 and allocate exchanges over several hops: {stun}");
}

#[test]
fn trace_writes_a_pcap_too() {
    let path = std::env::temp_dir().join(format!("icepath-trace-{}.pcap", std::process::id()));
    let p = path.to_str().unwrap();
    let o = icepath(&["trace", EDGE, "--from", "home-pc", "--to", "203.0.113.20:3478", "--echo", "--pcap", p]);
    assert_eq!(o.status.code(), Some(0));
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    // 4 link crossings each way, each a 200-byte datagram with a 16-byte record header.
    assert_eq!(bytes.len(), 24 + 8 * (16 + 200));
}
