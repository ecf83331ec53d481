//! One served version of a CRD: everything the apiserver does to a custom
//! resource that needs the schema (upstream `customresource` strategy,
//! validator, codecs' defaulting and pruning, table printer columns, field
//! selectors and the scale subresource).

use corten_apimachinery::go_format::go_type_name;
use std::fmt;

use corten_apimachinery::names::{
    is_dns1123_subdomain, validate_object_meta, validate_object_meta_update,
};
use corten_apimachinery::{ErrorList, FieldError, FieldErrorType, Path};
use serde_json::Value;

use crate::cel::validator::{CelTree, Run};
use crate::schema::{Node, defaults, listtype, objectmeta, openapi, prune};

/// Why a [`CustomResourceSchema`] could not be built.
#[derive(Debug, Clone, PartialEq)]
pub enum SchemaError {
    /// The CRD has no version of that name.
    UnknownVersion(String),
    /// The CRD JSON lacks a required field (`spec.group`, `spec.names.kind`, ...).
    Missing(&'static str),
    /// The version's schema is malformed (wrong JSON types, too deep).
    InvalidSchema(ErrorList),
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaError::UnknownVersion(v) => {
                write!(f, "version {v:?} is not defined in spec.versions")
            }
            SchemaError::Missing(what) => write!(f, "{what} is required"),
            SchemaError::InvalidSchema(errs) => {
                let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
                write!(f, "invalid schema: [{}]", msgs.join(", "))
            }
        }
    }
}

impl std::error::Error for SchemaError {}

/// The `scale` subresource's JSON paths.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalePaths {
    /// `.spec.replicas`-style path of the desired replicas.
    pub spec_replicas_path: String,
    /// Path of the observed replicas.
    pub status_replicas_path: String,
    /// Path of the serialized label selector, if any.
    pub label_selector_path: Option<String>,
}

/// A CRD version's schema and settings, built once and reused per request.
#[derive(Debug, Clone)]
pub struct CustomResourceSchema {
    group: String,
    version: String,
    kind: String,
    list_kind: String,
    plural: String,
    namespaced: bool,
    schema: Node,
    cel: Option<CelTree>,
    status_subresource: bool,
    scale: Option<ScalePaths>,
    printer_columns: Vec<Value>,
    selectable_fields: Vec<String>,
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// Splits `.spec.replicas` into `["spec", "replicas"]`.
fn path_segments(p: &str) -> Vec<&str> {
    p.trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
        .collect()
}

fn nested<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path_segments(path).iter().try_fold(obj, |v, k| v.get(k))
}

impl CustomResourceSchema {
    /// Builds the schema of `version` of a (validated) v1 CRD.
    pub fn new(crd: &Value, version: &str) -> Result<Self, SchemaError> {
        let versions = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .ok_or(SchemaError::Missing("spec.versions"))?;
        let v = versions
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(version))
            .ok_or_else(|| SchemaError::UnknownVersion(version.to_string()))?;
        let group = s(crd, "/spec/group");
        let kind = s(crd, "/spec/names/kind");
        let plural = s(crd, "/spec/names/plural");
        if group.is_empty() {
            return Err(SchemaError::Missing("spec.group"));
        }
        if kind.is_empty() {
            return Err(SchemaError::Missing("spec.names.kind"));
        }
        let list_kind = match s(crd, "/spec/names/listKind") {
            "" => format!("{kind}List"),
            lk => lk.to_string(),
        };
        let mut errs = ErrorList::new();
        let base = Path::new("spec")
            .child("versions")
            .child("schema")
            .child("openAPIV3Schema");
        let schema = match v.pointer("/schema/openAPIV3Schema") {
            Some(raw) => Node::parse(raw, &base, &mut errs),
            None => {
                let mut n = Node::default();
                n.type_ = "object".into();
                n.x_preserve_unknown_fields = Some(true);
                n
            }
        };
        if !errs.is_empty() {
            return Err(SchemaError::InvalidSchema(errs));
        }
        let scale = v
            .pointer("/subresources/scale")
            .filter(|s| s.is_object())
            .map(|sc| ScalePaths {
                spec_replicas_path: s(sc, "/specReplicasPath").to_string(),
                status_replicas_path: s(sc, "/statusReplicasPath").to_string(),
                label_selector_path: sc
                    .get("labelSelectorPath")
                    .and_then(Value::as_str)
                    .filter(|p| !p.is_empty())
                    .map(String::from),
            });
        Ok(CustomResourceSchema {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            list_kind,
            plural: plural.to_string(),
            namespaced: s(crd, "/spec/scope") != "Cluster",
            cel: CelTree::build(&schema, true),
            schema,
            status_subresource: v
                .pointer("/subresources/status")
                .is_some_and(|s| !s.is_null()),
            scale,
            printer_columns: v
                .get("additionalPrinterColumns")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            selectable_fields: v
                .get("selectableFields")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f.get("jsonPath").and_then(Value::as_str))
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// `group/version`.
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }
    /// The kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }
    /// The list kind (`<Kind>List` unless set).
    pub fn list_kind(&self) -> &str {
        &self.list_kind
    }
    /// The plural resource name.
    pub fn plural(&self) -> &str {
        &self.plural
    }
    /// Whether the resource is namespaced.
    pub fn namespaced(&self) -> bool {
        self.namespaced
    }
    /// Whether the `status` subresource is enabled.
    pub fn has_status_subresource(&self) -> bool {
        self.status_subresource
    }
    /// The `scale` subresource's paths, if enabled.
    pub fn scale(&self) -> Option<&ScalePaths> {
        self.scale.as_ref()
    }

    /// Applies schema defaults in place (after dropping non-nullable nulls
    /// without a default), as upstream's decoder does on every read and
    /// write.
    pub fn default(&self, obj: &mut Value) {
        defaults::prune_non_nullable_nulls(obj, &self.schema, 0);
        defaults::apply_defaults(obj, &self.schema, 0);
    }

    /// Drops fields the schema does not specify and returns their paths
    /// (`spec.foo`, `spec.items[0].bar`, `metadata.bogus`) for
    /// `fieldValidation=Warn|Strict` (`unknown field "spec.foo"`), in
    /// upstream's order (see [`CustomResourceSchema::order_unknown_fields`]).
    pub fn prune(&self, obj: &mut Value) -> Vec<String> {
        prune::prune(obj, &self.schema, true)
    }

    /// Unknown field paths found in document order, put in upstream's order
    /// (the one [`CustomResourceSchema::prune`] returns): the root's
    /// `metadata`, the pruned fields sorted, embedded resources' `metadata`.
    pub fn order_unknown_fields(&self, fields: Vec<String>) -> Vec<String> {
        prune::order_unknown_fields(&self.schema, fields)
    }

    fn type_meta(&self, obj: &Value) -> ErrorList {
        let mut errs = ErrorList::new();
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind != self.kind {
            errs.push(FieldError::invalid(
                &Path::new("kind"),
                kind,
                &format!("must be {}", self.kind),
            ));
        }
        let av = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let want = self.api_version();
        if av != want {
            errs.push(FieldError::invalid(
                &Path::new("apiVersion"),
                av,
                &format!("must be {want}"),
            ));
        }
        errs
    }

    fn schema_part(&self, obj: &Value) -> ErrorList {
        let mut errs = openapi::validate(&self.schema, obj);
        errs.extend(self.scale_errors(obj));
        errs.extend(objectmeta::validate_embedded(
            None,
            obj,
            &self.schema,
            false,
        ));
        errs.extend(listtype::validate(&self.schema, obj));
        errs
    }

    /// Validation of a new object (upstream strategy `Validate`, without
    /// CEL): kind/apiVersion, `metadata`, the OpenAPI schema, embedded
    /// resources, list-type sets and maps and the scale replicas paths.
    pub fn validate(&self, obj: &Value) -> ErrorList {
        let mut errs = self.type_meta(obj);
        errs.extend(validate_object_meta(
            obj,
            self.namespaced,
            is_dns1123_subdomain,
            &Path::new("metadata"),
        ));
        errs.extend(self.schema_part(obj));
        errs
    }

    /// Validation of an update (upstream `ValidateUpdate`, without CEL):
    /// metadata immutability plus everything [`Self::validate`] checks on
    /// the new object except the create-only metadata rules.
    pub fn validate_update(&self, new: &Value, old: &Value) -> ErrorList {
        let mut errs = self.type_meta(new);
        errs.extend(validate_object_meta_update(
            new,
            old,
            self.namespaced,
            is_dns1123_subdomain,
            &Path::new("metadata"),
        ));
        errs.extend(self.schema_part(new));
        errs
    }

    /// Runs the `x-kubernetes-validations` rules (with `oldSelf` bound from
    /// `old` for transition rules) within upstream's cost budgets.
    pub fn validate_cel(&self, obj: &Value, old: Option<&Value>) -> ErrorList {
        let Some(tree) = &self.cel else {
            return ErrorList::new();
        };
        let mut run = Run::new();
        run.validate(tree, &self.schema, None, obj, old, true);
        run.errs
    }

    /// The whole validation of a create (`old` = `None`) or update, in
    /// upstream's order: schema errors first, then CEL rules unless a type
    /// or enum error makes them meaningless (upstream reports
    /// `some validation rules were not checked because the object was
    /// invalid; correct the existing errors to complete validation`).
    pub fn validate_full(&self, obj: &Value, old: Option<&Value>) -> ErrorList {
        let errs = match old {
            Some(o) => self.validate_update(obj, o),
            None => self.validate(obj),
        };
        self.with_cel(errs, obj, old)
    }

    /// The validation of an object written through this version but
    /// stored in another one, without `metadata` (which is validated on
    /// the stored form, see [`Self::validate_metadata`]): the OpenAPI
    /// schema, embedded resources, list types, the scale paths and the CEL
    /// rules (transition rules see `old`, in this version too).
    pub fn validate_content(&self, obj: &Value, old: Option<&Value>) -> ErrorList {
        let errs = self.schema_part(obj);
        self.with_cel(errs, obj, old)
    }

    /// The `metadata` rules of a create (`old` = `None`) or an update.
    pub fn validate_metadata(&self, obj: &Value, old: Option<&Value>) -> ErrorList {
        let path = Path::new("metadata");
        match old {
            Some(o) => {
                validate_object_meta_update(obj, o, self.namespaced, is_dns1123_subdomain, &path)
            }
            None => validate_object_meta(obj, self.namespaced, is_dns1123_subdomain, &path),
        }
    }

    /// Appends the CEL rules' errors to `errs`, in upstream's order:
    /// after the schema's, and not at all when a type or enum error makes
    /// them meaningless (upstream reports `some validation rules were not
    /// checked because the object was invalid; correct the existing errors
    /// to complete validation`).
    fn with_cel(&self, mut errs: ErrorList, obj: &Value, old: Option<&Value>) -> ErrorList {
        let blocking = errs.iter().any(|e| {
            matches!(
                e.error_type,
                FieldErrorType::NotSupported | FieldErrorType::TypeInvalid
            )
        });
        if blocking {
            if self.cel.is_some() {
                errs.push(FieldError::invalid(
                    &Path::new("<nil>"),
                    "null",
                    "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
                ));
            }
        } else {
            errs.extend(self.validate_cel(obj, old));
        }
        errs
    }

    /// The version's `additionalPrinterColumns`, as written.
    pub fn printer_columns(&self) -> Vec<Value> {
        self.printer_columns.clone()
    }

    /// Field-selector values of an object: `metadata.name`,
    /// `metadata.namespace` (namespaced kinds) and every `selectableFields`
    /// path (strings as is, booleans and integers formatted, missing = "").
    pub fn selectable_field_values(&self, obj: &Value) -> Vec<(String, String)> {
        let mut out = vec![(
            "metadata.name".to_string(),
            s(obj, "/metadata/name").to_string(),
        )];
        if self.namespaced {
            out.push((
                "metadata.namespace".to_string(),
                s(obj, "/metadata/namespace").to_string(),
            ));
        }
        for jp in &self.selectable_fields {
            let value = match nested(obj, jp) {
                Some(Value::String(v)) => v.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            out.push((jp.trim_start_matches('.').to_string(), value));
        }
        out
    }

    /// The desired replicas at the scale `specReplicasPath` (0 if unset).
    pub fn spec_replicas(&self, obj: &Value) -> Option<i64> {
        let sc = self.scale.as_ref()?;
        Some(
            nested(obj, &sc.spec_replicas_path)
                .and_then(Value::as_i64)
                .unwrap_or(0),
        )
    }

    /// Sets the desired replicas, creating intermediate objects.
    pub fn set_spec_replicas(&self, obj: &mut Value, replicas: i64) -> bool {
        let Some(sc) = &self.scale else { return false };
        let segs = path_segments(&sc.spec_replicas_path);
        let Some((last, parents)) = segs.split_last() else {
            return false;
        };
        let mut cur = obj;
        for k in parents {
            if !cur.is_object() {
                return false;
            }
            let map = cur.as_object_mut().expect("checked");
            cur = map
                .entry(k.to_string())
                .or_insert_with(|| Value::Object(Default::default()));
        }
        match cur.as_object_mut() {
            Some(m) => {
                m.insert(last.to_string(), Value::from(replicas));
                true
            }
            None => false,
        }
    }

    /// The observed replicas at `statusReplicasPath` (0 if unset).
    pub fn status_replicas(&self, obj: &Value) -> Option<i64> {
        let sc = self.scale.as_ref()?;
        Some(
            nested(obj, &sc.status_replicas_path)
                .and_then(Value::as_i64)
                .unwrap_or(0),
        )
    }

    /// The serialized selector at `labelSelectorPath` ("" if unset).
    pub fn label_selector(&self, obj: &Value) -> Option<String> {
        let p = self.scale.as_ref()?.label_selector_path.as_ref()?;
        Some(
            nested(obj, p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        )
    }

    /// Upstream `ValidateScaleSpec`/`ValidateScaleStatus`.
    fn scale_errors(&self, obj: &Value) -> ErrorList {
        let mut errs = ErrorList::new();
        let Some(sc) = &self.scale else { return errs };
        for p in [&sc.spec_replicas_path, &sc.status_replicas_path] {
            let fp = Path::new(p);
            match nested(obj, p) {
                None | Some(Value::Null) => {}
                Some(Value::Number(n)) if n.as_i64().is_some() => {
                    let r = n.as_i64().unwrap_or(0);
                    if r < 0 {
                        errs.push(FieldError::invalid(
                            &fp,
                            r,
                            "should be a non-negative integer",
                        ));
                    } else if r > i64::from(i32::MAX) {
                        errs.push(FieldError::invalid(
                            &fp,
                            r,
                            &format!("should be less than or equal to {}", i32::MAX),
                        ));
                    }
                }
                Some(other) => errs.push(FieldError::invalid(
                    &fp,
                    0,
                    &format!(
                        "{} accessor error: {} is of the type {}, expected int64",
                        p,
                        go_v(other),
                        go_type_name(other)
                    ),
                )),
            }
        }
        if let Some(lp) = &sc.label_selector_path {
            match nested(obj, lp) {
                None | Some(Value::Null) | Some(Value::String(_)) => {}
                Some(other) => errs.push(FieldError::invalid(
                    &Path::new(lp),
                    "",
                    &format!(
                        "{lp} accessor error: {} is of the type {}, expected string",
                        go_v(other),
                        go_type_name(other)
                    ),
                )),
            }
        }
        errs
    }
}

/// Go's `%v` of a decoded JSON value (strings unquoted).
fn go_v(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
