//! Labels, annotations and label selectors embedded in specs (pod template
//! metadata, workload selectors, affinity terms): upstream
//! `unversionedvalidation.ValidateLabels`, `ValidateAnnotations` and
//! `ValidateLabelSelector`, plus `LabelSelectorAsSelector` matching.

use std::collections::BTreeMap;

use corten_apimachinery::labels::Selector;
use corten_apimachinery::names::{self, is_qualified_name, is_valid_label_value};
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

/// A label key: a qualified name.
pub fn validate_label_name(key: &str, path: &Path) -> ErrorList {
    is_qualified_name(key)
        .into_iter()
        .map(|msg| FieldError::invalid(path, key, &msg))
        .collect()
}

/// Label keys (qualified names) and values (label values); errors use the
/// map's path, not a per-key path, as upstream.
pub fn validate_labels(labels: Option<&BTreeMap<String, String>>, path: &Path) -> ErrorList {
    labels
        .map(|l| names::validate_labels(l, path))
        .unwrap_or_default()
}

/// Annotation keys (qualified names, case-insensitive) and total size.
pub fn validate_annotations(
    annotations: Option<&BTreeMap<String, String>>,
    path: &Path,
) -> ErrorList {
    annotations
        .map(|a| names::validate_annotations(a, path))
        .unwrap_or_default()
}

/// One `matchExpressions` entry.
fn validate_requirement(
    req: &LabelSelectorRequirement,
    allow_invalid_values: bool,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    let values = req.values.as_deref().unwrap_or_default();
    match req.operator.as_str() {
        "In" | "NotIn" => {
            if values.is_empty() {
                errs.push(FieldError::required(
                    &path.child("values"),
                    "must be specified when `operator` is 'In' or 'NotIn'",
                ));
            }
        }
        "Exists" | "DoesNotExist" => {
            if !values.is_empty() {
                errs.push(FieldError::forbidden(
                    &path.child("values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ));
            }
        }
        op => errs.push(FieldError::invalid(
            &path.child("operator"),
            op,
            "not a valid selector operator",
        )),
    }
    errs.extend(validate_label_name(&req.key, &path.child("key")));
    if !allow_invalid_values {
        for (i, v) in values.iter().enumerate() {
            for msg in is_valid_label_value(v) {
                errs.push(FieldError::invalid(
                    &path.child("values").index(i),
                    v.as_str(),
                    &msg,
                ));
            }
        }
    }
    errs
}

/// A metav1.LabelSelector; `None` is valid (callers require it if needed).
pub fn validate_label_selector(
    sel: Option<&LabelSelector>,
    allow_invalid_values: bool,
    path: &Path,
) -> ErrorList {
    let Some(sel) = sel else {
        return Vec::new();
    };
    let mut errs = validate_labels(sel.match_labels.as_ref(), &path.child("matchLabels"));
    for (i, req) in sel.match_expressions.iter().flatten().enumerate() {
        errs.extend(validate_requirement(
            req,
            allow_invalid_values,
            &path.child("matchExpressions").index(i),
        ));
    }
    errs
}

/// True if the selector has neither `matchLabels` nor `matchExpressions`.
pub fn selector_is_empty(sel: &LabelSelector) -> bool {
    sel.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
        && sel.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

/// Upstream `LabelSelectorAsSelector(sel).Matches(labels)`: `None` when the
/// selector cannot be converted (invalid operator, key or value), in which
/// case upstream skips the template-labels check.
pub fn selector_matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> Option<bool> {
    let json = serde_json::to_value(sel).ok()?;
    let selector = Selector::from_label_selector(&json).ok()?;
    Some(selector.matches(labels))
}

/// The `` `selector` does not match template `labels` `` check shared by
/// ReplicationControllers and every apps/batch workload. An empty selector
/// matches everything, so nothing is reported for it.
pub fn check_selector_matches_template(
    sel: &LabelSelector,
    template_labels: Option<&BTreeMap<String, String>>,
    path: &Path,
) -> ErrorList {
    if selector_is_empty(sel) {
        return Vec::new();
    }
    let empty = BTreeMap::new();
    let labels = template_labels.unwrap_or(&empty);
    match selector_matches(sel, labels) {
        Some(false) => vec![FieldError::invalid(
            path,
            serde_json::to_value(labels).unwrap_or_default(),
            "`selector` does not match template `labels`",
        )],
        _ => Vec::new(),
    }
}

/// A qualified name in a value position (condition types, gate names).
pub fn validate_qualified(value: &str, path: &Path) -> ErrorList {
    validate_label_name(value, path)
}
