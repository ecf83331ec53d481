//! `apiextensions.k8s.io/v1` CustomResourceDefinitions as a served
//! built-in resource: its [`ResourceDef`] and REST strategy (defaulting and
//! validation from `corten-apiextensions`), and the delete that adds the
//! `customresourcecleanup.apiextensions.k8s.io` finalizer.

use corten_api::{ResourceDef, Strategy, Subresource};
use corten_apimachinery::{ErrorList, StatusError, meta, time};
use corten_storage::{KeyValue, UpdateDecision, UpdateOutcome};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

use crate::registry::delete::{self, DeleteOptions, Deleted};
use crate::registry::keys::object_key;
use crate::registry::store::{StepError, decode_stored, encode_for_storage, storage_error};
use crate::registry::{Registry, Resource, convert};

/// The API group of CRDs.
pub const GROUP: &str = "apiextensions.k8s.io";

/// The finalizer that makes a CRD wait until its objects are gone.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// The REST strategy of CustomResourceDefinitions.
pub struct CrdStrategy;

impl Strategy for CrdStrategy {
    fn canonicalize(&self, obj: Value) -> Result<Value, String> {
        let mut out = corten_api::typed::round_trip::<CustomResourceDefinition>(obj)?;
        integral_bounds(&mut out);
        Ok(out)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        corten_apiextensions::prepare_crd_for_create(obj);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        corten_apiextensions::prepare_crd_for_update(new, old);
    }

    fn default(&self, obj: &mut Value) {
        corten_apiextensions::default_crd(obj);
    }

    fn validate(&self, obj: &Value) -> ErrorList {
        corten_apiextensions::validate_crd(obj)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ErrorList {
        corten_apiextensions::validate_crd_update(new, old)
    }

    fn validate_status_update(&self, new: &Value, old: &Value) -> ErrorList {
        corten_apimachinery::names::validate_object_meta_update(
            new,
            old,
            false,
            self.name_validator(),
            &corten_apimachinery::Path::new("metadata"),
        )
    }
}

/// The typed form holds `maximum`, `minimum` and `multipleOf` as `f64`,
/// which serializes `10` as `10.0`; Go writes `10`. Integral values are
/// written back as integers.
fn integral_bounds(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if matches!(k.as_str(), "maximum" | "minimum" | "multipleOf")
                    && let Some(f) = child.as_f64()
                    && child.is_f64()
                    && f.fract() == 0.0
                    && f.abs() < 9.0e15
                {
                    *child = Value::from(f as i64);
                } else {
                    integral_bounds(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_bounds),
        _ => {}
    }
}

/// The served definition of `customresourcedefinitions`.
pub static CRD_DEF: ResourceDef = ResourceDef {
    group: GROUP,
    version: "v1",
    resource: "customresourcedefinitions",
    singular: "customresourcedefinition",
    kind: "CustomResourceDefinition",
    namespaced: false,
    short_names: &["crd", "crds"],
    categories: &["api-extensions"],
    subresources: &[Subresource::Status],
    verbs: &[
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ],
    storage_resource: "apiextensions.k8s.io/customresourcedefinitions",
    storage_group: GROUP,
    storage_version: "v1",
    strategy: &CrdStrategy,
    conversion: None,
};

/// Whether a served resource is the CRD resource itself.
pub fn is_crd_resource(res: &Resource) -> bool {
    std::ptr::eq(res.def, &CRD_DEF)
}

/// Sets (or replaces) a condition in `status.conditions`, keeping its
/// `lastTransitionTime` when the status did not change.
pub fn set_condition(crd: &mut Value, type_: &str, status: &str, reason: &str, message: &str) {
    let now = time::format_time(jiff::Timestamp::now());
    let Some(obj) = crd.as_object_mut() else {
        return;
    };
    let st = obj.entry("status").or_insert_with(|| json!({}));
    if !st.is_object() {
        *st = json!({});
    }
    let conds = st
        .as_object_mut()
        .map(|m| m.entry("conditions").or_insert_with(|| json!([])));
    let Some(conds) = conds else { return };
    if !conds.is_array() {
        *conds = json!([]);
    }
    let Some(list) = conds.as_array_mut() else {
        return;
    };
    let mut cond = json!({"type": type_, "status": status, "lastTransitionTime": now,
        "reason": reason, "message": message});
    match list
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
    {
        Some(old) => {
            if old.get("status").and_then(Value::as_str) == Some(status)
                && let Some(t) = old.get("lastTransitionTime")
            {
                cond["lastTransitionTime"] = t.clone();
            }
            *old = cond;
        }
        None => list.push(cond),
    }
}

/// DELETE of a CRD (upstream `customresourcedefinition.REST.Delete`): the
/// first delete only marks the CRD (deletionTimestamp, the cleanup
/// finalizer, `Terminating=True`) and returns it; the finalizer
/// controller then removes every object and the finalizer.
pub async fn delete_crd(
    reg: &Registry,
    res: &Resource,
    name: &str,
    opts: &DeleteOptions,
) -> Result<Deleted, StatusError> {
    let gr = res.group_resource();
    let key = object_key(res.def, None, name);
    let kv = reg
        .store
        .get(&key)
        .await
        .map_err(|e| storage_error(e, &gr, name))?
        .ok_or_else(|| StatusError::not_found(&gr, name))?;
    let current = decode_stored(&kv)?;
    if meta::deletion_timestamp(&current).is_some() {
        return delete::delete(reg, res, None, name, opts).await;
    }
    let mark = |obj: &Value| -> Result<(UpdateDecision, Value), StatusError> {
        if let Some(uid) = &opts.precondition_uid
            && meta::uid(obj) != Some(uid.as_str())
        {
            return Err(StatusError::conflict(
                &gr,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta::uid(obj).unwrap_or_default()
                ),
            ));
        }
        if let Some(rv) = &opts.precondition_rv
            && meta::resource_version(obj) != Some(rv.as_str())
        {
            return Err(StatusError::conflict(
                &gr,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    meta::resource_version(obj).unwrap_or_default()
                ),
            ));
        }
        let mut new = obj.clone();
        if meta::deletion_timestamp(&new).is_none() {
            meta::set(
                &mut new,
                "deletionTimestamp",
                json!(time::format_time(jiff::Timestamp::now())),
            );
        }
        let mut finalizers = meta::finalizers(&new);
        if !finalizers.iter().any(|f| f == CLEANUP_FINALIZER) {
            finalizers.push(CLEANUP_FINALIZER.to_string());
        }
        meta::set(&mut new, "finalizers", json!(finalizers));
        set_condition(
            &mut new,
            "Terminating",
            "True",
            "InstanceDeletionPending",
            "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon",
        );
        Ok((UpdateDecision::Write(encode_for_storage(&new)?), new))
    };
    if opts.dry_run {
        let (_, new) = mark(&current)?;
        return Ok(Deleted::Pending(new));
    }
    let mut computed = None;
    let outcome = reg
        .store
        .guaranteed_update(
            &key,
            None,
            |kv: &KeyValue| -> Result<UpdateDecision, StepError> {
                let (d, new) = mark(&decode_stored(kv)?)?;
                computed = Some(new);
                Ok(d)
            },
        )
        .await
        .map_err(|e| e.into_status(&gr, name))?;
    let mut obj = computed.unwrap_or(Value::Null);
    match outcome {
        UpdateOutcome::Written(kv) | UpdateOutcome::Unchanged(kv) => {
            meta::set_resource_version(&mut obj, kv.mod_revision)
        }
        UpdateOutcome::Deleted(kv) => meta::set_resource_version(&mut obj, kv.mod_revision),
    }
    Ok(Deleted::Pending(convert::from_storage(res, obj)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_crd_keeps_integer_bounds_and_drops_unknown_fields() {
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "crontabs.stable.example.com"},
            "spec": {"group": "stable.example.com", "scope": "Namespaced", "bogus": 1,
                "names": {"plural": "crontabs", "kind": "CronTab"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "n": {"type": "number", "maximum": 10, "minimum": 0.5, "default": 2}}}}}]},
        });
        let out = CrdStrategy.canonicalize(crd).unwrap();
        let n = &out["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["n"];
        assert_eq!(serde_json::to_string(&n["maximum"]).unwrap(), "10");
        assert_eq!(serde_json::to_string(&n["minimum"]).unwrap(), "0.5");
        assert_eq!(n["default"], 2);
        assert_eq!(out["spec"].get("bogus"), None);
    }

    #[test]
    fn conditions_keep_transition_time_when_unchanged() {
        let mut crd = json!({"status": {"conditions": [
            {"type": "Terminating", "status": "True", "lastTransitionTime": "t0", "reason": "A", "message": "a"}]}});
        set_condition(&mut crd, "Terminating", "True", "B", "b");
        assert_eq!(crd["status"]["conditions"][0]["lastTransitionTime"], "t0");
        assert_eq!(crd["status"]["conditions"][0]["reason"], "B");
        set_condition(&mut crd, "Terminating", "False", "C", "c");
        assert_ne!(crd["status"]["conditions"][0]["lastTransitionTime"], "t0");
        assert_eq!(crd["status"]["conditions"].as_array().unwrap().len(), 1);
    }
}
