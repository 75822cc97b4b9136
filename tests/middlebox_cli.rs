//! `icepath trace` through NATs, firewalls, VPN tunnels and the Edge on the bundled
//! topologies: goldens for the full listings, assertions for the verdicts that matter.

mod common;

use common::{check_golden, icepath, stderr, stdout};

fn trace(file: &str, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["trace", file];
    all.extend_from_slice(args);
    let o = icepath(&all);
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    (o.status.code(), stdout(&o))
}

const NATS: &str = "topologies/home-nats.yaml";
const VPN: &str = "topologies/remote-worker-vpn.yaml";
const EDGE: &str = "topologies/enterprise-edge.yaml";

#[test]
fn symmetric_nat_round_trip_golden() {
    let (code, out) = trace(NATS, &["--from", "laptop-sym", "--to", "stun-probe", "--echo"]);
    assert_eq!(code, Some(0));
    check_golden("tests/golden/cli/trace-nat-symmetric.txt", &out);
}

#[test]
fn double_nat_translates_twice() {
    let (code, out) = trace(NATS, &["--from", "laptop-dbl", "--to", "stun-probe", "--echo"]);
    assert_eq!(code, Some(0));
    assert_eq!(out.matches(" NAT (new mapping)").count(), 2, "{out}");
    assert_eq!(out.matches(" NAT (admitted by mapping)").count(), 2, "{out}");
}

#[test]
fn unsolicited_inbound_stops_at_the_nat() {
    for (laptop_nat, wan) in [("home-fc", "198.51.100.2"), ("home-sym", "198.51.100.14")] {
        let (code, out) = trace(NATS, &["--from", "stun-probe", "--to", &format!("{wan}:50000")]);
        assert_eq!(code, Some(1));
        assert!(
            out.contains(&format!(
                "DROPPED (nat): {laptop_nat}: NAT refused the packet on {laptop_nat}/wan0: no mapping"
            )),
            "{out}"
        );
    }
}

#[test]
fn full_tunnel_vpn_round_trip_golden() {
    let (code, out) = trace(VPN, &["--from", "laptop-full", "--to", "desk-pc", "--echo", "--app", "communicator.exe"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("corp-vpn decapsulates from tunnel corp-vpn-pool") && out.contains("crypto "), "{out}");
    check_golden("tests/golden/cli/trace-vpn-full.txt", &out);
}

/// Seed 000's Windows Firewall rule stops the media client on the VPN interface, and only it.
#[test]
fn seed_000_rule_blocks_lync_media_over_the_vpn_only() {
    let (code, out) = trace(VPN, &["--from", "laptop-split", "--to", "desk-pc", "--app", "communicator.exe"]);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("DROPPED (firewall): laptop-split: firewall denied outbound on laptop-split/vpn0 by rule #2"),
        "{out}"
    );
    let (code, out) = trace(VPN, &["--from", "laptop-split", "--to", "desk-pc", "--app", "outlook.exe", "--echo"]);
    assert_eq!(code, Some(0), "{out}");
}

/// With split-brain DNS and the split tunnel, the VPN user reaches the Edge's public
/// address directly over the home internet, never through the concentrator (seed 000).
#[test]
fn split_tunnel_client_reaches_the_edge_outside_the_tunnel() {
    let (code, out) =
        trace(VPN, &["--from", "laptop-split", "--to", "av.contoso.com", "--echo", "--app", "communicator.exe"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("resolves to 203.0.113.20 for laptop-split (view `vpn`"), "{out}");
    assert!(!out.contains("encapsulates"), "{out}");
    check_golden("tests/golden/cli/trace-vpn-split-edge.txt", &out);
    // The tunnel-all client gets the same answer but its packets still enter the tunnel (S03).
    let (code, out) = trace(VPN, &["--from", "laptop-full", "--to", "av.contoso.com", "--app", "communicator.exe"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("laptop-full encapsulates into tunnel corp-vpn-pool"), "{out}");
    assert!(out.contains("corp-vpn decapsulates"), "{out}");
}

/// Two VPN users: client-to-client traffic hairpins through the concentrator (S04).
#[test]
fn vpn_clients_hairpin_through_the_concentrator() {
    let (code, out) = trace(VPN, &["--from", "laptop-full", "--to", "10.99.0.11", "--app", "outlook.exe"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.matches("corp-vpn decapsulates").count(), 1, "{out}");
    assert!(out.contains("corp-vpn encapsulates into tunnel corp-vpn-pool"), "{out}");
    assert!(out.contains("delivered to laptop-split/vpn0"), "{out}");
}

#[test]
fn edge_behind_static_nat_golden() {
    let (code, out) = trace(EDGE, &["--from", "home-pc", "--to", "203.0.113.20:3478", "--echo"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("ext-fw NAT (static NAT)") && out.contains("rule #1 \"A/V Edge STUN/TURN\""), "{out}");
    check_golden("tests/golden/cli/trace-edge-static-nat.txt", &out);
    // Ports the external firewall does not publish stay closed.
    let (code, out) = trace(EDGE, &["--from", "home-pc", "--to", "203.0.113.20:3389"]);
    assert_eq!(code, Some(1));
    assert!(out.contains("ext-fw: firewall denied on ext-fw/out0 by rule #11 \"Everything else\""), "{out}");
}

/// Seed 001: over the site-to-site tunnel the branch reaches the front end both ways, but
/// the Edge's internal interface has no route back to the branch, so its replies leave by
/// the default gateway into the DMZ and die at the external firewall.
#[test]
fn branch_reaches_the_front_end_but_not_the_edge_back() {
    let (code, out) = trace(EDGE, &["--from", "branch-pc", "--to", "lync-fe", "--echo"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.matches("decapsulates from tunnel branch-hq").count(), 2, "{out}");
    let (code, out) = trace(EDGE, &["--from", "branch-pc", "--to", "172.16.20.10", "--echo"]);
    assert_eq!(code, Some(1));
    assert!(out.contains("delivered to edge01/int0"), "{out}");
    assert!(out.contains("edge01 sends, out ext0 over dmz-ext"), "{out}");
    assert!(out.contains("DROPPED (firewall): ext-fw: firewall denied on ext-fw/dmz0 by rule #11"), "{out}");
}

#[test]
fn json_trace_names_every_middlebox_step() {
    let (code, out) = trace(EDGE, &["--from", "branch-pc", "--to", "lync-fe", "--format", "json"]);
    assert_eq!(code, Some(0));
    for step in
        ["\"step\": \"encapsulate\"", "\"step\": \"decapsulate\"", "\"step\": \"firewall\"", "\"step\": \"link\""]
    {
        assert!(out.contains(step), "{step} missing:\n{out}");
    }
}
