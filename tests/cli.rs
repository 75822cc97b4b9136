//! The `icepath` binary on the bundled topologies and on broken inputs.

mod common;

use common::{check_golden, icepath, stderr, stdout};

#[test]
fn trace_branch_office_golden() {
    let o = icepath(&[
        "trace",
        "topologies/branch-office.yaml",
        "--from",
        "branch-pc",
        "--to",
        "hq-server",
        "--count",
        "3",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    check_golden("tests/golden/cli/trace-branch-office.txt", &stdout(&o));
}

#[test]
fn trace_json_golden() {
    let o = icepath(&[
        "trace",
        "topologies/home-isp.yaml",
        "--from",
        "laptop",
        "--to",
        "192.0.2.10:443",
        "--proto",
        "tcp",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    check_golden("tests/golden/cli/trace-home-isp.json", &stdout(&o));
}

#[test]
fn check_summary_golden() {
    let o = icepath(&["check", "topologies/enterprise-lan.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    check_golden("tests/golden/cli/check-enterprise-lan.txt", &stdout(&o));
}

#[test]
fn check_reports_every_error_and_exits_2() {
    let o = icepath(&["check", "tests/fixtures/broken/many-errors.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).is_empty());
    check_golden("tests/golden/cli/check-many-errors.txt", &stderr(&o));
}

#[test]
fn same_seed_gives_identical_json_and_another_seed_differs() {
    let args = |seed: &'static str| {
        [
            "trace",
            "topologies/branch-office.yaml",
            "--from",
            "branch-pc",
            "--to",
            "hq-server",
            "--count",
            "20",
            "--seed",
            seed,
            "--format",
            "json",
        ]
    };
    let a = stdout(&icepath(&args("7")));
    let b = stdout(&icepath(&args("7")));
    let c = stdout(&icepath(&args("8")));
    assert_eq!(a, b);
    assert_ne!(a, c, "the WAN link has jitter, so another seed must change the delays");
}

/// Every host of every bundled topology reaches every other host.
#[test]
fn bundled_topologies_are_fully_reachable() {
    let cases: &[(&str, &[&str])] = &[
        ("topologies/home-isp.yaml", &["laptop", "web"]),
        ("topologies/enterprise-lan.yaml", &["alice-pc", "bob-laptop", "file-server", "intranet-web"]),
        ("topologies/branch-office.yaml", &["branch-pc", "branch-phone", "hq-server"]),
    ];
    for (file, hosts) in cases {
        for from in *hosts {
            for to in *hosts {
                if from == to {
                    continue;
                }
                let o = icepath(&["trace", file, "--from", from, "--to", to, "--format", "json"]);
                assert_eq!(o.status.code(), Some(0), "{file}: {from} -> {to}\n{}", stdout(&o));
            }
        }
    }
}

#[test]
fn unknown_node_gets_a_suggestion() {
    let o = icepath(&["trace", "topologies/branch-office.yaml", "--from", "branch-pcc", "--to", "hq-server"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("unknown node `branch-pcc`") && e.contains("did you mean `branch-pc`?"), "{e}");
}

#[test]
fn bad_destination_and_duration_are_input_errors() {
    let o = icepath(&["trace", "topologies/home-isp.yaml", "--from", "laptop", "--to", "192.0.2.300"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("expected ADDRESS[:PORT]"), "{}", stderr(&o));
    let o =
        icepath(&["trace", "topologies/home-isp.yaml", "--from", "laptop", "--to", "web", "--interval", "20 parsecs"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--interval"), "{}", stderr(&o));
}

#[test]
fn missing_file_is_an_input_error() {
    let o = icepath(&["check", "topologies/nope.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read topologies/nope.yaml"));
}

#[test]
fn unroutable_destination_names_the_router() {
    let o = icepath(&["trace", "topologies/branch-office.yaml", "--from", "hq-server", "--to", "198.51.100.7"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("DROPPED (no-route): hq-router: no route to 198.51.100.7"), "{out}");
}

#[test]
fn routing_loop_ends_with_ttl_expiry() {
    let o = icepath(&["trace", "tests/fixtures/routing-loop.yaml", "--from", "pc", "--to", "10.99.1.1"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("DROPPED (ttl-expired)"), "{out}");
    // Sent with TTL 64; r1 and r2 each forward while the arriving TTL is above 1 (RFC 791
    // §3.2), decrementing it: 63 crossings of the transit link, then the packet dies.
    assert_eq!(out.matches(" over transit ").count(), 63, "{out}");
}

#[test]
fn oversized_packet_hits_the_mtu() {
    let o = icepath(&["trace", "topologies/home-isp.yaml", "--from", "laptop", "--to", "web", "--size", "1600"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("DROPPED (mtu-exceeded): laptop: 1628-byte datagram exceeds MTU"), "{out}");
}

#[test]
fn event_budget_stops_the_run_and_says_so() {
    let o = icepath(&[
        "trace",
        "topologies/branch-office.yaml",
        "--from",
        "branch-pc",
        "--to",
        "hq-server",
        "--max-events",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("still in flight") && out.contains("event budget of 2 events"), "{out}");
}

#[test]
fn check_points_out_islands() {
    let o = icepath(&["check", "tests/fixtures/islands.yaml"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("2 islands") && out.contains("    h1, h2\n    h3\n"), "{out}");
    assert!(stderr(&o).contains("warning: links[1].id: link \"b\" has 1 member"), "{}", stderr(&o));
}
