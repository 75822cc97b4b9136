//! The media time series: one-way delay of every packet on the chosen path over the call,
//! the RFC 3550 jitter estimate running beside it, lost packets marked on the time axis, and
//! the periods of background load shaded and hatched.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::style::{
    BAD, CHOSEN, FONT, GRID, Glyph, INK, LABEL_SIZE, LOAD, PAPER, SIGNALING, SMALL_SIZE, TICK_SIZE, frame, glyph,
    hatch, legend_row, no_data, safe_range, text, tick, truncate,
};
use super::{BackgroundPeriod, Chart, DrawResult, MediaSample, MediaSeries};
use crate::scenario::{CallOutcome, Direction};
use crate::time::SimTime;

impl MediaSeries {
    /// The selected path, caller to callee: its per-packet samples, and the periods of
    /// background load.
    pub fn from_call(call: &CallOutcome) -> MediaSeries {
        let chosen = call.media_paths.iter().find(|m| m.selected && m.direction == Direction::CallerToCallee);
        MediaSeries {
            title: format!("Media over time on the chosen path: {} → {}", call.caller, call.callee),
            path: chosen.map(|m| m.path.replace(" -> ", " → ")).unwrap_or_default(),
            samples: chosen
                .map(|m| m.samples.iter().map(|s| MediaSample { sent: s.sent, delay: s.delay }).collect())
                .unwrap_or_default(),
            background: call
                .background
                .iter()
                .map(|b| BackgroundPeriod { from: b.from, to: b.to, flow: b.flow.replace(" -> ", " → ") })
                .collect(),
        }
    }

    /// The RFC 3550 §6.4.1 interarrival jitter after each received packet, in ms: J moves a
    /// sixteenth of the way towards |D|, D being the change in one-way delay between
    /// consecutive received packets (transit differences, the sender's and receiver's
    /// clocks being the same virtual clock).
    pub fn running_jitter(&self) -> Vec<(SimTime, f64)> {
        let mut out = Vec::new();
        let mut prev: Option<f64> = None;
        let mut j = 0.0f64;
        for s in &self.samples {
            let Some(d) = s.delay else { continue };
            let d = d.as_millis_f64();
            if let Some(p) = prev {
                j += ((d - p).abs() - j) / 16.0;
            }
            prev = Some(d);
            out.push((s.sent, j));
        }
        out
    }
}

impl Chart for MediaSeries {
    fn name(&self) -> &'static str {
        "media-series"
    }
    fn title(&self) -> &str {
        &self.title
    }
    fn no_data(&self) -> Option<&'static str> {
        self.samples.is_empty().then_some("per-packet media samples were not recorded for this call")
    }
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB, ()> {
        let body = frame(area, &self.title)?;
        if let Some(why) = self.no_data() {
            return no_data(&body, why);
        }
        draw_series(self, &body)
    }
}

fn secs(t: SimTime) -> f64 {
    t.as_nanos() as f64 / 1e9
}

fn draw_series<DB: DrawingBackend>(m: &MediaSeries, area: &DrawingArea<DB, Shift>) -> DrawResult<DB, ()> {
    let (_, h) = area.dim_in_pixel();
    let (plot, key) = area.split_vertically(h as i32 - 70);
    let jitter = m.running_jitter();
    let first = m.samples.iter().map(|s| s.sent).min().unwrap_or(SimTime::ZERO);
    let last = m.samples.iter().map(|s| s.sent).max().unwrap_or(SimTime::ZERO);
    let (x0, x1) = safe_range(secs(first), secs(last));
    let span = x1 - x0;
    let top = m
        .samples
        .iter()
        .filter_map(|s| s.delay.map(|d| d.as_millis_f64()))
        .chain(jitter.iter().map(|j| j.1))
        .fold(0.0f64, f64::max);
    let y_max = if top > 0.0 { top * 1.12 } else { 1.0 };
    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .margin_right(30)
        .x_label_area_size(56)
        .y_label_area_size(80)
        .caption(truncate(&format!("path: {}", m.path), 110), (FONT, LABEL_SIZE))
        .build_cartesian_2d(x0..x1, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_labels(10)
        .y_labels(8)
        .light_line_style(GRID.mix(0.3))
        .bold_line_style(GRID)
        .x_label_formatter(&|v| tick(*v, span))
        .y_label_formatter(&|v| tick(*v, y_max))
        .x_desc("virtual time since the start of the run (s)")
        .y_desc("delay and jitter (ms)")
        .label_style((FONT, TICK_SIZE))
        .axis_desc_style((FONT, LABEL_SIZE))
        .draw()?;
    let base = area.get_base_pixel();
    let px = |x: f64, y: f64| {
        let (a, b) = chart.backend_coord(&(x, y));
        (a - base.0, b - base.1)
    };

    // Background load first, so the lines draw over it.
    for b in &m.background {
        shade(area, &px, b, (x0, x1), y_max)?;
    }
    // Delay: one polyline per run of received packets, so a loss leaves a gap.
    let mut run: Vec<(i32, i32)> = Vec::new();
    let delay_style = ShapeStyle::from(&CHOSEN).stroke_width(2);
    for s in &m.samples {
        match s.delay {
            Some(d) => run.push(px(secs(s.sent), d.as_millis_f64())),
            None => {
                if run.len() > 1 {
                    area.draw(&PathElement::new(std::mem::take(&mut run), delay_style))?;
                }
                run.clear();
                glyph(area, px(secs(s.sent), 0.0), 5, Glyph::Cross { color: BAD })?;
            }
        }
    }
    if run.len() > 1 {
        area.draw(&PathElement::new(run, delay_style))?;
    } else if let Some(&p) = run.first() {
        area.draw(&Circle::new(p, 2, ShapeStyle::from(&CHOSEN).filled()))?;
    }
    // Jitter: a dashed purple line (dashes drawn by hand so both backends agree).
    let pts: Vec<(i32, i32)> = jitter.iter().map(|(t, j)| px(secs(*t), *j)).collect();
    dashed(area, &pts, ShapeStyle::from(&SIGNALING).stroke_width(3))?;

    let (lw, _) = key.dim_in_pixel();
    // The legend names only what the chart shows.
    let mut items = vec![
        (Glyph::Line { color: CHOSEN, width: 2, dashed: false }, "one-way delay per packet"),
        (Glyph::Line { color: SIGNALING, width: 3, dashed: true }, "jitter (RFC 3550 running estimate)"),
    ];
    if m.samples.iter().any(|s| s.delay.is_none()) {
        items.push((Glyph::Cross { color: BAD }, "lost packet"));
    }
    if !m.background.is_empty() {
        items.push((Glyph::Swatch { fill: RGBColor(0xfb, 0xd7, 0xb5), hatched: true }, "background load"));
    }
    legend_row(&key, (30, 18), lw as i32 - 20, &items)?;
    Ok(())
}

fn shade<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    px: &dyn Fn(f64, f64) -> (i32, i32),
    b: &BackgroundPeriod,
    (x0, x1): (f64, f64),
    y_max: f64,
) -> DrawResult<DB, ()> {
    let (from, to) = (secs(b.from).max(x0), secs(b.to).min(x1));
    if to <= from {
        return Ok(());
    }
    let (a, top) = px(from, y_max);
    let (c, bottom) = px(to, 0.0);
    area.draw(&Rectangle::new([(a, top), (c, bottom)], ShapeStyle::from(&RGBColor(0xfb, 0xd7, 0xb5)).filled()))?;
    hatch(area, (a, top), (c, bottom), 14, &RGBColor(0xf3, 0xa8, 0x6b))?;
    area.draw(&Rectangle::new([(a, top), (c, bottom)], ShapeStyle::from(&LOAD).stroke_width(1)))?;
    let room = ((c - a - 8) as f64 / (SMALL_SIZE * 0.58)) as usize;
    if room >= 6 {
        let label = truncate(&format!("background: {}", b.flow), room);
        area.draw(&Rectangle::new(
            [(a + 2, top + 2), (a + 8 + (label.chars().count() as f64 * SMALL_SIZE * 0.58) as i32, top + 22)],
            ShapeStyle::from(&PAPER).filled(),
        ))?;
        area.draw(&Text::new(label, (a + 5, top + 4), text(SMALL_SIZE, &INK, HPos::Left, VPos::Top)))?;
    }
    Ok(())
}

/// A polyline drawn as 8-pixel dashes with 6-pixel gaps, measured along the line.
fn dashed<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    pts: &[(i32, i32)],
    style: ShapeStyle,
) -> DrawResult<DB, ()> {
    const ON: f64 = 8.0;
    const PERIOD: f64 = 14.0;
    let mut phase = 0.0f64;
    let mut dash: Vec<(i32, i32)> = Vec::new();
    for seg in pts.windows(2) {
        let ((ax, ay), (bx, by)) = (seg[0], seg[1]);
        let len = (((bx - ax) as f64).powi(2) + ((by - ay) as f64).powi(2)).sqrt();
        let mut at = 0.0f64;
        while at < len {
            let on = phase < ON;
            let step = if on { ON - phase } else { PERIOD - phase }.min(len - at);
            let p = |t: f64| {
                let f = if len > 0.0 { t / len } else { 0.0 };
                ((ax as f64 + f * (bx - ax) as f64).round() as i32, (ay as f64 + f * (by - ay) as f64).round() as i32)
            };
            if on {
                if dash.is_empty() {
                    dash.push(p(at));
                }
                dash.push(p(at + step));
            } else if dash.len() > 1 {
                area.draw(&PathElement::new(std::mem::take(&mut dash), style))?;
            } else {
                dash.clear();
            }
            at += step;
            phase = (phase + step) % PERIOD;
        }
    }
    if dash.len() > 1 {
        area.draw(&PathElement::new(dash, style))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::charts::MediaSample;
    use crate::time::SimDuration;

    #[test]
    fn jitter_follows_rfc3550_and_skips_losses() {
        let at = |ms: u64| SimTime::from_nanos(ms * 1_000_000);
        let m = MediaSeries {
            samples: vec![
                MediaSample { sent: at(0), delay: Some(SimDuration::from_millis(10)) },
                MediaSample { sent: at(20), delay: None },
                MediaSample { sent: at(40), delay: Some(SimDuration::from_millis(26)) },
            ],
            ..MediaSeries::default()
        };
        let j = m.running_jitter();
        assert_eq!(j.len(), 2);
        assert_eq!(j[0].1, 0.0);
        assert_eq!(j[1].1, 1.0, "a 16 ms change moves J by a sixteenth");
    }
}
