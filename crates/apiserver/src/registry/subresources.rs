//! Subresources with their own semantics: `scale` (its view here, its
//! writes in `scale.rs`), `pods/binding`, `pods/eviction` and
//! `namespaces/finalize`. (`status` is the generic store with
//! `UpdateTarget::Status`.)

use corten_apimachinery::labels::Selector;
use corten_apimachinery::status::StatusCause;
use corten_apimachinery::{FieldError, GroupKind, GroupResource, Path, StatusError, meta, time};
use corten_storage::{KeyValue, UpdateDecision};
use serde_json::{Value, json};

use super::delete::{self, DeleteOptions};
use super::keys::object_key;
use super::store::{StepError, decode_stored, finish_update, storage_error};
use super::{Registry, Resource};

/// The label selector of a scalable object as a string (`app=web`).
fn selector_string(obj: &Value, storage_resource: &str) -> String {
    let sel = obj
        .pointer("/spec/selector")
        .cloned()
        .unwrap_or(Value::Null);
    if storage_resource == "replicationcontrollers" {
        let map: std::collections::BTreeMap<String, String> = sel
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        return Selector::from_set(&map).to_string();
    }
    Selector::from_label_selector(&sel)
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// The autoscaling/v1 Scale view of an object (storage version).
pub fn scale_of(obj: &Value, storage_resource: &str) -> Value {
    let m = meta::metadata(obj).cloned().unwrap_or_default();
    let mut md = serde_json::Map::new();
    for k in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = m.get(k) {
            md.insert(k.into(), v.clone());
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": md,
        "spec": {"replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": {
            "replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector_string(obj, storage_resource),
        },
    })
}

/// GET .../scale.
pub async fn get_scale(
    reg: &Registry,
    res: &Resource,
    ns: Option<&str>,
    name: &str,
) -> Result<Value, StatusError> {
    let gr = res.group_resource();
    let kv = reg
        .store
        .get(&object_key(res.def, ns, name))
        .await
        .map_err(|e| storage_error(e, &gr, name))?
        .ok_or_else(|| StatusError::not_found(&gr, name))?;
    Ok(scale_of(&decode_stored(&kv)?, res.def.storage_resource))
}

/// POST pods/<name>/binding (or POST bindings): assigns the pod to a node.
pub async fn bind(
    reg: &Registry,
    pods: &Resource,
    ns: &str,
    name: &str,
    binding: &Value,
) -> Result<(), StatusError> {
    let gr = GroupResource::new("", "pods");
    if let Some(n) = meta::name(binding)
        && n != name
    {
        return Err(StatusError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            StatusError::invalid(
                &GroupKind::new("", "Binding"),
                name,
                &vec![FieldError::required(&Path::new("target").child("name"), "")],
            )
        })?
        .to_string();
    if let Some(kind) = binding.pointer("/target/kind").and_then(Value::as_str)
        && !kind.is_empty()
        && kind != "Node"
    {
        return Err(StatusError::invalid(
            &GroupKind::new("", "Binding"),
            name,
            &vec![FieldError::not_supported(
                &Path::new("target").child("kind"),
                kind,
                &["Node", "<empty>"],
            )],
        ));
    }
    let key = object_key(pods.def, Some(ns), name);
    let binding_gr = GroupResource::new("", "pods/binding");
    reg.store
        .guaranteed_update(
            &key,
            None,
            |kv: &KeyValue| -> Result<UpdateDecision, StepError> {
                let mut pod = decode_stored(kv)?;
                if meta::deletion_timestamp(&pod).is_some() {
                    return Err(StatusError::conflict(
                        &binding_gr,
                        name,
                        &format!("pod {name} is being deleted, cannot be assigned to a host"),
                    )
                    .into());
                }
                if let Some(existing) = pod
                    .pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                {
                    return Err(StatusError::conflict(
                        &binding_gr,
                        name,
                        &format!("pod {name} is already assigned to node \"{existing}\""),
                    )
                    .into());
                }
                if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.insert("nodeName".into(), json!(node));
                }
                set_pod_condition(&mut pod, "PodScheduled", "True");
                Ok(UpdateDecision::Write(super::store::encode_for_storage(
                    &pod,
                )?))
            },
        )
        .await
        .map_err(|e| e.into_status(&gr, name))?;
    Ok(())
}

/// The checks every `/scale` write makes before it touches the object:
/// the body names the object on the URL, `spec.replicas` is an int32 of
/// at least 0, and a non-empty `resourceVersion` matches the stored one
/// (an empty one means unconditional, as upstream). Returns the replicas.
pub(crate) fn checked_scale_request(
    gr: &GroupResource,
    name: &str,
    scale: &Value,
    old: &Value,
) -> Result<i64, StatusError> {
    if let Some(n) = meta::name(scale)
        && n != name
    {
        return Err(StatusError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    let replicas = match scale.pointer("/spec/replicas") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_i64()
            .ok_or_else(|| StatusError::bad_request("Scale.spec.replicas must be an integer"))?,
    };
    if replicas < 0 || replicas > i64::from(i32::MAX) {
        return Err(StatusError::invalid(
            &GroupKind::new("autoscaling", "Scale"),
            name,
            &vec![FieldError::invalid(
                &Path::new("spec").child("replicas"),
                replicas,
                "must be greater than or equal to 0",
            )],
        ));
    }
    if let Some(rv) = meta::resource_version(scale)
        && !rv.is_empty()
        && Some(rv) != meta::resource_version(old)
    {
        return Err(StatusError::conflict_modified(gr, name));
    }
    Ok(replicas)
}

fn set_pod_condition(pod: &mut Value, ctype: &str, status: &str) {
    set_pod_condition_with(pod, ctype, status, None);
}

/// Sets a pod condition like upstream `UpdatePodCondition`: the transition
/// time moves only when the status changes; `reason_message` replaces the
/// condition's reason and message (`None` clears them).
fn set_pod_condition_with(
    pod: &mut Value,
    ctype: &str,
    status: &str,
    reason_message: Option<(&str, &str)>,
) {
    let Some(map) = pod.as_object_mut() else {
        return;
    };
    let st = map.entry("status").or_insert_with(|| json!({}));
    let Some(st) = st.as_object_mut() else {
        return;
    };
    let conds = st.entry("conditions").or_insert_with(|| json!([]));
    let Some(conds) = conds.as_array_mut() else {
        return;
    };
    let now = time::now_rfc3339();
    if let Some(c) = conds
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(ctype))
    {
        if c.get("status").and_then(Value::as_str) != Some(status) {
            c["status"] = json!(status);
            c["lastTransitionTime"] = json!(now);
        }
        if let Some(o) = c.as_object_mut() {
            o.remove("reason");
            o.remove("message");
            if let Some((reason, message)) = reason_message {
                o.insert("reason".into(), json!(reason));
                o.insert("message".into(), json!(message));
            }
        }
    } else {
        let mut c = json!({
            "type": ctype,
            "status": status,
            "lastProbeTime": null,
            "lastTransitionTime": now,
        });
        if let Some((reason, message)) = reason_message {
            c["reason"] = json!(reason);
            c["message"] = json!(message);
        }
        conds.push(c);
    }
}

/// POST pods/<name>/eviction: deletes the pod unless a
/// PodDisruptionBudget forbids it (429 like upstream).
pub async fn evict(
    reg: &Registry,
    pods: &Resource,
    ns: &str,
    name: &str,
    eviction: &Value,
) -> Result<(), StatusError> {
    let gr = GroupResource::new("", "pods");
    if let Some(n) = meta::name(eviction)
        && n != name
    {
        return Err(StatusError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    let mut opts = DeleteOptions::default();
    if let Some(d) = eviction.get("deleteOptions").filter(|d| d.is_object()) {
        let body = serde_json::to_vec(d).unwrap_or_default();
        opts = delete::parse_delete_options(&body, &crate::query::Query::default())?;
    }
    let kv = reg
        .store
        .get(&object_key(pods.def, Some(ns), name))
        .await
        .map_err(|e| storage_error(e, &gr, name))?
        .ok_or_else(|| StatusError::not_found(&gr, name))?;
    let pod = decode_stored(&kv)?;
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("");
    let terminal = matches!(phase, "Succeeded" | "Failed" | "Pending");
    if !terminal && meta::deletion_timestamp(&pod).is_none() {
        check_disruption_budgets(reg, ns, name, &pod).await?;
    }
    if opts.precondition_uid.is_none() {
        opts.precondition_uid = meta::uid(&pod).map(str::to_string);
    }
    if meta::deletion_timestamp(&pod).is_none() {
        mark_disruption_target(reg, pods, ns, name, &mut opts).await?;
    }
    delete::delete(reg, pods, Some(ns), name, &opts).await?;
    Ok(())
}

/// Like upstream's eviction, records why the pod goes before deleting it:
/// the `DisruptionTarget` condition (reason `EvictionByEvictionAPI`), which
/// Job pod failure policies match on. Honours the delete preconditions and
/// moves a resourceVersion precondition to the version this write makes.
async fn mark_disruption_target(
    reg: &Registry,
    pods: &Resource,
    ns: &str,
    name: &str,
    opts: &mut DeleteOptions,
) -> Result<(), StatusError> {
    let gr = GroupResource::new("", "pods");
    let key = object_key(pods.def, Some(ns), name);
    let (uid, rv) = (opts.precondition_uid.clone(), opts.precondition_rv.clone());
    let outcome = reg
        .store
        .guaranteed_update(
            &key,
            None,
            |kv: &KeyValue| -> Result<UpdateDecision, StepError> {
                let mut pod = decode_stored(kv)?;
                let stale_uid = uid.as_deref().is_some_and(|u| meta::uid(&pod) != Some(u));
                let stale_rv = rv
                    .as_deref()
                    .is_some_and(|v| !v.is_empty() && v != kv.mod_revision.to_string());
                if stale_uid || stale_rv {
                    return Err(StatusError::conflict(
                        &gr,
                        name,
                        "the object has been modified; please apply your changes to the latest version and try again",
                    )
                    .into());
                }
                set_pod_condition_with(
                    &mut pod,
                    "DisruptionTarget",
                    "True",
                    Some(("EvictionByEvictionAPI", "Eviction API: evicting")),
                );
                Ok(UpdateDecision::Write(super::store::encode_for_storage(
                    &pod,
                )?))
            },
        )
        .await
        .map_err(|e| e.into_status(&gr, name))?;
    if let (Some(_), corten_storage::UpdateOutcome::Written(kv)) = (&opts.precondition_rv, &outcome)
    {
        opts.precondition_rv = Some(kv.mod_revision.to_string());
    }
    Ok(())
}

async fn check_disruption_budgets(
    reg: &Registry,
    ns: &str,
    pod_name: &str,
    pod: &Value,
) -> Result<(), StatusError> {
    let Some(cache) = reg.cache("poddisruptionbudgets") else {
        return Ok(());
    };
    let labels = meta::labels(pod);
    let listed = cache.list(&corten_storage::ListRequest {
        prefix: format!("poddisruptionbudgets/{ns}/"),
        filter: Default::default(),
        start_after: None,
        limit: None,
    });
    let mut matching = Vec::new();
    for o in &listed.items {
        let pdb: Value = serde_json::from_slice(&o.json).unwrap_or(Value::Null);
        let sel = pdb
            .pointer("/spec/selector")
            .cloned()
            .unwrap_or(Value::Null);
        if sel.is_null() {
            continue;
        }
        if let Ok(s) = Selector::from_label_selector(&sel)
            && !s.is_empty()
            && s.matches(&labels)
        {
            matching.push((o.key.clone(), pdb));
        }
    }
    match matching.len() {
        0 => Ok(()),
        1 => {
            let (key, _) = &matching[0];
            let pdb_gr = GroupResource::new("policy", "poddisruptionbudgets");
            let pdb_name = key.rsplit('/').next().unwrap_or_default().to_string();
            reg.store
                .guaranteed_update(key, None, |kv: &KeyValue| -> Result<UpdateDecision, StepError> {
                    let mut pdb = decode_stored(kv)?;
                    let generation = meta::generation(&pdb);
                    let observed = pdb
                        .pointer("/status/observedGeneration")
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    let allowed = pdb
                        .pointer("/status/disruptionsAllowed")
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    if observed < generation || allowed <= 0 {
                        let desired = pdb
                            .pointer("/status/desiredHealthy")
                            .and_then(Value::as_i64)
                            .unwrap_or(0);
                        let current = pdb
                            .pointer("/status/currentHealthy")
                            .and_then(Value::as_i64)
                            .unwrap_or(0);
                        let mut e = StatusError::too_many_requests(
                            "Cannot evict pod as it would violate the pod's disruption budget.",
                            0,
                        );
                        e.retry_after_seconds = None;
                        e.causes.push(StatusCause {
                            reason: "DisruptionBudget".into(),
                            message: format!(
                                "The disruption budget {pdb_name} needs {desired} healthy pods and has {current} currently"
                            ),
                            field: String::new(),
                        });
                        return Err(e.into());
                    }
                    if let Some(st) = pdb.get_mut("status").and_then(Value::as_object_mut) {
                        st.insert("disruptionsAllowed".into(), json!(allowed - 1));
                        let dp = st.entry("disruptedPods").or_insert_with(|| json!({}));
                        if let Some(dp) = dp.as_object_mut() {
                            dp.insert(pod_name.to_string(), json!(time::now_rfc3339()));
                        }
                    }
                    Ok(UpdateDecision::Write(super::store::encode_for_storage(&pdb)?))
                })
                .await
                .map_err(|e| e.into_status(&pdb_gr, &pdb_name))?;
            Ok(())
        }
        _ => Err(StatusError::internal(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        )),
    }
}

/// PUT namespaces/<name>/finalize: replaces `spec.finalizers` only.
pub async fn finalize_namespace(
    reg: &Registry,
    res: &Resource,
    name: &str,
    body: &Value,
) -> Result<Value, StatusError> {
    let gr = res.group_resource();
    let key = object_key(res.def, None, name);
    let finalizers = body
        .pointer("/spec/finalizers")
        .cloned()
        .unwrap_or_else(|| json!([]));
    if !finalizers.is_array() {
        return Err(StatusError::bad_request("spec.finalizers must be a list"));
    }
    let mut result = None;
    let outcome = reg
        .store
        .guaranteed_update(
            &key,
            None,
            |kv: &KeyValue| -> Result<UpdateDecision, StepError> {
                let old = decode_stored(kv)?;
                if let Some(rv) = meta::resource_version(body)
                    && Some(rv) != meta::resource_version(&old)
                {
                    return Err(StatusError::conflict_modified(&gr, name).into());
                }
                let mut new = old.clone();
                if let Some(map) = new.as_object_mut() {
                    let spec = map.entry("spec").or_insert_with(|| json!({}));
                    if let Some(spec) = spec.as_object_mut() {
                        spec.insert("finalizers".into(), finalizers.clone());
                    }
                }
                if new == old {
                    result = Some(new);
                    return Ok(UpdateDecision::Unchanged);
                }
                // Like upstream, finalizing a namespace that is being deleted
                // and has no finalizers left removes it.
                if meta::deletion_timestamp(&new).is_some()
                    && meta::finalizers(&new).is_empty()
                    && !super::store::spec_finalizers_pending(res, &new)
                {
                    result = Some(new);
                    return Ok(UpdateDecision::Delete);
                }
                let bytes = super::store::encode_for_storage(&new)?;
                result = Some(new);
                Ok(UpdateDecision::Write(bytes))
            },
        )
        .await
        .map_err(|e| e.into_status(&gr, name))?;
    Ok(finish_update(res, outcome, result)?.object)
}
