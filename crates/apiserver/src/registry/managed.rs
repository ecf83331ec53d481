//! Field ownership on every write: `metadata.managedFields` entries for
//! creates, updates and patches (operation `Update`), the schemas
//! server-side apply merges by, and the request options it needs
//! (`fieldManager`, `force`).
//!
//! Schemas come from the OpenAPI component schemas of the served kind
//! (the same ones `/openapi/v3` serves), compiled on first use; custom
//! resources bring theirs, compiled from the CRD version's structural
//! schema (`crd::ownership`), see [`resource_schema`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use corten_api::{Prepared, ResourceDef};
use corten_apimachinery::managedfields::{
    ManagerId, Managers, Operation, Requested, Schema, Set, Versions, created_fields_v1, managers,
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

/// The schema of a served kind (untyped if it has none).
pub fn schema_for(def: &ResourceDef) -> Arc<Schema> {
    schema_of(def.group, def.version, def.kind)
}

/// The schema writes to `res` are tracked and applied by: a custom
/// resource's own (its CRD version's), else the built-in kind's.
pub fn resource_schema(res: &Resource) -> Arc<Schema> {
    match &res.custom {
        Some(c) => c.apply_schema.clone(),
        None => schema_for(res.def),
    }
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
        Requested::Keep | Requested::Reset => {
            if let Some(encoded) = created_entries(res, prepared, opts) {
                set_managed_fields(prepared, encoded);
                return;
            }
            Managers::default()
        }
    };
    track(res, None, prepared, base, opts);
}

/// The managedFields of a create that brings no managers of its own, in
/// one walk over the object (see [`created_fields_v1`]): what [`track`]
/// computes from an empty [`Managers`]. None when the walk leaves the
/// object to the general path (or the request's version is not the
/// storage version, whose paths entries would then have to be in).
fn created_entries(res: &Resource, prepared: &Prepared, opts: &WriteOptions) -> Option<Value> {
    if !res.is_storage_version() {
        return None;
    }
    let ignored = ignored(res, &opts.subresource);
    let fields = created_fields_v1(&resource_schema(res), prepared.value(), &ignored).ok()?;
    let me = manager_id(res, opts, Operation::Update);
    Some(Value::Array(
        fields
            .map(|f| managers::encode_entry(&me, Some(&now()), f))
            .into_iter()
            .collect(),
    ))
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
    let me = manager_id(res, opts, Operation::Update);
    let ignored = ignored(res, &opts.subresource);
    let versions = versions_of(res);
    let result = if res.is_storage_version() {
        managers::update_versioned(
            &resource_schema(res),
            old,
            prepared.value(),
            base.clone(),
            &me,
            &ignored,
            &now(),
            versions.as_ref().map(|v| v as &dyn Versions),
        )
    } else {
        // Entries hold paths of the version they were written in: the
        // write is compared in the served version it came in.
        let served =
            |v: &Value| super::convert::from_storage(res, v.clone()).map_err(|e| e.message);
        old.map(served)
            .transpose()
            .and_then(|old| Ok((old, served(prepared.value())?)))
            .and_then(|(old, new)| {
                managers::update_versioned(
                    &resource_schema(res),
                    old.as_ref(),
                    &new,
                    base.clone(),
                    &me,
                    &ignored,
                    &now(),
                    versions.as_ref().map(|v| v as &dyn Versions),
                )
            })
    };
    let managers = match result {
        Ok(m) => m,
        // Like upstream, an object that does not fit the schema is
        // written with the managers it had.
        Err(e) => {
            tracing::debug!(error = %e, "managedFields not updated");
            base
        }
    };
    set_managed_fields(prepared, managers.encode());
}

/// Writes the encoded entries into `metadata.managedFields` unless they
/// are there already.
fn set_managed_fields(prepared: &mut Prepared, encoded: Value) {
    let unchanged = match prepared.value().pointer("/metadata/managedFields") {
        Some(current) => *current == encoded,
        None => encoded.as_array().is_some_and(Vec::is_empty),
    };
    if !unchanged && let Err(e) = prepared.set_managed_fields(encoded) {
        tracing::warn!(error = %e, "managedFields not set");
    }
}

/// The versions of `res`'s kind, for managedFields entries recorded in
/// another version than a write's: a built-in kind's served versions, or
/// every version of a custom resource's CRD (converted by its webhook).
pub fn versions_of(res: &Resource) -> Option<ResourceVersions<'_>> {
    Some(match &res.custom {
        Some(c) => ResourceVersions::Custom(&c.versions),
        None => ResourceVersions::Kind(KindVersions { res }),
    })
}

/// See [`versions_of`].
pub enum ResourceVersions<'a> {
    /// A built-in kind's.
    Kind(KindVersions<'a>),
    /// A CRD's.
    Custom(&'a crate::crd::ownership::CrdVersions),
}

impl Versions for ResourceVersions<'_> {
    fn schema(&self, api_version: &str) -> Option<Arc<Schema>> {
        match self {
            ResourceVersions::Kind(k) => k.schema(api_version),
            ResourceVersions::Custom(c) => c.schema(api_version),
        }
    }

    fn convert(&self, obj: &Value, api_version: &str) -> Result<Value, String> {
        match self {
            ResourceVersions::Kind(k) => k.convert(obj, api_version),
            ResourceVersions::Custom(c) => c.convert(obj, api_version),
        }
    }
}

/// The versions a built-in kind is served in.
pub struct KindVersions<'a> {
    res: &'a Resource,
}

impl KindVersions<'_> {
    fn def(&self, api_version: &str) -> Option<&'static ResourceDef> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        corten_api::builtin_resources().iter().find(|d| {
            d.group == group
                && d.version == version
                && d.storage_resource == self.res.def.storage_resource
        })
    }
}

impl Versions for KindVersions<'_> {
    fn schema(&self, api_version: &str) -> Option<Arc<Schema>> {
        self.def(api_version).map(schema_for)
    }

    fn convert(&self, obj: &Value, api_version: &str) -> Result<Value, String> {
        let from = corten_apimachinery::meta::api_version(obj)
            .and_then(|v| self.def(v))
            .unwrap_or(self.res.def);
        let to = self
            .def(api_version)
            .ok_or_else(|| format!("{api_version} is not served"))?;
        if std::ptr::eq(from, to) {
            return Ok(obj.clone());
        }
        let storage = self.res.storage_def;
        let stored = match from.conversion {
            Some(c) if !std::ptr::eq(from, storage) => c.to_storage(obj.clone())?,
            _ => obj.clone(),
        };
        let mut out = match to.conversion {
            Some(c) if !std::ptr::eq(to, storage) => c.from_storage(stored)?,
            _ => stored,
        };
        corten_apimachinery::meta::set_type_meta(&mut out, &to.api_version(), to.kind);
        Ok(out)
    }
}

#[cfg(test)]
#[path = "managed_tests.rs"]
mod tests;
