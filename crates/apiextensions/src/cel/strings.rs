//! The cel-go strings extension as Kubernetes enables it: `charAt`,
//! `indexOf`, `lastIndexOf`, `lowerAscii`, `upperAscii`, `replace`,
//! `split`, `substring`, `trim`, `join`, `reverse`, `strings.quote` and
//! `format`. Indices count code points, as cel-go does.

use super::eval::{EResult, EvalError, Interp};
use super::stdlib::to_string;
use super::value::Val;
use crate::go_fmt;

/// Function names of this library.
pub(crate) const FUNCTIONS: &[&str] = &[
    "charAt",
    "indexOf",
    "lastIndexOf",
    "lowerAscii",
    "upperAscii",
    "replace",
    "split",
    "substring",
    "trim",
    "join",
    "reverse",
    "strings.quote",
    "format",
];

fn idx(v: &Val) -> EResult<i64> {
    match v {
        Val::Int(i) => Ok(*i),
        _ => Err(EvalError::no_overload()),
    }
}

fn out_of_range(i: i64) -> EvalError {
    EvalError::msg(format!("index out of range: {i}"))
}

/// Dispatches string-extension calls; `None` if not handled here.
pub(crate) fn call(
    it: &mut Interp,
    target: Option<&Val>,
    func: &str,
    args: &[Val],
) -> Option<EResult> {
    let s = match target {
        Some(Val::Str(s)) => s.clone(),
        Some(Val::List(l)) if func == "join" => return Some(join(it, l, args)),
        None if func == "strings.quote" => {
            return Some(match args {
                [Val::Str(s)] => Ok(Val::str(&go_fmt::quote(s))),
                _ => Err(EvalError::no_overload()),
            });
        }
        _ => return None,
    };
    if !FUNCTIONS.contains(&func) {
        return None;
    }
    Some(string_call(it, &s, func, args))
}

fn string_call(it: &mut Interp, s: &str, func: &str, args: &[Val]) -> EResult {
    it.charge(s.len() as u64 / 10 + 1)?;
    let chars: Vec<char> = s.chars().collect();
    match (func, args) {
        ("charAt", [i]) => {
            let i = idx(i)?;
            match usize::try_from(i) {
                Ok(u) if u < chars.len() => Ok(Val::str(&chars[u].to_string())),
                Ok(u) if u == chars.len() => Ok(Val::str("")),
                _ => Err(out_of_range(i)),
            }
        }
        ("indexOf", [Val::Str(sub), rest @ ..]) => {
            let start = match rest {
                [] => 0,
                [o] => idx(o)?,
                _ => return Err(EvalError::no_overload()),
            };
            let su = usize::try_from(start)
                .ok()
                .filter(|u| *u <= chars.len())
                .ok_or_else(|| out_of_range(start))?;
            let sub: Vec<char> = sub.chars().collect();
            Ok(Val::Int(find(&chars, &sub, su).map_or(-1, |p| p as i64)))
        }
        ("lastIndexOf", [Val::Str(sub), rest @ ..]) => {
            let sub: Vec<char> = sub.chars().collect();
            let end = match rest {
                [] => chars.len() as i64,
                [o] => idx(o)?,
                _ => return Err(EvalError::no_overload()),
            };
            let eu = usize::try_from(end)
                .ok()
                .filter(|u| *u <= chars.len())
                .ok_or_else(|| out_of_range(end))?;
            if sub.is_empty() {
                return Ok(Val::Int(eu as i64));
            }
            let mut best = -1i64;
            for p in 0..=eu.min(chars.len().saturating_sub(sub.len())) {
                if chars[p..].starts_with(&sub) {
                    best = p as i64;
                }
            }
            Ok(Val::Int(best))
        }
        ("lowerAscii", []) => Ok(Val::str(&s.to_ascii_lowercase())),
        ("upperAscii", []) => Ok(Val::str(&s.to_ascii_uppercase())),
        ("replace", [Val::Str(from), Val::Str(to), rest @ ..]) => {
            let n = match rest {
                [] => -1,
                [n] => idx(n)?,
                _ => return Err(EvalError::no_overload()),
            };
            it.charge((s.len() * to.len().max(1)) as u64 / 10)?;
            Ok(Val::str(&if n < 0 {
                s.replace(from.as_ref(), to)
            } else {
                s.replacen(from.as_ref(), to, n as usize)
            }))
        }
        ("split", [Val::Str(sep), rest @ ..]) => {
            let n = match rest {
                [] => -1,
                [n] => idx(n)?,
                _ => return Err(EvalError::no_overload()),
            };
            let parts: Vec<Val> = match n {
                0 => Vec::new(),
                n if n < 0 => split_all(s, sep)
                    .into_iter()
                    .map(|p| Val::str(&p))
                    .collect(),
                n => split_n(s, sep, n as usize)
                    .into_iter()
                    .map(|p| Val::str(&p))
                    .collect(),
            };
            it.charge(parts.len() as u64)?;
            Ok(Val::list(parts))
        }
        ("substring", [a, rest @ ..]) => {
            let start = idx(a)?;
            let end = match rest {
                [] => chars.len() as i64,
                [b] => idx(b)?,
                _ => return Err(EvalError::no_overload()),
            };
            if start < 0 || start as usize > chars.len() {
                return Err(out_of_range(start));
            }
            if end < 0 || end as usize > chars.len() {
                return Err(out_of_range(end));
            }
            if start > end {
                return Err(EvalError::msg(format!(
                    "invalid substring range. start: {start}, end: {end}"
                )));
            }
            Ok(Val::str(
                &chars[start as usize..end as usize]
                    .iter()
                    .collect::<String>(),
            ))
        }
        ("trim", []) => Ok(Val::str(s.trim())),
        ("reverse", []) => Ok(Val::str(&chars.iter().rev().collect::<String>())),
        ("format", [Val::List(items)]) => format(s, items).map(|r| Val::str(&r)),
        _ => Err(EvalError::no_overload()),
    }
}

fn find(hay: &[char], needle: &[char], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return Some(from);
    }
    (from..=hay.len().saturating_sub(needle.len()))
        .find(|&p| p + needle.len() <= hay.len() && hay[p..].starts_with(needle))
}

/// Go's `strings.Split` (an empty separator splits into code points).
fn split_all(s: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        return s.chars().map(String::from).collect();
    }
    s.split(sep).map(String::from).collect()
}

fn split_n(s: &str, sep: &str, n: usize) -> Vec<String> {
    if sep.is_empty() {
        let chars: Vec<char> = s.chars().collect();
        let mut out: Vec<String> = chars
            .iter()
            .take(n.saturating_sub(1))
            .map(|c| c.to_string())
            .collect();
        if chars.len() >= n {
            out.push(chars[n - 1..].iter().collect());
        }
        return out;
    }
    s.splitn(n, sep).map(String::from).collect()
}

fn join(it: &mut Interp, items: &[Val], args: &[Val]) -> EResult {
    let sep = match args {
        [] => "",
        [Val::Str(s)] => s,
        _ => return Err(EvalError::no_overload()),
    };
    it.charge(items.len() as u64)?;
    let mut parts = Vec::with_capacity(items.len());
    for v in items {
        match v {
            Val::Str(s) => parts.push(s.to_string()),
            _ => return Err(EvalError::no_overload()),
        }
    }
    Ok(Val::str(&parts.join(sep)))
}

/// `"...".format([args])`: `%s`, `%d`, `%f`/`%.Nf`, `%e`, `%b`, `%o`,
/// `%x`, `%X` and `%%`.
fn format(fmt: &str, args: &[Val]) -> EResult<String> {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    let mut next_arg = 0usize;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            precision = Some(digits.parse().unwrap_or(0).min(64));
        }
        let verb = chars
            .next()
            .ok_or_else(|| EvalError::msg("unexpected end of format string"))?;
        let arg = args
            .get(next_arg)
            .ok_or_else(|| EvalError::msg(format!("index {next_arg} out of range")))?;
        next_arg += 1;
        let text = match (verb, arg) {
            ('s', v) => match v {
                Val::List(l) => {
                    let parts: EResult<Vec<String>> = l.iter().map(to_string).collect();
                    format!("[{}]", parts?.join(", "))
                }
                Val::Null => "null".to_string(),
                v => to_string(v)?,
            },
            ('d', Val::Int(i)) => i.to_string(),
            ('d', Val::Uint(u)) => u.to_string(),
            ('f', v) => format!("{:.*}", precision.unwrap_or(6), num(v)?),
            ('e', v) => go_exp(num(v)?, precision.unwrap_or(6)),
            ('b', Val::Int(i)) => format!("{i:b}"),
            ('b', Val::Uint(u)) => format!("{u:b}"),
            ('o', Val::Int(i)) => format!("{i:o}"),
            ('o', Val::Uint(u)) => format!("{u:o}"),
            ('x', Val::Int(i)) => format!("{i:x}"),
            ('x', Val::Uint(u)) => format!("{u:x}"),
            ('x', Val::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
            ('X', Val::Int(i)) => format!("{i:X}"),
            ('X', Val::Uint(u)) => format!("{u:X}"),
            ('X', Val::Str(s)) => s.bytes().map(|b| format!("{b:02X}")).collect(),
            (v, a) => {
                return Err(EvalError::msg(format!(
                    "error during formatting: unrecognized formatting clause \"{v}\" for {}",
                    a.type_name()
                )));
            }
        };
        out.push_str(&text);
    }
    Ok(out)
}

fn num(v: &Val) -> EResult<f64> {
    match v {
        Val::Double(d) => Ok(*d),
        Val::Int(i) => Ok(*i as f64),
        Val::Uint(u) => Ok(*u as f64),
        _ => Err(EvalError::no_overload()),
    }
}

fn go_exp(f: f64, prec: usize) -> String {
    let s = format!("{f:.prec$e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let exp: i32 = e.parse().unwrap_or(0);
            format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
        }
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_cel_go() {
        let args = [Val::str("a"), Val::Int(3), Val::Double(1.5)];
        assert_eq!(format("%s-%d-%.2f%%", &args).unwrap(), "a-3-1.50%");
        assert_eq!(go_exp(1234.5, 2), "1.23e+03");
        assert_eq!(split_n("a,b,c", ",", 2), vec!["a", "b,c"]);
    }
}
