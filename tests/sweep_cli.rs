//! `icepath sweep`: the same report for any number of jobs, partitions that cover every run
//! once and merge back into the whole, and a broken `sweep:` section explained at its line.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::{icepath, stderr, stdout};

/// A small sweep (2 points x 2 seeds = 4 runs, no media) of two home users calling each
/// other, written to a fresh folder; returns the folder and the scenario's path.
fn fixture(name: &str, sweep: &str) -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("icepath-sweep-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let topology = concat!(env!("CARGO_MANIFEST_DIR"), "/topologies/lync-remote-users.yaml");
    let text = format!(
        "scenario: SWT\ntopology: {topology}\nseed: 5\ncalls:\n  - name: home to home\n    from: home-a\n    to: home-b\n    duration: 0s\n    expect:\n      result: connected\n      selected: {{local: srflx udp, remote: srflx udp}}\n{sweep}"
    );
    let file = dir.join("sweep.yaml");
    std::fs::write(&file, text).unwrap();
    (dir, file.display().to_string())
}

const SMALL: &str = "sweep:\n  seeds: 2\n  parameters:\n    - nat: home-b-rtr\n      presets: [restricted-cone, symmetric]\n    - link: access-home-b\n      latency: [60ms]\n";

fn read(dir: &std::path::Path, sub: &str) -> String {
    std::fs::read_to_string(dir.join(sub).join("sweep.json")).unwrap()
}

#[test]
fn one_or_two_jobs_write_the_same_report_and_partitions_merge_into_it() {
    let (dir, file) = fixture("jobs", SMALL);
    let out = |sub: &str| dir.join(sub).display().to_string();
    let one = icepath(&["sweep", &file, "--jobs", "1", "-o", &out("one")]);
    assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));
    // Piped stderr: no progress bar, nothing at all.
    assert_eq!(stderr(&one), "");
    let two = icepath(&["sweep", &file, "--jobs", "2", "-o", &out("two"), "--format", "json"]);
    assert_eq!(two.status.code(), Some(0), "{}", stderr(&two));
    let whole = read(&dir, "one");
    assert_eq!(whole, read(&dir, "two"), "--jobs 1 and --jobs 2 differ");
    assert_eq!(stdout(&two), whole, "--format json prints the file");
    assert!(stdout(&one).contains("grid of 2 points x 2 seeds (seeds 5..6) = 4 runs"), "{}", stdout(&one));
    for chart in ["pair-types-nat-home-b-rtr", "pair-types-latency-access-home-b", "mos-cdf"] {
        for ext in ["svg", "png"] {
            assert!(dir.join("one").join(format!("{chart}.{ext}")).is_file(), "{chart}.{ext}");
        }
    }

    // Three slices: every run exactly once.
    let mut seen = BTreeSet::new();
    let mut parts = Vec::new();
    for k in 1..=3 {
        let sub = format!("part{k}");
        let o = icepath(&["sweep", &file, "--jobs", "1", "--partition", &format!("{k}/3"), "-o", &out(&sub)]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let json: serde_json::Value = serde_json::from_str(&read(&dir, &sub)).unwrap();
        assert_eq!(json["partition"], format!("{k}/3"));
        for r in json["runs"].as_array().unwrap() {
            let run = r["run"].as_u64().unwrap();
            assert_eq!(run % 3, k - 1, "slice {k} took run {run}");
            assert!(seen.insert(run), "run {run} ran twice");
        }
        parts.push(dir.join(&sub).join("sweep.json").display().to_string());
    }
    assert_eq!(seen, (0..4).collect::<BTreeSet<u64>>());
    let merged_dir = out_dir(&dir, "merged");
    let mut args = vec!["sweep", "-o", &merged_dir, "--merge"];
    args.extend(parts.iter().map(String::as_str));
    let merged = icepath(&args);
    assert_eq!(merged.status.code(), Some(0), "{}", stderr(&merged));
    assert_eq!(read(&dir, "merged"), whole, "the merged slices differ from the whole sweep");
    let _ = std::fs::remove_dir_all(&dir);
}

fn out_dir(dir: &std::path::Path, sub: &str) -> String {
    dir.join(sub).display().to_string()
}

#[test]
fn the_whole_run_shows_what_the_nat_presets_predict() {
    let (dir, file) = fixture("text", SMALL);
    let o = icepath(&["sweep", &file, "--seeds", "1", "-o", &out_dir(&dir, "t")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    // Both routers map endpoint-independently at the restricted-cone points: reflexive; a
    // symmetric router's reflexive address is useless to the peer, so those runs win
    // another way (a peer-reflexive candidate or the relay).
    assert!(text.contains("overall: 2 calls, 2 connected (100.0%)"), "{text}");
    assert!(text.contains("50.0%  srflx udp -> srflx udp"), "{text}");
    assert!(text.contains("50.0%  home to home: selected srflx udp -> srflx udp"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_sweep_section_is_explained_at_its_line() {
    let (dir, file) = fixture(
        "bad",
        "sweep:\n  parameters:\n    - nat: home-b-rtr\n      presets: [symetric]\n    - link: acess-home-b\n      latency: [10ms]\n",
    );
    let o = icepath(&["sweep", &file, "-o", &out_dir(&dir, "x")]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains(&format!("{file}:15:17: error")) && err.contains("did you mean `symmetric`?"), "{err}");
    assert!(!dir.join("x").exists(), "nothing is written for a broken file");
    // With the preset fixed, the link's name is checked against the topology.
    let (dir2, file2) = fixture("badlink", "sweep:\n  parameters:\n    - link: acess-home-b\n      latency: [10ms]\n");
    let o = icepath(&["sweep", &file2, "-o", &out_dir(&dir2, "x")]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains(&format!("{file2}:14:13: error")) && err.contains("did you mean \"access-home-b\"?"), "{err}");
    let bad = icepath(&["sweep", &file2, "--partition", "4/3"]);
    assert_eq!(bad.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&dir2);
}
