//! LimitRanger: the LimitRanges of a namespace fill in default container
//! requests and limits (`defaultRequest`, `default`) on new pods and bound
//! them (`min`, `max`, `maxLimitRequestRatio`) per Container and per Pod;
//! `min` and `max` of `type: PersistentVolumeClaim` bound the storage
//! requests of claims, on create and on every update (a claim grows by
//! update). Pod updates are not judged: containers are immutable.

use corten_apimachinery::StatusError;
use corten_apimachinery::quantity::Quantity;
use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{Operation, Request};
use crate::app::ApiServer;

/// Milli-units of a quantity string (None if it does not parse).
pub fn milli(q: &str) -> Option<i128> {
    Quantity::parse(q).ok().map(|q| q.milli_value() as i128)
}

/// Formats milli-units like a quantity (`500m`, `2`, `1Gi`).
pub fn format_milli(resource: &str, m: i128) -> String {
    if m % 1000 != 0 {
        return format!("{m}m");
    }
    let v = m / 1000;
    let binary = resource.contains("memory") || resource.contains("storage");
    if binary && v != 0 {
        for (suffix, unit) in [("Gi", 1i128 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
            if v % unit == 0 {
                return format!("{}{suffix}", v / unit);
            }
        }
    }
    v.to_string()
}

fn limit_ranges(server: &ApiServer, ns: &str) -> Vec<Value> {
    server.registry.cached_values("limitranges", Some(ns))
}

fn items<'a>(ranges: &'a [Value], kind: &str) -> Vec<&'a Value> {
    ranges
        .iter()
        .flat_map(|r| {
            r.pointer("/spec/limits")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter(|l| l.get("type").and_then(Value::as_str) == Some(kind))
        .collect()
}

fn applies(req: &Request<'_>) -> bool {
    req.operation == Operation::Create && req.is("", "pods") || is_resize(req)
}

/// An in-place resize (`pods/resize`): upstream defaults and bounds the
/// new resources as on create.
fn is_resize(req: &Request<'_>) -> bool {
    req.operation == Operation::Update
        && req.group.is_empty()
        && req.resource == "pods"
        && req.subresource == "resize"
}

/// Whether the plugin has anything to do with `req`: a pod create or a
/// claim write in a namespace with LimitRanges (see
/// [`super::Chain::reads_defaults`]).
pub fn judges(server: &ApiServer, req: &Request<'_>) -> bool {
    (applies(req) || validates(req))
        && server
            .registry
            .has_cached("limitranges", Some(req.namespace))
}

/// Fills default requests and limits into a new pod's containers. The
/// pod arrives defaulted (`admission::defaulting`): a container with only
/// a limit already requests that much, so the LimitRange's
/// `defaultRequest` does not apply to it.
pub async fn admit(
    server: &ApiServer,
    req: &Request<'_>,
    pod: &mut Value,
) -> Result<(), StatusError> {
    if !applies(req) {
        return Ok(());
    }
    let ranges = limit_ranges(server, req.namespace);
    let container_items = items(&ranges, "Container");
    if container_items.is_empty() {
        return Ok(());
    }
    let mut notes: Vec<String> = Vec::new();
    for kind in ["initContainers", "containers"] {
        let Some(list) = pod
            .pointer_mut(&format!("/spec/{kind}"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for c in list {
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let Some(c) = c.as_object_mut() else { continue };
            let res = c.entry("resources").or_insert_with(|| json!({}));
            let Some(res) = res.as_object_mut() else {
                continue;
            };
            for item in &container_items {
                for (field, target, what) in [
                    ("defaultRequest", "requests", "request"),
                    ("default", "limits", "limit"),
                ] {
                    let Some(defaults) = item.get(field).and_then(Value::as_object) else {
                        continue;
                    };
                    let entry = res
                        .entry(target)
                        .or_insert_with(|| Value::Object(Map::new()));
                    let Some(entry) = entry.as_object_mut() else {
                        continue;
                    };
                    for (k, v) in defaults {
                        if !entry.contains_key(k) {
                            entry.insert(k.clone(), v.clone());
                            notes.push(format!(
                                "{k} {what} for {} {name}",
                                if kind == "initContainers" {
                                    "init container"
                                } else {
                                    "container"
                                }
                            ));
                        }
                    }
                }
            }
        }
    }
    if !notes.is_empty()
        && let Some(md) = pod.get_mut("metadata").and_then(Value::as_object_mut)
    {
        let ann = md.entry("annotations").or_insert_with(|| json!({}));
        if let Some(ann) = ann.as_object_mut() {
            ann.insert(
                "kubernetes.io/limit-ranger".into(),
                json!(format!("LimitRanger plugin set: {}", notes.join("; "))),
            );
        }
    }
    Ok(())
}

fn amount(res: &Value, kind: &str, r: &str) -> Option<i128> {
    res.pointer(&format!("/{kind}/{r}"))
        .and_then(Value::as_str)
        .and_then(milli)
}

/// A quantity as upstream prints it (its canonical form).
fn shown(res: &Value, kind: &str, r: &str, m: i128) -> String {
    res.pointer(&format!("/{kind}/{r}"))
        .and_then(Value::as_str)
        .and_then(|q| Quantity::parse(q).ok())
        .map(|q| q.canonical_string())
        .unwrap_or_else(|| format_milli(r, m))
}

/// The bounds of one LimitRange item, as (resource, milli-units, shown).
fn bounds(item: &Value, field: &str) -> Vec<(String, i128, String)> {
    item.get(field)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let q = Quantity::parse(v.as_str()?).ok()?;
                    Some((k.clone(), q.milli_value() as i128, q.canonical_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Upstream's `minConstraint`, `maxConstraint` and
/// `limitRequestRatioConstraint` of one item over `resources`
/// (`{"requests": .., "limits": ..}`).
fn check_bounds(item: &Value, scope: &str, resources: &Value, errs: &mut Vec<String>) {
    for (r, min, min_s) in bounds(item, "min") {
        let (req, lim) = (
            amount(resources, "requests", &r),
            amount(resources, "limits", &r),
        );
        match req {
            None => errs.push(format!(
                "minimum {r} usage per {scope} is {min_s}.  No request is specified"
            )),
            Some(q) if q < min => errs.push(format!(
                "minimum {r} usage per {scope} is {min_s}, but request is {}",
                shown(resources, "requests", &r, q)
            )),
            _ => {
                if let Some(l) = lim.filter(|l| *l < min) {
                    errs.push(format!(
                        "minimum {r} usage per {scope} is {min_s}, but limit is {}",
                        shown(resources, "limits", &r, l)
                    ));
                }
            }
        }
    }
    for (r, max, max_s) in bounds(item, "max") {
        let (req, lim) = (
            amount(resources, "requests", &r),
            amount(resources, "limits", &r),
        );
        match lim {
            None => errs.push(format!(
                "maximum {r} usage per {scope} is {max_s}.  No limit is specified"
            )),
            Some(l) if l > max => errs.push(format!(
                "maximum {r} usage per {scope} is {max_s}, but limit is {}",
                shown(resources, "limits", &r, l)
            )),
            _ => {
                if let Some(q) = req.filter(|q| *q > max) {
                    errs.push(format!(
                        "maximum {r} usage per {scope} is {max_s}, but request is {}",
                        shown(resources, "requests", &r, q)
                    ));
                }
            }
        }
    }
    for (r, ratio, ratio_s) in bounds(item, "maxLimitRequestRatio") {
        let (req, lim) = (
            amount(resources, "requests", &r).filter(|q| *q != 0),
            amount(resources, "limits", &r).filter(|q| *q != 0),
        );
        let (Some(req), Some(lim)) = (req, lim) else {
            let missing = if req.is_none() { "request" } else { "limit" };
            errs.push(format!(
                "{r} max limit to request ratio per {scope} is {ratio_s}, but no {missing} is specified or {missing} is 0"
            ));
            continue;
        };
        if lim * 1000 > ratio * req {
            errs.push(format!(
                "{r} max limit to request ratio per {scope} is {ratio_s}, but provided ratio is {:.6}",
                lim as f64 / req as f64
            ));
        }
    }
}

/// Upstream's `maxRequestConstraint` and `minConstraint` for claims: only
/// `spec.resources.requests` counts.
fn check_claim(item: &Value, requests: &Value, errs: &mut Vec<String>) {
    let resources = json!({"requests": requests});
    let scope = "PersistentVolumeClaim";
    for (r, min, min_s) in bounds(item, "min") {
        match amount(&resources, "requests", &r) {
            None => errs.push(format!(
                "minimum {r} usage per {scope} is {min_s}.  No request is specified"
            )),
            Some(q) if q < min => errs.push(format!(
                "minimum {r} usage per {scope} is {min_s}, but request is {}",
                shown(&resources, "requests", &r, q)
            )),
            _ => {}
        }
    }
    for (r, max, max_s) in bounds(item, "max") {
        match amount(&resources, "requests", &r) {
            None => errs.push(format!(
                "maximum {r} usage per {scope} is {max_s}.  No request is specified"
            )),
            Some(q) if q > max => errs.push(format!(
                "maximum {r} usage per {scope} is {max_s}, but request is {}",
                shown(&resources, "requests", &r, q)
            )),
            _ => {}
        }
    }
}

/// Upstream's `podRequests` / `podLimits` over the spec: regular
/// containers and sidecars (restartable init containers) add up, and a
/// plain init container counts with the sidecars started before it; the
/// pod needs the larger of the two.
fn pod_totals(pod: &Value, kind: &str) -> BTreeMap<String, i128> {
    let of = |c: &Value| -> BTreeMap<String, i128> {
        c.pointer(&format!("/resources/{kind}"))
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().and_then(milli).unwrap_or(0)))
            .collect()
    };
    let add = |into: &mut BTreeMap<String, i128>, from: &BTreeMap<String, i128>| {
        for (k, v) in from {
            *into.entry(k.clone()).or_default() += v;
        }
    };
    let max = |into: &mut BTreeMap<String, i128>, from: &BTreeMap<String, i128>| {
        for (k, v) in from {
            let e = into.entry(k.clone()).or_insert(*v);
            *e = (*e).max(*v);
        }
    };
    let list = |k: &str| -> Vec<&Value> {
        pod.pointer(&format!("/spec/{k}"))
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default()
    };
    let mut total = BTreeMap::new();
    for c in list("containers") {
        add(&mut total, &of(c));
    }
    let (mut sidecars, mut init_max) = (BTreeMap::new(), BTreeMap::new());
    for c in list("initContainers") {
        let own = of(c);
        let counted = if c.get("restartPolicy").and_then(Value::as_str) == Some("Always") {
            add(&mut total, &own);
            add(&mut sidecars, &own);
            sidecars.clone()
        } else {
            let mut t = own;
            add(&mut t, &sidecars);
            t
        };
        max(&mut init_max, &counted);
    }
    max(&mut total, &init_max);
    total
}

fn validates(req: &Request<'_>) -> bool {
    if is_resize(req) {
        return true;
    }
    req.subresource.is_empty()
        && match (req.group, req.resource) {
            // Containers cannot change after creation: upstream skips pod
            // updates (resources change through pods/resize).
            ("", "pods") => req.operation == Operation::Create,
            ("", "persistentvolumeclaims") => {
                matches!(req.operation, Operation::Create | Operation::Update)
            }
            _ => false,
        }
}

/// Checks a new pod, or a new or updated claim, against the namespace's
/// bounds.
pub async fn validate(
    server: &ApiServer,
    req: &Request<'_>,
    obj: &Value,
    old: Option<&Value>,
) -> Result<(), StatusError> {
    if !validates(req) {
        return Ok(());
    }
    // An object on its way out is not held to new bounds.
    if old.is_some_and(|o| corten_apimachinery::meta::deletion_timestamp(o).is_some()) {
        return Ok(());
    }
    let ranges = limit_ranges(server, req.namespace);
    if ranges.is_empty() {
        return Ok(());
    }
    let mut errs = Vec::new();
    if req.resource == "persistentvolumeclaims" {
        let requests = obj
            .pointer("/spec/resources/requests")
            .cloned()
            .unwrap_or_else(|| json!({}));
        for item in items(&ranges, "PersistentVolumeClaim") {
            check_claim(item, &requests, &mut errs);
        }
    } else {
        let containers: Vec<&Value> = ["containers", "initContainers"]
            .iter()
            .flat_map(|k| {
                obj.pointer(&format!("/spec/{k}"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .collect();
        for item in items(&ranges, "Container") {
            for c in &containers {
                check_bounds(
                    item,
                    "Container",
                    c.get("resources").unwrap_or(&Value::Null),
                    &mut errs,
                );
            }
        }
        let pod_items = items(&ranges, "Pod");
        if !pod_items.is_empty() {
            let mut totals = json!({"requests": {}, "limits": {}});
            for kind in ["requests", "limits"] {
                for (k, v) in pod_totals(obj, kind) {
                    totals[kind][&k] = json!(format_milli(&k, v));
                }
            }
            for item in pod_items {
                check_bounds(item, "Pod", &totals, &mut errs);
            }
        }
    }
    match errs.len() {
        0 => Ok(()),
        1 => Err(req.forbidden(&errs[0])),
        _ => Err(req.forbidden(&format!("[{}]", errs.join(", ")))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_format_like_upstream() {
        assert_eq!(format_milli("cpu", milli("500m").unwrap()), "500m");
        assert_eq!(format_milli("cpu", milli("2").unwrap()), "2");
        assert_eq!(format_milli("memory", milli("1Gi").unwrap()), "1Gi");
        assert_eq!(format_milli("memory", milli("1536Mi").unwrap()), "1536Mi");
        let mut errs = Vec::new();
        let item = json!({"type": "Container", "min": {"cpu": "100m"}, "max": {"memory": "1Gi"}});
        check_bounds(
            &item,
            "Container",
            &json!({"requests": {"cpu": "50m"}, "limits": {"memory": "2Gi"}}),
            &mut errs,
        );
        assert_eq!(
            errs,
            [
                "minimum cpu usage per Container is 100m, but request is 50m",
                "maximum memory usage per Container is 1Gi, but limit is 2Gi"
            ]
        );
    }

    #[test]
    fn bounds_check_both_requests_and_limits_like_upstream() {
        let item = json!({"type": "Container", "min": {"cpu": "100m"}, "max": {"cpu": "1"},
                          "maxLimitRequestRatio": {"memory": "2"}});
        let mut errs = Vec::new();
        // Request within min, limit below it; limit within max, request above.
        check_bounds(
            &item,
            "Container",
            &json!({"requests": {"cpu": "200m"}, "limits": {"cpu": "50m"}}),
            &mut errs,
        );
        check_bounds(
            &item,
            "Container",
            &json!({"requests": {"cpu": "2", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "3Gi"}}),
            &mut errs,
        );
        check_bounds(
            &item,
            "Container",
            &json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "500m", "memory": "1Gi"}}),
            &mut errs,
        );
        assert_eq!(
            errs,
            [
                "minimum cpu usage per Container is 100m, but limit is 50m",
                "memory max limit to request ratio per Container is 2, but no request is specified or request is 0",
                "maximum cpu usage per Container is 1, but request is 2",
                "memory max limit to request ratio per Container is 2, but provided ratio is 3.000000",
                "memory max limit to request ratio per Container is 2, but no request is specified or request is 0",
            ]
        );
    }

    #[test]
    fn claims_are_bounded_by_their_storage_request() {
        let item = json!({"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "10Gi"}});
        let mut errs = Vec::new();
        check_claim(&item, &json!({"storage": "500Mi"}), &mut errs);
        check_claim(&item, &json!({"storage": "20Gi"}), &mut errs);
        check_claim(&item, &json!({"storage": "5Gi"}), &mut errs);
        check_claim(&item, &json!({}), &mut errs);
        assert_eq!(
            errs,
            [
                "minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi",
                "maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi",
                "minimum storage usage per PersistentVolumeClaim is 1Gi.  No request is specified",
                "maximum storage usage per PersistentVolumeClaim is 10Gi.  No request is specified",
            ]
        );
    }

    #[test]
    fn pod_totals_count_sidecars_and_the_largest_init_container() {
        let pod = json!({"spec": {
            "initContainers": [
                {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
                {"name": "init", "resources": {"requests": {"cpu": "2"}}},
            ],
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
                {"name": "b", "resources": {"requests": {"cpu": "500m"}}},
            ],
        }});
        let t = pod_totals(&pod, "requests");
        // max(500m+500m+100m, 2+100m) = 2100m.
        assert_eq!(t["cpu"], 2100);
        assert_eq!(t["memory"], (1i128 << 30) * 1000);
    }
}
