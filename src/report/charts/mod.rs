//! Charts for design reviews, drawn with plotters as SVG (for the HTML report) and PNG (for
//! slides).
//!
//! Each chart is a plain input struct defined here, filled by hand in tests or from a
//! `CallOutcome` and a `Topology` by the chart's `from_*` functions, and drawn by [`svg`] or
//! [`png`]. Charts never run a simulation and never look at the engine: what they show is
//! what the input says. Output is deterministic: the same input gives byte-identical SVG
//! (coordinates are whole pixels, numbers are formatted with fixed decimals, nothing is
//! iterated out of a hash map) and identical PNG bytes.
//!
//! Every chart has a title, axis labels with units and a legend, is sized for a slide
//! (1280×720), and keeps its meanings apart in grey scale: each state differs in lightness
//! and also carries a letter, a marker shape or a hatch. Empty input (no candidates, no
//! media, a failed call) draws a "no data" panel saying why instead of failing.
//!
//! PNG text is rasterized with DejaVu Sans embedded in the binary (`assets/fonts/`), so
//! rendering needs no fontconfig and no system fonts.

mod matrix;
mod quality;
mod series;
pub(crate) mod style;
mod timeline;
mod topology;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::time::{SimDuration, SimTime};

pub use matrix::short_reason;

/// Width and height in pixels of every chart: a 16:9 slide.
pub const SLIDE_SIZE: (u32, u32) = (1280, 720);

/// What drawing may fail with (only a backend error; our inputs cannot make it fail).
pub type DrawResult<DB, T> = Result<T, DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A chart that can draw itself on any plotters backend.
pub trait Chart {
    /// A file name stem for the chart ("pair-matrix"), unique per kind of chart.
    fn name(&self) -> &'static str;
    /// The chart's title, also used as the image's alternative text.
    fn title(&self) -> &str;
    /// Why there is nothing to draw, or `None` when there is. A chart without data draws a
    /// "no data" panel with this reason; a page may show the reason instead of the panel.
    fn no_data(&self) -> Option<&'static str>;
    /// Size in pixels; every chart is slide-sized unless it says otherwise.
    fn size(&self) -> (u32, u32) {
        SLIDE_SIZE
    }
    /// Draws the whole chart, title and legend included, on `area`.
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB, ()>;
}

/// The chart as an SVG document (text stays text, so a browser renders it with its own
/// sans-serif font).
pub fn svg<C: Chart>(chart: &C) -> String {
    style::ensure_font();
    let size = chart.size();
    let mut out = String::new();
    let ok = {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        chart.draw(&root).and_then(|()| root.present()).map_err(|e| e.to_string())
    };
    if let Err(e) = ok {
        // Only a backend error gets here; say so in the picture rather than panic.
        out.clear();
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        let _ = failed(&root, chart.title(), &e).and_then(|()| root.present());
    }
    out
}

/// The chart as a PNG image (8-bit RGB).
pub fn png<C: Chart>(chart: &C) -> Vec<u8> {
    style::ensure_font();
    let (w, h) = chart.size();
    let mut pixels = vec![0u8; w as usize * h as usize * 3];
    let ok = {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        chart.draw(&root).and_then(|()| root.present()).map_err(|e| e.to_string())
    };
    if let Err(e) = ok {
        pixels.iter_mut().for_each(|p| *p = 0);
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        let _ = failed(&root, chart.title(), &e).and_then(|()| root.present());
    }
    encode_png(&pixels, w, h)
}

fn failed<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, title: &str, why: &str) -> DrawResult<DB, ()> {
    let body = style::frame(area, title)?;
    style::no_data(&body, &format!("the chart could not be drawn: {why}"))
}

fn encode_png(rgb: &[u8], w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    // Writing into a Vec cannot fail for a buffer of exactly w×h×3 bytes.
    let written = enc.write_header().and_then(|mut wr| wr.write_image_data(rgb));
    debug_assert!(written.is_ok(), "invariant: the pixel buffer is w*h*3 bytes");
    out
}

/// Every chart of one call, filled from its outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct CallCharts {
    pub topology: TopologyDiagram,
    pub matrix: PairMatrix,
    pub timeline: IceTimeline,
    pub quality: QualityChart,
    pub series: MediaSeries,
}

impl CallCharts {
    /// The charts of `call` on `topo`, the topology with the selected pair's media path
    /// (caller to callee) and the INVITE's path through the proxies drawn over it, both as
    /// the call traced them.
    pub fn from_call(call: &crate::scenario::CallOutcome, topo: &crate::topology::Topology) -> CallCharts {
        let media_path = call
            .media_paths
            .iter()
            .find(|m| m.selected && m.direction == crate::scenario::Direction::CallerToCallee)
            .map(|m| m.nodes.clone())
            .unwrap_or_default();
        CallCharts {
            topology: TopologyDiagram::from_topology(topo)
                .with_media_path(media_path)
                .with_signaling_path(call.signaling_path.clone()),
            matrix: PairMatrix::from_call(call),
            timeline: IceTimeline::from_call(call),
            quality: QualityChart::from_call(call),
            series: MediaSeries::from_call(call),
        }
    }

    /// `(name, caption, SVG or why there is no data)` for each chart, in the order a page
    /// shows them.
    pub fn svgs(&self) -> Vec<(&'static str, &'static str, Result<String, &'static str>)> {
        fn one<C: Chart>(c: &C) -> Result<String, &'static str> {
            match c.no_data() {
                Some(why) => Err(why),
                None => Ok(svg(c)),
            }
        }
        vec![
            (self.topology.name(), "The network, with the call's media and signaling paths", one(&self.topology)),
            (self.matrix.name(), "Every candidate pair and how it ended", one(&self.matrix)),
            (self.timeline.name(), "Checks and call events over virtual time", one(&self.timeline)),
            (self.quality.name(), "Media quality on every working path", one(&self.quality)),
            (self.series.name(), "Delay and jitter over the call on the chosen path", one(&self.series)),
        ]
    }

    /// `(name, PNG)` for each chart, in the same order.
    pub fn pngs(&self) -> Vec<(&'static str, Vec<u8>)> {
        vec![
            (self.topology.name(), png(&self.topology)),
            (self.matrix.name(), png(&self.matrix)),
            (self.timeline.name(), png(&self.timeline)),
            (self.quality.name(), png(&self.quality)),
            (self.series.name(), png(&self.series)),
        ]
    }
}

// ---------------------------------------------------------------------------------------
// Candidate-pair matrix

/// A candidate pair's final state as the matrix colours it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CellState {
    /// A check was answered: the pair works.
    Succeeded,
    /// Checks went unanswered or were refused.
    Failed,
    /// A check is out and unanswered when the call ended.
    InProgress,
    /// Waiting for its turn to be checked.
    Waiting,
    /// Frozen behind another pair of its foundation.
    Frozen,
    /// Never checked: pruned as redundant, or stopped once another pair was nominated.
    NotChecked,
}

impl CellState {
    /// Reads the state as `CallOutcome`'s pair rows spell it (`succeeded`, `cancelled`, …).
    pub fn from_row(state: &str) -> CellState {
        match state {
            "succeeded" => CellState::Succeeded,
            "failed" => CellState::Failed,
            "inprogress" | "in-progress" => CellState::InProgress,
            "waiting" => CellState::Waiting,
            "frozen" => CellState::Frozen,
            _ => CellState::NotChecked,
        }
    }

    /// How the legend and the cells name the state.
    pub fn label(self) -> &'static str {
        match self {
            CellState::Succeeded => "succeeded",
            CellState::Failed => "failed",
            CellState::InProgress => "in progress",
            CellState::Waiting => "waiting",
            CellState::Frozen => "frozen",
            CellState::NotChecked => "not checked",
        }
    }
}

/// One pair in the matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixPair {
    /// The local candidate as the row names it (`host udp 192.168.1.10:50000`).
    pub local: String,
    /// The remote candidate as the column names it.
    pub remote: String,
    pub state: CellState,
    /// Why it ended so (shortened for the cell by [`short_reason`]).
    pub reason: String,
}

/// Local candidates × remote candidates, each cell coloured by its pair's final state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PairMatrix {
    pub title: String,
    /// Row order: local candidates (a candidate with no pair still gets a row).
    pub local: Vec<String>,
    /// Column order: remote candidates.
    pub remote: Vec<String>,
    /// Several pairs may share a cell (a pruned duplicate); the cell shows the most
    /// telling state, in `CellState` order.
    pub pairs: Vec<MatrixPair>,
    /// The pair media started on first, as (local, remote).
    pub early_media: Option<(String, String)>,
    /// The pair finally selected, as (local, remote).
    pub selected: Option<(String, String)>,
}

// ---------------------------------------------------------------------------------------
// ICE timeline

/// What happened to one connectivity check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CheckKind {
    /// The first transmission of a check.
    Sent,
    /// A retransmission (RFC 8489 back-off).
    Retransmitted,
    /// A success response arrived.
    Answered,
    /// The check gave up or got an error response.
    Failed,
}

/// One check event on a pair's row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckEvent {
    pub at: SimTime,
    pub kind: CheckKind,
}

/// A pair's row of check events.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineRow {
    /// The pair, `local → remote`.
    pub label: String,
    pub checks: Vec<CheckEvent>,
}

/// What a call-level event on the timeline is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventKind {
    /// Candidate gathering started or ended.
    Gathering,
    /// A signaling message (INVITE, 183, 200, re-INVITE) was received.
    Signaling,
    /// The first valid pair: media may start.
    EarlyMedia,
    /// A pair was selected.
    Selected,
    /// The caller moved media to a better pair with a re-INVITE.
    Promotion,
    /// Something gave up (signaling timed out, ICE failed).
    Failure,
}

/// A call-level event, drawn as a marker on its own lane and a line across the rows.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineEvent {
    pub at: SimTime,
    pub kind: EventKind,
    /// Who and what (`desk-pc: received INVITE`).
    pub label: String,
}

/// Checks per pair over virtual time, with the call's signaling and media events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IceTimeline {
    pub title: String,
    pub rows: Vec<TimelineRow>,
    pub events: Vec<TimelineEvent>,
}

// ---------------------------------------------------------------------------------------
// Per-path quality

/// The spread of one-way delay on a path, as a box plot draws it: whiskers from `min` to
/// `max`, a box from `low` to `high`, a line at `mid`, a marker at `mean`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DelaySpread {
    pub min: SimDuration,
    pub low: SimDuration,
    pub mid: SimDuration,
    pub high: SimDuration,
    pub max: SimDuration,
    pub mean: SimDuration,
    /// True when the box is the quartiles of per-packet samples (`low` = p25, `mid` =
    /// median, `high` = p75); false when only a summary was known (`low` = min, `mid` =
    /// mean, `high` = p95).
    pub quartiles: bool,
}

/// Media quality measured on one working path.
#[derive(Clone, Debug, PartialEq)]
pub struct QualityPath {
    /// The path as `local → remote` candidates.
    pub name: String,
    /// Whether ICE chose this path.
    pub selected: bool,
    /// `None` when nothing arrived.
    pub delay: Option<DelaySpread>,
    /// RFC 3550 interarrival jitter.
    pub jitter: SimDuration,
    /// Fraction of packets lost, in [0, 1].
    pub loss: f64,
    /// E-model MOS, when the codec is rated.
    pub mos: Option<f64>,
}

/// Delay, jitter, loss and MOS for every working path of a call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QualityChart {
    pub title: String,
    pub paths: Vec<QualityPath>,
}

// ---------------------------------------------------------------------------------------
// Media time series

/// One media packet: when it was sent and how long it took (`None`: lost).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaSample {
    pub sent: SimTime,
    pub delay: Option<SimDuration>,
}

/// A period during which background traffic loaded the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackgroundPeriod {
    pub from: SimTime,
    pub to: SimTime,
    /// What ran (`lync-fe → laptop-split at 150 Mbit/s`).
    pub flow: String,
}

/// Delay and jitter over the call on one path, background load shaded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MediaSeries {
    pub title: String,
    /// The path the samples were measured on.
    pub path: String,
    /// Packets in sending order.
    pub samples: Vec<MediaSample>,
    pub background: Vec<BackgroundPeriod>,
}

// ---------------------------------------------------------------------------------------
// Topology diagram

/// A node of the diagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiagramNode {
    pub name: String,
    /// `host`, `router`, `nat`, …
    pub kind: String,
    /// Nodes without a zone share a column of their own.
    pub zone: Option<String>,
}

/// A link of the diagram: two ends for a point-to-point link, more for a shared segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiagramLink {
    pub name: String,
    /// Node names, in file order.
    pub ends: Vec<String>,
    /// A VPN or site-to-site tunnel (drawn dashed).
    pub tunnel: bool,
}

/// Nodes grouped by zone, links between them, and the call's media and signaling paths
/// drawn over them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TopologyDiagram {
    pub title: String,
    /// Zone columns, left to right, each with a description (may be empty).
    pub zones: Vec<(String, String)>,
    pub nodes: Vec<DiagramNode>,
    pub links: Vec<DiagramLink>,
    /// The chosen media path as the node names it crosses, in order.
    pub media_path: Vec<String>,
    /// The signaling path (client → registrars → client), when known.
    pub signaling_path: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_row_states_are_read() {
        assert_eq!(CellState::from_row("succeeded"), CellState::Succeeded);
        assert_eq!(CellState::from_row("inprogress"), CellState::InProgress);
        assert_eq!(CellState::from_row("cancelled"), CellState::NotChecked);
        assert_eq!(CellState::from_row("anything else"), CellState::NotChecked);
    }

    #[test]
    fn png_encoding_has_the_signature_and_size() {
        let png = encode_png(&[255; 4 * 3 * 3], 4, 3);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR: width and height big-endian right after the chunk type.
        assert_eq!(&png[16..24], &[0, 0, 0, 4, 0, 0, 0, 3]);
    }
}
