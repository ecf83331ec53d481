//! The Kubernetes CEL libraries: lists (`isSorted`, `sum`, `min`, `max`,
//! `indexOf`, `lastIndexOf`), sets, regex (`find`, `findAll`), URLs, IPs and
//! CIDRs, quantities, named formats (`format.dns1123Label()...`) and
//! `math.greatest`/`math.least`.

use std::cmp::Ordering;
use std::net::IpAddr;
use std::rc::Rc;

use corten_apimachinery::names;
use corten_apimachinery::quantity::Quantity;
use regex::Regex;

use super::eval::{EResult, EvalError, Interp};
use super::value::{Key, MapVal, UrlVal, Val, compare, equals};

/// Function names of these libraries.
pub(crate) const FUNCTIONS: &[&str] = &[
    "isSorted",
    "sum",
    "min",
    "max",
    "indexOf",
    "lastIndexOf",
    "sets.contains",
    "sets.equivalent",
    "sets.intersects",
    "find",
    "findAll",
    "url",
    "isURL",
    "getScheme",
    "getHost",
    "getHostname",
    "getPort",
    "getEscapedPath",
    "getQuery",
    "ip",
    "isIP",
    "family",
    "isUnspecified",
    "isLoopback",
    "isLinkLocalMulticast",
    "isLinkLocalUnicast",
    "isGlobalUnicast",
    "cidr",
    "isCIDR",
    "containsIP",
    "containsCIDR",
    "masked",
    "prefixLength",
    "quantity",
    "isQuantity",
    "sign",
    "isInteger",
    "asInteger",
    "asApproximateFloat",
    "add",
    "sub",
    "isGreaterThan",
    "isLessThan",
    "compareTo",
    "format.named",
    "format.dns1123Label",
    "format.dns1123Subdomain",
    "format.dns1035Label",
    "format.qualifiedName",
    "format.dns1123LabelPrefix",
    "format.dns1123SubdomainPrefix",
    "format.dns1035LabelPrefix",
    "format.labelValue",
    "format.uri",
    "format.uuid",
    "format.byte",
    "format.date",
    "format.datetime",
    "validate",
    "math.greatest",
    "math.least",
    "math.abs",
    "math.ceil",
    "math.floor",
    "math.round",
    "math.sign",
    "math.isNaN",
    "math.isInf",
    "math.isFinite",
    "lists.range",
    "flatten",
    "slice",
    "distinct",
];

const FORMATS: &[&str] = &[
    "dns1123Label",
    "dns1123Subdomain",
    "dns1035Label",
    "qualifiedName",
    "dns1123LabelPrefix",
    "dns1123SubdomainPrefix",
    "dns1035LabelPrefix",
    "labelValue",
    "uri",
    "uuid",
    "byte",
    "date",
    "datetime",
];

/// Compiles a regex for `matches`/`find` with a bounded program size.
pub(crate) fn compile_regex(re: &str) -> EResult<Regex> {
    regex::RegexBuilder::new(re)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .build()
        .map_err(|e| EvalError::msg(format!("error parsing regexp: {e}")))
}

fn err_ovl<T>() -> EResult<T> {
    Err(EvalError::no_overload())
}

/// Dispatches Kubernetes library calls; `None` if not handled here.
pub(crate) fn call(
    it: &mut Interp,
    target: Option<&Val>,
    func: &str,
    args: &[Val],
) -> Option<EResult> {
    if let Some(f) = func.strip_prefix("format.") {
        if f == "named" {
            return Some(match args {
                [Val::Str(n)] if FORMATS.contains(&n.as_ref()) => {
                    Ok(Val::Optional(Some(Rc::new(Val::Format(n.clone())))))
                }
                [Val::Str(_)] => Ok(Val::Optional(None)),
                _ => err_ovl(),
            });
        }
        if FORMATS.contains(&f) && args.is_empty() {
            return Some(Ok(Val::Format(Rc::from(f))));
        }
    }
    if let Some(f) = func.strip_prefix("math.") {
        return Some(math(f, args));
    }
    if let Some(f) = func.strip_prefix("sets.") {
        return Some(sets(it, f, args));
    }
    match (target, func) {
        (Some(Val::List(l)), _) => list_call(it, l, func, args),
        (Some(Val::Str(s)), "find" | "findAll") => Some(regex_call(it, s, func, args)),
        (None, "url" | "isURL" | "ip" | "isIP" | "cidr" | "isCIDR" | "quantity" | "isQuantity") => {
            Some(constructor(func, args))
        }
        (Some(Val::Url(u)), _) => Some(url_call(u, func, args)),
        (Some(Val::Ip(ip)), _) => Some(ip_call(*ip, func, args)),
        (Some(Val::Cidr(c)), _) => Some(cidr_call(*c, func, args)),
        (Some(Val::Quantity(q)), _) => Some(quantity_call(q, func, args)),
        (Some(Val::Format(f)), "validate") => Some(match args {
            [Val::Str(s)] => Ok(validate_format(f, s)),
            _ => err_ovl(),
        }),
        (None, "lists.range") => Some(match args {
            [Val::Int(n)] if *n >= 0 => it
                .charge(*n as u64)
                .map(|_| Val::list((0..*n).map(Val::Int).collect())),
            _ => err_ovl(),
        }),
        _ => None,
    }
}

fn list_call(it: &mut Interp, l: &Rc<Vec<Val>>, func: &str, args: &[Val]) -> Option<EResult> {
    let r = match (func, args) {
        ("isSorted", []) => {
            it.charge(l.len() as u64).ok()?;
            let mut sorted = true;
            for w in l.windows(2) {
                match compare(&w[0], &w[1]) {
                    Ok(Some(Ordering::Greater)) => sorted = false,
                    Ok(_) => {}
                    Err(()) => return Some(err_ovl()),
                }
            }
            Ok(Val::Bool(sorted))
        }
        ("sum", []) => {
            let mut acc: Option<Val> = None;
            for v in l.iter() {
                acc = Some(match (acc, v) {
                    (None, v) => v.clone(),
                    (Some(Val::Int(a)), Val::Int(b)) => match a.checked_add(*b) {
                        Some(x) => Val::Int(x),
                        None => return Some(Err(EvalError::msg("integer overflow"))),
                    },
                    (Some(Val::Uint(a)), Val::Uint(b)) => Val::Uint(a.wrapping_add(*b)),
                    (Some(Val::Double(a)), Val::Double(b)) => Val::Double(a + b),
                    (Some(Val::Duration(a)), Val::Duration(b)) => {
                        Val::Duration(a.saturating_add(*b))
                    }
                    _ => return Some(err_ovl()),
                });
            }
            Ok(acc.unwrap_or(Val::Int(0)))
        }
        ("min" | "max", []) => {
            if l.is_empty() {
                return Some(Err(EvalError::msg(format!("{func} called on empty list"))));
            }
            let mut best = l[0].clone();
            for v in l.iter().skip(1) {
                match compare(v, &best) {
                    Ok(Some(o)) if (func == "min" && o.is_lt()) || (func == "max" && o.is_gt()) => {
                        best = v.clone()
                    }
                    Ok(_) => {}
                    Err(()) => return Some(err_ovl()),
                }
            }
            Ok(best)
        }
        ("indexOf", [x]) => Ok(Val::Int(
            l.iter().position(|v| equals(v, x)).map_or(-1, |p| p as i64),
        )),
        ("lastIndexOf", [x]) => Ok(Val::Int(
            l.iter()
                .rposition(|v| equals(v, x))
                .map_or(-1, |p| p as i64),
        )),
        ("flatten", []) => {
            let mut out = Vec::new();
            for v in l.iter() {
                match v {
                    Val::List(inner) => out.extend(inner.iter().cloned()),
                    other => out.push(other.clone()),
                }
            }
            Ok(Val::list(out))
        }
        ("distinct", []) => {
            let mut out: Vec<Val> = Vec::new();
            it.charge((l.len() * l.len()) as u64 / 10).ok()?;
            for v in l.iter() {
                if !out.iter().any(|o| equals(o, v)) {
                    out.push(v.clone());
                }
            }
            Ok(Val::list(out))
        }
        ("slice", [Val::Int(a), Val::Int(b)]) => {
            let (a, b) = (*a, *b);
            if a < 0 || b < a || b as usize > l.len() {
                Err(EvalError::msg(format!(
                    "cannot slice({a}, {b}) of list of size {}",
                    l.len()
                )))
            } else {
                Ok(Val::list(l[a as usize..b as usize].to_vec()))
            }
        }
        ("join", _) => return None,
        _ => return None,
    };
    Some(r)
}

fn sets(it: &mut Interp, f: &str, args: &[Val]) -> EResult {
    let [Val::List(a), Val::List(b)] = args else {
        return err_ovl();
    };
    it.charge((a.len() * b.len()) as u64 / 10)?;
    let contains_all = |x: &[Val], y: &[Val]| y.iter().all(|v| x.iter().any(|w| equals(v, w)));
    Ok(Val::Bool(match f {
        "contains" => contains_all(a, b),
        "equivalent" => contains_all(a, b) && contains_all(b, a),
        "intersects" => b.iter().any(|v| a.iter().any(|w| equals(v, w))),
        _ => return err_ovl(),
    }))
}

fn regex_call(it: &mut Interp, s: &str, func: &str, args: &[Val]) -> EResult {
    let (re, limit) = match args {
        [Val::Str(re)] => (re, -1),
        [Val::Str(re), Val::Int(n)] if func == "findAll" => (re, *n),
        _ => return err_ovl(),
    };
    it.charge((s.len() + re.len()) as u64 / 10)?;
    let re = compile_regex(re)?;
    if func == "find" {
        return Ok(Val::str(re.find(s).map_or("", |m| m.as_str())));
    }
    if limit == 0 {
        return Ok(Val::list(Vec::new()));
    }
    let found = re.find_iter(s).map(|m| Val::str(m.as_str()));
    Ok(Val::list(if limit < 0 {
        found.collect()
    } else {
        found.take(limit as usize).collect()
    }))
}

fn parse_url(s: &str) -> Option<UrlVal> {
    if s.is_empty() || s.chars().any(|c| c.is_control() || c == ' ') {
        return None;
    }
    let (before_query, query) = match s.split_once('?') {
        Some((a, q)) => (a, q.split('#').next().unwrap_or("").to_string()),
        None => (s.split('#').next().unwrap_or(""), String::new()),
    };
    if before_query.starts_with('/') {
        return Some(UrlVal {
            raw: s.to_string(),
            scheme: String::new(),
            host: String::new(),
            path: before_query.to_string(),
            query,
        });
    }
    let (scheme, rest) = before_query.split_once(':')?;
    let mut sc = scheme.chars();
    if !sc.next().is_some_and(|c| c.is_ascii_alphabetic())
        || !sc.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let (host, path) = match rest.strip_prefix("//") {
        Some(r) => match r.find('/') {
            Some(i) => (r[..i].to_string(), r[i..].to_string()),
            None => (r.to_string(), String::new()),
        },
        None => (String::new(), rest.to_string()),
    };
    let host = host
        .rsplit_once('@')
        .map_or(host.clone(), |(_, h)| h.to_string());
    Some(UrlVal {
        raw: s.to_string(),
        scheme: scheme.to_string(),
        host,
        path,
        query,
    })
}

fn parse_ip_strict(s: &str) -> Option<IpAddr> {
    if s.contains('%') {
        return None;
    }
    let ip: IpAddr = s.parse().ok()?;
    // IPv4-mapped IPv6 addresses are rejected by the Kubernetes library.
    if let IpAddr::V6(v6) = ip
        && v6.to_ipv4_mapped().is_some()
    {
        return None;
    }
    Some(ip)
}

fn constructor(func: &str, args: &[Val]) -> EResult {
    let [Val::Str(s)] = args else {
        return err_ovl();
    };
    match func {
        "url" => parse_url(s)
            .map(|u| Val::Url(Rc::new(u)))
            .ok_or_else(|| EvalError::msg(format!("URL parse error during conversion from string: parse \"{s}\": invalid URI for request"))),
        "isURL" => Ok(Val::Bool(parse_url(s).is_some())),
        "ip" => parse_ip_strict(s)
            .map(Val::Ip)
            .ok_or_else(|| EvalError::msg(format!("IP Address {s:?} parse error during conversion from string"))),
        "isIP" => Ok(Val::Bool(parse_ip_strict(s).is_some())),
        "cidr" => s
            .parse::<ipnet::IpNet>()
            .map(Val::Cidr)
            .map_err(|_| EvalError::msg(format!("network address parse error during conversion from string: {s}"))),
        "isCIDR" => Ok(Val::Bool(s.parse::<ipnet::IpNet>().is_ok())),
        "quantity" => Quantity::parse(s)
            .map(|q| Val::Quantity(Rc::new(q)))
            .map_err(|e| EvalError::msg(e.to_string())),
        _ => Ok(Val::Bool(Quantity::parse(s).is_ok())),
    }
}

fn url_call(u: &UrlVal, func: &str, args: &[Val]) -> EResult {
    if !args.is_empty() {
        return err_ovl();
    }
    let hostname = || -> String {
        let h = &u.host;
        if let Some(rest) = h.strip_prefix('[') {
            return rest.split(']').next().unwrap_or("").to_string();
        }
        h.rsplit_once(':').map_or(h.clone(), |(a, _)| a.to_string())
    };
    Ok(match func {
        "getScheme" => Val::str(&u.scheme),
        "getHost" => Val::str(&u.host),
        "getHostname" => Val::str(&hostname()),
        "getPort" => {
            let after = u.host.rsplit_once(']').map_or(u.host.as_str(), |(_, r)| r);
            Val::str(after.rsplit_once(':').map_or("", |(_, p)| p))
        }
        "getEscapedPath" => Val::str(&u.path),
        "getQuery" => {
            let mut m: Vec<(String, Vec<Val>)> = Vec::new();
            for pair in u.query.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let dec = |x: &str| {
                    percent_encoding::percent_decode_str(&x.replace('+', " "))
                        .decode_utf8_lossy()
                        .to_string()
                };
                let (k, v) = (dec(k), dec(v));
                match m.iter_mut().find(|(mk, _)| *mk == k) {
                    Some((_, vals)) => vals.push(Val::str(&v)),
                    None => m.push((k, vec![Val::str(&v)])),
                }
            }
            let mut out = MapVal::new(false);
            for (k, vals) in m {
                out.insert(Key::Str(Rc::from(k.as_str())), Val::list(vals));
            }
            Val::Map(Rc::new(out))
        }
        _ => return err_ovl(),
    })
}

fn ip_call(ip: IpAddr, func: &str, args: &[Val]) -> EResult {
    if !args.is_empty() {
        return err_ovl();
    }
    let v4 = match ip {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    };
    Ok(Val::Bool(match func {
        "family" => return Ok(Val::Int(if v4.is_some() { 4 } else { 6 })),
        "isUnspecified" => ip.is_unspecified(),
        "isLoopback" => ip.is_loopback(),
        "isLinkLocalMulticast" => match ip {
            IpAddr::V4(a) => a.octets()[..3] == [224, 0, 0],
            IpAddr::V6(a) => a.segments()[0] & 0xff0f == 0xff02,
        },
        "isLinkLocalUnicast" => match ip {
            IpAddr::V4(a) => a.is_link_local(),
            IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
        },
        "isGlobalUnicast" => match ip {
            IpAddr::V4(a) => {
                !(a.is_unspecified()
                    || a.is_loopback()
                    || a.is_link_local()
                    || a.is_multicast()
                    || a.is_broadcast())
            }
            IpAddr::V6(a) => {
                !(a.is_unspecified()
                    || a.is_loopback()
                    || a.is_multicast()
                    || a.segments()[0] & 0xffc0 == 0xfe80)
            }
        },
        _ => return err_ovl(),
    }))
}

fn cidr_call(c: ipnet::IpNet, func: &str, args: &[Val]) -> EResult {
    match (func, args) {
        ("containsIP", [Val::Ip(ip)]) => Ok(Val::Bool(c.contains(ip))),
        ("containsIP", [Val::Str(s)]) => parse_ip_strict(s)
            .map(|ip| Val::Bool(c.contains(&ip)))
            .ok_or_else(|| {
                EvalError::msg(format!(
                    "IP Address {s:?} parse error during conversion from string"
                ))
            }),
        ("containsCIDR", [Val::Cidr(o)]) => Ok(Val::Bool(c.contains(o))),
        ("containsCIDR", [Val::Str(s)]) => s
            .parse::<ipnet::IpNet>()
            .map(|o| Val::Bool(c.contains(&o)))
            .map_err(|_| {
                EvalError::msg(format!(
                    "network address parse error during conversion from string: {s}"
                ))
            }),
        ("ip", []) => Ok(Val::Ip(c.addr())),
        ("masked", []) => Ok(Val::Cidr(c.trunc())),
        ("prefixLength", []) => Ok(Val::Int(i64::from(c.prefix_len()))),
        _ => err_ovl(),
    }
}

fn quantity_arg(v: &Val) -> EResult<Quantity> {
    match v {
        Val::Quantity(q) => Ok((**q).clone()),
        Val::Int(i) => Quantity::parse(&i.to_string()).map_err(|e| EvalError::msg(e.to_string())),
        _ => err_ovl(),
    }
}

fn quantity_call(q: &Quantity, func: &str, args: &[Val]) -> EResult {
    let milli_i = |x: &Quantity| -> Option<i128> {
        let m = x.milli_value();
        if m == i64::MAX || m == i64::MIN {
            None
        } else {
            Some(i128::from(m))
        }
    };
    match (func, args) {
        ("sign", []) => Ok(Val::Int(if q.is_zero() {
            0
        } else if q.is_negative() {
            -1
        } else {
            1
        })),
        ("isInteger", []) => Ok(Val::Bool(milli_i(q).is_some_and(|m| m % 1000 == 0))),
        ("asInteger", []) => match milli_i(q) {
            Some(m) if m % 1000 == 0 => Ok(Val::Int((m / 1000) as i64)),
            _ => Err(EvalError::msg("cannot convert value to integer")),
        },
        ("asApproximateFloat", []) => Ok(Val::Double(q.as_approximate_f64())),
        ("add" | "sub", [o]) => {
            let o = quantity_arg(o)?;
            let (Some(a), Some(b)) = (milli_i(q), milli_i(&o)) else {
                return Err(EvalError::msg("quantity arithmetic out of range"));
            };
            let r = if func == "add" { a + b } else { a - b };
            Quantity::parse(&format!("{r}m"))
                .map(|q| Val::Quantity(Rc::new(q)))
                .map_err(|e| EvalError::msg(e.to_string()))
        }
        ("isGreaterThan" | "isLessThan" | "compareTo", [o]) => {
            let o = quantity_arg(o)?;
            let c = q.cmp_value(&o);
            Ok(match func {
                "isGreaterThan" => Val::Bool(c == Ordering::Greater),
                "isLessThan" => Val::Bool(c == Ordering::Less),
                _ => Val::Int(match c {
                    Ordering::Less => -1,
                    Ordering::Equal => 0,
                    Ordering::Greater => 1,
                }),
            })
        }
        _ => err_ovl(),
    }
}

fn mask_dash(s: &str) -> String {
    match s.strip_suffix('-') {
        Some(p) => format!("{p}a"),
        None => s.to_string(),
    }
}

/// `format.<name>().validate(s)`: `optional.none()` if valid, else the
/// list of problems.
fn validate_format(name: &str, s: &str) -> Val {
    use crate::schema::formats;
    let errs: Vec<String> = match name {
        "dns1123Label" => names::is_dns1123_label(s),
        "dns1123Subdomain" => names::is_dns1123_subdomain(s),
        "dns1035Label" => names::is_dns1035_label(s),
        "qualifiedName" => names::is_qualified_name(s),
        "dns1123LabelPrefix" => names::is_dns1123_label(&mask_dash(s)),
        "dns1123SubdomainPrefix" => names::is_dns1123_subdomain(&mask_dash(s)),
        "dns1035LabelPrefix" => names::is_dns1035_label(&mask_dash(s)),
        "labelValue" => names::is_valid_label_value(s),
        "uri" => bad_if(!formats::validates("uri", s), "invalid URI"),
        "uuid" => bad_if(
            !formats::validates("uuid", s),
            "does not match the UUID format",
        ),
        "byte" => bad_if(!formats::validates("byte", s), "invalid base64"),
        "date" => bad_if(!formats::validates("date", s), "invalid date"),
        _ => bad_if(!formats::validates("datetime", s), "invalid datetime"),
    };
    if errs.is_empty() {
        Val::Optional(None)
    } else {
        Val::Optional(Some(Rc::new(Val::list(
            errs.iter().map(|e| Val::str(e)).collect(),
        ))))
    }
}

fn bad_if(bad: bool, msg: &str) -> Vec<String> {
    if bad {
        vec![msg.to_string()]
    } else {
        Vec::new()
    }
}

fn math(f: &str, args: &[Val]) -> EResult {
    match (f, args) {
        ("greatest" | "least", args) if !args.is_empty() => {
            let items: Vec<Val> = match args {
                [Val::List(l)] => l.as_ref().clone(),
                _ => args.to_vec(),
            };
            let mut best = items.first().cloned().ok_or_else(EvalError::no_overload)?;
            for v in items.iter().skip(1) {
                match compare(v, &best) {
                    Ok(Some(o))
                        if (f == "greatest" && o.is_gt()) || (f == "least" && o.is_lt()) =>
                    {
                        best = v.clone()
                    }
                    Ok(_) => {}
                    Err(()) => return err_ovl(),
                }
            }
            Ok(best)
        }
        ("abs", [Val::Int(i)]) => i
            .checked_abs()
            .map(Val::Int)
            .ok_or_else(|| EvalError::msg("integer overflow")),
        ("abs", [Val::Double(d)]) => Ok(Val::Double(d.abs())),
        ("ceil", [Val::Double(d)]) => Ok(Val::Double(d.ceil())),
        ("floor", [Val::Double(d)]) => Ok(Val::Double(d.floor())),
        ("round", [Val::Double(d)]) => Ok(Val::Double(d.round())),
        ("sign", [Val::Int(i)]) => Ok(Val::Int(i.signum())),
        ("sign", [Val::Double(d)]) => Ok(Val::Double(if *d == 0.0 { 0.0 } else { d.signum() })),
        ("isNaN", [Val::Double(d)]) => Ok(Val::Bool(d.is_nan())),
        ("isInf", [Val::Double(d)]) => Ok(Val::Bool(d.is_infinite())),
        ("isFinite", [Val::Double(d)]) => Ok(Val::Bool(d.is_finite())),
        _ => err_ovl(),
    }
}
