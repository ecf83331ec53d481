//! Human-readable durations, as upstream `k8s.io/apimachinery/pkg/util/duration`.
//!
//! The AGE column and friends depend on these exact rules (`2m5s`, `3h`,
//! `2d4h`, `3y120d`), so they follow upstream boundary for boundary,
//! including its use of float conversions where upstream uses them.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const NANOS_PER_MINUTE: i64 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: i64 = 60 * NANOS_PER_MINUTE;

/// Upstream `duration.HumanDuration`: about 2-3 significant figures
/// (`45s`, `2m5s`, `15m`, `5h3m`, `30h`, `3d4h`, `120d`, `3y20d`, `10y`).
pub fn human_duration(d: Duration) -> String {
    human_duration_nanos(clamp_unsigned(d))
}

/// Upstream `duration.ShortHumanDuration`: one unit only (`45s`, `5m`,
/// `3h`, `12d`, `2y`).
pub fn short_human_duration(d: Duration) -> String {
    short_human_duration_nanos(clamp_unsigned(d))
}

/// [`human_duration`] for a signed duration: like upstream, up to one
/// second in the future (clock skew) prints `0s` and anything further
/// prints `<invalid>`.
pub fn human_signed_duration(d: SignedDuration) -> String {
    human_duration_nanos(clamp_signed(d.as_nanos()))
}

/// [`short_human_duration`] for a signed duration (same negative rules as
/// [`human_signed_duration`]).
pub fn short_human_signed_duration(d: SignedDuration) -> String {
    short_human_duration_nanos(clamp_signed(d.as_nanos()))
}

/// The time from `then` to `now`, as upstream `time.Since`/`Time.Sub`
/// (saturating at the range of a Go `time.Duration`).
pub(crate) fn since(then: Timestamp, now: Timestamp) -> SignedDuration {
    SignedDuration::from_nanos(clamp_signed(now.as_nanosecond() - then.as_nanosecond()))
}

fn clamp_unsigned(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn clamp_signed(n: i128) -> i64 {
    i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX })
}

/// Go's `Duration.Seconds()` (whole part exact, fraction as float).
fn go_seconds(d: i64) -> f64 {
    (d / NANOS_PER_SECOND) as f64 + (d % NANOS_PER_SECOND) as f64 / 1e9
}

/// Go's `Duration.Minutes()`.
fn go_minutes(d: i64) -> f64 {
    (d / NANOS_PER_MINUTE) as f64 + (d % NANOS_PER_MINUTE) as f64 / (60.0 * 1e9)
}

/// Go's `Duration.Hours()`.
fn go_hours(d: i64) -> f64 {
    (d / NANOS_PER_HOUR) as f64 + (d % NANOS_PER_HOUR) as f64 / (60.0 * 60.0 * 1e9)
}

/// Go's `int(f)` conversion: truncation toward zero (saturating here,
/// where Go's result would be implementation-defined anyway).
fn go_int(f: f64) -> i64 {
    f as i64
}

fn human_duration_nanos(d: i64) -> String {
    // Up to one second in the future is clock skew: "almost now".
    let seconds = go_int(go_seconds(d));
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d / NANOS_PER_MINUTE;
    if minutes < 10 {
        let s = (d / NANOS_PER_SECOND) % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d / NANOS_PER_HOUR;
    if hours < 8 {
        let m = (d / NANOS_PER_MINUTE) % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{h}h", hours / 24);
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{dy}d", hours / 24 / 365);
    }
    format!("{}y", hours / 24 / 365)
}

fn short_human_duration_nanos(d: i64) -> String {
    let seconds = go_int(go_seconds(d));
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 {
        return format!("{seconds}s");
    }
    let minutes = go_int(go_minutes(d));
    if minutes < 60 {
        return format!("{minutes}m");
    }
    let hours = go_int(go_hours(d));
    if hours < 24 {
        return format!("{hours}h");
    } else if hours < 24 * 365 {
        return format!("{}d", hours / 24);
    }
    format!("{}y", go_int(go_hours(d) / 24.0 / 365.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn signed(nanos: i64) -> SignedDuration {
        SignedDuration::from_nanos(nanos)
    }

    const MIN: u64 = 60;
    const HOUR: u64 = 60 * MIN;
    const DAY: u64 = 24 * HOUR;
    const YEAR: u64 = 365 * DAY;

    #[test]
    fn human_duration_boundaries() {
        let cases: &[(u64, &str)] = &[
            (0, "0s"),
            (1, "1s"),
            (59, "59s"),
            (60, "60s"),
            (119, "119s"),
            (120, "2m"),
            (121, "2m1s"),
            (9 * MIN + 59, "9m59s"),
            (10 * MIN, "10m"),
            (10 * MIN + 59, "10m"),
            (3 * HOUR - 1, "179m"),
            (3 * HOUR, "3h"),
            (3 * HOUR + 59, "3h"),
            (3 * HOUR + MIN, "3h1m"),
            (8 * HOUR - 1, "7h59m"),
            (8 * HOUR, "8h"),
            (48 * HOUR - 1, "47h"),
            (48 * HOUR, "2d"),
            (2 * DAY + 4 * HOUR + 59 * MIN, "2d4h"),
            (8 * DAY - 1, "7d23h"),
            (8 * DAY, "8d"),
            (2 * YEAR - 1, "729d"),
            (2 * YEAR, "2y"),
            (2 * YEAR + DAY, "2y1d"),
            (8 * YEAR - 1, "7y364d"),
            (8 * YEAR, "8y"),
            (20 * YEAR + 100 * DAY, "20y"),
        ];
        for (s, want) in cases {
            assert_eq!(human_duration(secs(*s)), *want, "{s}s");
        }
        // Sub-second precision is dropped, not rounded.
        assert_eq!(human_duration(Duration::from_millis(119_999)), "119s");
    }

    #[test]
    fn human_duration_negative() {
        assert_eq!(human_signed_duration(signed(-1)), "0s");
        assert_eq!(human_signed_duration(signed(-1_999_999_999)), "0s");
        assert_eq!(human_signed_duration(signed(-2_000_000_000)), "<invalid>");
        assert_eq!(human_signed_duration(signed(i64::MIN)), "<invalid>");
        assert_eq!(human_signed_duration(signed(90 * 1_000_000_000)), "90s");
    }

    #[test]
    fn short_human_duration_boundaries() {
        let cases: &[(u64, &str)] = &[
            (0, "0s"),
            (59, "59s"),
            (60, "1m"),
            (HOUR - 1, "59m"),
            (HOUR, "1h"),
            (DAY - 1, "23h"),
            (DAY, "1d"),
            (YEAR - 1, "364d"),
            (YEAR, "1y"),
            (3 * YEAR + 200 * DAY, "3y"),
        ];
        for (s, want) in cases {
            assert_eq!(short_human_duration(secs(*s)), *want, "{s}s");
        }
        assert_eq!(short_human_signed_duration(signed(-1_500_000_000)), "0s");
        assert_eq!(
            short_human_signed_duration(signed(-3_000_000_000)),
            "<invalid>"
        );
    }

    #[test]
    fn huge_durations_saturate() {
        assert_eq!(human_duration(Duration::MAX), "292y");
        assert_eq!(short_human_duration(Duration::MAX), "292y");
    }

    #[test]
    fn since_is_now_minus_then() {
        let then: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let now: Timestamp = "2024-01-01T00:05:03Z".parse().unwrap();
        assert_eq!(human_signed_duration(since(then, now)), "5m3s");
        assert_eq!(human_signed_duration(since(now, then)), "<invalid>");
    }
}
