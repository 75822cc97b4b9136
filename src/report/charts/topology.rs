//! The topology diagram: zones as columns, nodes stacked in them, links as lines, and the
//! call's media path (thick, solid) and signaling path (dashed) drawn over it. The layout
//! is our own and deterministic, so the HTML needs no Graphviz; [`TopologyDiagram::to_dot`]
//! gives the same picture as Graphviz DOT for people who have `dot`.

use std::fmt::Write as _;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::style::{
    CHOSEN, Glyph, INK, LABEL_SIZE, MUTED, PAPER, SIGNALING, SMALL_SIZE, TICK_SIZE, frame, legend_row, no_data, text,
    truncate, wrap,
};
use super::{Chart, DiagramLink, DiagramNode, DrawResult, TopologyDiagram};
use crate::topology::{LinkKind, Topology};

/// The column of nodes without a zone.
const NO_ZONE: &str = "(no zone)";

impl TopologyDiagram {
    /// Every node, link and zone of the network, zones in the order their first node
    /// appears in the file. No paths: add them with [`TopologyDiagram::with_media_path`]
    /// and [`TopologyDiagram::with_signaling_path`].
    pub fn from_topology(topo: &Topology) -> TopologyDiagram {
        let mut zones: Vec<(String, String)> = Vec::new();
        for n in &topo.nodes {
            if let Some(z) = &n.zone
                && !zones.iter().any(|(name, _)| name == z)
            {
                let desc = topo.zones.get(z).and_then(|z| z.description.clone()).unwrap_or_default();
                zones.push((z.clone(), desc));
            }
        }
        TopologyDiagram {
            title: format!("Topology: {}", topo.name),
            zones,
            nodes: topo
                .nodes
                .iter()
                .map(|n| DiagramNode { name: n.name.clone(), kind: n.kind.as_str().to_string(), zone: n.zone.clone() })
                .collect(),
            links: topo
                .links
                .iter()
                .map(|l| DiagramLink {
                    name: l.name.clone(),
                    ends: l.members.iter().map(|&i| topo.node(topo.iface(i).node).name.clone()).collect(),
                    tunnel: l.kind == LinkKind::Tunnel,
                })
                .collect(),
            media_path: Vec::new(),
            signaling_path: Vec::new(),
        }
    }

    /// The chosen media path, as the node names it crosses in order.
    pub fn with_media_path(mut self, nodes: Vec<String>) -> TopologyDiagram {
        self.media_path = nodes;
        self
    }

    /// The signaling path, as node names in order.
    pub fn with_signaling_path(mut self, nodes: Vec<String>) -> TopologyDiagram {
        self.signaling_path = nodes;
        self
    }

    /// Graphviz DOT: zones as clusters, links as edges (a shared segment as a point joined
    /// to its members), the media path bold blue and the signaling path dashed purple.
    pub fn to_dot(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "graph {} {{", dot_id(&self.title));
        let _ = writeln!(o, "  rankdir=LR;");
        let _ = writeln!(o, "  node [shape=box, style=rounded, fontname=\"DejaVu Sans\"];");
        let _ = writeln!(o, "  edge [color=\"#888888\"];");
        for (zone, members) in self.columns() {
            let _ = writeln!(o, "  subgraph {} {{", dot_id(&format!("cluster_{zone}")));
            let _ = writeln!(o, "    label={};", dot_id(&zone));
            for n in members {
                let _ = writeln!(o, "    {} [label={}];", dot_id(&n.name), dot_id(&format!("{}\n{}", n.name, n.kind)));
            }
            let _ = writeln!(o, "  }}");
        }
        for l in &self.links {
            let style = if l.tunnel { ", style=dashed" } else { "" };
            if l.ends.len() == 2 {
                let _ = writeln!(
                    o,
                    "  {} -- {} [label={}{style}];",
                    dot_id(&l.ends[0]),
                    dot_id(&l.ends[1]),
                    dot_id(&l.name)
                );
            } else {
                let hub = format!("link:{}", l.name);
                let _ = writeln!(o, "  {} [shape=point, xlabel={}];", dot_id(&hub), dot_id(&l.name));
                for e in &l.ends {
                    let _ = writeln!(
                        o,
                        "  {} -- {}{};",
                        dot_id(&hub),
                        dot_id(e),
                        if l.tunnel { " [style=dashed]" } else { "" }
                    );
                }
            }
        }
        for (path, attrs) in [
            (&self.media_path, "color=\"#084594\", penwidth=4, label=\"media\""),
            (&self.signaling_path, "color=\"#762a83\", penwidth=2, style=dashed, label=\"signaling\""),
        ] {
            for hop in path.windows(2) {
                let _ = writeln!(o, "  {} -- {} [{attrs}, constraint=false];", dot_id(&hop[0]), dot_id(&hop[1]));
            }
        }
        o.push_str("}\n");
        o
    }

    /// Columns left to right: zones in the order the media path first enters them, then the
    /// rest in their given order, then nodes without a zone. In a column, nodes on the media
    /// path come first in path order, then the rest sorted by name.
    fn columns(&self) -> Vec<(String, Vec<&DiagramNode>)> {
        let zone_of = |name: &str| self.nodes.iter().find(|n| n.name == name).map(|n| zone_name(n).to_string());
        let mut order: Vec<String> = Vec::new();
        for z in self.media_path.iter().filter_map(|n| zone_of(n)) {
            if !order.contains(&z) {
                order.push(z);
            }
        }
        for (z, _) in &self.zones {
            if !order.contains(z) && self.nodes.iter().any(|n| zone_name(n) == z) {
                order.push(z.clone());
            }
        }
        for n in &self.nodes {
            let z = zone_name(n).to_string();
            if !order.contains(&z) && z != NO_ZONE {
                order.push(z);
            }
        }
        if self.nodes.iter().any(|n| n.zone.is_none()) && !order.iter().any(|z| z == NO_ZONE) {
            order.push(NO_ZONE.to_string());
        }
        order
            .into_iter()
            .map(|z| {
                let mut members: Vec<&DiagramNode> = self.nodes.iter().filter(|n| zone_name(n) == z).collect();
                let rank = |n: &DiagramNode| self.media_path.iter().position(|p| *p == n.name).unwrap_or(usize::MAX);
                members.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.name.cmp(&b.name)));
                members.dedup_by(|a, b| a.name == b.name);
                (z, members)
            })
            .filter(|(_, m)| !m.is_empty())
            .collect()
    }
}

fn zone_name(n: &DiagramNode) -> &str {
    n.zone.as_deref().unwrap_or(NO_ZONE)
}

/// A DOT string literal: quoted, with quotes, backslashes and newlines escaped.
fn dot_id(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

impl Chart for TopologyDiagram {
    fn name(&self) -> &'static str {
        "topology"
    }
    fn title(&self) -> &str {
        &self.title
    }
    fn no_data(&self) -> Option<&'static str> {
        self.nodes.is_empty().then_some("the topology has no nodes")
    }
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB, ()> {
        let body = frame(area, &self.title)?;
        if let Some(why) = self.no_data() {
            return no_data(&body, why);
        }
        draw_diagram(self, &body)
    }
}

const NODE_H: i32 = 58;

fn draw_diagram<DB: DrawingBackend>(d: &TopologyDiagram, area: &DrawingArea<DB, Shift>) -> DrawResult<DB, ()> {
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let cols = d.columns();
    let legend_h = 50;
    let head_h = 62;
    let col_w = (w - 20) / cols.len().max(1) as i32;
    let box_w = (col_w - 28).clamp(40, 200);
    let avail = h - legend_h - head_h - 10;

    // Node centres.
    let mut centre: Vec<(&str, (i32, i32))> = Vec::new();
    for (c, (zone, members)) in cols.iter().enumerate() {
        let x0 = 10 + c as i32 * col_w;
        let band = if c % 2 == 0 { RGBColor(0xf4, 0xf4, 0xf4) } else { RGBColor(0xe9, 0xed, 0xf2) };
        area.draw(&Rectangle::new([(x0 + 3, 0), (x0 + col_w - 3, h - legend_h)], ShapeStyle::from(&band).filled()))?;
        let chars = ((col_w - 12) as f64 / (LABEL_SIZE * 0.6)) as usize;
        area.draw(&Text::new(
            truncate(zone, chars),
            (x0 + col_w / 2, 6),
            text(LABEL_SIZE, &INK, HPos::Center, VPos::Top),
        ))?;
        let desc = d.zones.iter().find(|(z, _)| z == zone).map(|(_, s)| s.as_str()).unwrap_or("");
        let small_chars = ((col_w - 12) as f64 / (SMALL_SIZE * 0.58)) as usize;
        for (k, line) in wrap(desc, small_chars, 2).into_iter().enumerate() {
            area.draw(&Text::new(
                line,
                (x0 + col_w / 2, 32 + 18 * k as i32),
                text(SMALL_SIZE - 2.0, &MUTED, HPos::Center, VPos::Top),
            ))?;
        }
        let n = members.len() as i32;
        let step = (avail / n.max(1)).clamp(NODE_H + 6, 120);
        let top = head_h + (avail - step * n) / 2 + step / 2;
        for (i, m) in members.iter().enumerate() {
            centre.push((&m.name, (x0 + col_w / 2, top + i as i32 * step)));
        }
    }
    let at = |name: &str| centre.iter().find(|(n, _)| *n == name).map(|(_, p)| *p);
    // Lines between non-neighbours of one column go round the boxes on this side lane.
    let side = box_w / 2 + 12;
    let boxes: Vec<(i32, i32)> = centre.iter().map(|(_, p)| *p).collect();

    // Links under everything else.
    for l in &d.links {
        let pts: Vec<(i32, i32)> = l.ends.iter().filter_map(|e| at(e)).collect();
        let color = if l.tunnel { MUTED } else { RGBColor(0x8c, 0x8c, 0x8c) };
        let style = ShapeStyle::from(&color).stroke_width(2);
        if pts.len() == 2 {
            polyline(area, &route(pts[0], pts[1], side, &boxes), style, l.tunnel)?;
        } else if pts.len() > 2 {
            // A shared segment: a hub at the members' mean position, beside the column
            // when they all share one (so it does not sit on a box).
            let mut hub = (
                pts.iter().map(|p| p.0).sum::<i32>() / pts.len() as i32,
                pts.iter().map(|p| p.1).sum::<i32>() / pts.len() as i32,
            );
            if pts.iter().all(|p| p.0 == pts[0].0) {
                hub.0 += side;
            }
            for p in &pts {
                polyline(area, &route(hub, *p, side, &boxes), style, l.tunnel)?;
            }
            area.draw(&Circle::new(hub, 5, ShapeStyle::from(&color).filled()))?;
        }
    }
    // The paths, offset to either side of the link lines so both stay visible.
    let on_map = |p: &[String]| p.iter().filter_map(|n| at(n)).collect::<Vec<_>>();
    let signaling = ShapeStyle::from(&SIGNALING).stroke_width(3);
    path(area, &on_map(&d.signaling_path), (-5, side), &boxes, signaling, true)?;
    path(area, &on_map(&d.media_path), (4, side), &boxes, ShapeStyle::from(&CHOSEN).stroke_width(6), false)?;

    // Nodes.
    for (name, (cx, cy)) in &centre {
        let node = d.nodes.iter().find(|n| n.name == *name);
        let on_media = d.media_path.iter().any(|p| p == name);
        let (x0, y0, x1, y1) = (cx - box_w / 2, cy - NODE_H / 2, cx + box_w / 2, cy + NODE_H / 2);
        area.draw(&Rectangle::new([(x0, y0), (x1, y1)], ShapeStyle::from(&PAPER).filled()))?;
        let border =
            if on_media { ShapeStyle::from(&CHOSEN).stroke_width(4) } else { ShapeStyle::from(&INK).stroke_width(1) };
        area.draw(&Rectangle::new([(x0, y0), (x1, y1)], border))?;
        let chars = ((box_w - 8) as f64 / (TICK_SIZE * 0.6)) as usize;
        area.draw(&Text::new(truncate(name, chars), (*cx, cy - 20), text(TICK_SIZE, &INK, HPos::Center, VPos::Top)))?;
        if let Some(n) = node {
            area.draw(&Text::new(
                truncate(&n.kind, chars + 2),
                (*cx, cy + 6),
                text(SMALL_SIZE - 1.0, &MUTED, HPos::Center, VPos::Top),
            ))?;
        }
    }
    let (lw, _) = area.dim_in_pixel();
    let mut items = vec![(Glyph::Line { color: RGBColor(0x8c, 0x8c, 0x8c), width: 2, dashed: false }, "link")];
    items.push((Glyph::Line { color: MUTED, width: 2, dashed: true }, "VPN / tunnel"));
    items.push((Glyph::Circle { color: RGBColor(0x8c, 0x8c, 0x8c), filled: true }, "shared segment"));
    if !d.media_path.is_empty() {
        items.push((Glyph::Line { color: CHOSEN, width: 6, dashed: false }, "media path (chosen pair)"));
    }
    if !d.signaling_path.is_empty() {
        items.push((Glyph::Line { color: SIGNALING, width: 3, dashed: true }, "signaling path"));
    }
    legend_row(area, (20, h - legend_h + 14), lw as i32 - 20, &items)?;
    Ok(())
}

/// A straight line, dashed by hand when asked (both backends then draw the same dashes).
fn line<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    a: (i32, i32),
    b: (i32, i32),
    style: ShapeStyle,
    dashed: bool,
) -> DrawResult<DB, ()> {
    if !dashed {
        return area.draw(&PathElement::new(vec![a, b], style));
    }
    let (dx, dy) = ((b.0 - a.0) as f64, (b.1 - a.1) as f64);
    let len = (dx * dx + dy * dy).sqrt();
    let steps = (len / 12.0).floor() as i32;
    for k in 0..steps.max(1) {
        let f0 = (k as f64 * 12.0) / len.max(1.0);
        let f1 = ((k as f64 * 12.0) + 7.0).min(len) / len.max(1.0);
        let p = |f: f64| ((a.0 as f64 + f * dx).round() as i32, (a.1 as f64 + f * dy).round() as i32);
        area.draw(&PathElement::new(vec![p(f0), p(f1)], style))?;
    }
    Ok(())
}

/// A path through node centres shifted by `offset`, so two paths over one link both show.
fn path<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    centres: &[(i32, i32)],
    (offset, side): (i32, i32),
    boxes: &[(i32, i32)],
    style: ShapeStyle,
    dashed: bool,
) -> DrawResult<DB, ()> {
    let pts: Vec<(i32, i32)> = centres.iter().map(|(x, y)| (x + offset, y + offset)).collect();
    for hop in pts.windows(2) {
        polyline(area, &route(hop[0], hop[1], side + offset, boxes), style, dashed)?;
    }
    Ok(())
}

/// The points a line from `a` to `b` follows: straight, except between two nodes of one
/// column that are not neighbours, where it leaves sideways by `side` pixels, runs down
/// the lane beside the boxes and comes back, so it never seems to pass through a node.
fn route(a: (i32, i32), b: (i32, i32), side: i32, boxes: &[(i32, i32)]) -> Vec<(i32, i32)> {
    let (lo, hi) = (a.1.min(b.1) + NODE_H / 2, a.1.max(b.1) - NODE_H / 2);
    let blocked = boxes.iter().any(|c| (c.0 - a.0).abs() <= 12 && c.1 > lo && c.1 < hi);
    if (a.0 - b.0).abs() <= 12 && blocked {
        let x = a.0.max(b.0) + side;
        vec![a, (x, a.1), (x, b.1), b]
    } else {
        vec![a, b]
    }
}

fn polyline<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    pts: &[(i32, i32)],
    style: ShapeStyle,
    dashed: bool,
) -> DrawResult<DB, ()> {
    for seg in pts.windows(2) {
        line(area, seg[0], seg[1], style, dashed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, zone: Option<&str>) -> DiagramNode {
        DiagramNode { name: name.into(), kind: "host".into(), zone: zone.map(String::from) }
    }

    #[test]
    fn columns_follow_the_media_path_then_the_rest() {
        let d = TopologyDiagram {
            zones: vec![("lan".into(), String::new()), ("home".into(), String::new())],
            nodes: vec![node("pc", Some("lan")), node("a", Some("lan")), node("laptop", Some("home")), node("x", None)],
            media_path: vec!["laptop".into(), "pc".into()],
            ..TopologyDiagram::default()
        };
        let cols: Vec<(String, Vec<&str>)> =
            d.columns().into_iter().map(|(z, m)| (z, m.iter().map(|n| n.name.as_str()).collect())).collect();
        assert_eq!(
            cols,
            [
                ("home".to_string(), vec!["laptop"]),
                ("lan".to_string(), vec!["pc", "a"]),
                ("(no zone)".to_string(), vec!["x"])
            ]
        );
    }

    #[test]
    fn dot_escapes_names_and_draws_paths() {
        let d = TopologyDiagram {
            title: "t \"q\"".into(),
            nodes: vec![node("a", None), node("b\\c", None)],
            links: vec![DiagramLink { name: "l".into(), ends: vec!["a".into(), "b\\c".into()], tunnel: false }],
            media_path: vec!["a".into(), "b\\c".into()],
            ..TopologyDiagram::default()
        };
        let dot = d.to_dot();
        assert!(dot.starts_with("graph \"t \\\"q\\\"\" {"), "{dot}");
        assert!(dot.contains("\"a\" -- \"b\\\\c\" [label=\"l\"];"), "{dot}");
        assert!(dot.contains("penwidth=4"), "{dot}");
    }
}
