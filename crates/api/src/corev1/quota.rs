//! LimitRanges and ResourceQuotas: canonical quantities, standard resource
//! names, and the min/max/default consistency of limit ranges.

use std::collections::{BTreeMap, BTreeSet};

use corten_apimachinery::quantity::Quantity;
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::{LimitRange, LimitRangeItem, ResourceQuota, ResourceQuotaSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as KQuantity;
use serde_json::Value;

use crate::kind::KindRules;
use crate::validate;

type ResourceList = BTreeMap<String, KQuantity>;

const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];

const STANDARD_QUOTA_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "persistentvolumeclaims",
    "configmaps",
    "services.nodeports",
    "services.loadbalancers",
];

const QUOTA_SCOPES: &[&str] = &[
    "Terminating",
    "NotTerminating",
    "BestEffort",
    "NotBestEffort",
    "PriorityClass",
    "CrossNamespacePodAffinity",
    "VolumeAttributesClass",
];

fn is_huge_pages(name: &str) -> bool {
    name.starts_with("hugepages-") || name.starts_with("requests.hugepages-")
}

/// Upstream `validateResourceName`: a qualified name, standard unless
/// prefixed by a domain.
pub fn validate_resource_name(name: &str, path: &Path) -> ErrorList {
    let mut errs = validate::qualified_name(name, path);
    if !name.contains('/') && !STANDARD_RESOURCES.contains(&name) && !is_huge_pages(name) {
        errs.push(FieldError::invalid(
            path,
            name,
            "must be a standard resource type or fully qualified",
        ));
    }
    errs
}

/// Upstream `validateContainerResourceName`: cpu, memory,
/// ephemeral-storage, hugepages or a domain-prefixed name.
pub fn validate_container_resource_name(name: &str, path: &Path) -> ErrorList {
    let mut errs = validate_resource_name(name, path);
    if !name.contains('/')
        && !matches!(name, "cpu" | "memory" | "ephemeral-storage")
        && !name.starts_with("hugepages-")
    {
        errs.push(FieldError::invalid(
            path,
            name,
            "must be a standard resource for containers",
        ));
    }
    errs
}

fn validate_quota_resource_name(name: &str, path: &Path) -> ErrorList {
    let mut errs = validate_resource_name(name, path);
    if !name.contains('/')
        && !STANDARD_QUOTA_RESOURCES.contains(&name)
        && !name.starts_with("requests.hugepages-")
    {
        errs.push(FieldError::invalid(
            path,
            name,
            "must be a standard resource for quota",
        ));
    }
    errs
}

fn validate_resource_list(list: Option<&ResourceList>, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    for (k, q) in list.into_iter().flatten() {
        let p = path.key(k);
        errs.extend(validate_quota_resource_name(k, &p));
        errs.extend(validate::resource_quantity_value(k, q, &p));
    }
    errs
}

/// The rules of ResourceQuota.
pub struct ResourceQuotaRules;

impl KindRules for ResourceQuotaRules {
    type Object = ResourceQuota;
    const NAMESPACED: bool = true;

    fn canonicalize(q: &mut ResourceQuota) -> Result<(), String> {
        if let Some(spec) = q.spec.as_mut() {
            validate::canonicalize_resource_list(spec.hard.as_mut())?;
        }
        if let Some(status) = q.status.as_mut() {
            validate::canonicalize_resource_list(status.hard.as_mut())?;
            validate::canonicalize_resource_list(status.used.as_mut())?;
        }
        Ok(())
    }

    fn validate(q: &ResourceQuota) -> ErrorList {
        let mut errs = Vec::new();
        if let Some(spec) = q.spec.as_ref() {
            errs.extend(validate_resource_list(
                spec.hard.as_ref(),
                &Path::new("spec").child("hard"),
            ));
            errs.extend(validate_scopes(spec));
        }
        errs.extend(Self::validate_status_update(q, q));
        errs
    }

    fn validate_status_update(new: &ResourceQuota, _old: &ResourceQuota) -> ErrorList {
        let mut errs = Vec::new();
        if let Some(status) = new.status.as_ref() {
            errs.extend(validate_resource_list(
                status.hard.as_ref(),
                &Path::new("status").child("hard"),
            ));
            errs.extend(validate_resource_list(
                status.used.as_ref(),
                &Path::new("status").child("used"),
            ));
        }
        errs
    }
}

fn validate_scopes(spec: &ResourceQuotaSpec) -> ErrorList {
    let mut errs = Vec::new();
    let scopes = spec.scopes.as_deref().unwrap_or_default();
    let path = Path::new("spec").child("scopes");
    let as_value = || serde_json::to_value(scopes).unwrap_or(Value::Null);
    let mut set = BTreeSet::new();
    for s in scopes {
        if !QUOTA_SCOPES.contains(&s.as_str()) {
            errs.push(FieldError::invalid(&path, as_value(), "unsupported scope"));
        }
        set.insert(s.as_str());
    }
    for (a, b) in [
        ("BestEffort", "NotBestEffort"),
        ("Terminating", "NotTerminating"),
    ] {
        if set.contains(a) && set.contains(b) {
            errs.push(FieldError::invalid(&path, as_value(), "conflicting scopes"));
        }
    }
    let sel_path = Path::new("spec")
        .child("scopeSelector")
        .child("matchExpressions");
    for (i, req) in spec
        .scope_selector
        .iter()
        .flat_map(|s| s.match_expressions.iter().flatten())
        .enumerate()
    {
        let p = sel_path.index(i);
        if !QUOTA_SCOPES.contains(&req.scope_name.as_str()) {
            errs.push(FieldError::invalid(
                &p.child("scopeName"),
                req.scope_name.as_str(),
                "unsupported scope",
            ));
        }
        let values = req.values.as_deref().unwrap_or_default();
        match req.operator.as_str() {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        &p.child("values"),
                        "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::invalid(
                        &p.child("values"),
                        serde_json::to_value(values).unwrap_or(Value::Null),
                        "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector",
                    ));
                }
            }
            other => errs.push(FieldError::invalid(
                &p.child("operator"),
                other,
                "not a valid selector operator",
            )),
        }
    }
    errs
}

/// The rules of LimitRange.
pub struct LimitRangeRules;

impl KindRules for LimitRangeRules {
    type Object = LimitRange;
    const NAMESPACED: bool = true;

    fn canonicalize(lr: &mut LimitRange) -> Result<(), String> {
        for item in lr.spec.iter_mut().flat_map(|s| s.limits.iter_mut()) {
            validate::canonicalize_resource_list(item.max.as_mut())?;
            validate::canonicalize_resource_list(item.min.as_mut())?;
            validate::canonicalize_resource_list(item.default.as_mut())?;
            validate::canonicalize_resource_list(item.default_request.as_mut())?;
            validate::canonicalize_resource_list(item.max_limit_request_ratio.as_mut())?;
        }
        Ok(())
    }

    /// `SetDefaults_LimitRangeItem`: for containers, a missing default
    /// limit is the max, a missing default request the default limit or
    /// else the min.
    fn default(lr: &mut LimitRange) {
        for item in lr.spec.iter_mut().flat_map(|s| s.limits.iter_mut()) {
            if item.type_ != "Container" {
                continue;
            }
            let mut default = item.default.take().unwrap_or_default();
            for (k, v) in item.max.iter().flatten() {
                default.entry(k.clone()).or_insert_with(|| v.clone());
            }
            let mut request = item.default_request.take().unwrap_or_default();
            for (k, v) in default.iter().chain(item.min.iter().flatten()) {
                request.entry(k.clone()).or_insert_with(|| v.clone());
            }
            item.default = Some(default).filter(|m| !m.is_empty());
            item.default_request = Some(request).filter(|m| !m.is_empty());
        }
    }

    fn validate(lr: &LimitRange) -> ErrorList {
        let mut errs = Vec::new();
        let path = Path::new("spec").child("limits");
        let mut types = BTreeSet::new();
        for (i, item) in lr.spec.iter().flat_map(|s| s.limits.iter()).enumerate() {
            errs.extend(validate_limit_item(item, &path.index(i), &mut types));
        }
        errs
    }
}

fn validate_limit_item(
    item: &LimitRangeItem,
    path: &Path,
    types: &mut BTreeSet<String>,
) -> ErrorList {
    let mut errs = Vec::new();
    let ty = item.type_.as_str();
    let tp = path.child("type");
    errs.extend(validate::qualified_name(ty, &tp));
    if !ty.contains('/') && !matches!(ty, "Pod" | "Container" | "PersistentVolumeClaim") {
        errs.push(FieldError::invalid(
            &tp,
            ty,
            "must be a standard limit type or fully qualified",
        ));
    }
    if !types.insert(ty.to_string()) {
        errs.push(FieldError::duplicate(&tp, ty));
    }
    let check_names = |list: Option<&ResourceList>, field: &str, errs: &mut ErrorList| {
        for k in list.into_iter().flat_map(|m| m.keys()) {
            let p = path.child(field).key(k);
            if matches!(ty, "Pod" | "Container") {
                errs.extend(validate_container_resource_name(k, &p));
            } else {
                errs.extend(validate_resource_name(k, &p));
            }
        }
    };
    check_names(item.max.as_ref(), "max", &mut errs);
    check_names(item.min.as_ref(), "min", &mut errs);
    if ty == "Pod" {
        if item.default.as_ref().is_some_and(|m| !m.is_empty()) {
            errs.push(FieldError::forbidden(
                &path.child("default"),
                "may not be specified when `type` is 'Pod'",
            ));
        }
        if item.default_request.as_ref().is_some_and(|m| !m.is_empty()) {
            errs.push(FieldError::forbidden(
                &path.child("defaultRequest"),
                "may not be specified when `type` is 'Pod'",
            ));
        }
    } else {
        check_names(item.default.as_ref(), "default", &mut errs);
        check_names(item.default_request.as_ref(), "defaultRequest", &mut errs);
    }
    if ty == "PersistentVolumeClaim" {
        let has = |m: Option<&ResourceList>| m.is_some_and(|m| m.contains_key("storage"));
        if !has(item.min.as_ref()) && !has(item.max.as_ref()) {
            errs.push(FieldError::required(
                &path.child("limits"),
                "either minimum or maximum storage value is required, but neither was provided",
            ));
        }
    }
    check_names(
        item.max_limit_request_ratio.as_ref(),
        "maxLimitRequestRatio",
        &mut errs,
    );

    let get = |m: Option<&ResourceList>, k: &str| {
        m.and_then(|m| m.get(k))
            .and_then(|q| Quantity::parse(&q.0).ok())
    };
    let keys: BTreeSet<&String> = [
        item.max.as_ref(),
        item.min.as_ref(),
        item.default.as_ref(),
        item.default_request.as_ref(),
        item.max_limit_request_ratio.as_ref(),
    ]
    .into_iter()
    .flatten()
    .flat_map(|m| m.keys())
    .collect();
    let gt = |a: &Quantity, b: &Quantity| a.cmp_value(b) == std::cmp::Ordering::Greater;
    for k in keys {
        let min = get(item.min.as_ref(), k);
        let max = get(item.max.as_ref(), k);
        let def = get(item.default.as_ref(), k);
        let req = get(item.default_request.as_ref(), k);
        let ratio = get(item.max_limit_request_ratio.as_ref(), k);
        let at = |field: &str| path.child(field).key(k);
        if let (Some(mn), Some(mx)) = (&min, &max)
            && gt(mn, mx)
        {
            errs.push(FieldError::invalid(
                &at("min"),
                mn.to_string(),
                &format!("min value {mn} is greater than max value {mx}"),
            ));
        }
        if let (Some(r), Some(mn)) = (&req, &min)
            && gt(mn, r)
        {
            errs.push(FieldError::invalid(
                &at("defaultRequest"),
                r.to_string(),
                &format!("min value {mn} is greater than default request value {r}"),
            ));
        }
        if let (Some(r), Some(mx)) = (&req, &max)
            && gt(r, mx)
        {
            errs.push(FieldError::invalid(
                &at("defaultRequest"),
                r.to_string(),
                &format!("default request value {r} is greater than max value {mx}"),
            ));
        }
        if let (Some(r), Some(d)) = (&req, &def)
            && gt(r, d)
        {
            errs.push(FieldError::invalid(
                &at("defaultRequest"),
                r.to_string(),
                &format!("default request value {r} is greater than default limit value {d}"),
            ));
        }
        if let (Some(d), Some(mn)) = (&def, &min)
            && gt(mn, d)
        {
            errs.push(FieldError::invalid(
                &at("default"),
                mn.to_string(),
                &format!("min value {mn} is greater than default value {d}"),
            ));
        }
        if let (Some(d), Some(mx)) = (&def, &max)
            && gt(d, mx)
        {
            errs.push(FieldError::invalid(
                &at("default"),
                mx.to_string(),
                &format!("default value {d} is greater than max value {mx}"),
            ));
        }
        if let Some(r) = &ratio {
            if r.milli_value() < 1000 {
                errs.push(FieldError::invalid(
                    &at("maxLimitRequestRatio"),
                    r.to_string(),
                    &format!("ratio {r} is less than 1"),
                ));
            } else if let (Some(mn), Some(mx)) = (&min, &max)
                && mn.milli_value() > 0
            {
                let limit = mx.milli_value() as f64 / mn.milli_value() as f64;
                let value = r.milli_value() as f64 / 1000.0;
                if value > limit {
                    errs.push(FieldError::invalid(
                        &at("maxLimitRequestRatio"),
                        r.to_string(),
                        &format!("ratio {r} is greater than max/min = {limit:.6}"),
                    ));
                }
            }
        }
        // Extended resources and hugepages may not be overcommitted.
        let overcommit =
            (!k.contains('/') || k.contains("kubernetes.io/")) && !k.starts_with("hugepages-");
        if !overcommit
            && let (Some(d), Some(r)) = (&def, &req)
            && d.cmp_value(r) != std::cmp::Ordering::Equal
        {
            errs.push(FieldError::invalid(
                &at("defaultRequest"),
                r.to_string(),
                &format!("default value {d} must equal to defaultRequest value {r} in {k}"),
            ));
        }
    }
    errs
}
