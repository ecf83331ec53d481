//! `kubectl rollout` end to end on a Recreate Deployment: pods of two
//! templates never run together; `status`, `history`, `undo` (to the
//! previous and to a given revision), `pause`, `resume`, `restart`; and the
//! `revisionHistoryLimit` cleanup.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::deployment::{
    NS, annotation, condition, deployment, replica_sets, rollout_status, rs_image, rs_replicas,
    wait_rolled_out,
};
use crate::fake_kubelet::{image, spawn_ready_loop};
use crate::support::{live_pods, start_manager, wait_for, wait_for_default_service_account};

#[tokio::test]
async fn recreate_rollback_pause_resume_restart_and_history() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, NS).await;
        let kubelet = CancellationToken::new();
        let ready_loop = spawn_ready_loop(client.clone(), NS, kubelet.clone());
        let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
        api.create(
            &PostParams::default(),
            &deployment("app", 3, "app:v1", json!({"type": "Recreate"})),
        )
        .await
        .unwrap();
        rollout_status(&cluster, "app").await;

        // Recreate: never old and new pods at once.
        let mixed = Arc::new(Mutex::new(Vec::<String>::new()));
        let stop = CancellationToken::new();
        let sampler = {
            let (client, mixed, stop) = (client.clone(), mixed.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.is_cancelled() {
                    let images: Vec<String> = live_pods(&client, NS, "app=app")
                        .await
                        .iter()
                        .map(image)
                        .collect();
                    if images.iter().any(|i| i == "app:v1") && images.iter().any(|i| i == "app:v2")
                    {
                        mixed.lock().unwrap().push(format!("{images:?}"));
                    }
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
            })
        };
        cluster
            .kubectl_ok(&["set", "image", "deployment/app", "c=app:v2", "-n", NS])
            .await
            .unwrap();
        rollout_status(&cluster, "app").await;
        wait_rolled_out(&client, "app", 3, "app:v2").await;
        stop.cancel();
        sampler.await.unwrap();
        assert!(
            mixed.lock().unwrap().is_empty(),
            "{:?}",
            mixed.lock().unwrap()
        );

        let history = cluster
            .kubectl_ok(&["rollout", "history", "deployment/app", "-n", NS])
            .await
            .unwrap();
        assert!(
            history.contains("REVISION") && history.contains("1 ") && history.contains("2 "),
            "{history}"
        );

        // Undo: back to v1, which gets revision 3 and remembers 1.
        let out = cluster
            .kubectl_ok(&["rollout", "undo", "deployment/app", "-n", NS])
            .await
            .unwrap();
        assert!(out.contains("rolled back"), "{out}");
        rollout_status(&cluster, "app").await;
        wait_rolled_out(&client, "app", 3, "app:v1").await;
        let v1 = wait_for("v1 at revision 3", Duration::from_secs(30), || async {
            replica_sets(&client, "app").await.into_iter().find(|rs| {
                rs_image(rs) == "app:v1"
                    && annotation(&rs.metadata, "deployment.kubernetes.io/revision") == Some("3")
            })
        })
        .await;
        assert_eq!(
            annotation(&v1.metadata, "deployment.kubernetes.io/revision-history"),
            Some("1")
        );
        assert_eq!(
            replica_sets(&client, "app").await.len(),
            2,
            "the old ReplicaSet is reused"
        );

        // Undo to a given revision.
        cluster
            .kubectl_ok(&[
                "rollout",
                "undo",
                "deployment/app",
                "--to-revision=2",
                "-n",
                NS,
            ])
            .await
            .unwrap();
        rollout_status(&cluster, "app").await;
        wait_rolled_out(&client, "app", 3, "app:v2").await;
        let d = wait_for("revision 4", Duration::from_secs(30), || async {
            let d = api.get("app").await.unwrap();
            (annotation(&d.metadata, "deployment.kubernetes.io/revision") == Some("4")).then_some(d)
        })
        .await;
        assert!(d.metadata.generation.is_some());

        // Pause: template changes wait; the condition says so.
        cluster
            .kubectl_ok(&["rollout", "pause", "deployment/app", "-n", NS])
            .await
            .unwrap();
        cluster
            .kubectl_ok(&["set", "image", "deployment/app", "c=app:v3", "-n", NS])
            .await
            .unwrap();
        let paused = wait_for("DeploymentPaused", Duration::from_secs(30), || async {
            let d = api.get("app").await.unwrap();
            let c = condition(&d, "Progressing")?;
            (c.reason.as_deref() == Some("DeploymentPaused")).then_some(c)
        })
        .await;
        assert_eq!(paused.status, "Unknown");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            replica_sets(&client, "app")
                .await
                .iter()
                .all(|rs| rs_image(rs) != "app:v3")
        );
        cluster
            .kubectl_ok(&["rollout", "resume", "deployment/app", "-n", NS])
            .await
            .unwrap();
        rollout_status(&cluster, "app").await;
        wait_rolled_out(&client, "app", 3, "app:v3").await;

        // Restart: a new ReplicaSet with the restartedAt annotation.
        cluster
            .kubectl_ok(&["rollout", "restart", "deployment/app", "-n", NS])
            .await
            .unwrap();
        rollout_status(&cluster, "app").await;
        let restarted = wait_for(
            "the restarted ReplicaSet",
            Duration::from_secs(30),
            || async {
                replica_sets(&client, "app").await.into_iter().find(|rs| {
                    let restarted = rs
                        .spec
                        .as_ref()
                        .and_then(|s| s.template.as_ref())
                        .and_then(|t| t.metadata.as_ref())
                        .and_then(|m| m.annotations.as_ref())
                        .is_some_and(|a| a.contains_key("kubectl.kubernetes.io/restartedAt"));
                    restarted && rs_replicas(rs) == 3
                })
            },
        )
        .await;
        assert_eq!(rs_image(&restarted), "app:v3");
        wait_for(
            "only the restarted pods",
            Duration::from_secs(60),
            || async {
                let pods = live_pods(&client, NS, "app=app").await;
                (pods.len() == 3
                    && pods.iter().all(|p| {
                        p.labels().get("pod-template-hash")
                            == restarted.labels().get("pod-template-hash")
                    }))
                .then_some(())
            },
        )
        .await;

        // History cleanup: keep one old ReplicaSet.
        assert_eq!(replica_sets(&client, "app").await.len(), 4);
        cluster
            .kubectl_ok(&[
                "patch",
                "deployment",
                "app",
                "-n",
                NS,
                "-p",
                r#"{"spec":{"revisionHistoryLimit":1}}"#,
            ])
            .await
            .unwrap();
        wait_for("two ReplicaSets left", Duration::from_secs(30), || async {
            (replica_sets(&client, "app").await.len() == 2).then_some(())
        })
        .await;
        let left = replica_sets(&client, "app").await;
        assert!(left.iter().any(|rs| rs.name_any() == restarted.name_any()));
        kubelet.cancel();
        ready_loop.await.unwrap();
        manager.shutdown().await.unwrap();
    });
}
