//! The downward API: pod fields and container resources as strings, for
//! environment variables (`valueFrom.fieldRef`/`resourceFieldRef`) and
//! downwardAPI volumes.

use std::collections::BTreeMap;

use corten_apimachinery::quantity::Quantity as Parsed;
use k8s_openapi::api::core::v1::{Container, ObjectFieldSelector, Pod, ResourceFieldSelector};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Runtime facts the downward API exposes besides the pod object.
#[derive(Clone, Debug, Default)]
pub struct RuntimeFacts {
    /// Pod IPs, primary first.
    pub pod_ips: Vec<String>,
    /// Node IPs, primary first.
    pub host_ips: Vec<String>,
    /// Node allocatable (used when a container has no limit).
    pub node_allocatable: BTreeMap<String, Quantity>,
}

/// `key="value"` lines sorted by key, as upstream formats labels and annotations.
pub fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    let mut out = String::new();
    for (k, v) in map.into_iter().flatten() {
        // Go's %q: escape quotes, backslashes and control characters.
        let quoted = serde_json::to_string(v).unwrap_or_default();
        out.push_str(&format!("{k}={quoted}\n"));
    }
    out.trim_end_matches('\n').to_string()
}

fn subscript<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?.strip_prefix("['")?;
    rest.strip_suffix("']")
}

/// The value of `fieldRef`. `volume` allows the whole-map paths
/// (`metadata.labels`, `metadata.annotations`) that only volumes may use.
pub fn field_value(
    pod: &Pod,
    selector: &ObjectFieldSelector,
    facts: &RuntimeFacts,
    volume: bool,
) -> Result<String, String> {
    let path = selector.field_path.as_str();
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    if let Some(key) = subscript(path, "metadata.labels") {
        return Ok(meta
            .labels
            .as_ref()
            .and_then(|l| l.get(key))
            .cloned()
            .unwrap_or_default());
    }
    if let Some(key) = subscript(path, "metadata.annotations") {
        return Ok(meta
            .annotations
            .as_ref()
            .and_then(|l| l.get(key))
            .cloned()
            .unwrap_or_default());
    }
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" if volume => format_map(meta.labels.as_ref()),
        "metadata.annotations" if volume => format_map(meta.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" => facts.host_ips.first().cloned().unwrap_or_default(),
        "status.hostIPs" => facts.host_ips.join(","),
        "status.podIP" => facts.pod_ips.first().cloned().unwrap_or_default(),
        "status.podIPs" => facts.pod_ips.join(","),
        other => return Err(format!("unsupported fieldPath: {other}")),
    })
}

/// The value of `resourceFieldRef` for `container`.
pub fn resource_value(
    container: &Container,
    selector: &ResourceFieldSelector,
    facts: &RuntimeFacts,
) -> Result<String, String> {
    let (kind, name) = selector
        .resource
        .split_once('.')
        .ok_or_else(|| format!("unsupported container resource: {}", selector.resource))?;
    let resources = container.resources.as_ref();
    let from = match kind {
        "limits" => resources.and_then(|r| r.limits.as_ref()),
        "requests" => resources.and_then(|r| r.requests.as_ref()),
        _ => {
            return Err(format!(
                "unsupported container resource: {}",
                selector.resource
            ));
        }
    };
    // Unset limits fall back to node allocatable; unset requests are 0
    // unless a limit is set (API defaulting copies limits to requests).
    let value = from
        .and_then(|m| m.get(name))
        .or_else(|| {
            (kind == "requests")
                .then(|| {
                    resources
                        .and_then(|r| r.limits.as_ref())
                        .and_then(|m| m.get(name))
                })
                .flatten()
        })
        .or_else(|| {
            (kind == "limits")
                .then(|| facts.node_allocatable.get(name))
                .flatten()
        });
    let value = value
        .and_then(|q| Parsed::parse(&q.0).ok())
        .unwrap_or_else(|| Parsed::parse("0").unwrap_or_else(|_| unreachable!()));
    let divisor = selector
        .divisor
        .as_ref()
        .and_then(|d| Parsed::parse(&d.0).ok())
        .filter(|d| !d.is_zero());
    if name == "cpu" {
        let divisor_milli = divisor.map_or(1000, |d| d.milli_value()).max(1);
        let milli = value.milli_value();
        return Ok(((milli + divisor_milli - 1) / divisor_milli).to_string());
    }
    let divisor = divisor.map_or(1, |d| d.value()).max(1);
    let v = value.value();
    Ok(((v + divisor - 1) / divisor).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};

    fn pod() -> Pod {
        Pod {
            metadata: kube::api::ObjectMeta {
                name: Some("p".into()),
                namespace: Some("ns".into()),
                uid: Some("u".into()),
                labels: Some(BTreeMap::from([
                    ("b".to_string(), "2".to_string()),
                    ("a".to_string(), "say \"hi\"".to_string()),
                ])),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("node-1".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn field(path: &str) -> ObjectFieldSelector {
        ObjectFieldSelector {
            field_path: path.into(),
            api_version: None,
        }
    }

    #[test]
    fn fields() {
        let facts = RuntimeFacts {
            pod_ips: vec!["10.1.0.5".into()],
            host_ips: vec!["192.168.0.2".into(), "fd00::2".into()],
            ..Default::default()
        };
        let p = pod();
        let get = |path: &str| field_value(&p, &field(path), &facts, true).unwrap();
        assert_eq!(get("metadata.name"), "p");
        assert_eq!(get("metadata.labels['b']"), "2");
        assert_eq!(get("metadata.labels"), "a=\"say \\\"hi\\\"\"\nb=\"2\"");
        assert_eq!(get("spec.nodeName"), "node-1");
        assert_eq!(get("status.podIP"), "10.1.0.5");
        assert_eq!(get("status.hostIPs"), "192.168.0.2,fd00::2");
        assert!(field_value(&p, &field("metadata.labels"), &facts, false).is_err());
        assert!(field_value(&p, &field("spec.bogus"), &facts, false).is_err());
    }

    #[test]
    fn resources() {
        let c = Container {
            name: "c".into(),
            resources: Some(ResourceRequirements {
                limits: Some(BTreeMap::from([
                    ("cpu".to_string(), Quantity("1500m".into())),
                    ("memory".to_string(), Quantity("64Mi".into())),
                ])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let facts = RuntimeFacts {
            node_allocatable: BTreeMap::from([(
                "ephemeral-storage".to_string(),
                Quantity("1Gi".into()),
            )]),
            ..Default::default()
        };
        let sel = |resource: &str, divisor: Option<&str>| ResourceFieldSelector {
            resource: resource.into(),
            divisor: divisor.map(|d| Quantity(d.into())),
            container_name: None,
        };
        assert_eq!(
            resource_value(&c, &sel("limits.cpu", None), &facts).unwrap(),
            "2"
        );
        assert_eq!(
            resource_value(&c, &sel("limits.cpu", Some("1m")), &facts).unwrap(),
            "1500"
        );
        assert_eq!(
            resource_value(&c, &sel("requests.memory", Some("1Mi")), &facts).unwrap(),
            "64"
        );
        assert_eq!(
            resource_value(&c, &sel("limits.ephemeral-storage", None), &facts).unwrap(),
            (1u64 << 30).to_string()
        );
        assert!(resource_value(&c, &sel("cpu", None), &facts).is_err());
    }
}
