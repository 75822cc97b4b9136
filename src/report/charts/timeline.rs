//! The ICE timeline: one row per candidate pair with its checks over virtual time (sent,
//! retransmitted, answered, failed), and a lane of call events (signaling messages, early
//! media, selection, promotion) numbered and listed in a key beside the plot, each also
//! drawn as a line across the rows.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::style::{
    BAD, GOOD, GRID, Glyph, INK, LABEL_SIZE, LINE, MUTED, SIGNALING, SMALL_SIZE, TICK_SIZE, frame, glyph, legend_row,
    no_data, safe_range, text, text_left, tick, truncate, wrap,
};
use super::{Chart, CheckEvent, CheckKind, DrawResult, EventKind, IceTimeline, TimelineEvent, TimelineRow};
use crate::scenario::{CallOutcome, CheckKind as CallCheck};
use crate::time::SimTime;

/// At most this many pair rows; more are counted under the plot.
const MAX_ROWS: usize = 18;
/// At most this many events in the key.
const MAX_EVENTS: usize = 22;
const ROW_LABEL_W: u32 = 330;
const KEY_W: i32 = 330;
/// Height of one level of staggered event markers, in row units.
const LEVEL_H: f64 = 0.55;

impl IceTimeline {
    /// A row per pair of the caller's check list with its checks (pairs never checked
    /// have no row), and the call's events from its timeline (registrations, which come
    /// before the call, are left out), the caller's INVITE and the promotion.
    pub fn from_call(call: &CallOutcome) -> IceTimeline {
        let rows = call
            .pairs
            .iter()
            .map(|p| TimelineRow {
                label: format!("{} → {}", p.local, p.remote),
                checks: p
                    .checks
                    .iter()
                    .map(|c| CheckEvent {
                        at: c.at,
                        kind: match c.kind {
                            CallCheck::Sent => CheckKind::Sent,
                            CallCheck::Retransmitted => CheckKind::Retransmitted,
                            CallCheck::Answered => CheckKind::Answered,
                            CallCheck::Failed => CheckKind::Failed,
                        },
                    })
                    .collect(),
            })
            .collect();
        let mut events = Vec::new();
        if let (Some(sel), Some(ttc)) = (&call.selected, call.time_to_connect) {
            // Time to connect runs from the INVITE to the caller's first selection (which a
            // promotion later replaces), so count back from that one.
            let first_selected = call
                .timeline
                .iter()
                .find(|s| s.node == call.caller && s.what == "pair selected")
                .map_or(sel.at, |s| s.at);
            let invite = SimTime::from_nanos(first_selected.as_nanos().saturating_sub(ttc.as_nanos()));
            events.push(TimelineEvent {
                at: invite,
                kind: EventKind::Signaling,
                label: format!("{}: sends INVITE (offer)", call.caller),
            });
        }
        for s in &call.timeline {
            let kind = if s.what == "registered" {
                continue;
            } else if s.what.contains("gathering") || s.what.starts_with("gathered ") {
                EventKind::Gathering
            } else if s.what.starts_with("received ") {
                EventKind::Signaling
            } else if s.what.starts_with("first valid pair") {
                EventKind::EarlyMedia
            } else if s.what == "pair selected" {
                EventKind::Selected
            } else if s.what.contains("timed out") || s.what.contains("failed") {
                EventKind::Failure
            } else {
                EventKind::Signaling
            };
            events.push(TimelineEvent { at: s.at, kind, label: format!("{}: {}", s.node, s.what) });
        }
        if let Some(at) = call.promoted_at {
            events.push(TimelineEvent {
                at,
                kind: EventKind::Promotion,
                label: format!("{}: promotes media (re-INVITE)", call.caller),
            });
        }
        events.sort_by_key(|e| e.at);
        IceTimeline { title: format!("ICE timeline: {} → {}", call.caller, call.callee), rows, events }
    }
}

impl Chart for IceTimeline {
    fn name(&self) -> &'static str {
        "ice-timeline"
    }
    fn title(&self) -> &str {
        &self.title
    }
    fn no_data(&self) -> Option<&'static str> {
        (self.events.is_empty() && self.rows.iter().all(|r| r.checks.is_empty()))
            .then_some("no checks and no call events were recorded")
    }
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB, ()> {
        let body = frame(area, &self.title)?;
        let times: Vec<SimTime> = self
            .rows
            .iter()
            .flat_map(|r| r.checks.iter().map(|c| c.at))
            .chain(self.events.iter().map(|e| e.at))
            .collect();
        let (Some(&first), Some(&last)) = (times.iter().min(), times.iter().max()) else {
            return no_data(&body, "no checks and no call events were recorded");
        };
        draw_timeline(self, &body, first, self.window_end(first, last))
    }
}

impl IceTimeline {
    /// Where the plot's time axis ends. Once a pair is selected the story is told, but a
    /// pair that never answers keeps retransmitting until its checks time out, up to 40 s
    /// later, which would squeeze the interesting second into a sliver. So when the call
    /// settled (a selection or promotion), the axis ends a little after the last such event
    /// and what comes later is summarised at the right edge of each row; a call that never
    /// settled shows its whole course.
    fn window_end(&self, first: SimTime, last: SimTime) -> SimTime {
        let settled = self
            .events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Selected | EventKind::Promotion | EventKind::EarlyMedia))
            .map(|e| e.at)
            .max();
        let Some(settled) = settled else { return last };
        let margin = ((settled - first).as_nanos() / 3).max(500_000_000);
        let end = SimTime::from_nanos(settled.as_nanos() + margin);
        end.min(last)
    }
}

fn secs(t: SimTime) -> f64 {
    t.as_nanos() as f64 / 1e9
}

fn event_glyph(k: EventKind) -> Glyph {
    match k {
        EventKind::Gathering => Glyph::Swatch { fill: MUTED, hatched: true },
        EventKind::Signaling => Glyph::Diamond { color: SIGNALING },
        EventKind::EarlyMedia => Glyph::Badge { letter: 'E' },
        EventKind::Selected => Glyph::Star { color: INK },
        EventKind::Promotion => Glyph::Triangle { color: INK },
        EventKind::Failure => Glyph::Cross { color: BAD },
    }
}

fn check_glyph(k: CheckKind) -> Glyph {
    match k {
        CheckKind::Sent => Glyph::Circle { color: INK, filled: false },
        CheckKind::Retransmitted => Glyph::Triangle { color: MUTED },
        CheckKind::Answered => Glyph::Circle { color: GOOD, filled: true },
        CheckKind::Failed => Glyph::Cross { color: BAD },
    }
}

fn draw_timeline<DB: DrawingBackend>(
    t: &IceTimeline,
    area: &DrawingArea<DB, Shift>,
    first: SimTime,
    last: SimTime,
) -> DrawResult<DB, ()> {
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let (plot_area, key_area) = area.split_horizontally(w - KEY_W);
    let (plot_area, legend_area) = plot_area.split_vertically(h - 70);

    let rows: Vec<_> = t.rows.iter().filter(|r| !r.checks.is_empty()).take(MAX_ROWS).collect();
    let hidden = t.rows.iter().filter(|r| !r.checks.is_empty()).count() - rows.len();
    let (x0, x1) = safe_range(secs(first), secs(last));
    let pad = (x1 - x0) * 0.03;
    let (x0, x1) = (x0 - pad, x1 + pad);
    let span = x1 - x0;
    // Events close in time stagger over levels so their markers stay apart; the plot's
    // width is estimated before it exists, which is close enough for spacing.
    let clipped = t.rows.iter().flat_map(|r| &r.checks).any(|c| c.at > last) || t.events.iter().any(|e| e.at > last);
    let shown: Vec<&TimelineEvent> = t.events.iter().take(MAX_EVENTS).collect();
    let plot_w = (w - KEY_W - ROW_LABEL_W as i32 - 20).max(100) as f64;
    let mut level_x: Vec<f64> = Vec::new();
    let levels: Vec<usize> = shown
        .iter()
        .filter(|e| e.at <= last)
        .map(|e| {
            let x = (secs(e.at) - x0) / span * plot_w;
            let l = level_x.iter().position(|&lx| x - lx >= 34.0).unwrap_or(level_x.len());
            if l == level_x.len() {
                level_x.push(x);
            } else {
                level_x[l] = x;
            }
            l
        })
        .collect();
    // The event lane sits on top, tall enough for its levels; pair rows below it, the
    // first pair on top.
    let ev = (LEVEL_H * level_x.len() as f64 + 0.5).max(2.0);
    let n = rows.len() as f64;
    let lanes = n + ev;
    let mut chart = ChartBuilder::on(&plot_area)
        .margin_right(20)
        .margin_top(4)
        .x_label_area_size(56)
        .y_label_area_size(ROW_LABEL_W)
        .build_cartesian_2d(x0..x1, -0.5..(lanes - 0.5))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(8)
        .light_line_style(GRID.mix(0.4))
        .bold_line_style(GRID)
        .x_label_formatter(&|v| tick(*v, span))
        .x_desc(if clipped {
            "virtual time (s); later checks summarised at the right"
        } else {
            "virtual time since the start of the run (s)"
        })
        .label_style(text(TICK_SIZE, &INK, HPos::Center, VPos::Top))
        .axis_desc_style((super::style::FONT, LABEL_SIZE))
        .draw()?;
    let base = area.get_base_pixel();
    let px = |x: f64, y: f64| {
        let (a, b) = chart.backend_coord(&(x, y));
        (a - base.0, b - base.1)
    };
    let row_y = |i: usize| n - 1.0 - i as f64;
    let event_mid = n - 0.5 + ev / 2.0;

    // Lane labels and separators.
    let (lx, _) = px(x0, 0.0);
    let label_chars = ((ROW_LABEL_W - 16) as f64 / (SMALL_SIZE * 0.58)) as usize;
    let (_, ey) = px(x0, event_mid);
    area.draw(&Text::new(
        "call events (see key)",
        (lx - 8, ey),
        text(TICK_SIZE, &SIGNALING, HPos::Right, VPos::Center),
    ))?;
    // A pair's label takes two lines (local, then remote) when its row has the room.
    let row_px = px(x0, 0.0).1 - px(x0, 1.0).1;
    for (i, r) in rows.iter().enumerate() {
        let (_, y) = px(x0, row_y(i));
        let label = compact_pair(&r.label);
        let lines: Vec<String> = match label.split_once(" → ") {
            Some((a, b)) if row_px >= 2 * LINE + 6 => vec![format!("{a} →"), b.to_string()],
            _ => vec![label.clone()],
        };
        let top = y - LINE * lines.len() as i32 / 2 + LINE / 2;
        for (k, line) in lines.iter().enumerate() {
            area.draw(&Text::new(
                truncate(line, label_chars),
                (lx - 8, top + LINE * k as i32),
                text(SMALL_SIZE, &INK, HPos::Right, VPos::Center),
            ))?;
        }
    }
    let (sx0, sy) = px(x0, n - 0.5);
    let (sx1, _) = px(x1, n - 0.5);
    area.draw(&PathElement::new(vec![(sx0, sy), (sx1, sy)], ShapeStyle::from(&MUTED).stroke_width(1)))?;
    if rows.is_empty() {
        area.draw(&Text::new(
            "(per-check events were not recorded for this run)",
            (lx + 8, 0),
            text(SMALL_SIZE, &MUTED, HPos::Left, VPos::Top),
        ))?;
    }

    // Event lines across the rows, then the numbered markers, staggered in three levels so
    // events at the same instant stay apart.
    let (_, top) = px(x0, lanes - 0.5);
    let (_, bottom) = px(x0, -0.5);
    for e in t.events.iter().filter(|e| e.at <= last) {
        let color = match e.kind {
            EventKind::EarlyMedia | EventKind::Selected | EventKind::Promotion => INK,
            EventKind::Failure => BAD,
            EventKind::Signaling | EventKind::Gathering => continue,
        };
        let (x, _) = px(secs(e.at), 0.0);
        let style = ShapeStyle::from(&color.mix(0.6)).stroke_width(1);
        let mut y = top;
        while y < bottom {
            area.draw(&PathElement::new(vec![(x, y), (x, (y + 6).min(bottom))], style))?;
            y += 10;
        }
    }
    let in_window = shown.iter().enumerate().filter(|(_, e)| e.at <= last);
    for ((k, e), level) in in_window.zip(&levels) {
        let (x, _) = px(secs(e.at), 0.0);
        let (_, y) = px(x0, lanes - 0.5 - 0.5 * LEVEL_H - LEVEL_H * *level as f64);
        glyph(area, (x, y), 7, event_glyph(e.kind))?;
        area.draw(&Text::new(format!("{}", k + 1), (x + 10, y), text(SMALL_SIZE, &INK, HPos::Left, VPos::Center)))?;
    }

    // Checks: a thin line over each pair's life, then one marker per event. Checks after
    // the window: the line runs to the right edge, with how many there were and how the
    // pair ended written above it.
    for (i, r) in rows.iter().enumerate() {
        let (Some(a), Some(b)) = (r.checks.iter().map(|c| c.at).min(), r.checks.iter().map(|c| c.at).max()) else {
            continue;
        };
        let (xa, y) = px(secs(a), row_y(i));
        let (xb, _) = px(secs(b.min(last)), row_y(i));
        area.draw(&PathElement::new(vec![(xa, y), (xb, y)], ShapeStyle::from(&MUTED).stroke_width(1)))?;
        let mut checks = r.checks.clone();
        checks.sort_by_key(|c| (c.at, c.kind));
        for c in checks.iter().filter(|c| c.at <= last) {
            let (x, y) = px(secs(c.at), row_y(i));
            glyph(area, (x, y), 6, check_glyph(c.kind))?;
        }
        let later: Vec<_> = checks.iter().filter(|c| c.at > last).collect();
        if let Some(end) = later.last() {
            let (xe, _) = px(x1, row_y(i));
            area.draw(&PathElement::new(vec![(xb, y), (xe, y)], ShapeStyle::from(&MUTED).stroke_width(1)))?;
            area.draw(&Polygon::new(vec![(xe - 7, y - 4), (xe, y), (xe - 7, y + 4)], MUTED.filled()))?;
            let how = match end.kind {
                CheckKind::Failed => format!("failed at {:.1} s", secs(end.at)),
                CheckKind::Answered => format!("answered at {:.1} s", secs(end.at)),
                _ => format!("last at {:.1} s", secs(end.at)),
            };
            let n = later.iter().filter(|c| matches!(c.kind, CheckKind::Sent | CheckKind::Retransmitted)).count();
            let note = if n > 0 { format!("{n} more sent, {how}") } else { how };
            area.draw(&Text::new(note, (xe - 2, y - 5), text(SMALL_SIZE, &MUTED, HPos::Right, VPos::Bottom)))?;
        }
    }
    if hidden > 0 {
        let (cx, _) = px(x0, 0.0);
        area.draw(&Text::new(
            format!("+{hidden} more pairs not shown"),
            (cx - 8, bottom + 4),
            text(SMALL_SIZE, &MUTED, HPos::Right, VPos::Top),
        ))?;
    }

    // Legend under the plot, event key to the right.
    let (lw, _) = legend_area.dim_in_pixel();
    legend_row(
        &legend_area,
        (20, 16),
        lw as i32 - 10,
        &[
            (check_glyph(CheckKind::Sent), "check sent"),
            (check_glyph(CheckKind::Retransmitted), "retransmitted"),
            (check_glyph(CheckKind::Answered), "answered"),
            (check_glyph(CheckKind::Failed), "failed"),
            (event_glyph(EventKind::Gathering), "gathering"),
            (event_glyph(EventKind::Signaling), "signaling"),
            (event_glyph(EventKind::EarlyMedia), "early media"),
            (event_glyph(EventKind::Selected), "selected"),
            (event_glyph(EventKind::Promotion), "promotion"),
        ],
    )?;
    key_area.draw(&Text::new("call events", (10, 4), text_left(LABEL_SIZE, &INK)))?;
    let key_chars = ((KEY_W - 40) as f64 / (SMALL_SIZE * 0.58)) as usize;
    let mut y = 36;
    for (n, e) in shown.iter().enumerate() {
        glyph(&key_area, (16, y + 9), 6, event_glyph(e.kind))?;
        let later = if e.at > last { "  (after the plotted window)" } else { "" };
        key_area.draw(&Text::new(
            truncate(&format!("{}  {:.3} s{later}", n + 1, secs(e.at)), key_chars),
            (30, y),
            text_left(SMALL_SIZE, &INK),
        ))?;
        y += LINE;
        for line in wrap(&e.label, key_chars, 2) {
            key_area.draw(&Text::new(line, (30, y), text_left(SMALL_SIZE, &MUTED)))?;
            y += LINE;
        }
        y += 5;
        if y > h - 40 {
            break;
        }
    }
    if t.events.len() > shown.len() {
        key_area.draw(&Text::new(
            format!("… {} more", t.events.len() - shown.len()),
            (30, y),
            text_left(SMALL_SIZE, &MUTED),
        ))?;
    }
    Ok(())
}

/// A pair label without the `udp` every UDP candidate repeats.
fn compact_pair(label: &str) -> String {
    label.replace(" udp ", " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::charts::{CheckEvent, TimelineRow, svg};

    #[test]
    fn labels_drop_udp_but_keep_tcp() {
        assert_eq!(
            compact_pair("host udp 10.0.0.1:5 → relay tcp 1.2.3.4:443"),
            "host 10.0.0.1:5 → relay tcp 1.2.3.4:443"
        );
    }

    #[test]
    fn rows_without_checks_are_hidden_and_empty_input_says_no_data() {
        let empty = IceTimeline { title: "t".into(), ..IceTimeline::default() };
        assert!(svg(&empty).contains("no data"));
        let one = IceTimeline {
            title: "t".into(),
            rows: vec![
                TimelineRow { label: "silent".into(), checks: vec![] },
                TimelineRow {
                    label: "busy".into(),
                    checks: vec![CheckEvent { at: SimTime::from_nanos(5), kind: CheckKind::Sent }],
                },
            ],
            events: vec![],
        };
        let s = svg(&one);
        assert!(s.contains("busy") && !s.contains("silent"));
    }
}
