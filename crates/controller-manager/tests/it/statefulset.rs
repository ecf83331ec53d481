//! statefulset-controller against the real apiserver (pods marked ready
//! as a kubelet would): ordered creation with stable names, hostnames and
//! claims, Parallel management, `kubectl rollout status|undo sts/x`,
//! partitions, ordered scale-down and the claim retention policy.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::fake_kubelet::{image, is_ready, mark_all_ready, set_pod_status, spawn_ready_loop};
use crate::support::{
    events_for, live_pods, object, start_manager, wait_for, wait_for_default_service_account,
};

fn stateful_set(name: &str, replicas: i32, extra: serde_json::Value) -> StatefulSet {
    let mut spec = json!({
        "replicas": replicas,
        "serviceName": name,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "web:v1",
                "volumeMounts": [{"name": "www", "mountPath": "/data"}]}]}
        },
        "volumeClaimTemplates": [{"metadata": {"name": "www"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    object(json!({"metadata": {"name": name}, "spec": spec}))
}

async fn names(client: &Client, app: &str) -> Vec<String> {
    let mut n: Vec<String> = live_pods(client, "default", &format!("app={app}"))
        .await
        .iter()
        .map(|p| p.name_any())
        .collect();
    n.sort();
    n
}

async fn wait_names(client: &Client, app: &str, want: &[&str]) {
    wait_for(
        &format!("pods {want:?}"),
        Duration::from_secs(60),
        || async { (names(client, app).await == want).then_some(()) },
    )
    .await;
}

async fn wait_images(client: &Client, app: &str, want: &[(&str, &str)]) {
    wait_for(
        &format!("images {want:?}"),
        Duration::from_secs(90),
        || async {
            let pods = live_pods(client, "default", &format!("app={app}")).await;
            let mut got: Vec<(String, String)> =
                pods.iter().map(|p| (p.name_any(), image(p))).collect();
            got.sort();
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            (got == want).then_some(())
        },
    )
    .await;
}

async fn rollout_status(cluster: &TestCluster) -> String {
    cluster
        .kubectl_ok(&["rollout", "status", "sts/web", "--timeout=90s"])
        .await
        .unwrap()
}

#[tokio::test]
async fn statefulset_orders_pods_claims_and_rollouts() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, "default").await;
        let api: Api<StatefulSet> = Api::namespaced(client.clone(), "default");

        // Parallel: every pod at once, ready or not.
        api.create(
            &PostParams::default(),
            &stateful_set("par", 3, json!({"podManagementPolicy": "Parallel"})),
        )
        .await
        .unwrap();
        wait_names(&client, "par", &["par-0", "par-1", "par-2"]).await;

        // OrderedReady: web-1 waits for web-0 to be ready.
        api.create(
            &PostParams::default(),
            &stateful_set(
                "web",
                3,
                json!({"persistentVolumeClaimRetentionPolicy": {"whenScaled": "Delete", "whenDeleted": "Retain"}}),
            ),
        )
        .await
        .unwrap();
        wait_names(&client, "web", &["web-0"]).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            names(&client, "web").await,
            ["web-0"],
            "web-1 must wait for web-0"
        );
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        let web0 = pods.get("web-0").await.unwrap();
        let spec = web0.spec.clone().unwrap();
        assert_eq!(
            (spec.hostname.as_deref(), spec.subdomain.as_deref()),
            (Some("web-0"), Some("web"))
        );
        assert_eq!(web0.labels()["statefulset.kubernetes.io/pod-name"], "web-0");
        assert_eq!(web0.labels()["apps.kubernetes.io/pod-index"], "0");
        assert!(web0.labels()["controller-revision-hash"].starts_with("web-"));
        let volume = spec
            .volumes
            .unwrap()
            .into_iter()
            .find(|v| v.name == "www")
            .unwrap();
        assert_eq!(
            volume.persistent_volume_claim.unwrap().claim_name,
            "www-web-0"
        );
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
        let claim = claims.get("www-web-0").await.unwrap();
        assert_eq!(claim.labels()["app"], "web");

        let kubelet = CancellationToken::new();
        let ready_loop = spawn_ready_loop(client.clone(), "default", kubelet.clone());
        wait_names(&client, "web", &["web-0", "web-1", "web-2"]).await;
        let out = rollout_status(&cluster).await;
        // kubectl's wording when a partition is set (the API defaults it to 0).
        assert!(
            out.contains("partitioned roll out complete: 3 new pods have been updated"),
            "{out}"
        );
        for claim in ["www-web-0", "www-web-1", "www-web-2"] {
            claims.get(claim).await.unwrap();
        }
        let s = api.get("web").await.unwrap().status.unwrap();
        assert_eq!(
            (
                s.replicas,
                s.ready_replicas,
                s.current_replicas,
                s.updated_replicas
            ),
            (3, Some(3), Some(3), Some(3))
        );
        assert_eq!(s.current_revision, s.update_revision);

        // Rolling update, highest ordinal first.
        cluster
            .kubectl_ok(&["set", "image", "sts/web", "c=web:v2"])
            .await
            .unwrap();
        rollout_status(&cluster).await;
        wait_images(
            &client,
            "web",
            &[
                ("web-0", "web:v2"),
                ("web-1", "web:v2"),
                ("web-2", "web:v2"),
            ],
        )
        .await;
        let events = events_for(&client, "default", "web").await;
        let deletes: Vec<&String> = events
            .iter()
            .filter(|(r, _, _)| r == "SuccessfulDelete")
            .map(|(_, m, _)| m)
            .collect();
        assert!(
            deletes
                .iter()
                .any(|m| *m == "delete Pod web-2 in StatefulSet web successful"),
            "{events:?}"
        );
        assert!(
            events.iter().any(|(r, m, s)| r == "SuccessfulCreate"
                && m == "create Pod web-0 in StatefulSet web successful"
                && s == "statefulset-controller"),
            "{events:?}"
        );
        assert!(
            events.iter().any(|(r, m, _)| r == "SuccessfulCreate"
                && m == "create Claim www-web-1 Pod web-1 in StatefulSet web success"),
            "{events:?}"
        );

        // A partition keeps the lower ordinals.
        cluster
            .kubectl_ok(&[
                "patch",
                "sts",
                "web",
                "-p",
                r#"{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}"#,
            ])
            .await
            .unwrap();
        cluster
            .kubectl_ok(&["set", "image", "sts/web", "c=web:v3"])
            .await
            .unwrap();
        let out = rollout_status(&cluster).await;
        assert!(
            out.contains("partitioned roll out complete: 1 new pods have been updated"),
            "{out}"
        );
        wait_images(
            &client,
            "web",
            &[
                ("web-0", "web:v2"),
                ("web-1", "web:v2"),
                ("web-2", "web:v3"),
            ],
        )
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        wait_images(
            &client,
            "web",
            &[
                ("web-0", "web:v2"),
                ("web-1", "web:v2"),
                ("web-2", "web:v3"),
            ],
        )
        .await;

        // Undo goes back to v2 through the ControllerRevision.
        cluster
            .kubectl_ok(&[
                "patch",
                "sts",
                "web",
                "-p",
                r#"{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}"#,
            ])
            .await
            .unwrap();
        cluster
            .kubectl_ok(&["rollout", "undo", "sts/web"])
            .await
            .unwrap();
        rollout_status(&cluster).await;
        wait_images(
            &client,
            "web",
            &[
                ("web-0", "web:v2"),
                ("web-1", "web:v2"),
                ("web-2", "web:v2"),
            ],
        )
        .await;

        // Scale down: highest first; whenScaled=Delete removes their claims.
        cluster
            .kubectl_ok(&["scale", "sts", "web", "--replicas=1"])
            .await
            .unwrap();
        wait_names(&client, "web", &["web-0"]).await;
        for gone in ["www-web-1", "www-web-2"] {
            wait_for(
                &format!("{gone} deleted"),
                Duration::from_secs(60),
                || async {
                    let c = claims.get_opt(gone).await.unwrap();
                    c.is_none_or(|c| c.metadata.deletion_timestamp.is_some())
                        .then_some(())
                },
            )
            .await;
        }
        let kept = claims.get("www-web-0").await.unwrap();
        assert!(kept.metadata.deletion_timestamp.is_none());
        let all = claims.list(&ListParams::default()).await.unwrap().items;
        assert!(all.iter().any(|c| c.name_any() == "www-par-2"));
        kubelet.cancel();
        ready_loop.await.unwrap();
        manager.shutdown().await.unwrap();
    });
}

/// RollingUpdate as upstream 1.33 (MaxUnavailableStatefulSet off): one pod
/// at a time from the highest ordinal, waiting for each updated pod, but
/// never for a pod below the partition (here an unready one, which
/// `Parallel` lets the rollout pass).
#[tokio::test]
async fn rolling_update_waits_only_on_pods_at_or_above_the_partition() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let _manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, "default").await;
        let api: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
        api.create(
            &PostParams::default(),
            &stateful_set(
                "par",
                3,
                json!({"podManagementPolicy": "Parallel",
                       "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}}),
            ),
        )
        .await
        .unwrap();
        wait_names(&client, "par", &["par-0", "par-1", "par-2"]).await;
        wait_for("3 ready pods", Duration::from_secs(60), || async {
            mark_all_ready(&client, "default", "app=par").await;
            let s = api.get("par").await.unwrap().status?;
            (s.ready_replicas == Some(3)).then_some(())
        })
        .await;

        // par-0, below the partition, stops being ready.
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        set_pod_status(&client, &pods.get("par-0").await.unwrap(), false, 0).await;
        wait_for("par-0 seen unready", Duration::from_secs(30), || async {
            let s = api.get("par").await.unwrap().status?;
            (s.ready_replicas == Some(2)).then_some(())
        })
        .await;

        cluster
            .kubectl_ok(&["set", "image", "sts/par", "c=web:v2"])
            .await
            .unwrap();
        let first = [
            ("par-0", "web:v1"),
            ("par-1", "web:v1"),
            ("par-2", "web:v2"),
        ];
        wait_images(&client, "par", &first).await;
        // The new par-2 is not ready: par-1 waits for it.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        wait_images(&client, "par", &first).await;
        assert!(!is_ready(&pods.get("par-2").await.unwrap()));

        mark_all_ready(
            &client,
            "default",
            "statefulset.kubernetes.io/pod-name=par-2",
        )
        .await;
        let second = [
            ("par-0", "web:v1"),
            ("par-1", "web:v2"),
            ("par-2", "web:v2"),
        ];
        wait_images(&client, "par", &second).await;
        // par-0 keeps its revision (and stays unready).
        tokio::time::sleep(Duration::from_secs(1)).await;
        wait_images(&client, "par", &second).await;
        assert!(!is_ready(&pods.get("par-0").await.unwrap()));
    });
}

/// With `--feature-gates=MaxUnavailableStatefulSet=true` (alpha in 1.33) the
/// apiserver keeps `rollingUpdate.maxUnavailable` and the controller takes
/// that many pods down at once, highest ordinals first, without waiting for
/// the replaced ones to become ready. (nextest runs each test in its own
/// process, so the process's gates are this test's alone.)
#[tokio::test]
async fn max_unavailable_gate_replaces_several_pods_at_once() {
    crate::with_timeout!(async {
        let mut gates = corten_component_base::feature_gates::FeatureGates::new();
        gates.set("MaxUnavailableStatefulSet=true").unwrap();
        corten_component_base::feature_gates::install(gates);
        assert!(corten_apimachinery::feature_gates::enabled(
            "MaxUnavailableStatefulSet"
        ));
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let _manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, "default").await;
        let api: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
        let created = api
            .create(
                &PostParams::default(),
                &stateful_set(
                    "mu",
                    4,
                    json!({"podManagementPolicy": "Parallel",
                           "updateStrategy": {"type": "RollingUpdate",
                               "rollingUpdate": {"maxUnavailable": 2}}}),
                ),
            )
            .await
            .unwrap();
        let kept = created
            .spec
            .and_then(|s| s.update_strategy)
            .and_then(|u| u.rolling_update)
            .and_then(|r| r.max_unavailable);
        assert_eq!(
            kept,
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(2))
        );
        wait_names(&client, "mu", &["mu-0", "mu-1", "mu-2", "mu-3"]).await;
        wait_for("4 ready pods", Duration::from_secs(60), || async {
            mark_all_ready(&client, "default", "app=mu").await;
            let s = api.get("mu").await.unwrap().status?;
            (s.ready_replicas == Some(4)).then_some(())
        })
        .await;

        cluster
            .kubectl_ok(&["set", "image", "sts/mu", "c=web:v2"])
            .await
            .unwrap();
        // Two at once: mu-3 and mu-2 come back at v2 while neither is ready.
        let first = [
            ("mu-0", "web:v1"),
            ("mu-1", "web:v1"),
            ("mu-2", "web:v2"),
            ("mu-3", "web:v2"),
        ];
        wait_images(&client, "mu", &first).await;
        // Both new pods unready: the budget is spent, mu-1 and mu-0 wait.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        wait_images(&client, "mu", &first).await;
        let stop = CancellationToken::new();
        let ready_loop = spawn_ready_loop(client.clone(), "default", stop.clone());
        let done = [
            ("mu-0", "web:v2"),
            ("mu-1", "web:v2"),
            ("mu-2", "web:v2"),
            ("mu-3", "web:v2"),
        ];
        wait_images(&client, "mu", &done).await;
        stop.cancel();
        ready_loop.await.unwrap();
    });
}
