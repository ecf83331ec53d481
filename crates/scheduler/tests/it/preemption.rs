//! Preemption: a high-priority pod evicts a lower-priority one, honoring
//! PodDisruptionBudgets when it can choose.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use crate::support::{create_node, create_pod, event_notes, start_scheduler, wait_bound, wait_for};
use crate::with_timeout;

async fn priority_classes(client: &Client) {
    let api: Api<PriorityClass> = Api::all(client.clone());
    for (name, value) in [("low", 100), ("high", 1000)] {
        let pc: PriorityClass =
            serde_json::from_value(json!({"metadata": {"name": name}, "value": value})).unwrap();
        api.create(&PostParams::default(), &pc).await.unwrap();
    }
}

async fn wait_terminating(api: &Api<Pod>, name: &str) -> Pod {
    wait_for(
        &format!("{name} to be terminating"),
        Duration::from_secs(30),
        || {
            let api = api.clone();
            let name = name.to_string();
            async move {
                api.get(&name)
                    .await
                    .ok()
                    .filter(|p| p.metadata.deletion_timestamp.is_some())
            }
        },
    )
    .await
}

#[tokio::test]
async fn higher_priority_pods_preempt_and_respect_pdbs() {
    with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        priority_classes(&client).await;
        create_node(&client, "n1", "2", "8Gi", json!({}), json!([])).await;
        create_node(&client, "n2", "2", "8Gi", json!({}), json!([])).await;
        let scheduler = start_scheduler(&cluster, &[]).await;
        let low = json!({"priorityClassName": "low", "nodeName": null});
        create_pod(
            &client,
            "guarded",
            "1500m",
            json!({"priorityClassName": "low", "nodeSelector": {"kubernetes.io/hostname": "n1"}}),
            json!({"app": "guarded"}),
        )
        .await;
        create_pod(
            &client,
            "victim",
            "1500m",
            json!({"priorityClassName": "low", "nodeSelector": {"kubernetes.io/hostname": "n2"}}),
            json!({"app": "free"}),
        )
        .await;
        let _ = low;
        assert_eq!(wait_bound(&client, "guarded").await, "n1");
        assert_eq!(wait_bound(&client, "victim").await, "n2");
        // Evicting "guarded" would violate its budget (no disruption allowed).
        let pdb: PodDisruptionBudget = serde_json::from_value(json!({
            "metadata": {"name": "guard", "namespace": "default"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "guarded"}}}
        }))
        .unwrap();
        Api::<PodDisruptionBudget>::namespaced(client.clone(), "default")
            .create(&PostParams::default(), &pdb)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;

        create_pod(
            &client,
            "vip",
            "1500m",
            json!({"priorityClassName": "high"}),
            json!({}),
        )
        .await;
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        let victim = wait_terminating(&pods, "victim").await;
        let disruption = victim
            .status
            .and_then(|s| s.conditions)
            .and_then(|c| c.into_iter().find(|c| c.type_ == "DisruptionTarget"))
            .expect("DisruptionTarget condition");
        assert_eq!(disruption.reason.as_deref(), Some("PreemptionByScheduler"));
        assert_eq!(
            disruption.message.as_deref(),
            Some("default-scheduler: preempting to accommodate a higher priority pod")
        );
        assert!(
            pods.get("guarded")
                .await
                .unwrap()
                .metadata
                .deletion_timestamp
                .is_none()
        );
        let nominated = wait_for("vip's nominatedNodeName", Duration::from_secs(30), || {
            let pods = pods.clone();
            async move {
                pods.get("vip")
                    .await
                    .ok()
                    .and_then(|p| p.status?.nominated_node_name)
            }
        })
        .await;
        assert_eq!(nominated, "n2");
        let vip = pods.get("vip").await.unwrap();
        let notes = event_notes(&client, "victim", "Preempted").await;
        let vip_uid = vip.metadata.uid.clone().unwrap();
        assert_eq!(notes, [format!("Preempted by pod {vip_uid} on node n2")]);

        // No kubelet: finish the graceful deletion as the kubelet would.
        pods.delete(
            "victim",
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..DeleteParams::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(wait_bound(&client, "vip").await, "n2");
        scheduler.shutdown().await.unwrap();
    });
}
