//! CronJob schedule and time zone checks, reproducing the errors of
//! robfig/cron v3's standard parser (what upstream's `cron.ParseStandard`
//! reports) and of upstream `validateTimeZone`.

/// A field's bounds and names.
struct Bounds {
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
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
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

/// Go's `strconv.Atoi` with its error text.
fn atoi(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {s:?}: invalid syntax"));
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {s:?}: value out of range"))
}

fn must_parse_int(expr: &str) -> Result<u32, String> {
    let n = atoi(expr).map_err(|e| format!("failed to parse int from {expr}: {e}"))?;
    if n < 0 {
        return Err(format!("negative number ({n}) not allowed: {expr}"));
    }
    // Values beyond u32 are out of every field's range anyway.
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

fn parse_int_or_name(expr: &str, b: &Bounds) -> Result<u32, String> {
    let lower = expr.to_lowercase();
    if let Some((_, v)) = b.names.iter().find(|(n, _)| *n == lower) {
        return Ok(*v);
    }
    must_parse_int(expr)
}

fn check_range(expr: &str, b: &Bounds) -> Result<(), String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let (start, mut end) = if low_and_high[0] == "*" || low_and_high[0] == "?" {
        (b.min, b.max)
    } else {
        let start = parse_int_or_name(low_and_high[0], b)?;
        match low_and_high.len() {
            1 => (start, start),
            2 => (start, parse_int_or_name(low_and_high[1], b)?),
            _ => return Err(format!("too many hyphens: {expr}")),
        }
    };
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = must_parse_int(range_and_step[1])?;
            if single {
                end = b.max;
            }
            step
        }
        _ => return Err(format!("too many slashes: {expr}")),
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
    Ok(())
}

fn check_field(field: &str, b: &Bounds) -> Result<(), String> {
    field
        .split(',')
        .filter(|r| !r.is_empty())
        .try_for_each(|r| check_range(r, b))
}

/// Go's `time.ParseDuration` acceptance (the value itself is not needed).
fn check_duration(s: &str) -> Result<(), String> {
    let invalid = || format!("time: invalid duration {s:?}");
    let mut rest = s.strip_prefix(['+', '-']).unwrap_or(s);
    if rest == "0" {
        return Ok(());
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(invalid());
        }
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {s:?}"));
        }
        if !["ns", "us", "µs", "μs", "ms", "s", "m", "h"].contains(&unit) {
            return Err(format!("time: unknown unit {unit:?} in duration {s:?}"));
        }
        rest = &rest[unit_len..];
    }
    Ok(())
}

fn check_descriptor(spec: &str) -> Result<(), String> {
    match spec {
        "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight" | "@hourly" => {
            Ok(())
        }
        _ => match spec.strip_prefix("@every ") {
            Some(d) => {
                check_duration(d).map_err(|e| format!("failed to parse duration {spec}: {e}"))
            }
            None => Err(format!("unrecognized descriptor: {spec}")),
        },
    }
}

/// Checks a schedule like robfig/cron v3 `ParseStandard`; the error is its
/// message.
pub fn parse_standard(spec: &str) -> Result<(), String> {
    if spec.is_empty() {
        return Err("empty spec string".to_string());
    }
    let mut spec = spec.to_string();
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        let eq = spec.find('=').unwrap_or(0);
        let Some(space) = spec.find(' ') else {
            return Err(format!(
                "provided bad location {}: unknown time zone {}",
                &spec[eq + 1..],
                &spec[eq + 1..]
            ));
        };
        let location = &spec[eq + 1..space];
        if let Err(e) = load_location(location) {
            return Err(format!("provided bad location {location}: {e}"));
        }
        spec = spec[space..].trim().to_string();
    }
    if spec.starts_with('@') {
        return check_descriptor(&spec);
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    for (field, bounds) in fields.iter().zip([&MINUTES, &HOURS, &DOM, &MONTHS, &DOW]) {
        check_field(field, bounds)?;
    }
    Ok(())
}

/// Go's `time.LoadLocation` against the local tz database; when no
/// database is available every syntactically valid name is accepted.
pub fn load_location(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "UTC" {
        return Ok(());
    }
    let db = jiff::tz::db();
    if db.is_definitively_empty() {
        return Ok(());
    }
    db.get(name)
        .map(|_| ())
        .map_err(|_| format!("unknown time zone {name}"))
}

/// Upstream `validTimeZoneCharacters` for one `/`-separated part.
fn valid_tz_part(part: &str) -> bool {
    (1..=14).contains(&part.len())
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+'))
        && part != "."
        && part != ".."
        && !part.starts_with('-')
}

/// Upstream `validateTimeZone` for a set `timeZone`: the error detail, if any.
pub fn check_time_zone(tz: &str) -> Result<(), String> {
    if tz.is_empty() {
        return Err("timeZone must be nil or non-empty string".to_string());
    }
    if !tz.split('/').all(valid_tz_part) {
        return Err(format!("unknown time zone {tz}"));
    }
    if tz.eq_ignore_ascii_case("local") {
        return Err(
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"
                .to_string(),
        );
    }
    load_location(tz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_standard_schedules() {
        for s in [
            "* * * * *",
            "*/5 * * * *",
            "0 0 1 1 *",
            "0 9-17 * * mon-fri",
            "30 2 * JAN,jul SUN",
            "0 0 ? * *",
            "5/15 * * * *",
            "@hourly",
            "@daily",
            "@midnight",
            "@weekly",
            "@monthly",
            "@yearly",
            "@annually",
            "@every 1h30m",
        ] {
            assert_eq!(parse_standard(s), Ok(()), "{s}");
        }
    }

    #[test]
    fn rejects_with_robfig_messages() {
        assert_eq!(
            parse_standard("* * * *").unwrap_err(),
            "expected exactly 5 fields, found 4: [* * * *]"
        );
        assert_eq!(
            parse_standard("60 * * * *").unwrap_err(),
            "end of range (60) above maximum (59): 60"
        );
        assert_eq!(
            parse_standard("* * 0 * *").unwrap_err(),
            "beginning of range (0) below minimum (1): 0"
        );
        assert_eq!(
            parse_standard("5-1 * * * *").unwrap_err(),
            "beginning of range (5) beyond end of range (1): 5-1"
        );
        assert_eq!(
            parse_standard("x * * * *").unwrap_err(),
            "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            parse_standard("*/0 * * * *").unwrap_err(),
            "step of range should be a positive number: */0"
        );
        assert_eq!(
            parse_standard("* * * * 7").unwrap_err(),
            "end of range (7) above maximum (6): 7"
        );
        assert_eq!(
            parse_standard("@often").unwrap_err(),
            "unrecognized descriptor: @often"
        );
        assert_eq!(
            parse_standard("@every 5x").unwrap_err(),
            "failed to parse duration @every 5x: time: unknown unit \"x\" in duration \"5x\""
        );
        assert_eq!(parse_standard("").unwrap_err(), "empty spec string");
    }

    #[test]
    fn time_zones() {
        assert!(check_time_zone("UTC").is_ok());
        assert!(check_time_zone("Europe/Paris").is_ok());
        assert_eq!(
            check_time_zone("Bad Zone").unwrap_err(),
            "unknown time zone Bad Zone"
        );
        assert_eq!(
            check_time_zone("../etc").unwrap_err(),
            "unknown time zone ../etc"
        );
        assert!(
            check_time_zone("local")
                .unwrap_err()
                .starts_with("timeZone must be an explicit")
        );
        assert_eq!(
            check_time_zone("").unwrap_err(),
            "timeZone must be nil or non-empty string"
        );
        if !jiff::tz::db().is_definitively_empty() {
            assert_eq!(
                check_time_zone("Mars/Olympus").unwrap_err(),
                "unknown time zone Mars/Olympus"
            );
        }
    }
}
