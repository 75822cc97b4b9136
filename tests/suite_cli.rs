//! `icepath run`, `icepath test` and `icepath audit` from the command line: exit codes,
//! error reports for broken scenario files (golden), the audit report (golden), JUnit and
//! JSON output, and output that does not depend on the thread count or the partition.

mod common;

use common::{check_golden, icepath, stderr, stdout};

#[test]
fn broken_scenarios_report_every_problem_with_place_and_hint() {
    for name in ["typos", "names", "refs", "missing-topology"] {
        let path = format!("tests/scenarios-broken/{name}.yaml");
        let out = icepath(&["run", &path]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{name}: nothing is simulated");
        check_golden(&format!("tests/golden/scenarios/{name}.txt"), &stderr(&out));
        // `test` reports the same file as a failure and goes on.
        let out = icepath(&["test", &path]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stdout(&out).contains("does not load"), "{name}");
        assert!(stdout(&out).ends_with("0 passed, 1 failed\n"), "{}", stdout(&out));
    }
}

#[test]
fn the_audit_of_the_security_zones_design_is_stable() {
    let out = icepath(&["audit", "topologies/security-zones.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    check_golden("tests/golden/scenarios/audit-security-zones.txt", &stdout(&out));
    let json = icepath(&["audit", "topologies/security-zones.yaml", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("the audit is JSON");
    let pairs = v["pairs"].as_array().expect("pairs");
    let internet_lan = pairs.iter().find(|p| p["from"] == "internet" && p["to"] == "lan").expect("internet -> lan");
    assert_eq!(internet_lan["reachable"].as_array().map(Vec::len), Some(0));
}

#[test]
fn an_audit_that_finds_the_internet_in_the_lan_flags_it_and_exits_1() {
    // Publish RDP on the Front End: a port forward on the external firewall and a rule on
    // each firewall.
    let dir = std::env::temp_dir().join(format!("icepath-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string("topologies/security-zones.yaml").unwrap();
    let text = text
        .replace(
            "        - {internal: 172.16.10.20, external: 203.0.113.21}\n",
            "        - {internal: 172.16.10.20, external: 203.0.113.21}\n      forwards: [{protocol: tcp, port: 3389, to: 10.0.1.10:3389}]\n",
        )
        .replacen(
            "        - {name: \"Everything else\", action: deny}",
            "        - {name: RDP, action: allow, in: out0, protocol: tcp, dst: 10.0.1.10, ports: 3389}\n        - {name: \"Everything else\", action: deny}",
            1,
        )
        .replace(
            "        - {name: \"LAN out\", action: allow, in: lan0}",
            "        - {name: \"LAN out\", action: allow, in: lan0}\n        - {name: RDP, action: allow, in: up0, protocol: tcp, dst: 10.0.1.10, ports: 3389}",
        );
    let path = dir.join("open.yaml");
    std::fs::write(&path, text).unwrap();
    let out = icepath(&["audit", path.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(text.contains("FLAG: the internet reaches fe01 tcp/3389 in the LAN unsolicited"), "{text}");
    // Exactly that port and nothing around it.
    assert!(text.contains("  internet -> lan:\n    fe01 tcp/3389 "), "{text}");
}

#[test]
fn test_output_is_the_same_for_any_thread_count_and_partitions_cover_the_suite() {
    let one = icepath(&["test", "scenarios/", "--jobs", "1"]);
    let two = icepath(&["test", "scenarios/", "--jobs", "2"]);
    assert_eq!(stdout(&one), stdout(&two));
    assert!(!stdout(&one).is_empty());
    let mut parts = String::new();
    for k in 1..=3 {
        let p = format!("{k}/3");
        let out = icepath(&["test", "scenarios/", "--partition", &p, "--jobs", "1"]);
        let text = stdout(&out);
        // Drop each part's total line; the union of the parts' lines is the whole suite's.
        parts.extend(text.lines().filter(|l| !l.ends_with(" failed")).map(|l| format!("{l}\n")));
    }
    let one = stdout(&one);
    let mut whole: Vec<&str> = one.lines().filter(|l| !l.ends_with(" failed")).collect();
    let mut split: Vec<&str> = parts.lines().collect();
    whole.sort();
    split.sort();
    assert_eq!(whole, split);
    let bad = icepath(&["test", "scenarios/", "--partition", "4/3"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--partition"), "{}", stderr(&bad));
}

#[test]
fn junit_and_json_describe_every_expectation() {
    let dir = std::env::temp_dir().join(format!("icepath-junit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junit = dir.join("s21.xml");
    let out =
        icepath(&["test", "scenarios/s21-security-zones.yaml", "--junit", junit.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 10, "7 audit assertions and 3 mutants: {xml}");
    assert!(!xml.contains("timestamp"), "no wall clock in the report");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v[0]["status"], "ran");
    assert_eq!(v[0]["passed"], 10);
    assert_eq!(v[0]["failed"], 0);
}

#[test]
fn run_prints_a_summary_and_exits_by_the_expectations() {
    let out = icepath(&["run", "scenarios/s05-branch-missing-persistent-route.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("gathering: branch-pc: relay allocation on edge01"), "{text}");
    assert!(text.contains("ok   the persistent route to the branch is added"), "{text}");
    assert!(text.ends_with("PASS: 5 passed, 0 failed\n"), "{text}");
}
