//! Walking the document tree: typed reads that record a diagnostic instead of stopping.
//!
//! A `Decoder` collects diagnostics; a `Path` names the place in the document
//! (`nodes[3].interfaces[0].address`); `Fields` reads one map, marking each key it uses so
//! that `finish` can report every key nobody asked for, with a "did you mean".

use std::fmt;

use super::tree::{Key, Node, Pos, Value};
use super::{Diagnostic, DupKind, Problem};

/// A place in the document, written the way users read it: `links[2].latency`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Path(String);

impl Path {
    pub fn root() -> Path {
        Path(String::new())
    }
    pub fn field(&self, name: &str) -> Path {
        if self.0.is_empty() { Path(name.to_string()) } else { Path(format!("{}.{name}", self.0)) }
    }
    pub fn index(&self, i: usize) -> Path {
        Path(format!("{}[{i}]", self.0))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A decoded value with the place it came from, kept for the checks that compare values
/// across the document (duplicates, references, subnets).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct At<T> {
    pub value: T,
    pub pos: Pos,
    pub path: Path,
}

/// Collects diagnostics for one file.
pub(crate) struct Decoder<'a> {
    file: &'a str,
    /// The file an overlay (`Pos::src == 1`) was read from, when one is patched in.
    overlay: Option<&'a str>,
    pub diagnostics: Vec<Diagnostic>,
}

impl<'a> Decoder<'a> {
    pub fn new(file: &'a str) -> Self {
        Decoder { file, overlay: None, diagnostics: Vec::new() }
    }

    /// A decoder for a document with parts patched in from `overlay` (positions with
    /// `src == 1` are reported against that file).
    pub fn with_overlay(file: &'a str, overlay: &'a str) -> Self {
        Decoder { file, overlay: Some(overlay), diagnostics: Vec::new() }
    }

    /// Records a problem at `pos`; its severity follows from the problem.
    pub fn report(&mut self, pos: Pos, path: &Path, problem: Problem, hint: Option<String>) {
        let file = match (pos.src, self.overlay) {
            (1, Some(o)) => o,
            _ => self.file,
        };
        self.diagnostics.push(Diagnostic::new(file, pos, path.as_str(), problem, hint));
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == super::Severity::Error)
    }

    /// Reports that `v` should have been `expected`.
    pub fn wrong_type(&mut self, v: &Value, path: &Path, expected: &str) {
        let found = v.describe();
        let found = match &v.node {
            Node::Scalar(_) => format!("the value {found}"),
            _ => found,
        };
        self.report(v.pos, path, Problem::WrongType { expected: expected.to_string(), found }, None);
    }

    /// Reports an invalid value with what a valid one looks like.
    pub fn invalid(&mut self, v: &Value, path: &Path, expected: &str, hint: Option<String>) {
        let problem = Problem::InvalidValue { expected: expected.to_string(), found: v.describe() };
        self.report(v.pos, path, problem, hint);
    }

    /// The entries of a map, reporting repeated keys (the first one wins).
    pub fn map<'t>(&mut self, v: &'t Value, path: &Path, expected: &str) -> Option<&'t [(Key, Value)]> {
        let Node::Map(entries) = &v.node else {
            self.wrong_type(v, path, expected);
            return None;
        };
        for (i, (key, _)) in entries.iter().enumerate() {
            if let Some((first, _)) = entries[..i].iter().find(|(k, _)| k.name == key.name) {
                let problem = Problem::Duplicate { kind: DupKind::Key, name: key.name.clone() };
                let hint = Some(format!("first defined at line {}; a key may appear once", first.pos.line));
                self.report(key.pos, &path.field(&key.name), problem, hint);
            }
        }
        Some(entries)
    }

    /// A map read field by field against the fields the schema knows.
    pub fn fields<'t>(
        &mut self,
        v: &'t Value,
        path: &Path,
        expected: &str,
        known: &'static [&'static str],
    ) -> Option<Fields<'t>> {
        let entries = self.map(v, path, expected)?;
        Some(Fields { entries, used: vec![false; entries.len()], pos: v.pos, path: path.clone(), known })
    }

    /// The items of a list.
    pub fn seq<'t>(&mut self, v: &'t Value, path: &Path, expected: &str) -> Option<&'t [Value]> {
        match &v.node {
            Node::Seq(items) => Some(items),
            _ => {
                self.wrong_type(v, path, expected);
                None
            }
        }
    }

    /// The text of a scalar (numbers and booleans in their canonical spelling).
    pub fn scalar<'t>(&mut self, v: &'t Value, path: &Path, expected: &str) -> Option<&'t str> {
        match &v.node {
            Node::Scalar(s) => Some(s),
            _ => {
                self.wrong_type(v, path, expected);
                None
            }
        }
    }

    /// A scalar as an `At<String>`.
    pub fn string(&mut self, v: &Value, path: &Path, expected: &str) -> Option<At<String>> {
        let s = self.scalar(v, path, expected)?;
        Some(At { value: s.to_string(), pos: v.pos, path: path.clone() })
    }

    /// An identifier: letters, digits, `.`, `_` and `-`.
    pub fn ident(&mut self, v: &Value, path: &Path, what: &str) -> Option<At<String>> {
        let expected = format!("{what} made of letters, digits, '.', '_' and '-'");
        let s = self.string(v, path, &expected)?;
        let ok = !s.value.is_empty()
            && s.value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Some(s)
        } else {
            self.invalid(v, path, &expected, None);
            None
        }
    }

    /// `true` or `false`.
    pub fn bool(&mut self, v: &Value, path: &Path) -> Option<bool> {
        match self.scalar(v, path, "true or false")? {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                self.invalid(v, path, "true or false", None);
                None
            }
        }
    }

    /// A whole number in `min..=max`.
    pub fn number(&mut self, v: &Value, path: &Path, min: u64, max: u64) -> Option<u64> {
        let expected = format!("a whole number from {min} to {max}");
        let s = self.scalar(v, path, &expected)?;
        match s.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.invalid(v, path, &expected, None);
                None
            }
        }
    }
}

/// One map being read: take the fields you know, then `finish` reports the rest.
pub(crate) struct Fields<'t> {
    entries: &'t [(Key, Value)],
    used: Vec<bool>,
    pub pos: Pos,
    pub path: Path,
    known: &'static [&'static str],
}

impl<'t> Fields<'t> {
    /// The first entry named `name`, if any; marks every entry of that name as read
    /// (repeats were reported when the map was opened).
    fn take(&mut self, name: &str) -> Option<&'t Value> {
        debug_assert!(self.known.contains(&name), "field `{name}` must be listed as known");
        let mut found = None;
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if k.name == name {
                self.used[i] = true;
                found.get_or_insert(v);
            }
        }
        found
    }

    /// An optional field; an empty value (`zone:` or `zone: null`) counts as absent.
    pub fn optional(&mut self, name: &str) -> Option<(&'t Value, Path)> {
        match self.take(name) {
            Some(v) if v.node != Node::Null => Some((v, self.path.field(name))),
            _ => None,
        }
    }

    /// A required field; reports its absence at the map that lacks it.
    pub fn required(&mut self, dc: &mut Decoder<'_>, name: &'static str) -> Option<(&'t Value, Path)> {
        match self.take(name) {
            Some(v) => Some((v, self.path.field(name))),
            None => {
                dc.report(self.pos, &self.path, Problem::MissingField { field: name }, None);
                None
            }
        }
    }

    /// Where the key `name` is written, for problems about the field as a whole (a field
    /// that does not belong on this kind of node).
    pub fn key_pos(&self, name: &str) -> Pos {
        self.entries.iter().find(|(k, _)| k.name == name).map_or(self.pos, |(k, _)| k.pos)
    }

    /// Reports every key that was not read, suggesting the closest known field.
    pub fn finish(self, dc: &mut Decoder<'_>) {
        for (i, (key, _)) in self.entries.iter().enumerate() {
            if self.used[i] {
                continue;
            }
            let hint = closest(&key.name, self.known.iter().copied()).map(|c| format!("did you mean `{c}`?"));
            let problem = Problem::UnknownField {
                field: key.name.clone(),
                expected: self.known.iter().map(|s| s.to_string()).collect(),
            };
            dc.report(key.pos, &self.path.field(&key.name), problem, hint);
        }
    }
}

/// The candidate closest to `found`, if one is close enough to be a likely typo: within
/// one edit per three characters, a case-only difference, or a high Jaro-Winkler score.
/// Ties go to the earliest candidate, so suggestions follow file order.
pub(crate) fn closest<'c>(found: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let lower = found.to_lowercase();
    let mut best: Option<((usize, usize), &str)> = None;
    for c in candidates {
        if c == found {
            continue;
        }
        // Rank by the case-blind distance first, so `mbit` prefers `Mbit` to `bit`.
        let rank = (strsim::damerau_levenshtein(&lower, &c.to_lowercase()), strsim::damerau_levenshtein(found, c));
        let close =
            rank.1 <= (found.chars().count() / 3).max(1) || rank.0 == 0 || strsim::jaro_winkler(found, c) >= 0.9;
        if close && best.is_none_or(|(r, _)| rank < r) {
            best = Some((rank, c));
        }
    }
    best.map(|(_, c)| c)
}

/// A hint for an unknown name: the likely intended one, or up to five that exist.
pub(crate) fn unknown_hint(found: &str, kind_plural: &str, candidates: &[&str]) -> String {
    if let Some(c) = closest(found, candidates.iter().copied()) {
        return format!("did you mean \"{c}\"?");
    }
    if candidates.is_empty() {
        return format!("no {kind_plural} are declared");
    }
    let shown: Vec<String> = candidates.iter().take(5).map(|c| format!("\"{c}\"")).collect();
    let more = if candidates.len() > 5 { format!(" and {} more", candidates.len() - 5) } else { String::new() };
    format!("known {kind_plural}: {}{more}", shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::tree::parse;

    #[test]
    fn did_you_mean() {
        assert_eq!(closest("wan1", ["lan", "wan-1", "wan-2"]), Some("wan-1"));
        assert_eq!(closest("rooter", ["host", "router"]), Some("router"));
        assert_eq!(closest("latncy", ["latency", "jitter"]), Some("latency"));
        assert_eq!(closest("mbit", ["bit", "Mbit"]), Some("Mbit"));
        assert_eq!(closest("core-rtr", ["core-router", "edge"]), Some("core-router"));
        assert_eq!(closest("zzz", ["latency", "jitter"]), None);
        assert_eq!(unknown_hint("x", "links", &[]), "no links are declared");
        assert_eq!(
            unknown_hint("zzzzzz", "links", &["a", "b", "c", "d", "e", "f"]),
            "known links: \"a\", \"b\", \"c\", \"d\", \"e\" and 1 more"
        );
    }

    #[test]
    fn paths_read_like_the_document() {
        let p = Path::root().field("nodes").index(3).field("interfaces").index(0).field("address");
        assert_eq!(p.as_str(), "nodes[3].interfaces[0].address");
    }

    #[test]
    fn fields_report_missing_unknown_and_repeated_keys() {
        let v = parse("id: a\nlatncy: 5ms\nid: b\n").unwrap();
        let mut dc = Decoder::new("f.yaml");
        let mut f = dc.fields(&v, &Path::root().field("links").index(0), "a link", &["id", "latency", "kind"]).unwrap();
        let id = f.required(&mut dc, "id").map(|(v, _)| v.describe());
        assert_eq!(id.as_deref(), Some("\"a\""));
        assert!(f.required(&mut dc, "kind").is_none());
        f.finish(&mut dc);
        let got: Vec<String> = dc.diagnostics.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            got,
            [
                "f.yaml:3:1: error: links[0].id: duplicate key \"id\"\n  hint: first defined at line 1; a key may appear once",
                "f.yaml:1:1: error: links[0]: missing required field `kind`",
                "f.yaml:2:1: error: links[0].latncy: unknown field `latncy`; expected one of id, latency, kind\n  hint: did you mean `latency`?",
            ]
        );
    }
}
