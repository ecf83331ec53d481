//! Structural schema rules (upstream `schema.ValidateStructural` and
//! `validateStructuralCompleteness`): every node has a type (unless
//! int-or-string or preserve-unknown-fields), value validations
//! (`allOf`/`anyOf`/`oneOf`/`not`) only restrict and never declare types or
//! extensions, metadata at the root only restricts `name`/`generateName`.

use corten_apimachinery::{ErrorList, FieldError, Path};
use serde_json::json;

use super::Node;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

/// Validates the structural invariants of a schema rooted at `path`
/// (errors sorted by message, as upstream does).
pub(crate) fn validate_structural(path: &Path, s: &Node) -> ErrorList {
    let mut errs = ErrorList::new();
    invariants(s, Level::Root, path, &mut errs);
    completeness(s, path, &mut errs);
    errs.sort_by_key(|e| e.to_string());
    errs
}

fn is_int_or_string_any_of(list: &[Node]) -> bool {
    list.len() == 2
        && list[0].raw == json!({"type": "integer"})
        && list[1].raw == json!({"type": "string"})
}

fn invariants(s: &Node, lvl: Level, path: &Path, errs: &mut ErrorList) {
    if s.type_ == "array" && s.items.is_none() {
        errs.push(FieldError::required(
            &path.child("items"),
            "must be specified",
        ));
    }
    if let Some(items) = &s.items {
        invariants(items, Level::Item, &path.child("items"), errs);
    }
    for (k, v) in &s.properties {
        invariants(v, Level::Field, &path.child("properties").key(k), errs);
    }
    if s.additional_properties.is_some() {
        if lvl == Level::Root {
            errs.push(FieldError::forbidden(
                &path.child("additionalProperties"),
                "must not be used at the root",
            ));
        }
        if let Some(a) = s.additional_schema() {
            invariants(a, Level::Field, &path.child("additionalProperties"), errs);
        }
    }
    if s.x_int_or_string && s.preserve_unknown() {
        errs.push(FieldError::invalid(
            &path.child("x-kubernetes-preserve-unknown-fields"),
            true,
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if s.x_int_or_string && s.x_embedded_resource {
        errs.push(FieldError::invalid(
            &path.child("x-kubernetes-embedded-resource"),
            true,
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    let skip_any_of = is_int_or_string_any_of(&s.any_of);
    let skip_first_all_of_any_of = s
        .all_of
        .first()
        .is_some_and(|a| is_int_or_string_any_of(&a.any_of));
    value_validation(s, skip_any_of, skip_first_all_of_any_of, lvl, path, errs);

    let check_metadata = lvl == Level::Root || s.x_embedded_resource;
    if s.x_embedded_resource && s.type_ != "object" {
        if s.type_.is_empty() {
            errs.push(FieldError::required(
                &path.child("type"),
                "must be object if x-kubernetes-embedded-resource is true",
            ));
        } else {
            errs.push(FieldError::invalid(
                &path.child("type"),
                s.type_.clone(),
                "must be object if x-kubernetes-embedded-resource is true",
            ));
        }
    } else if s.type_.is_empty() && !s.x_int_or_string && !s.preserve_unknown() {
        let detail = match lvl {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errs.push(FieldError::required(&path.child("type"), detail));
    }
    if s.x_embedded_resource && s.additional_properties.is_some() {
        errs.push(FieldError::forbidden(
            &path.child("additionalProperties"),
            "must not be used if x-kubernetes-embedded-resource is set",
        ));
    }
    if lvl == Level::Root && !s.type_.is_empty() && s.type_ != "object" {
        errs.push(FieldError::invalid(
            &path.child("type"),
            s.type_.clone(),
            "must be object at the root",
        ));
    }
    for meta in ["kind", "apiVersion"] {
        if let Some(p) = s.prop(meta)
            && check_metadata
            && p.type_ != "string"
        {
            errs.push(FieldError::invalid(
                &path.child("properties").key(meta).child("type"),
                p.type_.clone(),
                "must be string",
            ));
        }
    }
    if let Some(m) = s.prop("metadata") {
        metadata_invariants(
            m,
            check_metadata,
            lvl,
            &path.child("properties").key("metadata"),
            errs,
        );
    }
    if s.x_embedded_resource && !s.preserve_unknown() && s.properties.is_empty() {
        errs.push(FieldError::required(
            &path.child("properties"),
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
}

fn metadata_invariants(s: &Node, check: bool, lvl: Level, path: &Path, errs: &mut ErrorList) {
    if check && s.type_ != "object" {
        errs.push(FieldError::invalid(
            &path.child("type"),
            s.type_.clone(),
            "must be object",
        ));
    }
    if lvl != Level::Root {
        return;
    }
    // At the root only `type`, `properties` with just name/generateName
    // (their own value validations are fine) and a default may appear.
    let names_only = !s.properties.is_empty()
        && s.properties.len() <= 2
        && s.properties
            .iter()
            .all(|(k, _)| k == "name" || k == "generateName");
    let has_other = s.properties.iter().any(|_| !names_only)
        || !s.format.is_empty()
        || !s.title.is_empty()
        || !s.description.is_empty()
        || s.nullable
        || s.additional_properties.is_some()
        || s.items.is_some()
        || s.enum_.is_some()
        || s.maximum.is_some()
        || s.minimum.is_some()
        || s.max_length.is_some()
        || s.min_length.is_some()
        || !s.pattern.is_empty()
        || s.max_items.is_some()
        || s.min_items.is_some()
        || s.unique_items
        || s.multiple_of.is_some()
        || s.max_properties.is_some()
        || s.min_properties.is_some()
        || !s.required.is_empty()
        || !s.all_of.is_empty()
        || !s.any_of.is_empty()
        || !s.one_of.is_empty()
        || s.not.is_some()
        || s.x_preserve_unknown_fields.is_some()
        || s.x_embedded_resource
        || s.x_int_or_string
        || s.x_list_type.is_some()
        || !s.x_list_map_keys.is_empty()
        || s.x_map_type.is_some()
        || !s.x_validations.is_empty();
    if has_other {
        errs.push(FieldError::forbidden(
            path,
            "must not specify anything other than name and generateName, but metadata is implicitly specified",
        ));
    }
}

fn value_validation(
    s: &Node,
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    lvl: Level,
    path: &Path,
    errs: &mut ErrorList,
) {
    if !skip_any_of {
        for (i, v) in s.any_of.iter().enumerate() {
            nested(v, false, lvl, &path.child("anyOf").index(i), errs);
        }
    }
    for (i, v) in s.all_of.iter().enumerate() {
        nested(
            v,
            skip_first_all_of_any_of && i == 0,
            lvl,
            &path.child("allOf").index(i),
            errs,
        );
    }
    for (i, v) in s.one_of.iter().enumerate() {
        nested(v, false, lvl, &path.child("oneOf").index(i), errs);
    }
    if let Some(n) = &s.not {
        nested(n, false, lvl, &path.child("not"), errs);
    }
    if let Some(Err(e)) = &s.pattern_re {
        errs.push(FieldError::invalid(
            &path.child("pattern"),
            s.pattern.clone(),
            &format!("must be a valid regular expression, but isn't: {e}"),
        ));
    }
}

/// A node inside `allOf`/`anyOf`/`oneOf`/`not`: only value validations.
fn nested(v: &Node, skip_any_of: bool, lvl: Level, path: &Path, errs: &mut ErrorList) {
    let skip_first = v
        .all_of
        .first()
        .is_some_and(|a| is_int_or_string_any_of(&a.any_of));
    value_validation(v, skip_any_of, skip_first, lvl, path, errs);
    if let Some(items) = &v.items {
        nested(items, false, lvl, &path.child("items"), errs);
    }
    for (k, p) in &v.properties {
        nested(
            p,
            false,
            Level::Field,
            &path.child("properties").key(k),
            errs,
        );
    }
    let forbid = |errs: &mut ErrorList, key: &str, detail: &str| {
        errs.push(FieldError::forbidden(&path.child(key), detail));
    };
    if !v.type_.is_empty() {
        forbid(errs, "type", "must be empty to be structural");
    }
    if v.additional_properties.is_some() {
        forbid(
            errs,
            "additionalProperties",
            "must be undefined to be structural",
        );
    }
    if v.default.is_some() {
        forbid(errs, "default", "must be undefined to be structural");
    }
    if !v.title.is_empty() {
        forbid(errs, "title", "must be empty to be structural");
    }
    if !v.description.is_empty() {
        forbid(errs, "description", "must be empty to be structural");
    }
    if v.nullable {
        forbid(errs, "nullable", "must be false to be structural");
    }
    if v.raw.get("externalDocs").is_some_and(|d| !d.is_null()) {
        forbid(errs, "externalDocs", "must be undefined to be structural");
    }
    if v.preserve_unknown() {
        forbid(
            errs,
            "x-kubernetes-preserve-unknown-fields",
            "must be false to be structural",
        );
    }
    if v.x_embedded_resource {
        forbid(
            errs,
            "x-kubernetes-embedded-resource",
            "must be false to be structural",
        );
    }
    if v.x_int_or_string {
        forbid(
            errs,
            "x-kubernetes-int-or-string",
            "must be false to be structural",
        );
    }
    if !v.x_list_map_keys.is_empty() {
        forbid(
            errs,
            "x-kubernetes-list-map-keys",
            "must be empty to be structural",
        );
    }
    if v.x_list_type.is_some() {
        forbid(
            errs,
            "x-kubernetes-list-type",
            "must be undefined to be structural",
        );
    }
    if v.x_map_type.is_some() {
        forbid(
            errs,
            "x-kubernetes-map-type",
            "must be undefined to be structural",
        );
    }
    if !v.x_validations.is_empty() {
        forbid(
            errs,
            "x-kubernetes-validations",
            "must be empty to be structural",
        );
    }
    if v.prop("metadata").is_some() {
        errs.push(FieldError::forbidden(
            &path.child("properties").key("metadata"),
            "must not be specified in a nested context",
        ));
    }
}

/// Every field or array mentioned in the root's value validations must be
/// specified in the structural part too.
fn completeness(s: &Node, path: &Path, errs: &mut ErrorList) {
    completeness_value(s, Some(s), path, path, errs);
}

fn completeness_value(
    v: &Node,
    s: Option<&Node>,
    s_path: &Path,
    v_path: &Path,
    errs: &mut ErrorList,
) {
    let Some(s) = s else {
        errs.push(FieldError::required(
            s_path,
            &format!("because it is defined in {v_path}"),
        ));
        return;
    };
    if let Some(n) = &v.not {
        completeness_nested(n, Some(s), s_path, &v_path.child("not"), errs);
    }
    for (i, a) in v.all_of.iter().enumerate() {
        completeness_nested(a, Some(s), s_path, &v_path.child("allOf").index(i), errs);
    }
    for (i, a) in v.any_of.iter().enumerate() {
        completeness_nested(a, Some(s), s_path, &v_path.child("anyOf").index(i), errs);
    }
    for (i, a) in v.one_of.iter().enumerate() {
        completeness_nested(a, Some(s), s_path, &v_path.child("oneOf").index(i), errs);
    }
}

fn completeness_nested(
    v: &Node,
    s: Option<&Node>,
    s_path: &Path,
    v_path: &Path,
    errs: &mut ErrorList,
) {
    let Some(s) = s else {
        errs.push(FieldError::required(
            s_path,
            &format!("because it is defined in {v_path}"),
        ));
        return;
    };
    completeness_value(v, Some(s), s_path, v_path, errs);
    if let Some(items) = &v.items {
        completeness_nested(
            items,
            s.items.as_deref(),
            &s_path.child("items"),
            &v_path.child("items"),
            errs,
        );
    }
    for (k, p) in &v.properties {
        let vp = v_path.child("properties").key(k);
        match s.prop(k) {
            Some(sp) => {
                completeness_nested(p, Some(sp), &s_path.child("properties").key(k), &vp, errs)
            }
            None => errs.push(FieldError::required(
                &s_path.child("properties").key(k),
                &format!("because it is defined in {vp}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corten_apimachinery::ErrorList;
    use serde_json::{Value, json};

    fn check(schema: Value) -> Vec<String> {
        let mut perrs = ErrorList::new();
        let n = Node::parse(&schema, &Path::new("s"), &mut perrs);
        validate_structural(&Path::new("s"), &n)
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn missing_types_are_reported_per_level() {
        let errs = check(json!({"properties": {"a": {}, "b": {"type": "array", "items": {}}}}));
        assert_eq!(
            errs,
            vec![
                "s.properties[a].type: Required value: must not be empty for specified object fields",
                "s.properties[b].items.type: Required value: must not be empty for specified array items",
                "s.type: Required value: must not be empty at the root",
            ]
        );
    }

    #[test]
    fn int_or_string_patterns_are_allowed() {
        let errs = check(json!({"type": "object", "properties": {"p": {
            "x-kubernetes-int-or-string": true,
            "anyOf": [{"type": "integer"}, {"type": "string"}]}}}));
        assert!(errs.is_empty(), "{errs:?}");
        let errs = check(json!({"type": "object", "properties": {"p": {
            "type": "string", "anyOf": [{"type": "integer"}]}}}));
        assert_eq!(
            errs,
            vec!["s.properties[p].anyOf[0].type: Forbidden: must be empty to be structural"]
        );
    }

    #[test]
    fn metadata_restrictions_and_completeness() {
        let errs = check(json!({"type": "object", "properties": {
            "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}},
            "anyOf": [{"properties": {"spec": {}}}]}));
        assert_eq!(
            errs,
            vec![
                "s.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified",
                "s.properties[spec]: Required value: because it is defined in s.anyOf[0].properties[spec]",
            ]
        );
    }
}
