//! The CEL interpreter: evaluates an expression tree against variables with
//! cost accounting (every evaluated node costs 1, operations on strings,
//! bytes and lists cost their size), so a rule cannot run away.

use std::rc::Rc;

use super::parser::{Expr, Lit, Macro};
use super::stdlib;
use super::value::{Key, MapVal, Val, compare, equals};

/// An evaluation failure.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EvalError {
    /// A CEL runtime error (`no such key: foo`, `division by zero`, ...).
    Msg(String),
    /// The cost limit was exceeded.
    CostLimit,
}

impl EvalError {
    pub(crate) fn msg(s: impl Into<String>) -> EvalError {
        EvalError::Msg(s.into())
    }
    pub(crate) fn no_overload() -> EvalError {
        EvalError::Msg("no such overload".into())
    }
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvalError::Msg(m) => f.write_str(m),
            EvalError::CostLimit => f.write_str("operation cancelled: actual cost limit exceeded"),
        }
    }
}

pub(crate) type EResult<T = Val> = Result<T, EvalError>;

/// One evaluation: variables in scope and the cost spent so far.
pub(crate) struct Interp {
    vars: Vec<(String, Val)>,
    pub cost: u64,
    limit: u64,
    /// The `authorizer` library's callback (admission expressions only).
    pub authorizer: Option<super::admission::AuthorizeFn>,
}

impl Interp {
    /// An interpreter with the given top-level variables and cost limit.
    pub(crate) fn new(vars: Vec<(String, Val)>, limit: u64) -> Interp {
        Interp {
            vars,
            cost: 0,
            limit,
            authorizer: None,
        }
    }

    /// Adds `n` to the cost, failing past the limit.
    pub(crate) fn charge(&mut self, n: u64) -> EResult<()> {
        self.cost = self.cost.saturating_add(n);
        if self.cost > self.limit {
            Err(EvalError::CostLimit)
        } else {
            Ok(())
        }
    }

    fn lookup(&self, name: &str) -> Option<&Val> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// Evaluates `e`.
    pub(crate) fn eval(&mut self, e: &Expr) -> EResult {
        self.charge(1)?;
        match e {
            Expr::Lit(l) => Ok(match l {
                Lit::Null => Val::Null,
                Lit::Bool(b) => Val::Bool(*b),
                Lit::Int(i) => Val::Int(*i),
                Lit::Uint(u) => Val::Uint(*u),
                Lit::Double(d) => Val::Double(*d),
                Lit::Str(s) => Val::str(s),
                Lit::Bytes(b) => Val::Bytes(Rc::from(b.as_slice())),
            }),
            Expr::Ident(n) => match self.lookup(n) {
                Some(v) => Ok(v.clone()),
                None if stdlib::is_type_name(n) => Ok(Val::Type(Rc::from(n.as_str()))),
                None => Err(EvalError::msg(format!("no such attribute: {n}"))),
            },
            Expr::Select {
                operand,
                field,
                test,
                optional,
            } => {
                let v = self.eval(operand)?;
                select(v, field, *test, *optional)
            }
            Expr::Index {
                operand,
                index,
                optional,
            } => {
                let v = self.eval(operand)?;
                let i = self.eval(index)?;
                index_val(v, &i, *optional)
            }
            Expr::Call { target, func, args } => {
                let t = match target {
                    Some(t) => Some(self.eval(t)?),
                    None => None,
                };
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(self.eval(a)?);
                }
                if let Some(r) = super::admission::authz_call(self, t.as_ref(), func, &vals) {
                    return r;
                }
                stdlib::call(self, t, func, vals)
            }
            Expr::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (item, optional) in items {
                    let v = self.eval(item)?;
                    match (optional, v) {
                        (true, Val::Optional(Some(x))) => out.push((*x).clone()),
                        (true, Val::Optional(None)) => {}
                        (true, _) => return Err(EvalError::no_overload()),
                        (false, v) => out.push(v),
                    }
                }
                Ok(Val::list(out))
            }
            Expr::Map(entries) => {
                let mut m = MapVal::new(false);
                for (k, v, optional) in entries {
                    let kv = self.eval(k)?;
                    let key =
                        Key::from_val(&kv).ok_or_else(|| EvalError::msg("unsupported key type"))?;
                    let vv = self.eval(v)?;
                    let vv = match (optional, vv) {
                        (true, Val::Optional(Some(x))) => (*x).clone(),
                        (true, Val::Optional(None)) => continue,
                        (true, _) => return Err(EvalError::no_overload()),
                        (false, v) => v,
                    };
                    if !m.insert(key, vv) {
                        return Err(EvalError::msg(format!(
                            "Failed with repeated key: {}",
                            show(&kv)
                        )));
                    }
                }
                Ok(Val::Map(Rc::new(m)))
            }
            Expr::Not(x) => match self.eval(x)? {
                Val::Bool(b) => Ok(Val::Bool(!b)),
                _ => Err(EvalError::no_overload()),
            },
            Expr::Neg(x) => match self.eval(x)? {
                Val::Int(i) => i.checked_neg().map(Val::Int).ok_or_else(overflow),
                Val::Double(d) => Ok(Val::Double(-d)),
                Val::Duration(d) => d.checked_neg().map(Val::Duration).ok_or_else(overflow),
                _ => Err(EvalError::no_overload()),
            },
            Expr::And(l, r) => self.logic(l, r, false),
            Expr::Or(l, r) => self.logic(l, r, true),
            Expr::Cond(c, t, f) => match self.eval(c)? {
                Val::Bool(true) => self.eval(t),
                Val::Bool(false) => self.eval(f),
                _ => Err(EvalError::no_overload()),
            },
            Expr::Binary(op, l, r) => {
                let a = self.eval(l)?;
                let b = self.eval(r)?;
                self.binary(op, a, b)
            }
            Expr::Comprehension {
                kind,
                var,
                range,
                pred,
                transform,
            } => {
                let r = self.eval(range)?;
                self.comprehension(*kind, var, r, pred.as_deref(), transform.as_deref())
            }
            Expr::Bind { var, init, body } => {
                let v = self.eval(init)?;
                self.vars.push((var.clone(), v));
                let r = self.eval(body);
                self.vars.pop();
                r
            }
        }
    }

    /// `&&` (`short` = false) and `||` (`short` = true): the deciding value
    /// wins over an error on the other side, as CEL specifies.
    fn logic(&mut self, l: &Expr, r: &Expr, short: bool) -> EResult {
        let a = self.eval(l);
        if let Ok(Val::Bool(b)) = &a
            && *b == short
        {
            return Ok(Val::Bool(short));
        }
        if matches!(a, Err(EvalError::CostLimit)) {
            return a;
        }
        let b = self.eval(r)?;
        match (a, b) {
            (_, Val::Bool(b)) if b == short => Ok(Val::Bool(short)),
            (Ok(Val::Bool(_)), Val::Bool(b)) => Ok(Val::Bool(b)),
            (Err(e), Val::Bool(_)) => Err(e),
            _ => Err(EvalError::no_overload()),
        }
    }

    fn binary(&mut self, op: &str, a: Val, b: Val) -> EResult {
        match op {
            "==" => {
                self.charge(a.size_hint().min(b.size_hint()))?;
                Ok(Val::Bool(equals(&a, &b)))
            }
            "!=" => {
                self.charge(a.size_hint().min(b.size_hint()))?;
                Ok(Val::Bool(!equals(&a, &b)))
            }
            "<" | "<=" | ">" | ">=" => {
                let o = compare(&a, &b).map_err(|_| EvalError::no_overload())?;
                Ok(Val::Bool(match o {
                    None => false,
                    Some(o) => match op {
                        "<" => o.is_lt(),
                        "<=" => o.is_le(),
                        ">" => o.is_gt(),
                        _ => o.is_ge(),
                    },
                }))
            }
            "in" => match &b {
                Val::List(l) => {
                    self.charge(l.len() as u64)?;
                    Ok(Val::Bool(l.iter().any(|x| equals(x, &a))))
                }
                Val::Map(m) => Ok(Val::Bool(
                    Key::from_val(&a).is_some_and(|k| m.get(&k).is_some()),
                )),
                _ => Err(EvalError::no_overload()),
            },
            _ => self.arith(op, a, b),
        }
    }

    fn arith(&mut self, op: &str, a: Val, b: Val) -> EResult {
        use Val::*;
        match (op, a, b) {
            ("+", Int(x), Int(y)) => x.checked_add(y).map(Int).ok_or_else(overflow),
            ("-", Int(x), Int(y)) => x.checked_sub(y).map(Int).ok_or_else(overflow),
            ("*", Int(x), Int(y)) => x.checked_mul(y).map(Int).ok_or_else(overflow),
            ("/", Int(_), Int(0)) => Err(EvalError::msg("division by zero")),
            ("%", Int(_), Int(0)) => Err(EvalError::msg("modulus by zero")),
            ("/", Int(x), Int(y)) => x.checked_div(y).map(Int).ok_or_else(overflow),
            ("%", Int(x), Int(y)) => x.checked_rem(y).map(Int).ok_or_else(overflow),
            ("+", Uint(x), Uint(y)) => x.checked_add(y).map(Uint).ok_or_else(uoverflow),
            ("-", Uint(x), Uint(y)) => x.checked_sub(y).map(Uint).ok_or_else(uoverflow),
            ("*", Uint(x), Uint(y)) => x.checked_mul(y).map(Uint).ok_or_else(uoverflow),
            ("/", Uint(_), Uint(0)) => Err(EvalError::msg("division by zero")),
            ("%", Uint(_), Uint(0)) => Err(EvalError::msg("modulus by zero")),
            ("/", Uint(x), Uint(y)) => Ok(Uint(x / y)),
            ("%", Uint(x), Uint(y)) => Ok(Uint(x % y)),
            ("+", Double(x), Double(y)) => Ok(Double(x + y)),
            ("-", Double(x), Double(y)) => Ok(Double(x - y)),
            ("*", Double(x), Double(y)) => Ok(Double(x * y)),
            ("/", Double(x), Double(y)) => Ok(Double(x / y)),
            ("+", Str(x), Str(y)) => {
                self.charge((x.len() + y.len()) as u64 / 10)?;
                let mut s = String::with_capacity(x.len() + y.len());
                s.push_str(&x);
                s.push_str(&y);
                Ok(Val::str(&s))
            }
            ("+", Bytes(x), Bytes(y)) => {
                self.charge((x.len() + y.len()) as u64 / 10)?;
                let mut v = x.to_vec();
                v.extend_from_slice(&y);
                Ok(Bytes(Rc::from(v)))
            }
            ("+", List(x), List(y)) => {
                self.charge((x.len() + y.len()) as u64)?;
                let mut v = Vec::with_capacity(x.len() + y.len());
                v.extend(x.iter().cloned());
                v.extend(y.iter().cloned());
                Ok(Val::list(v))
            }
            ("+", Timestamp(t), Duration(d)) | ("+", Duration(d), Timestamp(t)) => {
                t.checked_add(d).map(Timestamp).map_err(|_| overflow())
            }
            ("-", Timestamp(t), Duration(d)) => {
                t.checked_sub(d).map(Timestamp).map_err(|_| overflow())
            }
            ("-", Timestamp(x), Timestamp(y)) => Ok(Duration(x.duration_since(y))),
            ("+", Duration(x), Duration(y)) => x.checked_add(y).map(Duration).ok_or_else(overflow),
            ("-", Duration(x), Duration(y)) => x.checked_sub(y).map(Duration).ok_or_else(overflow),
            _ => Err(EvalError::no_overload()),
        }
    }

    fn comprehension(
        &mut self,
        kind: Macro,
        var: &str,
        range: Val,
        pred: Option<&Expr>,
        transform: Option<&Expr>,
    ) -> EResult {
        let items: Vec<Val> = match &range {
            Val::List(l) => l.as_ref().clone(),
            Val::Map(m) => m.entries.iter().map(|(k, _)| k.to_val()).collect(),
            _ => return Err(EvalError::no_overload()),
        };
        let mut count = 0usize;
        let mut deferred: Option<EvalError> = None;
        let mut out = Vec::new();
        for item in items {
            self.charge(1)?;
            self.vars.push((var.to_string(), item.clone()));
            let res = self.iteration(kind, pred, transform, &item);
            self.vars.pop();
            match (kind, res) {
                (_, Err(EvalError::CostLimit)) => return Err(EvalError::CostLimit),
                (Macro::All, Ok(Some(Val::Bool(false)))) => return Ok(Val::Bool(false)),
                (Macro::Exists, Ok(Some(Val::Bool(true)))) => return Ok(Val::Bool(true)),
                (Macro::All | Macro::Exists, Ok(Some(Val::Bool(_)))) => {}
                (Macro::All | Macro::Exists, Err(e)) => {
                    deferred.get_or_insert(e);
                }
                (Macro::All | Macro::Exists, Ok(_)) => {
                    deferred.get_or_insert(EvalError::no_overload());
                }
                (Macro::ExistsOne, Ok(Some(Val::Bool(b)))) => count += usize::from(b),
                (Macro::Map | Macro::Filter, Ok(Some(v))) => out.push(v),
                (Macro::Map | Macro::Filter, Ok(None)) => {}
                (_, Err(e)) => return Err(e),
                (Macro::ExistsOne, Ok(_)) => return Err(EvalError::no_overload()),
            }
        }
        match kind {
            Macro::All | Macro::Exists => match deferred {
                Some(e) => Err(e),
                None => Ok(Val::Bool(kind == Macro::All)),
            },
            Macro::ExistsOne => Ok(Val::Bool(count == 1)),
            Macro::Map | Macro::Filter => Ok(Val::list(out)),
        }
    }

    /// One iteration: the predicate's value, or the mapped/kept element.
    fn iteration(
        &mut self,
        kind: Macro,
        pred: Option<&Expr>,
        transform: Option<&Expr>,
        item: &Val,
    ) -> EResult<Option<Val>> {
        match kind {
            Macro::Map => {
                if let Some(p) = pred {
                    match self.eval(p)? {
                        Val::Bool(true) => {}
                        Val::Bool(false) => return Ok(None),
                        _ => return Err(EvalError::no_overload()),
                    }
                }
                match transform {
                    Some(t) => self.eval(t).map(Some),
                    None => Ok(Some(item.clone())),
                }
            }
            Macro::Filter => match pred.map(|p| self.eval(p)).transpose()? {
                Some(Val::Bool(true)) => Ok(Some(item.clone())),
                Some(Val::Bool(false)) => Ok(None),
                _ => Err(EvalError::no_overload()),
            },
            _ => pred.map(|p| self.eval(p)).transpose(),
        }
    }
}

fn overflow() -> EvalError {
    EvalError::msg("integer overflow")
}

fn uoverflow() -> EvalError {
    EvalError::msg("unsigned integer overflow")
}

/// A value as shown in error messages.
pub(crate) fn show(v: &Val) -> String {
    match v {
        Val::Str(s) => s.to_string(),
        Val::Int(i) => i.to_string(),
        Val::Uint(u) => format!("{u}u"),
        Val::Double(d) => d.to_string(),
        Val::Bool(b) => b.to_string(),
        other => other.type_name().to_string(),
    }
}

fn select(v: Val, field: &str, test: bool, optional: bool) -> EResult {
    let (v, in_optional) = match v {
        Val::Optional(None) if !test => return Ok(Val::Optional(None)),
        Val::Optional(Some(inner)) if !test => ((*inner).clone(), true),
        other => (other, false),
    };
    let Val::Map(m) = &v else {
        return Err(EvalError::msg(format!(
            "type '{}' does not support field selection",
            v.type_name()
        )));
    };
    let got = m.get_str(field);
    if test {
        return Ok(Val::Bool(got.is_some()));
    }
    match (got, optional || in_optional) {
        (Some(x), true) => Ok(Val::Optional(Some(Rc::new(x.clone())))),
        (Some(x), false) => Ok(x.clone()),
        (None, true) => Ok(Val::Optional(None)),
        (None, false) => Err(EvalError::msg(format!("no such key: {field}"))),
    }
}

fn list_index(i: &Val) -> EResult<i64> {
    match i {
        Val::Int(i) => Ok(*i),
        Val::Uint(u) => i64::try_from(*u).map_err(|_| EvalError::msg("index out of range")),
        Val::Double(d) if d.fract() == 0.0 => Ok(*d as i64),
        _ => Err(EvalError::no_overload()),
    }
}

fn index_val(v: Val, i: &Val, optional: bool) -> EResult {
    let (v, in_optional) = match v {
        Val::Optional(None) => return Ok(Val::Optional(None)),
        Val::Optional(Some(inner)) => ((*inner).clone(), true),
        other => (other, false),
    };
    let opt = optional || in_optional;
    let found = match &v {
        Val::List(l) => {
            let idx = list_index(i)?;
            match usize::try_from(idx).ok().and_then(|u| l.get(u)) {
                Some(x) => Some(x.clone()),
                None if opt => None,
                None => {
                    return Err(EvalError::msg(format!(
                        "index '{idx}' out of range in list size '{}'",
                        l.len()
                    )));
                }
            }
        }
        Val::Map(m) => {
            let key = Key::from_val(i).ok_or_else(EvalError::no_overload)?;
            match m.get(&key) {
                Some(x) => Some(x.clone()),
                None if opt => None,
                None => return Err(EvalError::msg(format!("no such key: {}", show(i)))),
            }
        }
        _ => return Err(EvalError::no_overload()),
    };
    Ok(match (found, opt) {
        (Some(x), true) => Val::Optional(Some(Rc::new(x))),
        (Some(x), false) => x,
        (None, _) => Val::Optional(None),
    })
}
