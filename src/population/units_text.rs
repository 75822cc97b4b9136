//! Quantities written back as topology files spell them.

use crate::time::SimDuration;

/// `20ms`, `1.5ms`, `2s`: the engine's own exact spelling, which `parse_duration` reads back.
pub fn duration_text(d: SimDuration) -> String {
    d.to_string()
}

/// `1Gbit`, `50Mbit`, `64kbit`, `1500bit`: the largest unit that divides the rate exactly.
pub fn bandwidth_text(bps: u64) -> String {
    for (unit, scale) in [("Gbit", 1_000_000_000), ("Mbit", 1_000_000), ("kbit", 1_000)] {
        if bps >= scale && bps.is_multiple_of(scale) {
            return format!("{}{unit}", bps / scale);
        }
    }
    format!("{bps}bit")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{parse_bandwidth, parse_duration};

    #[test]
    fn quantities_read_back() {
        for bps in [1_000_000_000, 50_000_000, 64_000, 1500, 1_500_000] {
            assert_eq!(parse_bandwidth(&bandwidth_text(bps)).unwrap(), bps);
        }
        for ns in [200_000, 1_500_000, 15_000_000, 2_000_000_000] {
            let d = SimDuration::from_nanos(ns);
            assert_eq!(parse_duration(&duration_text(d)).unwrap(), d);
        }
    }
}
