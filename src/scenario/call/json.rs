//! The call outcome as JSON: pretty-printed like the rest of icepath's JSON, except that the
//! value of every `samples` key is written on one line. A minute of audio is 3,000 samples
//! per path and direction; one per line (four lines each, pretty) would drown the report.

use std::io;

use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};

/// `value` as pretty JSON with compact `samples`, and a final newline.
pub(super) fn to_json<T: Serialize>(value: &T) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, CompactSamples::default());
    value.serialize(&mut ser).expect("invariant: the call outcome serializes");
    let mut s = String::from_utf8(out).expect("invariant: serde_json writes UTF-8");
    s.push('\n');
    s
}

/// A pretty formatter that hands the value of a `samples` key to compact formatting.
#[derive(Default)]
struct CompactSamples {
    pretty: PrettyFormatter<'static>,
    /// The object key being written, while it is written.
    key: Option<Vec<u8>>,
    /// The last key written: decides how its value is written.
    last_key: Vec<u8>,
    /// Inside a compact value: how many arrays and objects are open within it.
    compact: Option<usize>,
    /// Inside a compact value: whether the open container already has an element.
    has_element: Vec<bool>,
}

const COMPACT_KEY: &[u8] = b"samples";

impl CompactSamples {
    fn open(&mut self) {
        if let Some(n) = self.compact.as_mut() {
            *n += 1;
            self.has_element.push(false);
        }
    }

    fn close(&mut self) {
        if let Some(n) = self.compact.as_mut() {
            *n = n.saturating_sub(1);
            self.has_element.pop();
        }
    }

    /// A separator before an element of the innermost compact container.
    fn separator<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        if let Some(seen) = self.has_element.last_mut() {
            if *seen {
                w.write_all(b",")?;
            }
            *seen = true;
        }
        Ok(())
    }
}

impl Formatter for CompactSamples {
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.compact.is_some() {
            self.open();
            return w.write_all(b"[");
        }
        self.pretty.begin_array(w)
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.compact.is_some() {
            self.close();
            return w.write_all(b"]");
        }
        self.pretty.end_array(w)
    }

    fn begin_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if self.compact.is_some() {
            return self.separator(w);
        }
        self.pretty.begin_array_value(w, first)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.compact.is_some() {
            return Ok(());
        }
        self.pretty.end_array_value(w)
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.compact.is_some() {
            self.open();
            return w.write_all(b"{");
        }
        self.pretty.begin_object(w)
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.compact.is_some() {
            self.close();
            return w.write_all(b"}");
        }
        self.pretty.end_object(w)
    }

    fn begin_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if self.compact.is_some() {
            return self.separator(w);
        }
        self.key = Some(Vec::new());
        self.pretty.begin_object_key(w, first)
    }

    fn end_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        if let Some(k) = self.key.take() {
            self.last_key = k;
        }
        if self.compact.is_some() {
            return Ok(());
        }
        self.pretty.end_object_key(w)
    }

    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, w: &mut W, fragment: &str) -> io::Result<()> {
        if let Some(k) = self.key.as_mut() {
            k.extend_from_slice(fragment.as_bytes());
        }
        w.write_all(fragment.as_bytes())
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.compact.is_some() {
            return w.write_all(b":");
        }
        self.pretty.begin_object_value(w)?;
        if self.last_key == COMPACT_KEY {
            self.compact = Some(0);
        }
        Ok(())
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        match self.compact {
            // A value inside the compact region.
            Some(n) if n > 0 => Ok(()),
            // The compact value itself is done: back to pretty.
            Some(_) => {
                self.compact = None;
                self.has_element.clear();
                self.pretty.end_object_value(w)
            }
            None => self.pretty.end_object_value(w),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Inner {
        name: &'static str,
        samples: Vec<(u64, Option<u64>)>,
        after: Vec<u32>,
    }

    #[derive(Serialize)]
    struct Outer {
        list: Vec<Inner>,
        samples: Vec<Vec<u32>>,
        tail: u8,
    }

    #[test]
    fn samples_are_one_line_and_the_rest_is_pretty() {
        let v = Outer {
            list: vec![Inner { name: "a", samples: vec![(1, Some(2)), (3, None)], after: vec![7, 8] }],
            samples: vec![],
            tail: 9,
        };
        let text = to_json(&v);
        let expected = r#"{
  "list": [
    {
      "name": "a",
      "samples": [[1,2],[3,null]],
      "after": [
        7,
        8
      ]
    }
  ],
  "samples": [],
  "tail": 9
}
"#;
        assert_eq!(text, expected);
        // Still JSON, and the same JSON as the plain pretty printer's.
        let a: serde_json::Value = serde_json::from_str(&text).unwrap();
        let b: serde_json::Value = serde_json::from_str(&serde_json::to_string_pretty(&v).unwrap()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn objects_inside_samples_are_compact_too() {
        #[derive(Serialize)]
        struct S {
            samples: Vec<std::collections::BTreeMap<&'static str, u8>>,
            next: u8,
        }
        let v = S { samples: vec![[("x", 1), ("y", 2)].into(), [("z", 3)].into()], next: 4 };
        assert_eq!(to_json(&v), "{\n  \"samples\": [{\"x\":1,\"y\":2},{\"z\":3}],\n  \"next\": 4\n}\n");
    }
}
