//! Checks of a CRD's `openAPIV3Schema` (upstream
//! `validateCustomResourceDefinitionValidation` and
//! `ValidateCustomResourceDefinitionOpenAPISchema`): forbidden keywords,
//! root restrictions, structural rules, defaults, `x-kubernetes-*`
//! extensions and the compilation of `x-kubernetes-validations` rules.

use corten_apimachinery::{ErrorList, FieldError, Path};
use serde_json::Value;

use super::Internal;
use crate::cel::{compile, validator::valid_field_path};
use crate::schema::{Additional, Node, defaults, prune, structural};

const OPENAPI_TYPES: &[&str] = &["array", "boolean", "integer", "number", "object", "string"];
const REASONS: &[&str] = &[
    "FieldValueDuplicate",
    "FieldValueForbidden",
    "FieldValueInvalid",
    "FieldValueRequired",
];
/// JSON keys allowed at the root when the status subresource is enabled.
const ROOT_ALLOWED: &[&str] = &[
    "description",
    "type",
    "format",
    "title",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "multipleOf",
    "required",
    "items",
    "properties",
    "externalDocs",
    "example",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-validations",
];
const ROOT_ALLOWED_GO: &str = "[Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example XPreserveUnknownFields XValidations]";

/// Upstream `validationOptions`: create enforces everything; updates relax
/// what the old object already violated.
#[derive(Debug, Clone)]
pub(crate) struct Opts {
    pub require_open_api_schema: bool,
    pub require_valid_property_type: bool,
    pub require_pruned_defaults: bool,
    pub require_atomic_set_type: bool,
    pub require_map_list_keys_map_set: bool,
    pub require_recognized_conversion_review_version: bool,
    pub require_immutable_names: bool,
    pub allow_invalid_ca_bundle: bool,
}

fn parse_all(spec: &Internal) -> Vec<Node> {
    spec.schemas()
        .into_iter()
        .map(|s| Node::parse(s, &Path::new("s"), &mut ErrorList::new()))
        .collect()
}

impl Opts {
    pub(crate) fn create() -> Opts {
        Opts {
            require_open_api_schema: true,
            require_valid_property_type: true,
            require_pruned_defaults: true,
            require_atomic_set_type: true,
            require_map_list_keys_map_set: true,
            require_recognized_conversion_review_version: true,
            require_immutable_names: false,
            allow_invalid_ca_bundle: true,
        }
    }

    pub(crate) fn update(old: &Internal, established: bool, _new: &Internal) -> Opts {
        let nodes = parse_all(old);
        let any = |f: &mut dyn FnMut(&Node) -> bool| nodes.iter().any(|n| n.any(f));
        let all_have_schema = old
            .validation
            .as_ref()
            .and_then(|v| v.get("openAPIV3Schema"))
            .is_some()
            || old.versions.iter().all(|v| {
                v.schema
                    .as_ref()
                    .and_then(|s| s.get("openAPIV3Schema"))
                    .is_some()
            });
        let review_ok = old.conversion.as_ref().is_none_or(|c| {
            let vs = c
                .pointer("/webhook/conversionReviewVersions")
                .and_then(Value::as_array);
            vs.is_none_or(|a| {
                a.is_empty()
                    || a.iter()
                        .any(|v| matches!(v.as_str(), Some("v1" | "v1beta1")))
            })
        });
        Opts {
            require_open_api_schema: all_have_schema,
            require_valid_property_type: !any(&mut |n: &Node| {
                !n.type_.is_empty() && !OPENAPI_TYPES.contains(&n.type_.as_str())
            }),
            require_pruned_defaults: !nodes.iter().any(|n| {
                n.any(&mut |x: &Node| {
                    x.default.as_ref().is_some_and(|d| {
                        let mut p = d.clone();
                        prune::prune(&mut p, x, x.x_embedded_resource);
                        &p != d
                    })
                })
            }),
            require_atomic_set_type: !any(&mut non_atomic_set),
            require_map_list_keys_map_set: !any(&mut |n: &Node| {
                !map_list_keys(n, &Path::new("")).is_empty()
            }),
            require_recognized_conversion_review_version: review_ok,
            require_immutable_names: established,
            allow_invalid_ca_bundle: !established,
        }
    }
}

fn non_atomic_set(n: &Node) -> bool {
    if n.x_list_type.as_deref() != Some("set") {
        return false;
    }
    match n.items.as_deref() {
        Some(i) if i.type_ == "array" => i.x_list_type.as_deref().is_some_and(|t| t != "atomic"),
        Some(i) if i.type_ == "object" => i.x_map_type.as_deref() != Some("atomic"),
        _ => false,
    }
}

/// Validates one `schema`/`validation` object (a CustomResourceValidation).
pub(crate) fn validate_validation(
    v: &Value,
    status_enabled: bool,
    opts: &Opts,
    path: &Path,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let Some(raw) = v.get("openAPIV3Schema").filter(|s| !s.is_null()) else {
        return errs;
    };
    let sp = path.child("openAPIV3Schema");
    let node = Node::parse(raw, &sp, &mut errs);
    if !errs.is_empty() {
        return errs;
    }
    if status_enabled {
        for key in &node.set_keys {
            if key == "type" {
                if node.type_ != "object" {
                    errs.push(FieldError::invalid(
                        &path.child("openAPIV3Schema.type"),
                        node.type_.clone(),
                        r#"only "object" is allowed as the type at the root of the schema if the status subresource is enabled"#,
                    ));
                    break;
                }
                continue;
            }
            if !ROOT_ALLOWED.contains(&key.as_str()) {
                errs.push(FieldError::invalid(
                    &sp,
                    raw.clone(),
                    &format!("only {ROOT_ALLOWED_GO} fields are allowed at the root of the schema if the status subresource is enabled"),
                ));
                break;
            }
        }
    }
    if node.nullable {
        errs.push(FieldError::forbidden(
            &path.child("openAPIV3Schema.nullable"),
            "nullable cannot be true at the root",
        ));
    }
    let structural_errs = structural::validate_structural(&sp, &node);
    let mut cel_ok = false;
    if !structural_errs.is_empty() {
        errs.extend(structural_errs);
    } else {
        let d = defaults::validate_defaults(&sp, &node, opts.require_pruned_defaults);
        if d.is_empty() {
            cel_ok = true;
        }
        errs.extend(d);
    }
    let ssv = Ssv {
        allow_defaults: true,
        disallow_reason: String::new(),
        inside_meta: false,
        uncorrelatable: None,
    };
    let mut schema_errs = ErrorList::new();
    let mut cel_errs = ErrorList::new();
    openapi_schema(
        &node,
        &sp,
        &ssv,
        true,
        opts,
        cel_ok,
        &mut schema_errs,
        &mut cel_errs,
    );
    errs.extend(schema_errs);
    errs.extend(cel_errs);
    errs
}

/// Upstream `specStandardValidatorV3` state.
#[derive(Clone)]
struct Ssv {
    allow_defaults: bool,
    disallow_reason: String,
    inside_meta: bool,
    uncorrelatable: Option<String>,
}

impl Ssv {
    fn forbid_defaults(&self, reason: &str) -> Ssv {
        Ssv {
            allow_defaults: false,
            disallow_reason: reason.to_string(),
            ..self.clone()
        }
    }
    fn forbid_old_self(&self, path: &Path) -> Ssv {
        if self.uncorrelatable.is_some() {
            return self.clone();
        }
        Ssv {
            uncorrelatable: Some(path.to_string()),
            ..self.clone()
        }
    }
}

fn standard(s: &Node, path: &Path, ssv: &Ssv, opts: &Opts, errs: &mut ErrorList) {
    if opts.require_valid_property_type
        && !s.type_.is_empty()
        && !OPENAPI_TYPES.contains(&s.type_.as_str())
    {
        errs.push(FieldError::not_supported(
            &path.child("type"),
            s.type_.clone(),
            OPENAPI_TYPES,
        ));
    }
    if s.default.is_some() && !ssv.allow_defaults {
        let mut detail = "must not be set".to_string();
        if !ssv.disallow_reason.is_empty() {
            detail.push(' ');
            detail.push_str(&ssv.disallow_reason);
        }
        errs.push(FieldError::forbidden(&path.child("default"), &detail));
    }
    for (key, msg) in [
        ("id", "id is not supported"),
        ("additionalItems", "additionalItems is not supported"),
        ("patternProperties", "patternProperties is not supported"),
        ("definitions", "definitions is not supported"),
        ("dependencies", "dependencies is not supported"),
        ("$ref", "$ref is not supported"),
    ] {
        if s.unsupported.contains(&key) {
            errs.push(FieldError::forbidden(&path.child(key), msg));
        }
    }
    if s.type_ == "null" {
        errs.push(FieldError::forbidden(
            &path.child("type"),
            "type cannot be set to null, use nullable as an alternative",
        ));
    }
    if s.items_array {
        errs.push(FieldError::forbidden(
            &path.child("items"),
            "items must be a schema object and not an array",
        ));
    }
    if ssv.inside_meta && s.x_embedded_resource {
        errs.push(FieldError::forbidden(
            &path.child("x-kubernetes-embedded-resource"),
            "must not be used inside of resource meta",
        ));
    }
}

#[allow(clippy::too_many_arguments)]
fn openapi_schema(
    s: &Node,
    path: &Path,
    ssv: &Ssv,
    is_root: bool,
    opts: &Opts,
    cel_ok: bool,
    errs: &mut ErrorList,
    cel_errs: &mut ErrorList,
) {
    let before = errs.len();
    standard(s, path, ssv, opts, errs);
    if s.unique_items {
        errs.push(FieldError::forbidden(
            &path.child("uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    if let Some(a) = &s.additional_properties {
        if !s.properties.is_empty() && !matches!(a, Additional::Bool(true)) {
            errs.push(FieldError::forbidden(
                &path.child("additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        if let Additional::Schema(sub) = a {
            let sub_ssv = if ssv.inside_meta {
                ssv.forbid_defaults("inside additionalProperties applying to object metadata")
            } else {
                ssv.clone()
            };
            openapi_schema(
                sub,
                &path.child("additionalProperties"),
                &sub_ssv,
                false,
                opts,
                cel_ok,
                errs,
                cel_errs,
            );
        }
    }
    for (k, p) in &s.properties {
        let mut sub = ssv.clone();
        if !matches!(s.x_map_type.as_deref(), None | Some("granular" | "atomic")) {
            sub = sub.forbid_old_self(path);
        }
        if (is_root || s.x_embedded_resource)
            && matches!(k.as_str(), "metadata" | "kind" | "apiVersion")
        {
            sub.inside_meta = true;
            if is_root {
                sub = sub.forbid_defaults(&format!("in top-level {k}"));
            }
        }
        openapi_schema(
            p,
            &path.child("properties").key(k),
            &sub,
            false,
            opts,
            cel_ok,
            errs,
            cel_errs,
        );
    }
    if let Some(n) = &s.not {
        openapi_schema(
            n,
            &path.child("not"),
            ssv,
            false,
            opts,
            false,
            errs,
            cel_errs,
        );
    }
    for (name, list) in [
        ("allOf", &s.all_of),
        ("oneOf", &s.one_of),
        ("anyOf", &s.any_of),
    ] {
        for (i, sub) in list.iter().enumerate() {
            openapi_schema(
                sub,
                &path.child(name).index(i),
                ssv,
                false,
                opts,
                false,
                errs,
                cel_errs,
            );
        }
    }
    if let Some(items) = &s.items {
        let sub = if s.x_list_type.as_deref() != Some("map") {
            ssv.forbid_old_self(path)
        } else {
            ssv.clone()
        };
        openapi_schema(
            items,
            &path.child("items"),
            &sub,
            false,
            opts,
            cel_ok,
            errs,
            cel_errs,
        );
    }
    extensions(s, path, opts, errs);
    if !s.x_validations.is_empty() {
        rules(s, path, ssv, is_root, cel_ok, before, errs, cel_errs);
    }
}

fn extensions(s: &Node, path: &Path, opts: &Opts, errs: &mut ErrorList) {
    if s.x_preserve_unknown_fields == Some(false) {
        errs.push(FieldError::invalid(
            &path.child("x-kubernetes-preserve-unknown-fields"),
            false,
            "must be true or undefined",
        ));
    }
    let type_must = |errs: &mut ErrorList, want: &str, what: &str| {
        let msg = format!("must be {want} if {what} is specified");
        if s.type_.is_empty() {
            errs.push(FieldError::required(&path.child("type"), &msg));
        } else {
            errs.push(FieldError::invalid(
                &path.child("type"),
                s.type_.clone(),
                &msg,
            ));
        }
    };
    if let Some(mt) = &s.x_map_type {
        if s.type_ != "object" {
            type_must(errs, "object", "x-kubernetes-map-type");
        }
        if mt != "atomic" && mt != "granular" {
            errs.push(FieldError::not_supported(
                &path.child("x-kubernetes-map-type"),
                mt.clone(),
                &["atomic", "granular"],
            ));
        }
    }
    if s.x_list_type.is_some() && s.type_ != "array" {
        type_must(errs, "array", "x-kubernetes-list-type");
    } else if opts.require_atomic_set_type && non_atomic_set(s) {
        let is = s.items.as_deref().map_or("", |i| i.type_.as_str());
        let (key, val) = if is == "array" {
            (
                "x-kubernetes-list-type",
                s.items.as_ref().and_then(|i| i.x_list_type.clone()),
            )
        } else {
            ("x-kubernetes-map-type", s.x_list_type.clone())
        };
        errs.push(FieldError::invalid(
            &path.child("items").child(key),
            val.map_or(Value::Null, Value::String),
            "must be atomic as item of a list with x-kubernetes-list-type=set",
        ));
    }
    if let Some(lt) = &s.x_list_type
        && !matches!(lt.as_str(), "atomic" | "set" | "map")
    {
        errs.push(FieldError::not_supported(
            &path.child("x-kubernetes-list-type"),
            lt.clone(),
            &["atomic", "set", "map"],
        ));
    }
    let keys_json = || {
        Value::Array(
            s.x_list_map_keys
                .iter()
                .map(|k| Value::String(k.clone()))
                .collect(),
        )
    };
    if !s.x_list_map_keys.is_empty() {
        match s.x_list_type.as_deref() {
            None => errs.push(FieldError::required(
                &path.child("x-kubernetes-list-type"),
                "must be map if x-kubernetes-list-map-keys is non-empty",
            )),
            Some("map") => {}
            Some(lt) => errs.push(FieldError::invalid(
                &path.child("x-kubernetes-list-type"),
                lt,
                "must be map if x-kubernetes-list-map-keys is non-empty",
            )),
        }
    }
    if s.x_list_type.as_deref() == Some("map") {
        if s.x_list_map_keys.is_empty() {
            errs.push(FieldError::required(
                &path.child("x-kubernetes-list-map-keys"),
                "must not be empty if x-kubernetes-list-type is map",
            ));
        }
        match s.items.as_deref() {
            None if s.items_array => errs.push(FieldError::invalid(
                &path.child("items"),
                Value::Null,
                "must only have a single schema if x-kubernetes-list-type is map",
            )),
            None => errs.push(FieldError::required(
                &path.child("items"),
                "must have a schema if x-kubernetes-list-type is map",
            )),
            Some(items) if items.type_ != "object" => errs.push(FieldError::invalid(
                &path.child("items").child("type"),
                items.type_.clone(),
                "must be object if parent array's x-kubernetes-list-type is map",
            )),
            Some(items) => {
                let mut seen = std::collections::HashSet::new();
                for k in &s.x_list_map_keys {
                    match items.prop(k) {
                        Some(p) if p.type_ == "array" || p.type_ == "object" => errs.push(FieldError::invalid(
                            &path.child("items").child("properties").key(k).child("type"),
                            items.type_.clone(),
                            "must be a scalar type if parent array's x-kubernetes-list-type is map",
                        )),
                        Some(_) => {}
                        None => errs.push(FieldError::invalid(&path.child("x-kubernetes-list-map-keys"), keys_json(), "entries must all be names of item properties")),
                    }
                    if !seen.insert(k) {
                        errs.push(FieldError::invalid(
                            &path.child("x-kubernetes-list-map-keys"),
                            keys_json(),
                            "must not contain duplicate entries",
                        ));
                    }
                }
            }
        }
    }
    if opts.require_map_list_keys_map_set {
        errs.extend(map_list_keys(s, path));
    }
}

fn map_list_keys(s: &Node, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let (Some(items), Some(lt)) = (s.items.as_deref(), s.x_list_type.as_deref()) else {
        return errs;
    };
    if lt != "set" && lt != "map" {
        return errs;
    }
    if items.nullable {
        errs.push(FieldError::forbidden(
            &path.child("items").child("nullable"),
            &format!("cannot be nullable when x-kubernetes-list-type is {lt}"),
        ));
    }
    if lt == "map" {
        for k in &s.x_list_map_keys {
            let Some(p) = items.prop(k) else { continue };
            let kp = path.child("items").child("properties").key(k);
            if !items.required.contains(k) && p.default.is_none() {
                errs.push(FieldError::required(&kp.child("default"), "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property"));
            }
            if p.nullable {
                errs.push(FieldError::forbidden(
                    &kp.child("nullable"),
                    "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
                ));
            }
        }
    }
    errs
}

fn has_newline(s: &str) -> bool {
    s.contains('\n') || s.contains('\r')
}

/// Static checks of a node's rules, then (if neither this node nor its
/// children had schema errors, as upstream) their compilation.
#[allow(clippy::too_many_arguments)]
fn rules(
    s: &Node,
    path: &Path,
    ssv: &Ssv,
    is_root: bool,
    cel_ok: bool,
    errs_before: usize,
    errs: &mut ErrorList,
    cel_errs: &mut ErrorList,
) {
    for (i, r) in s.x_validations.iter().enumerate() {
        let rp = path.child("x-kubernetes-validations").index(i);
        let (rule, msg, msg_expr) = (r.rule.trim(), r.message.trim(), r.message_expression.trim());
        if rule.is_empty() {
            errs.push(FieldError::required(
                &rp.child("rule"),
                "rule is not specified",
            ));
        } else if !r.message.is_empty() && msg.is_empty() {
            errs.push(FieldError::invalid(
                &rp.child("message"),
                r.message.clone(),
                "message must be non-empty if specified",
            ));
        } else if has_newline(msg) {
            errs.push(FieldError::invalid(
                &rp.child("message"),
                r.message.clone(),
                "message must not contain line breaks",
            ));
        } else if has_newline(rule) && msg.is_empty() {
            errs.push(FieldError::required(
                &rp.child("message"),
                "message must be specified if rule contains line breaks",
            ));
        }
        if !r.message_expression.is_empty() && msg_expr.is_empty() {
            errs.push(FieldError::required(
                &rp.child("messageExpression"),
                "messageExpression must be non-empty if specified",
            ));
        }
        if let Some(reason) = &r.reason
            && !REASONS.contains(&reason.as_str())
        {
            errs.push(FieldError::not_supported(
                &rp.child("reason"),
                reason.clone(),
                REASONS,
            ));
        }
        if !r.field_path.is_empty() && r.field_path.trim().is_empty() {
            errs.push(FieldError::invalid(
                &rp.child("fieldPath"),
                r.field_path.clone(),
                "fieldPath must be non-empty if specified",
            ));
        }
        if has_newline(&r.field_path) {
            errs.push(FieldError::invalid(
                &rp.child("fieldPath"),
                r.field_path.clone(),
                "fieldPath must not contain line breaks",
            ));
        }
        if !r.field_path.is_empty() && valid_field_path(&r.field_path, s, true).is_err() {
            errs.push(FieldError::invalid(
                &rp.child("fieldPath"),
                r.field_path.clone(),
                "fieldPath must be a valid path",
            ));
        }
    }
    if !cel_ok || errs.len() != errs_before {
        return;
    }
    for (i, r) in s.x_validations.iter().enumerate() {
        let rp = path.child("x-kubernetes-validations").index(i);
        if r.rule.trim().is_empty() {
            continue;
        }
        match compile(r.rule.trim(), Some(s), is_root) {
            Err(e) => cel_errs.push(FieldError::invalid(
                &rp.child("rule"),
                r.raw.clone(),
                &format!("compilation failed: {e}"),
            )),
            Ok(p) => {
                if p.uses_old_self {
                    if let Some(u) = &ssv.uncorrelatable {
                        cel_errs.push(FieldError::invalid(
                            &rp.child("rule"),
                            r.rule.clone(),
                            &format!("oldSelf cannot be used on the uncorrelatable portion of the schema within {u}"),
                        ));
                    }
                } else if let Some(o) = r.optional_old_self {
                    cel_errs.push(FieldError::invalid(
                        &rp.child("optionalOldSelf"),
                        o,
                        "may not be set if oldSelf is not used in rule",
                    ));
                }
            }
        }
        if !r.message_expression.trim().is_empty()
            && let Err(e) = compile(r.message_expression.trim(), Some(s), is_root)
        {
            cel_errs.push(FieldError::invalid(
                &rp.child("messageExpression"),
                r.raw.clone(),
                &format!("messageExpression compilation failed: {e}"),
            ));
        }
    }
}
