//! Validation of CustomResourceDefinitions (upstream
//! `ValidateCustomResourceDefinition` and `...Update`).

use std::collections::{HashMap, HashSet};

use corten_apimachinery::names::{
    FIELD_IMMUTABLE_ERROR_MSG, is_dns1035_label, is_dns1123_subdomain, validate_object_meta,
    validate_object_meta_update,
};
use corten_apimachinery::{ErrorList, FieldError, Path};
use serde_json::Value;

use super::schema_checks::{self, Opts};
use super::{Internal, Version, condition_true, str_at, webhook};

const PRINTER_COLUMN_TYPES: &[&str] = &["boolean", "date", "integer", "number", "string"];
const PRINTER_COLUMN_FORMATS: &[&str] = &[
    "byte",
    "date",
    "date-time",
    "double",
    "float",
    "int32",
    "int64",
    "password",
];
const MAX_SELECTABLE_FIELDS: usize = 8;
const APPROVAL_ANNOTATION: &str = "api-approved.kubernetes.io";

/// Validates a CRD being created (after [`crate::default_crd`] and
/// [`crate::prepare_crd_for_create`]): metadata (`metadata.name` must be
/// `<plural>.<group>`), spec, status names, stored versions, API approval
/// for `*.k8s.io` groups and `preserveUnknownFields`.
pub fn validate_crd(crd: &Value) -> ErrorList {
    validate(crd, None)
}

/// Validates an update of a CRD: everything [`validate_crd`] checks, the
/// immutable fields (`group`, `names.plural`; `scope` and `names.kind` once
/// established) and metadata immutability. Checks the new rules would add
/// are relaxed where the old object already violated them, as upstream.
pub fn validate_crd_update(new: &Value, old: &Value) -> ErrorList {
    validate(new, Some(old))
}

fn validate(crd: &Value, old: Option<&Value>) -> ErrorList {
    let mut errs = ErrorList::new();
    let spec = Internal::from_v1(crd, &mut errs);
    let old_spec = old.map(|o| Internal::from_v1(o, &mut ErrorList::new()));
    let plural = str_at(&spec.names, "plural");
    let required_name = format!("{plural}.{}", spec.group);
    let meta_path = Path::new("metadata");
    match old {
        None => {
            errs.extend(validate_object_meta(
                crd,
                false,
                is_dns1123_subdomain,
                &meta_path,
            ));
            for field in ["name", "generateName"] {
                let v = crd
                    .pointer(&format!("/metadata/{field}"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !v.is_empty() && v != required_name {
                    errs.push(FieldError::invalid(
                        &meta_path.child(field),
                        v,
                        r#"must be spec.names.plural+"."+spec.group"#,
                    ));
                }
            }
        }
        Some(o) => errs.extend(validate_object_meta_update(
            crd,
            o,
            false,
            is_dns1123_subdomain,
            &meta_path,
        )),
    }
    let opts = match &old_spec {
        None => Opts::create(),
        Some(o) => Opts::update(
            o,
            old.is_some_and(|o| condition_true(o, "Established")),
            &spec,
        ),
    };
    let sp = Path::new("spec");
    errs.extend(validate_spec(&spec, &opts, &sp));
    if let (Some(o), true) = (&old_spec, opts.require_immutable_names) {
        immutable(&mut errs, &spec.scope, &o.scope, &sp.child("scope"));
        immutable(
            &mut errs,
            str_at(&spec.names, "kind"),
            str_at(&o.names, "kind"),
            &sp.child("names").child("kind"),
        );
    }
    if let Some(o) = &old_spec {
        immutable(&mut errs, &spec.group, &o.group, &sp.child("group"));
        immutable(
            &mut errs,
            plural,
            str_at(&o.names, "plural"),
            &sp.child("names").child("plural"),
        );
    }
    let accepted = crd
        .pointer("/status/acceptedNames")
        .cloned()
        .unwrap_or(Value::Null);
    errs.extend(validate_names(
        &accepted,
        &Path::new("status").child("acceptedNames"),
    ));
    errs.extend(stored_versions(crd, &spec.versions));
    errs.extend(api_approval(crd, old, &spec.group));
    let old_preserve = old_spec.as_ref().and_then(|o| o.preserve_unknown_fields) == Some(true);
    if !old_preserve && spec.preserve_unknown_fields == Some(true) {
        errs.push(FieldError::invalid(
            &sp.child("preserveUnknownFields"),
            true,
            "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead",
        ));
    }
    errs
}

fn immutable(errs: &mut ErrorList, new: &str, old: &str, path: &Path) {
    if new != old {
        errs.push(FieldError::invalid(path, new, FIELD_IMMUTABLE_ERROR_MSG));
    }
}

fn enum_string(path: &Path, v: &str, accepted: &[&str]) -> Option<FieldError> {
    if v.is_empty() {
        return Some(FieldError::required(path, ""));
    }
    (!accepted.contains(&v)).then(|| FieldError::not_supported(path, v, accepted))
}

fn versions_json(versions: &[Version]) -> Value {
    Value::Array(
        versions
            .iter()
            .map(|v| Value::String(v.name.clone()))
            .collect(),
    )
}

fn validate_spec(spec: &Internal, opts: &Opts, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let gp = path.child("group");
    if spec.group.is_empty() {
        errs.push(FieldError::required(&gp, ""));
    } else {
        let msgs = is_dns1123_subdomain(&spec.group);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(
                &gp,
                spec.group.clone(),
                &msgs.join(","),
            ));
        } else if spec.group.split('.').count() < 2 {
            errs.push(FieldError::invalid(
                &gp,
                spec.group.clone(),
                "should be a domain with at least one dot",
            ));
        }
    }
    errs.extend(enum_string(
        &path.child("scope"),
        &spec.scope,
        &["Cluster", "Namespaced"],
    ));
    let vp = path.child("versions");
    if spec
        .validation
        .as_ref()
        .and_then(|v| v.get("openAPIV3Schema"))
        .is_none_or(Value::is_null)
    {
        for (i, v) in spec.versions.iter().enumerate() {
            let has = v
                .schema
                .as_ref()
                .and_then(|s| s.get("openAPIV3Schema"))
                .is_some_and(|s| !s.is_null());
            if !has {
                let sp = vp.index(i).child("schema").child("openAPIV3Schema");
                if opts.require_open_api_schema {
                    errs.push(FieldError::required(&sp, "schemas are required"));
                } else if v.served {
                    errs.push(FieldError::required(
                        &sp,
                        "because otherwise all fields are pruned",
                    ));
                }
            }
        }
    }
    let mut storage = 0;
    let mut seen = HashSet::new();
    let mut unique = true;
    for (i, v) in spec.versions.iter().enumerate() {
        storage += usize::from(v.storage);
        unique &= seen.insert(v.name.clone());
        let msgs = is_dns1035_label(&v.name);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(
                &vp.index(i).child("name"),
                v.name.clone(),
                &msgs.join(","),
            ));
        }
        let status = spec
            .subresources_for(v)
            .is_some_and(|s| s.get("status").is_some_and(|x| !x.is_null()));
        errs.extend(validate_version(v, &vp.index(i), status, opts));
    }
    if !unique {
        errs.push(FieldError::invalid(
            &vp,
            versions_json(&spec.versions),
            "must contain unique version names",
        ));
    }
    if storage != 1 {
        errs.push(FieldError::invalid(
            &vp,
            versions_json(&spec.versions),
            "must have exactly one version marked as storage version",
        ));
    }
    let np = path.child("names");
    for k in ["plural", "singular", "kind", "listKind"] {
        if str_at(&spec.names, k).is_empty() {
            errs.push(FieldError::required(&np.child(k), ""));
        }
    }
    errs.extend(validate_names(&spec.names, &np));
    let any_status = spec
        .subresources
        .as_ref()
        .is_some_and(|s| s.get("status").is_some_and(|x| !x.is_null()))
        || spec.versions.iter().any(|v| {
            v.subresources
                .as_ref()
                .is_some_and(|s| s.get("status").is_some_and(|x| !x.is_null()))
        });
    if let Some(val) = &spec.validation {
        errs.extend(schema_checks::validate_validation(
            val,
            any_status,
            opts,
            &path.child("validation"),
        ));
    }
    if let Some(sub) = &spec.subresources {
        errs.extend(validate_subresources(sub, &path.child("subresources")));
    }
    for (i, c) in spec.columns.iter().enumerate() {
        errs.extend(validate_column(
            c,
            &path.child("additionalPrinterColumns").index(i),
        ));
    }
    if !spec.selectable.is_empty() {
        match spec
            .validation
            .as_ref()
            .and_then(|v| v.get("openAPIV3Schema"))
        {
            Some(s) => errs.extend(validate_selectable(
                &spec.selectable,
                s,
                &path.child("selectableFields"),
            )),
            None => errs.push(FieldError::invalid(
                &path.child("selectableFields"),
                "",
                "selectableFields may only be set when validations.schema is included",
            )),
        }
    }
    let strategy = spec
        .conversion
        .as_ref()
        .map(|c| str_at(c, "strategy"))
        .unwrap_or("");
    if spec.conversion.is_some()
        && strategy != "None"
        && spec.preserve_unknown_fields != Some(false)
    {
        errs.push(FieldError::invalid(
            &path.child("conversion").child("strategy"),
            strategy,
            "must be None if spec.preserveUnknownFields is true",
        ));
    }
    if let Some(c) = &spec.conversion {
        errs.extend(webhook::validate_conversion(
            c,
            opts,
            &path.child("conversion"),
        ));
    }
    errs
}

fn validate_version(v: &Version, path: &Path, status: bool, opts: &Opts) -> ErrorList {
    let mut errs = ErrorList::new();
    if let Some(w) = &v.deprecation_warning {
        let wp = path.child("deprecationWarning");
        if !v.deprecated {
            errs.push(FieldError::invalid(
                &wp,
                w.clone(),
                "can only be set for deprecated versions",
            ));
        } else {
            if w.len() > 256 {
                errs.push(FieldError::invalid(
                    &wp,
                    w.clone(),
                    "must be <= 256 characters long",
                ));
            }
            if w.is_empty() {
                errs.push(FieldError::invalid(
                    &wp,
                    w.clone(),
                    "must not be an empty string",
                ));
            }
            if let Some((i, _)) = w.char_indices().find(|(_, c)| c.is_control()) {
                errs.push(FieldError::invalid(
                    &wp,
                    w.clone(),
                    &format!("must only contain printable UTF-8 characters; control character found at index {i}"),
                ));
            }
        }
    }
    if let Some(s) = &v.schema {
        errs.extend(schema_checks::validate_validation(
            s,
            status,
            opts,
            &path.child("schema"),
        ));
    }
    if let Some(sub) = &v.subresources {
        errs.extend(validate_subresources(sub, &path.child("subresources")));
    }
    for (i, c) in v.columns.iter().enumerate() {
        errs.extend(validate_column(
            c,
            &path.child("additionalPrinterColumns").index(i),
        ));
    }
    if !v.selectable.is_empty() {
        match v.schema.as_ref().and_then(|s| s.get("openAPIV3Schema")) {
            Some(s) => errs.extend(validate_selectable(&v.selectable, s, &path.child("selectableFields"))),
            None => errs.push(FieldError::invalid(
                &path.child("selectableFields"),
                "",
                "selectableFields may only be set when version.schema.openAPIV3Schema is not included",
            )),
        }
    }
    errs
}

/// Upstream `ValidateCustomResourceDefinitionNames`.
pub(crate) fn validate_names(names: &Value, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    for k in ["plural", "singular"] {
        let v = str_at(names, k);
        let msgs = is_dns1035_label(v);
        if !v.is_empty() && !msgs.is_empty() {
            errs.push(FieldError::invalid(&path.child(k), v, &msgs.join(",")));
        }
    }
    for k in ["kind", "listKind"] {
        let v = str_at(names, k);
        let msgs = is_dns1035_label(&v.to_lowercase());
        if !v.is_empty() && !msgs.is_empty() {
            errs.push(FieldError::invalid(
                &path.child(k),
                v,
                &format!(
                    "may have mixed case, but should otherwise match: {}",
                    msgs.join(",")
                ),
            ));
        }
    }
    let strings = |k: &str| -> Vec<String> {
        names
            .get(k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect()
    };
    for (i, s) in strings("shortNames").iter().enumerate() {
        let msgs = is_dns1035_label(s);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("shortNames").index(i),
                s.clone(),
                &msgs.join(","),
            ));
        }
    }
    let kind = str_at(names, "kind");
    if !kind.is_empty() && kind == str_at(names, "listKind") {
        errs.push(FieldError::invalid(
            &path.child("listKind"),
            kind,
            "kind and listKind may not be the same",
        ));
    }
    for (i, s) in strings("categories").iter().enumerate() {
        let msgs = is_dns1035_label(s);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("categories").index(i),
                s.clone(),
                &msgs.join(","),
            ));
        }
    }
    errs
}

/// Upstream `validateSimpleJSONPath`.
fn simple_json_path(s: &str, path: &Path) -> Option<FieldError> {
    if s.is_empty() {
        Some(FieldError::invalid(path, s, "must not be empty"))
    } else if !s.starts_with('.') {
        Some(FieldError::invalid(
            path,
            s,
            "must be a simple json path starting with .",
        ))
    } else {
        None
    }
}

fn validate_column(c: &Value, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    if str_at(c, "name").is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    }
    let types = format!("must be one of {}", PRINTER_COLUMN_TYPES.join(","));
    match str_at(c, "type") {
        "" => errs.push(FieldError::required(&path.child("type"), &types)),
        t if !PRINTER_COLUMN_TYPES.contains(&t) => {
            errs.push(FieldError::invalid(&path.child("type"), t, &types))
        }
        _ => {}
    }
    let f = str_at(c, "format");
    if !f.is_empty() && !PRINTER_COLUMN_FORMATS.contains(&f) {
        errs.push(FieldError::invalid(
            &path.child("format"),
            f,
            &format!("must be one of {}", PRINTER_COLUMN_FORMATS.join(",")),
        ));
    }
    let jp = str_at(c, "jsonPath");
    if jp.is_empty() {
        errs.push(FieldError::required(&path.child("JSONPath"), ""));
    } else {
        errs.extend(simple_json_path(jp, &path.child("JSONPath")));
    }
    errs
}

fn validate_subresources(sub: &Value, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let Some(scale) = sub.get("scale").filter(|s| !s.is_null()) else {
        return errs;
    };
    for (key, prefix, what) in [
        (
            "specReplicasPath",
            ".spec.",
            "should be a json path under .spec",
        ),
        (
            "statusReplicasPath",
            ".status.",
            "should be a json path under .status",
        ),
    ] {
        let p = path.child(&format!("scale.{key}"));
        let v = str_at(scale, key);
        if v.is_empty() {
            errs.push(FieldError::required(&p, ""));
        } else if let Some(e) = simple_json_path(v, &p) {
            errs.push(e);
        } else if !v.starts_with(prefix) {
            errs.push(FieldError::invalid(&p, v, what));
        }
    }
    let lp = str_at(scale, "labelSelectorPath");
    if !lp.is_empty() {
        let p = path.child("scale.labelSelectorPath");
        if let Some(e) = simple_json_path(lp, &p) {
            errs.push(e);
        } else if !lp.starts_with(".spec.") && !lp.starts_with(".status.") {
            errs.push(FieldError::invalid(
                &p,
                lp,
                "should be a json path under either .spec or .status",
            ));
        }
    }
    errs
}

fn validate_selectable(fields: &[Value], schema: &Value, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut perrs = ErrorList::new();
    let node = crate::schema::Node::parse(schema, path, &mut perrs);
    let mut unique: HashMap<String, ()> = HashMap::new();
    for (i, f) in fields.iter().enumerate() {
        let ip = path.index(i).child("jsonPath");
        let jp = str_at(f, "jsonPath");
        if jp.is_empty() {
            errs.push(FieldError::required(&ip, ""));
            continue;
        }
        match crate::cel::validator::valid_field_path(jp, &node, false) {
            Err(e) => errs.push(FieldError::invalid(
                &ip,
                jp,
                &format!("is an invalid path: {e}"),
            )),
            Ok((p, found)) => {
                if p == "metadata" || p.starts_with("metadata.") || p.starts_with("metadata[") {
                    errs.push(FieldError::invalid(
                        &ip,
                        jp,
                        "must not point to fields in metadata",
                    ));
                }
                if !matches!(found.type_.as_str(), "string" | "boolean" | "integer") {
                    errs.push(FieldError::invalid(
                        &ip,
                        jp,
                        "must point to a field of type string, boolean or integer. Enum string fields and strings with formats are allowed.",
                    ));
                }
                if unique.insert(p, ()).is_some() {
                    errs.push(FieldError::duplicate(&ip, jp));
                }
            }
        }
    }
    if unique.len() > MAX_SELECTABLE_FIELDS {
        errs.push(FieldError::too_many(
            path,
            unique.len(),
            MAX_SELECTABLE_FIELDS,
        ));
    }
    errs
}

fn stored_versions(crd: &Value, versions: &[Version]) -> ErrorList {
    let path = Path::new("status").child("storedVersions");
    let stored: Vec<String> = crd
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect();
    if stored.is_empty() {
        return vec![FieldError::invalid(
            &path,
            Value::Array(Vec::new()),
            "must have at least one stored version",
        )];
    }
    let mut errs = ErrorList::new();
    let stored_json = Value::Array(stored.iter().map(|s| Value::String(s.clone())).collect());
    for v in versions {
        if v.storage && !stored.contains(&v.name) {
            errs.push(FieldError::invalid(
                &path,
                stored_json.clone(),
                &format!("must have the storage version {}", v.name),
            ));
        }
    }
    for (i, s) in stored.iter().enumerate() {
        if !versions.iter().any(|v| &v.name == s) {
            errs.push(FieldError::invalid(
                &path.index(i),
                s.clone(),
                &format!("missing from spec.versions; {s} was previously a storage version, and must remain in spec.versions until a storage migration ensures no data remains persisted in {s} and removes {s} from status.storedVersions"),
            ));
        }
    }
    errs
}

#[derive(PartialEq)]
enum Approval {
    Missing,
    Bypassed,
    Invalid,
    Approved,
}

fn approval_state(crd: &Value) -> (Approval, String) {
    let a = crd
        .pointer("/metadata/annotations")
        .and_then(|m| m.get(APPROVAL_ANNOTATION))
        .and_then(Value::as_str)
        .unwrap_or("");
    if a.is_empty() {
        return (
            Approval::Missing,
            format!(
                "protected groups must have approval annotation {APPROVAL_ANNOTATION:?}, see https://github.com/kubernetes/enhancements/pull/1111"
            ),
        );
    }
    if a.starts_with("unapproved") {
        return (Approval::Bypassed, format!("not approved: {a:?}"));
    }
    if !crate::schema::formats::validates("uri", a) {
        return (
            Approval::Invalid,
            format!(
                "protected groups must have approval annotation {APPROVAL_ANNOTATION:?}, with either a URL or a reason starting with \"unapproved\", see https://github.com/kubernetes/enhancements/pull/1111"
            ),
        );
    }
    (Approval::Approved, format!("approved in {a}"))
}

fn api_approval(crd: &Value, old: Option<&Value>, group: &str) -> ErrorList {
    let protected = group == "k8s.io"
        || group.ends_with(".k8s.io")
        || group == "kubernetes.io"
        || group.ends_with(".kubernetes.io");
    if !protected {
        return ErrorList::new();
    }
    let (state, reason) = approval_state(crd);
    if let Some(o) = old
        && approval_state(o).0 == state
    {
        return ErrorList::new();
    }
    let path = Path::new("metadata")
        .child("annotations")
        .key(APPROVAL_ANNOTATION);
    let value = crd
        .pointer("/metadata/annotations")
        .and_then(|m| m.get(APPROVAL_ANNOTATION))
        .cloned()
        .unwrap_or(Value::String(String::new()));
    match state {
        Approval::Missing => vec![FieldError::required(&path, &reason)],
        Approval::Invalid => vec![FieldError::invalid(&path, value, &reason)],
        _ => ErrorList::new(),
    }
}
