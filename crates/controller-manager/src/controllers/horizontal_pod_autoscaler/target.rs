//! The HPA's view of the API beyond its own object: the target's `/scale`
//! subresource (any kind with one, custom resources included; the kind is
//! resolved to its resource through discovery of the target's group
//! version) and the resource metrics API (`metrics.k8s.io/v1beta1`,
//! served by metrics-server through API aggregation).

use std::collections::BTreeMap;

use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::autoscaling::v2::CrossVersionObjectReference;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::Client;
use serde::Deserialize;

use crate::framework::api_errors;
use crate::framework::discovery::parse_group_version;

/// Where the target's scale lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleTarget {
    /// `/apis/<group>/<version>/namespaces/<ns>/<resource>/<name>/scale`.
    pub path: String,
}

/// A kind resolved to its resource through discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedKind {
    /// API group (`""` for the core group).
    pub group: String,
    /// Version.
    pub version: String,
    /// Plural resource name (`deployments`).
    pub resource: String,
    /// Whether the resource has a `/scale` subresource.
    pub has_scale: bool,
}

impl ResolvedKind {
    /// `/api/v1` or `/apis/<group>/<version>`.
    pub fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// The group-qualified resource (`deployments.apps`, `services`), as
    /// the custom metrics API names object kinds.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

/// Finds the resource serving `kind` in `api_version` (default `v1`).
pub async fn resolve_kind(
    client: &Client,
    api_version: Option<&str>,
    kind: &str,
) -> Result<ResolvedKind, String> {
    let api_version = api_version.unwrap_or("v1");
    let (group, version) = parse_group_version(api_version)
        .ok_or_else(|| format!("invalid API version in scale target reference: {api_version}"))?;
    let list = if group.is_empty() {
        client.list_core_api_resources(&version).await
    } else {
        client.list_api_group_resources(api_version).await
    }
    .map_err(|e| {
        format!(
            "unable to determine resource for scale target reference: {}",
            api_errors::message(&e)
        )
    })?;
    let resource = list
        .resources
        .iter()
        .find(|r| r.kind == kind && !r.name.contains('/'))
        .ok_or_else(|| {
            format!(
                "unable to determine resource for scale target reference: no matches for kind \"{kind}\" in group \"{group}\""
            )
        })?;
    let has_scale = list
        .resources
        .iter()
        .any(|r| r.name == format!("{}/scale", resource.name));
    Ok(ResolvedKind {
        group,
        version,
        resource: resource.name.clone(),
        has_scale,
    })
}

/// Resolves `reference` in `namespace` to its scale subresource's path.
pub async fn resolve(
    client: &Client,
    namespace: &str,
    reference: &CrossVersionObjectReference,
) -> Result<ScaleTarget, String> {
    let resolved = resolve_kind(client, reference.api_version.as_deref(), &reference.kind).await?;
    if !resolved.has_scale {
        return Err(format!(
            "the server could not find the requested resource ({}/scale of {}.{})",
            resolved.resource, reference.kind, resolved.group
        ));
    }
    Ok(ScaleTarget {
        path: format!(
            "{}/namespaces/{namespace}/{}/{}/scale",
            resolved.prefix(),
            resolved.resource,
            reference.name
        ),
    })
}

impl ScaleTarget {
    /// GETs the Scale.
    pub async fn get(&self, client: &Client) -> Result<Scale, kube::Error> {
        let request = http::Request::get(&self.path)
            .body(Vec::new())
            .map_err(kube::Error::HttpError)?;
        client.request(request).await
    }

    /// PUTs `scale` (with its resourceVersion, so a concurrent change
    /// conflicts instead of being overwritten).
    pub async fn update(&self, client: &Client, scale: &Scale) -> Result<Scale, kube::Error> {
        let body = serde_json::to_vec(scale).map_err(kube::Error::SerdeError)?;
        let request = http::Request::put(&self.path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .map_err(kube::Error::HttpError)?;
        client.request(request).await
    }
}

/// `metrics.k8s.io/v1beta1` `PodMetricsList` (only what the HPA reads).
#[derive(Debug, Clone, Deserialize, Default)]
pub struct PodMetricsList {
    /// The pods' samples.
    #[serde(default)]
    pub items: Vec<PodMetrics>,
}

/// One pod's sample.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct PodMetrics {
    /// The pod (`name` matters).
    pub metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    /// When the sample was taken.
    #[serde(default)]
    pub timestamp: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// Over how long it was averaged (a Go duration such as `15s`).
    #[serde(default)]
    pub window: Option<String>,
    /// Per-container usage.
    #[serde(default)]
    pub containers: Vec<ContainerMetrics>,
}

/// One container's usage.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct ContainerMetrics {
    /// Container name.
    #[serde(default)]
    pub name: String,
    /// `cpu`, `memory`, ... as quantities.
    #[serde(default)]
    pub usage: BTreeMap<String, Quantity>,
}

/// Lists the pods' metrics in `namespace` matching `selector`.
pub async fn pod_metrics(
    client: &Client,
    namespace: &str,
    selector: &str,
) -> Result<PodMetricsList, kube::Error> {
    let mut url = format!("/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods");
    if !selector.is_empty() {
        url.push_str("?labelSelector=");
        url.push_str(&encode(selector));
    }
    let request = http::Request::get(&url)
        .body(Vec::new())
        .map_err(kube::Error::HttpError)?;
    client.request(request).await
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Usage of `resource` by the container named `container` in milli-units
/// (`Ok(None)`: it reports no such resource); an error when the pod's
/// metrics have no such container (upstream's message).
pub fn container_usage_milli(
    pod: &PodMetrics,
    resource: &str,
    container: &str,
) -> Result<Option<i64>, String> {
    let c = pod
        .containers
        .iter()
        .find(|c| c.name == container)
        .ok_or_else(|| {
            format!(
                "container {container} not present in metrics for pod {}/{}",
                pod.metadata.namespace.as_deref().unwrap_or(""),
                pod.metadata.name.as_deref().unwrap_or("")
            )
        })?;
    Ok(c.usage
        .get(resource)
        .and_then(|q| corten_apimachinery::quantity::Quantity::parse(&q.0).ok())
        .map(|v| v.milli_value()))
}

/// Summed usage of `resource` over the pod's containers in milli-units;
/// `None` when the pod reports no container with it.
pub fn usage_milli(pod: &PodMetrics, resource: &str) -> Option<i64> {
    let mut total = None;
    for container in &pod.containers {
        let q = container.usage.get(resource)?;
        let value = corten_apimachinery::quantity::Quantity::parse(&q.0).ok()?;
        total = Some(total.unwrap_or(0i64).saturating_add(value.milli_value()));
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_sums_containers() {
        let pod: PodMetrics = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "containers": [
                {"name": "a", "usage": {"cpu": "250m", "memory": "10Mi"}},
                {"name": "b", "usage": {"cpu": "1", "memory": "1Mi"}},
            ]
        }))
        .unwrap();
        assert_eq!(usage_milli(&pod, "cpu"), Some(1250));
        assert_eq!(usage_milli(&pod, "memory"), Some(11 * 1024 * 1024 * 1000));
        assert_eq!(usage_milli(&pod, "gpu"), None);
        assert_eq!(container_usage_milli(&pod, "cpu", "b"), Ok(Some(1000)));
        assert_eq!(container_usage_milli(&pod, "gpu", "b"), Ok(None));
        assert_eq!(
            container_usage_milli(&pod, "cpu", "c").unwrap_err(),
            "container c not present in metrics for pod /p"
        );
    }

    #[test]
    fn selectors_are_encoded() {
        assert_eq!(
            encode("app=web,tier in (a)"),
            "app%3Dweb%2Ctier%20in%20%28a%29"
        );
    }
}
