//! A CEL interpreter for `x-kubernetes-validations`, written for this crate
//! so that evaluation is cost-bounded and errors read like cel-go's.
//!
//! [`compile`] parses a rule and checks it against the schema of the node it
//! sits on (undeclared variables and functions, undefined fields of typed
//! objects), [`validator`] runs compiled rules over custom resources with
//! upstream's error shapes and budgets.

pub mod admission;
mod eval;
mod k8s;
mod lexer;
mod parser;
mod stdlib;
mod strings;
pub(crate) mod validator;
mod value;

pub(crate) use eval::{EvalError, Interp};
pub(crate) use parser::Expr;
pub(crate) use value::{Val, from_json};

use crate::schema::Node;
use value::escape_name;

/// A compiled expression.
#[derive(Debug, Clone)]
pub(crate) struct Program {
    pub expr: Expr,
    /// The expression references `oldSelf` (a transition rule).
    pub uses_old_self: bool,
}

/// Renders a compile error the way cel-go does:
/// `ERROR: <input>:1:6: message` plus the source line and a caret.
fn render_error(src: &str, offset: usize, message: &str) -> String {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = src[line_start..offset].chars().count() + 1;
    let line = src[line_start..].lines().next().unwrap_or("");
    format!(
        "ERROR: <input>:{line_no}:{col}: {message}\n | {line}\n | {}^",
        ".".repeat(col - 1)
    )
}

/// The static type the checker tracks for an expression.
#[derive(Clone, Copy)]
enum Ty<'a> {
    Schema(&'a Node, bool),
    /// `metadata` of a resource: only `name` and `generateName`.
    Meta,
    Dyn,
}

struct Checker<'a> {
    root: Option<&'a Node>,
    is_root: bool,
    scope: Vec<(String, Ty<'a>)>,
    uses_old_self: bool,
}

impl<'a> Checker<'a> {
    fn check(&mut self, e: &Expr) -> Result<Ty<'a>, String> {
        Ok(match e {
            Expr::Lit(_) => Ty::Dyn,
            Expr::Ident(n) => {
                if let Some((_, t)) = self.scope.iter().rev().find(|(v, _)| v == n) {
                    return Ok(*t);
                }
                match n.as_str() {
                    "self" | "oldSelf" => {
                        if n == "oldSelf" {
                            self.uses_old_self = true;
                        }
                        self.root.map_or(Ty::Dyn, |r| Ty::Schema(r, self.is_root))
                    }
                    n if stdlib::is_type_name(n) => Ty::Dyn,
                    n => return Err(format!("undeclared reference to '{n}' (in container '')")),
                }
            }
            Expr::Select { operand, field, .. } => {
                let t = self.check(operand)?;
                select_type(t, field)?
            }
            Expr::Index { operand, index, .. } => {
                let t = self.check(operand)?;
                self.check(index)?;
                match t {
                    Ty::Schema(n, _) if n.type_ == "array" => {
                        n.items.as_deref().map_or(Ty::Dyn, |i| Ty::Schema(i, false))
                    }
                    Ty::Schema(n, _) => n
                        .additional_schema()
                        .map_or(Ty::Dyn, |a| Ty::Schema(a, false)),
                    _ => Ty::Dyn,
                }
            }
            Expr::Call { target, func, args } => {
                if let Some(t) = target {
                    self.check(t)?;
                }
                for a in args {
                    self.check(a)?;
                }
                if !stdlib::is_known(func) {
                    return Err(format!(
                        "undeclared reference to '{func}' (in container '')"
                    ));
                }
                Ty::Dyn
            }
            Expr::List(items) => {
                for (i, _) in items {
                    self.check(i)?;
                }
                Ty::Dyn
            }
            Expr::Map(entries) => {
                for (k, v, _) in entries {
                    self.check(k)?;
                    self.check(v)?;
                }
                Ty::Dyn
            }
            Expr::Not(x) | Expr::Neg(x) => {
                self.check(x)?;
                Ty::Dyn
            }
            Expr::Binary(_, l, r) | Expr::And(l, r) | Expr::Or(l, r) => {
                self.check(l)?;
                self.check(r)?;
                Ty::Dyn
            }
            Expr::Cond(c, t, f) => {
                self.check(c)?;
                self.check(t)?;
                self.check(f)?;
                Ty::Dyn
            }
            Expr::Comprehension {
                var,
                range,
                pred,
                transform,
                ..
            } => {
                let rt = self.check(range)?;
                let vt = match rt {
                    Ty::Schema(n, _) if n.type_ == "array" => {
                        n.items.as_deref().map_or(Ty::Dyn, |i| Ty::Schema(i, false))
                    }
                    _ => Ty::Dyn,
                };
                self.scope.push((var.clone(), vt));
                let r = (|| {
                    if let Some(p) = pred {
                        self.check(p)?;
                    }
                    if let Some(t) = transform {
                        self.check(t)?;
                    }
                    Ok::<(), String>(())
                })();
                self.scope.pop();
                r?;
                Ty::Dyn
            }
            Expr::Bind { var, init, body } => {
                let it = self.check(init)?;
                self.scope.push((var.clone(), it));
                let r = self.check(body);
                self.scope.pop();
                r?
            }
        })
    }
}

fn select_type<'a>(t: Ty<'a>, field: &str) -> Result<Ty<'a>, String> {
    match t {
        Ty::Meta => {
            if matches!(field, "name" | "generateName") {
                Ok(Ty::Dyn)
            } else {
                Err(format!("undefined field '{field}'"))
            }
        }
        Ty::Dyn => Ok(Ty::Dyn),
        Ty::Schema(n, root) => {
            let resource = root || n.x_embedded_resource;
            if resource && matches!(field, "apiVersion" | "kind") {
                return Ok(Ty::Dyn);
            }
            if resource && field == "metadata" {
                return Ok(Ty::Meta);
            }
            if let Some((_, p)) = n
                .properties
                .iter()
                .find(|(k, _)| escape_name(k).as_deref() == Some(field))
            {
                return Ok(Ty::Schema(p, false));
            }
            if let Some(a) = n.additional_schema() {
                return Ok(Ty::Schema(a, false));
            }
            if n.type_ == "object" && !n.preserve_unknown() && n.additional_properties.is_none() {
                return Err(format!("undefined field '{field}'"));
            }
            Ok(Ty::Dyn)
        }
    }
}

/// Parses and checks `src` against the schema of the node it is declared
/// on (`is_root`: the node is the resource root). The error is the detail
/// upstream reports after `compilation failed: `.
pub(crate) fn compile(src: &str, schema: Option<&Node>, is_root: bool) -> Result<Program, String> {
    let expr = parser::parse(src).map_err(|e| render_error(src, e.offset, &e.message))?;
    let mut c = Checker {
        root: schema,
        is_root,
        scope: Vec::new(),
        uses_old_self: false,
    };
    c.check(&expr).map_err(|m| format!("ERROR: <input>: {m}"))?;
    Ok(Program {
        expr,
        uses_old_self: c.uses_old_self,
    })
}

/// Evaluates a compiled program with the given variables and cost limit;
/// returns the value and the cost spent.
pub(crate) fn run(
    p: &Program,
    vars: Vec<(String, Val)>,
    limit: u64,
) -> (Result<Val, EvalError>, u64) {
    let mut it = Interp::new(vars, limit);
    let r = it.eval(&p.expr);
    (r, it.cost)
}

#[cfg(test)]
mod tests;
