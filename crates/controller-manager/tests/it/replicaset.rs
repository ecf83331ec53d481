//! replicaset-controller and replicationcontroller-controller: pods are
//! created from the template (with events), extra pods are deleted by
//! upstream's ranking, orphans are adopted and non-matching pods released,
//! failures show in `ReplicaFailure`, and the status counts pods.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::fake_kubelet::{is_ready, set_pod_status, set_pod_status_at};
use crate::support::{
    events_for, live_pods, object, start_manager, wait_for, wait_for_default_service_account,
    wait_for_pods,
};

fn replica_set(name: &str, replicas: i32, app: &str, extra: serde_json::Value) -> ReplicaSet {
    let mut spec = json!({
        "replicas": replicas,
        "selector": {"matchLabels": {"app": app}},
        "template": {
            "metadata": {"labels": {"app": app, "tier": "fe"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}
        }
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            spec.insert(k.clone(), v.clone());
        }
    }
    object(json!({"metadata": {"name": name}, "spec": spec}))
}

async fn wait_for_status(
    api: &Api<ReplicaSet>,
    name: &str,
    what: &str,
    check: impl Fn(&k8s_openapi::api::apps::v1::ReplicaSetStatus) -> bool,
) -> ReplicaSet {
    wait_for(what, Duration::from_secs(60), || async {
        let rs = api.get(name).await.unwrap();
        rs.status.as_ref().filter(|s| check(s))?;
        Some(rs)
    })
    .await
}

#[tokio::test]
async fn replica_set_creates_ranks_and_reports() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, "default").await;
        let api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
        let rs = api
            .create(
                &PostParams::default(),
                &replica_set("web", 3, "web", json!({})),
            )
            .await
            .unwrap();

        let pods = wait_for_pods(&client, "default", "app=web", 3).await;
        for pod in &pods {
            assert!(pod.name_any().starts_with("web-"), "{}", pod.name_any());
            let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
            assert_eq!(
                (owner.kind.as_str(), owner.name.as_str(), owner.uid.clone()),
                ("ReplicaSet", "web", rs.uid().unwrap())
            );
            assert_eq!(owner.controller, Some(true));
            assert_eq!(owner.block_owner_deletion, Some(true));
            assert_eq!(pod.labels()["tier"], "fe");
        }
        let status = wait_for_status(&api, "web", "3 replicas observed", |s| {
            s.replicas == 3 && s.fully_labeled_replicas == Some(3)
        })
        .await;
        let s = status.status.unwrap();
        assert_eq!(s.ready_replicas.unwrap_or(0), 0);
        assert_eq!(s.observed_generation, status.metadata.generation);
        let events = events_for(&client, "default", "web").await;
        let created: Vec<_> = events
            .iter()
            .filter(|(reason, _, source)| {
                reason == "SuccessfulCreate" && source == "replicaset-controller"
            })
            .collect();
        assert_eq!(created.len(), 3, "{events:?}");
        assert!(
            created
                .iter()
                .all(|(_, m, _)| m.starts_with("Created pod: web-"))
        );

        // Two ready pods (same ready time, one with restarts), one not.
        let at = Timestamp::from_second(Timestamp::now().as_second()).unwrap()
            - SignedDuration::from_secs(30);
        let (steady, flaky, starting) = (&pods[0], &pods[1], &pods[2]);
        set_pod_status_at(&client, steady, true, 0, at).await;
        set_pod_status_at(&client, flaky, true, 5, at).await;
        set_pod_status(&client, starting, false, 0).await;
        wait_for_status(&api, "web", "2 ready", |s| {
            s.ready_replicas == Some(2) && s.available_replicas == Some(2)
        })
        .await;

        // Down to one: the not-ready pod goes first, then the one with
        // restarts.
        cluster
            .kubectl_ok(&["scale", "rs", "web", "--replicas=1", "-n", "default"])
            .await
            .unwrap();
        let left = wait_for_pods(&client, "default", "app=web", 1).await;
        assert_eq!(left[0].name_any(), steady.name_any());
        wait_for_status(&api, "web", "1 replica", |s| {
            s.replicas == 1 && s.ready_replicas == Some(1) && s.available_replicas == Some(1)
        })
        .await;
        let events = events_for(&client, "default", "web").await;
        for gone in [starting, flaky] {
            let message = format!("Deleted pod: {}", gone.name_any());
            assert!(
                events
                    .iter()
                    .any(|(r, m, _)| r == "SuccessfulDelete" && *m == message),
                "{message} not in {events:?}"
            );
        }

        // A deleted pod is replaced.
        cluster
            .kubectl_ok(&["scale", "rs", "web", "--replicas=2", "-n", "default"])
            .await
            .unwrap();
        let two = wait_for_pods(&client, "default", "app=web", 2).await;
        let pods_api: Api<Pod> = Api::namespaced(client.clone(), "default");
        pods_api
            .delete(&two[0].name_any(), &DeleteParams::default())
            .await
            .unwrap();
        let replaced = wait_for("a replacement pod", Duration::from_secs(30), || async {
            let pods = live_pods(&client, "default", "app=web").await;
            (pods.len() == 2 && pods.iter().all(|p| p.name_any() != two[0].name_any()))
                .then_some(pods)
        })
        .await;
        assert_eq!(replaced.len(), 2);

        // kubectl shows the counts.
        let table = cluster
            .kubectl_ok(&["get", "rs", "web", "-n", "default"])
            .await
            .unwrap();
        assert!(table.contains("web"), "{table}");
        manager.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn orphans_are_adopted_and_failures_reported() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, "default").await;
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        let orphan: Pod = object(json!({
            "metadata": {"name": "orphan", "labels": {"app": "adopt"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}
        }));
        pods.create(&PostParams::default(), &orphan).await.unwrap();
        let api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
        let rs = api
            .create(
                &PostParams::default(),
                &replica_set("adopter", 2, "adopt", json!({})),
            )
            .await
            .unwrap();
        let both = wait_for_pods(&client, "default", "app=adopt", 2).await;
        assert!(both.iter().any(|p| p.name_any() == "orphan"));
        let adopted = wait_for("the orphan adopted", Duration::from_secs(30), || async {
            let pod = pods.get("orphan").await.unwrap();
            pod.metadata
                .owner_references
                .as_ref()
                .filter(|refs| refs.iter().any(|r| Some(&r.uid) == rs.uid().as_ref()))?;
            Some(pod)
        })
        .await;
        assert_eq!(
            adopted.metadata.owner_references.unwrap()[0].controller,
            Some(true)
        );

        // No longer matching: released, and replaced.
        cluster
            .kubectl_ok(&[
                "label",
                "pod",
                "orphan",
                "app=other",
                "--overwrite",
                "-n",
                "default",
            ])
            .await
            .unwrap();
        wait_for("the pod released", Duration::from_secs(30), || async {
            let pod = pods.get("orphan").await.unwrap();
            pod.metadata
                .owner_references
                .as_ref()
                .is_none_or(|r| r.is_empty())
                .then_some(())
        })
        .await;
        wait_for_pods(&client, "default", "app=adopt", 2).await;

        // Pods that cannot be created: FailedCreate and ReplicaFailure. A
        // template may carry finalizers that are no valid names (upstream
        // does not validate them there); the pods made from it are refused.
        let broken = replica_set(
            "broken",
            2,
            "broken",
            json!({"template": {
                "metadata": {"labels": {"app": "broken"}, "finalizers": ["not a finalizer"]},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}
            }}),
        );
        api.create(&PostParams::default(), &broken).await.unwrap();
        let failed = wait_for_status(&api, "broken", "ReplicaFailure", |s| {
            s.conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "ReplicaFailure" && c.status == "True")
        })
        .await;
        let condition = failed.status.unwrap().conditions.unwrap().remove(0);
        assert_eq!(condition.reason.as_deref(), Some("FailedCreate"));
        assert!(
            condition
                .message
                .as_deref()
                .unwrap_or("")
                .contains("finalizer"),
            "{condition:?}"
        );
        let events = events_for(&client, "default", "broken").await;
        assert!(
            events
                .iter()
                .any(|(r, m, _)| r == "FailedCreate" && m.starts_with("Error creating: ")),
            "{events:?}"
        );
        // Nothing could be created.
        assert!(live_pods(&client, "default", "app=broken").await.is_empty());

        // Fixed: the pods appear and the condition goes away.
        let fixed = json!({"spec": {"template": {"metadata": {"finalizers": null}}}});
        api.patch("broken", &PatchParams::default(), &Patch::Merge(fixed))
            .await
            .unwrap();
        wait_for_pods(&client, "default", "app=broken", 2).await;
        wait_for_status(&api, "broken", "ReplicaFailure removed", |s| {
            s.replicas == 2 && s.conditions.as_ref().is_none_or(|c| c.is_empty())
        })
        .await;
        manager.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn replication_controllers_and_min_ready_seconds() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, "default").await;
        let rcs: Api<ReplicationController> = Api::namespaced(client.clone(), "default");
        let rc: ReplicationController = object(json!({
            "metadata": {"name": "legacy"},
            "spec": {
                "replicas": 2,
                "minReadySeconds": 2,
                "selector": {"app": "legacy"},
                "template": {
                    "metadata": {"labels": {"app": "legacy"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]}
                }
            }
        }));
        let rc = rcs.create(&PostParams::default(), &rc).await.unwrap();
        let pods = wait_for_pods(&client, "default", "app=legacy", 2).await;
        for pod in &pods {
            let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
            assert_eq!(owner.kind, "ReplicationController");
            assert_eq!(Some(&owner.uid), rc.metadata.uid.as_ref());
            set_pod_status(&client, pod, true, 0).await;
        }
        // Ready at once, available only after minReadySeconds.
        let ready = wait_for("2 ready", Duration::from_secs(30), || async {
            let rc = rcs.get("legacy").await.unwrap();
            let s = rc.status?;
            (s.ready_replicas == Some(2)).then_some(s)
        })
        .await;
        assert!(ready.available_replicas.unwrap_or(0) < 2, "{ready:?}");
        wait_for("2 available", Duration::from_secs(30), || async {
            let s = rcs.get("legacy").await.unwrap().status?;
            (s.available_replicas == Some(2)).then_some(())
        })
        .await;
        let events = events_for(&client, "default", "legacy").await;
        assert!(
            events
                .iter()
                .any(|(r, _, source)| r == "SuccessfulCreate" && source == "replication-controller"),
            "{events:?}"
        );
        // A pod that stops being ready is no longer available.
        set_pod_status(&client, &pods[0], false, 1).await;
        wait_for("1 ready", Duration::from_secs(30), || async {
            let s = rcs.get("legacy").await.unwrap().status?;
            (s.ready_replicas == Some(1) && s.available_replicas == Some(1)).then_some(())
        })
        .await;
        assert!(
            live_pods(&client, "default", "app=legacy")
                .await
                .iter()
                .filter(|p| is_ready(p))
                .count()
                == 1
        );
        manager.shutdown().await.unwrap();
    });
}
