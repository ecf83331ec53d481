//! Server-side apply: `PATCH` with `application/apply-patch+yaml`.
//!
//! The configuration is merged into the live object by the kind's schema
//! (`managedfields`), the applier takes ownership of what it applies,
//! fields it applied before and dropped are removed unless someone else
//! owns them, and fields owned by other managers that would change are
//! conflicts (409) unless `force=true`. A missing object is created. The
//! result then goes through admission and the regular update (or create)
//! pipeline (`admission::admitted`).

use corten_apimachinery::managedfields::{
    ApplyError, Managers, Operation, Schema, managers, validate,
};
use corten_apimachinery::status::StatusCause;
use corten_apimachinery::{Reason, StatusError, meta};
use serde_json::{Map, Value};

use super::Resource;
use super::change::Change;
use super::keys::check_path_segment;
use super::managed::{ignored, manager_id, now, resource_schema};
use super::store::{FieldValidation, WriteOptions};
use crate::repeated_keys::{self, RepeatedKey};

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

/// Decodes an apply configuration (YAML or JSON; a repeated key keeps
/// its last value, `fieldValidation` judges the repetitions after the
/// merge, see [`judge_repeated_keys`]).
pub(crate) fn decode_apply_body(body: &[u8]) -> Result<(Value, Vec<RepeatedKey>), StatusError> {
    let (config, repeated) = repeated_keys::decode_yaml(body)
        .map_err(|e| StatusError::bad_request(format!("error decoding YAML: {e}")))?;
    if !config.is_object() {
        return Err(StatusError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    Ok((config, repeated))
}

/// Upstream's `group/version, Kind=kind` (schema.GroupVersionKind's
/// String): `/v1, Kind=Pod` for the core group.
pub(crate) fn gvk_string(group: &str, version: &str, kind: &str) -> String {
    format!("{group}/{version}, Kind={kind}")
}

/// The group, version and kind an object names (an `apiVersion` that is
/// not `group/version` or `version` names none, as upstream parses it).
fn object_gvk(config: &Value) -> (String, String, String) {
    let kind = meta::kind(config).unwrap_or("").to_string();
    let av = meta::api_version(config).unwrap_or("");
    let (group, version) = match av.split('/').collect::<Vec<_>>()[..] {
        [v] => ("", v),
        [g, v] => (g, v),
        _ => ("", ""),
    };
    (group.to_string(), version.to_string(), kind)
}

/// Upstream's first check of an apply configuration (its field manager's
/// version check): the object must name exactly the endpoint's kind, else
/// 400 `invalid object type: <group>/<version>, Kind=<kind>` (as the
/// object names it). Then `metadata.managedFields` must be unset.
pub(crate) fn check_apply_type(
    config: &Value,
    group: &str,
    version: &str,
    kind: &str,
) -> Result<(), StatusError> {
    let (g, v, k) = object_gvk(config);
    if (g.as_str(), v.as_str(), k.as_str()) != (group, version, kind) {
        return Err(StatusError::bad_request(format!(
            "invalid object type: {}",
            gvk_string(&g, &v, &k)
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
    Ok(())
}

/// Upstream's answer to a configuration that does not fit the kind's
/// schema (undeclared fields, wrong types; see
/// [`corten_apimachinery::managedfields::validate`]): its field manager
/// reports it as a plain error, so a 500 without a reason, whatever
/// `fieldValidation` says: `failed to create typed patch object
/// (<namespace>/<name>; <group>/<version>, Kind=<Kind>): .spec.foo: field
/// not declared in schema`.
pub(crate) fn check_typed(
    schema: &Schema,
    config: &Value,
    group: &str,
    version: &str,
    kind: &str,
) -> Result<(), StatusError> {
    let violations = validate::check(schema, config);
    if violations.is_empty() {
        return Ok(());
    }
    let text = |k: &str| {
        config
            .pointer(&format!("/metadata/{k}"))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let mut e = StatusError::new(
        Reason::Unknown,
        format!(
            "failed to create typed patch object ({}/{}; {}): {}",
            text("namespace"),
            text("name"),
            gvk_string(group, version, kind),
            validate::describe(&violations)
        ),
    );
    e.code = 500;
    Err(e)
}

/// `fieldValidation` over the keys an apply configuration repeats, judged
/// once the merge succeeded (as upstream does): Strict refuses the
/// request (400 `error strict decoding YAML: ...`), Warn sends one
/// `Warning` per repetition, Ignore lets them be.
pub(crate) fn judge_repeated_keys(
    repeated: &[RepeatedKey],
    opts: &WriteOptions,
) -> Result<(), StatusError> {
    if repeated.is_empty() {
        return Ok(());
    }
    match opts.field_validation {
        FieldValidation::Ignore => Ok(()),
        FieldValidation::Strict => Err(StatusError::bad_request(format!(
            "error strict decoding YAML: error converting YAML to JSON: {}",
            repeated_keys::unmarshal_errors(repeated)
        ))),
        FieldValidation::Warn => {
            for k in repeated {
                opts.warn(k.to_string());
            }
            Ok(())
        }
    }
}

/// Decodes and checks an apply configuration for `res`.
fn decode_config(res: &Resource, body: &[u8]) -> Result<(Value, Vec<RepeatedKey>), StatusError> {
    let (config, repeated) = decode_apply_body(body)?;
    let d = res.def;
    check_apply_type(&config, d.group, d.version, d.kind)?;
    check_typed(&resource_schema(res), &config, d.group, d.version, d.kind)?;
    Ok((config, repeated))
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
    /// Keys the configuration repeats (judged after the merge).
    repeated: Vec<RepeatedKey>,
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
        let (config, repeated) = decode_config(res, body)?;
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
            repeated,
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
        judge_repeated_keys(&self.repeated, self.opts)?;
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
            merge_onto(self.res, &Value::Object(empty), &self.config, self.opts).and_then(
                |mut obj| {
                    judge_repeated_keys(&self.repeated, self.opts)?;
                    meta::set(&mut obj, "name", Value::String(self.name.to_string()));
                    Ok(obj)
                },
            ),
        )
    }
}
