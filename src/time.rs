//! Virtual time: integer nanoseconds since the start of a run.
//!
//! `SimTime` is an instant, `SimDuration` a span. Both are plain `u64` nanoseconds so
//! arithmetic is exact and runs are reproducible on every machine. Nothing here reads a
//! clock; the engine is the only code that advances time.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

use serde::Serialize;

/// An instant in virtual time, in nanoseconds since the run started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SimTime(u64);

/// A span of virtual time, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SimDuration(u64);

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// The largest representable instant (about 584 years); used as "never".
    pub const MAX: SimTime = SimTime(u64::MAX);

    pub const fn from_nanos(ns: u64) -> Self {
        SimTime(ns)
    }
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// Time elapsed since `earlier`, or zero when `earlier` is later.
    pub fn saturating_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    pub const ZERO: SimDuration = SimDuration(0);

    pub const fn from_nanos(ns: u64) -> Self {
        SimDuration(ns)
    }
    pub const fn from_micros(us: u64) -> Self {
        SimDuration(us * 1_000)
    }
    pub const fn from_millis(ms: u64) -> Self {
        SimDuration(ms * 1_000_000)
    }
    pub const fn from_secs(s: u64) -> Self {
        SimDuration(s * 1_000_000_000)
    }
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// Milliseconds as a float, for reports only.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
    /// Time to put `bytes` on a wire of `bits_per_sec`, rounded up to whole nanoseconds.
    pub fn serialization(bytes: u64, bits_per_sec: u64) -> SimDuration {
        debug_assert!(bits_per_sec > 0, "bandwidth is validated to be non-zero");
        // A packet's bit count in nanoseconds fits in 64 bits (up to 2 GB); one hardware
        // division then, instead of the 128-bit routine every hop would call.
        if let Some(bits) = bytes.checked_mul(8_000_000_000) {
            return SimDuration(bits.div_ceil(bits_per_sec));
        }
        let bits = bytes as u128 * 8 * 1_000_000_000;
        SimDuration(bits.div_ceil(bits_per_sec as u128).min(u64::MAX as u128) as u64)
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, rhs: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, rhs: SimDuration) {
        *self = *self + rhs;
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, rhs: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(rhs.0))
    }
}

impl Sub for SimTime {
    type Output = SimDuration;
    /// Panics in debug builds when `rhs` is later: time never runs backwards.
    fn sub(self, rhs: SimTime) -> SimDuration {
        debug_assert!(self.0 >= rhs.0, "time ran backwards: {self} - {rhs}");
        SimDuration(self.0.saturating_sub(rhs.0))
    }
}

/// Formats nanoseconds exactly, in seconds from 1 s up, milliseconds from 1 ms, then
/// microseconds and nanoseconds: `600s`, `15.524221277s`, `20ms`, `1.5ms`, `12.000345ms`.
fn fmt_nanos(ns: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if ns == 0 {
        return f.write_str("0ms");
    }
    let (unit, scale) = if ns >= 1_000_000_000 {
        ("s", 1_000_000_000)
    } else if ns >= 1_000_000 {
        ("ms", 1_000_000)
    } else if ns >= 1_000 {
        ("us", 1_000)
    } else {
        ("ns", 1)
    };
    let whole = ns / scale;
    let frac = ns % scale;
    if frac == 0 {
        return write!(f, "{whole}{unit}");
    }
    let digits = scale.ilog10() as usize;
    let s = format!("{frac:0digits$}");
    write!(f, "{whole}.{}{unit}", s.trim_end_matches('0'))
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_nanos(self.0, f)
    }
}

impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_nanos(self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_uses_exact_units() {
        assert_eq!(SimDuration::from_millis(20).to_string(), "20ms");
        assert_eq!(SimDuration::from_micros(1500).to_string(), "1.5ms");
        assert_eq!(SimDuration::from_nanos(12_000_345).to_string(), "12.000345ms");
        assert_eq!(SimDuration::from_nanos(250).to_string(), "250ns");
        assert_eq!(SimDuration::from_nanos(2_500).to_string(), "2.5us");
        assert_eq!(SimTime::ZERO.to_string(), "0ms");
        assert_eq!(SimDuration::from_secs(600).to_string(), "600s");
        assert_eq!(SimDuration::from_nanos(15_524_221_277).to_string(), "15.524221277s");
    }

    #[test]
    fn serialization_delay_rounds_up() {
        // 1500 bytes at 100 Mbit/s = 120 us exactly.
        assert_eq!(SimDuration::serialization(1500, 100_000_000), SimDuration::from_micros(120));
        // 1 byte at 3 bit/s = 8/3 s, rounded up.
        assert_eq!(SimDuration::serialization(1, 3).as_nanos(), 2_666_666_667);
        // Past the 64-bit shortcut: the wide path, clamped.
        assert_eq!(SimDuration::serialization(u64::MAX / 4, 1).as_nanos(), u64::MAX);
    }

    proptest::proptest! {
        /// The 64-bit shortcut agrees with the exact 128-bit arithmetic.
        #[test]
        fn serialization_matches_wide_arithmetic(bytes in 0u64..(1 << 34), bps in 1u64..u64::MAX) {
            let wide = (bytes as u128 * 8_000_000_000).div_ceil(bps as u128).min(u64::MAX as u128) as u64;
            proptest::prop_assert_eq!(SimDuration::serialization(bytes, bps).as_nanos(), wide);
        }
    }

    #[test]
    fn adding_saturates_instead_of_wrapping() {
        assert_eq!(SimTime::MAX + SimDuration::from_secs(1), SimTime::MAX);
    }
}
