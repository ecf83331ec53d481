//! How upstream's Go code sees a decoded JSON value.
//!
//! Upstream decodes patches into `map[string]interface{}` with integers
//! kept as `int64` (everything else numeric is `float64`), then compares
//! values with Go's `==` on interfaces, hashes them as map keys and prints
//! them with `%v` / `%s` in error messages. Each of those has observable
//! corners (an `int64(1)` is not equal to a `float64(1)`, comparing two
//! maps panics, `%s` of a number prints `%!s(int64=1)`), reproduced here.

use serde_json::{Map, Value};

use super::SmpError;

/// The dynamic Go type of a decoded JSON value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum GoType {
    /// `nil` (a JSON `null`, or a missing map entry).
    Nil,
    Bool,
    Int64,
    Float64,
    String,
    /// `[]interface{}`.
    Slice,
    /// `map[string]interface{}`.
    Map,
}

impl GoType {
    /// `reflect.TypeOf(v)` printed with `%s`.
    pub(super) fn name(self) -> &'static str {
        match self {
            GoType::Nil => "%!s(<nil>)",
            GoType::Bool => "bool",
            GoType::Int64 => "int64",
            GoType::Float64 => "float64",
            GoType::String => "string",
            GoType::Slice => "[]interface {}",
            GoType::Map => "map[string]interface {}",
        }
    }

    /// Whether Go can compare or hash values of this type without panicking.
    pub(super) fn comparable(self) -> bool {
        !matches!(self, GoType::Slice | GoType::Map)
    }
}

/// The Go type a JSON value decodes to (integers that fit `int64` stay
/// integers, like `sigs.k8s.io/json`'s PreserveInts).
pub(super) fn go_type(v: &Value) -> GoType {
    match v {
        Value::Null => GoType::Nil,
        Value::Bool(_) => GoType::Bool,
        Value::Number(n) if n.is_i64() => GoType::Int64,
        Value::Number(_) => GoType::Float64,
        Value::String(_) => GoType::String,
        Value::Array(_) => GoType::Slice,
        Value::Object(_) => GoType::Map,
    }
}

/// The Go type of an optional value (`None` is a missing map entry: `nil`).
pub(super) fn go_type_opt(v: Option<&Value>) -> GoType {
    v.map_or(GoType::Nil, go_type)
}

/// A comparable Go value, usable as a hash key (`map[interface{}]...`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum HashKey {
    Nil,
    Bool(bool),
    Int(i64),
    /// The bits of a float64, with `-0` folded into `0` (Go's `==` treats them as equal).
    Float(u64),
    Str(String),
}

/// The hash key of a value, or the type Go refuses to hash or compare.
pub(super) fn hash_key(v: Option<&Value>) -> Result<HashKey, GoType> {
    match v {
        None | Some(Value::Null) => Ok(HashKey::Nil),
        Some(Value::Bool(b)) => Ok(HashKey::Bool(*b)),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => Ok(HashKey::Int(i)),
            None => {
                let f = n.as_f64().unwrap_or(0.0);
                let f = if f == 0.0 { 0.0 } else { f };
                Ok(HashKey::Float(f.to_bits()))
            }
        },
        Some(Value::String(s)) => Ok(HashKey::Str(s.clone())),
        Some(Value::Array(_)) => Err(GoType::Slice),
        Some(Value::Object(_)) => Err(GoType::Map),
    }
}

/// The error standing for a Go runtime panic on comparing two maps or slices.
pub(super) fn uncomparable_panic(t: GoType) -> SmpError {
    SmpError::Panic(format!(
        "runtime error: comparing uncomparable type {}",
        t.name()
    ))
}

/// The error standing for a Go runtime panic on hashing a map or slice.
pub(super) fn unhashable_panic(t: GoType) -> SmpError {
    SmpError::Panic(format!(
        "runtime error: hash of unhashable type {}",
        t.name()
    ))
}

/// Go's `a == b` on two `interface{}` values (`None` is `nil`). Values of
/// different dynamic types are unequal; two maps or two slices panic.
pub(super) fn go_eq(a: Option<&Value>, b: Option<&Value>) -> Result<bool, SmpError> {
    let (ta, tb) = (go_type_opt(a), go_type_opt(b));
    if ta != tb {
        return Ok(false);
    }
    if !ta.comparable() {
        return Err(uncomparable_panic(ta));
    }
    Ok(hash_key(a).ok() == hash_key(b).ok())
}

/// `%v` of a value, as Go's `fmt` prints a decoded JSON value.
#[cfg(test)]
pub(super) fn fmt_v(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v, Verb::V);
    out
}

/// `%v` of a list (`[]interface{}`).
pub(super) fn fmt_v_list(items: &[Value]) -> String {
    let mut out = String::new();
    write_list(&mut out, items, Verb::V);
    out
}

/// `%v` of a map (`map[string]interface{}`).
pub(super) fn fmt_v_map(m: &Map<String, Value>) -> String {
    let mut out = String::new();
    write_map(&mut out, m, Verb::V);
    out
}

/// `%s` of a value: strings print as themselves, other scalars as
/// `%!s(type=value)`, containers element-wise.
pub(super) fn fmt_s(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v, Verb::S);
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verb {
    V,
    S,
}

fn write_value(out: &mut String, v: &Value, verb: Verb) {
    let bad = |out: &mut String, t: &str, body: &str| {
        out.push_str("%!s(");
        out.push_str(t);
        out.push('=');
        out.push_str(body);
        out.push(')');
    };
    match v {
        Value::Null => out.push_str(if verb == Verb::S {
            "%!s(<nil>)"
        } else {
            "<nil>"
        }),
        Value::Bool(b) => {
            let body = if *b { "true" } else { "false" };
            if verb == Verb::S {
                bad(out, "bool", body);
            } else {
                out.push_str(body);
            }
        }
        Value::Number(n) => {
            let (t, body) = match n.as_i64() {
                Some(i) => ("int64", i.to_string()),
                None => ("float64", go_float(n.as_f64().unwrap_or(0.0))),
            };
            if verb == Verb::S {
                bad(out, t, &body);
            } else {
                out.push_str(&body);
            }
        }
        Value::String(s) => out.push_str(s),
        Value::Array(items) => write_list(out, items, verb),
        Value::Object(m) => write_map(out, m, verb),
    }
}

fn write_list(out: &mut String, items: &[Value], verb: Verb) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_value(out, item, verb);
    }
    out.push(']');
}

fn write_map(out: &mut String, m: &Map<String, Value>, verb: Verb) {
    // Go's fmt prints map entries sorted by key.
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push_str("map[");
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(k);
        out.push(':');
        write_value(out, v, verb);
    }
    out.push(']');
}

/// A float64 as Go's `%v` prints it: the shortest digits that round-trip,
/// in `%e` form (two-digit exponent at least) when the decimal exponent is
/// below -4 or at least 6 (strconv's 'g' with the shortest precision uses
/// 6 for that decision), plain otherwise.
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e6".
    let sci = format!("{:e}", f);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let neg = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
        return out;
    }
    let dp = exp + 1; // digits before the decimal point
    let nd = digits.len() as i64;
    if dp <= 0 {
        out.push_str("0.");
        for _ in 0..(-dp) {
            out.push('0');
        }
        out.push_str(&digits);
    } else if dp >= nd {
        out.push_str(&digits);
        for _ in 0..(dp - nd) {
            out.push('0');
        }
    } else {
        let (a, b) = digits.split_at(dp as usize);
        out.push_str(a);
        out.push('.');
        out.push_str(b);
    }
    out
}

/// `mergepatch.ErrNoMergeKey`: a list item lacks its merge key.
pub(super) fn err_no_merge_key(m: &Map<String, Value>, key: &str) -> SmpError {
    SmpError::Internal(format!(
        "map: {} does not contain declared merge key: {}",
        fmt_v_map(m),
        key
    ))
}

/// `mergepatch.ErrBadArgType` where a map was expected.
pub(super) fn err_expected_map(actual: Option<&Value>) -> SmpError {
    SmpError::Internal(format!(
        "expected a {}, but received a {}",
        GoType::Map.name(),
        go_type_opt(actual).name()
    ))
}

/// `mergepatch.ErrBadArgType` where a list was expected.
pub(super) fn err_expected_list(actual: Option<&Value>) -> SmpError {
    SmpError::Internal(format!(
        "expected a {}, but received a {}",
        GoType::Slice.name(),
        go_type_opt(actual).name()
    ))
}

/// `mergepatch.ErrBadPatchType`: a `$patch` directive with an unknown value.
pub(super) fn err_bad_patch_type(directive: &Value, m: &Map<String, Value>) -> SmpError {
    SmpError::Internal(format!(
        "unknown patch type: {} in map: {}",
        fmt_s(directive),
        fmt_v_map(m)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_like_go_percent_v() {
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(-2.5e-7), "-2.5e-07");
        assert_eq!(go_float(1e100), "1e+100");
        assert_eq!(go_float(0.0), "0");
    }

    #[test]
    fn values_print_like_go() {
        let v = json!({"b": [1, "x", null, true], "a": {"k": 1.5}});
        assert_eq!(fmt_v(&v), "map[a:map[k:1.5] b:[1 x <nil> true]]");
        assert_eq!(
            fmt_s(&v),
            "map[a:map[k:%!s(float64=1.5)] b:[%!s(int64=1) x %!s(<nil>) %!s(bool=true)]]"
        );
        assert_eq!(fmt_s(&json!("delete")), "delete");
        assert_eq!(fmt_v(&json!([])), "[]");
        assert_eq!(fmt_v(&json!({})), "map[]");
    }

    #[test]
    fn equality_follows_go_interfaces() {
        let one = json!(1);
        let one_f = json!(1.0);
        assert!(go_eq(Some(&one), Some(&json!(1))).unwrap());
        assert!(!go_eq(Some(&one), Some(&one_f)).unwrap());
        assert!(go_eq(None, Some(&Value::Null)).unwrap());
        assert!(!go_eq(Some(&json!("a")), Some(&json!({}))).unwrap());
        assert!(matches!(
            go_eq(Some(&json!({})), Some(&json!({}))),
            Err(SmpError::Panic(_))
        ));
        assert!(go_eq(Some(&json!(0.0)), Some(&json!(-0.0))).unwrap());
    }
}
