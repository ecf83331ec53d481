//! horizontal-pod-autoscaler-controller against a real apiserver, with
//! `metrics.k8s.io/v1beta1` served by an in-process extension apiserver
//! registered through an APIService (as metrics-server is).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use corten_e2e::TestCluster;
use corten_e2e::extension_server::{FrontProxy, Handler, TestExtensionServer};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use k8s_openapi::jiff::Timestamp;

use crate::fake_kubelet::set_pod_status_at;
use crate::support::{object, start_manager, wait_for};

const NS: &str = "default";
const GV: &str = "metrics.k8s.io/v1beta1";

/// A metrics-server stand-in: every pod in `usage` reports that cpu usage.
fn metrics_handler(usage: Arc<Mutex<Vec<(String, String)>>>) -> Handler {
    Arc::new(move |path: &str, _query: &str, accept: &str| {
        if path == "/apis" && accept.contains("as=APIGroupDiscoveryList") {
            return (
                200,
                json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
                    "items": [{"metadata": {"name": "metrics.k8s.io"}, "versions": [{"version": "v1beta1", "freshness": "Current",
                        "resources": [{"resource": "pods", "scope": "Namespaced",
                            "responseKind": {"group": "metrics.k8s.io", "version": "v1beta1", "kind": "PodMetrics"},
                            "verbs": ["get", "list"]}]}]}]}),
            );
        }
        if path == format!("/apis/{GV}") {
            return (
                200,
                json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GV,
                    "resources": [{"name": "pods", "singularName": "", "namespaced": true,
                        "kind": "PodMetrics", "verbs": ["get", "list"]}]}),
            );
        }
        let prefix = format!("/apis/{GV}/namespaces/");
        if let Some(ns) = path
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix("/pods"))
        {
            let items: Vec<Value> = usage
                .lock()
                .unwrap()
                .iter()
                .map(|(name, cpu)| {
                    json!({"metadata": {"name": name, "namespace": ns, "creationTimestamp": "2024-01-01T00:00:00Z"},
                        "timestamp": Timestamp::now().to_string(), "window": "15s",
                        "containers": [{"name": "c", "usage": {"cpu": cpu, "memory": "10Mi"}}]})
                })
                .collect();
            return (
                200,
                json!({"kind": "PodMetricsList", "apiVersion": GV, "metadata": {}, "items": items}),
            );
        }
        (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                "code": 404, "message": "the server could not find the requested resource"}),
        )
    })
}

pub(crate) async fn wait_for_hpa(
    client: &Client,
    name: &str,
    what: &str,
    check: impl Fn(&HorizontalPodAutoscaler) -> bool,
) -> HorizontalPodAutoscaler {
    let api: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), NS);
    wait_for(what, Duration::from_secs(60), || async {
        let hpa = api.get(name).await.unwrap();
        check(&hpa).then_some(hpa)
    })
    .await
}

pub(crate) fn condition<'a>(hpa: &'a HorizontalPodAutoscaler, type_: &str) -> (&'a str, &'a str) {
    hpa.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == type_))
        .map(|c| (c.status.as_str(), c.reason.as_deref().unwrap_or("")))
        .unwrap_or(("", ""))
}

#[tokio::test]
async fn scales_a_deployment_from_resource_metrics() {
    crate::with_timeout!(async {
        let pki = tempfile::tempdir().unwrap();
        let fp = FrontProxy::create(pki.path()).unwrap();
        let flags = fp.apiserver_flags();
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let cluster = TestCluster::start_with(&flags).await.unwrap();
        let client = cluster.client().await.unwrap();
        let usage: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let backend = TestExtensionServer::start_with_handler(
            &["metrics-server.kube-system.svc"],
            &fp.ca_pem,
            metrics_handler(usage.clone()),
        )
        .await
        .unwrap();
        // The aggregator resolves the Service; an ExternalName for
        // localhost reaches the loopback backend.
        let manifest = format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: metrics-server, namespace: kube-system}}\nspec: {{type: ExternalName, externalName: localhost}}\n---\n\
             apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {{name: v1beta1.metrics.k8s.io}}\nspec:\n  group: metrics.k8s.io\n  version: v1beta1\n  groupPriorityMinimum: 100\n  versionPriority: 100\n  caBundle: {}\n  service: {{namespace: kube-system, name: metrics-server, port: {}}}\n",
            backend.ca_bundle(),
            backend.port
        );
        let path = cluster.dir().join("metrics-apiservice.yaml");
        std::fs::write(&path, manifest).unwrap();
        cluster
            .kubectl_ok(&["apply", "-f", path.to_str().unwrap()])
            .await
            .unwrap();

        let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
        deployments
            .create(
                &PostParams::default(),
                &object(json!({
                    "metadata": {"name": "web"},
                    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                             "template": {"metadata": {"labels": {"app": "web"}},
                                          "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
                })),
            )
            .await
            .unwrap();
        // The pod a kubelet would run: 100m requested, Ready, using 200m.
        let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
        let pod = pods
            .create(
                &PostParams::default(),
                &object(json!({
                    "metadata": {"name": "web-1", "labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox",
                        "resources": {"requests": {"cpu": "100m"}}}]}
                })),
            )
            .await
            .unwrap();
        // Ready for a minute: within the cpu initialization period, a
        // sample taken a whole window after the pod became Ready counts.
        let minute_ago = Timestamp::from_second(Timestamp::now().as_second() - 60).unwrap();
        set_pod_status_at(&client, &pod, true, 0, minute_ago).await;
        usage
            .lock()
            .unwrap()
            .push(("web-1".to_string(), "200m".to_string()));
        // The metrics API answers through the aggregator.
        wait_for(
            "metrics.k8s.io through the aggregator",
            Duration::from_secs(30),
            || {
                let client = client.clone();
                async move {
                    let req = http::Request::get(format!("/apis/{GV}/namespaces/{NS}/pods"))
                        .body(Vec::new())
                        .unwrap();
                    client.request::<Value>(req).await.ok()
                }
            },
        )
        .await;

        let _manager = start_manager(
            &cluster,
            &[
                "--controllers=horizontal-pod-autoscaler-controller",
                "--horizontal-pod-autoscaler-sync-period=1s",
            ],
        )
        .await;
        let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), NS);
        hpas.create(
            &PostParams::default(),
            &object(json!({
                "metadata": {"name": "web"},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                         "minReplicas": 1, "maxReplicas": 10,
                         "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                             "target": {"type": "Utilization", "averageUtilization": 50}}}]}
            })),
        )
        .await
        .unwrap();

        // 200% of request against 50%: ratio 4, one pod → 4 replicas.
        let hpa = wait_for_hpa(&client, "web", "the HPA to scale to 4", |h| {
            h.status.as_ref().is_some_and(|s| s.desired_replicas == 4)
        })
        .await;
        let d = deployments.get("web").await.unwrap();
        assert_eq!(d.spec.unwrap().replicas, Some(4));
        let status = hpa.status.clone().unwrap();
        assert!(status.last_scale_time.is_some());
        let current = &status.current_metrics.unwrap()[0];
        let resource = current.resource.as_ref().unwrap();
        assert_eq!(resource.name, "cpu");
        assert_eq!(resource.current.average_utilization, Some(200));
        assert_eq!(
            resource
                .current
                .average_value
                .as_ref()
                .map(|q| q.0.as_str()),
            Some("200m")
        );
        assert_eq!(condition(&hpa, "AbleToScale").0, "True");
        assert_eq!(
            condition(&hpa, "ScalingActive"),
            ("True", "ValidMetricFound")
        );
        assert_eq!(
            condition(&hpa, "ScalingLimited"),
            ("False", "DesiredWithinRange")
        );

        let events: Api<Event> = Api::namespaced(client.clone(), NS);
        wait_for("the SuccessfulRescale event", Duration::from_secs(30), || async {
            let list = events
                .list(&ListParams::default().fields("involvedObject.name=web"))
                .await
                .unwrap();
            list.items.into_iter().find(|e| {
                e.reason.as_deref() == Some("SuccessfulRescale")
                    && e.message.as_deref()
                        == Some("New size: 4; reason: cpu resource utilization (percentage of request) above target")
                    && e.involved_object.kind.as_deref() == Some("HorizontalPodAutoscaler")
            })
        })
        .await;

        // v1 serves the same object (what `kubectl autoscale` creates).
        let v1 = cluster
            .kubectl_ok(&[
                "get",
                "hpa.v1.autoscaling",
                "web",
                "-o",
                "jsonpath={.status.desiredReplicas}",
            ])
            .await
            .unwrap();
        assert_eq!(v1.trim(), "4");

        // A Pods metric without a custom metrics API is reported, not
        // acted on.
        hpas.create(
            &PostParams::default(),
            &object(json!({
                "metadata": {"name": "pods-metric"},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                         "maxReplicas": 10,
                         "metrics": [{"type": "Pods", "pods": {"metric": {"name": "qps"},
                             "target": {"type": "AverageValue", "averageValue": "1"}}}]}
            })),
        )
        .await
        .unwrap();
        wait_for_hpa(&client, "pods-metric", "FailedGetPodsMetric", |h| {
            condition(h, "ScalingActive") == ("False", "FailedGetPodsMetric")
        })
        .await;
        // A target that does not exist cannot be scaled.
        hpas.create(
            &PostParams::default(),
            &object(json!({
                "metadata": {"name": "missing"},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "nope"},
                         "maxReplicas": 3}
            })),
        )
        .await
        .unwrap();
        wait_for_hpa(&client, "missing", "FailedGetScale", |h| {
            condition(h, "AbleToScale") == ("False", "FailedGetScale")
        })
        .await;
        assert_eq!(
            deployments.get("web").await.unwrap().spec.unwrap().replicas,
            Some(4)
        );

        // Load drops to 20%: with a behavior allowing one pod down per
        // minute and no window, 4 -> 3 and the limit is reported.
        usage.lock().unwrap()[0].1 = "20m".to_string();
        hpas.patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 0,
                "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}}}),
            ),
        )
        .await
        .unwrap();
        let hpa = wait_for_hpa(&client, "web", "the HPA to scale down to 3", |h| {
            h.status.as_ref().is_some_and(|s| s.desired_replicas == 3)
        })
        .await;
        assert_eq!(
            condition(&hpa, "ScalingLimited"),
            ("True", "ScaleDownLimit")
        );
        let replicas = || async { deployments.get("web").await.unwrap().spec.unwrap().replicas };
        assert_eq!(replicas().await, Some(3));
        // And stays there within the policy's minute.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(replicas().await, Some(3));
        drop(backend);
    });
}
