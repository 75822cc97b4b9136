//! Shared helpers for the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

pub mod matrix;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

/// Compares `actual` with the golden file at `path` (relative to the crate root). With
/// `UPDATE_GOLDEN=1` in the environment it rewrites the file instead: regenerate on purpose,
/// then review the diff like code.
pub fn check_golden(path: &str, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        if let Some(dir) = Path::new(path).parent() {
            fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        }
        fs::write(path, actual).unwrap_or_else(|e| panic!("writing {path}: {e}"));
        return;
    }
    let expected = fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {path}: {e}; run with UPDATE_GOLDEN=1 to create it"));
    if actual != expected {
        panic!(
            "output differs from {path} (run with UPDATE_GOLDEN=1 to accept)\n--- expected\n{expected}\n--- actual\n{actual}"
        );
    }
}

/// Runs the `icepath` binary with `args` from the crate root.
pub fn icepath(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_icepath"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running the icepath binary")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("stderr is UTF-8")
}
