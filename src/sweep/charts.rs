//! A sweep's charts: per parameter, the share of each winning pair type at each value
//! (stacked bars), and the MOS distribution as CDFs (one line per value of a parameter, or
//! one for all runs). Drawn with the report's plotters helpers: the embedded font, the
//! palette, the title frame and the "no data" panel, as SVG and PNG.

use std::path::Path as FsPath;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::{SweepReport, pair_rank};
use crate::report::charts::style::{
    BAD, CHOSEN, FONT, FROZEN, GOOD, GRID, Glyph, INK, LABEL_SIZE, LOAD, MUTED, OTHER, PENDING, SIGNALING, SMALL_SIZE,
    TICK_SIZE, frame, legend_row, no_data, text, truncate,
};
use crate::report::charts::{Chart, DrawResult, png, svg};

/// Fills for pair types, in preference order, each a different lightness; `none` is
/// always vermilion and hatched.
const FILLS: [RGBColor; 7] = [GOOD, CHOSEN, OTHER, PENDING, FROZEN, SIGNALING, LOAD];
/// Line colours and dash patterns for CDFs, so lines differ without colour too.
const LINES: [(RGBColor, bool); 8] = [
    (CHOSEN, false),
    (BAD, false),
    (GOOD, false),
    (SIGNALING, false),
    (CHOSEN, true),
    (BAD, true),
    (GOOD, true),
    (SIGNALING, true),
];

/// Pair-type shares at each value of one parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct PairShares {
    pub title: String,
    pub parameter: String,
    /// The parameter's values, left to right.
    pub values: Vec<String>,
    /// Pair types, bottom to top.
    pub types: Vec<String>,
    /// `shares[v][t]`: the share of runs at value `v` won by type `t`.
    pub shares: Vec<Vec<f64>>,
    pub runs: Vec<usize>,
}

/// MOS CDFs: for each line, the fraction of calls whose MOS is at most x.
#[derive(Clone, Debug, PartialEq)]
pub struct MosCdf {
    pub title: String,
    /// `(label, sorted MOS values)`.
    pub lines: Vec<(String, Vec<f64>)>,
}

impl PairShares {
    pub fn from_report(r: &SweepReport) -> Vec<PairShares> {
        r.summary
            .by_parameter
            .iter()
            .map(|b| {
                let mut types: Vec<String> = Vec::new();
                for v in &b.values {
                    for t in v.group.pair_types.keys() {
                        if !types.contains(t) {
                            types.push(t.clone());
                        }
                    }
                }
                types.sort_by_key(|t| pair_rank(t));
                PairShares {
                    title: format!("Winning pair types by {}", b.parameter),
                    parameter: b.parameter.clone(),
                    values: b.values.iter().map(|v| v.value.clone()).collect(),
                    shares: b
                        .values
                        .iter()
                        .map(|v| types.iter().map(|t| v.group.pair_types.get(t).map_or(0.0, |s| s.share)).collect())
                        .collect(),
                    runs: b.values.iter().map(|v| v.group.runs).collect(),
                    types,
                }
            })
            .collect()
    }
}

impl MosCdf {
    /// One chart for all runs, then one per parameter with a line per value.
    pub fn from_report(r: &SweepReport) -> Vec<MosCdf> {
        let mos = |rows: &mut dyn Iterator<Item = &super::RunRow>| -> Vec<f64> {
            let mut v: Vec<f64> = rows.filter_map(|r| r.mos).collect();
            v.sort_by(f64::total_cmp);
            v
        };
        let mut out = vec![MosCdf {
            title: "MOS over all runs (CDF)".into(),
            lines: vec![("all runs".into(), mos(&mut r.runs.iter()))],
        }];
        for (k, p) in r.header.parameters.iter().enumerate() {
            out.push(MosCdf {
                title: format!("MOS by {} (CDF)", p.name),
                lines: p
                    .values
                    .iter()
                    .map(|v| (v.clone(), mos(&mut r.runs.iter().filter(|x| x.values.get(k) == Some(v)))))
                    .collect(),
            });
        }
        out
    }
}

/// Writes every chart of the report into `dir` as `<name>.svg` and `<name>.png`; returns
/// the file stems written.
pub fn write_charts(r: &SweepReport, dir: &FsPath) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut names = Vec::new();
    let mut put = |name: String, svg_text: String, png_bytes: Vec<u8>| -> std::io::Result<()> {
        std::fs::write(dir.join(format!("{name}.svg")), svg_text)?;
        std::fs::write(dir.join(format!("{name}.png")), png_bytes)?;
        names.push(name);
        Ok(())
    };
    for c in PairShares::from_report(r) {
        put(format!("pair-types-{}", slug(&c.parameter)), svg(&c), png(&c))?;
    }
    for (i, c) in MosCdf::from_report(r).into_iter().enumerate() {
        let name =
            if i == 0 { "mos-cdf".to_string() } else { format!("mos-cdf-{}", slug(&r.header.parameters[i - 1].name)) };
        put(name, svg(&c), png(&c))?;
    }
    Ok(names)
}

/// A file-name-safe form of a parameter name: `nat home-b-rtr` → `nat-home-b-rtr`.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        if ch.is_ascii_alphanumeric() || ch == '.' || ch == '_' {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

impl Chart for PairShares {
    fn name(&self) -> &'static str {
        "pair-types"
    }
    fn title(&self) -> &str {
        &self.title
    }
    fn no_data(&self) -> Option<&'static str> {
        (self.values.is_empty() || self.runs.iter().all(|n| *n == 0))
            .then_some("no run of this sweep took these values")
    }
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB, ()> {
        let body = frame(area, &self.title)?;
        if let Some(why) = self.no_data() {
            return no_data(&body, why);
        }
        let (w, h) = body.dim_in_pixel();
        let legend_h = 32 * (1 + self.types.len() as i32 / 3) + 12;
        let (plot, key) = body.split_vertically(h as i32 - legend_h);
        let n = self.values.len();
        let mut chart = ChartBuilder::on(&plot)
            .margin(16)
            .margin_right(30)
            .x_label_area_size(56)
            .y_label_area_size(80)
            .build_cartesian_2d(-0.6..(n as f64 - 0.4), 0.0..1.0)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(6)
            .light_line_style(GRID.mix(0.3))
            .bold_line_style(GRID)
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .y_desc("share of runs")
            .label_style((FONT, TICK_SIZE))
            .axis_desc_style((FONT, LABEL_SIZE))
            .draw()?;
        let base = plot.get_base_pixel();
        let px = |c: (i32, i32)| (c.0 - base.0, c.1 - base.1);
        let half = ((chart.backend_coord(&(0.35, 0.0)).0 - chart.backend_coord(&(0.0, 0.0)).0).abs()).clamp(6, 90);
        // A label may use its whole slot (bars take 70% of it).
        let max_label = (2 * half as usize * 10 / 7 / 11).max(6);
        for (i, shares) in self.shares.iter().enumerate() {
            let x = i as f64;
            let (cx, axis_y) = px(chart.backend_coord(&(x, 0.0)));
            plot.draw(&Text::new(
                truncate(&self.values[i], max_label),
                (cx, axis_y + 8),
                text(TICK_SIZE, &INK, HPos::Center, VPos::Top),
            ))?;
            plot.draw(&Text::new(
                format!("{} runs", self.runs[i]),
                (cx, axis_y + 32),
                text(SMALL_SIZE, &MUTED, HPos::Center, VPos::Top),
            ))?;
            let mut acc = 0.0;
            for (t, share) in shares.iter().enumerate() {
                if *share <= 0.0 {
                    continue;
                }
                let y0 = px(chart.backend_coord(&(x, acc))).1;
                acc += share;
                let y1 = px(chart.backend_coord(&(x, acc.min(1.0)))).1;
                let (fill, hatched) = self.fill(t);
                plot.draw(&Rectangle::new([(cx - half, y1), (cx + half, y0)], ShapeStyle::from(&fill).filled()))?;
                if hatched {
                    crate::report::charts::style::hatch(&plot, (cx - half, y1), (cx + half, y0), 9, &INK)?;
                }
                plot.draw(&Rectangle::new([(cx - half, y1), (cx + half, y0)], ShapeStyle::from(&INK)))?;
                if y0 - y1 >= 22 {
                    let ink = if matches!(fill, GOOD | CHOSEN | SIGNALING) {
                        &crate::report::charts::style::PAPER
                    } else {
                        &INK
                    };
                    plot.draw(&Text::new(
                        format!("{:.0}%", share * 100.0),
                        (cx, (y0 + y1) / 2),
                        text(SMALL_SIZE, ink, HPos::Center, VPos::Center),
                    ))?;
                }
            }
        }
        let items: Vec<(Glyph, &str)> = self
            .types
            .iter()
            .enumerate()
            .map(|(t, name)| {
                let (fill, hatched) = self.fill(t);
                (Glyph::Swatch { fill, hatched }, name.as_str())
            })
            .collect();
        legend_row(&key, (90, 4), w as i32 - 20, &items)?;
        Ok(())
    }
}

impl PairShares {
    fn fill(&self, t: usize) -> (RGBColor, bool) {
        if self.types[t] == super::NO_PAIR {
            return (BAD, true);
        }
        (FILLS[t % FILLS.len()], false)
    }
}

impl Chart for MosCdf {
    fn name(&self) -> &'static str {
        "mos-cdf"
    }
    fn title(&self) -> &str {
        &self.title
    }
    fn no_data(&self) -> Option<&'static str> {
        self.lines
            .iter()
            .all(|(_, v)| v.is_empty())
            .then_some("no run measured a MOS: calls failed, carried no media (`duration: 0s`) or were not audio")
    }
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB, ()> {
        let body = frame(area, &self.title)?;
        if let Some(why) = self.no_data() {
            return no_data(&body, why);
        }
        let (w, h) = body.dim_in_pixel();
        let shown: Vec<&(String, Vec<f64>)> = self.lines.iter().take(LINES.len()).collect();
        let legend_h = 32 * (1 + shown.len() as i32 / 3) + 12;
        let (plot, key) = body.split_vertically(h as i32 - legend_h);
        // Fit the axis to the data (with a margin), within the MOS scale.
        let lo = shown.iter().filter_map(|(_, v)| v.first()).fold(5.0f64, |a, b| a.min(*b));
        let hi = shown.iter().filter_map(|(_, v)| v.last()).fold(1.0f64, |a, b| a.max(*b));
        let pad = ((hi - lo) * 0.1).max(0.05);
        let (x_lo, x_hi) = ((lo - pad).max(1.0), (hi + pad).min(5.0));
        let mut chart = ChartBuilder::on(&plot)
            .margin(16)
            .margin_right(30)
            .x_label_area_size(56)
            .y_label_area_size(80)
            .build_cartesian_2d(x_lo..x_hi, 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_labels(8)
            .y_labels(6)
            .light_line_style(GRID.mix(0.3))
            .bold_line_style(GRID)
            .x_label_formatter(&|v| if x_hi - x_lo < 0.5 { format!("{v:.2}") } else { format!("{v:.1}") })
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .x_desc("MOS (E-model estimate)")
            .y_desc("calls with MOS at most x")
            .label_style((FONT, TICK_SIZE))
            .axis_desc_style((FONT, LABEL_SIZE))
            .draw()?;
        let mut items: Vec<(Glyph, String)> = Vec::new();
        for (i, (label, values)) in shown.iter().enumerate() {
            let (color, dashed) = LINES[i];
            items.push((Glyph::Line { color, width: 3, dashed }, format!("{label} ({} calls)", values.len())));
            if values.is_empty() {
                continue;
            }
            let n = values.len() as f64;
            // A step function: flat until each value, then up by 1/n (ties climb at once).
            let mut pts = vec![(x_lo, 0.0)];
            for (k, v) in values.iter().enumerate() {
                let x = v.clamp(x_lo, x_hi);
                pts.push((x, k as f64 / n));
                pts.push((x, (k + 1) as f64 / n));
            }
            pts.push((x_hi, 1.0));
            let style = ShapeStyle::from(&color).stroke_width(3);
            if dashed {
                chart.draw_series(DashedLineSeries::new(pts, 10, 6, style))?;
            } else {
                chart.draw_series(LineSeries::new(pts, style))?;
            }
        }
        let refs: Vec<(Glyph, &str)> = items.iter().map(|(g, s)| (*g, s.as_str())).collect();
        legend_row(&key, (90, 4), w as i32 - 20, &refs)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_file_names() {
        assert_eq!(slug("nat home-b-rtr"), "nat-home-b-rtr");
        assert_eq!(slug("latency access/a"), "latency-access-a");
    }

    #[test]
    fn empty_charts_say_why() {
        let c = MosCdf { title: "t".into(), lines: vec![("all".into(), Vec::new())] };
        assert!(c.no_data().is_some());
        assert!(svg(&c).contains("no data"));
        let p = PairShares {
            title: "t".into(),
            parameter: "p".into(),
            values: vec!["a".into()],
            types: vec!["host udp -> host udp".into(), "none".into()],
            shares: vec![vec![0.75, 0.25]],
            runs: vec![4],
        };
        assert!(p.no_data().is_none());
        let s = svg(&p);
        assert!(s.contains("75%") && s.contains("host udp"), "{s}");
    }
}
