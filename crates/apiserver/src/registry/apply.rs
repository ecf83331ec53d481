//! Server-side apply: `PATCH` with `application/apply-patch+yaml`.
//!
//! The configuration is merged into the live object by the kind's schema
//! (`managedfields`), the applier takes ownership of what it applies,
//! fields it applied before and dropped are removed unless someone else
//! owns them, and fields owned by other managers that would change are
//! conflicts (409) unless `force=true`. A missing object is created. The
//! result then goes through admission and the regular update (or create)
//! pipeline (`admission::admitted`).

use corten_apimachinery::managedfields::{ApplyError, Managers, Operation, managers};
use corten_apimachinery::status::StatusCause;
use corten_apimachinery::{Reason, StatusError, meta};
use serde_json::{Map, Value};

use super::Resource;
use super::change::Change;
use super::keys::check_path_segment;
use super::managed::{ignored, manager_id, now, resource_schema};
use super::store::{WriteOptions, check_dropped_fields};
use crate::wire::{self, InputFormat};

/// The 409 for apply conflicts, with one `FieldManagerConflict` cause per
/// field.
pub(crate) fn conflict_error(c: &corten_apimachinery::managedfields::Conflicts) -> StatusError {
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

pub(crate) fn apply_error(e: ApplyError) -> StatusError {
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
    let schema = resource_schema(res);
    crate::crd::ownership::check_declared(res, &schema, &config)?;
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
    let schema = resource_schema(res);
    let me = manager_id(res, opts, Operation::Apply);
    let stored = Managers::decode(live).unwrap_or_default();
    let ignored = ignored(res, &opts.subresource);
    let now = now();
    let versions = super::managed::versions_of(res);
    let run = |force: bool| {
        managers::apply_versioned(
            &schema,
            live,
            config,
            stored.clone(),
            &me,
            force,
            &ignored,
            &now,
            versions
                .as_ref()
                .map(|v| v as &dyn corten_apimachinery::managedfields::managers::Versions),
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

/// A PATCH with an apply configuration (`application/apply-patch+yaml`).
/// The write must use options with `managed_fields_done` set (see
/// [`Apply::write_options`]): the merge records managedFields itself.
pub struct Apply<'a> {
    res: &'a Resource,
    name: &'a str,
    config: Value,
    opts: &'a WriteOptions,
}

impl<'a> Apply<'a> {
    /// Decodes and checks the configuration sent for `name`.
    pub fn new(
        res: &'a Resource,
        name: &'a str,
        body: &[u8],
        opts: &'a WriteOptions,
    ) -> Result<Self, StatusError> {
        check_path_segment(res.def.kind, "name", name)?;
        let config = decode_config(res, body, opts)?;
        if let Some(n) = meta::name(&config)
            && n != name
        {
            return Err(StatusError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        Ok(Apply {
            res,
            name,
            config,
            opts,
        })
    }

    /// The options of the write that follows an apply: the request's, with
    /// managedFields left as the merge set them (warnings go to a fresh
    /// list; hand them on with `take_warnings`).
    pub fn write_options(opts: &WriteOptions) -> WriteOptions {
        WriteOptions {
            dry_run: opts.dry_run,
            field_manager: opts.field_manager.clone(),
            field_validation: opts.field_validation,
            service_cidr_is_v4: opts.service_cidr_is_v4,
            user_agent_manager: opts.user_agent_manager.clone(),
            force: opts.force,
            subresource: opts.subresource.clone(),
            managed_fields_done: true,
            ..Default::default()
        }
    }
}

impl Change for Apply<'_> {
    fn admission_objects(&self, current: &Value) -> Result<(Value, Value), StatusError> {
        let merged = merge_onto(self.res, current, &self.config, self.opts)?;
        Ok((current.clone(), merged))
    }

    fn object_to_create(&self) -> Option<Result<Value, StatusError>> {
        if self.opts.subresource == "status" {
            return None;
        }
        // Create on apply: the configuration applied onto an empty object.
        let mut empty = Map::new();
        empty.insert("metadata".into(), Value::Object(Map::new()));
        Some(
            merge_onto(self.res, &Value::Object(empty), &self.config, self.opts).map(|mut obj| {
                meta::set(&mut obj, "name", Value::String(self.name.to_string()));
                obj
            }),
        )
    }
}
