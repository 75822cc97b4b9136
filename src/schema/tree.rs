//! A YAML document as a tree of positioned nodes, before any meaning is given to it.
//!
//! `serde-saphyr` parses the text into `Spanned` values; we copy them into our own small
//! tree so that the decoder can walk every branch and report every problem, where a serde
//! derive would stop at the first. Scalars keep their text only: `1.50` arrives as the
//! float 1.5 and is kept as `"1.5"`, `true` as `"true"`; the decoder gives them meaning.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{DuplicateKeyPolicy, Location, MessageFormatter, Spanned};

/// Where a node starts in the source: 1-based line and character column, byte offset
/// and byte length (zero for collections and empty values).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: u32,
    pub column: u32,
    pub offset: usize,
    pub len: usize,
    /// Which file the node was read from: 0 for the document being decoded, 1 for an
    /// overlay patched into it (a scenario's overrides), so each problem names its own file.
    pub src: u8,
}

/// One node of the document.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    Null,
    Scalar(String),
    Seq(Vec<Value>),
    Map(Vec<(Key, Value)>),
}

/// A node with its position.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Value {
    pub node: Node,
    pub pos: Pos,
}

/// A mapping key with its position.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Key {
    pub name: String,
    pub pos: Pos,
}

/// Why the text is not a YAML document we can read.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SyntaxError {
    pub message: String,
    pub hint: Option<String>,
    pub pos: Pos,
}

impl Value {
    /// Marks this node and everything under it as read from file `src`.
    pub fn set_src(&mut self, src: u8) {
        self.pos.src = src;
        match &mut self.node {
            Node::Seq(items) => items.iter_mut().for_each(|v| v.set_src(src)),
            Node::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
                k.pos.src = src;
                v.set_src(src);
            }),
            Node::Null | Node::Scalar(_) => {}
        }
    }

    /// How this value reads in a "found ..." clause.
    pub fn describe(&self) -> String {
        match &self.node {
            Node::Null => "nothing".to_string(),
            Node::Scalar(s) => format!("{s:?}"),
            Node::Seq(_) => "a list".to_string(),
            Node::Map(_) => "a map".to_string(),
        }
    }
}

/// Parses `text` as a single YAML document. An empty document is `Node::Null`.
pub(crate) fn parse(text: &str) -> Result<Value, SyntaxError> {
    let mut options = serde_saphyr::Options::default();
    // Repeated keys reach the decoder, which reports them with the first definition.
    options.duplicate_keys = DuplicateKeyPolicy::PassThrough;
    // YAML 1.1 `yes`/`no`/`on`/`off` stay strings: `name: no` is a name, not `false`.
    options.strict_booleans = true;
    options.with_snippet = false;
    // The parser's default budget (250,000 nodes, a million events) guards against
    // documents built to exhaust memory; a plain document's size bounds its nodes anyway, so
    // a large generated topology (`icepath generate`) gets a budget that grows with its text.
    // Aliases stay bounded by the defaults.
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = budget.max_nodes.max(text.len() / 2);
    budget.max_events = budget.max_events.max(text.len());
    budget.max_total_scalar_bytes = budget.max_total_scalar_bytes.max(text.len());
    options.budget = Some(budget);
    match serde_saphyr::from_str_with_options::<Spanned<RawNode>>(text, options) {
        Ok(raw) => Ok(convert(raw, text)),
        Err(e) => {
            let inner = e.without_snippet();
            let message = serde_saphyr::UserMessageFormatter.format_message(inner);
            let message: String = message.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
            let pos = match e.location() {
                Some(l) => position(&l, text),
                None => Pos { line: 1, column: 1, offset: 0, len: 0, src: 0 },
            };
            let hint = syntax_hint(&message);
            Err(SyntaxError { message, hint, pos })
        }
    }
}

/// Advice for the parser messages people meet most often.
fn syntax_hint(message: &str) -> Option<String> {
    let hint = if message.contains("mapping values are not allowed") {
        "a `key:` where none can start: check this line's indentation, or quote a value that contains \": \""
    } else if message.contains("did not find expected '-'") || message.contains("did not find expected key") {
        "check the indentation: keys of one map, and items of one list, start in the same column"
    } else if message.contains("tab") {
        "YAML indents with spaces, not tabs"
    } else if message.contains("illegal placement of ':'") || message.contains("flow") {
        "is a `[` or `{` above left unclosed?"
    } else if message.contains("multiple") || message.contains("single YAML document") {
        "a topology file holds one document; remove the `---` separator"
    } else {
        return None;
    };
    Some(hint.to_string())
}

/// Byte offset of a 1-based (line, character column), clamped to the text.
pub(crate) fn offset_of(text: &str, line: u32, column: u32) -> usize {
    let mut start = 0;
    for _ in 1..line.max(1) {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return text.len(),
        }
    }
    let rest = &text[start..];
    let line_end = rest.find('\n').unwrap_or(rest.len());
    let skip = column.max(1) as usize - 1;
    match rest[..line_end].char_indices().nth(skip) {
        Some((i, _)) => start + i,
        None => start + line_end,
    }
}

/// The tree exactly as serde-saphyr hands it over.
enum RawNode {
    Null,
    Scalar(String),
    Seq(Vec<Spanned<RawNode>>),
    Map(Vec<(Spanned<String>, Spanned<RawNode>)>),
}

fn convert(raw: Spanned<RawNode>, text: &str) -> Value {
    let pos = position(&raw.referenced, text);
    let node = match raw.value {
        RawNode::Null => Node::Null,
        RawNode::Scalar(s) => Node::Scalar(s),
        RawNode::Seq(items) => Node::Seq(items.into_iter().map(|v| convert(v, text)).collect()),
        RawNode::Map(entries) => Node::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let key = Key { pos: position(&k.referenced, text), name: k.value };
                    let mut value = convert(v, text);
                    // `key:` with nothing after it: point at the key, not at empty space.
                    if value.node == Node::Null && value.pos.len == 0 {
                        value.pos = key.pos;
                    }
                    (key, value)
                })
                .collect(),
        ),
    };
    Value { node, pos }
}

fn position(l: &Location, text: &str) -> Pos {
    let line = u32::try_from(l.line()).unwrap_or(u32::MAX).max(1);
    let column = u32::try_from(l.column()).unwrap_or(u32::MAX).max(1);
    let span = l.span();
    let offset = match span.byte_offset() {
        Some(o) if (o as usize) <= text.len() => o as usize,
        _ => offset_of(text, line, column),
    };
    let len = span.byte_len().unwrap_or(0) as usize;
    let len = len.min(text.len() - offset);
    Pos { line, column, offset, len, src: 0 }
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawNode;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(v.to_string()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(v.to_string()))
    }
    fn visit_u128<E>(self, v: u128) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(v.to_string()))
    }
    fn visit_char<E>(self, v: char) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_unit<E>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }
    fn visit_none<E>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawNode, D::Error> {
        RawNode::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<RawNode, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = a.next_element()? {
            items.push(item);
        }
        Ok(RawNode::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<RawNode, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = a.next_entry()? {
            entries.push(entry);
        }
        Ok(RawNode::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(v: &Value) -> &str {
        match &v.node {
            Node::Scalar(s) => s,
            other => panic!("expected a scalar, got {other:?}"),
        }
    }

    #[test]
    fn scalars_keep_positions() {
        let v = parse("a: 1.50\nb:\n  - x\n").unwrap();
        let Node::Map(entries) = &v.node else { panic!("not a map") };
        assert_eq!(entries[0].0.name, "a");
        assert_eq!(scalar(&entries[0].1), "1.5");
        assert_eq!((entries[0].1.pos.line, entries[0].1.pos.column), (1, 4));
        assert_eq!(entries[0].1.pos.offset, 3);
        let Node::Seq(items) = &entries[1].1.node else { panic!("not a list") };
        assert_eq!(scalar(&items[0]), "x");
        assert_eq!((items[0].pos.line, items[0].pos.column), (3, 5));
    }

    #[test]
    fn empty_value_points_at_its_key() {
        let v = parse("top:\n  key:\n").unwrap();
        let Node::Map(entries) = &v.node else { panic!("not a map") };
        let Node::Map(inner) = &entries[0].1.node else { panic!("not a map") };
        assert_eq!(inner[0].1.node, Node::Null);
        assert_eq!((inner[0].1.pos.line, inner[0].1.pos.column), (2, 3));
    }

    #[test]
    fn yes_is_a_string_and_duplicates_pass_through() {
        let v = parse("a: yes\na: no\n").unwrap();
        let Node::Map(entries) = &v.node else { panic!("not a map") };
        assert_eq!(entries.len(), 2);
        assert_eq!(scalar(&entries[0].1), "yes");
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(e.pos.line, 2);
        assert!(!e.message.is_empty());
    }

    #[test]
    fn offsets_follow_characters() {
        let text = "ab\ncé: x\n";
        assert_eq!(offset_of(text, 2, 5), 8);
        assert_eq!(offset_of(text, 9, 1), text.len());
        assert_eq!(offset_of(text, 1, 99), 2);
    }
}
