//! The custom and external metrics APIs the HPA reads `Pods`, `Object`
//! and `External` metrics from (served by an adapter such as
//! prometheus-adapter or KEDA through API aggregation):
//!
//! - `custom.metrics.k8s.io`: `v1beta2`, falling back to `v1beta1` when an
//!   adapter serves only that. Pods of a selector are read at
//!   `namespaces/<ns>/pods/*/<metric>?labelSelector=..`, one object at
//!   `namespaces/<ns>/<resource>.<group>/<name>/<metric>`, the namespace
//!   itself at `namespaces/<ns>/metrics/<metric>`; a metric selector goes
//!   in `metricLabelSelector`.
//! - `external.metrics.k8s.io/v1beta1`: `namespaces/<ns>/<metric>` with
//!   the metric selector as `labelSelector`; the values of all series are
//!   summed.
//!
//! Error texts are upstream's, since they end up in the HPA's conditions
//! and events.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Client;
use serde::Deserialize;

use super::target::{ResolvedKind, encode};
use crate::framework::api_errors;

/// The window upstream assumes when an adapter reports none.
const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

/// Custom metrics API versions, most preferred first.
const CUSTOM_VERSIONS: [&str; 2] = ["v1beta2", "v1beta1"];

/// One `MetricValue` (the fields of `v1beta1` and `v1beta2` the HPA reads).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct MetricValue {
    #[serde(default)]
    described_object: DescribedObject,
    #[serde(default)]
    timestamp: Option<Time>,
    #[serde(default)]
    window_seconds: Option<i64>,
    value: Quantity,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct DescribedObject {
    #[serde(default)]
    name: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct MetricValueList {
    #[serde(default)]
    items: Vec<MetricValue>,
}

/// One `ExternalMetricValue`.
#[derive(Debug, Clone, Deserialize, Default)]
struct ExternalMetricValue {
    value: Quantity,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct ExternalMetricValueList {
    #[serde(default)]
    items: Vec<ExternalMetricValue>,
}

/// One pod's sample of a `Pods` metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodValue {
    /// The pod.
    pub pod: String,
    /// Value in milli-units.
    pub milli: i64,
    /// When it was taken (`None`: the adapter did not say).
    pub timestamp: Option<k8s_openapi::jiff::Timestamp>,
    /// Over how long it was averaged.
    pub window: Duration,
}

fn milli(q: &Quantity) -> Result<i64, String> {
    corten_apimachinery::quantity::Quantity::parse(&q.0)
        .map(|v| v.milli_value())
        .map_err(|_| format!("invalid metric value {:?}", q.0))
}

fn with_query(mut path: String, params: &[(&str, &str)]) -> String {
    let mut first = true;
    for (key, value) in params.iter().filter(|(_, v)| !v.is_empty()) {
        path.push(if first { '?' } else { '&' });
        first = false;
        path.push_str(key);
        path.push('=');
        path.push_str(&encode(value));
    }
    path
}

async fn get<T: serde::de::DeserializeOwned>(
    client: &Client,
    path: &str,
) -> Result<T, kube::Error> {
    let request = http::Request::get(path)
        .body(Vec::new())
        .map_err(kube::Error::HttpError)?;
    client.request(request).await
}

/// GETs `rest` (below `namespaces/`) from the custom metrics API, trying
/// each served version in preference order.
async fn custom_get(
    client: &Client,
    rest: &str,
    params: &[(&str, &str)],
) -> Result<MetricValueList, String> {
    let mut last = String::new();
    for version in CUSTOM_VERSIONS {
        let path = with_query(
            format!("/apis/custom.metrics.k8s.io/{version}/namespaces/{rest}"),
            params,
        );
        match get::<MetricValueList>(client, &path).await {
            Ok(list) => return Ok(list),
            // Not served at this version: try the next one.
            Err(kube::Error::Api(status)) if status.code == 404 => {
                last = status.message;
            }
            Err(err) => {
                return Err(format!(
                    "unable to fetch metrics from custom metrics API: {}",
                    api_errors::message(&err)
                ));
            }
        }
    }
    Err(format!(
        "unable to fetch metrics from custom metrics API: {last}"
    ))
}

/// The `metric` of every pod in `namespace` matching `pod_selector`
/// (upstream `GetRawMetric`).
pub async fn pods_metric(
    client: &Client,
    namespace: &str,
    metric: &str,
    pod_selector: &str,
    metric_selector: &str,
) -> Result<Vec<PodValue>, String> {
    let list = custom_get(
        client,
        &format!("{namespace}/pods/*/{metric}"),
        &[
            ("labelSelector", pod_selector),
            ("metricLabelSelector", metric_selector),
        ],
    )
    .await?;
    if list.items.is_empty() {
        return Err("no metrics returned from custom metrics API".to_string());
    }
    list.items
        .iter()
        .map(|item| {
            Ok(PodValue {
                pod: item.described_object.name.clone(),
                milli: milli(&item.value)?,
                timestamp: item.timestamp.as_ref().map(|t| t.0),
                window: item
                    .window_seconds
                    .and_then(|s| u64::try_from(s).ok())
                    .map(Duration::from_secs)
                    .unwrap_or(DEFAULT_WINDOW),
            })
        })
        .collect()
}

/// The `metric` describing one object (upstream `GetObjectMetric`):
/// `kind` resolved to `resolved`, or the namespace itself for the core
/// `Namespace` kind (a reference cannot leave the HPA's namespace).
pub async fn object_metric(
    client: &Client,
    namespace: &str,
    resolved: &ResolvedKind,
    kind: &str,
    name: &str,
    metric: &str,
    metric_selector: &str,
) -> Result<i64, String> {
    let rest = if kind == "Namespace" && resolved.group.is_empty() {
        format!("{namespace}/metrics/{metric}")
    } else {
        format!("{namespace}/{}/{name}/{metric}", resolved.group_resource())
    };
    let list = custom_get(client, &rest, &[("metricLabelSelector", metric_selector)]).await?;
    match list.items.as_slice() {
        [one] => milli(&one.value),
        items => Err(format!(
            "unable to fetch metrics from custom metrics API: the custom metrics API server returned {} results when we asked for exactly one",
            items.len()
        )),
    }
}

/// Every value of the external `metric` matching `selector` in
/// `namespace` (upstream `GetExternalMetric`).
pub async fn external_metric(
    client: &Client,
    namespace: &str,
    metric: &str,
    selector: &str,
) -> Result<Vec<i64>, String> {
    let path = with_query(
        format!("/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}"),
        &[("labelSelector", selector)],
    );
    let list: ExternalMetricValueList = get(client, &path).await.map_err(|e| {
        format!(
            "unable to fetch metrics from external metrics API: {}",
            api_errors::message(&e)
        )
    })?;
    if list.items.is_empty() {
        return Err("no metrics returned from external metrics API".to_string());
    }
    list.items.iter().map(|i| milli(&i.value)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_skip_empty_selectors_and_encode() {
        assert_eq!(
            with_query(
                "/p".into(),
                &[("labelSelector", "app=web"), ("metricLabelSelector", "")]
            ),
            "/p?labelSelector=app%3Dweb"
        );
        assert_eq!(
            with_query(
                "/p".into(),
                &[("labelSelector", ""), ("metricLabelSelector", "q=a")]
            ),
            "/p?metricLabelSelector=q%3Da"
        );
        assert_eq!(with_query("/p".into(), &[]), "/p");
    }

    #[test]
    fn metric_values_parse_both_versions() {
        // v1beta2 names the metric in `metric`, v1beta1 in `metricName`;
        // the HPA reads neither.
        let list: MetricValueList = serde_json::from_value(serde_json::json!({
            "items": [
                {"describedObject": {"kind": "Pod", "name": "a"}, "metric": {"name": "qps"},
                 "timestamp": "2024-01-01T00:00:00Z", "windowSeconds": 30, "value": "1500m"},
                {"describedObject": {"kind": "Pod", "name": "b"}, "metricName": "qps",
                 "timestamp": "2024-01-01T00:00:00Z", "value": "2"}
            ]
        }))
        .unwrap();
        assert_eq!(list.items.len(), 2);
        assert_eq!(milli(&list.items[0].value), Ok(1500));
        assert_eq!(list.items[0].window_seconds, Some(30));
        assert_eq!(milli(&list.items[1].value), Ok(2000));
        assert!(milli(&Quantity("x".into())).is_err());
    }
}
