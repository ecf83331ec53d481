//! The CEL standard library (size, conversions, string predicates,
//! timestamps and durations, optionals) and function dispatch to the
//! extension libraries in [`super::strings`] and [`super::k8s`].

use std::rc::Rc;

use super::eval::{EResult, EvalError, Interp, show};
use super::value::Val;
use super::{k8s, strings};
use crate::go_fmt;

/// Type names usable as identifiers (`type(x) == string`).
pub(crate) fn is_type_name(n: &str) -> bool {
    matches!(
        n,
        "int"
            | "uint"
            | "double"
            | "string"
            | "bool"
            | "bytes"
            | "list"
            | "map"
            | "null_type"
            | "type"
    )
}

/// Functions (global or member) this CEL environment knows, for the
/// compile-time check of undeclared references.
pub(crate) const FUNCTIONS: &[&str] = &[
    "size",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "bool",
    "dyn",
    "type",
    "duration",
    "timestamp",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "getFullYear",
    "getMonth",
    "getDate",
    "getDayOfMonth",
    "getDayOfWeek",
    "getDayOfYear",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
    "optional.of",
    "optional.none",
    "optional.ofNonZeroValue",
    "hasValue",
    "value",
    "orValue",
    "or",
];

/// Calls `func` on `target` (member call) or globally.
pub(crate) fn call(it: &mut Interp, target: Option<Val>, func: &str, args: Vec<Val>) -> EResult {
    if let Some(r) = core(it, target.as_ref(), func, &args) {
        return r;
    }
    if let Some(r) = strings::call(it, target.as_ref(), func, &args) {
        return r;
    }
    if let Some(r) = k8s::call(it, target.as_ref(), func, &args) {
        return r;
    }
    if is_known(func) {
        Err(EvalError::no_overload())
    } else {
        Err(EvalError::msg(format!("undeclared reference to '{func}'")))
    }
}

/// Whether `func` names a function of some library.
pub(crate) fn is_known(func: &str) -> bool {
    FUNCTIONS.contains(&func)
        || strings::FUNCTIONS.contains(&func)
        || k8s::FUNCTIONS.contains(&func)
}

/// `target.f(args)` or `f(target, args...)` as one argument list.
fn receiver_args<'a>(target: Option<&'a Val>, args: &'a [Val]) -> Vec<&'a Val> {
    target.into_iter().chain(args.iter()).collect()
}

fn core(it: &mut Interp, target: Option<&Val>, func: &str, args: &[Val]) -> Option<EResult> {
    let all = receiver_args(target, args);
    Some(match (func, all.as_slice()) {
        ("size", [v]) => size(v),
        ("int", [v]) => to_int(v),
        ("uint", [v]) => to_uint(v),
        ("double", [v]) => to_double(v),
        ("string", [v]) => to_string(v).map(|s| Val::str(&s)),
        ("bytes", [Val::Str(s)]) => Ok(Val::Bytes(Rc::from(s.as_bytes()))),
        ("bytes", [b @ Val::Bytes(_)]) => Ok((*b).clone()),
        ("bool", [Val::Bool(b)]) => Ok(Val::Bool(*b)),
        ("bool", [Val::Str(s)]) => match s.as_ref() {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(Val::Bool(true)),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(Val::Bool(false)),
            _ => Err(EvalError::msg(format!(
                "type conversion error from 'string' to 'bool': {s}"
            ))),
        },
        ("dyn", [v]) => Ok((*v).clone()),
        ("type", [v]) => Ok(Val::Type(Rc::from(v.type_name()))),
        ("duration", [Val::Str(s)]) => parse_duration(s),
        ("duration", [d @ Val::Duration(_)]) => Ok((*d).clone()),
        ("timestamp", [Val::Str(s)]) => s
            .parse::<jiff::Timestamp>()
            .map(Val::Timestamp)
            .map_err(|_| EvalError::msg(format!("timestamp parse error: {s}"))),
        ("timestamp", [t @ Val::Timestamp(_)]) => Ok((*t).clone()),
        ("timestamp", [Val::Int(i)]) => jiff::Timestamp::from_second(*i)
            .map(Val::Timestamp)
            .map_err(|_| EvalError::msg("timestamp out of range")),
        ("contains", [Val::Str(s), Val::Str(sub)]) => {
            charge_str(it, s).map(|_| Val::Bool(s.contains(sub.as_ref())))
        }
        ("startsWith", [Val::Str(s), Val::Str(p)]) => Ok(Val::Bool(s.starts_with(p.as_ref()))),
        ("endsWith", [Val::Str(s), Val::Str(p)]) => Ok(Val::Bool(s.ends_with(p.as_ref()))),
        ("matches", [Val::Str(s), Val::Str(re)]) => charge_str(it, s)
            .and_then(|_| k8s::compile_regex(re))
            .map(|r| Val::Bool(r.is_match(s))),
        (
            "getFullYear" | "getMonth" | "getDate" | "getDayOfMonth" | "getDayOfWeek"
            | "getDayOfYear" | "getHours" | "getMinutes" | "getSeconds" | "getMilliseconds",
            [Val::Timestamp(t), rest @ ..],
        ) => timestamp_part(*t, func, rest),
        ("getHours" | "getMinutes" | "getSeconds" | "getMilliseconds", [Val::Duration(d)]) => {
            Ok(Val::Int(match func {
                "getHours" => d.as_secs() / 3600,
                "getMinutes" => d.as_secs() / 60,
                "getSeconds" => d.as_secs(),
                _ => d.as_millis() as i64,
            }))
        }
        ("optional.of", [v]) => Ok(Val::Optional(Some(Rc::new((*v).clone())))),
        ("optional.none", []) => Ok(Val::Optional(None)),
        ("optional.ofNonZeroValue", [v]) => Ok(if is_zero(v) {
            Val::Optional(None)
        } else {
            Val::Optional(Some(Rc::new((*v).clone())))
        }),
        ("hasValue", [Val::Optional(o)]) => Ok(Val::Bool(o.is_some())),
        ("value", [Val::Optional(o)]) => match o {
            Some(v) => Ok((**v).clone()),
            None => Err(EvalError::msg("optional.none() dereference")),
        },
        ("orValue", [Val::Optional(o), d]) => Ok(match o {
            Some(v) => (**v).clone(),
            None => (*d).clone(),
        }),
        ("or", [Val::Optional(o), other @ Val::Optional(_)]) => Ok(match o {
            Some(_) => Val::Optional(o.clone()),
            None => (*other).clone(),
        }),
        _ => return None,
    })
}

fn charge_str(it: &mut Interp, s: &str) -> EResult<()> {
    it.charge(s.len() as u64 / 10)
}

fn is_zero(v: &Val) -> bool {
    match v {
        Val::Null => true,
        Val::Bool(b) => !b,
        Val::Int(i) => *i == 0,
        Val::Uint(u) => *u == 0,
        Val::Double(d) => *d == 0.0,
        Val::Str(s) => s.is_empty(),
        Val::Bytes(b) => b.is_empty(),
        Val::List(l) => l.is_empty(),
        Val::Map(m) => m.len() == 0,
        Val::Duration(d) => d.is_zero(),
        Val::Timestamp(t) => *t == jiff::Timestamp::UNIX_EPOCH,
        _ => false,
    }
}

fn size(v: &Val) -> EResult {
    let n = match v {
        Val::Str(s) => s.chars().count(),
        Val::Bytes(b) => b.len(),
        Val::List(l) => l.len(),
        Val::Map(m) => m.len(),
        _ => return Err(EvalError::no_overload()),
    };
    Ok(Val::Int(n as i64))
}

fn range_err(from: &str, to: &str) -> EvalError {
    EvalError::msg(format!("{from} to {to} conversion: range error"))
}

fn to_int(v: &Val) -> EResult {
    match v {
        Val::Int(i) => Ok(Val::Int(*i)),
        Val::Uint(u) => i64::try_from(*u)
            .map(Val::Int)
            .map_err(|_| range_err("uint", "int")),
        Val::Double(d) => {
            if d.is_finite() && *d > -9.223_372_036_854_776e18 && *d < 9.223_372_036_854_776e18 {
                Ok(Val::Int(d.trunc() as i64))
            } else {
                Err(range_err("double", "int"))
            }
        }
        Val::Str(s) => s.parse::<i64>().map(Val::Int).map_err(|_| {
            EvalError::msg(format!("type conversion error from 'string' to 'int': {s}"))
        }),
        Val::Timestamp(t) => Ok(Val::Int(t.as_second())),
        Val::Bool(_) => Err(EvalError::no_overload()),
        _ => Err(EvalError::no_overload()),
    }
}

fn to_uint(v: &Val) -> EResult {
    match v {
        Val::Uint(u) => Ok(Val::Uint(*u)),
        Val::Int(i) => u64::try_from(*i)
            .map(Val::Uint)
            .map_err(|_| range_err("int", "uint")),
        Val::Double(d) => {
            if d.is_finite() && *d >= 0.0 && *d < 1.844_674_407_370_955_2e19 {
                Ok(Val::Uint(d.trunc() as u64))
            } else {
                Err(range_err("double", "uint"))
            }
        }
        Val::Str(s) => s.parse::<u64>().map(Val::Uint).map_err(|_| {
            EvalError::msg(format!(
                "type conversion error from 'string' to 'uint': {s}"
            ))
        }),
        _ => Err(EvalError::no_overload()),
    }
}

fn to_double(v: &Val) -> EResult {
    match v {
        Val::Double(d) => Ok(Val::Double(*d)),
        Val::Int(i) => Ok(Val::Double(*i as f64)),
        Val::Uint(u) => Ok(Val::Double(*u as f64)),
        Val::Str(s) => s.parse::<f64>().map(Val::Double).map_err(|_| {
            EvalError::msg(format!(
                "type conversion error from 'string' to 'double': {s}"
            ))
        }),
        _ => Err(EvalError::no_overload()),
    }
}

/// `string(x)`.
pub(crate) fn to_string(v: &Val) -> EResult<String> {
    Ok(match v {
        Val::Str(s) => s.to_string(),
        Val::Int(i) => i.to_string(),
        Val::Uint(u) => u.to_string(),
        Val::Double(d) => go_fmt::float(*d),
        Val::Bool(b) => b.to_string(),
        Val::Bytes(b) => {
            String::from_utf8(b.to_vec()).map_err(|_| EvalError::msg("invalid UTF-8 in bytes"))?
        }
        Val::Timestamp(t) => t.to_string(),
        Val::Duration(d) => duration_string(*d),
        Val::Ip(ip) => ip.to_string(),
        Val::Cidr(c) => c.to_string(),
        Val::Url(u) => u.raw.clone(),
        Val::Quantity(q) => q.canonical_string(),
        Val::Type(t) => t.to_string(),
        other => {
            return Err(EvalError::msg(format!(
                "no such overload: string({})",
                show(other)
            )));
        }
    })
}

/// cel-go renders durations as seconds: `90s`, `1.5s`.
fn duration_string(d: jiff::SignedDuration) -> String {
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        return format!("{secs}s");
    }
    let frac = format!("{:09}", nanos.unsigned_abs());
    let frac = frac.trim_end_matches('0');
    let sign = if secs == 0 && nanos < 0 { "-" } else { "" };
    format!("{sign}{secs}.{frac}s")
}

fn parse_duration(s: &str) -> EResult {
    let ns = crate::schema::formats::parse_go_duration(s).ok_or_else(|| {
        EvalError::msg(format!(
            "type conversion error from 'string' to 'google.protobuf.Duration': {s}"
        ))
    })?;
    let ns = i64::try_from(ns).map_err(|_| EvalError::msg("duration out of range"))?;
    Ok(Val::Duration(jiff::SignedDuration::from_nanos(ns)))
}

fn timestamp_part(t: jiff::Timestamp, func: &str, rest: &[&Val]) -> EResult {
    let tz = match rest {
        [] => jiff::tz::TimeZone::UTC,
        [Val::Str(name)] => parse_tz(name)?,
        _ => return Err(EvalError::no_overload()),
    };
    let z = t.to_zoned(tz);
    Ok(Val::Int(match func {
        "getFullYear" => i64::from(z.year()),
        "getMonth" => i64::from(z.month()) - 1,
        "getDate" => i64::from(z.day()),
        "getDayOfMonth" => i64::from(z.day()) - 1,
        "getDayOfWeek" => i64::from(z.weekday().to_sunday_zero_offset()),
        "getDayOfYear" => i64::from(z.day_of_year()) - 1,
        "getHours" => i64::from(z.hour()),
        "getMinutes" => i64::from(z.minute()),
        "getSeconds" => i64::from(z.second()),
        _ => i64::from(z.millisecond()),
    }))
}

fn parse_tz(name: &str) -> EResult<jiff::tz::TimeZone> {
    if name == "UTC" || name.is_empty() {
        return Ok(jiff::tz::TimeZone::UTC);
    }
    let b = name.as_bytes();
    if name.len() == 6 && matches!(b[0], b'+' | b'-') && b[3] == b':' {
        let h: i32 = name[1..3]
            .parse()
            .map_err(|_| EvalError::msg("invalid time zone"))?;
        let m: i32 = name[4..6]
            .parse()
            .map_err(|_| EvalError::msg("invalid time zone"))?;
        let secs = (h * 3600 + m * 60) * if b[0] == b'-' { -1 } else { 1 };
        let off = jiff::tz::Offset::from_seconds(secs)
            .map_err(|_| EvalError::msg("invalid time zone"))?;
        return Ok(jiff::tz::TimeZone::fixed(off));
    }
    jiff::tz::TimeZone::get(name).map_err(|_| EvalError::msg(format!("invalid time zone: {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_render_as_seconds() {
        assert_eq!(duration_string(jiff::SignedDuration::from_secs(90)), "90s");
        assert_eq!(
            duration_string(jiff::SignedDuration::from_millis(1500)),
            "1.5s"
        );
    }
}
