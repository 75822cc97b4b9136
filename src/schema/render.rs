//! Diagnostics as text for people: each compiler-style line with a snippet of the source.
//!
//! `render` is plain text, no colour, and depends only on its inputs, so it can be compared
//! byte for byte in golden tests and read in CI logs; its first line per problem is the
//! `file:line:col:` form editors jump to. `render_fancy` hands the same diagnostics to
//! miette's graphical reporter (colours, labelled source boxes) for a terminal.

use std::fmt::{self, Write};

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode};

use super::tree::offset_of;
use super::{Diagnostic, Severity};

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

/// Renders with miette's graphical reporter. `color` picks its coloured Unicode theme (for a
/// terminal) or the colourless one; the width is fixed so output does not depend on the
/// terminal's size.
pub fn render_fancy(diagnostics: &[Diagnostic], source: &str, color: bool) -> String {
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    for d in diagnostics {
        let named = NamedSource::new(&d.file, source.to_string());
        let fancy = Fancy { d, source: named };
        // Writing into a String cannot fail.
        let _ = handler.render_report(&mut out, &fancy);
    }
    out
}

/// A diagnostic bound to its source text, as miette wants it.
struct Fancy<'a> {
    d: &'a Diagnostic,
    source: NamedSource<String>,
}

impl fmt::Debug for Fancy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.d, f)
    }
}

impl fmt::Display for Fancy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.d;
        write!(f, "{}:{}:{}: ", d.file, d.line, d.column)?;
        if !d.path.is_empty() {
            write!(f, "{}: ", d.path)?;
        }
        f.write_str(&d.message)
    }
}

impl std::error::Error for Fancy<'_> {}

impl miette::Diagnostic for Fancy<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.d.hint.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let text = self.source.inner();
        let d = self.d;
        // Same placement rule as the plain snippet: trust the offset when it is consistent.
        let offset = if d.offset <= text.len() && text.is_char_boundary(d.offset) {
            d.offset
        } else {
            offset_of(text, d.line, d.column)
        };
        let len =
            if text.is_char_boundary((offset + d.len).min(text.len())) { d.len.min(text.len() - offset) } else { 0 };
        let label = match &d.path {
            p if p.is_empty() => "here".to_string(),
            p => p.rsplit('.').next().unwrap_or(p).to_string(),
        };
        Some(Box::new(std::iter::once(LabeledSpan::new(Some(label), offset, len))))
    }
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
    fn fancy_rendering_shows_place_label_and_hint() {
        let text = "links:\n  - id: a\n    latency: 20 parsecs\nnodes: []\n";
        let err = load_topology("t.yaml", text).unwrap_err();
        let out = render_fancy(&err.diagnostics, text, false);
        assert!(out.contains("t.yaml:3:14: links[0].latency: expected a duration"), "{out}");
        assert!(out.contains("[t.yaml:3:14]"), "{out}");
        assert!(out.contains("latency: 20 parsecs"), "{out}");
        assert!(!out.contains('\u{1b}'), "no colour codes without colour: {out}");
    }

    #[test]
    fn snippet_points_at_the_value() {
        let text = "links: []\nnodes:\n  - id: a\n    kind: rooter\n    interfaces: []\n";
        let err = load_topology("t.yaml", text).unwrap_err();
        let out = render(&err.diagnostics, text);
        let expected = "\
t.yaml:4:11: error: nodes[0].kind: expected a node kind: one of host, router, nat, firewall, vpn-concentrator, edge, dns; found \"rooter\"
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
