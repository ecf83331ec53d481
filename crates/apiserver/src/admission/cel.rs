//! The CEL environment of dynamic admission (webhook `matchConditions`,
//! ValidatingAdmissionPolicy): `object`, `oldObject`, `request` and an
//! `authorizer` backed by the server's own authorizer chain.

use std::rc::Rc;
use std::sync::Arc;

use corten_apiextensions::admission_cel::{
    Activation, AuthzCheck, AuthzDecision, CelValue, Expression,
};
use serde_json::Value;

use super::webhook::Call;
use crate::app::ApiServer;
use crate::auth::UserInfo;
use crate::auth::authz::Attributes;

/// Per-expression cost limit (upstream `celconfig.PerCallLimit`).
pub const PER_CALL_LIMIT: u64 = corten_apiextensions::CEL_PER_CALL_LIMIT;

/// Variables of webhook match conditions.
pub const MATCH_CONDITION_VARS: &[&str] = &["object", "oldObject", "request", "authorizer"];

/// The `authorizer` callback for a request's user.
fn authorizer(server: Arc<ApiServer>, user: UserInfo) -> Rc<dyn Fn(&AuthzCheck) -> AuthzDecision> {
    Rc::new(move |c: &AuthzCheck| {
        let who = match &c.user {
            Some(name) => {
                let mut u = UserInfo::new(name.clone(), &[]);
                if let Some(rest) = name.strip_prefix("system:serviceaccount:")
                    && let Some((ns, _)) = rest.split_once(':')
                {
                    u.groups = crate::auth::service_account_groups(ns);
                    u.groups.push("system:authenticated".into());
                }
                u
            }
            None => user.clone(),
        };
        let mut attrs = if c.path.is_empty() {
            Attributes::resource(&who, &c.verb, &c.group, &c.resource, &c.namespace, &c.name)
        } else {
            Attributes::non_resource(&who, &c.verb, &c.path)
        };
        attrs.subresource = c.subresource.clone();
        let d = server.authz.authorize(&server.registry, &attrs);
        AuthzDecision {
            allowed: d.allowed(),
            reason: d.reason().to_string(),
            error: String::new(),
        }
    })
}

/// The activation shared by a request's expressions.
pub fn activation(
    call: &Call<'_>,
    request: &Value,
    obj: Option<&Value>,
    old: Option<&Value>,
) -> Activation {
    let mut act = Activation::new();
    act.set_json("object", obj);
    act.set_json("oldObject", old);
    act.set_json("request", Some(request));
    let (group, _, resource) = call.resource;
    act.set_authorizer(
        authorizer(call.server.clone(), call.user.clone()),
        &AuthzCheck {
            group: group.into(),
            resource: resource.into(),
            subresource: call.subresource.into(),
            namespace: call.namespace.into(),
            name: call.name.into(),
            ..Default::default()
        },
    );
    act
}

/// Evaluates an expression to a bool (`Err` for errors and non-bools).
pub fn eval_bool(expr: &Expression, act: &Activation) -> Result<bool, String> {
    let v: CelValue = expr.eval(act, PER_CALL_LIMIT)?;
    v.as_bool()
        .ok_or_else(|| format!("expression must evaluate to bool, got {}", v.type_name()))
}

/// Webhook `matchConditions`: `Ok(false)` as soon as one is false (a false
/// condition wins over errors in others, as upstream); otherwise the first
/// error, or `Ok(true)`.
pub fn match_conditions(
    call: &Call<'_>,
    conditions: &[(String, String)],
    request: &Value,
    obj: Option<&Value>,
    old: Option<&Value>,
) -> Result<bool, String> {
    let act = activation(call, request, obj, old);
    let mut first_error = None;
    for (name, src) in conditions {
        let r = Expression::compile(src, MATCH_CONDITION_VARS)
            .map_err(|e| format!("compilation failed: {e}"))
            .and_then(|x| eval_bool(&x, &act));
        match r {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => {
                first_error
                    .get_or_insert(format!("failed to evaluate match condition {name:?}: {e}"));
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(true),
    }
}
