//! Quantities written with their units: durations, bit rates, queue sizes, loss rates.
//!
//! Every parser is exact: decimals are scaled in integer arithmetic (`1.5ms` is 1 500 000 ns,
//! never a float rounded back), and a value finer than the base unit is refused rather than
//! rounded. Errors say what was expected and, where it helps, how to write it.

use crate::time::SimDuration;
use crate::topology::QueueLimit;

/// Why a quantity could not be read: what a valid value looks like, and a hint.
/// Displays as `<expected>` or `<expected>; <hint>`, to follow the word "expected".
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{expected}{}", hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
pub struct UnitError {
    pub expected: String,
    pub hint: Option<String>,
}

pub(crate) const DURATION_EXPECTED: &str = "a duration like 20ms or 1.5ms (units ns, us, ms, s)";
pub(crate) const BANDWIDTH_EXPECTED: &str =
    "a bit rate above zero like 100Mbit or 1.5Gbit (units bit, kbit, Mbit, Gbit)";
pub(crate) const QUEUE_EXPECTED: &str =
    "a queue size above zero like 100 packets or 64KB (units packets, B, KB, KiB, MB, MiB)";
pub(crate) const LOSS_EXPECTED: &str =
    "a loss rate between 0% and 100% like 0.5%, or a probability between 0 and 1 like 0.005";

/// Parses a duration: a non-negative decimal with a unit (`ns`, `us`, `ms`, `s`), or `0`.
pub fn parse_duration(text: &str) -> Result<SimDuration, UnitError> {
    let err = |hint: Option<String>| UnitError { expected: DURATION_EXPECTED.to_string(), hint };
    let (number, unit) = split(text);
    if number.starts_with('-') {
        return Err(err(Some("a duration cannot be negative".to_string())));
    }
    let scale = match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "" => {
            return match scaled(number, 1) {
                Ok(0) => Ok(SimDuration::ZERO),
                Ok(_) | Err(Decimal::TooPrecise) => Err(err(Some(format!("add a unit, e.g. \"{number}ms\"")))),
                Err(_) => Err(err(None)),
            };
        }
        other => return Err(err(unknown_unit(other, &["ns", "us", "ms", "s"]))),
    };
    match scaled(number, scale) {
        Ok(ns) => Ok(SimDuration::from_nanos(ns)),
        Err(Decimal::TooPrecise) => Err(err(Some("the smallest step is 1ns".to_string()))),
        Err(Decimal::Overflow) => Err(err(Some("that is longer than the simulator can count".to_string()))),
        Err(Decimal::Malformed) => Err(err(None)),
    }
}

/// Parses a bit rate in bit/s; zero is refused (leave `bandwidth` out for "infinitely fast").
pub fn parse_bandwidth(text: &str) -> Result<u64, UnitError> {
    let err = |hint: Option<String>| UnitError { expected: BANDWIDTH_EXPECTED.to_string(), hint };
    let (number, unit) = split(text);
    if number.starts_with('-') {
        return Err(err(Some("a bit rate cannot be negative".to_string())));
    }
    let scale = match unit {
        "bit" | "bps" => 1,
        "kbit" | "Kbit" | "kbps" | "Kbps" => 1_000,
        "Mbit" | "Mbps" => 1_000_000,
        "Gbit" | "Gbps" => 1_000_000_000,
        "" => return Err(err(Some(format!("add a unit, e.g. \"{number}Mbit\"")))),
        other => {
            let known = ["bit", "kbit", "Mbit", "Gbit", "bps", "kbps", "Mbps", "Gbps"];
            return Err(err(unknown_unit(other, &known)));
        }
    };
    match scaled(number, scale) {
        Ok(0) => Err(err(Some("leave `bandwidth` out for an infinitely fast link".to_string()))),
        Ok(bits) => Ok(bits),
        Err(Decimal::TooPrecise) => Err(err(Some("the smallest step is 1bit".to_string()))),
        Err(Decimal::Overflow) => Err(err(Some("that is faster than the simulator can count".to_string()))),
        Err(Decimal::Malformed) => Err(err(None)),
    }
}

/// Parses a queue limit in packets (`100 packets`, `100 pkts`, `100p`) or bytes (`64KB`).
pub(crate) fn parse_queue(text: &str) -> Result<QueueLimit, UnitError> {
    let err = |hint: Option<String>| UnitError { expected: QUEUE_EXPECTED.to_string(), hint };
    let (number, unit) = split(text);
    if number.starts_with('-') {
        return Err(err(Some("a queue size cannot be negative".to_string())));
    }
    let bytes_scale = match unit {
        "packets" | "packet" | "pkts" | "pkt" | "p" => {
            return match scaled(number, 1) {
                Ok(0) => Err(err(Some("a queue must hold at least one packet".to_string()))),
                Ok(n) => match u32::try_from(n) {
                    Ok(n) => Ok(QueueLimit::Packets(n)),
                    Err(_) => Err(err(Some("at most 4294967295 packets".to_string()))),
                },
                Err(Decimal::TooPrecise) => Err(err(Some("count whole packets".to_string()))),
                Err(_) => Err(err(None)),
            };
        }
        "B" => 1,
        "KB" | "kB" => 1_000,
        "KiB" => 1_024,
        "MB" => 1_000_000,
        "MiB" => 1_024 * 1_024,
        "GB" => 1_000_000_000,
        "GiB" => 1_024 * 1_024 * 1_024,
        "" => {
            return Err(err(Some(format!("add a unit, e.g. \"{number} packets\" or \"{number}KB\""))));
        }
        other => {
            let known = ["packets", "pkts", "p", "B", "KB", "KiB", "MB", "MiB", "GB", "GiB"];
            return Err(err(unknown_unit(other, &known)));
        }
    };
    match scaled(number, bytes_scale) {
        Ok(0) => Err(err(Some("a queue must hold at least one byte".to_string()))),
        Ok(n) => Ok(QueueLimit::Bytes(n)),
        Err(Decimal::TooPrecise) => Err(err(Some("count whole bytes".to_string()))),
        Err(_) => Err(err(None)),
    }
}

pub(crate) const PPS_EXPECTED: &str = "a packet rate above zero like 20000pps, 20kpps or 1Mpps";

/// Parses a packet rate in packets per second: `20000pps`, `20kpps`, `1.5Mpps`.
pub(crate) fn parse_pps(text: &str) -> Result<u64, UnitError> {
    let err = |hint: Option<String>| UnitError { expected: PPS_EXPECTED.to_string(), hint };
    let (number, unit) = split(text);
    if number.starts_with('-') {
        return Err(err(Some("a packet rate cannot be negative".to_string())));
    }
    let scale = match unit {
        "pps" => 1,
        "kpps" | "Kpps" => 1_000,
        "Mpps" => 1_000_000,
        "" => return Err(err(Some(format!("add a unit, e.g. \"{number}pps\"")))),
        other => return Err(err(unknown_unit(other, &["pps", "kpps", "Mpps"]))),
    };
    match scaled(number, scale) {
        Ok(0) => Err(err(Some("leave `capacity` out for an unlimited crypto engine".to_string()))),
        Ok(n) => Ok(n),
        Err(Decimal::TooPrecise) => Err(err(Some("count whole packets per second".to_string()))),
        Err(_) => Err(err(None)),
    }
}

/// Parses a loss rate, `0.5%` or the probability `0.005`, into a probability in [0, 1].
pub(crate) fn parse_loss(text: &str) -> Result<f64, UnitError> {
    let err = |hint: Option<String>| UnitError { expected: LOSS_EXPECTED.to_string(), hint };
    let trimmed = text.trim();
    let (number, percent) = match trimmed.strip_suffix('%') {
        Some(n) => (n.trim_end(), true),
        None => (trimmed, false),
    };
    let plain = !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+');
    let value: f64 = match number.parse() {
        Ok(v) if plain => v,
        _ => return Err(err(None)),
    };
    if !value.is_finite() {
        return Err(err(None));
    }
    if value < 0.0 {
        return Err(err(Some("a loss rate cannot be negative".to_string())));
    }
    if percent {
        if value > 100.0 {
            return Err(err(Some("a link cannot lose more than every packet".to_string())));
        }
        Ok(value / 100.0)
    } else if value > 1.0 {
        let hint = if value <= 100.0 {
            format!("write \"{number}%\" for a percentage")
        } else {
            "a link cannot lose more than every packet".to_string()
        };
        Err(err(Some(hint)))
    } else {
        Ok(value)
    }
}

/// Splits `"1.5 ms"` into `("1.5", "ms")`: the number is the leading run of sign, digits
/// and dots, the unit is the rest without surrounding spaces.
fn split(text: &str) -> (&str, &str) {
    let text = text.trim();
    let end = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && (c == '-' || c == '+'))))
        .map_or(text.len(), |(i, _)| i);
    (&text[..end], text[end..].trim_start())
}

#[derive(Debug, PartialEq, Eq)]
enum Decimal {
    Malformed,
    Overflow,
    /// The value has a fraction of the base unit.
    TooPrecise,
}

/// `number * scale` exactly, for a non-negative decimal `number` (`"1.5"`, `"20"`, `".5"`).
fn scaled(number: &str, scale: u64) -> Result<u64, Decimal> {
    let number = number.strip_prefix('+').unwrap_or(number);
    let (whole, frac) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
        return Err(Decimal::Malformed);
    }
    let mut total: u64 = 0;
    for b in whole.bytes() {
        total = total.checked_mul(10).and_then(|t| t.checked_add((b - b'0') as u64)).ok_or(Decimal::Overflow)?;
    }
    total = total.checked_mul(scale).ok_or(Decimal::Overflow)?;
    let frac = frac.trim_end_matches('0');
    if frac.len() > 18 {
        return Err(Decimal::TooPrecise);
    }
    if !frac.is_empty() {
        // frac / 10^k of `scale` must be a whole number of base units.
        let num = frac.parse::<u128>().map_err(|_| Decimal::Malformed)? * scale as u128;
        let den = 10u128.pow(frac.len() as u32);
        if !num.is_multiple_of(den) {
            return Err(Decimal::TooPrecise);
        }
        let part = u64::try_from(num / den).map_err(|_| Decimal::Overflow)?;
        total = total.checked_add(part).ok_or(Decimal::Overflow)?;
    }
    Ok(total)
}

/// A hint for an unknown unit: the closest known one, or the list.
fn unknown_unit(found: &str, known: &[&str]) -> Option<String> {
    match super::decode::closest(found, known.iter().copied()) {
        Some(best) => Some(format!("unknown unit \"{found}\"; did you mean \"{best}\"?")),
        None => Some(format!("unknown unit \"{found}\"; use one of {}", known.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ok = [
            ("20ms", 20_000_000),
            ("1.5ms", 1_500_000),
            ("0", 0),
            ("0.0", 0),
            ("0ms", 0),
            ("250ns", 250),
            ("2.5us", 2_500),
            ("1 s", 1_000_000_000),
            ("0.000000001s", 1),
            ("12.000345ms", 12_000_345),
            (".5ms", 500_000),
        ];
        for (text, ns) in ok {
            assert_eq!(parse_duration(text).map(|d| d.as_nanos()), Ok(ns), "{text}");
        }
        for text in ["20", "1.5", "-5ms", "20 mss", "ms", "1.5ns", "fast", "1..5ms", "99999999999999999999s", ""] {
            assert!(parse_duration(text).is_err(), "{text} should be refused");
        }
        assert_eq!(parse_duration("20").unwrap_err().hint.as_deref(), Some("add a unit, e.g. \"20ms\""));
        assert_eq!(
            parse_duration("20sec").unwrap_err().hint.as_deref(),
            Some("unknown unit \"sec\"; use one of ns, us, ms, s")
        );
    }

    #[test]
    fn bandwidths() {
        let ok = [
            ("100Mbit", 100_000_000),
            ("1.5Gbit", 1_500_000_000),
            ("64kbit", 64_000),
            ("64Kbit", 64_000),
            ("10 Mbps", 10_000_000),
            ("9600bit", 9_600),
            ("1bps", 1),
        ];
        for (text, bits) in ok {
            assert_eq!(parse_bandwidth(text), Ok(bits), "{text}");
        }
        for text in ["0Mbit", "100", "100mbit", "-1Mbit", "1.5bit", "Mbit", "100 MB"] {
            assert!(parse_bandwidth(text).is_err(), "{text} should be refused");
        }
        assert_eq!(
            parse_bandwidth("100mbit").unwrap_err().hint.as_deref(),
            Some("unknown unit \"mbit\"; did you mean \"Mbit\"?")
        );
    }

    #[test]
    fn queues() {
        let ok = [
            ("100 packets", QueueLimit::Packets(100)),
            ("100pkts", QueueLimit::Packets(100)),
            ("7p", QueueLimit::Packets(7)),
            ("64KB", QueueLimit::Bytes(64_000)),
            ("64KiB", QueueLimit::Bytes(65_536)),
            ("1500B", QueueLimit::Bytes(1_500)),
            ("1MB", QueueLimit::Bytes(1_000_000)),
            ("1.5KB", QueueLimit::Bytes(1_500)),
            ("1.5KiB", QueueLimit::Bytes(1_536)),
        ];
        for (text, q) in ok {
            assert_eq!(parse_queue(text), Ok(q), "{text}");
        }
        for text in ["0 packets", "0B", "100", "1.5 packets", "5000000000 packets", "64kb", "-3p"] {
            assert!(parse_queue(text).is_err(), "{text} should be refused");
        }
    }

    #[test]
    fn packet_rates() {
        for (text, pps) in [("20000pps", 20_000), ("20kpps", 20_000), ("1Mpps", 1_000_000), ("1.5kpps", 1_500)] {
            assert_eq!(parse_pps(text), Ok(pps), "{text}");
        }
        for text in ["0pps", "20000", "-5pps", "1.5pps", "20 kbps"] {
            assert!(parse_pps(text).is_err(), "{text} should be refused");
        }
        assert_eq!(parse_pps("20000").unwrap_err().hint.as_deref(), Some("add a unit, e.g. \"20000pps\""));
    }

    #[test]
    fn losses() {
        let ok = [("0.5%", 0.005), ("0.005", 0.005), ("0", 0.0), ("100%", 1.0), ("1", 1.0), ("0 %", 0.0)];
        for (text, p) in ok {
            let got = parse_loss(text).unwrap();
            assert!((got - p).abs() < 1e-12, "{text}: {got}");
        }
        for text in ["101%", "-1%", "1.5", "-0.1", "NaN", "inf", "half", "%", "1e-3"] {
            assert!(parse_loss(text).is_err(), "{text} should be refused");
        }
        assert_eq!(parse_loss("5").unwrap_err().hint.as_deref(), Some("write \"5%\" for a percentage"));
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(scaled("1.5", 1_000_000), Ok(1_500_000));
        assert_eq!(scaled("1.50", 1_000), Ok(1_500));
        assert_eq!(scaled("1.0001", 1_000), Err(Decimal::TooPrecise));
        assert_eq!(scaled("1.0000", 1_000), Ok(1_000));
        assert_eq!(scaled(".", 1), Err(Decimal::Malformed));
        assert_eq!(scaled("18446744073709551616", 1), Err(Decimal::Overflow));
    }
}
