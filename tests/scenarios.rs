//! The regression suite: every scenario under `scenarios/` (the designs of
//! `../shared/SCENARIOS.md`) runs through the library, as `icepath test scenarios/` would,
//! and every expectation and every mutant must hold.

use std::path::PathBuf;

use icepath::suite::{RunOptions, SuiteEntry, collect, run_suite, suite_text};

#[test]
fn every_documented_scenario_passes_and_every_mutant_is_caught() {
    let files = collect(&[PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"))]).expect("list scenarios");
    assert!(files.len() >= 5, "found only {} scenario files", files.len());
    let entries = run_suite(&files, RunOptions::default());
    let text = suite_text(&entries);
    let failures: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL") || l.starts_with("       ")).collect();
    assert!(failures.is_empty(), "{}\n{}", failures.join("\n"), text.lines().last().unwrap_or_default());
    for e in &entries {
        let SuiteEntry::Ran(r) = e else { panic!("{} did not load", e.file()) };
        // A scenario without a mutant has expectations nothing was shown to break.
        assert!(!r.mutants.is_empty(), "{} has no mutants", r.file);
        assert!(r.lines().len() > r.mutants.len(), "{} has no expectations", r.file);
    }
}
