//! Per-path quality: for every working path of a call, the one-way delay as a box plot with
//! the E-model MOS on a secondary axis, then jitter and loss as bars; the path ICE chose is
//! drawn dark and starred, the alternatives light.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::style::{
    CHOSEN, FONT, GRID, Glyph, INK, LABEL_SIZE, LINE, MUTED, OTHER, PAPER, SIGNALING, SMALL_SIZE, TICK_SIZE, frame,
    glyph, legend_row, no_data, star, text, text_left, tick, truncate,
};
use super::{Chart, DelaySpread, DrawResult, QualityChart, QualityPath};
use crate::report::quality::DelaySummary;
use crate::scenario::{CallOutcome, Direction};
use crate::time::SimDuration;

/// At most this many paths (a call rarely has more than four working ones).
const MAX_PATHS: usize = 8;

impl DelaySpread {
    /// From a summary alone: the box runs from the minimum to the 95th percentile, the
    /// line marks the mean.
    pub fn from_summary(d: &DelaySummary) -> DelaySpread {
        DelaySpread { min: d.min, low: d.min, mid: d.mean, high: d.p95, max: d.max, mean: d.mean, quartiles: false }
    }

    /// From per-packet delays: quartiles by nearest rank. `None` when there are none.
    pub fn from_samples(delays: &[SimDuration]) -> Option<DelaySpread> {
        let mut v = delays.to_vec();
        v.sort();
        let n = v.len();
        if n == 0 {
            return None;
        }
        // Nearest rank: the ⌈q·n⌉-th smallest, computed in integers.
        let rank = |num: usize| v[(num * n).div_ceil(100).clamp(1, n) - 1];
        let sum: u128 = v.iter().map(|d| d.as_nanos() as u128).sum();
        Some(DelaySpread {
            min: v[0],
            low: rank(25),
            mid: rank(50),
            high: rank(75),
            max: v[n - 1],
            mean: SimDuration::from_nanos((sum / n as u128) as u64),
            quartiles: true,
        })
    }
}

impl QualityChart {
    /// Every path media was measured on caller to callee (the direction the verdict judges),
    /// the selected one first; the delay box from the per-packet samples when the call
    /// kept them, else from the summary.
    pub fn from_call(call: &CallOutcome) -> QualityChart {
        QualityChart {
            title: format!("Media quality per path: {} → {}", call.caller, call.callee),
            paths: call
                .media_paths
                .iter()
                .filter(|m| m.direction == Direction::CallerToCallee)
                .map(|m| QualityPath {
                    name: m.path.replace(" -> ", " → "),
                    selected: m.selected,
                    delay: DelaySpread::from_samples(&m.samples.iter().filter_map(|s| s.delay).collect::<Vec<_>>())
                        .or_else(|| m.summary.delay.as_ref().map(DelaySpread::from_summary)),
                    jitter: m.summary.jitter,
                    loss: m.summary.loss_fraction,
                    mos: m.mos,
                })
                .collect(),
        }
    }
}

impl Chart for QualityChart {
    fn name(&self) -> &'static str {
        "path-quality"
    }
    fn title(&self) -> &str {
        &self.title
    }
    fn no_data(&self) -> Option<&'static str> {
        self.paths.is_empty().then_some("no media was measured: the call did not connect, or it carried no media")
    }
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB, ()> {
        let body = frame(area, &self.title)?;
        if let Some(why) = self.no_data() {
            return no_data(&body, why);
        }
        draw_quality(self, &body)
    }
}

fn ms(d: SimDuration) -> f64 {
    d.as_millis_f64()
}

fn fill_of(p: &QualityPath) -> RGBColor {
    if p.selected { CHOSEN } else { OTHER }
}

fn draw_quality<DB: DrawingBackend>(q: &QualityChart, area: &DrawingArea<DB, Shift>) -> DrawResult<DB, ()> {
    let paths: Vec<&QualityPath> = q.paths.iter().take(MAX_PATHS).collect();
    let n = paths.len();
    let (w, h) = area.dim_in_pixel();
    let key_h = 84 + LINE * n as i32;
    let (panels, key) = area.split_vertically(h as i32 - key_h);
    let (w, base) = (w as i32, area.get_base_pixel());
    let parts = panels.split_by_breakpoints([w * 52 / 100, w * 76 / 100], [] as [i32; 0]);
    let x_range = -0.6..(n as f64 - 0.4);
    let label = |i: usize| if paths[i].selected { format!("P{} ★", i + 1) } else { format!("P{}", i + 1) };

    // Delay box plot with MOS on the right axis.
    let top = paths.iter().filter_map(|p| p.delay.map(|d| ms(d.max))).fold(0.0f64, f64::max);
    let y_max = if top > 0.0 { top * 1.15 } else { 1.0 };
    let mut chart = ChartBuilder::on(&parts[0])
        .margin(10)
        .margin_right(34)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .right_y_label_area_size(84)
        .caption("one-way delay (box) and MOS (◆)", (FONT, LABEL_SIZE))
        .build_cartesian_2d(x_range.clone(), 0.0..y_max)?
        .set_secondary_coord(x_range.clone(), 1.0..5.0);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(8)
        .light_line_style(GRID.mix(0.3))
        .bold_line_style(GRID)
        .y_label_formatter(&|v| tick(*v, y_max))
        .y_desc("one-way delay (ms)")
        .label_style((FONT, TICK_SIZE))
        .axis_desc_style((FONT, LABEL_SIZE))
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_labels(5)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .y_desc("MOS (1–5)")
        .label_style((FONT, TICK_SIZE))
        .axis_desc_style((FONT, LABEL_SIZE))
        .draw()?;
    let px = |c: (i32, i32)| (c.0 - base.0, c.1 - base.1);
    let half = ((chart.backend_coord(&(0.3, 0.0)).0 - chart.backend_coord(&(0.0, 0.0)).0).abs()).clamp(6, 60);
    for (i, p) in paths.iter().enumerate() {
        let x = i as f64;
        let (cx, axis_y) = px(chart.backend_coord(&(x, 0.0)));
        area.draw(&Text::new(label(i), (cx, axis_y + 8), text(TICK_SIZE, &INK, HPos::Center, VPos::Top)))?;
        let Some(d) = p.delay else {
            let (_, y) = px(chart.backend_coord(&(x, y_max / 2.0)));
            area.draw(&Text::new("nothing received", (cx, y), text(SMALL_SIZE, &MUTED, HPos::Center, VPos::Center)))?;
            continue;
        };
        let y = |v: SimDuration| px(chart.backend_coord(&(x, ms(v)))).1;
        let fill = fill_of(p);
        let ink = if p.selected { INK } else { MUTED };
        // Whisker from min to max with caps.
        let whisk = ShapeStyle::from(&ink).stroke_width(2);
        area.draw(&PathElement::new(vec![(cx, y(d.min)), (cx, y(d.max))], whisk))?;
        for v in [d.min, d.max] {
            area.draw(&PathElement::new(vec![(cx - half / 2, y(v)), (cx + half / 2, y(v))], whisk))?;
        }
        // The box (at least 3 px tall so a tight path still shows one).
        let (yl, yh) = (y(d.low), y(d.high).min(y(d.low) - 3));
        area.draw(&Rectangle::new([(cx - half, yh), (cx + half, yl)], ShapeStyle::from(&fill).filled()))?;
        area.draw(&Rectangle::new(
            [(cx - half, yh), (cx + half, yl)],
            ShapeStyle::from(&INK).stroke_width(if p.selected { 3 } else { 1 }),
        ))?;
        let mid_ink = if p.selected { PAPER } else { INK };
        area.draw(&PathElement::new(
            vec![(cx - half, y(d.mid)), (cx + half, y(d.mid))],
            ShapeStyle::from(&mid_ink).stroke_width(3),
        ))?;
        glyph(area, (cx, y(d.mean)), 5, Glyph::Circle { color: INK, filled: false })?;
        if p.selected {
            star(area, (cx, y(d.max) - 18), 10, INK)?;
        }
        area.draw(&Text::new(
            format!("{:.1}", ms(d.mean)),
            (cx + half + 6, y(d.mean)),
            text(SMALL_SIZE, &INK, HPos::Left, VPos::Center),
        ))?;
    }
    for (i, p) in paths.iter().enumerate() {
        let Some(mos) = p.mos else { continue };
        let (mx, my) = px(chart.borrow_secondary().backend_coord(&(i as f64 + 0.38, mos.clamp(1.0, 5.0))));
        glyph(area, (mx, my), 8, Glyph::Diamond { color: SIGNALING })?;
        area.draw(&Text::new(
            format!("{mos:.2}"),
            (mx, my - 12),
            text(SMALL_SIZE, &SIGNALING, HPos::Center, VPos::Bottom),
        ))?;
    }

    // Jitter and loss as bars.
    let jitter: Vec<f64> = paths.iter().map(|p| ms(p.jitter)).collect();
    let loss: Vec<f64> = paths.iter().map(|p| 100.0 * p.loss.clamp(0.0, 1.0)).collect();
    bars(area, &parts[1], &paths, &jitter, "jitter (RFC 3550)", "jitter (ms)", |v| format!("{v:.1}"), &label)?;
    bars(area, &parts[2], &paths, &loss, "packet loss", "loss (%)", |v| format!("{v:.2}"), &label)?;

    // Key: what each path is, then what the marks mean.
    let key_chars = ((w - 60) as f64 / (SMALL_SIZE * 0.6)) as usize;
    // A box means quartiles when drawn from samples, min to p95 from a summary; when a
    // chart has both, the summary paths are marked † and the legend says which is which.
    let from_summary = |p: &QualityPath| p.delay.is_some_and(|d| !d.quartiles);
    let summaries = paths.iter().filter(|p| from_summary(p)).count();
    let mixed = summaries > 0 && summaries < paths.iter().filter(|p| p.delay.is_some()).count();
    let mut y = 4;
    for (i, p) in paths.iter().enumerate() {
        let mos = p.mos.map_or(String::new(), |m| format!("  (MOS {m:.2})"));
        let chosen = if p.selected { "  ← chosen by ICE" } else { "" };
        let dagger = if mixed && from_summary(p) { " †" } else { "" };
        key.draw(&Text::new(
            truncate(&format!("P{}{dagger}: {}{mos}{chosen}", i + 1, p.name), key_chars),
            (30, y),
            text_left(SMALL_SIZE, &INK),
        ))?;
        y += LINE;
    }
    let box_meaning = if mixed {
        "box: p25 to p75, bar: median (†: min to p95, bar: mean)"
    } else if summaries > 0 {
        "box: min to p95, bar: mean"
    } else {
        "box: p25 to p75, bar: median"
    };
    legend_row(
        &key,
        (30, y + 6),
        w - 20,
        &[
            (Glyph::Swatch { fill: CHOSEN, hatched: false }, "chosen path (★)"),
            (Glyph::Swatch { fill: OTHER, hatched: false }, "other working path"),
            (Glyph::Line { color: INK, width: 2, dashed: false }, box_meaning),
            (Glyph::Circle { color: INK, filled: false }, "mean"),
            (Glyph::Diamond { color: SIGNALING }, "MOS (right axis)"),
        ],
    )?;
    Ok(())
}

/// A bar per path on its own small chart.
#[allow(clippy::too_many_arguments)]
fn bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    panel: &DrawingArea<DB, Shift>,
    paths: &[&QualityPath],
    values: &[f64],
    caption: &str,
    y_desc: &str,
    fmt: impl Fn(f64) -> String,
    label: &dyn Fn(usize) -> String,
) -> DrawResult<DB, ()> {
    let n = paths.len();
    let top = values.iter().copied().filter(|v| v.is_finite()).fold(0.0f64, f64::max);
    let y_max = if top > 0.0 { top * 1.25 } else { 1.0 };
    let mut chart = ChartBuilder::on(panel)
        .margin(10)
        .margin_left(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .caption(caption, (FONT, LABEL_SIZE))
        .build_cartesian_2d(-0.6..(n as f64 - 0.4), 0.0..y_max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(6)
        .light_line_style(GRID.mix(0.3))
        .bold_line_style(GRID)
        .y_label_formatter(&|v| tick(*v, y_max))
        .y_desc(y_desc)
        .label_style((FONT, TICK_SIZE))
        .axis_desc_style((FONT, LABEL_SIZE))
        .draw()?;
    let base = root.get_base_pixel();
    let px = |c: (i32, i32)| (c.0 - base.0, c.1 - base.1);
    let half = ((chart.backend_coord(&(0.3, 0.0)).0 - chart.backend_coord(&(0.0, 0.0)).0).abs()).clamp(6, 50);
    for (i, (p, v)) in paths.iter().zip(values).enumerate() {
        let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
        let (cx, y0) = px(chart.backend_coord(&(i as f64, 0.0)));
        let (_, y1) = px(chart.backend_coord(&(i as f64, v)));
        root.draw(&Text::new(label(i), (cx, y0 + 8), text(TICK_SIZE, &INK, HPos::Center, VPos::Top)))?;
        if y0 - y1 >= 1 {
            root.draw(&Rectangle::new([(cx - half, y1), (cx + half, y0)], ShapeStyle::from(&fill_of(p)).filled()))?;
            root.draw(&Rectangle::new(
                [(cx - half, y1), (cx + half, y0)],
                ShapeStyle::from(&INK).stroke_width(if p.selected { 3 } else { 1 }),
            ))?;
        }
        root.draw(&Text::new(fmt(v), (cx, y1 - 4), text(SMALL_SIZE, &INK, HPos::Center, VPos::Bottom)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_by_nearest_rank() {
        let d: Vec<SimDuration> = (1..=8).map(SimDuration::from_millis).collect();
        let s = DelaySpread::from_samples(&d).unwrap();
        assert_eq!(
            (s.min, s.low, s.mid, s.high, s.max),
            (
                SimDuration::from_millis(1),
                SimDuration::from_millis(2),
                SimDuration::from_millis(4),
                SimDuration::from_millis(6),
                SimDuration::from_millis(8)
            )
        );
        assert_eq!(s.mean, SimDuration::from_nanos(4_500_000));
        assert!(DelaySpread::from_samples(&[]).is_none());
        let one = DelaySpread::from_samples(&[SimDuration::from_millis(3)]).unwrap();
        assert_eq!(one.low, one.high);
    }
}
