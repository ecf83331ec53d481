//! Compute resources: requests/limits validation (upstream
//! `ValidateContainerResourceRequirements`) and the pod QoS class
//! (upstream `qos.ComputePodQOS`).

use std::collections::{BTreeMap, BTreeSet};

use corten_apimachinery::names::is_qualified_name;
use corten_apimachinery::quantity::Quantity as ParsedQuantity;
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::field_rules::IS_NEGATIVE_MSG;

const STANDARD_CONTAINER_RESOURCES: &[&str] = &["cpu", "memory", "ephemeral-storage"];

// Upstream `standardResources`: every resource name valid without a prefix.
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
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];

fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

/// No prefix, or a `kubernetes.io/` one.
fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// Requests may differ from limits (everything native but hugepages).
fn overcommit_allowed(name: &str) -> bool {
    is_native(name) && !is_hugepages(name)
}

fn is_extended(name: &str) -> bool {
    !is_native(name)
        && !name.starts_with("requests.")
        && is_qualified_name(&format!("requests.{name}")).is_empty()
}

/// Upstream `validateContainerResourceName`.
fn validate_container_resource_name(name: &str, path: &Path) -> ErrorList {
    let mut errs: ErrorList = is_qualified_name(name)
        .into_iter()
        .map(|msg| FieldError::invalid(path, name, &msg))
        .collect();
    if !errs.is_empty() {
        return errs;
    }
    if !name.contains('/') {
        if !STANDARD_RESOURCES.contains(&name)
            && !is_hugepages(name)
            && !name.starts_with("requests.hugepages-")
        {
            errs.push(FieldError::invalid(
                path,
                name,
                "must be a standard resource type or fully qualified",
            ));
            return errs;
        }
        if !STANDARD_CONTAINER_RESOURCES.contains(&name) && !is_hugepages(name) {
            errs.push(FieldError::invalid(
                path,
                name,
                "must be a standard resource for containers",
            ));
        }
    } else if !is_native(name) && !is_extended(name) {
        errs.push(FieldError::invalid(
            path,
            name,
            "doesn't follow extended resource name standard",
        ));
    }
    errs
}

/// Upstream `ValidateResourceQuantityValue`: non-negative, and whole for
/// integer resources (extended resources).
fn validate_quantity_value(name: &str, q: &Quantity, path: &Path) -> ErrorList {
    let Ok(parsed) = ParsedQuantity::parse(&q.0) else {
        return vec![FieldError::invalid(
            path,
            q.0.as_str(),
            "must be a valid resource quantity",
        )];
    };
    let mut errs = Vec::new();
    if parsed.is_negative() {
        errs.push(FieldError::invalid(path, q.0.as_str(), IS_NEGATIVE_MSG));
    }
    if is_extended(name) && parsed.milli_value() % 1000 != 0 {
        errs.push(FieldError::invalid(
            path,
            q.0.as_str(),
            "must be an integer",
        ));
    }
    errs
}

/// Upstream `ValidateContainerResourceRequirements`.
pub fn validate_container_resources(
    r: Option<&ResourceRequirements>,
    claim_names: &BTreeSet<String>,
    path: &Path,
) -> ErrorList {
    let Some(r) = r else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    let lim_path = path.child("limits");
    let req_path = path.child("requests");
    let empty = BTreeMap::new();
    let limits = r.limits.as_ref().unwrap_or(&empty);
    let requests = r.requests.as_ref().unwrap_or(&empty);
    let (mut cpu_or_mem, mut huge) = (false, false);
    for (name, q) in limits {
        let p = lim_path.key(name);
        errs.extend(validate_container_resource_name(name, &p));
        errs.extend(validate_quantity_value(name, q, &p));
        huge |= is_hugepages(name);
        cpu_or_mem |= name == "cpu" || name == "memory";
    }
    for (name, q) in requests {
        let p = req_path.key(name);
        errs.extend(validate_container_resource_name(name, &p));
        errs.extend(validate_quantity_value(name, q, &p));
        match limits.get(name) {
            Some(limit) => {
                let (Ok(rq), Ok(lq)) =
                    (ParsedQuantity::parse(&q.0), ParsedQuantity::parse(&limit.0))
                else {
                    continue;
                };
                let ord = rq.cmp_value(&lq);
                if ord.is_ne() && !overcommit_allowed(name) {
                    errs.push(FieldError::invalid(
                        &req_path,
                        q.0.as_str(),
                        &format!("must be equal to {name} limit of {}", limit.0),
                    ));
                } else if ord.is_gt() {
                    errs.push(FieldError::invalid(
                        &req_path,
                        q.0.as_str(),
                        &format!("must be less than or equal to {name} limit of {}", limit.0),
                    ));
                }
            }
            None if !overcommit_allowed(name) => {
                errs.push(FieldError::required(
                    &lim_path,
                    "Limit must be set for non overcommitable resources",
                ));
            }
            None => {}
        }
        huge |= is_hugepages(name);
        cpu_or_mem |= name == "cpu" || name == "memory";
    }
    if huge && !cpu_or_mem {
        errs.push(FieldError::forbidden(
            path,
            "HugePages require cpu or memory",
        ));
    }
    let claims_path = path.child("claims");
    let mut seen = BTreeSet::new();
    for (i, c) in r.claims.iter().flatten().enumerate() {
        let p = claims_path.index(i);
        if c.name.is_empty() {
            errs.push(FieldError::required(&p, ""));
            continue;
        }
        let key = match c.request.as_deref().filter(|r| !r.is_empty()) {
            Some(req) => format!("{}/{req}", c.name),
            None => c.name.clone(),
        };
        if !seen.insert(key.clone()) {
            errs.push(FieldError::duplicate(&p, key));
        }
        if !claim_names.contains(&c.name) {
            let mut e = FieldError::not_found(&p, c.name.as_str());
            e.detail = if claim_names.is_empty() {
                "must be one of the names in pod.spec.resourceClaims which is empty".to_string()
            } else {
                let names: Vec<&str> = claim_names.iter().map(String::as_str).collect();
                format!(
                    "must be one of the names in pod.spec.resourceClaims: {}",
                    names.join(", ")
                )
            };
            errs.push(e);
        }
    }
    errs
}

/// A quantity in the unit QoS sums (milli-units for cpu, units otherwise).
fn qos_amount(name: &str, q: &Quantity) -> Option<i128> {
    let p = ParsedQuantity::parse(&q.0).ok()?;
    let v = if name == "cpu" {
        p.milli_value()
    } else {
        p.value()
    };
    Some(i128::from(v))
}

/// Upstream `ComputePodQOS`: `Guaranteed`, `Burstable` or `BestEffort`,
/// from the cpu/memory requests and limits of regular and init containers.
pub fn compute_qos(spec: &PodSpec) -> &'static str {
    let mut requests: BTreeMap<String, i128> = BTreeMap::new();
    let mut limits: BTreeMap<String, i128> = BTreeMap::new();
    let mut guaranteed = true;
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        let r = c.resources.as_ref();
        for (name, q) in r.and_then(|r| r.requests.as_ref()).into_iter().flatten() {
            if name != "cpu" && name != "memory" {
                continue;
            }
            if let Some(v) = qos_amount(name, q).filter(|v| *v > 0) {
                *requests.entry(name.clone()).or_default() += v;
            }
        }
        let mut found = BTreeSet::new();
        for (name, q) in r.and_then(|r| r.limits.as_ref()).into_iter().flatten() {
            if name != "cpu" && name != "memory" {
                continue;
            }
            if let Some(v) = qos_amount(name, q).filter(|v| *v > 0) {
                found.insert(name.as_str());
                *limits.entry(name.clone()).or_default() += v;
            }
        }
        if !(found.contains("cpu") && found.contains("memory")) {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed && requests.iter().any(|(k, v)| limits.get(k) != Some(v)) {
        guaranteed = false;
    }
    if guaranteed && requests.len() == limits.len() {
        "Guaranteed"
    } else {
        "Burstable"
    }
}
