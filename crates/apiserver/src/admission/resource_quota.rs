//! ResourceQuota: a create that would push a namespace's usage past a
//! quota's `spec.hard` is refused (upstream's `exceeded quota` message);
//! an admitted one is charged to `status.used`. Usage is recomputed from
//! the watch caches on each admission, so deletions are reflected the next
//! time the quota is charged even without a quota controller. Quotas with
//! `scopes` or a `scopeSelector` are not enforced yet.

use std::collections::BTreeMap;

use corten_apimachinery::{StatusError, meta};
use serde_json::{Value, json};

use super::limit_ranger::{format_milli, milli};
use super::{Operation, Request};
use crate::app::ApiServer;
use crate::registry::store::{self, UpdateTarget, WriteOptions};

/// Usage by quota resource name, in milli-units.
type Usage = BTreeMap<String, i128>;

fn list(server: &ApiServer, storage: &str, ns: &str) -> Vec<Value> {
    server.registry.cached_values(storage, Some(ns))
}

/// The quota names an object of `group/resource` counts against.
fn count_names(group: &str, resource: &str) -> Vec<String> {
    let mut names = vec![if group.is_empty() {
        format!("count/{resource}")
    } else {
        format!("count/{resource}.{group}")
    }];
    if group.is_empty()
        && matches!(
            resource,
            "pods"
                | "services"
                | "configmaps"
                | "secrets"
                | "persistentvolumeclaims"
                | "replicationcontrollers"
                | "resourcequotas"
        )
    {
        names.push(resource.to_string());
    }
    names
}

/// What one object uses.
fn usage_of(group: &str, resource: &str, obj: &Value) -> Usage {
    let mut u = Usage::new();
    if group.is_empty() && resource == "pods" {
        let phase = obj
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("");
        if matches!(phase, "Succeeded" | "Failed") {
            return u;
        }
    }
    for n in count_names(group, resource) {
        u.insert(n, 1000);
    }
    if group.is_empty() && resource == "pods" {
        // Regular containers add up; init containers run one at a time, so
        // the pod needs the larger of the two.
        for kind in ["requests", "limits"] {
            let mut sums: BTreeMap<String, i128> = BTreeMap::new();
            let mut init_max: BTreeMap<String, i128> = BTreeMap::new();
            for (list, is_init) in [("containers", false), ("initContainers", true)] {
                for c in obj
                    .pointer(&format!("/spec/{list}"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    for (r, q) in c
                        .pointer(&format!("/resources/{kind}"))
                        .and_then(Value::as_object)
                        .into_iter()
                        .flatten()
                    {
                        let m = q.as_str().and_then(milli).unwrap_or(0);
                        if is_init {
                            let e = init_max.entry(r.clone()).or_default();
                            *e = (*e).max(m);
                        } else {
                            *sums.entry(r.clone()).or_default() += m;
                        }
                    }
                }
            }
            for (r, m) in init_max {
                let e = sums.entry(r).or_default();
                *e = (*e).max(m);
            }
            for (r, m) in sums {
                u.insert(format!("{kind}.{r}"), m);
                if kind == "requests"
                    && matches!(r.as_str(), "cpu" | "memory" | "ephemeral-storage")
                {
                    u.insert(r, m);
                }
            }
        }
    }
    if group.is_empty() && resource == "services" {
        match obj.pointer("/spec/type").and_then(Value::as_str) {
            Some("NodePort") | Some("LoadBalancer") => {
                let ports = obj
                    .pointer("/spec/ports")
                    .and_then(Value::as_array)
                    .map(Vec::len)
                    .unwrap_or(0);
                u.insert("services.nodeports".into(), ports as i128 * 1000);
                if obj.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer") {
                    u.insert("services.loadbalancers".into(), 1000);
                }
            }
            _ => {}
        }
    }
    if group.is_empty()
        && resource == "persistentvolumeclaims"
        && let Some(m) = obj
            .pointer("/spec/resources/requests/storage")
            .and_then(Value::as_str)
            .and_then(milli)
    {
        u.insert("requests.storage".into(), m);
    }
    u
}

fn storage_name(group: &str, resource: &str) -> Option<&'static str> {
    corten_api::builtin_resources()
        .iter()
        .find(|d| d.group == group && d.resource == resource)
        .map(|d| d.storage_resource)
}

fn pretty(u: &Usage) -> String {
    u.iter()
        .map(|(k, v)| format!("{k}={}", format_milli(k, *v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Containers missing a constrained compute resource (`must specify`).
fn missing_specs(hard: &BTreeMap<String, i128>, pod: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for key in [
        "limits.cpu",
        "limits.memory",
        "requests.cpu",
        "requests.memory",
        "cpu",
        "memory",
    ] {
        if !hard.contains_key(key) {
            continue;
        }
        let (kind, r) = key.split_once('.').unwrap_or(("requests", key));
        let missing: Vec<String> = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|c| c.pointer(&format!("/resources/{kind}/{r}")).is_none())
            .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
            .collect();
        if !missing.is_empty() {
            out.push(format!("{key} for: {}", missing.join(",")));
        }
    }
    out
}

/// Checks and charges the namespace's quotas.
pub async fn validate(
    server: &ApiServer,
    req: &Request<'_>,
    obj: &Value,
    _old: Option<&Value>,
) -> Result<(), StatusError> {
    if req.operation != Operation::Create || !req.subresource.is_empty() || req.namespace.is_empty()
    {
        return Ok(());
    }
    let quotas: Vec<Value> = list(server, "resourcequotas", req.namespace)
        .into_iter()
        .filter(|q| {
            q.pointer("/spec/scopes").is_none() && q.pointer("/spec/scopeSelector").is_none()
        })
        .collect();
    if quotas.is_empty() {
        return Ok(());
    }
    let delta = usage_of(req.group, req.resource, obj);
    let Some(storage) = storage_name(req.group, req.resource) else {
        return Ok(());
    };
    let mut used = Usage::new();
    for existing in list(server, storage, req.namespace) {
        for (k, v) in usage_of(req.group, req.resource, &existing) {
            *used.entry(k).or_default() += v;
        }
    }
    let mut charge = Vec::new();
    for q in &quotas {
        let name = meta::name(q).unwrap_or_default().to_string();
        let hard: BTreeMap<String, i128> = q
            .pointer("/spec/hard")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), milli(v.as_str()?)?)))
                    .collect()
            })
            .unwrap_or_default();
        if req.is("", "pods") {
            let missing = missing_specs(&hard, obj);
            if !missing.is_empty() {
                return Err(req.forbidden(&format!(
                    "failed quota: {name}: must specify {}",
                    missing.join("; ")
                )));
            }
        }
        let (mut requested, mut cur, mut limited) = (Usage::new(), Usage::new(), Usage::new());
        for (k, h) in &hard {
            let Some(d) = delta.get(k).filter(|d| **d > 0) else {
                continue;
            };
            let u = used.get(k).copied().unwrap_or(0);
            if u + d > *h {
                requested.insert(k.clone(), *d);
                cur.insert(k.clone(), u);
                limited.insert(k.clone(), *h);
            }
        }
        if !requested.is_empty() {
            return Err(req.forbidden(&format!(
                "exceeded quota: {name}, requested: {}, used: {}, limited: {}",
                pretty(&requested),
                pretty(&cur),
                pretty(&limited)
            )));
        }
        if hard.keys().any(|k| delta.contains_key(k)) {
            let mut new_used = serde_json::Map::new();
            for k in hard.keys() {
                let total = used.get(k).copied().unwrap_or(0) + delta.get(k).copied().unwrap_or(0);
                new_used.insert(k.clone(), json!(format_milli(k, total)));
            }
            charge.push((name, new_used));
        }
    }
    if req.dry_run {
        return Ok(());
    }
    let reg = &server.registry;
    let Some(res) = reg.resource("", "v1", "resourcequotas") else {
        return Ok(());
    };
    for (name, used) in charge {
        let Ok(bytes) = store::get(reg, &res, Some(req.namespace), &name, None).await else {
            continue;
        };
        let Ok(mut q) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        let hard = q.pointer("/spec/hard").cloned().unwrap_or(json!({}));
        q["status"] = json!({"hard": hard, "used": used});
        let opts = WriteOptions::default();
        if let Err(e) = store::update(
            reg,
            &res,
            Some(req.namespace),
            &name,
            q,
            UpdateTarget::Status,
            &opts,
        )
        .await
        {
            tracing::warn!(quota = %name, error = %e.message, "charging quota");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_usage_counts_requests_and_limits() {
        let pod = json!({"spec": {
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1"}}},
                {"name": "b", "resources": {"requests": {"cpu": "200m"}}},
            ],
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "500m"}}}],
        }});
        let u = usage_of("", "pods", &pod);
        assert_eq!(u["pods"], 1000);
        assert_eq!(u["count/pods"], 1000);
        assert_eq!(format_milli("cpu", u["requests.cpu"]), "500m");
        assert_eq!(format_milli("memory", u["requests.memory"]), "64Mi");
        assert_eq!(format_milli("cpu", u["limits.cpu"]), "1");
        let done = json!({"status": {"phase": "Succeeded"}});
        assert!(usage_of("", "pods", &done).is_empty());
        assert_eq!(
            usage_of("apps", "deployments", &json!({}))["count/deployments.apps"],
            1000
        );
        let mut hard = BTreeMap::new();
        hard.insert("limits.cpu".to_string(), 1000);
        assert_eq!(missing_specs(&hard, &pod), ["limits.cpu for: b"]);
    }
}
