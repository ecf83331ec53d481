//! The review APIs: `TokenReview`, `SelfSubjectReview`
//! (authentication.k8s.io/v1) and `SubjectAccessReview`,
//! `SelfSubjectAccessReview`, `LocalSubjectAccessReview`,
//! `SelfSubjectRulesReview` (authorization.k8s.io/v1). They are
//! create-only and never stored: the answer is the request with `status`
//! filled in.

use std::collections::BTreeMap;

use corten_apimachinery::StatusError;
use serde_json::{Value, json};

use super::authz::rules::PolicyRule;
use super::authz::{Attributes, Mode};
use super::{SYSTEM_PRIVILEGED_GROUP, UserInfo};
use crate::app::ApiServer;

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `resource` in `group` is one of the review resources.
pub fn is_review(group: &str, resource: &str) -> bool {
    matches!(
        (group, resource),
        (
            "authentication.k8s.io",
            "tokenreviews" | "selfsubjectreviews"
        ) | (
            "authorization.k8s.io",
            "subjectaccessreviews"
                | "selfsubjectaccessreviews"
                | "localsubjectaccessreviews"
                | "selfsubjectrulesreviews"
        )
    )
}

/// Serves a create of a review resource. `obj` is the canonicalized and
/// validated request; the result is the response body (201).
pub async fn create(
    server: &ApiServer,
    user: &UserInfo,
    resource: &str,
    url_ns: Option<&str>,
    mut obj: Value,
) -> Result<Value, StatusError> {
    let status = match resource {
        "tokenreviews" => token_review(server, &obj).await?,
        "selfsubjectreviews" => json!({"userInfo": user.to_json()}),
        "selfsubjectaccessreviews" => access_review(server, user, &obj["spec"])?,
        "subjectaccessreviews" => {
            let spec = &obj["spec"];
            let extra: BTreeMap<String, Vec<String>> = spec
                .get("extra")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), strings(Some(v))))
                        .collect()
                })
                .unwrap_or_default();
            let subject = UserInfo {
                name: s(spec, "/user").to_string(),
                uid: s(spec, "/uid").to_string(),
                groups: strings(spec.get("groups")),
                extra,
            };
            access_review(server, &subject, spec)?
        }
        "localsubjectaccessreviews" => {
            let ns = url_ns.unwrap_or_default();
            let spec = &mut obj["spec"];
            if spec
                .get("nonResourceAttributes")
                .is_some_and(|v| !v.is_null())
            {
                return Err(StatusError::bad_request(
                    "disallowed on this kind of request: nonResourceAttributes",
                ));
            }
            match s(spec, "/resourceAttributes/namespace") {
                "" => spec["resourceAttributes"]["namespace"] = json!(ns),
                given if given != ns => {
                    return Err(StatusError::bad_request(format!(
                        "spec.resourceAttributes.namespace must match namespace: {ns}"
                    )));
                }
                _ => {}
            }
            let spec = obj["spec"].clone();
            let subject = UserInfo {
                name: s(&spec, "/user").to_string(),
                uid: s(&spec, "/uid").to_string(),
                groups: strings(spec.get("groups")),
                ..Default::default()
            };
            access_review(server, &subject, &spec)?
        }
        "selfsubjectrulesreview" | "selfsubjectrulesreviews" => {
            rules_review(server, user, s(&obj, "/spec/namespace"))
        }
        other => {
            return Err(StatusError::internal(format!(
                "{other} is not a review resource"
            )));
        }
    };
    obj["status"] = status;
    Ok(obj)
}

async fn token_review(server: &ApiServer, obj: &Value) -> Result<Value, StatusError> {
    let token = s(obj, "/spec/token");
    if token.is_empty() {
        return Err(StatusError::bad_request(
            "token is required for TokenReview in authentication",
        ));
    }
    let wanted = strings(obj.pointer("/spec/audiences"));
    match server
        .authn
        .authenticate_token(&server.registry, token)
        .await
    {
        Ok(a) => {
            // A ServiceAccount token is only good for its own audiences.
            let token_auds = super::jwt::peek_claims(token)
                .ok()
                .map(|c| match c.get("aud") {
                    Some(Value::String(x)) => vec![x.clone()],
                    other => strings(other),
                })
                .filter(|a| !a.is_empty());
            let api = &server.authn.service_accounts.api_audiences;
            let target: Vec<String> = if wanted.is_empty() {
                api.clone()
            } else {
                wanted
            };
            let audiences: Vec<String> = match &token_auds {
                Some(t) => target.iter().filter(|x| t.contains(x)).cloned().collect(),
                None => target.clone(),
            };
            if token_auds.is_some() && audiences.is_empty() {
                return Ok(json!({
                    "authenticated": false,
                    "user": {},
                    "error": "token audiences are invalid for the target audiences",
                }));
            }
            let mut st = json!({
                "authenticated": true,
                "user": a.user.with_authenticated_group().to_json(),
            });
            if !audiences.is_empty() {
                st["audiences"] = json!(audiences);
            }
            Ok(st)
        }
        Err(e) => Ok(json!({"authenticated": false, "user": {}, "error": e})),
    }
}

fn attributes(user: &UserInfo, spec: &Value) -> Result<Attributes, StatusError> {
    if let Some(ra) = spec.get("resourceAttributes").filter(|v| !v.is_null()) {
        let mut a = Attributes::resource(
            user,
            s(ra, "/verb"),
            s(ra, "/group"),
            s(ra, "/resource"),
            s(ra, "/namespace"),
            s(ra, "/name"),
        );
        a.api_version = s(ra, "/version").to_string();
        a.subresource = s(ra, "/subresource").to_string();
        a.field_selector = s(ra, "/fieldSelector/rawSelector").to_string();
        return Ok(a);
    }
    if let Some(nr) = spec.get("nonResourceAttributes").filter(|v| !v.is_null()) {
        return Ok(Attributes::non_resource(
            user,
            s(nr, "/verb"),
            s(nr, "/path"),
        ));
    }
    Err(StatusError::bad_request(
        "exactly one of nonResourceAttributes or resourceAttributes must be specified",
    ))
}

fn access_review(server: &ApiServer, user: &UserInfo, spec: &Value) -> Result<Value, StatusError> {
    let attrs = attributes(user, spec)?;
    let d = server.authz.authorize(&server.registry, &attrs);
    let mut st = json!({"allowed": d.allowed()});
    if matches!(d, super::authz::Decision::Deny(_)) {
        st["denied"] = json!(true);
    }
    if !d.reason().is_empty() {
        st["reason"] = json!(d.reason());
    }
    Ok(st)
}

fn everything() -> (Vec<PolicyRule>, Vec<PolicyRule>) {
    (
        vec![PolicyRule {
            verbs: vec!["*".into()],
            api_groups: vec!["*".into()],
            resources: vec!["*".into()],
            ..Default::default()
        }],
        vec![PolicyRule {
            verbs: vec!["*".into()],
            non_resource_urls: vec!["*".into()],
            ..Default::default()
        }],
    )
}

fn rules_review(server: &ApiServer, user: &UserInfo, namespace: &str) -> Value {
    let modes = server.authz.modes();
    let all_allowed = user.in_group(SYSTEM_PRIVILEGED_GROUP)
        || modes.first() == Some(&Mode::AlwaysAllow)
        || (modes.contains(&Mode::AlwaysAllow) && !modes.contains(&Mode::AlwaysDeny));
    let (resource_rules, non_resource_rules, incomplete) = if all_allowed {
        let (r, n) = everything();
        (r, n, false)
    } else {
        let rules = if modes.contains(&Mode::Rbac) {
            server
                .authz
                .rbac
                .rules_for(&server.registry, user, namespace)
        } else {
            Vec::new()
        };
        let (n, r): (Vec<PolicyRule>, Vec<PolicyRule>) = rules
            .into_iter()
            .partition(|r| !r.non_resource_urls.is_empty());
        // The Node authorizer's answers depend on the object, so a node's
        // list is incomplete, as upstream reports it.
        let incomplete = modes.contains(&Mode::Node) && user.node_name().is_some();
        (r, n, incomplete)
    };
    let resource_rules: Vec<Value> = resource_rules
        .iter()
        .map(|r| {
            let mut v =
                json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources});
            if !r.resource_names.is_empty() {
                v["resourceNames"] = json!(r.resource_names);
            }
            v
        })
        .collect();
    let non_resource_rules: Vec<Value> = non_resource_rules
        .iter()
        .map(|r| json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}))
        .collect();
    json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": incomplete,
    })
}
