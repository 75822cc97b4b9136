//! Turning a trace into what people and machines read.
//!
//! `report` never reaches into the engine: everything it shows comes from the `Trace`
//! records and the `Topology` names. Today it renders the path report of `icepath trace`
//! (text and JSON); charts, HTML, JUnit and pcap join later.

pub mod charts;
mod path;
pub mod pcap;
pub mod quality;

pub use path::{Outcome, PacketPath, PathReport, Step};
