//! garbage-collector-controller with ReplicationControllers, the steps of
//! upstream's conformance tests (test/e2e/apimachinery/garbage_collector.go):
//! background deletion (with a UID precondition) takes the pods, orphaning
//! keeps them without the reference, foreground deletion keeps the
//! controller until its last pod is gone, and pods that also have a solid
//! owner only lose the reference to the one being deleted.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::support::{live_pods, object, start_manager, wait_for, wait_for_pods};

fn rc(name: &str, replicas: i32) -> ReplicationController {
    object(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"app": name},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}
            }
        }
    }))
}

async fn gone(api: &Api<ReplicationController>, name: &str) {
    wait_for(
        &format!("rc {name} gone"),
        Duration::from_secs(60),
        || async { api.get_opt(name).await.unwrap().is_none().then_some(()) },
    )
    .await;
}

async fn pods_with_app(client: &Client, app: &str) -> Vec<Pod> {
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.list(&kube::api::ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn replication_controllers_background_orphan_foreground_and_shared_pods() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(
            &cluster,
            &["--controllers=garbagecollector,replicationcontroller"],
        )
        .await;
        let rcs: Api<ReplicationController> = Api::default_namespaced(client.clone());
        let pods: Api<Pod> = Api::default_namespaced(client.clone());
        let post = PostParams::default();

        // Background, guarded by the RC's UID: the pods follow it.
        let bg = rcs.create(&post, &rc("bg", 2)).await.unwrap();
        wait_for_pods(&client, "default", "app=bg", 2).await;
        let dp = DeleteParams {
            preconditions: Some(Preconditions {
                uid: bg.uid(),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        rcs.delete("bg", &dp).await.unwrap();
        gone(&rcs, "bg").await;
        wait_for("bg pods gone", Duration::from_secs(60), || async {
            pods_with_app(&client, "bg").await.is_empty().then_some(())
        })
        .await;

        // Orphan: the pods stay, without the owner reference.
        rcs.create(&post, &rc("orphan", 2)).await.unwrap();
        wait_for_pods(&client, "default", "app=orphan", 2).await;
        rcs.delete("orphan", &DeleteParams::orphan()).await.unwrap();
        gone(&rcs, "orphan").await;
        wait_for(
            "orphaned pods released",
            Duration::from_secs(60),
            || async {
                let pods = live_pods(&client, "default", "app=orphan").await;
                (pods.len() == 2 && pods.iter().all(|p| p.owner_references().is_empty()))
                    .then_some(())
            },
        )
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(live_pods(&client, "default", "app=orphan").await.len(), 2);

        // Foreground: the RC waits (foregroundDeletion finalizer) while a
        // pod is still there, here held by a finalizer of its own.
        rcs.create(&post, &rc("fg", 2)).await.unwrap();
        let fg_pods = wait_for_pods(&client, "default", "app=fg", 2).await;
        let held = fg_pods[0].name_any();
        let hold = json!({"metadata": {"finalizers": ["e2e.example.com/hold"]}});
        pods.patch(&held, &PatchParams::default(), &Patch::Merge(&hold))
            .await
            .unwrap();
        rcs.delete("fg", &DeleteParams::foreground()).await.unwrap();
        wait_for(
            "the unheld fg pod gone",
            Duration::from_secs(60),
            || async { (pods_with_app(&client, "fg").await.len() == 1).then_some(()) },
        )
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let waiting = rcs.get("fg").await.unwrap();
        assert!(waiting.metadata.deletion_timestamp.is_some());
        assert!(
            waiting
                .finalizers()
                .contains(&"foregroundDeletion".to_string())
        );
        let release = json!({"metadata": {"finalizers": null}});
        pods.patch(&held, &PatchParams::default(), &Patch::Merge(&release))
            .await
            .unwrap();
        gone(&rcs, "fg").await;
        assert!(pods_with_app(&client, "fg").await.is_empty());

        // Two owners: half of rc1's pods also belong to rc2 (which selects
        // nothing). Deleting rc1 in the foreground deletes only the others;
        // the shared ones lose their reference to rc1.
        let rc1 = rcs.create(&post, &rc("rc1", 4)).await.unwrap();
        let mut stay = rc("rc2", 0);
        stay.spec.as_mut().unwrap().selector =
            Some([("app".to_string(), "none".to_string())].into());
        stay.spec
            .as_mut()
            .unwrap()
            .template
            .as_mut()
            .unwrap()
            .metadata
            .as_mut()
            .unwrap()
            .labels = Some([("app".to_string(), "none".to_string())].into());
        let rc2 = rcs.create(&post, &stay).await.unwrap();
        let rc1_pods = wait_for_pods(&client, "default", "app=rc1", 4).await;
        let shared: Vec<String> = rc1_pods.iter().take(2).map(|p| p.name_any()).collect();
        for name in &shared {
            let pod = pods.get(name).await.unwrap();
            let mut refs = pod.owner_references().to_vec();
            refs.push(object(json!({
                "apiVersion": "v1", "kind": "ReplicationController", "name": "rc2",
                "uid": rc2.uid().unwrap(), "blockOwnerDeletion": true,
            })));
            let patch = json!({"metadata": {"ownerReferences": refs, "resourceVersion": pod.resource_version()}});
            pods.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .unwrap();
        }
        rcs.delete("rc1", &DeleteParams::foreground())
            .await
            .unwrap();
        gone(&rcs, "rc1").await;
        let left = live_pods(&client, "default", "app=rc1").await;
        let mut names: Vec<String> = left.iter().map(|p| p.name_any()).collect();
        names.sort();
        let mut want = shared.clone();
        want.sort();
        assert_eq!(names, want);
        for p in &left {
            let owners: Vec<&str> = p
                .owner_references()
                .iter()
                .map(|o| o.uid.as_str())
                .collect();
            assert_eq!(
                owners,
                vec![rc2.uid().unwrap().as_str()],
                "{}",
                p.name_any()
            );
            assert_ne!(owners[0], rc1.uid().unwrap());
        }
        manager.shutdown().await.unwrap();
    })
}
