//! CEL for admission: webhook `matchConditions` and ValidatingAdmissionPolicy
//! expressions. Variables are dynamic (`object`, `oldObject`, `request`,
//! `params`, `namespaceObject`, `variables`, `authorizer`), data comes in as
//! JSON, and the `authorizer` library calls back into the apiserver's
//! authorizer.

use std::rc::Rc;

use serde_json::Value;

use super::eval::{EResult, EvalError, Interp};
use super::parser::{self, Expr};
use super::stdlib;
use super::value::{Key, MapVal, Val, from_json_dyn};

/// What the `authorizer` library asks the apiserver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthzCheck {
    /// Another user than the request's (`authorizer.serviceAccount(ns, n)`).
    pub user: Option<String>,
    /// A non-resource path (`authorizer.path('/healthz')`); empty for
    /// resource checks.
    pub path: String,
    /// API group.
    pub group: String,
    /// Plural resource.
    pub resource: String,
    /// Subresource.
    pub subresource: String,
    /// Namespace.
    pub namespace: String,
    /// Object name.
    pub name: String,
    /// Verb.
    pub verb: String,
}

/// The authorizer's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthzDecision {
    /// Allowed.
    pub allowed: bool,
    /// The authorizer's reason.
    pub reason: String,
    /// An evaluation error ("" if none).
    pub error: String,
}

/// The callback behind `check()`.
pub type AuthorizeFn = Rc<dyn Fn(&AuthzCheck) -> AuthzDecision>;

/// The hidden key marking the authorizer library's values (plain maps
/// otherwise, so nothing else in the interpreter needs to know them).
const MARK: &str = "\u{0}authz";

fn s(v: &str) -> Val {
    Val::str(v)
}

fn marked(kind: &str, fields: &[(&str, Val)]) -> Val {
    let mut m = MapVal::new(true);
    m.insert(Key::Str(Rc::from(MARK)), s(kind));
    for (k, v) in fields {
        m.insert(Key::Str(Rc::from(*k)), v.clone());
    }
    Val::Map(Rc::new(m))
}

fn field(m: &MapVal, k: &str) -> String {
    match m.get_str(k) {
        Some(Val::Str(s)) => s.to_string(),
        _ => String::new(),
    }
}

fn check_of(m: &MapVal) -> AuthzCheck {
    let user = field(m, "user");
    AuthzCheck {
        user: (!user.is_empty()).then_some(user),
        path: field(m, "path"),
        group: field(m, "group"),
        resource: field(m, "resource"),
        subresource: field(m, "subresource"),
        namespace: field(m, "namespace"),
        name: field(m, "name"),
        verb: String::new(),
    }
}

fn with(m: &MapVal, kind: &str, k: &str, v: Val) -> Val {
    let mut out = MapVal::new(true);
    out.insert(Key::Str(Rc::from(MARK)), s(kind));
    for (key, val) in &m.entries {
        if matches!(key, Key::Str(x) if &**x == MARK || &**x == k) {
            continue;
        }
        out.insert(key.clone(), val.clone());
    }
    out.insert(Key::Str(Rc::from(k)), v);
    Val::Map(Rc::new(out))
}

/// Function names of the authorizer library (for the checker).
const AUTHZ_FUNCTIONS: &[&str] = &[
    "group",
    "resource",
    "subresource",
    "namespace",
    "name",
    "check",
    "allowed",
    "reason",
    "errored",
    "error",
    "path",
    "serviceAccount",
];

/// Member calls on the authorizer library's values; `None` when `target`
/// is not one of them.
pub(crate) fn authz_call(
    it: &mut Interp,
    target: Option<&Val>,
    func: &str,
    args: &[Val],
) -> Option<EResult> {
    let Some(Val::Map(m)) = target else {
        return None;
    };
    let kind = match m.get_str(MARK) {
        Some(Val::Str(k)) => k.to_string(),
        _ => return None,
    };
    let arg = |i: usize| match args.get(i) {
        Some(Val::Str(x)) => Ok(x.to_string()),
        _ => Err(EvalError::no_overload()),
    };
    Some((|| -> EResult {
        match (kind.as_str(), func, args.len()) {
            ("authorizer", "group", 1) => Ok(with(m, "group", "group", s(&arg(0)?))),
            ("authorizer", "path", 1) => Ok(with(m, "path", "path", s(&arg(0)?))),
            ("authorizer", "serviceAccount", 2) => Ok(with(
                m,
                "authorizer",
                "user",
                s(&format!("system:serviceaccount:{}:{}", arg(0)?, arg(1)?)),
            )),
            ("group", "resource", 1) => Ok(with(m, "resource", "resource", s(&arg(0)?))),
            ("resource", f @ ("subresource" | "namespace" | "name"), 1) => {
                Ok(with(m, "resource", f, s(&arg(0)?)))
            }
            ("resource" | "path", "check", 1) => {
                let mut c = check_of(m);
                c.verb = arg(0)?;
                // Authorization is expensive upstream too; charge for it.
                it.charge(1000)?;
                let d = match &it.authorizer {
                    Some(f) => f(&c),
                    None => AuthzDecision {
                        allowed: false,
                        reason: String::new(),
                        error: "no authorizer available".into(),
                    },
                };
                Ok(marked(
                    "decision",
                    &[
                        ("allowed", Val::Bool(d.allowed)),
                        ("reason", s(&d.reason)),
                        ("error", s(&d.error)),
                    ],
                ))
            }
            ("decision", "allowed", 0) => {
                Ok(m.get_str("allowed").cloned().unwrap_or(Val::Bool(false)))
            }
            ("decision", "reason", 0) => Ok(s(&field(m, "reason"))),
            ("decision", "error", 0) => Ok(s(&field(m, "error"))),
            ("decision", "errored", 0) => Ok(Val::Bool(!field(m, "error").is_empty())),
            _ => Err(EvalError::no_overload()),
        }
    })())
}

/// A compiled admission expression.
#[derive(Debug, Clone)]
pub struct Expression {
    expr: Expr,
    variables: Vec<String>,
}

/// Checks references: every identifier must be declared (or bound by a
/// macro), every function known.
fn check(e: &Expr, scope: &mut Vec<String>, vars_used: &mut Vec<String>) -> Result<(), String> {
    match e {
        Expr::Lit(_) => Ok(()),
        Expr::Ident(n) => {
            if scope.iter().any(|v| v == n) || stdlib::is_type_name(n) {
                Ok(())
            } else {
                Err(format!("undeclared reference to '{n}' (in container '')"))
            }
        }
        Expr::Select { operand, field, .. } => {
            if let Expr::Ident(n) = operand.as_ref()
                && n == "variables"
                && !vars_used.contains(field)
            {
                vars_used.push(field.clone());
            }
            check(operand, scope, vars_used)
        }
        Expr::Index { operand, index, .. } => {
            check(operand, scope, vars_used)?;
            check(index, scope, vars_used)
        }
        Expr::Call { target, func, args } => {
            if let Some(t) = target {
                check(t, scope, vars_used)?;
            }
            for a in args {
                check(a, scope, vars_used)?;
            }
            if stdlib::is_known(func) || AUTHZ_FUNCTIONS.contains(&func.as_str()) {
                Ok(())
            } else {
                Err(format!(
                    "undeclared reference to '{func}' (in container '')"
                ))
            }
        }
        Expr::List(items) => items
            .iter()
            .try_for_each(|(i, _)| check(i, scope, vars_used)),
        Expr::Map(entries) => entries.iter().try_for_each(|(k, v, _)| {
            check(k, scope, vars_used)?;
            check(v, scope, vars_used)
        }),
        Expr::Not(x) | Expr::Neg(x) => check(x, scope, vars_used),
        Expr::Binary(_, l, r) | Expr::And(l, r) | Expr::Or(l, r) => {
            check(l, scope, vars_used)?;
            check(r, scope, vars_used)
        }
        Expr::Cond(c, t, f) => {
            check(c, scope, vars_used)?;
            check(t, scope, vars_used)?;
            check(f, scope, vars_used)
        }
        Expr::Comprehension {
            var,
            range,
            pred,
            transform,
            ..
        } => {
            check(range, scope, vars_used)?;
            scope.push(var.clone());
            let r = (|| {
                if let Some(p) = pred {
                    check(p, scope, vars_used)?;
                }
                if let Some(t) = transform {
                    check(t, scope, vars_used)?;
                }
                Ok(())
            })();
            scope.pop();
            r
        }
        Expr::Bind { var, init, body } => {
            check(init, scope, vars_used)?;
            scope.push(var.clone());
            let r = check(body, scope, vars_used);
            scope.pop();
            r
        }
    }
}

impl Expression {
    /// Parses and checks `src` with the given declared variables; the
    /// error reads like cel-go's (`ERROR: <input>:1:1: ...`).
    pub fn compile(src: &str, declared: &[&str]) -> Result<Expression, String> {
        let expr =
            parser::parse(src).map_err(|e| super::render_error(src, e.offset, &e.message))?;
        let mut scope: Vec<String> = declared.iter().map(|s| s.to_string()).collect();
        let mut variables = Vec::new();
        check(&expr, &mut scope, &mut variables).map_err(|m| format!("ERROR: <input>:1:1: {m}"))?;
        Ok(Expression { expr, variables })
    }

    /// The `variables.<name>` this expression references.
    pub fn referenced_variables(&self) -> &[String] {
        &self.variables
    }

    /// Evaluates against an activation within a cost limit.
    pub fn eval(&self, act: &Activation, limit: u64) -> Result<CelValue, String> {
        let mut it = Interp::new(act.vars.clone(), limit);
        it.authorizer = act.authorizer.clone();
        it.eval(&self.expr).map(CelValue).map_err(|e| e.to_string())
    }
}

/// A value an expression produced.
#[derive(Debug, Clone)]
pub struct CelValue(Val);

impl CelValue {
    /// The boolean, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self.0 {
            Val::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match &self.0 {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The CEL type name (`bool`, `string`, `int`, ...).
    pub fn type_name(&self) -> &'static str {
        self.0.type_name()
    }

    /// A map value of named values (`variables`).
    pub fn map(entries: Vec<(String, CelValue)>) -> CelValue {
        let mut m = MapVal::new(false);
        for (k, v) in entries {
            m.insert(Key::Str(Rc::from(k.as_str())), v.0);
        }
        CelValue(Val::Map(Rc::new(m)))
    }

    /// A value from JSON.
    pub fn from_json(v: &Value) -> CelValue {
        CelValue(from_json_dyn(v, 0))
    }
}

/// The variables an expression runs with.
#[derive(Clone, Default)]
pub struct Activation {
    vars: Vec<(String, Val)>,
    authorizer: Option<AuthorizeFn>,
}

impl Activation {
    /// An empty activation.
    pub fn new() -> Self {
        Activation::default()
    }

    /// Binds `name` to JSON data (`None`: null).
    pub fn set_json(&mut self, name: &str, v: Option<&Value>) {
        let val = v.map_or(Val::Null, |v| from_json_dyn(v, 0));
        self.set(name, CelValue(val));
    }

    /// Binds `name` to a value.
    pub fn set(&mut self, name: &str, v: CelValue) {
        self.vars.retain(|(n, _)| n != name);
        self.vars.push((name.to_string(), v.0));
    }

    /// Binds `authorizer` (and `authorizer.requestResource`, the request's
    /// own resource) to a callback.
    pub fn set_authorizer(&mut self, f: AuthorizeFn, request: &AuthzCheck) {
        let rr = marked(
            "resource",
            &[
                ("group", s(&request.group)),
                ("resource", s(&request.resource)),
                ("subresource", s(&request.subresource)),
                ("namespace", s(&request.namespace)),
                ("name", s(&request.name)),
            ],
        );
        let a = marked("authorizer", &[("requestResource", rr)]);
        self.vars.retain(|(n, _)| n != "authorizer");
        self.vars.push(("authorizer".into(), a));
        self.authorizer = Some(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(src: &str, act: &Activation) -> Result<CelValue, String> {
        Expression::compile(
            src,
            &[
                "object",
                "oldObject",
                "request",
                "params",
                "authorizer",
                "variables",
            ],
        )?
        .eval(act, 1_000_000)
    }

    #[test]
    fn admission_expressions() {
        let mut act = Activation::new();
        act.set_json(
            "object",
            Some(&json!({"spec": {"replicas": 7}, "metadata": {"labels": {"a": "b"}}})),
        );
        act.set_json("oldObject", None);
        act.set_json(
            "request",
            Some(&json!({"operation": "CREATE", "userInfo": {"username": "alice"}})),
        );
        assert_eq!(
            eval("object.spec.replicas <= 5", &act).unwrap().as_bool(),
            Some(false)
        );
        assert_eq!(
            eval("oldObject == null", &act).unwrap().as_bool(),
            Some(true)
        );
        assert_eq!(
            eval("request.userInfo.username == 'alice'", &act)
                .unwrap()
                .as_bool(),
            Some(true)
        );
        assert_eq!(
            eval(
                "has(object.metadata.labels) && object.metadata.labels.a == 'b'",
                &act
            )
            .unwrap()
            .as_bool(),
            Some(true)
        );
        assert_eq!(
            eval("'replicas: ' + string(object.spec.replicas)", &act)
                .unwrap()
                .as_str(),
            Some("replicas: 7")
        );
        let e = Expression::compile("nope.x", &["object"]).unwrap_err();
        assert!(e.contains("undeclared reference to 'nope'"), "{e}");
        let e = eval("object.spec.missing", &act).unwrap_err();
        assert_eq!(e, "no such key: missing");
        let x = Expression::compile("variables.a + variables.b > 1", &["variables"]).unwrap();
        assert_eq!(x.referenced_variables(), ["a", "b"]);
    }

    #[test]
    fn authorizer_library() {
        let mut act = Activation::new();
        let seen = Rc::new(std::cell::RefCell::new(Vec::new()));
        let s2 = seen.clone();
        act.set_authorizer(
            Rc::new(move |c: &AuthzCheck| {
                s2.borrow_mut().push(c.clone());
                AuthzDecision {
                    allowed: c.verb == "get",
                    reason: "because".into(),
                    error: String::new(),
                }
            }),
            &AuthzCheck {
                group: "apps".into(),
                resource: "deployments".into(),
                namespace: "ns".into(),
                ..Default::default()
            },
        );
        assert_eq!(
            eval(
                "authorizer.group('').resource('pods').namespace('x').check('get').allowed()",
                &act
            )
            .unwrap()
            .as_bool(),
            Some(true)
        );
        assert_eq!(seen.borrow()[0].resource, "pods");
        assert_eq!(seen.borrow()[0].namespace, "x");
        assert_eq!(
            eval("authorizer.requestResource.check('delete').allowed()", &act)
                .unwrap()
                .as_bool(),
            Some(false)
        );
        assert_eq!(seen.borrow()[1].resource, "deployments");
        assert_eq!(
            eval("authorizer.path('/healthz').check('get').reason()", &act)
                .unwrap()
                .as_str(),
            Some("because")
        );
        assert_eq!(eval("authorizer.serviceAccount('ns', 'sa').group('').resource('pods').check('get').errored()", &act).unwrap().as_bool(), Some(false));
        assert_eq!(
            seen.borrow()[3].user.as_deref(),
            Some("system:serviceaccount:ns:sa")
        );
    }
}
