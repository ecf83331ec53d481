//! DELETE: preconditions, graceful deletion, finalizers and propagation
//! policy, as upstream's generic store does them.

use corten_apimachinery::{FieldError, GroupKind, Path, StatusError, meta, time};
use corten_storage::{KeyValue, UpdateDecision, UpdateOutcome};
use serde_json::{Value, json};

use super::keys::{check_path_segment, object_key};
use super::store::{StepError, decode_stored, encode_for_storage, storage_error};
use super::{Registry, Resource, convert, services};
use crate::query::Query;

/// metav1.DeleteOptions, merged from the body and the query.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `gracePeriodSeconds`.
    pub grace_period_seconds: Option<i64>,
    /// `propagationPolicy`: Orphan, Background or Foreground.
    pub propagation_policy: Option<String>,
    /// `preconditions.uid`.
    pub precondition_uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub precondition_rv: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
}

/// Parses DeleteOptions from an optional JSON body and the query string.
pub fn parse_delete_options(body: &[u8], query: &Query) -> Result<DeleteOptions, StatusError> {
    let mut o = DeleteOptions {
        dry_run: query.dry_run()?,
        grace_period_seconds: query.int("gracePeriodSeconds")?,
        propagation_policy: query.non_empty("propagationPolicy").map(str::to_string),
        ..Default::default()
    };
    let mut orphan = query.non_empty("orphanDependents").map(|v| v == "true");
    let trimmed = body.iter().filter(|b| !b.is_ascii_whitespace()).count();
    if trimmed > 0 {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| StatusError::bad_request(format!("invalid DeleteOptions body: {e}")))?;
        if !v.is_object() {
            return Err(StatusError::bad_request(
                "invalid DeleteOptions body: expected a JSON object",
            ));
        }
        if let Some(g) = v.get("gracePeriodSeconds") {
            o.grace_period_seconds = Some(g.as_i64().ok_or_else(|| {
                StatusError::bad_request("gracePeriodSeconds must be an integer")
            })?);
        }
        if let Some(p) = v.get("propagationPolicy").and_then(Value::as_str) {
            o.propagation_policy = Some(p.to_string());
        }
        if let Some(b) = v.get("orphanDependents").and_then(Value::as_bool) {
            orphan = Some(b);
        }
        if let Some(pre) = v.get("preconditions") {
            o.precondition_uid = pre.get("uid").and_then(Value::as_str).map(str::to_string);
            o.precondition_rv = pre
                .get("resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        if let Some(d) = v.get("dryRun").and_then(Value::as_array) {
            for x in d {
                match x.as_str() {
                    Some("All") => o.dry_run = true,
                    other => {
                        return Err(StatusError::bad_request(format!(
                            "Invalid dryRun: {other:?}: supported values: \"All\""
                        )));
                    }
                }
            }
        }
    }
    let mut errs = Vec::new();
    if let Some(p) = &o.propagation_policy {
        if !matches!(p.as_str(), "Orphan" | "Background" | "Foreground") {
            errs.push(FieldError::not_supported(
                &Path::new("propagationPolicy"),
                p.as_str(),
                &["Foreground", "Background", "Orphan", "nil"],
            ));
        }
        if orphan.is_some() {
            errs.push(FieldError::invalid(
                &Path::new("propagationPolicy"),
                p.as_str(),
                "orphanDependents and deletionPropagation cannot be both set",
            ));
        }
    } else if let Some(orphan) = orphan {
        o.propagation_policy = Some(if orphan { "Orphan" } else { "Background" }.to_string());
    }
    if let Some(g) = o.grace_period_seconds
        && g < 0
    {
        // Upstream turns negative grace periods into the shortest
        // graceful one.
        o.grace_period_seconds = Some(1);
    }
    if !errs.is_empty() {
        return Err(StatusError::invalid(
            &GroupKind::new("meta.k8s.io", "DeleteOptions"),
            "",
            &errs,
        ));
    }
    Ok(o)
}

/// What a delete did.
pub enum Deleted {
    /// The object is gone; this is its last state.
    Now(Value),
    /// The object is being deleted (grace period or finalizers pending);
    /// this is its current state.
    Pending(Value),
}

const ORPHAN: &str = "orphan";
const FOREGROUND: &str = "foregroundDeletion";

fn set_finalizers(obj: &mut Value, finalizers: &[String]) {
    if finalizers.is_empty() {
        meta::remove(obj, "finalizers");
    } else {
        meta::set(obj, "finalizers", json!(finalizers));
    }
}

/// The delete decision for one stored object (in the storage version, with
/// resourceVersion set).
fn decide_delete(
    res: &Resource,
    obj: &Value,
    opts: &DeleteOptions,
) -> Result<(UpdateDecision, Value), StatusError> {
    let gr = res.group_resource();
    let name = meta::name(obj).unwrap_or_default().to_string();
    if let Some(uid) = &opts.precondition_uid {
        let actual = meta::uid(obj).unwrap_or_default();
        if uid != actual {
            return Err(StatusError::conflict(
                &gr,
                &name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                ),
            ));
        }
    }
    if let Some(rv) = &opts.precondition_rv {
        let actual = meta::resource_version(obj).unwrap_or_default();
        if rv != actual {
            return Err(StatusError::conflict(
                &gr,
                &name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"
                ),
            ));
        }
    }
    let mut new = obj.clone();
    // Propagation policy turns into GC finalizers.
    let mut finalizers = meta::finalizers(&new);
    match opts.propagation_policy.as_deref() {
        Some("Orphan") => {
            finalizers.retain(|f| f != FOREGROUND);
            if !finalizers.iter().any(|f| f == ORPHAN) {
                finalizers.push(ORPHAN.into());
            }
        }
        Some("Foreground") => {
            finalizers.retain(|f| f != ORPHAN);
            if !finalizers.iter().any(|f| f == FOREGROUND) {
                finalizers.push(FOREGROUND.into());
            }
        }
        Some("Background") => finalizers.retain(|f| f != ORPHAN && f != FOREGROUND),
        _ => {}
    }
    set_finalizers(&mut new, &finalizers);

    let already_deleting = meta::deletion_timestamp(obj).is_some();
    let now = jiff::Timestamp::now();

    // Namespaces go through the Terminating phase while their content is
    // removed by the namespace controller (spec.finalizers).
    let ns_finalizers_pending = res.def.storage_resource == "namespaces"
        && new
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
    if res.def.storage_resource == "namespaces"
        && let Some(map) = new.as_object_mut()
    {
        let status = map.entry("status").or_insert_with(|| json!({}));
        if let Some(s) = status.as_object_mut() {
            s.insert("phase".into(), json!("Terminating"));
        }
    }

    // Graceful deletion (pods).
    let grace = res
        .storage_def
        .strategy
        .graceful_delete_seconds(obj, opts.grace_period_seconds);
    if let Some(g) = grace.filter(|g| *g > 0) {
        let current = meta::metadata(obj)
            .and_then(|m| m.get("deletionGracePeriodSeconds"))
            .and_then(Value::as_i64);
        if current.is_none_or(|c| g < c) {
            let ts = now
                .checked_add(jiff::SignedDuration::from_secs(g))
                .unwrap_or(now);
            meta::set(&mut new, "deletionTimestamp", json!(time::format_time(ts)));
            meta::set(&mut new, "deletionGracePeriodSeconds", json!(g));
        }
        if &new == obj {
            return Ok((UpdateDecision::Unchanged, new));
        }
        return Ok((UpdateDecision::Write(encode_for_storage(&new)?), new));
    }
    if !finalizers.is_empty() || ns_finalizers_pending {
        if !already_deleting {
            meta::set(&mut new, "deletionTimestamp", json!(time::format_time(now)));
        }
        meta::set(&mut new, "deletionGracePeriodSeconds", json!(0));
        if &new == obj {
            return Ok((UpdateDecision::Unchanged, new));
        }
        return Ok((UpdateDecision::Write(encode_for_storage(&new)?), new));
    }
    Ok((UpdateDecision::Delete, new))
}

/// Deletes one object.
pub async fn delete(
    reg: &Registry,
    res: &Resource,
    url_ns: Option<&str>,
    name: &str,
    opts: &DeleteOptions,
) -> Result<Deleted, StatusError> {
    check_path_segment(res.def.kind, "name", name)?;
    let gr = res.group_resource();
    let key = object_key(res.def, url_ns, name);
    if opts.dry_run {
        let kv = reg
            .store
            .get(&key)
            .await
            .map_err(|e| storage_error(e, &gr, name))?
            .ok_or_else(|| StatusError::not_found(&gr, name))?;
        let obj = decode_stored(&kv)?;
        let (decision, new) = decide_delete(res, &obj, opts)?;
        let out = convert::from_storage(res, new)?;
        return Ok(match decision {
            UpdateDecision::Delete => Deleted::Now(out),
            _ => Deleted::Pending(out),
        });
    }
    let mut computed = None;
    let outcome = reg
        .store
        .guaranteed_update(
            &key,
            None,
            |kv: &KeyValue| -> Result<UpdateDecision, StepError> {
                let obj = decode_stored(kv)?;
                let (decision, new) = decide_delete(res, &obj, opts)?;
                computed = Some(new);
                Ok(decision)
            },
        )
        .await
        .map_err(|e| e.into_status(&gr, name))?;
    let (gone, mut obj, rv) = match outcome {
        UpdateOutcome::Deleted(kv) => (true, decode_stored(&kv)?, kv.mod_revision),
        UpdateOutcome::Written(kv) => (false, computed.unwrap_or(Value::Null), kv.mod_revision),
        UpdateOutcome::Unchanged(kv) => (false, decode_stored(&kv)?, kv.mod_revision),
    };
    meta::set_resource_version(&mut obj, rv);
    if gone {
        services::release_for_deleted(reg, res, &obj).await;
    }
    let out = convert::from_storage(res, obj)?;
    Ok(if gone {
        Deleted::Now(out)
    } else {
        Deleted::Pending(out)
    })
}

/// Whether a DELETE response carries the object (upstream
/// ReturnDeletedObject) rather than a Success Status.
pub fn returns_deleted_object(res: &Resource) -> bool {
    matches!(
        res.def.storage_resource,
        "pods" | "services" | "namespaces" | "apiextensions.k8s.io/customresourcedefinitions"
    )
}

/// The Success Status for an object deleted immediately.
pub fn success_status(res: &Resource, obj: &Value) -> Value {
    let mut details = json!({
        "name": meta::name(obj).unwrap_or_default(),
        "kind": res.def.resource,
    });
    if !res.def.group.is_empty() {
        details["group"] = json!(res.def.group);
    }
    if let Some(uid) = meta::uid(obj) {
        details["uid"] = json!(uid);
    }
    corten_apimachinery::status::success_status(Some(details))
}
