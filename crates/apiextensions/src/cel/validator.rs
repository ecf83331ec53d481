//! Running `x-kubernetes-validations` over a custom resource (upstream
//! `schema/cel.Validator`): rules are compiled once per schema node, then
//! evaluated top-down with `self` (and `oldSelf` for transition rules where
//! the old value can be correlated), within per-rule and per-object cost
//! budgets. Errors carry upstream's shapes, e.g.
//! `spec: Invalid value: "object": <message>` or
//! `spec: Invalid value: "object": failed rule: <rule>`.

use std::rc::Rc;

use corten_apimachinery::{ErrorList, FieldError, Path};
use serde_json::Value;

use super::{EvalError, Program, Val, compile, from_json, run};
use crate::schema::{Node, Rule};
use crate::{CEL_PER_CALL_LIMIT, CEL_RUNTIME_BUDGET};

/// Longest message a `messageExpression` may produce
/// (`celconfig.MaxEvaluatedMessageExpressionSizeBytes`).
const MAX_MESSAGE_BYTES: usize = 5 * 1024;

/// One compiled rule.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pub rule: Rule,
    pub program: Result<Program, String>,
    pub message: Option<Result<Program, String>>,
    /// `fieldPath` as a field path below the node (`spec.foo`), if valid.
    pub field_path: Option<String>,
}

/// The rules of a schema subtree, mirroring the nodes that have any.
#[derive(Debug, Clone, Default)]
pub(crate) struct CelTree {
    rules: Vec<CompiledRule>,
    props: Vec<(String, CelTree)>,
    items: Option<Box<CelTree>>,
    additional: Option<Box<CelTree>>,
}

fn has_rules(n: &Node) -> bool {
    n.any(&mut |x: &Node| !x.x_validations.is_empty())
}

impl CelTree {
    /// Compiles the rules of `node` and below (`None` if there are none).
    pub(crate) fn build(node: &Node, is_root: bool) -> Option<CelTree> {
        if !has_rules(node) {
            return None;
        }
        let rules = node
            .x_validations
            .iter()
            .map(|r| CompiledRule {
                rule: r.clone(),
                program: compile(r.rule.trim(), Some(node), is_root),
                message: (!r.message_expression.trim().is_empty())
                    .then(|| compile(r.message_expression.trim(), Some(node), is_root)),
                field_path: if r.field_path.is_empty() {
                    None
                } else {
                    valid_field_path(&r.field_path, node, true)
                        .ok()
                        .map(|(p, _)| p)
                },
            })
            .collect();
        Some(CelTree {
            rules,
            props: node
                .properties
                .iter()
                .filter_map(|(k, p)| CelTree::build(p, false).map(|t| (k.clone(), t)))
                .collect(),
            items: node
                .items
                .as_deref()
                .and_then(|i| CelTree::build(i, false))
                .map(Box::new),
            additional: node
                .additional_schema()
                .and_then(|a| CelTree::build(a, false))
                .map(Box::new),
        })
    }
}

/// `ruleErrorString`: the message if set, else the rule.
fn rule_error_string(r: &Rule) -> String {
    if r.message.is_empty() {
        r.rule.trim().to_string()
    } else {
        r.message.trim().to_string()
    }
}

fn message_or_default(r: &Rule) -> String {
    if r.message.is_empty() {
        format!("failed rule: {}", rule_error_string(r))
    } else {
        r.message.trim().to_string()
    }
}

fn render(path: Option<&Path>) -> Path {
    path.cloned().unwrap_or_else(|| Path::new("<nil>"))
}

fn child(path: Option<&Path>, k: &str) -> Path {
    path.map_or_else(|| Path::new(k), |p| p.child(k))
}

/// Walks one object, collecting errors and spending the budget.
pub(crate) struct Run {
    pub errs: ErrorList,
    budget: i64,
}

impl Run {
    /// A run with the per-object budget.
    pub(crate) fn new() -> Run {
        Run {
            errs: ErrorList::new(),
            budget: CEL_RUNTIME_BUDGET as i64,
        }
    }

    /// Validates `obj` (and `old` for transition rules) at `path`.
    pub(crate) fn validate(
        &mut self,
        tree: &CelTree,
        node: &Node,
        path: Option<&Path>,
        obj: &Value,
        old: Option<&Value>,
        is_root: bool,
    ) {
        if obj.is_null() || self.budget < 0 {
            return;
        }
        let old = old.filter(|o| !o.is_null());
        if !tree.rules.is_empty() && !self.expressions(tree, node, path, obj, old, is_root) {
            self.budget = -1;
            return;
        }
        match obj {
            Value::Object(m) => {
                let correlatable = matches!(
                    node.x_map_type.as_deref(),
                    None | Some("granular" | "atomic")
                );
                let old_map = old.and_then(Value::as_object).filter(|_| correlatable);
                if let (Some(t), Some(a)) = (&tree.additional, node.additional_schema()) {
                    for (k, v) in m {
                        let p = path.map_or_else(|| Path::new(&format!("[{k}]")), |p| p.key(k));
                        self.validate(t, a, Some(&p), v, old_map.and_then(|o| o.get(k)), false);
                        if self.budget < 0 {
                            return;
                        }
                    }
                }
                for (k, t) in &tree.props {
                    let (Some(v), Some(sub)) = (m.get(k), node.prop(k)) else {
                        continue;
                    };
                    self.validate(
                        t,
                        sub,
                        Some(&child(path, k)),
                        v,
                        old_map.and_then(|o| o.get(k)),
                        false,
                    );
                    if self.budget < 0 {
                        return;
                    }
                }
            }
            Value::Array(items) => {
                let (Some(t), Some(item_schema)) = (&tree.items, node.items.as_deref()) else {
                    return;
                };
                let old_items = old.and_then(Value::as_array);
                for (i, v) in items.iter().enumerate() {
                    let old_v = match (node.x_list_type.as_deref(), old_items) {
                        (Some("map"), Some(olds)) => olds
                            .iter()
                            .find(|o| same_map_keys(&node.x_list_map_keys, o, v)),
                        _ => None,
                    };
                    let p = path.map_or_else(|| Path::new(&format!("[{i}]")), |p| p.index(i));
                    self.validate(t, item_schema, Some(&p), v, old_v, false);
                    if self.budget < 0 {
                        return;
                    }
                }
            }
            _ => {}
        }
    }

    /// Runs the rules of one node; false once the budget is exhausted.
    fn expressions(
        &mut self,
        tree: &CelTree,
        node: &Node,
        path: Option<&Path>,
        obj: &Value,
        old: Option<&Value>,
        is_root: bool,
    ) -> bool {
        let ty = if node.type_.is_empty() {
            "object".to_string()
        } else {
            node.type_.clone()
        };
        let invalid =
            |p: Option<&Path>, detail: String| FieldError::invalid(&render(p), ty.clone(), &detail);
        if self.budget <= 0 {
            self.errs.push(invalid(
                path,
                "validation failed due to running out of cost budget, no further validation rules will be run".into(),
            ));
            return false;
        }
        let self_val = from_json(obj, Some(node), is_root, 0);
        let old_val = old.map(|o| from_json(o, Some(node), is_root, 0));
        for c in &tree.rules {
            let program = match &c.program {
                Ok(p) => p,
                Err(e) => {
                    self.errs.push(invalid(
                        path,
                        format!("rule compile error: compilation failed: {e}"),
                    ));
                    continue;
                }
            };
            let optional_old_self = c.rule.optional_old_self == Some(true);
            if program.uses_old_self && old_val.is_none() && !optional_old_self {
                continue;
            }
            let mut vars = vec![("self".to_string(), self_val.clone())];
            if optional_old_self {
                vars.push((
                    "oldSelf".into(),
                    Val::Optional(old_val.clone().map(Rc::new)),
                ));
            } else if let Some(o) = &old_val {
                vars.push(("oldSelf".into(), o.clone()));
            }
            let (result, cost) = run(program, vars.clone(), CEL_PER_CALL_LIMIT);
            if cost as i64 > self.budget && result != Err(EvalError::CostLimit) {
                self.errs.push(invalid(
                    path,
                    "validation failed due to running out of cost budget, no further validation rules will be run".into(),
                ));
                return false;
            }
            self.budget -= cost as i64;
            let rule_str = rule_error_string(&c.rule);
            match result {
                Ok(Val::Bool(true)) => continue,
                Ok(Val::Bool(false)) => {}
                Err(EvalError::CostLimit) => {
                    self.errs.push(invalid(path, format!(
                        "'{}': no further validation rules will be run due to call cost exceeds limit for rule: {rule_str}",
                        EvalError::CostLimit
                    )));
                    return false;
                }
                Err(EvalError::Msg(m)) if m.starts_with("no such overload") => {
                    self.errs.push(invalid(path, format!(
                        "'{m}': call arguments did not match a supported operator, function or macro signature for rule: {rule_str}"
                    )));
                    continue;
                }
                Err(EvalError::Msg(m)) => {
                    self.errs
                        .push(invalid(path, format!("{m} evaluating rule: {rule_str}")));
                    continue;
                }
                Ok(_) => {
                    self.errs.push(invalid(path, format!(
                        "'no such overload': call arguments did not match a supported operator, function or macro signature for rule: {rule_str}"
                    )));
                    continue;
                }
            }
            let fpath = match &c.field_path {
                Some(fp) => Some(child(path, fp)),
                None => path.cloned(),
            };
            let detail = match &c.message {
                Some(Ok(mp)) => match self.message_expression(mp, vars) {
                    Ok(Some(m)) => m,
                    Ok(None) => message_or_default(&c.rule),
                    Err(e) => {
                        self.errs.push(invalid(fpath.as_ref(), e));
                        return false;
                    }
                },
                _ => message_or_default(&c.rule),
            };
            let p = render(fpath.as_ref());
            self.errs.push(match c.rule.reason.as_deref() {
                Some("FieldValueForbidden") => FieldError::forbidden(&p, &detail),
                Some("FieldValueRequired") => FieldError::required(&p, &detail),
                Some("FieldValueDuplicate") => FieldError::duplicate(&p, ty.clone()),
                _ => FieldError::invalid(&p, ty.clone(), &detail),
            });
        }
        true
    }

    /// Evaluates a `messageExpression`: `Ok(None)` falls back to the rule's
    /// message; `Err` stops validation (budget problems).
    fn message_expression(
        &mut self,
        p: &Program,
        vars: Vec<(String, Val)>,
    ) -> Result<Option<String>, String> {
        let (r, cost) = run(p, vars, CEL_PER_CALL_LIMIT);
        if r == Err(EvalError::CostLimit) {
            return Err(
                "no further validation rules will be run due to call cost exceeds limit for messageExpression".into(),
            );
        }
        if cost as i64 > self.budget {
            return Err("messageExpression evaluation failed due to running out of cost budget, no further validation rules will be run".into());
        }
        self.budget -= cost as i64;
        Ok(match r {
            Ok(Val::Str(s)) => {
                let t = s.trim();
                (!t.is_empty() && t.len() <= MAX_MESSAGE_BYTES && !t.contains('\n'))
                    .then(|| t.to_string())
            }
            _ => None,
        })
    }
}

fn same_map_keys(keys: &[String], a: &Value, b: &Value) -> bool {
    !keys.is_empty() && keys.iter().all(|k| a.get(k) == b.get(k))
}

/// Upstream `ValidFieldPath`: a JSON path of `.field` and `['key']` steps
/// valid in `schema`; returns the rendered field path and the node found.
pub(crate) fn valid_field_path<'a>(
    json_path: &str,
    schema: &'a Node,
    allow_array_notation: bool,
) -> Result<(String, &'a Node), String> {
    let mut toks: Vec<String> = Vec::new();
    let b = json_path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' | b'[' | b']' => {
                toks.push((b[i] as char).to_string());
                i += 1;
            }
            b'\'' => {
                let start = i;
                i += 1;
                while i < b.len() && !(b[i] == b'\'' && b[i - 1] != b'\\') {
                    i += 1;
                }
                i = (i + 1).min(b.len());
                toks.push(json_path[start..i].to_string());
            }
            _ => {
                let start = i;
                while i < b.len() && !matches!(b[i], b'.' | b'[' | b']') {
                    i += 1;
                }
                toks.push(json_path[start..i].to_string());
            }
        }
    }
    let mut out = String::new();
    let mut node = schema;
    let mut it = toks.into_iter();
    let step = |node: &'a Node, name: &str, out: &mut String| -> Result<&'a Node, String> {
        if !node.properties.is_empty() {
            let p = node
                .prop(name)
                .ok_or_else(|| "does not refer to a valid field".to_string())?;
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(name);
            Ok(p)
        } else if node.additional_properties.is_some() {
            out.push_str(&format!("[{name}]"));
            node.additional_schema()
                .ok_or_else(|| "does not refer to a valid field".to_string())
        } else {
            Err("does not refer to a valid field".to_string())
        }
    };
    while let Some(tok) = it.next() {
        match tok.as_str() {
            "[" => {
                if !allow_array_notation {
                    return Err("array notation is not allowed".into());
                }
                let t = it.next().ok_or("unexpected end of JSON path")?;
                if t.len() < 2 || !t.starts_with('\'') || !t.ends_with('\'') {
                    return Err(format!("expected single quoted string but got {t}"));
                }
                let name = unescape(&t[1..t.len() - 1])?;
                node = step(node, &name, &mut out)?;
                if it.next().as_deref() != Some("]") {
                    return Err("expected ] but got something else".into());
                }
            }
            "." => {
                let t = it.next().ok_or("unexpected end of JSON path")?;
                node = step(node, &t, &mut out)?;
            }
            other => return Err(format!("expected [ or . but got: {other}")),
        }
    }
    Ok((out, node))
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('n') => '\n',
            Some('t') => '\t',
            Some('r') => '\r',
            Some('\'') => '\'',
            Some('\\') => '\\',
            Some(o) => return Err(format!("invalid string literal: invalid escape char \\{o}")),
            None => return Err("invalid string literal".into()),
        });
    }
    Ok(out)
}
