//! Field ownership on every write: `metadata.managedFields` entries for
//! creates, updates and patches (operation `Update`), the schemas
//! server-side apply merges by, and the request options it needs
//! (`fieldManager`, `force`).
//!
//! Schemas come from the OpenAPI component schemas of the served kind
//! (the same ones `/openapi/v3` serves), compiled on first use. Other
//! sources (custom resources' structural schemas) register theirs with
//! [`register_schema`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use corten_api::{Prepared, ResourceDef};
use corten_apimachinery::managedfields::{
    ManagerId, Managers, Operation, Requested, Schema, Set, managers,
};
use corten_apimachinery::{FieldError, GroupKind, Path, StatusError};
use serde_json::{Value, json};

use super::Resource;
use super::store::{UpdateTarget, WriteOptions};

type Key = (String, String, String);

fn cache() -> &'static Mutex<HashMap<Key, Arc<Schema>>> {
    static CACHE: OnceLock<Mutex<HashMap<Key, Arc<Schema>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Registers the schema of a kind that is not built in (a custom
/// resource's structural schema compiled with [`Schema::compile`]).
pub fn register_schema(group: &str, version: &str, kind: &str, schema: Arc<Schema>) {
    if let Ok(mut c) = cache().lock() {
        c.insert((group.into(), version.into(), kind.into()), schema);
    }
}

/// The schema of a served kind (untyped if it has none).
pub fn schema_for(def: &ResourceDef) -> Arc<Schema> {
    schema_of(def.group, def.version, def.kind)
}

/// The schema of a kind by group, version and kind (for kinds that are
/// not a resource of their own, like autoscaling/v1 `Scale`).
pub fn schema_of(group: &str, version: &str, kind: &str) -> Arc<Schema> {
    let key: Key = (group.into(), version.into(), kind.into());
    if let Some(s) = cache().lock().ok().and_then(|c| c.get(&key).cloned()) {
        return s;
    }
    let schema = Arc::new(builtin_schema(group, version, kind));
    if let Ok(mut c) = cache().lock() {
        c.insert(key, schema.clone());
    }
    schema
}

fn builtin_schema(group: &str, version: &str, kind: &str) -> Schema {
    let (defs, named) = crate::openapi::schemas::components(group, version, &[kind]);
    let Some((_, root_name)) = named.into_iter().next() else {
        return Schema::untyped();
    };
    let root = json!({ "$ref": format!("#/components/schemas/{root_name}") });
    let zero = |component: &str| -> Vec<String> {
        if component == root_name {
            return ["metadata", "spec", "status"]
                .into_iter()
                .map(String::from)
                .collect();
        }
        corten_api::patch_meta::ssa::zero_present(component)
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    Schema::compile(&root, &|n| defs.get(n), &zero)
}

/// `PatchOptions`/`CreateOptions`/`UpdateOptions` checks (422 like
/// upstream): `fieldManager` is required for apply and must be printable
/// and at most 128 characters; `force` only goes with apply.
pub fn validate_options(
    kind: &str,
    field_manager: Option<&str>,
    force: Option<&str>,
    apply: bool,
) -> Result<(), StatusError> {
    let path = Path::new("fieldManager");
    let mut errs = Vec::new();
    if !apply && force.is_some() {
        errs.push(FieldError::forbidden(
            &Path::new("force"),
            "may not be specified for non-apply patch",
        ));
    }
    let fm = field_manager.unwrap_or("");
    if apply && fm.is_empty() {
        errs.push(FieldError::required(&path, "is required for apply patch"));
    }
    if fm.chars().count() > 128 {
        errs.push(FieldError::too_long(&path, 128));
    }
    for (i, c) in fm.chars().enumerate() {
        if c.is_control() {
            errs.push(FieldError::invalid(
                &path,
                fm.to_string(),
                &format!("invalid character U+{:04X} (at position {i})", c as u32),
            ));
        }
    }
    if errs.is_empty() {
        return Ok(());
    }
    Err(StatusError::invalid(
        &GroupKind::new("meta.k8s.io", kind),
        "",
        &errs,
    ))
}

/// The manager named by a user agent when `fieldManager` is not given:
/// what precedes the first `/`, printable characters only, at most 128
/// bytes (`kubectl/v1.32.0 (linux/amd64) ...` -> `kubectl`).
pub fn manager_from_user_agent(ua: &str) -> String {
    let mut out = String::new();
    for c in ua.split('/').next().unwrap_or("").chars() {
        if c.is_control() {
            continue;
        }
        if out.len() + c.len_utf8() > 128 {
            break;
        }
        out.push(c);
    }
    out
}

/// Now as managedFields times are written (RFC 3339, whole seconds).
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Who is writing.
pub fn manager_id(res: &Resource, opts: &WriteOptions, operation: Operation) -> ManagerId {
    ManagerId {
        manager: opts.manager(),
        operation,
        api_version: res.def.api_version(),
        subresource: opts.subresource.clone(),
    }
}

/// Fields a write through this endpoint does not own.
pub fn ignored(res: &Resource, subresource: &str) -> Set {
    managers::reset_fields(subresource, res.def.has_subresource("status"))
}

/// Records a create by the request's manager on the prepared object.
pub fn track_create(res: &Resource, prepared: &mut Prepared, opts: &WriteOptions) {
    if opts.managed_fields_done {
        return;
    }
    let base = match Managers::requested(prepared.value()) {
        Requested::Set(m) => m,
        Requested::Keep | Requested::Reset => Managers::default(),
    };
    track(res, None, prepared, base, opts);
}

/// Records an update (PUT or non-apply PATCH) of `old` (stored form).
pub fn track_update(
    res: &Resource,
    old: &Value,
    prepared: &mut Prepared,
    target: UpdateTarget,
    opts: &WriteOptions,
) {
    if opts.managed_fields_done {
        return;
    }
    let stored = || Managers::decode(old).unwrap_or_default();
    let base = if target == UpdateTarget::Status || !opts.subresource.is_empty() {
        // Subresources never set managedFields from the request.
        stored()
    } else {
        match Managers::requested(prepared.value()) {
            Requested::Keep => stored(),
            Requested::Reset => Managers::default(),
            Requested::Set(m) => m,
        }
    };
    track(res, Some(old), prepared, base, opts);
}

fn track(
    res: &Resource,
    old: Option<&Value>,
    prepared: &mut Prepared,
    base: Managers,
    opts: &WriteOptions,
) {
    let schema = schema_for(res.storage_def);
    let me = manager_id(res, opts, Operation::Update);
    let ignored = ignored(res, &opts.subresource);
    let result = managers::update(
        &schema,
        old,
        prepared.value(),
        base.clone(),
        &me,
        &ignored,
        &now(),
    );
    let managers = match result {
        Ok(m) => m,
        // Like upstream, an object that does not fit the schema is
        // written with the managers it had.
        Err(e) => {
            tracing::debug!(error = %e, "managedFields not updated");
            base
        }
    };
    let encoded = managers.encode();
    let current = prepared
        .value()
        .pointer("/metadata/managedFields")
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    if encoded != current
        && let Err(e) = prepared.set_managed_fields(encoded)
    {
        tracing::warn!(error = %e, "managedFields not set");
    }
}
