//! garbage-collector-controller: `kubectl delete` of a Deployment in the
//! background, foreground and orphan modes; dependents of missing owners
//! (dangling references, UID mismatch) are deleted, references to live
//! owners kept; ownership cycles end.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{DeleteParams, ListParams, PostParams, PropagationPolicy};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::fake_kubelet::spawn_ready_loop;
use crate::support::{
    live_pods, namespace, object, start_manager, wait_for, wait_for_default_service_account,
    wait_for_pods,
};

fn deployment(name: &str) -> Deployment {
    object(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}
            }
        }
    }))
}

async fn replica_sets(client: &Client, ns: &str, app: &str) -> Vec<ReplicaSet> {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
}

async fn deploy(cluster: &TestCluster, client: &Client, ns: &str, name: &str) -> Deployment {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let d = api
        .create(&PostParams::default(), &deployment(name))
        .await
        .unwrap();
    wait_for_pods(client, ns, &format!("app={name}"), 2).await;
    cluster
        .kubectl_ok(&[
            "rollout",
            "status",
            &format!("deployment/{name}"),
            "-n",
            ns,
            "--timeout=60s",
        ])
        .await
        .unwrap();
    d
}

#[tokio::test]
async fn kubectl_delete_cascades() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces
            .create(&PostParams::default(), &namespace("gc"))
            .await
            .unwrap();
        wait_for_default_service_account(&client, "gc").await;
        let kubelet = CancellationToken::new();
        let ready_loop = spawn_ready_loop(client.clone(), "gc", kubelet.clone());

        // Background (kubectl's default): the Deployment goes at once, its
        // ReplicaSet and pods follow.
        deploy(&cluster, &client, "gc", "bg").await;
        cluster
            .kubectl_ok(&["delete", "deployment", "bg", "-n", "gc"])
            .await
            .unwrap();
        wait_for(
            "bg's ReplicaSets and pods gone",
            Duration::from_secs(60),
            || async {
                (replica_sets(&client, "gc", "bg").await.is_empty()
                    && live_pods(&client, "gc", "app=bg").await.is_empty())
                .then_some(())
            },
        )
        .await;

        // Orphan: the ReplicaSet and pods stay, without the owner reference.
        deploy(&cluster, &client, "gc", "keep").await;
        cluster
            .kubectl_ok(&[
                "delete",
                "deployment",
                "keep",
                "-n",
                "gc",
                "--cascade=orphan",
            ])
            .await
            .unwrap();
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), "gc");
        wait_for("keep deleted", Duration::from_secs(30), || async {
            deployments
                .get_opt("keep")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        })
        .await;
        let orphaned = wait_for(
            "an orphaned ReplicaSet",
            Duration::from_secs(30),
            || async {
                let rss = replica_sets(&client, "gc", "keep").await;
                (rss.len() == 1
                    && rss[0]
                        .metadata
                        .owner_references
                        .as_ref()
                        .is_none_or(|r| r.is_empty()))
                .then(|| rss[0].clone())
            },
        )
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(live_pods(&client, "gc", "app=keep").await.len(), 2);
        assert!(
            orphaned
                .metadata
                .finalizers
                .as_ref()
                .is_none_or(|f| f.is_empty())
        );

        // Foreground: kubectl waits until the dependents are gone, then the
        // Deployment.
        deploy(&cluster, &client, "gc", "fg").await;
        let api: Api<Deployment> = Api::namespaced(client.clone(), "gc");
        let out = cluster
            .kubectl_ok(&[
                "delete",
                "deployment",
                "fg",
                "-n",
                "gc",
                "--cascade=foreground",
                "--timeout=60s",
            ])
            .await
            .unwrap();
        assert!(out.contains("deleted"), "{out}");
        assert!(api.get_opt("fg").await.unwrap().is_none());
        assert!(replica_sets(&client, "gc", "fg").await.is_empty());
        assert!(live_pods(&client, "gc", "app=fg").await.is_empty());

        // The orphaned ReplicaSet still has its pods; a new Deployment with
        // the same template adopts it instead of creating another one.
        let pods = live_pods(&client, "gc", "app=keep").await;
        assert_eq!(pods.len(), 2);
        let again = api
            .create(&PostParams::default(), &deployment("keep"))
            .await
            .unwrap();
        let adopted = wait_for(
            "the ReplicaSet adopted",
            Duration::from_secs(30),
            || async {
                let rs = replica_sets(&client, "gc", "keep")
                    .await
                    .into_iter()
                    .next()?;
                rs.metadata
                    .owner_references
                    .as_ref()?
                    .iter()
                    .any(|r| {
                        Some(&r.uid) == again.metadata.uid.as_ref() && r.controller == Some(true)
                    })
                    .then_some(rs)
            },
        )
        .await;
        assert_eq!(adopted.name_any(), orphaned.name_any());
        cluster
            .kubectl_ok(&[
                "rollout",
                "status",
                "deployment/keep",
                "-n",
                "gc",
                "--timeout=60s",
            ])
            .await
            .unwrap();
        assert_eq!(replica_sets(&client, "gc", "keep").await.len(), 1);
        let mut kept: Vec<String> = live_pods(&client, "gc", "app=keep")
            .await
            .iter()
            .map(|p| p.name_any())
            .collect();
        let mut before: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
        kept.sort();
        before.sort();
        assert_eq!(kept, before, "the pods were kept");

        // Foreground through the API: the Deployment waits with its
        // finalizer, then everything is gone.
        api.delete(
            "keep",
            &DeleteParams {
                propagation_policy: Some(PropagationPolicy::Foreground),
                ..DeleteParams::default()
            },
        )
        .await
        .unwrap();
        wait_for(
            "keep and its dependents gone",
            Duration::from_secs(60),
            || async {
                (api.get_opt("keep").await.unwrap().is_none()
                    && replica_sets(&client, "gc", "keep").await.is_empty()
                    && live_pods(&client, "gc", "app=keep").await.is_empty())
                .then_some(())
            },
        )
        .await;
        kubelet.cancel();
        ready_loop.await.unwrap();
        manager.shutdown().await.unwrap();
    });
}

fn config_map(name: &str, owners: serde_json::Value) -> ConfigMap {
    object(json!({"metadata": {"name": name, "ownerReferences": owners}}))
}

fn owner(name: &str, uid: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "name": name, "uid": uid, "blockOwnerDeletion": true})
}

#[tokio::test]
async fn dangling_references_and_cycles() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &["--controllers=garbagecollector"]).await;
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let post = PostParams::default();
        let parent = cms
            .create(&post, &config_map("parent", json!([])))
            .await
            .unwrap();
        let parent_uid = parent.uid().unwrap();
        // A live owner, an owner that never existed, an owner whose name is
        // taken by another object.
        cms.create(
            &post,
            &config_map("child", json!([owner("parent", &parent_uid)])),
        )
        .await
        .unwrap();
        cms.create(
            &post,
            &config_map("dangling", json!([owner("ghost", "0000-ghost")])),
        )
        .await
        .unwrap();
        cms.create(
            &post,
            &config_map("mismatch", json!([owner("parent", "0000-old-parent")])),
        )
        .await
        .unwrap();
        // Two owners, one gone: only the reference goes.
        cms.create(
            &post,
            &config_map(
                "shared",
                json!([owner("parent", &parent_uid), owner("ghost", "0000-ghost")]),
            ),
        )
        .await
        .unwrap();
        wait_for(
            "dangling dependents deleted",
            Duration::from_secs(60),
            || async {
                (cms.get_opt("dangling").await.unwrap().is_none()
                    && cms.get_opt("mismatch").await.unwrap().is_none())
                .then_some(())
            },
        )
        .await;
        let shared = wait_for(
            "the dangling reference removed",
            Duration::from_secs(30),
            || async {
                let cm = cms.get("shared").await.unwrap();
                (cm.metadata.owner_references.as_ref()?.len() == 1).then_some(cm)
            },
        )
        .await;
        assert_eq!(shared.metadata.owner_references.unwrap()[0].uid, parent_uid);
        assert!(cms.get_opt("child").await.unwrap().is_some());

        // Background deletion of the parent takes its dependents.
        cms.delete("parent", &DeleteParams::default())
            .await
            .unwrap();
        wait_for(
            "child and shared deleted",
            Duration::from_secs(60),
            || async {
                (cms.get_opt("child").await.unwrap().is_none()
                    && cms.get_opt("shared").await.unwrap().is_none())
                .then_some(())
            },
        )
        .await;

        // A cycle: a owns b, b owns a, both blocking. Foreground deletion of
        // one ends with both gone.
        let a = cms
            .create(&post, &config_map("a", json!([])))
            .await
            .unwrap();
        let b = cms
            .create(
                &post,
                &config_map("b", json!([owner("a", &a.uid().unwrap())])),
            )
            .await
            .unwrap();
        let patch = json!({"metadata": {"ownerReferences": [owner("b", &b.uid().unwrap())]}});
        cms.patch(
            "a",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(patch),
        )
        .await
        .unwrap();
        cms.delete(
            "a",
            &DeleteParams {
                propagation_policy: Some(PropagationPolicy::Foreground),
                ..DeleteParams::default()
            },
        )
        .await
        .unwrap();
        wait_for("the cycle collected", Duration::from_secs(60), || async {
            (cms.get_opt("a").await.unwrap().is_none() && cms.get_opt("b").await.unwrap().is_none())
                .then_some(())
        })
        .await;

        // A self-reference is a live owner: nothing happens.
        let selfish = cms
            .create(&post, &config_map("selfish", json!([])))
            .await
            .unwrap();
        let patch =
            json!({"metadata": {"ownerReferences": [owner("selfish", &selfish.uid().unwrap())]}});
        cms.patch(
            "selfish",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(patch),
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(cms.get_opt("selfish").await.unwrap().is_some());
        manager.shutdown().await.unwrap();
    });
}
