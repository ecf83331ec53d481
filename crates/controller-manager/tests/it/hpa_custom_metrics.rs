//! horizontal-pod-autoscaler-controller with `Pods`, `Object` and
//! `External` metrics, read from `custom.metrics.k8s.io/v1beta2` and
//! `external.metrics.k8s.io/v1beta1` served by an in-process adapter
//! behind two APIServices (as prometheus-adapter or KEDA are).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use corten_e2e::TestCluster;
use corten_e2e::extension_server::{FrontProxy, Handler, TestExtensionServer};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::fake_kubelet::set_pod_status;
use crate::horizontal_pod_autoscaler::{condition, wait_for_hpa};
use crate::support::{object, start_manager, wait_for};

const NS: &str = "default";
const CUSTOM: &str = "custom.metrics.k8s.io/v1beta2";
const EXTERNAL: &str = "external.metrics.k8s.io/v1beta1";

/// Requests the adapter saw: (path, query).
type Seen = Arc<Mutex<Vec<(String, String)>>>;

fn not_found() -> (u16, Value) {
    (
        404,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
            "code": 404, "message": "the server could not find the requested resource"}),
    )
}

fn metric_value(kind: &str, name: &str, metric: &str, value: &str) -> Value {
    json!({"describedObject": {"kind": kind, "namespace": NS, "name": name, "apiVersion": "v1"},
        "metric": {"name": metric}, "timestamp": Timestamp::now().to_string(),
        "windowSeconds": 30, "value": value})
}

/// The adapter: `qps` of the pods labelled `app=pods-target` (5 each),
/// `requests` of Service `web` (300), and the external `queue_depth`
/// series (12 and 18) when asked for `queue=jobs`.
fn adapter(seen: Seen) -> Handler {
    Arc::new(move |path: &str, query: &str, accept: &str| {
        seen.lock()
            .unwrap()
            .push((path.to_string(), query.to_string()));
        if path == "/apis" && accept.contains("as=APIGroupDiscoveryList") {
            return (
                200,
                json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
                    "items": [
                        {"metadata": {"name": "custom.metrics.k8s.io"}, "versions": [{"version": "v1beta2", "freshness": "Current",
                            "resources": [{"resource": "pods/qps", "scope": "Namespaced",
                                "responseKind": {"group": "custom.metrics.k8s.io", "version": "v1beta2", "kind": "MetricValueList"},
                                "verbs": ["get"]}]}]},
                        {"metadata": {"name": "external.metrics.k8s.io"}, "versions": [{"version": "v1beta1", "freshness": "Current",
                            "resources": [{"resource": "queue_depth", "scope": "Namespaced",
                                "responseKind": {"group": "external.metrics.k8s.io", "version": "v1beta1", "kind": "ExternalMetricValueList"},
                                "verbs": ["get"]}]}]}]}),
            );
        }
        for gv in [CUSTOM, EXTERNAL] {
            if path == format!("/apis/{gv}") {
                return (
                    200,
                    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": []}),
                );
            }
        }
        let pods = format!("/apis/{CUSTOM}/namespaces/{NS}/pods/");
        if let Some(metric) = path
            .strip_prefix(&pods)
            .and_then(|r| r.strip_prefix("*/").or_else(|| r.strip_prefix("%2A/")))
        {
            if metric != "qps" || !query.contains("labelSelector=app%3Dpods-target") {
                return not_found();
            }
            let items: Vec<Value> = ["pods-1", "pods-2"]
                .iter()
                .map(|p| metric_value("Pod", p, "qps", "5"))
                .collect();
            return (
                200,
                json!({"kind": "MetricValueList", "apiVersion": CUSTOM, "metadata": {}, "items": items}),
            );
        }
        if path == format!("/apis/{CUSTOM}/namespaces/{NS}/services/web/requests") {
            return (
                200,
                json!({"kind": "MetricValueList", "apiVersion": CUSTOM, "metadata": {},
                    "items": [metric_value("Service", "web", "requests", "300")]}),
            );
        }
        if path == format!("/apis/{EXTERNAL}/namespaces/{NS}/queue_depth") {
            if query != "labelSelector=queue%3Djobs" {
                return not_found();
            }
            let item = |v: &str| {
                json!({"metricName": "queue_depth", "metricLabels": {"queue": "jobs"},
                    "timestamp": Timestamp::now().to_string(), "value": v})
            };
            return (
                200,
                json!({"kind": "ExternalMetricValueList", "apiVersion": EXTERNAL, "metadata": {},
                    "items": [item("12"), item("18")]}),
            );
        }
        not_found()
    })
}

/// A Deployment `name` at 2 replicas with two Ready pods `<label>-1/2`.
async fn target(client: &Client, name: &str, label: &str) {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    deployments
        .create(
            &PostParams::default(),
            &object(json!({
                "metadata": {"name": name},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}},
                                      "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
            })),
        )
        .await
        .unwrap();
    // No deployment controller runs: report the replicas a status would.
    deployments
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 2, "readyReplicas": 2}})),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    for i in 1..=2 {
        let pod = pods
            .create(
                &PostParams::default(),
                &object(json!({
                    "metadata": {"name": format!("{label}-{i}"), "labels": {"app": name}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}
                })),
            )
            .await
            .unwrap();
        set_pod_status(client, &pod, true, 0).await;
    }
}

async fn hpa(client: &Client, name: &str, metric: Value) {
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), NS);
    hpas.create(
        &PostParams::default(),
        &object(json!({
            "metadata": {"name": name},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                     "minReplicas": 1, "maxReplicas": 20, "metrics": [metric]}
        })),
    )
    .await
    .unwrap();
}

async fn rescaled_event(client: &Client, name: &str, message: &str) {
    let events: Api<Event> = Api::namespaced(client.clone(), NS);
    let fields = format!("involvedObject.name={name}");
    wait_for(
        &format!("SuccessfulRescale of {name}: {message}"),
        Duration::from_secs(30),
        || async {
            let list = events
                .list(&ListParams::default().fields(&fields))
                .await
                .unwrap();
            list.items.into_iter().find(|e| {
                e.reason.as_deref() == Some("SuccessfulRescale")
                    && e.message.as_deref() == Some(message)
            })
        },
    )
    .await;
}

fn replicas_of(client: &Client, name: &'static str) -> impl Future<Output = Option<i32>> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    async move { deployments.get(name).await.unwrap().spec.unwrap().replicas }
}

#[tokio::test]
async fn scales_on_pods_object_and_external_metrics() {
    crate::with_timeout!(async {
        let pki = tempfile::tempdir().unwrap();
        let fp = FrontProxy::create(pki.path()).unwrap();
        let flags = fp.apiserver_flags();
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let cluster = TestCluster::start_with(&flags).await.unwrap();
        let client = cluster.client().await.unwrap();
        let seen: Seen = Arc::default();
        let backend = TestExtensionServer::start_with_handler(
            &["metrics-adapter.kube-system.svc"],
            &fp.ca_pem,
            adapter(seen.clone()),
        )
        .await
        .unwrap();
        let apiservice = |group: &str, version: &str| {
            format!(
                "---\napiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {{name: {version}.{group}}}\nspec:\n  group: {group}\n  version: {version}\n  groupPriorityMinimum: 100\n  versionPriority: 100\n  caBundle: {}\n  service: {{namespace: kube-system, name: metrics-adapter, port: {}}}\n",
                backend.ca_bundle(),
                backend.port
            )
        };
        let manifest = format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: metrics-adapter, namespace: kube-system}}\nspec: {{type: ExternalName, externalName: localhost}}\n{}{}",
            apiservice("custom.metrics.k8s.io", "v1beta2"),
            apiservice("external.metrics.k8s.io", "v1beta1"),
        );
        let path = cluster.dir().join("adapter-apiservices.yaml");
        std::fs::write(&path, manifest).unwrap();
        cluster
            .kubectl_ok(&["apply", "-f", path.to_str().unwrap()])
            .await
            .unwrap();
        wait_for(
            "external.metrics.k8s.io through the aggregator",
            Duration::from_secs(30),
            || {
                let client = client.clone();
                async move {
                    let req = http::Request::get(format!(
                        "/apis/{EXTERNAL}/namespaces/{NS}/queue_depth?labelSelector=queue%3Djobs"
                    ))
                    .body(Vec::new())
                    .unwrap();
                    client.request::<Value>(req).await.ok()
                }
            },
        )
        .await;
        cluster
            .kubectl_ok(&[
                "create",
                "service",
                "clusterip",
                "web",
                "--tcp=80:8080",
                "-n",
                NS,
            ])
            .await
            .unwrap();
        target(&client, "pods-target", "pods").await;
        target(&client, "object-target", "object").await;
        target(&client, "external-target", "external").await;
        target(&client, "broken-target", "broken").await;

        let _manager = start_manager(
            &cluster,
            &[
                "--controllers=horizontal-pod-autoscaler-controller",
                "--horizontal-pod-autoscaler-sync-period=1s",
            ],
        )
        .await;

        // qps 5 per pod against 2: ratio 2.5, two pods → 5.
        hpa(
            &client,
            "pods-target",
            json!({"type": "Pods", "pods": {"metric": {"name": "qps"},
                "target": {"type": "AverageValue", "averageValue": "2"}}}),
        )
        .await;
        // requests 300 against a value of 100: ratio 3 times two Ready
        // pods → 6.
        hpa(
            &client,
            "object-target",
            json!({"type": "Object", "object": {
                "describedObject": {"apiVersion": "v1", "kind": "Service", "name": "web"},
                "metric": {"name": "requests"},
                "target": {"type": "Value", "value": "100"}}}),
        )
        .await;
        // queue_depth 12 + 18 = 30 at 4 per pod → ceil(7.5) = 8.
        hpa(
            &client,
            "external-target",
            json!({"type": "External", "external": {
                "metric": {"name": "queue_depth", "selector": {"matchLabels": {"queue": "jobs"}}},
                "target": {"type": "AverageValue", "averageValue": "4"}}}),
        )
        .await;
        // A metric the adapter does not have.
        hpa(
            &client,
            "broken-target",
            json!({"type": "External", "external": {"metric": {"name": "missing"},
                "target": {"type": "Value", "value": "1"}}}),
        )
        .await;

        let h = wait_for_hpa(&client, "pods-target", "pods metric to scale to 5", |h| {
            h.status.as_ref().is_some_and(|s| s.desired_replicas == 5)
        })
        .await;
        let current = &h.status.unwrap().current_metrics.unwrap()[0];
        let pods = current.pods.as_ref().unwrap();
        assert_eq!(pods.metric.name, "qps");
        assert_eq!(pods.current.average_value.as_ref().unwrap().0, "5");
        assert_eq!(replicas_of(&client, "pods-target").await, Some(5));
        rescaled_event(
            &client,
            "pods-target",
            "New size: 5; reason: pods metric qps above target",
        )
        .await;

        let h = wait_for_hpa(
            &client,
            "object-target",
            "object metric to scale to 6",
            |h| h.status.as_ref().is_some_and(|s| s.desired_replicas == 6),
        )
        .await;
        let current = &h.status.unwrap().current_metrics.unwrap()[0];
        let object = current.object.as_ref().unwrap();
        assert_eq!(object.described_object.kind, "Service");
        assert_eq!(object.current.value.as_ref().unwrap().0, "300");
        assert_eq!(replicas_of(&client, "object-target").await, Some(6));
        rescaled_event(
            &client,
            "object-target",
            "New size: 6; reason: Service metric requests above target",
        )
        .await;

        let h = wait_for_hpa(
            &client,
            "external-target",
            "external metric to scale to 8",
            |h| h.status.as_ref().is_some_and(|s| s.desired_replicas == 8),
        )
        .await;
        assert_eq!(condition(&h, "ScalingActive"), ("True", "ValidMetricFound"));
        let current = &h.status.unwrap().current_metrics.unwrap()[0];
        let external = current.external.as_ref().unwrap();
        // 30 over the two replicas the Scale's status reported.
        assert_eq!(external.current.average_value.as_ref().unwrap().0, "15");
        assert_eq!(replicas_of(&client, "external-target").await, Some(8));
        rescaled_event(
            &client,
            "external-target",
            "New size: 8; reason: external metric queue_depth(&LabelSelector{MatchLabels:map[string]string{queue: jobs,},MatchExpressions:[]LabelSelectorRequirement{},}) above target",
        )
        .await;

        let h = wait_for_hpa(&client, "broken-target", "FailedGetExternalMetric", |h| {
            condition(h, "ScalingActive").0 == "False"
        })
        .await;
        assert_eq!(
            condition(&h, "ScalingActive"),
            ("False", "FailedGetExternalMetric")
        );
        assert_eq!(replicas_of(&client, "broken-target").await, Some(2));

        // The metric selector went to the adapter; the pods one too.
        let seen = seen.lock().unwrap().clone();
        assert!(
            seen.iter()
                .any(|(p, q)| p.ends_with("/queue_depth") && q == "labelSelector=queue%3Djobs"),
            "{seen:?}"
        );

        // Every computation is counted by type.
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&prometheus::gather())
            .unwrap();
        for (metric_type, error) in [
            ("Pods", "none"),
            ("Object", "none"),
            ("External", "none"),
            ("External", "internal"),
        ] {
            let wanted = [
                format!("metric_type=\"{metric_type}\""),
                format!("error=\"{error}\""),
            ];
            assert!(
                text.lines().any(|l| l
                    .starts_with("horizontal_pod_autoscaler_controller_metric_computation_total{")
                    && wanted.iter().all(|w| l.contains(w.as_str()))),
                "no {metric_type}/{error} computation counted"
            );
        }
        drop(backend);
    });
}
