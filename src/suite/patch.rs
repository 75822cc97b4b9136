//! Applying a scenario's overrides to its topology's document tree, before the topology is
//! decoded: so an override is checked exactly as if it had been written in the topology
//! file, and a problem in it is reported at its own line in the scenario file.

use super::file::{Op, Override, Target};
use crate::schema::decode::{At, Decoder, Path, unknown_hint};
use crate::schema::tree::{Key, Node, Value};
use crate::schema::{Problem, RefKind};

/// Applies every override in order; reports each one that names nothing.
pub(crate) fn apply(dc: &mut Decoder<'_>, doc: &mut Value, overrides: &[Override]) {
    for (i, o) in overrides.iter().enumerate() {
        let path = Path::root().field("overrides").index(i);
        apply_one(dc, doc, o, &path);
    }
}

pub(crate) fn apply_one(dc: &mut Decoder<'_>, doc: &mut Value, o: &Override, path: &Path) {
    let (list, id, kind) = match &o.target {
        Target::Node(id) => ("nodes", id, RefKind::Node),
        Target::Link(id) => ("links", id, RefKind::Link),
    };
    let Some(item) = find_item(doc, list, &id.value) else {
        let known = ids(doc, list);
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        let hint = unknown_hint(&id.value, &format!("{kind}s"), &known);
        dc.report(id.pos, &id.path, Problem::UnknownReference { kind, name: id.value.clone() }, Some(hint));
        return;
    };
    let Node::Map(entries) = &mut item.node else { return };
    match &o.op {
        Op::Set(fields) => {
            for (k, v) in fields {
                if k.name == "id" {
                    let problem =
                        Problem::InvalidValue { expected: "a field other than `id`".into(), found: "`id`".into() };
                    dc.report(k.pos, &path.field("set").field("id"), problem, Some("ids cannot be renamed".into()));
                    continue;
                }
                match entries.iter().position(|(ek, _)| ek.name == k.name) {
                    Some(at) if v.node == Node::Null => {
                        entries.remove(at);
                    }
                    Some(at) => entries[at].1 = v.clone(),
                    None if v.node == Node::Null => {}
                    None => entries.push((k.clone(), v.clone())),
                }
            }
        }
        Op::SetIn(keys, v) => set_in(dc, entries, keys, v, path, &id.value),
        Op::AddRoute(route) => seq_of(entries, "routes", route.pos).push(route.clone()),
        Op::RemoveRoute(to) => {
            let routes = seq_of(entries, "routes", to.pos);
            match routes.iter().position(|r| field_text(r, "to").as_deref() == Some(to.value.as_str())) {
                Some(at) => {
                    routes.remove(at);
                }
                None => {
                    let known: Vec<String> = routes.iter().filter_map(|r| field_text(r, "to")).collect();
                    not_found(dc, to, "route", &known);
                }
            }
        }
        Op::AddRule { rule, before } => {
            let Some(rules) = rules_of(entries) else {
                no_firewall(dc, &o.at, path, &id.value);
                return;
            };
            match before {
                None => rules.push(rule.clone()),
                Some(name) => match rule_index(rules, name) {
                    Some(at) => rules.insert(at, rule.clone()),
                    None => {
                        let known = rule_names(rules);
                        not_found(dc, name, "rule", &known);
                    }
                },
            }
        }
        Op::RemoveRule(name) => {
            let Some(rules) = rules_of(entries) else {
                no_firewall(dc, &o.at, path, &id.value);
                return;
            };
            match rule_index(rules, name) {
                Some(at) => {
                    rules.remove(at);
                }
                None => {
                    let known = rule_names(rules);
                    not_found(dc, name, "rule", &known);
                }
            }
        }
    }
}

/// `Op::SetIn`: walks the blocks named by all keys but the last, then replaces, adds or
/// (with `null`) removes the last.
fn set_in(dc: &mut Decoder<'_>, entries: &mut Vec<(Key, Value)>, keys: &[Key], v: &Value, path: &Path, id: &str) {
    let Some((last, blocks)) = keys.split_last() else { return };
    let mut here = entries;
    let mut place = String::new();
    for k in blocks {
        place = if place.is_empty() { k.name.clone() } else { format!("{place}.{}", k.name) };
        let found = here.iter_mut().find(|(ek, _)| ek.name == k.name).map(|(_, v)| &mut v.node);
        let Some(Node::Map(inner)) = found else {
            let problem =
                Problem::InvalidValue { expected: format!("`{id}` to have a `{place}:` block"), found: "none".into() };
            dc.report(k.pos, path, problem, Some(format!("give `{id}` a `{place}:` block first")));
            return;
        };
        here = inner;
    }
    match here.iter().position(|(ek, _)| ek.name == last.name) {
        Some(at) if v.node == Node::Null => {
            here.remove(at);
        }
        Some(at) => here[at].1 = v.clone(),
        None if v.node == Node::Null => {}
        None => here.push((last.clone(), v.clone())),
    }
}

fn no_firewall(dc: &mut Decoder<'_>, at: &Value, path: &Path, node: &str) {
    let problem = Problem::InvalidValue {
        expected: format!("a node with `firewall.rules` (`{node}` has none)"),
        found: "none".into(),
    };
    dc.report(at.pos, path, problem, Some("add the firewall with `set: {firewall: ...}`".into()));
}

fn not_found(dc: &mut Decoder<'_>, name: &At<String>, what: &str, known: &[String]) {
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    let hint = unknown_hint(&name.value, &format!("{what}s"), &known);
    let problem = Problem::InvalidValue {
        expected: format!("the name of an existing {what}"),
        found: format!("{:?}", name.value),
    };
    dc.report(name.pos, &name.path, problem, Some(hint));
}

/// The item of the top-level list `list` whose `id` is `id`.
fn find_item<'d>(doc: &'d mut Value, list: &str, id: &str) -> Option<&'d mut Value> {
    let Node::Map(top) = &mut doc.node else { return None };
    let (_, items) = top.iter_mut().find(|(k, _)| k.name == list)?;
    let Node::Seq(items) = &mut items.node else { return None };
    items.iter_mut().find(|it| field_text(it, "id").as_deref() == Some(id))
}

fn ids(doc: &Value, list: &str) -> Vec<String> {
    let Node::Map(top) = &doc.node else { return Vec::new() };
    let Some((_, items)) = top.iter().find(|(k, _)| k.name == list) else { return Vec::new() };
    let Node::Seq(items) = &items.node else { return Vec::new() };
    items.iter().filter_map(|it| field_text(it, "id")).collect()
}

fn field_text(v: &Value, name: &str) -> Option<String> {
    let Node::Map(entries) = &v.node else { return None };
    entries.iter().find(|(k, _)| k.name == name).and_then(|(_, v)| match &v.node {
        Node::Scalar(s) => Some(s.clone()),
        _ => None,
    })
}

/// The list under `key`, created empty when absent (or replaced when it is not a list).
fn seq_of<'e>(entries: &'e mut Vec<(Key, Value)>, key: &str, pos: crate::schema::tree::Pos) -> &'e mut Vec<Value> {
    let at = match entries.iter().position(|(k, _)| k.name == key) {
        Some(at) => at,
        None => {
            entries.push((Key { name: key.to_string(), pos }, Value { node: Node::Seq(Vec::new()), pos }));
            entries.len() - 1
        }
    };
    let v = &mut entries[at].1;
    if !matches!(v.node, Node::Seq(_)) {
        v.node = Node::Seq(Vec::new());
    }
    match &mut v.node {
        Node::Seq(items) => items,
        _ => unreachable!("made a list above"),
    }
}

fn rules_of(entries: &mut [(Key, Value)]) -> Option<&mut Vec<Value>> {
    let (_, fw) = entries.iter_mut().find(|(k, _)| k.name == "firewall")?;
    let Node::Map(fw) = &mut fw.node else { return None };
    let (_, rules) = fw.iter_mut().find(|(k, _)| k.name == "rules")?;
    match &mut rules.node {
        Node::Seq(items) => Some(items),
        _ => None,
    }
}

fn rule_names(rules: &[Value]) -> Vec<String> {
    rules.iter().filter_map(|r| field_text(r, "name")).collect()
}

fn rule_index(rules: &[Value], name: &At<String>) -> Option<usize> {
    rules.iter().position(|r| field_text(r, "name").as_deref() == Some(name.value.as_str()))
}
