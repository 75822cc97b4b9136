//! The candidate-pair matrix: the caller's local candidates down the side, the callee's
//! candidates across the top, each cell coloured, lettered and (for failures) hatched by the
//! pair's final state, with the early-media and selected pairs marked.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::style::{
    BAD, FROZEN, GOOD, GRID, INK, LABEL_SIZE, LINE, MUTED, PAPER, PENDING, SMALL_SIZE, TICK_SIZE, UNCHECKED, frame,
    hatch, no_data, star, text, text_center, text_left, truncate, wrap,
};
use super::{CellState, Chart, DrawResult, MatrixPair, PairMatrix};
use crate::proto::ice::Candidate;
use crate::scenario::CallOutcome;

impl PairMatrix {
    /// The caller's check list: candidates from both offers (SDP lines) plus any learned
    /// during checks (peer-reflexive), every pair in its final state.
    pub fn from_call(call: &CallOutcome) -> PairMatrix {
        let mut local: Vec<String> = call.caller_candidates.iter().filter_map(|l| describe_sdp(l)).collect();
        let mut remote: Vec<String> = call.callee_candidates.iter().filter_map(|l| describe_sdp(l)).collect();
        for p in &call.pairs {
            push_new(&mut local, &p.local);
            push_new(&mut remote, &p.remote);
        }
        PairMatrix {
            title: format!("Candidate pairs: {} → {}", call.caller, call.callee),
            local,
            remote,
            pairs: call
                .pairs
                .iter()
                .map(|p| MatrixPair {
                    local: p.local.clone(),
                    remote: p.remote.clone(),
                    state: CellState::from_row(&p.state),
                    reason: p.reason.clone(),
                })
                .collect(),
            early_media: call.early_media.as_ref().map(|c| (c.local.clone(), c.remote.clone())),
            selected: call.selected.as_ref().map(|c| (c.local.clone(), c.remote.clone())),
        }
    }

    /// Rows and columns: the given order, then any candidate only a pair names.
    fn axes(&self) -> (Vec<String>, Vec<String>) {
        let (mut rows, mut cols) = (Vec::new(), Vec::new());
        for l in &self.local {
            push_new(&mut rows, l);
        }
        for r in &self.remote {
            push_new(&mut cols, r);
        }
        for p in &self.pairs {
            push_new(&mut rows, &p.local);
            push_new(&mut cols, &p.remote);
        }
        (rows, cols)
    }

    /// The pair a cell shows: the most telling state among the pairs sharing it.
    fn cell(&self, local: &str, remote: &str) -> Option<&MatrixPair> {
        self.pairs.iter().filter(|p| p.local == local && p.remote == remote).min_by_key(|p| p.state)
    }
}

/// A cell's reason cut to what fits: the device that dropped the checks when known, the
/// answer's round trip for a success, the reason itself otherwise.
pub fn short_reason(reason: &str) -> String {
    // The call driver appends the network's verdict after "; ": that is the useful part.
    let last = reason.rsplit("; ").next().unwrap_or(reason).trim();
    let s = if last.starts_with("dropped by ") { last } else { reason.split("; ").next().unwrap_or(reason) };
    let s = s.split(", mapped ").next().unwrap_or(s);
    // Pair numbers mean nothing on a chart that does not show them.
    if s.starts_with("stopped: pair ") && s.ends_with(" was nominated") {
        return "stopped: another pair was nominated".to_string();
    }
    // A closing parenthetical outside quotes is an explanation the table already gives.
    if s.ends_with(')')
        && let Some(open) = s.rfind(" (")
        && s[..open].matches('"').count() % 2 == 0
    {
        return s[..open].to_string();
    }
    s.to_string()
}

impl Chart for PairMatrix {
    fn name(&self) -> &'static str {
        "pair-matrix"
    }
    fn title(&self) -> &str {
        &self.title
    }
    fn no_data(&self) -> Option<&'static str> {
        let (rows, cols) = self.axes();
        (rows.is_empty() || cols.is_empty())
            .then_some("no candidate pairs: one side offered no candidates (did signaling complete?)")
    }
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB, ()> {
        let body = frame(area, &self.title)?;
        if let Some(why) = self.no_data() {
            return no_data(&body, why);
        }
        let (rows, cols) = self.axes();
        draw_matrix(self, &body, &rows, &cols)
    }
}

const LEGEND_W: i32 = 260;
const ROW_LABEL_W: i32 = 250;
const HEADER_H: i32 = 74;

fn draw_matrix<DB: DrawingBackend>(
    m: &PairMatrix,
    area: &DrawingArea<DB, Shift>,
    rows: &[String],
    cols: &[String],
) -> DrawResult<DB, ()> {
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    // Axis titles: remote across the top, local rotated down the left.
    let grid_x = 36 + ROW_LABEL_W;
    let grid_y = 30 + HEADER_H;
    let avail_w = w - LEGEND_W - 20 - grid_x;
    let avail_h = h - 16 - grid_y;
    let cell_w = (avail_w / cols.len() as i32).clamp(24, 240);
    let cell_h = (avail_h / rows.len() as i32).clamp(16, 150);
    let grid_w = cell_w * cols.len() as i32;
    let grid_h = cell_h * rows.len() as i32;
    // A small matrix sits in the middle of the space rather than in its top corner.
    let grid_y = grid_y + (avail_h - grid_h) / 3;
    area.draw(&Text::new(
        "remote candidates (callee's offer)",
        (grid_x + grid_w / 2, 0),
        text(LABEL_SIZE, &INK, HPos::Center, VPos::Top),
    ))?;
    area.draw(&Text::new(
        "local candidates (caller)",
        (8, grid_y + grid_h / 2),
        text(LABEL_SIZE, &INK, HPos::Center, VPos::Top).transform(FontTransform::Rotate270),
    ))?;

    let label_lines = |s: &str, width_px: i32, size: f64, lines: usize| {
        candidate_lines(s, (width_px as f64 / (size * 0.58)) as usize, lines)
    };
    for (j, c) in cols.iter().enumerate() {
        let x = grid_x + j as i32 * cell_w + cell_w / 2;
        let lines = label_lines(c, cell_w - 6, SMALL_SIZE, 3);
        let top = grid_y - 6 - LINE * lines.len() as i32;
        for (k, line) in lines.iter().enumerate() {
            area.draw(&Text::new(
                line.clone(),
                (x, top + LINE * k as i32),
                text(SMALL_SIZE, &INK, HPos::Center, VPos::Top),
            ))?;
        }
    }
    for (i, r) in rows.iter().enumerate() {
        let y = grid_y + i as i32 * cell_h + cell_h / 2;
        let max_lines = if cell_h >= 40 { 2 } else { 1 };
        let lines = label_lines(r, ROW_LABEL_W - 10, SMALL_SIZE, max_lines);
        let top = y - LINE * lines.len() as i32 / 2;
        for (k, line) in lines.iter().enumerate() {
            area.draw(&Text::new(
                line.clone(),
                (grid_x - 8, top + LINE * k as i32),
                text(SMALL_SIZE, &INK, HPos::Right, VPos::Top),
            ))?;
        }
    }

    for (i, r) in rows.iter().enumerate() {
        for (j, c) in cols.iter().enumerate() {
            let x0 = grid_x + j as i32 * cell_w;
            let y0 = grid_y + i as i32 * cell_h;
            draw_cell(area, m, (x0, y0), (cell_w, cell_h), r, c)?;
        }
    }
    area.draw(&Rectangle::new([(grid_x, grid_y), (grid_x + grid_w, grid_y + grid_h)], ShapeStyle::from(&INK)))?;
    draw_legend(area, (w - LEGEND_W, 30))
}

fn draw_cell<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    m: &PairMatrix,
    (x0, y0): (i32, i32),
    (cw, ch): (i32, i32),
    local: &str,
    remote: &str,
) -> DrawResult<DB, ()> {
    let (x1, y1) = (x0 + cw, y0 + ch);
    let Some(pair) = m.cell(local, remote) else {
        // No pair at all (a TCP candidate facing a UDP one, or a candidate that was never
        // paired): left blank with a dash.
        area.draw(&Rectangle::new([(x0, y0), (x1, y1)], ShapeStyle::from(&PAPER).filled()))?;
        area.draw(&Rectangle::new([(x0, y0), (x1, y1)], ShapeStyle::from(&GRID)))?;
        area.draw(&Text::new("–", (x0 + cw / 2, y0 + ch / 2), text_center(TICK_SIZE, &MUTED)))?;
        return Ok(());
    };
    let (fill, ink) = state_colors(pair.state);
    area.draw(&Rectangle::new([(x0, y0), (x1, y1)], ShapeStyle::from(fill).filled()))?;
    if pair.state == CellState::Failed {
        hatch(area, (x0, y0), (x1, y1), 12, &RGBColor(0x9e, 0x1b, 0x14))?;
    }
    area.draw(&Rectangle::new([(x0, y0), (x1, y1)], ShapeStyle::from(&PAPER).stroke_width(2)))?;

    let is = |p: &Option<(String, String)>| p.as_ref().is_some_and(|(l, r)| l == local && r == remote);
    let selected = is(&m.selected);
    let early = is(&m.early_media);
    // The state word, and the reason below it when the cell has room.
    let word = state_word(pair.state);
    let reason = short_reason(&pair.reason);
    let chars = ((cw - 10) as f64 / (SMALL_SIZE * 0.58)) as usize;
    let room = ((ch - 34) / LINE).max(0) as usize;
    let lines = if room > 0 && chars >= 6 { wrap(&reason, chars, room) } else { Vec::new() };
    let block = 26 + LINE * lines.len() as i32;
    let mut y = y0 + (ch - block) / 2;
    let word_size = if cw >= 60 && ch >= 24 { LABEL_SIZE } else { SMALL_SIZE };
    area.draw(&Text::new(
        truncate(word, chars.max(2)),
        (x0 + cw / 2, y),
        text(word_size, ink, HPos::Center, VPos::Top),
    ))?;
    y += 28;
    for line in lines {
        area.draw(&Text::new(line, (x0 + cw / 2, y), text(SMALL_SIZE, ink, HPos::Center, VPos::Top)))?;
        y += LINE;
    }
    if selected {
        area.draw(&Rectangle::new([(x0 + 2, y0 + 2), (x1 - 2, y1 - 2)], ShapeStyle::from(&INK).stroke_width(4)))?;
        selected_badge(area, (x1 - 17, y0 + 17))?;
    }
    if early {
        early_badge(area, (x0 + 16, y0 + 16))?;
    }
    Ok(())
}

/// Fill and text colour per state, ordered dark to light so grey scale keeps them apart.
fn state_colors(s: CellState) -> (&'static RGBColor, &'static RGBColor) {
    match s {
        CellState::Succeeded => (&GOOD, &PAPER),
        CellState::Failed => (&BAD, &PAPER),
        CellState::InProgress | CellState::Waiting => (&PENDING, &INK),
        CellState::Frozen => (&FROZEN, &INK),
        CellState::NotChecked => (&UNCHECKED, &MUTED),
    }
}

/// The cell's headline: a symbol that survives grey scale plus the state's name.
fn state_word(s: CellState) -> &'static str {
    match s {
        CellState::Succeeded => "✓ succeeded",
        CellState::Failed => "✗ failed",
        CellState::InProgress => "… in progress",
        CellState::Waiting => "… waiting",
        CellState::Frozen => "❄ frozen",
        CellState::NotChecked => "– not checked",
    }
}

/// A white disc with a black ring and a star: the selected pair (visible on any fill).
fn selected_badge<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, (cx, cy): (i32, i32)) -> DrawResult<DB, ()> {
    area.draw(&Circle::new((cx, cy), 13, ShapeStyle::from(&INK).filled()))?;
    area.draw(&Circle::new((cx, cy), 11, ShapeStyle::from(&PAPER).filled()))?;
    star(area, (cx, cy + 1), 9, INK)
}

/// A white disc with a black ring and an "E": the early-media pair.
fn early_badge<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, (cx, cy): (i32, i32)) -> DrawResult<DB, ()> {
    area.draw(&Circle::new((cx, cy), 12, ShapeStyle::from(&INK).filled()))?;
    area.draw(&Circle::new((cx, cy), 10, ShapeStyle::from(&PAPER).filled()))?;
    area.draw(&Text::new("E", (cx, cy), text_center(SMALL_SIZE, &INK)))
}

fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, (x, y): (i32, i32)) -> DrawResult<DB, ()> {
    area.draw(&Text::new("pair state", (x, y), text_left(LABEL_SIZE, &INK)))?;
    let mut y = y + 34;
    for s in [CellState::Succeeded, CellState::Failed, CellState::InProgress, CellState::Frozen, CellState::NotChecked]
    {
        let (fill, _) = state_colors(s);
        area.draw(&Rectangle::new([(x, y), (x + 34, y + 24)], ShapeStyle::from(fill).filled()))?;
        if s == CellState::Failed {
            hatch(area, (x, y), (x + 34, y + 24), 8, &RGBColor(0x9e, 0x1b, 0x14))?;
        }
        area.draw(&Rectangle::new([(x, y), (x + 34, y + 24)], ShapeStyle::from(&MUTED)))?;
        area.draw(&Text::new(state_word(s), (x + 44, y + 3), text_left(TICK_SIZE, &INK)))?;
        y += 34;
    }
    let lines = [("–", "no such pair"), ("E", "early-media pair"), ("★", "selected (final) pair")];
    y += 8;
    for (mark, what) in lines {
        match mark {
            "E" => early_badge(area, (x + 17, y + 12))?,
            "★" => {
                area.draw(&Rectangle::new([(x, y), (x + 34, y + 24)], ShapeStyle::from(&INK).stroke_width(3)))?;
                selected_badge(area, (x + 17, y + 12))?;
            }
            _ => {
                area.draw(&Rectangle::new([(x, y), (x + 34, y + 24)], ShapeStyle::from(&GRID)))?;
                area.draw(&Text::new(mark, (x + 17, y + 12), text_center(TICK_SIZE, &MUTED)))?;
            }
        }
        area.draw(&Text::new(what, (x + 44, y + 3), text_left(TICK_SIZE, &INK)))?;
        y += 34;
    }
    Ok(())
}

/// A candidate label broken for a narrow column: at spaces, and an `address:port` that
/// does not fit is split before the port.
fn candidate_lines(s: &str, width: usize, lines: usize) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for w in s.split_whitespace() {
        match w.rfind(':') {
            Some(k) if w.chars().count() > width && k > 0 => {
                words.push(w[..k].to_string());
                words.push(w[k..].to_string());
            }
            _ => words.push(w.to_string()),
        }
    }
    wrap(&words.join(" "), width, lines)
}

/// An SDP candidate line as the pair table names the candidate: `host udp 10.0.0.1:50000`.
fn describe_sdp(line: &str) -> Option<String> {
    let c = Candidate::from_sdp(line.trim()).ok()?;
    Some(format!("{} {} {}", c.kind.sdp_name(), c.protocol, c.address))
}

fn push_new(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_reasons_keep_the_device() {
        assert_eq!(
            short_reason(
                "no answer after 7 transmissions; dropped by corp-rtr: no route to 192.168.1.10 (no matching prefix and no default route)"
            ),
            "dropped by corp-rtr: no route to 192.168.1.10"
        );
        assert_eq!(
            short_reason(
                "no answer after 7 transmissions; dropped by laptop-split: firewall denied outbound on laptop-split/vpn0 by rule #2 \"Block Lync over VPN (outbound)\""
            ),
            "dropped by laptop-split: firewall denied outbound on laptop-split/vpn0 by rule #2 \"Block Lync over VPN (outbound)\""
        );
        assert_eq!(short_reason("answered in 40.160708ms, mapped 10.99.0.10:50000"), "answered in 40.160708ms");
        assert_eq!(short_reason("pruned (redundant with pair 0)"), "pruned");
        assert_eq!(short_reason(""), "");
        assert_eq!(short_reason("stopped: pair 15 was nominated"), "stopped: another pair was nominated");
    }

    #[test]
    fn sdp_lines_are_named_like_pairs() {
        assert_eq!(
            describe_sdp("a=candidate:2 1 UDP 15859711 203.0.113.20 50000 typ relay raddr 10.0.2.50 rport 50000"),
            Some("relay udp 203.0.113.20:50000".to_string())
        );
        assert_eq!(describe_sdp("a=ice-ufrag:abcd"), None);
    }

    #[test]
    fn a_shared_cell_shows_the_most_telling_pair_and_unknown_candidates_get_rows() {
        let pair = |state| MatrixPair { local: "a".into(), remote: "b".into(), state, reason: String::new() };
        let m =
            PairMatrix { pairs: vec![pair(CellState::NotChecked), pair(CellState::Failed)], ..PairMatrix::default() };
        assert_eq!(m.cell("a", "b").map(|p| p.state), Some(CellState::Failed));
        assert_eq!(m.axes(), (vec!["a".to_string()], vec!["b".to_string()]));
    }

    #[test]
    fn candidates_split_before_the_port_in_narrow_columns() {
        assert_eq!(candidate_lines("relay udp 203.0.113.20:50002", 14, 3), ["relay udp", "203.0.113.20", ":50002"]);
        assert_eq!(candidate_lines("host udp 10.0.2.50:50000", 40, 3), ["host udp 10.0.2.50:50000"]);
    }
}
