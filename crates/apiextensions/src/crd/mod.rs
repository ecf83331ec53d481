//! CustomResourceDefinitions themselves: defaulting, validation and status.
//!
//! Upstream validates the *internal* form of a v1 CRD: per-version
//! `schema`, `subresources`, `additionalPrinterColumns` and
//! `selectableFields` that are identical across all versions are hoisted to
//! `spec.validation`, `spec.subresources`, ... first, so errors in a schema
//! shared by every version read `spec.validation.openAPIV3Schema...`.
//! [`Internal`] reproduces that form from v1 JSON.

pub(crate) mod defaults;
mod schema_checks;
pub(crate) mod status;
pub(crate) mod validation;
mod webhook;

use corten_apimachinery::{ErrorList, FieldError, Path};
use serde_json::Value;

/// One entry of `spec.versions` in internal form.
#[derive(Debug, Clone)]
pub(crate) struct Version {
    pub name: String,
    pub served: bool,
    pub storage: bool,
    pub deprecated: bool,
    pub deprecation_warning: Option<String>,
    /// `schema` (a CustomResourceValidation object) unless hoisted.
    pub schema: Option<Value>,
    pub subresources: Option<Value>,
    pub columns: Vec<Value>,
    pub selectable: Vec<Value>,
}

/// The internal form of a v1 CRD spec.
#[derive(Debug, Clone)]
pub(crate) struct Internal {
    pub group: String,
    pub scope: String,
    pub names: Value,
    pub versions: Vec<Version>,
    pub validation: Option<Value>,
    pub subresources: Option<Value>,
    pub columns: Vec<Value>,
    pub selectable: Vec<Value>,
    pub conversion: Option<Value>,
    pub preserve_unknown_fields: Option<bool>,
}

fn opt(v: &Value, key: &str) -> Option<Value> {
    v.get(key).filter(|x| !x.is_null()).cloned()
}

fn list(v: &Value, key: &str) -> Vec<Value> {
    v.get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

pub(crate) fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Reports JSON fields of the wrong type that the Go decoder would reject.
fn type_checks(spec: &Value, errs: &mut ErrorList) {
    let p = Path::new("spec");
    let check = |errs: &mut ErrorList,
                 v: Option<&Value>,
                 path: Path,
                 ok: fn(&Value) -> bool,
                 want: &str| {
        if let Some(v) = v.filter(|v| !v.is_null() && !ok(v)) {
            errs.push(FieldError::invalid(
                &path,
                v.clone(),
                &format!("must be {want}"),
            ));
        }
    };
    check(
        errs,
        spec.get("group"),
        p.child("group"),
        Value::is_string,
        "a string",
    );
    check(
        errs,
        spec.get("scope"),
        p.child("scope"),
        Value::is_string,
        "a string",
    );
    check(
        errs,
        spec.get("names"),
        p.child("names"),
        Value::is_object,
        "an object",
    );
    check(
        errs,
        spec.get("versions"),
        p.child("versions"),
        Value::is_array,
        "an array",
    );
    if let Some(names) = spec.get("names") {
        for k in ["plural", "singular", "kind", "listKind"] {
            check(
                errs,
                names.get(k),
                p.child("names").child(k),
                Value::is_string,
                "a string",
            );
        }
        for k in ["shortNames", "categories"] {
            check(
                errs,
                names.get(k),
                p.child("names").child(k),
                Value::is_array,
                "an array",
            );
        }
    }
    for (i, v) in spec
        .get("versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let vp = p.child("versions").index(i);
        check(
            errs,
            v.get("name"),
            vp.child("name"),
            Value::is_string,
            "a string",
        );
        for k in ["served", "storage", "deprecated"] {
            check(errs, v.get(k), vp.child(k), Value::is_boolean, "a boolean");
        }
        check(
            errs,
            v.get("schema"),
            vp.child("schema"),
            Value::is_object,
            "an object",
        );
        check(
            errs,
            v.get("additionalPrinterColumns"),
            vp.child("additionalPrinterColumns"),
            Value::is_array,
            "an array",
        );
    }
}

impl Internal {
    /// Converts a v1 CRD's spec to the internal form (hoisting identical
    /// per-version fields), reporting mistyped fields.
    pub(crate) fn from_v1(crd: &Value, errs: &mut ErrorList) -> Internal {
        let null = Value::Null;
        let spec = crd.get("spec").unwrap_or(&null);
        type_checks(spec, errs);
        let mut versions: Vec<Version> = spec
            .get("versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|v| Version {
                name: str_at(v, "name").to_string(),
                served: v.get("served").and_then(Value::as_bool).unwrap_or(false),
                storage: v.get("storage").and_then(Value::as_bool).unwrap_or(false),
                deprecated: v
                    .get("deprecated")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                deprecation_warning: v
                    .get("deprecationWarning")
                    .and_then(Value::as_str)
                    .map(String::from),
                schema: opt(v, "schema"),
                subresources: opt(v, "subresources"),
                columns: list(v, "additionalPrinterColumns"),
                selectable: list(v, "selectableFields"),
            })
            .collect();
        let mut out = Internal {
            group: str_at(spec, "group").to_string(),
            scope: str_at(spec, "scope").to_string(),
            names: spec.get("names").cloned().unwrap_or(Value::Null),
            versions: Vec::new(),
            validation: None,
            subresources: None,
            columns: Vec::new(),
            selectable: Vec::new(),
            conversion: opt(spec, "conversion"),
            // A plain bool in v1, so always set in the internal form.
            preserve_unknown_fields: Some(
                spec.get("preserveUnknownFields")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            ),
        };
        if let Some(first) = versions.first().cloned() {
            let same = |f: &dyn Fn(&Version) -> Value| versions.iter().all(|v| f(v) == f(&first));
            let schema_same = same(&|v| v.schema.clone().unwrap_or(Value::Null));
            let sub_same = same(&|v| v.subresources.clone().unwrap_or(Value::Null));
            let cols_same = same(&|v| Value::Array(v.columns.clone()));
            let sel_same = same(&|v| Value::Array(v.selectable.clone()));
            if schema_same {
                out.validation = first.schema.clone();
            }
            if sub_same {
                out.subresources = first.subresources.clone();
            }
            if cols_same {
                out.columns = first.columns.clone();
            }
            if schema_same && sel_same {
                out.selectable = first.selectable.clone();
            }
            for v in &mut versions {
                if schema_same {
                    v.schema = None;
                }
                if sub_same {
                    v.subresources = None;
                }
                if cols_same {
                    v.columns.clear();
                }
                if schema_same && sel_same {
                    v.selectable.clear();
                }
            }
        }
        out.versions = versions;
        out
    }

    /// The subresources that apply to `version`.
    pub(crate) fn subresources_for<'a>(&'a self, version: &'a Version) -> Option<&'a Value> {
        if self.versions.iter().any(|v| v.subresources.is_some()) {
            version.subresources.as_ref()
        } else {
            self.subresources.as_ref()
        }
    }

    /// Every `openAPIV3Schema` in the spec (top-level and per-version).
    pub(crate) fn schemas(&self) -> Vec<&Value> {
        self.validation
            .iter()
            .chain(self.versions.iter().filter_map(|v| v.schema.as_ref()))
            .filter_map(|s| s.get("openAPIV3Schema").filter(|x| !x.is_null()))
            .collect()
    }
}

/// Whether a CRD has a condition of `type_` with status `True`.
pub(crate) fn condition_true(crd: &Value, type_: &str) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| str_at(c, "type") == type_ && str_at(c, "status") == "True")
}
