//! Turning a trace into what people and machines read.
//!
//! `report` never reaches into the engine: everything it shows comes from the `Trace`
//! records and the `Topology` names: the path report of `icepath trace` (text and JSON),
//! pcap captures, media quality arithmetic, charts (`charts`: SVG and PNG from plain inputs)
//! and the self-contained HTML report (`html`).

pub mod charts;
pub mod html;
mod path;
pub mod pcap;
pub mod quality;

pub use path::{Outcome, PacketPath, PathReport, Step};
