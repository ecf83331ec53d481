//! LimitRanger: the LimitRanges of a namespace fill in default container
//! requests and limits (`defaultRequest`, `default`) on new pods and bound
//! them (`min`, `max`, `maxLimitRequestRatio`) per Container and per Pod.

use corten_apimachinery::StatusError;
use corten_apimachinery::quantity::Quantity;
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
    let Some(cache) = server.registry.cache("limitranges") else {
        return Vec::new();
    };
    cache
        .list(&corten_storage::ListRequest {
            prefix: format!("limitranges/{ns}/"),
            filter: Default::default(),
            start_after: None,
            limit: None,
        })
        .items
        .iter()
        .filter_map(|o| serde_json::from_slice(&o.json).ok())
        .collect()
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
    req.operation == Operation::Create && req.is("", "pods")
}

/// Fills default requests and limits into a new pod's containers.
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

fn check_bounds(item: &Value, scope: &str, resources: &Value, errs: &mut Vec<String>) {
    let each = |field: &str| -> Vec<(String, i128)> {
        item.get(field)
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), milli(v.as_str()?)?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    for (r, min) in each("min") {
        match amount(resources, "requests", &r) {
            Some(req) if req < min => errs.push(format!(
                "minimum {r} usage per {scope} is {}, but request is {}",
                format_milli(&r, min),
                format_milli(&r, req)
            )),
            None => errs.push(format!(
                "minimum {r} usage per {scope} is {}.  No request is specified",
                format_milli(&r, min)
            )),
            _ => {}
        }
    }
    for (r, max) in each("max") {
        match amount(resources, "limits", &r) {
            Some(lim) if lim > max => errs.push(format!(
                "maximum {r} usage per {scope} is {}, but limit is {}",
                format_milli(&r, max),
                format_milli(&r, lim)
            )),
            None => errs.push(format!(
                "maximum {r} usage per {scope} is {}.  No limit is specified",
                format_milli(&r, max)
            )),
            _ => {}
        }
    }
    for (r, ratio) in each("maxLimitRequestRatio") {
        if let (Some(lim), Some(req)) = (
            amount(resources, "limits", &r),
            amount(resources, "requests", &r),
        ) && req > 0
            && lim * 1000 > ratio * req
        {
            errs.push(format!(
                "{r} max limit to request ratio per {scope} is {}, but provided ratio is {:.6}",
                format_milli(&r, ratio),
                lim as f64 / req as f64
            ));
        }
    }
}

/// Checks a new pod against the namespace's bounds.
pub async fn validate(
    server: &ApiServer,
    req: &Request<'_>,
    pod: &Value,
) -> Result<(), StatusError> {
    if !applies(req) {
        return Ok(());
    }
    let ranges = limit_ranges(server, req.namespace);
    if ranges.is_empty() {
        return Ok(());
    }
    let mut errs = Vec::new();
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|k| {
            pod.pointer(&format!("/spec/{k}"))
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
        // Pod totals: the sum over regular containers.
        let mut totals = json!({"requests": {}, "limits": {}});
        for kind in ["requests", "limits"] {
            let mut sums: std::collections::BTreeMap<String, i128> = Default::default();
            for c in pod
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for (k, v) in c
                    .pointer(&format!("/resources/{kind}"))
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    *sums.entry(k.clone()).or_default() += v.as_str().and_then(milli).unwrap_or(0);
                }
            }
            for (k, v) in sums {
                totals[kind][&k] = json!(format_milli(&k, v));
            }
        }
        for item in pod_items {
            check_bounds(item, "Pod", &totals, &mut errs);
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
}
