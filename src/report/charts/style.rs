//! What every chart shares: the embedded font, the palette, text helpers and the "no data"
//! panel.
//!
//! The palette is chosen so that each meaning differs in lightness as well as hue (a
//! grey-scale printout keeps them apart) and every state also carries a letter or a marker
//! shape, so nothing depends on colour alone.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::DrawResult;

/// The family every chart asks for. The embedded DejaVu Sans is registered under this name
/// for the PNG rasterizer; SVG text names it too, so a browser uses its own sans-serif.
pub(crate) const FONT: &str = "sans-serif";

/// DejaVu Sans (Bitstream Vera licence, see assets/fonts/LICENSE): embedded so that PNG
/// rendering needs no fontconfig and no system fonts.
static DEJAVU_SANS: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font with plotters, once per process.
pub(crate) fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType file checked into the repository; a failure here
        // would show as missing text in PNGs, which the tests catch.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU_SANS);
    });
}

// Text sizes at the 1280×720 slide size, in plotters' units (an SVG shows them 1/1.24 as
// large, and a page scales the chart down a little more, so they are generous).
pub(crate) const TITLE_SIZE: f64 = 34.0;
pub(crate) const LABEL_SIZE: f64 = 23.0;
pub(crate) const TICK_SIZE: f64 = 20.0;
pub(crate) const SMALL_SIZE: f64 = 18.0;
/// Line spacing of small text, in pixels.
pub(crate) const LINE: i32 = 21;

pub(crate) const INK: RGBColor = RGBColor(0x1a, 0x1a, 0x1a);
pub(crate) const MUTED: RGBColor = RGBColor(0x5f, 0x5f, 0x5f);
pub(crate) const GRID: RGBColor = RGBColor(0xd0, 0xd0, 0xd0);
pub(crate) const PAPER: RGBColor = RGBColor(0xff, 0xff, 0xff);

// The pair states, dark to light in grey (Rec. 601 luma in brackets, at least 25 apart,
// which a test checks).
/// Dark green: a pair that succeeded, the good path (luma 63).
pub(crate) const GOOD: RGBColor = RGBColor(0x0b, 0x5d, 0x2a);
/// Vermilion: a pair that failed (luma 97, and hatched).
pub(crate) const BAD: RGBColor = RGBColor(0xd7, 0x30, 0x27);
/// Orange: checks still pending (luma 170).
pub(crate) const PENDING: RGBColor = RGBColor(0xf3, 0x9c, 0x35);
/// Light blue: frozen pairs (luma 205).
pub(crate) const FROZEN: RGBColor = RGBColor(0xab, 0xd9, 0xe9);
/// Very light grey: pairs never checked (pruned or stopped) (luma 240).
pub(crate) const UNCHECKED: RGBColor = RGBColor(0xf0, 0xf0, 0xf0);
/// Deep blue: the chosen media path.
pub(crate) const CHOSEN: RGBColor = RGBColor(0x08, 0x45, 0x94);
/// Mid grey-blue: paths that worked but were not chosen.
pub(crate) const OTHER: RGBColor = RGBColor(0x9e, 0xb3, 0xc8);
/// Purple: signaling (SIP) messages and the signaling path.
pub(crate) const SIGNALING: RGBColor = RGBColor(0x76, 0x2a, 0x83);
/// Orange-brown: background load.
pub(crate) const LOAD: RGBColor = RGBColor(0xe6, 0x61, 0x01);

/// A text style of `size` pixels in `color`, anchored at `(h, v)`.
pub(crate) fn text(size: f64, color: &'static RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    (FONT, size).into_font().color(color).pos(Pos::new(h, v))
}

/// Left-aligned text, top-anchored.
pub(crate) fn text_left(size: f64, color: &'static RGBColor) -> TextStyle<'static> {
    text(size, color, HPos::Left, VPos::Top)
}

/// Centred text.
pub(crate) fn text_center(size: f64, color: &'static RGBColor) -> TextStyle<'static> {
    text(size, color, HPos::Center, VPos::Center)
}

/// A rough width of `s` in pixels at `size`: DejaVu Sans averages a little over half an
/// em per character. Used to wrap and truncate, never to place text exactly.
pub(crate) fn approx_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.58
}

/// Cuts `s` to at most `max` characters, ending in an ellipsis when shortened.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(1);
    let mut out: String = s.chars().take(keep).collect();
    out.push('…');
    out
}

/// Breaks `s` into lines of at most `width` characters at spaces (a word longer than a
/// line is cut), keeping at most `lines` lines; the last kept line ends in an ellipsis when
/// text was left over.
pub(crate) fn wrap(s: &str, width: usize, lines: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in s.split_whitespace() {
        let word = truncate(word, width);
        let len = cur.chars().count();
        if len == 0 {
            cur = word;
        } else if len + 1 + word.chars().count() <= width {
            cur.push(' ');
            cur.push_str(&word);
        } else {
            out.push(std::mem::take(&mut cur));
            cur = word;
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    if out.len() > lines {
        out.truncate(lines.max(1));
        if let Some(last) = out.last_mut() {
            let shortened = truncate(last, width.saturating_sub(1).max(1));
            *last = if shortened.ends_with('…') { shortened } else { format!("{shortened}…") };
        }
    }
    out
}

/// An axis tick value with as many decimals as the span needs, formatted the same way
/// on every machine.
pub(crate) fn tick(v: f64, span: f64) -> String {
    let v = if v.abs() < 1e-9 { 0.0 } else { v };
    if span >= 20.0 {
        format!("{v:.0}")
    } else if span >= 2.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A range that plotters can scale: never empty, never NaN.
pub(crate) fn safe_range(lo: f64, hi: f64) -> (f64, f64) {
    let (lo, hi) = (if lo.is_finite() { lo } else { 0.0 }, if hi.is_finite() { hi } else { 1.0 });
    if hi - lo > 1e-9 { (lo, hi) } else { (lo - 0.5, lo + 0.5) }
}

/// Fills the area white and writes the title at the top; returns the area below it.
pub(crate) fn frame<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
) -> DrawResult<DB, DrawingArea<DB, Shift>> {
    area.fill(&PAPER)?;
    let (w, _) = area.dim_in_pixel();
    area.draw(&Text::new(truncate(title, 80), (w as i32 / 2, 14), text(TITLE_SIZE, &INK, HPos::Center, VPos::Top)))?;
    Ok(area.margin(60, 0, 0, 0))
}

/// The panel shown instead of a chart when there is nothing to draw.
pub(crate) fn no_data<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, why: &str) -> DrawResult<DB, ()> {
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    area.draw(&Rectangle::new([(40, 20), (w - 40, h - 40)], ShapeStyle::from(&GRID).stroke_width(2)))?;
    area.draw(&Text::new("no data", (w / 2, h / 2 - 24), text_center(TITLE_SIZE, &MUTED)))?;
    for (i, line) in wrap(why, 90, 3).iter().enumerate() {
        area.draw(&Text::new(line.clone(), (w / 2, h / 2 + 16 + 24 * i as i32), text_center(LABEL_SIZE, &MUTED)))?;
    }
    Ok(())
}

/// Diagonal hatching inside a rectangle, so a cell or band reads as "different" even
/// without colour.
pub(crate) fn hatch<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (x0, y0): (i32, i32),
    (x1, y1): (i32, i32),
    step: i32,
    color: &RGBColor,
) -> DrawResult<DB, ()> {
    let style = ShapeStyle::from(color).stroke_width(1);
    let (w, h) = (x1 - x0, y1 - y0);
    if w <= 0 || h <= 0 {
        return Ok(());
    }
    // Lines x - y = c for c across the box, clipped to it by hand.
    let mut c = -h;
    while c < w {
        let (mut ax, mut ay) = (c, 0);
        if ax < 0 {
            ay = -ax;
            ax = 0;
        }
        let (mut bx, mut by) = (c + h, h);
        if bx > w {
            by = h - (bx - w);
            bx = w;
        }
        if ay <= h && by >= 0 {
            area.draw(&PathElement::new(vec![(x0 + ax, y0 + ay), (x0 + bx, y0 + by)], style))?;
        }
        c += step.max(2);
    }
    Ok(())
}

/// A legend or data marker, drawn in pixels. Shapes differ as well as colours, so a
/// grey-scale printout keeps them apart.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Glyph {
    /// A filled swatch, optionally hatched.
    Swatch { fill: RGBColor, hatched: bool },
    /// A circle, filled or hollow.
    Circle { color: RGBColor, filled: bool },
    /// A hollow triangle pointing up.
    Triangle { color: RGBColor },
    /// A diagonal cross.
    Cross { color: RGBColor },
    /// A filled diamond.
    Diamond { color: RGBColor },
    /// A filled five-pointed star.
    Star { color: RGBColor },
    /// A short line, solid or dashed.
    Line { color: RGBColor, width: u32, dashed: bool },
    /// A letter in a ringed disc.
    Badge { letter: char },
}

/// Draws `g` centred on `c`, about `r` pixels in radius.
pub(crate) fn glyph<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (cx, cy): (i32, i32),
    r: i32,
    g: Glyph,
) -> DrawResult<DB, ()> {
    match g {
        Glyph::Swatch { fill, hatched } => {
            let (a, b) = ((cx - r - 4, cy - r), (cx + r + 4, cy + r));
            area.draw(&Rectangle::new([a, b], ShapeStyle::from(&fill).filled()))?;
            if hatched {
                hatch(area, a, b, 7, &MUTED)?;
            }
            area.draw(&Rectangle::new([a, b], ShapeStyle::from(&MUTED)))?;
        }
        Glyph::Circle { color, filled } => {
            // A ring is a disc with a white disc inside: a stroked circle rasterizes with gaps.
            area.draw(&Circle::new((cx, cy), r, ShapeStyle::from(&color).filled()))?;
            if !filled {
                area.draw(&Circle::new((cx, cy), r - 2, ShapeStyle::from(&PAPER).filled()))?;
            }
        }
        Glyph::Triangle { color } => {
            let pts = vec![(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r), (cx, cy - r)];
            area.draw(&Polygon::new(pts.clone(), ShapeStyle::from(&PAPER).filled()))?;
            area.draw(&PathElement::new(pts, ShapeStyle::from(&color).stroke_width(2)))?;
        }
        Glyph::Cross { color } => {
            let style = ShapeStyle::from(&color).stroke_width(3);
            area.draw(&PathElement::new(vec![(cx - r, cy - r), (cx + r, cy + r)], style))?;
            area.draw(&PathElement::new(vec![(cx - r, cy + r), (cx + r, cy - r)], style))?;
        }
        Glyph::Diamond { color } => {
            let pts = vec![(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)];
            area.draw(&Polygon::new(pts, ShapeStyle::from(&color).filled()))?;
        }
        Glyph::Star { color } => star(area, (cx, cy), r + 2, color)?,
        Glyph::Line { color, width, dashed } => {
            let style = ShapeStyle::from(&color).stroke_width(width);
            if dashed {
                for k in 0..3 {
                    let x = cx - 2 * r + k * (4 * r / 3);
                    area.draw(&PathElement::new(vec![(x, cy), (x + r * 2 / 3, cy)], style))?;
                }
            } else {
                area.draw(&PathElement::new(vec![(cx - 2 * r, cy), (cx + 2 * r, cy)], style))?;
            }
        }
        Glyph::Badge { letter } => {
            area.draw(&Circle::new((cx, cy), r + 3, ShapeStyle::from(&INK).filled()))?;
            area.draw(&Circle::new((cx, cy), r + 1, ShapeStyle::from(&PAPER).filled()))?;
            area.draw(&Text::new(letter.to_string(), (cx, cy), text_center(SMALL_SIZE, &INK)))?;
        }
    }
    Ok(())
}

/// A filled five-pointed star with a white rim.
pub(crate) fn star<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (cx, cy): (i32, i32),
    r: i32,
    color: RGBColor,
) -> DrawResult<DB, ()> {
    // Ten points alternating outer and inner radius, from the top, clockwise; rounded to
    // whole pixels so the SVG is the same everywhere.
    const UNIT: [(f64, f64); 10] = [
        (0.0, -1.0),
        (0.225, -0.309),
        (0.951, -0.309),
        (0.363, 0.118),
        (0.588, 0.809),
        (0.0, 0.382),
        (-0.588, 0.809),
        (-0.363, 0.118),
        (-0.951, -0.309),
        (-0.225, -0.309),
    ];
    let pts: Vec<(i32, i32)> =
        UNIT.iter().map(|(x, y)| (cx + (x * r as f64).round() as i32, cy + (y * r as f64).round() as i32)).collect();
    area.draw(&Polygon::new(pts.clone(), ShapeStyle::from(&color).filled()))?;
    let mut ring = pts;
    ring.push(ring[0]);
    area.draw(&PathElement::new(ring, ShapeStyle::from(&PAPER).stroke_width(1)))
}

/// A legend laid out left to right from `(x, y)`, wrapping at `max_x`; returns the bottom.
pub(crate) fn legend_row<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (x, y): (i32, i32),
    max_x: i32,
    items: &[(Glyph, &str)],
) -> DrawResult<DB, i32> {
    let (mut cx, mut cy) = (x, y);
    for (g, label) in items {
        let w = 40 + approx_width(label, TICK_SIZE) as i32 + 24;
        if cx + w > max_x && cx > x {
            cx = x;
            cy += 32;
        }
        glyph(area, (cx + 14, cy + 11), 8, *g)?;
        area.draw(&Text::new(label.to_string(), (cx + 36, cy + 1), text_left(TICK_SIZE, &INK)))?;
        cx += w;
    }
    Ok(cy + 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_words_and_marks_cut_text() {
        assert_eq!(wrap("dropped by corp-rtr: no route", 12, 3), ["dropped by", "corp-rtr: no", "route"]);
        let cut = wrap("one two three four five six", 8, 2);
        assert_eq!(cut.len(), 2);
        assert!(cut[1].ends_with('…'), "{cut:?}");
        assert!(wrap("", 10, 2).is_empty());
        assert_eq!(wrap("abcdefghijkl", 5, 1), ["abcd…"]);
    }

    #[test]
    fn pair_states_stay_apart_in_grey() {
        let luma = |c: RGBColor| 0.299 * c.0 as f64 + 0.587 * c.1 as f64 + 0.114 * c.2 as f64;
        let states = [GOOD, BAD, PENDING, FROZEN, UNCHECKED].map(luma);
        for pair in states.windows(2) {
            assert!(pair[1] - pair[0] >= 25.0, "{states:?}");
        }
        // The chosen path is darker than the alternatives.
        assert!(luma(OTHER) - luma(CHOSEN) >= 80.0);
    }

    #[test]
    fn ranges_are_never_empty() {
        assert_eq!(safe_range(3.0, 3.0), (2.5, 3.5));
        assert_eq!(safe_range(f64::NAN, f64::INFINITY), (0.0, 1.0));
        assert_eq!(safe_range(0.0, 2.0), (0.0, 2.0));
    }

    #[test]
    fn ticks_are_formatted_by_span() {
        assert_eq!(tick(12.345, 100.0), "12");
        assert_eq!(tick(12.345, 5.0), "12.3");
        assert_eq!(tick(-0.0000000001, 1.0), "0.00");
    }
}
