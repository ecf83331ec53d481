//! Server-side apply: `PATCH` with `application/apply-patch+yaml`.
//!
//! The configuration is merged into the live object by the kind's schema
//! (`managedfields`), the applier takes ownership of what it applies,
//! fields it applied before and dropped are removed unless someone else
//! owns them, and fields owned by other managers that would change are
//! conflicts (409) unless `force=true`. A missing object is created. The
//! result then goes through the regular update (or create) pipeline.

use bytes::Bytes;
use corten_apimachinery::managedfields::{ApplyError, Managers, Operation, managers};
use corten_apimachinery::status::StatusCause;
use corten_apimachinery::{Reason, StatusError, meta};
use corten_storage::UpdateDecision;
use serde_json::{Map, Value};

use super::keys::{check_path_segment, object_key};
use super::managed::{ignored, manager_id, now, schema_for};
use super::store::{
    self, UpdateTarget, Updated, WriteOptions, check_dropped_fields, decide_update, finish_update,
    read_modify_write, storage_error,
};
use super::{Registry, Resource, convert};
use crate::wire::{self, InputFormat};

/// The 409 for apply conflicts, with one `FieldManagerConflict` cause per
/// field.
fn conflict_error(c: &corten_apimachinery::managedfields::Conflicts) -> StatusError {
    let mut e = StatusError::new(Reason::Conflict, c.message());
    e.causes = c
        .causes()
        .into_iter()
        .map(|(message, field)| StatusCause {
            reason: "FieldManagerConflict".into(),
            message,
            field,
        })
        .collect();
    e
}

fn apply_error(e: ApplyError) -> StatusError {
    match e {
        ApplyError::Conflicts(c) => conflict_error(&c),
        ApplyError::Invalid(m) => StatusError::bad_request(m),
    }
}

/// kubectl's server-side apply manager: the one that takes over from
/// client-side apply.
const KUBECTL: &str = "kubectl";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Fields the last client-side apply set and nobody changed since.
fn allowed_by_last_applied(
    schema: &corten_apimachinery::managedfields::Schema,
    live: &Value,
) -> corten_apimachinery::managedfields::Set {
    use corten_apimachinery::managedfields::{Set, typed};
    let Some(last) = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
    else {
        return Set::new();
    };
    let (Ok(set), Ok(cmp)) = (
        typed::to_field_set(schema, &last),
        typed::compare(schema, Some(&last), live),
    ) else {
        return Set::new();
    };
    set.difference(&cmp.modified)
}

/// Keeps the client-side apply annotation, where there is one, in step
/// with what kubectl applied server-side (upstream lastAppliedUpdater), so
/// a later client-side apply computes the right patch.
fn sync_last_applied(merged: &mut Value, config: &Value) {
    let has = merged
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .is_some();
    if !has {
        return;
    }
    let mut applied = config.clone();
    if let Some(a) = applied
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.shift_remove(LAST_APPLIED);
        if a.is_empty()
            && let Some(m) = applied
                .pointer_mut("/metadata")
                .and_then(Value::as_object_mut)
        {
            m.shift_remove("annotations");
        }
    }
    let text = serde_json::to_string(&applied).unwrap_or_default() + "\n";
    if let Some(a) = merged
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.insert(LAST_APPLIED.into(), Value::String(text));
    }
}

/// Decodes and checks an apply configuration for `res`.
fn decode_config(res: &Resource, body: &[u8], opts: &WriteOptions) -> Result<Value, StatusError> {
    let mut config = wire::decode_object(body, InputFormat::Yaml)?;
    let want = res.def.api_version();
    let got = meta::api_version(&config).unwrap_or("");
    if got != want {
        return Err(StatusError::bad_request(format!(
            "Incorrect version specified in apply patch. Specified patch version: {got}, expected: {want}"
        )));
    }
    let kind = meta::kind(&config).unwrap_or("");
    if kind != res.def.kind {
        return Err(StatusError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            res.def.kind
        )));
    }
    if config
        .pointer("/metadata/managedFields")
        .is_some_and(|v| !v.is_null())
    {
        return Err(StatusError::bad_request(
            "metadata.managedFields must be nil",
        ));
    }
    let schema = schema_for(res.def);
    let dropped = corten_apimachinery::managedfields::typed::prune_unknown(&schema, &mut config);
    check_dropped_fields(res, dropped, opts)?;
    Ok(config)
}

/// Applies `config` onto `live` (served form) for the request's manager;
/// returns the object to write with its managedFields set.
fn merge_onto(
    res: &Resource,
    live: &Value,
    config: &Value,
    opts: &WriteOptions,
) -> Result<Value, StatusError> {
    let schema = schema_for(res.def);
    let me = manager_id(res, opts, Operation::Apply);
    let stored = Managers::decode(live).unwrap_or_default();
    let ignored = ignored(res, &opts.subresource);
    let now = now();
    let run = |force: bool| {
        managers::apply(
            &schema,
            live,
            config,
            stored.clone(),
            &me,
            force,
            &ignored,
            &now,
        )
    };
    let (mut merged, managers) = match run(opts.force) {
        Err(ApplyError::Conflicts(c)) if me.manager == KUBECTL => {
            // Upgrading from client-side apply: conflicts with fields the
            // last client-side apply set, still at the values it set, are
            // allowed (upstream lastAppliedManager).
            let allowed = allowed_by_last_applied(&schema, live);
            let rest = c.without(&allowed);
            if rest.items.is_empty() {
                run(true).map_err(apply_error)?
            } else {
                return Err(conflict_error(&rest));
            }
        }
        other => other.map_err(apply_error)?,
    };
    if me.manager == KUBECTL {
        sync_last_applied(&mut merged, config);
    }
    let encoded = managers.encode();
    if let Some(m) = merged.get_mut("metadata").and_then(Value::as_object_mut) {
        if encoded.as_array().is_some_and(Vec::is_empty) {
            m.shift_remove("managedFields");
        } else {
            m.insert("managedFields".into(), encoded);
        }
    }
    Ok(merged)
}

/// PATCH with an apply configuration.
#[allow(clippy::too_many_arguments)]
pub async fn apply(
    reg: &Registry,
    res: &Resource,
    url_ns: Option<&str>,
    name: &str,
    body: Bytes,
    target: UpdateTarget,
    opts: &WriteOptions,
) -> Result<Updated, StatusError> {
    check_path_segment(res.def.kind, "name", name)?;
    let config = decode_config(res, &body, opts)?;
    if let Some(n) = meta::name(&config)
        && n != name
    {
        return Err(StatusError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    let inner = WriteOptions {
        dry_run: opts.dry_run,
        field_manager: opts.field_manager.clone(),
        field_validation: opts.field_validation,
        service_cidr_is_v4: opts.service_cidr_is_v4,
        user_agent_manager: opts.user_agent_manager.clone(),
        force: opts.force,
        subresource: opts.subresource.clone(),
        managed_fields_done: true,
        ..Default::default()
    };
    let result = apply_with(reg, res, url_ns, name, &config, target, &inner).await;
    for w in inner.take_warnings() {
        opts.warn(w);
    }
    result
}

async fn apply_with(
    reg: &Registry,
    res: &Resource,
    url_ns: Option<&str>,
    name: &str,
    config: &Value,
    target: UpdateTarget,
    opts: &WriteOptions,
) -> Result<Updated, StatusError> {
    let gr = res.group_resource();
    let key = object_key(res.def, url_ns, name);
    let existing = reg
        .store
        .get(&key)
        .await
        .map_err(|e| storage_error(e, &gr, name))?;
    if existing.is_none() {
        if target == UpdateTarget::Status {
            return Err(StatusError::not_found(&gr, name));
        }
        // Create on apply: the configuration applied onto an empty object.
        let mut empty = Map::new();
        empty.insert("metadata".into(), Value::Object(Map::new()));
        let mut obj = merge_onto(res, &Value::Object(empty), config, opts)?;
        meta::set(&mut obj, "name", Value::String(name.to_string()));
        let created = store::create(reg, res, url_ns, obj, opts).await?;
        return Ok(Updated {
            object: created,
            created: true,
        });
    }
    let compute = |old: &Value| -> Result<(UpdateDecision, Value), StatusError> {
        let served = convert::from_storage(res, old.clone())?;
        let merged = merge_onto(res, &served, config, opts)?;
        let new = convert::to_storage(res, merged)?;
        decide_update(res, old, new, target, opts)
    };
    if opts.dry_run {
        let Some(kv) = existing else {
            return Err(StatusError::not_found(&gr, name));
        };
        let (_, new) = compute(&store::decode_stored(&kv)?)?;
        return Ok(Updated {
            object: convert::from_storage(res, new)?,
            created: false,
        });
    }
    let (outcome, result) = read_modify_write(reg, res, &key, opts, compute)
        .await
        .map_err(|e| e.into_status(&gr, name))?;
    finish_update(res, outcome, result)
}
