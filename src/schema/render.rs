//! Diagnostics as text for people: each compiler-style line with a snippet of the source.
//!
//! The output is plain text, no colour, and depends only on its inputs, so it can be
//! compared byte for byte in golden tests.

use std::fmt::Write;

use super::Diagnostic;
use super::tree::offset_of;

/// Renders every diagnostic followed by the offending source line with a caret under the
/// column, and a blank line after each:
///
/// ```text
/// topologies/x.yaml:14:18: error: nodes[2].interfaces[0].address: expected ...; found "192.168.1.300/24"
///   hint: each of the four numbers is at most 255
///    |
/// 14 |         address: 192.168.1.300/24
///    |                  ^^^^^^^^^^^^^^^^
/// ```
pub fn render(diagnostics: &[Diagnostic], source: &str) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let _ = writeln!(out, "{d}");
        snippet(&mut out, d, source);
        out.push('\n');
    }
    out
}

/// The line holding the diagnostic, with carets under its span (at least one).
fn snippet(out: &mut String, d: &Diagnostic, source: &str) {
    // Trust the byte offset when it points into this text at the stated line; otherwise
    // find the place from line and column (the caller may pass other text than was loaded).
    let by_offset = d.offset <= source.len()
        && source.is_char_boundary(d.offset)
        && source[..d.offset].matches('\n').count() + 1 == d.line as usize;
    let start = if by_offset { d.offset } else { offset_of(source, d.line, d.column) };
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..].find('\n').map_or(source.len(), |i| start + i);
    let line = source[line_start..line_end].trim_end_matches('\r');
    let before = &source[line_start..start.min(line_start + line.len())];
    let span_end = if by_offset { d.offset.saturating_add(d.len).min(line_start + line.len()) } else { start };
    let width = source.get(start..span_end).map_or(0, |s| s.chars().count()).max(1);

    let number = d.line.to_string();
    let gutter = " ".repeat(number.len());
    let pad: String = before.chars().map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
    let shown: String = line.chars().map(|c| if c.is_control() && c != '\t' { '\u{FFFD}' } else { c }).collect();
    let _ = writeln!(out, "{gutter} |");
    let _ = writeln!(out, "{number} | {shown}");
    let _ = writeln!(out, "{gutter} | {pad}{}", "^".repeat(width));
}

#[cfg(test)]
mod tests {
    use crate::schema::load_topology;

    use super::*;

    #[test]
    fn snippet_points_at_the_value() {
        let text = "links: []\nnodes:\n  - id: a\n    kind: rooter\n    interfaces: []\n";
        let err = load_topology("t.yaml", text).unwrap_err();
        let out = render(&err.diagnostics, text);
        let expected = "\
t.yaml:4:11: error: nodes[0].kind: expected a node kind: host or router; found \"rooter\"
  hint: did you mean \"router\"?
  |
4 |     kind: rooter
  |           ^^^^^^
";
        assert!(out.starts_with(expected), "{out}");
        assert!(out.ends_with("^\n\n"), "{out}");
    }

    #[test]
    fn snippet_survives_other_text() {
        let text = "a: 1\n";
        let err = load_topology("t.yaml", text).unwrap_err();
        // Rendering against unrelated or empty text must not panic.
        let _ = render(&err.diagnostics, "");
        let _ = render(&err.diagnostics, "é\té\n\n");
    }

    #[test]
    fn nothing_to_say_is_empty() {
        assert_eq!(render(&[], "x"), "");
    }
}
