//! `load_topology` never panics: not on arbitrary text, not on mutations of the bundled
//! topologies (lines deleted, duplicated or swapped, a character replaced, a truncation).
//! Rendering whatever it reports must not panic either.

use icepath::schema::{load_topology, render};
use proptest::prelude::*;

const BUNDLED: [&str; 6] = [
    include_str!("../topologies/home-isp.yaml"),
    include_str!("../topologies/enterprise-lan.yaml"),
    include_str!("../topologies/branch-office.yaml"),
    include_str!("../topologies/home-nats.yaml"),
    include_str!("../topologies/remote-worker-vpn.yaml"),
    include_str!("../topologies/enterprise-edge.yaml"),
];

/// Loads and renders, checking the invariants of the result along the way.
fn load_and_render(text: &str) {
    match load_topology("fuzz.yaml", text) {
        Ok(loaded) => {
            let _ = render(&loaded.warnings, text);
        }
        Err(err) => {
            assert!(!err.diagnostics.is_empty(), "a failed load explains itself");
            assert!(
                err.diagnostics.windows(2).all(|w| (w[0].line, w[0].column) <= (w[1].line, w[1].column)),
                "diagnostics are sorted"
            );
            let _ = render(&err.diagnostics, text);
            let _ = err.to_string();
        }
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(256)
}

#[derive(Clone, Debug)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Replace(usize, char),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        (
            any::<usize>(),
            prop::sample::select(vec![
                ' ', ':', '-', '#', '[', '{', '"', '\'', '\t', '\n', '0', '9', '/', '.', '%', '&', '*', 'x', 'é'
            ])
        )
            .prop_map(|(i, c)| Mutation::Replace(i, c)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    let n = lines.len().max(1);
    match *m {
        Mutation::Delete(i) => {
            if !lines.is_empty() {
                lines.remove(i % n);
            }
        }
        Mutation::Duplicate(i) => {
            if !lines.is_empty() {
                lines.insert(i % n, lines[i % n]);
            }
        }
        Mutation::Swap(a, b) => {
            if !lines.is_empty() {
                lines.swap(a % n, b % n);
            }
        }
        Mutation::Replace(i, c) => {
            let mut chars: Vec<char> = text.chars().collect();
            if !chars.is_empty() {
                let at = i % chars.len();
                chars[at] = c;
            }
            return chars.into_iter().collect();
        }
        Mutation::Truncate(i) => {
            let chars: Vec<char> = text.chars().collect();
            return chars[..i % (chars.len() + 1)].iter().collect();
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

proptest! {
    // 256 cases by default keeps this to about a second; PROPTEST_CASES=100000 digs deeper.
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        load_and_render(&text);
    }

    #[test]
    fn yaml_looking_text_never_panics(text in "[a-z0-9 :\\-\\[\\]{}/.%\n#\"]{0,200}") {
        load_and_render(&text);
    }

    #[test]
    fn mutated_topologies_never_panic(
        which in 0..BUNDLED.len(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut text = BUNDLED[which].to_string();
        for m in &mutations {
            text = apply(&text, m);
        }
        load_and_render(&text);
    }
}
