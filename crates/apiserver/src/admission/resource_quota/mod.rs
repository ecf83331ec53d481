//! ResourceQuota admission, as upstream's plugin: a write that adds usage
//! in a namespace with quotas is checked against each matching quota's
//! `status.hard` and charged to its `status.used` before the object is
//! stored.
//!
//! - A quota applies when its `status.hard` names a resource the object's
//!   kind is counted under ([`evaluator`]) and the object falls within its
//!   scopes. A quota the controller has not synced yet (empty
//!   `status.hard`) does not apply, as upstream.
//! - Refusals (403): `failed quota: <q>: must specify ...` (pods missing
//!   a constrained request/limit), `status unknown for quota: <q>,
//!   resources: ...` (`status.used` lacks a constrained resource),
//!   `exceeded quota: <q>, requested: ..., used: ..., limited: ...`.
//! - Updates are charged by what they add (never negative).
//! - The new usage is written with a compare-and-swap status update that
//!   re-checks against the stored quota on every attempt, so usage never
//!   passes `hard` even with several apiservers; within one apiserver the
//!   writes of a namespace are serialized ([`QuotaLocks`]), which keeps
//!   concurrent creates from retrying against each other. Usage is given
//!   back by the resourcequota controller, not here.

pub mod amount;
pub mod evaluator;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use corten_apimachinery::{StatusError, meta};
use corten_storage::UpdateDecision;
use serde_json::Value;

use self::amount::{ResourceList, add, mask, pretty, subtract_non_negative};
use self::evaluator::{Evaluator, quota_scopes};
use super::{Operation, Request};
use crate::app::ApiServer;
use crate::registry::store::{self, UpdateTarget, WriteOptions};

/// One lock per namespace whose quotas are being charged.
#[derive(Debug, Default)]
pub struct QuotaLocks {
    by_namespace: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl QuotaLocks {
    fn get(&self, namespace: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.by_namespace.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(namespace.to_string()).or_default().clone()
    }

    /// Forgets the namespace's lock when nobody else holds or waits for it.
    fn release(&self, namespace: &str, lock: Arc<tokio::sync::Mutex<()>>) {
        let mut map = self.by_namespace.lock().unwrap_or_else(|e| e.into_inner());
        // Only the map and `lock` hold it: no other request can reach it
        // without the map's mutex, which we hold.
        if Arc::strong_count(&lock) == 2 {
            map.remove(namespace);
        }
    }
}

/// Whether a quota of the namespace will judge `req`'s object (see
/// [`super::Chain::reads_defaults`]).
pub fn judges(server: &ApiServer, req: &Request<'_>) -> bool {
    req.subresource.is_empty()
        && !req.namespace.is_empty()
        && Evaluator::for_resource(req.group, req.resource)
            .is_some_and(|e| e.handles(req.operation))
        && server
            .registry
            .has_cached("resourcequotas", Some(req.namespace))
}

/// Checks and charges the namespace's quotas for a create or update.
pub async fn validate(
    server: &ApiServer,
    locks: &QuotaLocks,
    req: &Request<'_>,
    obj: &Value,
    old: Option<&Value>,
) -> Result<(), StatusError> {
    // Subresources (status, binding, eviction, ...) never change usage,
    // but for an in-place resize (upstream podEvaluator.Handles: pods
    // on create, pods/resize on update).
    let resize = req.subresource == "resize" && req.is_subresource_of("", "pods");
    if (!req.subresource.is_empty() && !resize) || req.namespace.is_empty() {
        return Ok(());
    }
    let Some(eval) = Evaluator::for_resource(req.group, req.resource) else {
        return Ok(());
    };
    let handled = eval.handles(req.operation) || resize && req.operation == Operation::Update;
    if !handled {
        return Ok(());
    }
    // The hot path: no quota in the namespace, nothing to do.
    let reg = &server.registry;
    if reg
        .cached_values("resourcequotas", Some(req.namespace))
        .is_empty()
    {
        return Ok(());
    }
    let lock = locks.get(req.namespace);
    let result = {
        let _held = lock.lock().await;
        check_and_charge(server, req, &eval, obj, old).await
    };
    locks.release(req.namespace, lock);
    result
}

async fn check_and_charge(
    server: &ApiServer,
    req: &Request<'_>,
    eval: &Evaluator,
    obj: &Value,
    old: Option<&Value>,
) -> Result<(), StatusError> {
    let reg = &server.registry;
    // The cache catches up with etcd first: a quota the controller synced
    // (or we charged) a moment ago is seen as it is.
    let quotas =
        crate::registry::lookup::consistent_values(reg, "resourcequotas", req.namespace).await?;
    let mut interesting = Vec::new();
    for q in &quotas {
        if applies(eval, req, obj, q)? {
            interesting.push(q);
        }
    }
    if interesting.is_empty() {
        return Ok(());
    }
    let delta = delta(eval, req, obj, old)?;
    if delta.is_empty() {
        return Ok(());
    }
    for q in &interesting {
        charged_usage(req, q, &delta)?;
    }
    if req.dry_run {
        return Ok(());
    }
    let Some(res) = reg.resource("", "v1", "resourcequotas") else {
        return Ok(());
    };
    for q in interesting {
        let name = meta::name(q).unwrap_or_default();
        let key = crate::registry::keys::object_key(res.def, Some(req.namespace), name);
        let opts = WriteOptions::default();
        // Compare-and-swap: every attempt judges the stored quota again.
        let written = store::update_computed(reg, &res, &key, name, false, |kv| {
            let current = store::decode_stored(kv)?;
            if !applies(eval, req, obj, &current)? {
                return Ok((UpdateDecision::Unchanged, current));
            }
            let used = charged_usage(req, &current, &delta)?;
            let mut new = current.clone();
            new["status"]["used"] = amount::to_json(&used);
            store::decide_update(&res, &current, new, UpdateTarget::Status, &opts)
        })
        .await;
        match written {
            Ok(_) => {}
            // Deleted meanwhile: it no longer limits anything.
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Whether `quota` constrains this object (upstream `Matches` plus the
/// constraint and usage-stats checks that refuse outright).
fn applies(
    eval: &Evaluator,
    req: &Request<'_>,
    obj: &Value,
    quota: &Value,
) -> Result<bool, StatusError> {
    let name = meta::name(quota).unwrap_or_default();
    let hard = amount::from_json(quota.pointer("/status/hard"));
    let restricted = eval.matching(hard.keys());
    if restricted.is_empty() {
        return Ok(false);
    }
    let in_scope = eval
        .matches_scopes(&quota_scopes(quota), obj)
        .map_err(|e| {
            StatusError::internal(format!("error matching scopes of quota {name}, err: {e}"))
        })?;
    if !in_scope {
        return Ok(false);
    }
    if let Err(e) = eval.constraints(&restricted, obj) {
        return Err(req.forbidden(&format!("failed quota: {name}: {e}")));
    }
    let used = amount::from_json(quota.pointer("/status/used"));
    if restricted.iter().any(|r| !used.contains_key(r)) {
        return Err(req.forbidden(&format!(
            "status unknown for quota: {name}, resources: {}",
            restricted.join(",")
        )));
    }
    Ok(true)
}

/// What the write adds: the object's usage, less the old object's on an
/// update (never negative), zeros dropped.
fn delta(
    eval: &Evaluator,
    req: &Request<'_>,
    obj: &Value,
    old: Option<&Value>,
) -> Result<ResourceList, StatusError> {
    let mut d = eval.usage(obj);
    let negative: Vec<&str> = d
        .iter()
        .filter(|(_, a)| a.milli < 0)
        .map(|(k, _)| k.as_str())
        .collect();
    if !negative.is_empty() {
        return Err(req.forbidden(&format!(
            "quota usage is negative for resource(s): {}",
            negative.join(",")
        )));
    }
    // An update of an object that exists is charged by the difference; one
    // that creates (no stored resourceVersion) pays in full.
    if req.operation == Operation::Update
        && let Some(old) =
            old.filter(|o| meta::resource_version(o).is_some_and(|rv| !rv.is_empty()))
    {
        d = subtract_non_negative(&d, &eval.usage(old));
    }
    d.retain(|_, a| a.milli != 0);
    Ok(d)
}

/// The quota's `status.used` after charging `delta`, or the upstream
/// refusal when that passes `status.hard`.
fn charged_usage(
    req: &Request<'_>,
    quota: &Value,
    delta: &ResourceList,
) -> Result<ResourceList, StatusError> {
    let hard = amount::from_json(quota.pointer("/status/hard"));
    let used = amount::from_json(quota.pointer("/status/used"));
    let requested = mask(delta, hard.keys());
    let new_used = add(&used, &requested);
    let exceeded: Vec<String> = requested
        .keys()
        .filter(|k| new_used[*k].milli > hard[*k].milli)
        .cloned()
        .collect();
    if !exceeded.is_empty() {
        let name = meta::name(quota).unwrap_or_default();
        return Err(req.forbidden(&format!(
            "exceeded quota: {name}, requested: {}, used: {}, limited: {}",
            pretty(&mask(&requested, &exceeded)),
            pretty(&mask(&used, &exceeded)),
            pretty(&mask(&hard, &exceeded))
        )));
    }
    Ok(new_used)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::UserInfo;
    use serde_json::json;

    fn request<'a>(user: &'a UserInfo, op: Operation) -> Request<'a> {
        Request {
            user,
            operation: op,
            group: "",
            resource: "pods",
            subresource: "",
            namespace: "ns",
            name: "p",
            dry_run: false,
        }
    }

    fn quota(hard: Value, used: Value) -> Value {
        json!({"metadata": {"name": "q"}, "spec": {"hard": hard},
               "status": {"hard": hard, "used": used}})
    }

    #[test]
    fn charges_refuses_and_reports_like_upstream() {
        let user = UserInfo::default();
        let req = request(&user, Operation::Create);
        let pod = json!({"spec": {"containers": [{"name": "c",
            "resources": {"requests": {"cpu": "500m"}, "limits": {"cpu": "1"}}}]}});
        let eval = Evaluator::Pods;
        let q = quota(
            json!({"pods": "2", "requests.cpu": "1"}),
            json!({"pods": "1", "requests.cpu": "250m"}),
        );
        assert!(applies(&eval, &req, &pod, &q).unwrap());
        let d = delta(&eval, &req, &pod, None).unwrap();
        let used = charged_usage(&req, &q, &d).unwrap();
        assert_eq!(pretty(&used), "pods=2,requests.cpu=750m");

        let full = quota(json!({"pods": "2"}), json!({"pods": "2"}));
        let err = charged_usage(&req, &full, &d).unwrap_err();
        assert_eq!(
            err.message,
            "pods \"p\" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"
        );

        let unsynced = quota(
            json!({"pods": "2", "count/pods": "5"}),
            json!({"pods": "0"}),
        );
        let err = applies(&eval, &req, &pod, &unsynced).unwrap_err();
        assert_eq!(err.code, 403);
        assert!(
            err.message
                .ends_with("status unknown for quota: q, resources: count/pods,pods"),
            "{}",
            err.message
        );
        // Not synced at all (no status.hard): not enforced, as upstream.
        let fresh = json!({"metadata": {"name": "q"}, "spec": {"hard": {"pods": "1"}}});
        assert!(!applies(&eval, &req, &pod, &fresh).unwrap());

        let memory = quota(
            json!({"limits.memory": "1Gi"}),
            json!({"limits.memory": "0"}),
        );
        let err = applies(&eval, &req, &pod, &memory).unwrap_err();
        assert!(
            err.message
                .ends_with("failed quota: q: must specify limits.memory for: c"),
            "{}",
            err.message
        );
    }

    #[test]
    fn updates_pay_only_what_they_add() {
        let user = UserInfo::default();
        let req = Request {
            resource: "services",
            ..request(&user, Operation::Update)
        };
        let eval = Evaluator::Services;
        let old = json!({"metadata": {"resourceVersion": "5"}, "spec": {"type": "ClusterIP", "ports": [{"port": 1}]}});
        let new = json!({"spec": {"type": "NodePort", "ports": [{"port": 1}]}});
        let d = delta(&eval, &req, &new, Some(&old)).unwrap();
        assert_eq!(pretty(&d), "services.nodeports=1");
        let back = delta(&eval, &req, &old, Some(&json!({"metadata": {"resourceVersion": "6"}, "spec": {"type": "NodePort", "ports": [{"port": 1}]}}))).unwrap();
        assert!(back.is_empty());
    }
}
