//! `icepath report`: the files a design review gets, byte-stable for a given seed (golden
//! `index.html` and `results.json` of two scenarios), a capture Wireshark can open, and the
//! suite index with a pass/fail row per scenario.

mod common;

use common::{check_golden, icepath, stderr, stdout};

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("icepath-report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn reports_of_two_scenarios_match_their_goldens() {
    for stem in ["s05-branch-missing-persistent-route", "s21-security-zones"] {
        let dir = tmp(stem);
        let out = icepath(&["report", &format!("scenarios/{stem}.yaml"), "-o", dir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
        for file in ["index.html", "results.json"] {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            check_golden(&format!("tests/golden/reports/{stem}/{file}"), &text);
        }
        let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
        // The SVG namespace is a name, not a fetch; nothing may be loaded from elsewhere.
        for fetch in ["src=\"http", "href=\"http", "url(http", "@import", "<script src", "<link "] {
            assert!(!html.contains(fetch), "no network fetches: {fetch}");
        }
        let pcap = std::fs::read(dir.join("trace.pcap")).unwrap();
        // pcap with nanosecond timestamps and LINKTYPE_RAW (bare IPv4 datagrams).
        assert_eq!(u32::from_le_bytes(pcap[..4].try_into().unwrap()), 0xa1b2_3c4d);
        assert_eq!(u32::from_le_bytes(pcap[20..24].try_into().unwrap()), 101);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_suite_report_links_every_scenario_with_its_verdict() {
    let dir = tmp("suite");
    let out = icepath(&[
        "report",
        "scenarios/s05-branch-missing-persistent-route.yaml",
        "scenarios/s21-security-zones.yaml",
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
    for stem in ["s05-branch-missing-persistent-route", "s21-security-zones"] {
        assert!(index.contains(&format!("href=\"{stem}/index.html\"")), "{index}");
        assert!(dir.join(stem).join("call1-pair-matrix.png").exists() || stem.starts_with("s21"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
