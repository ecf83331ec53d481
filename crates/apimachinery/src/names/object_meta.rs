//! `metadata` validation (upstream `k8s.io/apimachinery/pkg/api/validation`
//! `ValidateObjectMetaAccessor` / `ValidateObjectMetaAccessorUpdate`).
//!
//! Objects are JSON; a field of the wrong JSON type is reported as a
//! `TypeInvalid` error rather than ignored (upstream would have failed to
//! decode the object earlier).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::{NameValidator, is_dns1123_label, is_qualified_name, is_valid_label_value};
use crate::field_error::{ErrorList, FieldError, FieldErrorType, Path};
use crate::go_format::go_string_slice;

/// Upstream `FieldImmutableErrorMsg`.
pub const FIELD_IMMUTABLE_ERROR_MSG: &str = "field is immutable";

/// Upstream `TotalAnnotationSizeLimitB`: 256 KiB over all keys and values.
pub const TOTAL_ANNOTATION_SIZE_LIMIT_B: usize = 256 * 1024;

const FIELD_MANAGER_MAX_LENGTH: usize = 128;
const MAX_SUBRESOURCE_NAME_LENGTH: usize = 256;
const IS_NEGATIVE_ERROR_MSG: &str = "must be greater than or equal to 0";
const FINALIZER_ORPHAN_DEPENDENTS: &str = "orphan";
const FINALIZER_DELETE_DEPENDENTS: &str = "foregroundDeletion";

fn type_invalid(path: &Path, value: &Value, detail: &str) -> FieldError {
    FieldError {
        error_type: FieldErrorType::TypeInvalid,
        field: path.to_string(),
        bad_value: Some(value.clone()),
        detail: detail.to_string(),
    }
}

/// Reads `meta[field]` as a string; absent and null read as "".
fn string_field<'a>(
    meta: &'a Map<String, Value>,
    field: &str,
    path: &Path,
    errs: &mut ErrorList,
) -> &'a str {
    match meta.get(field) {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s,
        Some(other) => {
            errs.push(type_invalid(&path.child(field), other, "must be a string"));
            ""
        }
    }
}

/// Reads a `map[string]string` field; entries of the wrong type are reported.
fn string_map(
    value: Option<&Value>,
    path: &Path,
    errs: &mut ErrorList,
) -> BTreeMap<String, String> {
    match value {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(m)) => m
            .iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k.clone(), s.clone())),
                other => {
                    errs.push(type_invalid(&path.key(k), other, "must be a string"));
                    None
                }
            })
            .collect(),
        Some(other) => {
            errs.push(type_invalid(path, other, "must be an object"));
            BTreeMap::new()
        }
    }
}

/// Reads a `[]string` field; entries of the wrong type are reported.
fn string_list(value: Option<&Value>, path: &Path, errs: &mut ErrorList) -> Vec<String> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .filter_map(|(i, v)| match v {
                Value::String(s) => Some(s.clone()),
                other => {
                    errs.push(type_invalid(&path.index(i), other, "must be a string"));
                    None
                }
            })
            .collect(),
        Some(other) => {
            errs.push(type_invalid(path, other, "must be an array"));
            Vec::new()
        }
    }
}

/// Reads an array of objects; non-object entries are reported and skipped.
fn object_list<'a>(
    value: Option<&'a Value>,
    path: &Path,
    errs: &mut ErrorList,
) -> Vec<&'a Map<String, Value>> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .filter_map(|(i, v)| match v {
                Value::Object(m) => Some(m),
                other => {
                    errs.push(type_invalid(&path.index(i), other, "must be an object"));
                    None
                }
            })
            .collect(),
        Some(other) => {
            errs.push(type_invalid(path, other, "must be an array"));
            Vec::new()
        }
    }
}

fn int_field(meta: &Map<String, Value>, field: &str, path: &Path, errs: &mut ErrorList) -> i64 {
    match meta.get(field) {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_i64().unwrap_or_else(|| {
            errs.push(type_invalid(&path.child(field), v, "must be an integer"));
            0
        }),
    }
}

/// Upstream `maskTrailingDash`: a generateName may end in `-` (random
/// characters follow), so replace the tail before validating it as a name.
/// Mirrors upstream exactly, which drops the last two characters.
fn mask_trailing_dash(name: &str) -> String {
    if name.len() > 1 && name.ends_with('-') {
        // Upstream slices bytes; stay on a char boundary for non-ASCII input.
        let mut cut = name.len() - 2;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}a", &name[..cut])
    } else {
        name.to_string()
    }
}

/// Upstream `ValidateLabels`: keys are qualified names, values label values.
/// Errors are reported at `path` itself, as upstream does.
pub fn validate_labels(labels: &BTreeMap<String, String>, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    for (k, v) in labels {
        for msg in is_qualified_name(k) {
            errs.push(FieldError::invalid(path, k.as_str(), &msg));
        }
        for msg in is_valid_label_value(v) {
            errs.push(FieldError::invalid(path, v.as_str(), &msg));
        }
    }
    errs
}

/// Upstream `ValidateAnnotations`: keys are qualified names (case
/// insensitive) and the total size of keys and values is at most 256 KiB.
pub fn validate_annotations(annotations: &BTreeMap<String, String>, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut total: usize = 0;
    for (k, v) in annotations {
        for msg in is_qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(path, k.as_str(), &msg));
        }
        total = total.saturating_add(k.len()).saturating_add(v.len());
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_B {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT_B));
    }
    errs
}

/// Upstream `ValidateFinalizers`: qualified names, and not both `orphan`
/// and `foregroundDeletion`.
pub fn validate_finalizers(finalizers: &[String], path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    for f in finalizers {
        for msg in is_qualified_name(f) {
            errs.push(FieldError::invalid(path, f.as_str(), &msg));
        }
    }
    let has = |name: &str| finalizers.iter().any(|f| f == name);
    if has(FINALIZER_ORPHAN_DEPENDENTS) && has(FINALIZER_DELETE_DEPENDENTS) {
        errs.push(FieldError::invalid(
            path,
            Value::from(finalizers.to_vec()),
            &format!(
                "finalizer {FINALIZER_ORPHAN_DEPENDENTS} and {FINALIZER_DELETE_DEPENDENTS} cannot be both set"
            ),
        ));
    }
    errs
}

/// Upstream `schema.ParseGroupVersion` reduced to "(group, version) or error".
fn parse_group_version(api_version: &str) -> Option<(&str, &str)> {
    if api_version.is_empty() || api_version == "/" {
        return Some(("", ""));
    }
    match api_version.matches('/').count() {
        0 => Some(("", api_version)),
        1 => api_version.split_once('/'),
        _ => None,
    }
}

/// Upstream `ValidateOwnerReferences` (the JSON array of `ownerReferences`).
/// As upstream, per-reference errors are reported at
/// `ownerReferences.<field>` without an index.
pub fn validate_owner_references(refs: &Value, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let list = object_list(Some(refs), path, &mut errs);
    let mut first_controller: Option<String> = None;
    for r in list {
        let api_version = string_field(r, "apiVersion", path, &mut errs);
        let kind = string_field(r, "kind", path, &mut errs);
        let name = string_field(r, "name", path, &mut errs);
        let uid = string_field(r, "uid", path, &mut errs);
        let (group, version) = parse_group_version(api_version).unwrap_or(("", ""));
        if version.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("apiVersion"),
                api_version,
                "version must not be empty",
            ));
        }
        if kind.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("kind"),
                kind,
                "must not be empty",
            ));
        }
        if name.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("name"),
                name,
                "must not be empty",
            ));
        }
        if uid.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("uid"),
                uid,
                "must not be empty",
            ));
        }
        if group.is_empty() && version == "v1" && kind == "Event" {
            errs.push(FieldError::invalid(
                path,
                Value::Object(r.clone()),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            let current = format!("{kind}/{name}");
            match &first_controller {
                Some(first) => errs.push(FieldError::invalid(
                    path,
                    refs.clone(),
                    &format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
    errs
}

/// Upstream `ValidateFieldManager`.
fn validate_field_manager(manager: &str, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    if manager.len() > FIELD_MANAGER_MAX_LENGTH {
        errs.push(FieldError::too_long(path, FIELD_MANAGER_MAX_LENGTH));
    }
    for (i, c) in manager.char_indices() {
        if c.is_control() {
            errs.push(FieldError::invalid(
                path,
                manager,
                &format!("invalid character U+{:04X} (at position {i})", u32::from(c)),
            ));
        }
    }
    errs
}

/// Upstream `ValidateManagedFields`.
fn validate_managed_fields(value: Option<&Value>, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let list = object_list(value, path, &mut errs);
    for (i, entry) in list.into_iter().enumerate() {
        let p = path.index(i);
        let op = string_field(entry, "operation", &p, &mut errs);
        if op != "Apply" && op != "Update" {
            errs.push(FieldError::invalid(
                &p.child("operation"),
                op,
                "must be `Apply` or `Update`",
            ));
        }
        let fields_type = string_field(entry, "fieldsType", &p, &mut errs);
        if !fields_type.is_empty() && fields_type != "FieldsV1" {
            errs.push(FieldError::invalid(
                &p.child("fieldsType"),
                fields_type,
                "must be `FieldsV1`",
            ));
        }
        let manager = string_field(entry, "manager", &p, &mut errs);
        errs.extend(validate_field_manager(manager, &p.child("manager")));
        let subresource = string_field(entry, "subresource", &p, &mut errs);
        if subresource.len() > MAX_SUBRESOURCE_NAME_LENGTH {
            errs.push(FieldError::too_long(
                &p.child("subresource"),
                MAX_SUBRESOURCE_NAME_LENGTH,
            ));
        }
    }
    errs
}

/// The checks shared by create and update on the new object's metadata.
fn validate_common_maps(meta: &Map<String, Value>, path: &Path, errs: &mut ErrorList) {
    let labels_path = path.child("labels");
    let labels = string_map(meta.get("labels"), &labels_path, errs);
    errs.extend(validate_labels(&labels, &labels_path));
    let ann_path = path.child("annotations");
    let annotations = string_map(meta.get("annotations"), &ann_path, errs);
    errs.extend(validate_annotations(&annotations, &ann_path));
    if let Some(refs) = meta.get("ownerReferences").filter(|v| !v.is_null()) {
        errs.extend(validate_owner_references(
            refs,
            &path.child("ownerReferences"),
        ));
    }
}

fn empty_map() -> &'static Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

/// Validates `metadata` of an object being created (upstream
/// `ValidateObjectMeta`): `name` present and valid per `name_validator`
/// (a missing name is accepted when `generateName` is set, so this may run
/// before the name is generated); `generateName` valid as a name prefix;
/// namespace present iff `namespaced` and a valid DNS label; generation not
/// negative; labels (keys qualified names, values label values); annotations
/// (keys qualified names, total size <= 256 KiB); ownerReferences
/// (apiVersion, kind, name, uid required; at most one controller; Events
/// may not own); finalizers (qualified names; not both `orphan` and
/// `foregroundDeletion`); managedFields (operation, fieldsType, manager).
/// Paths start at `path` (normally `metadata`).
pub fn validate_object_meta(
    obj: &Value,
    namespaced: bool,
    name_validator: NameValidator,
    path: &Path,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let meta = match obj.get("metadata") {
        None | Some(Value::Null) => empty_map(),
        Some(Value::Object(m)) => m,
        Some(other) => {
            errs.push(type_invalid(path, other, "must be an object"));
            empty_map()
        }
    };

    let generate_name = string_field(meta, "generateName", path, &mut errs);
    if !generate_name.is_empty() {
        for msg in name_validator(&mask_trailing_dash(generate_name)) {
            errs.push(FieldError::invalid(
                &path.child("generateName"),
                generate_name,
                &msg,
            ));
        }
    }
    let name = string_field(meta, "name", path, &mut errs);
    if name.is_empty() {
        if generate_name.is_empty() {
            errs.push(FieldError::required(
                &path.child("name"),
                "name or generateName is required",
            ));
        }
    } else {
        for msg in name_validator(name) {
            errs.push(FieldError::invalid(&path.child("name"), name, &msg));
        }
    }

    let namespace = string_field(meta, "namespace", path, &mut errs);
    if namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required(&path.child("namespace"), ""));
        } else {
            for msg in is_dns1123_label(namespace) {
                errs.push(FieldError::invalid(
                    &path.child("namespace"),
                    namespace,
                    &msg,
                ));
            }
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(
            &path.child("namespace"),
            "not allowed on this type",
        ));
    }

    let generation = int_field(meta, "generation", path, &mut errs);
    if generation < 0 {
        errs.push(FieldError::invalid(
            &path.child("generation"),
            generation,
            IS_NEGATIVE_ERROR_MSG,
        ));
    }
    validate_common_maps(meta, path, &mut errs);
    let fin_path = path.child("finalizers");
    let finalizers = string_list(meta.get("finalizers"), &fin_path, &mut errs);
    errs.extend(validate_finalizers(&finalizers, &fin_path));
    errs.extend(validate_managed_fields(
        meta.get("managedFields"),
        &path.child("managedFields"),
    ));
    errs
}

/// A metadata value normalized for the immutability comparison: absent,
/// null and (for strings) empty all mean "unset", as Go's zero values do.
fn normalized(meta: &Map<String, Value>, field: &str) -> Value {
    match meta.get(field) {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) if s.is_empty() => Value::Null,
        Some(v) => v.clone(),
    }
}

/// Semantic equality of two timestamps (metav1.Time compares instants).
fn same_time(a: &Value, b: &Value) -> bool {
    match (a.as_str(), b.as_str()) {
        (Some(x), Some(y)) => match (crate::time::parse(x), crate::time::parse(y)) {
            (Some(tx), Some(ty)) => tx.as_second() == ty.as_second(),
            _ => x == y,
        },
        _ => a == b,
    }
}

/// Validates metadata changes on update (upstream
/// `ValidateObjectMetaUpdate`): `resourceVersion` must be set; generation
/// may not decrease; name, namespace, uid, creationTimestamp,
/// deletionTimestamp and deletionGracePeriodSeconds are immutable
/// (`field is immutable`; deletion sets the last two through the delete
/// path, not an update); no finalizers may be added once the object is
/// being deleted; labels, annotations, ownerReferences and managedFields of
/// the new object are validated as on create. As upstream, the name format
/// and the finalizer names are not re-validated (`namespaced` and
/// `name_validator` are accepted for symmetry with `validate_object_meta`).
pub fn validate_object_meta_update(
    new: &Value,
    old: &Value,
    _namespaced: bool,
    _name_validator: NameValidator,
    path: &Path,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let new_meta = match new.get("metadata") {
        None | Some(Value::Null) => empty_map(),
        Some(Value::Object(m)) => m,
        Some(other) => {
            errs.push(type_invalid(path, other, "must be an object"));
            empty_map()
        }
    };
    let old_meta = old
        .get("metadata")
        .and_then(Value::as_object)
        .unwrap_or_else(|| empty_map());

    if !normalized(old_meta, "deletionTimestamp").is_null() {
        let fin_path = path.child("finalizers");
        let mut ignored = ErrorList::new();
        let old_fin: BTreeSet<String> =
            string_list(old_meta.get("finalizers"), &fin_path, &mut ignored)
                .into_iter()
                .collect();
        let new_fin: BTreeSet<String> =
            string_list(new_meta.get("finalizers"), &fin_path, &mut errs)
                .into_iter()
                .collect();
        let extra: Vec<String> = new_fin.difference(&old_fin).cloned().collect();
        if !extra.is_empty() {
            errs.push(FieldError::forbidden(
                &fin_path,
                &format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers {}",
                    go_string_slice(&extra)
                ),
            ));
        }
    }

    let rv = string_field(new_meta, "resourceVersion", path, &mut errs);
    if rv.is_empty() {
        errs.push(FieldError::invalid(
            &path.child("resourceVersion"),
            rv,
            "must be specified for an update",
        ));
    }

    let mut ignored = ErrorList::new();
    let new_gen = int_field(new_meta, "generation", path, &mut errs);
    let old_gen = int_field(old_meta, "generation", path, &mut ignored);
    if new_gen < old_gen {
        errs.push(FieldError::invalid(
            &path.child("generation"),
            new_gen,
            "must not be decremented",
        ));
    }

    for field in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        let (n, o) = (normalized(new_meta, field), normalized(old_meta, field));
        let same = if field.ends_with("Timestamp") {
            same_time(&n, &o)
        } else {
            n == o
        };
        if !same {
            let shown = if n.is_null()
                && field != "deletionTimestamp"
                && field != "deletionGracePeriodSeconds"
            {
                // Go shows the zero value of a string field, not null.
                Value::String(String::new())
            } else {
                n
            };
            errs.push(FieldError::invalid(
                &path.child(field),
                shown,
                FIELD_IMMUTABLE_ERROR_MSG,
            ));
        }
    }

    validate_common_maps(new_meta, path, &mut errs);
    errs.extend(validate_managed_fields(
        new_meta.get("managedFields"),
        &path.child("managedFields"),
    ));
    errs
}
