//! Judging a call's outcome against the scenario's expectations. Each expectation becomes a
//! `Check`: what was expected, whether it held, and what the run showed instead.

use serde::Serialize;

use super::file::{Bound, CandidatePattern, Expect};
use crate::proto::ice::{Profile, relay_allocated_over};
use crate::scenario::{CallOutcome, Direction, PathMedia};
use crate::wire::Protocol;

/// One expectation, judged.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    /// The expectation as the scenario states it (`via [edge01]`).
    pub what: String,
    pub passed: bool,
    /// What the run showed (always filled, so a passing line also says why).
    pub detail: String,
}

impl Check {
    fn new(what: impl Into<String>, passed: bool, detail: impl Into<String>) -> Check {
        Check { what: what.into(), passed, detail: detail.into() }
    }
}

/// The selected pair's stream from caller to callee: the one quality bounds and the
/// media path are judged on.
pub(crate) fn selected_path(o: &CallOutcome) -> Option<&PathMedia> {
    o.media_paths.iter().find(|m| m.selected && m.direction == Direction::CallerToCallee)
}

fn pair_text(local: &str, remote: &str) -> String {
    format!("{local} -> {remote}")
}

fn pattern_text(p: &Option<CandidatePattern>) -> String {
    p.as_ref().map_or_else(|| "any".to_string(), |p| p.to_string())
}

fn bound_text(name: &str, b: &Bound, unit: &str, scale: f64) -> String {
    let show = |x: f64| format!("{}{unit}", trim(x * scale));
    match (b.min, b.max) {
        (Some(lo), Some(hi)) => format!("{name} in {}..{}", show(lo), show(hi)),
        (Some(lo), None) => format!("{name} >= {}", show(lo)),
        (None, Some(hi)) => format!("{name} <= {}", show(hi)),
        (None, None) => name.to_string(),
    }
}

/// A number without trailing zeros: 150, 4.2, 0.5.
fn trim(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

fn within(b: &Bound, x: f64) -> bool {
    b.min.is_none_or(|lo| x >= lo) && b.max.is_none_or(|hi| x <= hi)
}

/// Judges one expectation; `calls` are the scenario's other calls by name (for
/// comparisons).
pub(crate) fn judge(e: &Expect, o: &CallOutcome, calls: &[(&str, &CallOutcome)]) -> Check {
    match e {
        Expect::WorseThan(other) => {
            let what = format!("media worse than on \"{}\" (higher delay and jitter)", other.value);
            let Some((_, them)) = calls.iter().find(|(n, _)| *n == other.value) else {
                return Check::new(what, false, "no such call ran");
            };
            let stats = |o: &CallOutcome| {
                selected_path(o).and_then(|p| p.summary.delay.as_ref().map(|d| (d.mean, p.summary.jitter)))
            };
            match (stats(o), stats(them)) {
                (Some((d1, j1)), Some((d2, j2))) => {
                    let detail = format!(
                        "{:.1} ms / {:.1} ms jitter here, {:.1} ms / {:.1} ms jitter there",
                        d1.as_millis_f64(),
                        j1.as_millis_f64(),
                        d2.as_millis_f64(),
                        j2.as_millis_f64()
                    );
                    Check::new(what, d1 > d2 && j1 > j2, detail)
                }
                _ => Check::new(what, false, "one of the calls measured no media on its selected path"),
            }
        }
        Expect::Connected(want) => {
            let what = format!("result {}", if *want { "connected" } else { "failed" });
            let detail = match (&o.selected, &o.failure) {
                (Some(s), _) => format!("connected on {}", pair_text(&s.local, &s.remote)),
                (None, Some(f)) => format!("failed: {f}"),
                (None, None) => "failed".to_string(),
            };
            Check::new(what, o.connected() == *want, detail)
        }
        Expect::SignalingOk(want) => {
            let what = format!("signaling {}", if *want { "ok" } else { "failed" });
            let detail = if o.signaling_ok { "the INVITE was answered with candidates" } else { "no answer" };
            Check::new(what, o.signaling_ok == *want, detail)
        }
        Expect::Selected { local, remote } => {
            let what = format!("selected {} -> {}", pattern_text(local), pattern_text(remote));
            match &o.selected {
                Some(s) => {
                    let (l, r) = (named(o, &s.local, true), named(o, &s.remote, false));
                    let ok =
                        local.as_ref().is_none_or(|p| p.matches(&l)) && remote.as_ref().is_none_or(|p| p.matches(&r));
                    Check::new(what, ok, format!("selected {}", pair_text(&l, &r)))
                }
                None => Check::new(what, false, "no pair was selected"),
            }
        }
        Expect::EarlyMedia(None) => {
            let ok = match (&o.early_media, &o.selected) {
                (None, _) => true,
                // Early media on the pair that is also the final one is no early media.
                (Some(e), Some(s)) => e.local == s.local && e.remote == s.remote,
                (Some(_), None) => false,
            };
            let detail = o.early_media.as_ref().map_or_else(
                || "no early media".to_string(),
                |e| format!("first valid pair {} at {}", pair_text(&e.local, &e.remote), e.at),
            );
            Check::new("no early media on another pair", ok, detail)
        }
        Expect::EarlyMedia(Some((local, remote))) => {
            let what = format!("early media on {} -> {}", pattern_text(local), pattern_text(remote));
            match &o.early_media {
                Some(e) => {
                    let (l, r) = (named(o, &e.local, true), named(o, &e.remote, false));
                    let ok =
                        local.as_ref().is_none_or(|p| p.matches(&l)) && remote.as_ref().is_none_or(|p| p.matches(&r));
                    Check::new(what, ok, format!("early media on {} at {}", pair_text(&l, &r), e.at))
                }
                None => Check::new(what, false, "no pair became valid"),
            }
        }
        Expect::Promoted(want) => {
            let what = if *want { "media promoted by re-INVITE" } else { "media not promoted" };
            let detail = o.promoted_at.map_or_else(|| "no promotion".to_string(), |t| format!("promoted at {t}"));
            Check::new(what, o.promoted_at.is_some() == *want, detail)
        }
        Expect::Via(nodes) | Expect::Avoids(nodes) => {
            let via = matches!(e, Expect::Via(_));
            let names: Vec<&str> = nodes.iter().map(|n| n.value.as_str()).collect();
            let what = format!("media path {} [{}]", if via { "via" } else { "avoids" }, names.join(", "));
            let Some(path) = selected_path(o) else {
                return Check::new(what, false, "no media was measured on a selected path");
            };
            let on_path = |n: &str| path.nodes.iter().any(|p| p == n);
            let ok = if via { names.iter().all(|n| on_path(n)) } else { !names.iter().any(|n| on_path(n)) };
            Check::new(what, ok, format!("media path: {}", path.nodes.join(" > ")))
        }
        Expect::Delay(b) | Expect::Jitter(b) | Expect::Loss(b) | Expect::Mos(b) => quality(e, b, o),
        Expect::TimeToConnect(b) => {
            let what = bound_text("time to connect", b, "s", 1.0);
            match o.time_to_connect {
                Some(t) => {
                    let secs = t.as_millis_f64() / 1000.0;
                    Check::new(what, within(b, secs), format!("connected in {t}"))
                }
                None => Check::new(what, false, "never connected"),
            }
        }
        Expect::FailureMentions(words) => {
            let what = format!("failure mentions {}", quoted(words));
            let Some(f) = &o.failure else {
                return Check::new(what, false, "the call did not fail");
            };
            let mut text = f.clone();
            for line in o.pairs.iter().map(|p| &p.reason).chain(&o.gathering) {
                text.push('\n');
                text.push_str(line);
            }
            let missing: Vec<&String> = words.iter().filter(|w| !text.contains(w.as_str())).collect();
            let detail = explanation(o).unwrap_or_else(|| f.clone());
            if missing.is_empty() {
                Check::new(what, true, detail)
            } else {
                Check::new(what, false, format!("missing {}; the run said: {detail}", quoted(&missing)))
            }
        }
        Expect::PairsMention(words) => {
            let what = format!("pair table mentions {}", quoted(words));
            let text: Vec<&str> = o.pairs.iter().map(|p| p.reason.as_str()).collect();
            let all = text.join("\n");
            let missing: Vec<&String> = words.iter().filter(|w| !all.contains(w.as_str())).collect();
            let hit = o.pairs.iter().find(|p| words.iter().any(|w| p.reason.contains(w.as_str())));
            let detail = hit.map_or_else(
                || "no pair's reason matches".to_string(),
                |p| format!("{}: {}", pair_text(&p.local, &p.remote), p.reason),
            );
            Check::new(what, missing.is_empty(), detail)
        }
        Expect::Candidates { caller, has, lacks } => {
            let (who, lines) =
                if *caller { (&o.caller, &o.caller_candidates) } else { (&o.callee, &o.callee_candidates) };
            let list = |v: &[CandidatePattern]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ");
            let mut parts = Vec::new();
            if !has.is_empty() {
                parts.push(format!("has [{}]", list(has)));
            }
            if !lacks.is_empty() {
                parts.push(format!("lacks [{}]", list(lacks)));
            }
            let what = format!("candidates of {who} {}", parts.join(" and "));
            let profile = profile_of(o);
            let present = |p: &CandidatePattern| lines.iter().any(|l| p.matches_sdp(l, profile));
            let ok = has.iter().all(present) && !lacks.iter().any(present);
            let kinds: Vec<String> = lines.iter().map(|l| short_candidate(l, profile)).collect();
            Check::new(
                what,
                ok,
                format!("offered: {}", if kinds.is_empty() { "none".into() } else { kinds.join(", ") }),
            )
        }
        Expect::BestPath(want) => {
            let what =
                if *want { "ICE chose the best-quality path" } else { "a better path than ICE's choice existed" };
            let Some(sel) = selected_path(o).and_then(|p| p.mos) else {
                return Check::new(what, false, "no MOS on a selected path");
            };
            let best = o
                .media_paths
                .iter()
                .filter(|p| p.direction == Direction::CallerToCallee)
                .filter_map(|p| p.mos)
                .fold(f64::MIN, f64::max);
            // Within 0.01 MOS counts as equal: reports round to two decimals.
            let is_best = sel + 0.01 >= best;
            let detail = o.verdict.clone().unwrap_or_else(|| format!("selected MOS {sel:.2}, best {best:.2}"));
            Check::new(what, is_best == *want, detail)
        }
    }
}

fn quality(e: &Expect, b: &Bound, o: &CallOutcome) -> Check {
    let (name, unit, scale) = match e {
        Expect::Delay(_) => ("mean one-way delay", "ms", 1.0),
        Expect::Jitter(_) => ("jitter", "ms", 1.0),
        Expect::Loss(_) => ("loss", "%", 100.0),
        _ => ("MOS", "", 1.0),
    };
    let what = bound_text(name, b, unit, scale);
    let Some(path) = selected_path(o) else {
        return Check::new(what, false, "no media was measured on a selected path");
    };
    let s = &path.summary;
    let value = match e {
        Expect::Delay(_) => s.delay.as_ref().map(|d| d.mean.as_millis_f64()),
        Expect::Jitter(_) => Some(s.jitter.as_millis_f64()),
        Expect::Loss(_) => Some(s.loss_fraction),
        _ => path.mos,
    };
    match value {
        Some(x) => Check::new(what, within(b, x), format!("{name} {}{unit} on {}", trim(x * scale), path.path)),
        None => Check::new(what, false, format!("no {name} on {}", path.path)),
    }
}

fn quoted<S: AsRef<str>>(words: &[S]) -> String {
    words.iter().map(|w| format!("\"{}\"", w.as_ref())).collect::<Vec<_>>().join(", ")
}

/// The first pair reason that names a device, for a failure's detail.
fn explanation(o: &CallOutcome) -> Option<String> {
    if let Some(g) = o.gathering.first() {
        return Some(g.clone());
    }
    o.pairs.iter().find(|p| p.reason.contains("dropped by")).map(|p| {
        let at = p.reason.find("dropped by").unwrap_or(0);
        format!("{}: {}", pair_text(&p.local, &p.remote), &p.reason[at..])
    })
}

fn profile_of(o: &CallOutcome) -> Profile {
    if o.profile == "rfc8445" { Profile::Rfc8445 } else { Profile::MsIce2 }
}

/// The transport a relayed SDP line's allocation was made over (`None` when the line is not
/// a relayed UDP candidate).
fn relay_transport(w: &[&str], profile: Profile) -> Option<Protocol> {
    let typ = w.iter().position(|x| *x == "typ")?;
    if w.get(typ + 1) != Some(&"relay") || !w.get(2)?.eq_ignore_ascii_case("udp") {
        return None;
    }
    relay_allocated_over(w.get(3)?.parse().ok()?, profile)
}

/// `a=candidate:1 1 UDP 2130706431 10.0.0.1 50000 typ host` → `host udp 10.0.0.1`; a relay
/// allocated over TCP reads `relay tcp 203.0.113.20`.
pub(crate) fn short_candidate(line: &str, profile: Profile) -> String {
    let w: Vec<&str> = line.split_whitespace().collect();
    let kind = w.iter().position(|x| *x == "typ").and_then(|i| w.get(i + 1)).copied().unwrap_or("?");
    let transport = match relay_transport(&w, profile) {
        Some(p) => p.to_string().to_ascii_lowercase(),
        None => w.get(2).map(|t| t.to_ascii_lowercase()).unwrap_or_default(),
    };
    let addr = w.get(4).copied().unwrap_or("?");
    format!("{kind} {transport} {addr}")
}

/// A chosen pair's candidate (`relay udp 203.0.113.20:50001`) named as expectations name it:
/// a relay by the transport it was allocated over, found in the SDP of its side (the
/// caller's for `local`, the callee's for `remote`).
pub(crate) fn named(o: &CallOutcome, described: &str, local: bool) -> String {
    let mut words = described.split_whitespace();
    let (Some("relay"), Some(_), Some(addr)) = (words.next(), words.next(), words.next()) else {
        return described.to_string();
    };
    let lines = if local { &o.caller_candidates } else { &o.callee_candidates };
    let found = lines.iter().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        let here = format!("{}:{}", w.get(4)?, w.get(5)?);
        if here == addr { relay_transport(&w, profile_of(o)) } else { None }
    });
    match found {
        Some(p) => format!("relay {} {addr}", p.to_string().to_ascii_lowercase()),
        None => described.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_patterns_match_descriptions_and_sdp() {
        let relay_udp = CandidatePattern { kind: "relay".into(), transport: Some("udp".into()) };
        let host = CandidatePattern { kind: "host".into(), transport: None };
        assert!(relay_udp.matches("relay udp 203.0.113.20:50000"));
        assert!(!relay_udp.matches("relay tcp 203.0.113.20:50001"));
        assert!(host.matches("host tcp 10.0.0.1:9"));
        let line = "a=candidate:2 1 UDP 15859711 203.0.113.20 50000 typ relay raddr 10.0.2.50 rport 50000";
        assert!(relay_udp.matches_sdp(line, Profile::MsIce2));
        assert!(!host.matches_sdp(line, Profile::MsIce2));
        assert_eq!(short_candidate(line, Profile::MsIce2), "relay udp 203.0.113.20");
        // The same relayed address allocated over TCP 443 (transport preference 6).
        let relay_tcp = CandidatePattern { kind: "relay".into(), transport: Some("tcp".into()) };
        let line = "a=candidate:3 1 UDP 6422527 203.0.113.20 50001 typ relay raddr 10.0.2.50 rport 50001";
        assert!(relay_tcp.matches_sdp(line, Profile::MsIce2) && !relay_udp.matches_sdp(line, Profile::MsIce2));
        assert_eq!(short_candidate(line, Profile::MsIce2), "relay tcp 203.0.113.20");
    }

    #[test]
    fn bounds_read_aloud() {
        let b = Bound { min: None, max: Some(150.0) };
        assert_eq!(bound_text("delay", &b, "ms", 1.0), "delay <= 150ms");
        let b = Bound { min: Some(0.001), max: Some(0.02) };
        assert_eq!(bound_text("loss", &b, "%", 100.0), "loss in 0.1%..2%");
        assert!(within(&b, 0.01) && !within(&b, 0.03) && !within(&b, 0.0));
    }
}
