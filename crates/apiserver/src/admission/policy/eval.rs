//! Evaluating one policy under one binding: params, match conditions,
//! variables (evaluated once each; an error only matters to expressions
//! that use the variable), validations and their messages.

use std::collections::HashMap;

use corten_apiextensions::admission_cel::{Activation, CelValue, Expression};
use corten_apimachinery::StatusError;
use serde_json::Value;

use super::source::{Binding, Policy};
use super::{Evaluation, Failure};
use crate::admission::cel::{PER_CALL_LIMIT, activation};
use crate::admission::webhook::Call;
use crate::admission::webhook::review;

/// Variables a policy expression may use.
const VARS: &[&str] = &[
    "object",
    "oldObject",
    "request",
    "params",
    "namespaceObject",
    "authorizer",
    "variables",
];

fn param_objects(call: &Call<'_>, p: &Policy, b: &Binding) -> Result<Option<Vec<Value>>, String> {
    let Some((api_version, kind)) = &p.param_kind else {
        return Ok(None);
    };
    let Some(r) = &b.param_ref else {
        return Err(
            "failed to configure binding: paramRef is required for a policy with paramKind".into(),
        );
    };
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let def = corten_api::builtin_resources()
        .iter()
        .find(|d| d.group == group && d.version == version && d.kind == kind)
        .ok_or_else(|| {
            format!(
                "failed to configure binding: paramKind {api_version}, Kind={kind} is not served"
            )
        })?;
    let reg = &call.server.registry;
    let Some(cache) = reg.cache(def.storage_resource) else {
        return Ok(Some(Vec::new()));
    };
    let ns = if !def.namespaced {
        String::new()
    } else if r.namespace.is_empty() {
        call.namespace.to_string()
    } else {
        r.namespace.clone()
    };
    let prefix = if ns.is_empty() {
        format!("{}/", def.storage_resource)
    } else {
        format!("{}/{ns}/", def.storage_resource)
    };
    let listed = cache.list(&corten_storage::ListRequest {
        prefix,
        filter: Default::default(),
        start_after: None,
        limit: None,
    });
    let objs = listed
        .items
        .iter()
        .filter(|o| {
            if !r.name.is_empty() {
                o.name == r.name
            } else {
                r.selector.as_ref().is_some_and(|s| s.matches(&o.labels))
            }
        })
        .filter_map(|o| serde_json::from_slice::<Value>(&o.json).ok())
        .collect();
    Ok(Some(objs))
}

fn compile(src: &str) -> Result<Expression, String> {
    Expression::compile(src, VARS).map_err(|e| format!("compilation error: {e}"))
}

/// The variables' values (or errors), in declaration order.
struct Variables {
    values: Vec<(String, Result<CelValue, String>)>,
    deps: HashMap<String, Vec<String>>,
}

impl Variables {
    fn evaluate(p: &Policy, act: &mut Activation) -> Variables {
        let mut values: Vec<(String, Result<CelValue, String>)> = Vec::new();
        let mut deps = HashMap::new();
        for (name, src) in &p.variables {
            let ok: Vec<(String, CelValue)> = values
                .iter()
                .filter_map(|(n, v)| v.as_ref().ok().map(|v| (n.clone(), v.clone())))
                .collect();
            act.set("variables", CelValue::map(ok));
            let r = compile(src).and_then(|e| {
                deps.insert(name.clone(), e.referenced_variables().to_vec());
                e.eval(act, PER_CALL_LIMIT)
            });
            values.push((name.clone(), r));
        }
        let ok: Vec<(String, CelValue)> = values
            .iter()
            .filter_map(|(n, v)| v.as_ref().ok().map(|v| (n.clone(), v.clone())))
            .collect();
        act.set("variables", CelValue::map(ok));
        Variables { values, deps }
    }

    /// The first error among the variables `expr` uses, directly or not.
    fn error_for(&self, expr: &Expression) -> Option<String> {
        let mut todo: Vec<String> = expr.referenced_variables().to_vec();
        let mut seen: Vec<String> = Vec::new();
        while let Some(n) = todo.pop() {
            if seen.contains(&n) {
                continue;
            }
            if let Some((_, Err(e))) = self.values.iter().find(|(v, _)| *v == n) {
                return Some(format!(
                    "composited variable \"{n}\" fails to be evaluated: {e}"
                ));
            }
            todo.extend(self.deps.get(&n).cloned().unwrap_or_default());
            seen.push(n);
        }
        None
    }
}

/// Evaluates an expression, reporting variable errors first.
fn run(src: &str, vars: &Variables, act: &Activation) -> Result<CelValue, String> {
    let e = compile(src)?;
    if let Some(err) = vars.error_for(&e) {
        return Err(err);
    }
    e.eval(act, PER_CALL_LIMIT)
}

/// The failures of `p` under `b` for the request (none: admitted) and its
/// audit annotations.
pub fn evaluate(
    call: &Call<'_>,
    p: &Policy,
    b: &Binding,
    obj: Option<&Value>,
    old: Option<&Value>,
) -> Result<Evaluation, StatusError> {
    let fail = |message: String| Failure {
        message,
        reason: String::new(),
        expression_index: 0,
    };
    let failed = |failures: Vec<Failure>| Evaluation {
        failures,
        audit_annotations: Vec::new(),
    };
    let params = match param_objects(call, p, b) {
        Ok(p) => p,
        Err(e) if p.ignore_failures => {
            tracing::warn!(policy = %p.name, error = %e, "policy failed, failing open");
            return Ok(Evaluation::default());
        }
        Err(e) => return Ok(failed(vec![fail(e)])),
    };
    let params: Vec<Option<Value>> = match params {
        None => vec![None],
        Some(list) if list.is_empty() => {
            let deny = b.param_ref.as_ref().is_some_and(|r| r.deny_if_missing);
            return Ok(failed(if deny {
                vec![fail("failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction".into())]
            } else {
                Vec::new()
            }));
        }
        Some(list) => list.into_iter().map(Some).collect(),
    };
    let request = review::request(&call.request_info(), None, None);
    let namespace_object: Option<Value> = if call.namespace.is_empty() {
        None
    } else {
        call.server
            .registry
            .cache("namespaces")
            .and_then(|c| c.get(&format!("namespaces/{}", call.namespace)))
            .and_then(|o| serde_json::from_slice(&o.json).ok())
    };
    let mut failures = Vec::new();
    let mut audit_annotations = Vec::new();
    'params: for param in params {
        let mut act = activation(call, &request, obj, old);
        act.set_json("params", param.as_ref());
        act.set_json("namespaceObject", namespace_object.as_ref());
        let vars = Variables::evaluate(p, &mut act);
        // matchConditions: a false one skips the policy; errors follow the
        // failure policy.
        let mut condition_error = None;
        for (name, src) in &p.match_conditions {
            match run(src, &vars, &act).and_then(|v| {
                v.as_bool().ok_or_else(|| {
                    format!("expression must evaluate to bool, got {}", v.type_name())
                })
            }) {
                Ok(true) => {}
                Ok(false) => continue 'params,
                Err(e) => {
                    condition_error
                        .get_or_insert(format!("failed to evaluate match condition {name:?}: {e}"));
                }
            }
        }
        if let Some(e) = condition_error {
            if !p.ignore_failures {
                failures.push(fail(e));
            }
            continue;
        }
        for (index, v) in p.validations.iter().enumerate() {
            let result = run(&v.expression, &vars, &act).and_then(|x| {
                x.as_bool().ok_or_else(|| {
                    format!("expression must evaluate to bool, got {}", x.type_name())
                })
            });
            match result {
                Ok(true) => {}
                Ok(false) => {
                    let mut message = if v.message.is_empty() {
                        format!("failed expression: {}", v.expression.trim())
                    } else {
                        v.message.clone()
                    };
                    if !v.message_expression.is_empty()
                        && let Ok(m) = run(&v.message_expression, &vars, &act)
                        && let Some(s) = m.as_str()
                        && !s.trim().is_empty()
                        && !s.contains('\n')
                    {
                        message = s.to_string();
                    }
                    failures.push(Failure {
                        message,
                        reason: v.reason.clone(),
                        expression_index: index,
                    });
                }
                Err(e) if p.ignore_failures => {
                    tracing::warn!(policy = %p.name, error = %e, "policy expression failed, failing open");
                }
                Err(e) => failures.push(Failure {
                    expression_index: index,
                    ..fail(format!(
                        "expression '{}' resulted in error: {e}",
                        v.expression.trim()
                    ))
                }),
            }
        }
        for (key, src) in &p.audit_annotations {
            match run(src, &vars, &act) {
                // A null value leaves the annotation out.
                Ok(v) => {
                    if let Some(s) = v.as_str()
                        && !audit_annotations.iter().any(|(k, _)| k == key)
                    {
                        audit_annotations.push((key.clone(), s.to_string()));
                    }
                }
                Err(e) => {
                    tracing::warn!(policy = %p.name, key = %key, error = %e, "policy audit annotation failed")
                }
            }
        }
    }
    Ok(Evaluation {
        failures,
        audit_annotations,
    })
}
