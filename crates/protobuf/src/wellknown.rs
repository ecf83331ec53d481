//! JSON forms of upstream's custom-marshalled scalars: metav1.Time, MicroTime and Duration.

use jiff::Timestamp;

/// Seconds of 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: Go refuses to marshal other years.
const MIN_SECONDS: i64 = -62_167_219_200;
const MAX_SECONDS: i64 = 253_402_300_799;

/// Normalises (seconds, nanos) as Go's `time.Unix` does: nanos in `0..1e9`.
fn normalise(seconds: i64, nanos: i64) -> Option<(i64, u32)> {
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    let secs = i64::try_from(total.div_euclid(1_000_000_000)).ok()?;
    let nanos = u32::try_from(total.rem_euclid(1_000_000_000)).ok()?;
    (MIN_SECONDS..=MAX_SECONDS)
        .contains(&secs)
        .then_some((secs, nanos))
}

/// RFC 3339 in UTC; with `micros`, 6 fractional digits (MicroTime), else whole seconds (Time).
pub(crate) fn format_time(seconds: i64, nanos: i64, micros: bool) -> Option<String> {
    let (secs, nanos) = normalise(seconds, nanos)?;
    let ts = Timestamp::from_second(secs).ok()?;
    let base = jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%S", ts).ok()?;
    Some(if micros {
        format!("{base}.{:06}Z", nanos / 1000)
    } else {
        format!("{base}Z")
    })
}

/// Parses an RFC 3339 timestamp into (seconds, nanos).
pub(crate) fn parse_time(s: &str) -> Option<(i64, i32)> {
    let ts: Timestamp = s.parse().ok()?;
    let (secs, nanos) = normalise(ts.as_second(), i64::from(ts.subsec_nanosecond()))?;
    Some((secs, i32::try_from(nanos).ok()?))
}

/// Go's `time.Duration.String()`.
pub(crate) fn format_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    let fraction = |value: u64, unit: u64, digits: usize| -> String {
        let frac = value % unit;
        if frac == 0 {
            return (value / unit).to_string();
        }
        let frac = format!("{frac:0digits$}");
        format!("{}.{}", value / unit, frac.trim_end_matches('0'))
    };
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return format!("{sign}{}µs", fraction(u, 1_000, 3));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}ms", fraction(u, 1_000_000, 6));
    }
    let secs = u / 1_000_000_000;
    let (h, m) = (secs / 3600, (secs / 60) % 60);
    let s = fraction(u % 60_000_000_000, 1_000_000_000, 9);
    match (h, m) {
        (0, 0) => format!("{sign}{s}s"),
        (0, _) => format!("{sign}{m}m{s}s"),
        _ => format!("{sign}{h}h{m}m{s}s"),
    }
}

/// Go's `time.ParseDuration`.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(a) => a.split_at(a.bytes().take_while(u8::is_ascii_digit).count()),
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let unit_len = after
            .bytes()
            .take_while(|b| !b.is_ascii_digit() && *b != b'.')
            .count();
        let (unit, after) = after.split_at(unit_len);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let whole: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let mut value = whole.checked_mul(scale)?;
        let mut frac_scale = scale;
        for digit in frac.bytes() {
            frac_scale /= 10;
            value = value.checked_add(i128::from(digit - b'0') * frac_scale)?;
        }
        total = total.checked_add(value)?;
        if total > i128::from(i64::MAX) + 1 {
            return None;
        }
        rest = after;
    }
    let total = if negative { -total } else { total };
    i64::try_from(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(
            format_time(1_704_164_645, 0, false).as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(
            format_time(1_704_164_645, 123_456_789, false).as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(
            format_time(1_704_164_645, 123_456_789, true).as_deref(),
            Some("2024-01-02T03:04:05.123456Z")
        );
        assert_eq!(
            format_time(0, -1, true).as_deref(),
            Some("1969-12-31T23:59:59.999999Z")
        );
        assert_eq!(format_time(i64::MAX, i64::MAX, false), None);
        assert_eq!(format_time(MAX_SECONDS + 1, 0, false), None);
        assert_eq!(
            parse_time("2024-01-02T03:04:05.5+01:00"),
            Some((1_704_161_045, 500_000_000))
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn durations() {
        for (ns, s) in [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (2_000_000, "2ms"),
            (1_000_000_000, "1s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (-5_000_000_000, "-5s"),
        ] {
            assert_eq!(format_duration(ns), s);
            assert_eq!(parse_duration(s), Some(ns), "{s}");
        }
        assert_eq!(parse_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("300ms2s"), Some(2_300_000_000));
        assert_eq!(parse_duration("-9223372036854775808ns"), Some(i64::MIN));
        for bad in ["", "5", "1x", ".s", "9999999999999999999999h", "--1s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
