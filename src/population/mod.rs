//! Populations: an enterprise described in a few lines (sites, home users behind a mix of
//! NATs, a share of them on VPN, Edge pools, a call model), generated into an ordinary
//! topology file, and the statistics of many concurrent calls on it.
//!
//! `spec` reads the population file (problems reported like a topology file's); `generate`
//! writes the topology and the list of users. Running the calls is `scenario::population`'s
//! business; this module knows nothing of the engine.

mod generate;
mod spec;
mod units_text;

pub use generate::{Generated, User, UserKind, generate};
pub use spec::{
    Arrivals, CallModel, DurationModel, Edges, Homes, LinkModel, PopulationSpec, Sites, Vpn, read_population,
};
