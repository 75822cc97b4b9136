//! What a run does on a topology. Today: the relay probe behind `icepath probe` (a client
//! asks an Edge for its server-reflexive and relayed addresses). Calls, faults and
//! expectations arrive with the scenarios work.

mod call;
mod population;
mod probe;

pub use call::{
    BackgroundFlow, BackgroundPeriod, CallError, CallOutcome, CallSpec, CheckEvent, CheckKind, ChosenPair, Direction,
    MediaSample, MediaType, Offer, PairRow, PathMedia, host_sockets, local_offer, relay_clients, run_call, start_media,
};
pub use population::{
    CallRecord, EdgeSeries, LinkLoad, PopulationOptions, PopulationOutcome, QualitySummary, run_population,
};
pub use probe::{ProbeOutcome, ProbeSpec, ProbeStep, ProbeTarget, run_probe};
