//! `icepath generate` and `icepath population`: a small enterprise under load.

mod common;

use common::{icepath, stderr, stdout};

const CONTOSO: &str = "examples/populations/contoso.yaml";

/// Two sites and 20 home users (a quarter on VPN), calls arriving fast enough that several
/// overlap and some relay through the Edge pool.
const SMALL: &str = "name: small\nseed: 3\n\
sites: {count: 2, users: 10}\n\
homes: {users: 20, nat: {port-restricted-cone: 50%, symmetric: 50%}, vpn: {share: 25%}}\n\
edges: {pools: 1, servers: 2}\n\
calls: {per-user-per-hour: 90, duration: 8s, distribution: exponential, video: 10%}\n";

fn write_temp(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("icepath-population-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_small_population_runs_with_consistent_aggregates() {
    let spec = write_temp("small.yaml", SMALL);
    let spec = spec.to_str().unwrap();
    let run = || icepath(&["population", spec, "--duration", "20s", "--format", "json"]);
    let o = run();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let first = stdout(&o);
    // Same seed, same bytes.
    assert_eq!(first, stdout(&run()), "JSON output differs between two runs");
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    let calls = &v["calls"];
    let placed = calls["placed"].as_u64().unwrap();
    let connected = calls["connected"].as_u64().unwrap();
    assert!(placed >= 5, "several calls: {calls}");
    assert!(connected >= 4 && connected <= placed, "{calls}");
    assert_eq!(calls["arrivals"].as_u64().unwrap(), placed + calls["skipped_busy"].as_u64().unwrap());
    assert!(calls["peak_concurrent"].as_u64().unwrap() >= 2, "calls overlap: {calls}");
    assert!(calls["relayed"].as_u64().unwrap() >= 1, "some calls relay through the Edge: {calls}");
    // Every Edge: allocation counts never negative (unsigned in JSON), they rise during the
    // run, and every allocation is released once the calls have ended.
    let edges = v["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 2);
    let mut peak = 0;
    for e in edges {
        let points = e["points"].as_array().unwrap();
        assert!(points.len() > 20, "sampled every second");
        for p in points {
            assert!(p["allocations"].as_i64().unwrap() >= 0);
        }
        peak += e["peak_allocations"].as_u64().unwrap();
        assert_eq!(e["final_allocations"], 0, "allocations return to zero: {e}");
        assert_eq!(points.last().unwrap()["allocations"], 0);
    }
    assert!(peak > 0);
    assert!(v["edges"].as_array().unwrap().iter().any(|e| e["peak_relay_bps"].as_u64().unwrap() > 0));
    // Quality: a MOS per connected audio call, within the E-model's range.
    let mos = &v["quality"]["mos"];
    assert!(mos["count"].as_u64().unwrap() >= 1);
    let p50 = mos["p50"].as_f64().unwrap();
    assert!((1.0..=4.5).contains(&p50), "{mos}");
    let pair_calls: u64 =
        v["quality"]["by_pair_type"].as_array().unwrap().iter().map(|r| r["calls"].as_u64().unwrap()).sum();
    assert_eq!(pair_calls, connected);
    assert!(!v["links"].as_array().unwrap().is_empty());
}

#[test]
fn text_report_and_output_folder() {
    let dir = std::env::temp_dir().join(format!("icepath-population-out-{}", std::process::id()));
    let o = icepath(&["population", CONTOSO, "--duration", "10s", "-o", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("population: contoso (seed 7)"), "{out}");
    for section in ["calls:", "quality (p5 / median / p95, mean):", "Edges (TURN allocations", "busiest links"] {
        assert!(out.contains(section), "{section} missing:\n{out}");
    }
    for f in ["summary.json", "calls.json", "topology.yaml", "edge-allocations.svg", "edge-relay-bandwidth.svg"] {
        assert!(dir.join(f).exists(), "{f} written");
    }
    let svg = std::fs::read_to_string(dir.join("edge-allocations.svg")).unwrap();
    assert!(svg.contains("concurrent TURN allocations per Edge") && svg.contains("e1-1"));
    // The generated topology is an ordinary one.
    let c = icepath(&["check", dir.join("topology.yaml").to_str().unwrap()]);
    assert_eq!(c.status.code(), Some(0), "{}", stderr(&c));
}

#[test]
fn generate_writes_a_checked_topology() {
    let o = icepath(&["generate", CONTOSO]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let yaml = stdout(&o);
    assert!(yaml.contains("name: contoso") && yaml.contains("id: e1-1") && yaml.contains("kind: vpn-concentrator"));
    let p = write_temp("contoso-topology.yaml", &yaml);
    let c = icepath(&["check", p.to_str().unwrap()]);
    assert_eq!(c.status.code(), Some(0), "{}", stderr(&c));
    // Deterministic, and the seed matters.
    assert_eq!(yaml, stdout(&icepath(&["generate", CONTOSO])));
    assert_ne!(yaml, stdout(&icepath(&["generate", CONTOSO, "--seed", "8"])));
}

#[test]
fn a_bad_population_file_is_explained_not_a_panic() {
    let bad = SMALL
        .replace("symmetric: 50%", "symetric: 50%")
        .replace("servers: 2", "servers: two")
        .replace("duration: 8s", "duration: 8 minutes");
    let p = write_temp("bad.yaml", &bad);
    let file = p.to_str().unwrap();
    for cmd in ["population", "generate"] {
        let o = icepath(&[cmd, file]);
        assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
        let err = stderr(&o);
        assert!(err.contains(&format!("{file}:4:")) && err.contains("homes.nat.symetric"), "{err}");
        assert!(err.contains("hint: did you mean `symmetric`?"), "{err}");
        assert!(err.contains("edges.servers: expected a whole number"), "{err}");
        assert!(err.contains("calls.duration: expected a duration"), "{err}");
        assert!(err.contains("3 errors found"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // Not YAML at all, or not a map.
    for text in ["sites: [", "- 1\n- 2\n", ""] {
        let p = write_temp("worse.yaml", text);
        let o = icepath(&["population", p.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{text:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"));
    }
}

/// Two offices behind a slow WAN, every call placed at once. Media clocks must not be
/// phase-locked to the driver's steps: if every sender emitted its packets in the same
/// instant, each frame would reach the WAN as one burst and the streams would queue behind
/// each other, the last of 20 or so waiting milliseconds longer than the first (this run
/// spread them over 4.7 ms before senders got their own offsets). Independent clocks put
/// every cross-site stream within jitter of the same delay.
#[test]
fn simultaneous_calls_do_not_send_in_lockstep() {
    let spec = write_temp(
        "burst.yaml",
        "name: burst\nseed: 5\n\
         sites: {count: 2, users: 60, wan: {latency: 8ms, bandwidth: 10Mbit}}\n\
         homes: {users: 0}\n\
         edges: {pools: 1, servers: 2}\n\
         calls: {arrivals: concurrent, count: 60, ramp: 0s, duration: 4s, distribution: fixed, codec: pcmu}\n",
    );
    let out = std::env::temp_dir().join(format!("icepath-population-{}/burst-out", std::process::id()));
    let o = icepath(&["population", spec.to_str().unwrap(), "--duration", "1s", "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let calls: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("calls.json")).unwrap()).unwrap();
    // Streams that cross the WAN (two 8 ms links); same-site streams take well under 1 ms.
    let wan: Vec<f64> = calls
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["streams"].as_array().cloned().unwrap_or_default())
        .map(|s| s["delay_ms"].as_f64().unwrap())
        .filter(|&d| d > 5.0)
        .collect();
    assert!(wan.len() >= 20, "enough cross-site streams: {}", wan.len());
    let (lo, hi) = wan.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &d| (lo.min(d), hi.max(d)));
    assert!(hi - lo < 2.5, "cross-site delays spread from {lo} to {hi} ms: senders burst together");
}
