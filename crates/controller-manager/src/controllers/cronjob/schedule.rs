//! Cron schedules as upstream parses them (robfig/cron v3
//! `ParseStandard`): five fields (minute, hour, day of month, month, day
//! of week) with `*`, `?`, ranges, steps, lists and names; the
//! descriptors `@yearly`/`@annually`, `@monthly`, `@weekly`,
//! `@daily`/`@midnight`, `@hourly` and `@every <duration>`; and an
//! optional `TZ=<zone>` / `CRON_TZ=<zone>` prefix.
//!
//! [`Schedule::next`] is the first activation strictly after a time, in
//! the schedule's time zone (UTC by default); like robfig's, it gives up
//! after five years (`59 23 31 2 *` never fires).

use std::time::Duration;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};

/// Bit 63: the field started with `*` or `?` (matters for day matching).
const STAR_BIT: u64 = 1 << 63;

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    tz: TimeZone,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Spec {
        minute: u64,
        hour: u64,
        dom: u64,
        month: u64,
        dow: u64,
    },
    Every(Duration),
}

fn parse_number(s: &str, b: &Bounds) -> Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = b.names.iter().position(|n| *n == lower) {
        // Month names start at 1, weekday names at 0.
        return Ok(u32::try_from(i).unwrap_or(0) + b.min);
    }
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "failed to parse int from {s}: strconv.Atoi: parsing {s:?}: invalid syntax"
        ));
    }
    s.parse::<u32>()
        .map_err(|_| format!("failed to parse int from {s}: value out of range"))
}

/// One comma-separated part: `*`, `a`, `a-b`, each with an optional `/step`.
fn parse_range(expr: &str, b: &Bounds) -> Result<u64, String> {
    let (range, step) = match expr.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (expr, None),
    };
    let mut extra = 0;
    let (start, mut end) = if range == "*" || range == "?" {
        extra = STAR_BIT;
        (b.min, b.max)
    } else {
        match range.split_once('-') {
            Some((lo, hi)) => (parse_number(lo, b)?, parse_number(hi, b)?),
            None => {
                let v = parse_number(range, b)?;
                (v, v)
            }
        }
    };
    let step = match step {
        None => 1,
        Some(s) => {
            let n = parse_number(s, &MINUTES)?;
            // `N/step` means N through the maximum.
            if !(range == "*" || range == "?" || range.contains('-')) {
                end = b.max;
            }
            if n > 1 {
                extra = 0;
            }
            n
        }
    };
    if start < b.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        ));
    }
    if end > b.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            b.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    let mut bits = 0u64;
    let mut v = start;
    while v <= end {
        bits |= 1 << v;
        v += step;
    }
    Ok(bits | extra)
}

fn parse_field(field: &str, b: &Bounds) -> Result<u64, String> {
    field
        .split(',')
        .try_fold(0u64, |acc, part| Ok(acc | parse_range(part, b)?))
}

impl Schedule {
    /// Parses a schedule like `ParseStandard`; `default_tz` applies when
    /// the schedule has no `TZ=` prefix.
    pub fn parse(spec: &str, default_tz: &TimeZone) -> Result<Self, String> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err("empty spec string".to_string());
        }
        let mut tz = default_tz.clone();
        let mut rest = spec;
        if let Some(prefixed) = spec
            .strip_prefix("TZ=")
            .or_else(|| spec.strip_prefix("CRON_TZ="))
        {
            let (name, tail) = prefixed
                .split_once(' ')
                .ok_or_else(|| format!("provided bad location {prefixed}: missing schedule"))?;
            tz = load_location(name)?;
            rest = tail.trim();
        }
        if let Some(descriptor) = rest.strip_prefix('@') {
            return Ok(Schedule {
                tz,
                kind: parse_descriptor(descriptor)?,
            });
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: {rest}",
                fields.len()
            ));
        }
        Ok(Schedule {
            tz,
            kind: Kind::Spec {
                minute: parse_field(fields[0], &MINUTES)?,
                hour: parse_field(fields[1], &HOURS)?,
                dom: parse_field(fields[2], &DOM)?,
                month: parse_field(fields[3], &MONTHS)?,
                dow: parse_field(fields[4], &DOW)?,
            },
        })
    }

    /// The first activation strictly after `after`; `None` if there is
    /// none within five years.
    pub fn next(&self, after: Timestamp) -> Option<Timestamp> {
        match &self.kind {
            Kind::Every(every) => {
                let whole = Timestamp::from_second(after.as_second()).ok()?;
                whole
                    .checked_add(SignedDuration::try_from(*every).ok()?)
                    .ok()
            }
            Kind::Spec {
                minute,
                hour,
                dom,
                month,
                dow,
            } => {
                let has = |bits: u64, v: i8| v >= 0 && bits & (1u64 << v) != 0;
                let day_matches = |dt: &DateTime| {
                    let dom_match = has(*dom, dt.day());
                    let dow_match = has(*dow, dt.weekday().to_sunday_zero_offset());
                    if dom & STAR_BIT != 0 || dow & STAR_BIT != 0 {
                        dom_match && dow_match
                    } else {
                        dom_match || dow_match
                    }
                };
                // Whole minutes only: the standard parser's seconds are 0.
                let start = self
                    .tz
                    .to_datetime(after)
                    .with()
                    .second(0)
                    .subsec_nanosecond(0)
                    .build()
                    .ok()?;
                let mut dt = start.checked_add(1.minute()).ok()?;
                let limit = dt.year() + 5;
                loop {
                    if dt.year() > limit {
                        return None;
                    }
                    if !has(*month, dt.month()) {
                        let first = dt.first_of_month().start_of_day();
                        dt = first.checked_add(1.month()).ok()?;
                        continue;
                    }
                    if !day_matches(&dt) {
                        dt = dt.start_of_day().checked_add(1.day()).ok()?;
                        continue;
                    }
                    if !has(*hour, dt.hour()) {
                        dt = dt
                            .with()
                            .minute(0)
                            .build()
                            .ok()?
                            .checked_add(1.hour())
                            .ok()?;
                        continue;
                    }
                    if !has(*minute, dt.minute()) {
                        dt = dt.checked_add(1.minute()).ok()?;
                        continue;
                    }
                    // A local time skipped by a DST change fires right after it.
                    let at = self.tz.to_ambiguous_timestamp(dt).compatible().ok()?;
                    if at > after {
                        return Some(at);
                    }
                    dt = dt.checked_add(1.minute()).ok()?;
                }
            }
        }
    }
}

fn parse_descriptor(d: &str) -> Result<Kind, String> {
    let spec = |m: &str, h: &str, dom: &str, mon: &str, dow: &str| -> Result<Kind, String> {
        Ok(Kind::Spec {
            minute: parse_field(m, &MINUTES)?,
            hour: parse_field(h, &HOURS)?,
            dom: parse_field(dom, &DOM)?,
            month: parse_field(mon, &MONTHS)?,
            dow: parse_field(dow, &DOW)?,
        })
    };
    match d {
        "yearly" | "annually" => spec("0", "0", "1", "1", "*"),
        "monthly" => spec("0", "0", "1", "*", "*"),
        "weekly" => spec("0", "0", "*", "*", "0"),
        "daily" | "midnight" => spec("0", "0", "*", "*", "*"),
        "hourly" => spec("0", "*", "*", "*", "*"),
        _ => {
            if let Some(duration) = d.strip_prefix("every ") {
                let every = crate::duration::parse_duration(duration.trim())
                    .map_err(|err| format!("failed to parse duration @{d}: {err}"))?;
                // robfig rounds to whole seconds, at least one.
                let every = Duration::from_secs(every.as_secs().max(1));
                return Ok(Kind::Every(every));
            }
            Err(format!("unrecognized descriptor: @{d}"))
        }
    }
}

/// Go's `time.LoadLocation`: `""` and `UTC` are UTC, `Local` the host's
/// zone, anything else an IANA name from the system database.
pub fn load_location(name: &str) -> Result<TimeZone, String> {
    match name {
        "" | "UTC" => Ok(TimeZone::UTC),
        "Local" => Ok(TimeZone::system()),
        _ => TimeZone::get(name).map_err(|_| format!("unknown time zone {name}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn next(spec: &str, after: &str) -> Option<String> {
        Schedule::parse(spec, &TimeZone::UTC)
            .unwrap()
            .next(at(after))
            .map(|t| t.to_string())
    }

    #[test]
    fn standard_fields() {
        assert_eq!(
            next("*/5 * * * *", "2024-01-01T00:03:10Z").unwrap(),
            "2024-01-01T00:05:00Z"
        );
        assert_eq!(
            next("*/5 * * * *", "2024-01-01T00:05:00Z").unwrap(),
            "2024-01-01T00:10:00Z"
        );
        assert_eq!(
            next("30 6-16/4 * * 1-5", "2024-01-05T15:00:00Z").unwrap(),
            "2024-01-08T06:30:00Z"
        );
        assert_eq!(
            next("0 0 1 jan *", "2024-03-01T00:00:00Z").unwrap(),
            "2025-01-01T00:00:00Z"
        );
        assert_eq!(
            next("0 12 * * SUN", "2024-01-01T00:00:00Z").unwrap(),
            "2024-01-07T12:00:00Z"
        );
        assert_eq!(
            next("0 0 29 2 *", "2024-03-01T00:00:00Z").unwrap(),
            "2028-02-29T00:00:00Z"
        );
        assert_eq!(next("59 23 31 2 *", "2024-01-01T00:00:00Z"), None);
        assert_eq!(
            next("5,10 1 * * *", "2024-01-01T01:05:00Z").unwrap(),
            "2024-01-01T01:10:00Z"
        );
    }

    #[test]
    fn day_of_month_or_week() {
        // Both restricted: either matches (the 13th or a Friday).
        assert_eq!(
            next("0 0 13 * 5", "2024-01-01T00:00:00Z").unwrap(),
            "2024-01-05T00:00:00Z"
        );
        // One is a star: both must match.
        assert_eq!(
            next("0 0 * * 5", "2024-01-01T00:00:00Z").unwrap(),
            "2024-01-05T00:00:00Z"
        );
        assert_eq!(
            next("0 0 13 * *", "2024-01-01T00:00:00Z").unwrap(),
            "2024-01-13T00:00:00Z"
        );
    }

    #[test]
    fn descriptors() {
        assert_eq!(
            next("@hourly", "2024-01-01T00:30:00Z").unwrap(),
            "2024-01-01T01:00:00Z"
        );
        assert_eq!(
            next("@daily", "2024-01-01T00:30:00Z").unwrap(),
            "2024-01-02T00:00:00Z"
        );
        assert_eq!(
            next("@weekly", "2024-01-01T00:30:00Z").unwrap(),
            "2024-01-07T00:00:00Z"
        );
        assert_eq!(
            next("@monthly", "2024-01-01T00:30:00Z").unwrap(),
            "2024-02-01T00:00:00Z"
        );
        assert_eq!(
            next("@yearly", "2024-01-01T00:30:00Z").unwrap(),
            "2025-01-01T00:00:00Z"
        );
        assert_eq!(
            next("@every 90s", "2024-01-01T00:00:10.5Z").unwrap(),
            "2024-01-01T00:01:40Z"
        );
    }

    #[test]
    fn time_zones() {
        // 09:00 in Berlin (UTC+1 in winter, +2 in summer).
        assert_eq!(
            next("TZ=Europe/Berlin 0 9 * * *", "2024-01-10T12:00:00Z").unwrap(),
            "2024-01-11T08:00:00Z"
        );
        assert_eq!(
            next("CRON_TZ=Europe/Berlin 0 9 * * *", "2024-07-10T12:00:00Z").unwrap(),
            "2024-07-11T07:00:00Z"
        );
        let berlin = load_location("Europe/Berlin").unwrap();
        let s = Schedule::parse("0 9 * * *", &berlin).unwrap();
        assert_eq!(
            s.next(at("2024-01-10T12:00:00Z")).unwrap().to_string(),
            "2024-01-11T08:00:00Z"
        );
        // 02:30 does not exist on 2024-03-31 in Berlin: it fires at 03:30.
        let s = Schedule::parse("30 2 * * *", &berlin).unwrap();
        assert_eq!(
            s.next(at("2024-03-30T12:00:00Z")).unwrap().to_string(),
            "2024-03-31T01:30:00Z"
        );
        assert!(load_location("Mars/Olympus").is_err());
    }

    #[test]
    fn bad_specs_are_errors() {
        for bad in [
            "",
            "* * * *",
            "61 * * * *",
            "* * * * 8",
            "5-1 * * * *",
            "*/0 * * * *",
            "@sometimes",
            "a * * * *",
            "TZ=Nowhere/X * * * * *",
        ] {
            assert!(Schedule::parse(bad, &TimeZone::UTC).is_err(), "{bad}");
        }
    }
}
