//! PodSecurity: the Pod Security Standards (privileged, baseline,
//! restricted) chosen per namespace by the `pod-security.kubernetes.io/`
//! labels, as upstream's built-in `pod-security-admission`:
//!
//! - pods, on create and on significant updates (an image, a seccomp
//!   annotation, the number of containers or a new ephemeral container;
//!   everything else in a pod spec is immutable): `enforce` refuses,
//!   `warn` returns `Warning` headers;
//! - workload pod templates, on create and update: warnings only;
//! - namespaces: bad labels are refused (422), and a label change that
//!   tightens `enforce` warns about the existing pods that would now be
//!   refused.
//!
//! The request's audit event gets upstream's annotations:
//! `pod-security.kubernetes.io/enforce-policy` (pods),
//! `pod-security.kubernetes.io/audit-violations` (the `audit` level's
//! violations) and `pod-security.kubernetes.io/error` (bad labels).

pub mod checks;
pub mod config;
pub mod metrics;
pub mod policy;

use std::collections::HashMap;

use corten_apimachinery::{GroupKind, StatusError, meta};
use serde_json::Value;

pub use self::checks::{Level, check};
use self::config::Exemption;
pub use self::config::PodSecurityConfig;
use self::metrics::{Decision, Mode};
use self::policy::{LevelVersion, Policy, policy_to_evaluate};
use super::{Operation, Request};
use crate::app::ApiServer;
use crate::registry::lookup::consistent_get;

/// At most this many existing pods are checked when a namespace's enforce
/// level tightens (upstream's `namespaceMaxPodsToCheck`).
pub const MAX_PODS_TO_CHECK: usize = 3000;

/// Pod subresources PodSecurity never looks at; any other (the pod itself,
/// `ephemeralcontainers`, `resize`) can change the pod spec.
const IGNORED_POD_SUBRESOURCES: &[&str] = &[
    "exec",
    "attach",
    "binding",
    "eviction",
    "log",
    "portforward",
    "proxy",
    "status",
];

/// Whether a write to this pod subresource is judged.
pub fn judges_pod_subresource(subresource: &str) -> bool {
    !IGNORED_POD_SUBRESOURCES.contains(&subresource)
}

/// The pod spec of a workload's pod template.
fn template_spec<'a>(req: &Request<'_>, obj: &'a Value) -> Option<&'a Value> {
    match (req.group, req.resource) {
        ("", "replicationcontrollers" | "podtemplates")
        | ("apps", "deployments" | "replicasets" | "statefulsets" | "daemonsets")
        | ("batch", "jobs") => obj
            .pointer("/spec/template/spec")
            .or_else(|| obj.pointer("/template/spec")),
        ("batch", "cronjobs") => obj.pointer("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// Audit annotation keys (upstream `api.AuditAnnotationPrefix` + key).
pub const ENFORCE_POLICY_ANNOTATION: &str = "pod-security.kubernetes.io/enforce-policy";
/// The `audit` level's violations.
pub const AUDIT_VIOLATIONS_ANNOTATION: &str = "pod-security.kubernetes.io/audit-violations";
/// Unparsable namespace labels.
pub const ERROR_ANNOTATION: &str = "pod-security.kubernetes.io/error";

/// Receives audit annotations (key, value) for the request's event.
pub type Annotate<'a> = &'a (dyn Fn(&str, String) + Send + Sync);

/// Why a request was exempt (`namespace`, `user`, `runtimeClass`).
pub const EXEMPT_ANNOTATION: &str = "pod-security.kubernetes.io/exempt";

/// Enforces and warns; returns the warnings.
pub async fn validate(
    server: &ApiServer,
    config: &PodSecurityConfig,
    req: &Request<'_>,
    obj: &Value,
    old: Option<&Value>,
    annotate: Annotate<'_>,
) -> Result<Vec<String>, StatusError> {
    if !matches!(req.operation, Operation::Create | Operation::Update) {
        return Ok(Vec::new());
    }
    let pods = req.group.is_empty() && req.resource == "pods";
    let namespaces = req.group.is_empty() && req.resource == "namespaces";
    if namespaces {
        return validate_namespace(server, config, req, obj, old, annotate);
    }
    if pods && !judges_pod_subresource(req.subresource) {
        return Ok(Vec::new());
    }
    if !pods && !req.subresource.is_empty() {
        return Ok(Vec::new());
    }
    // Workloads without a pod template are out of scope (not counted).
    let spec = if pods {
        obj.get("spec").unwrap_or(&Value::Null)
    } else {
        match template_spec(req, obj) {
            Some(spec) => spec,
            None => return Ok(Vec::new()),
        }
    };
    if let Some(why) = exemption(config, req) {
        return Ok(exempt(req, why, annotate));
    }
    let Some(policy) = namespace_policy(server, config, req, annotate).await else {
        return Ok(Vec::new());
    };
    if pods {
        let privileged = |lv: &LevelVersion| lv.level == Level::Privileged;
        if privileged(&policy.enforce) && privileged(&policy.audit) && privileged(&policy.warn) {
            annotate(ENFORCE_POLICY_ANNOTATION, policy.enforce.to_string());
            metrics::record_evaluation(req, Decision::Allow, &policy.enforce, Mode::Enforce);
            return Ok(Vec::new());
        }
        if req.operation == Operation::Update
            && let Some(old) = old
            && !significant_pod_update(obj, old)
        {
            return Ok(Vec::new());
        }
    }
    if config.exempt_runtime_class(spec) {
        return Ok(exempt(req, Exemption::RuntimeClass, annotate));
    }
    evaluate(req, &policy, spec, pods, annotate)
}

/// The namespace or user exemption of a request, if any (upstream checks
/// the namespace first).
fn exemption(config: &PodSecurityConfig, req: &Request<'_>) -> Option<Exemption> {
    if config.exempt_namespace(req.namespace) {
        Some(Exemption::Namespace)
    } else if config.exempt_user(&req.user.name) {
        Some(Exemption::User)
    } else {
        None
    }
}

fn exempt(req: &Request<'_>, why: Exemption, annotate: Annotate<'_>) -> Vec<String> {
    metrics::record_exemption(req);
    annotate(EXEMPT_ANNOTATION, why.as_str().into());
    Vec::new()
}

async fn namespace_policy(
    server: &ApiServer,
    config: &PodSecurityConfig,
    req: &Request<'_>,
    annotate: Annotate<'_>,
) -> Option<Policy> {
    let ns = req.namespace;
    if ns.is_empty() {
        return None;
    }
    // The cache holds the labels already extracted.
    let namespace = consistent_get(&server.registry, "namespaces", &format!("namespaces/{ns}"))
        .await
        .ok()??;
    // Label errors were refused when the labels were written; the
    // fallbacks (enforce fails closed) apply to anything older.
    let (policy, errs) = policy_to_evaluate(&namespace.labels, &config.defaults);
    if !errs.is_empty() {
        let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        let shown = match shown.len() {
            1 => shown[0].clone(),
            _ => format!("[{}]", shown.join(", ")),
        };
        annotate(ERROR_ANNOTATION, format!("Failed to parse policy: {shown}"));
        metrics::record_error(req, false);
    }
    Some(policy)
}

/// Upstream `EvaluatePod`: enforce (pods only), audit, then warn if
/// allowed.
fn evaluate(
    req: &Request<'_>,
    policy: &Policy,
    spec: &Value,
    enforce: bool,
    annotate: Annotate<'_>,
) -> Result<Vec<String>, StatusError> {
    let mut refusal = None;
    if enforce {
        annotate(ENFORCE_POLICY_ANNOTATION, policy.enforce.to_string());
        let violations = check(spec, policy.enforce.level);
        let decision = if violations.is_empty() {
            Decision::Allow
        } else {
            refusal = Some(req.forbidden(&format!(
                "violates PodSecurity \"{}\": {}",
                policy.enforce,
                violations.join(", ")
            )));
            Decision::Deny
        };
        metrics::record_evaluation(req, decision, &policy.enforce, Mode::Enforce);
    }
    let violations = check(spec, policy.audit.level);
    if !violations.is_empty() {
        annotate(
            AUDIT_VIOLATIONS_ANNOTATION,
            format!(
                "would violate PodSecurity \"{}\": {}",
                policy.audit,
                violations.join(", ")
            ),
        );
        metrics::record_evaluation(req, Decision::Deny, &policy.audit, Mode::Audit);
    }
    // No warnings on a request that is refused anyway.
    if let Some(e) = refusal {
        return Err(e);
    }
    let violations = check(spec, policy.warn.level);
    if violations.is_empty() {
        return Ok(Vec::new());
    }
    metrics::record_evaluation(req, Decision::Deny, &policy.warn, Mode::Warn);
    Ok(vec![format!(
        "would violate PodSecurity \"{}\": {}",
        policy.warn,
        violations.join(", ")
    )])
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// Upstream `isSignificantPodUpdate`: only what can change in a stored
/// pod and matters to a check (images, seccomp annotations, containers
/// added through `ephemeralcontainers`).
pub fn significant_pod_update(pod: &Value, old: &Value) -> bool {
    const POD_SECCOMP: &str = "seccomp.security.alpha.kubernetes.io/pod";
    const CONTAINER_SECCOMP: &str = "container.seccomp.security.alpha.kubernetes.io/";
    if annotation(pod, POD_SECCOMP) != annotation(old, POD_SECCOMP) {
        return true;
    }
    let list = |o: &Value, k: &str| -> Vec<Value> {
        o.pointer(&format!("/spec/{k}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let changed = |c: &Value, oc: &Value| {
        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
        let key = format!("{CONTAINER_SECCOMP}{name}");
        c.get("image") != oc.get("image") || annotation(pod, &key) != annotation(old, &key)
    };
    for kind in ["containers", "initContainers"] {
        let (new, before) = (list(pod, kind), list(old, kind));
        if new.len() != before.len() || new.iter().zip(&before).any(|(c, oc)| changed(c, oc)) {
            return true;
        }
    }
    let before = list(old, "ephemeralContainers");
    list(pod, "ephemeralContainers").iter().any(|c| {
        match before.iter().find(|oc| oc.get("name") == c.get("name")) {
            None => true,
            Some(oc) => changed(c, oc),
        }
    })
}

fn validate_namespace(
    server: &ApiServer,
    config: &PodSecurityConfig,
    req: &Request<'_>,
    obj: &Value,
    old: Option<&Value>,
    annotate: Annotate<'_>,
) -> Result<Vec<String>, StatusError> {
    if !req.subresource.is_empty() {
        return Ok(Vec::new());
    }
    let (policy, errs) = policy_to_evaluate(&meta::labels(obj), &config.defaults);
    let invalid = || StatusError::invalid(&GroupKind::new("", "Namespace"), req.name, &errs);
    let old_policy = match (req.operation, old) {
        (Operation::Update, Some(old)) => {
            let (old_policy, old_errs) = policy_to_evaluate(&meta::labels(old), &config.defaults);
            // Labels that were already bad may stay as they are.
            let text = |l: &corten_apimachinery::ErrorList| -> Vec<String> {
                l.iter().map(|e| e.to_string()).collect()
            };
            if !errs.is_empty() && (old_errs.is_empty() || text(&errs) != text(&old_errs)) {
                return Err(invalid());
            }
            old_policy
        }
        _ => {
            return if errs.is_empty() {
                Ok(Vec::new())
            } else {
                Err(invalid())
            };
        }
    };
    let (new, before) = (&policy.enforce, &old_policy.enforce);
    if new == before
        || new.level == Level::Privileged
        || (new.version == before.version && new.level <= before.level)
    {
        return Ok(Vec::new());
    }
    // The namespace being updated is the request's namespace.
    if config.exempt_namespace(req.name) {
        annotate(EXEMPT_ANNOTATION, Exemption::Namespace.as_str().into());
        return Ok(Vec::new());
    }
    Ok(existing_pod_warnings(server, config, req.name, new))
}

/// Upstream `EvaluatePodsInNamespace`: one warning per distinct violation,
/// naming the first pod (by name) and how many others share it. Pods of
/// controllers not seen yet are checked first, so the limit of pods
/// checked covers as many workloads as possible.
fn existing_pod_warnings(
    server: &ApiServer,
    config: &PodSecurityConfig,
    ns: &str,
    enforce: &LevelVersion,
) -> Vec<String> {
    if server.registry.cache("pods").is_none() {
        return vec!["failed to list pods while checking new PodSecurity enforce level".into()];
    }
    let pods = prioritise(server.registry.cached_values("pods", Some(ns)));
    let total = pods.len();
    let mut first_seen: Vec<String> = Vec::new();
    let mut seen: HashMap<String, (String, usize)> = HashMap::new();
    for pod in pods.iter().take(MAX_PODS_TO_CHECK) {
        let spec = pod.get("spec").unwrap_or(&Value::Null);
        if config.exempt_runtime_class(spec) {
            continue;
        }
        let violations = check(spec, enforce.level);
        if violations.is_empty() {
            continue;
        }
        let reason = violations.join(", ");
        let name = meta::name(pod).unwrap_or_default().to_string();
        match seen.get_mut(&reason) {
            Some((first, count)) => {
                if name < *first {
                    *first = name;
                }
                *count += 1;
            }
            None => {
                first_seen.push(reason.clone());
                seen.insert(reason, (name, 1));
            }
        }
    }
    let mut warnings = Vec::new();
    if total > MAX_PODS_TO_CHECK {
        warnings.push(format!(
            "new PodSecurity enforce level only checked against the first {MAX_PODS_TO_CHECK} of {total} existing pods"
        ));
    }
    if !first_seen.is_empty() {
        warnings.push(format!(
            "existing pods in namespace {ns:?} violate the new PodSecurity enforce level \"{enforce}\""
        ));
    }
    let mut pods: Vec<String> = first_seen
        .iter()
        .map(|reason| {
            let (name, count) = &seen[reason];
            match count {
                1 => format!("{name}: {reason}"),
                2 => format!("{name} (and 1 other pod): {reason}"),
                n => format!("{name} (and {} other pods): {reason}", n - 1),
            }
        })
        .collect();
    pods.sort();
    warnings.extend(pods);
    warnings
}

/// Upstream `prioritisePods`: pods without a controller and the first pod
/// of each controller, then the other replicas.
fn prioritise(pods: Vec<Value>) -> Vec<Value> {
    let mut controllers = std::collections::HashSet::new();
    let (mut first, mut replicas) = (Vec::new(), Vec::new());
    for pod in pods {
        let controller = pod
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .and_then(|refs| {
                refs.iter()
                    .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
            })
            .and_then(|r| r.get("uid").and_then(Value::as_str))
            .map(str::to_string);
        match controller {
            Some(uid) if controllers.contains(&uid) => replicas.push(pod),
            Some(uid) => {
                controllers.insert(uid);
                first.push(pod);
            }
            None => first.push(pod),
        }
    }
    first.extend(replicas);
    first
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_images_seccomp_and_container_sets_are_significant() {
        let old = json!({
            "metadata": {"labels": {"a": "1"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], "activeDeadlineSeconds": 30},
        });
        let mut new = old.clone();
        new["metadata"]["labels"]["a"] = json!("2");
        new["spec"]["activeDeadlineSeconds"] = json!(20);
        new["spec"]["tolerations"] = json!([{"key": "k", "operator": "Exists"}]);
        assert!(!significant_pod_update(&new, &old));
        let mut image = old.clone();
        image["spec"]["containers"][0]["image"] = json!("busybox:2");
        assert!(significant_pod_update(&image, &old));
        let mut seccomp = old.clone();
        seccomp["metadata"]["annotations"] =
            json!({"container.seccomp.security.alpha.kubernetes.io/c": "unconfined"});
        assert!(significant_pod_update(&seccomp, &old));
        let mut debug = old.clone();
        debug["spec"]["ephemeralContainers"] = json!([{"name": "dbg", "image": "busybox"}]);
        assert!(significant_pod_update(&debug, &old));
        assert!(!significant_pod_update(&debug, &debug));
    }

    #[test]
    fn one_pod_per_controller_comes_first() {
        let pod = |name: &str, owner: Option<&str>| {
            let mut p = json!({"metadata": {"name": name}});
            if let Some(uid) = owner {
                p["metadata"]["ownerReferences"] = json!([{"uid": uid, "controller": true}]);
            }
            p
        };
        let order: Vec<Value> = prioritise(vec![
            pod("a-1", Some("a")),
            pod("a-2", Some("a")),
            pod("b-1", Some("b")),
            pod("solo", None),
        ]);
        let names: Vec<&str> = order.iter().filter_map(|p| meta::name(p)).collect();
        assert_eq!(names, ["a-1", "b-1", "solo", "a-2"]);
    }

    #[test]
    fn ignored_subresources_are_upstreams() {
        assert!(judges_pod_subresource(""));
        assert!(judges_pod_subresource("ephemeralcontainers"));
        assert!(judges_pod_subresource("resize"));
        assert!(!judges_pod_subresource("status"));
        assert!(!judges_pod_subresource("binding"));
    }
}
