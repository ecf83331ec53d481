//! Pods that fit nowhere get upstream's FailedScheduling message and the
//! PodScheduled=False condition, and are scheduled once a node appears.
//! Gated pods wait for their gates.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::support::{
    create_node, create_pod, event_notes, scheduled_condition, start_scheduler, wait_bound,
    wait_for,
};
use crate::with_timeout;

const EXPECTED: &str = "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.";

#[tokio::test]
async fn failed_scheduling_then_scheduled_when_a_node_is_added() {
    with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        create_node(&client, "small", "2", "8Gi", json!({}), json!([])).await;
        create_node(
            &client,
            "cp",
            "8",
            "8Gi",
            json!({}),
            json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]),
        )
        .await;
        let scheduler = start_scheduler(&cluster, &[]).await;
        create_pod(&client, "filler", "1500m", json!({}), json!({})).await;
        assert_eq!(wait_bound(&client, "filler").await, "small");

        create_pod(&client, "waiting", "1", json!({}), json!({})).await;
        let condition = wait_for(
            "the PodScheduled=False condition",
            Duration::from_secs(30),
            || {
                let client = client.clone();
                async move {
                    scheduled_condition(&client, "waiting")
                        .await
                        .filter(|c| c.0 == "False")
                }
            },
        )
        .await;
        assert_eq!(
            condition,
            (
                "False".to_string(),
                "Unschedulable".to_string(),
                EXPECTED.to_string()
            )
        );
        let notes = wait_for(
            "the FailedScheduling event",
            Duration::from_secs(30),
            || {
                let client = client.clone();
                async move {
                    Some(event_notes(&client, "waiting", "FailedScheduling").await)
                        .filter(|n| !n.is_empty())
                }
            },
        )
        .await;
        assert_eq!(notes[0], EXPECTED);
        let described = cluster
            .kubectl_ok(&["describe", "pod", "waiting"])
            .await
            .unwrap();
        assert!(described.contains("FailedScheduling"), "{described}");

        // A node with room arrives: the pod is retried at once and lands there.
        create_node(&client, "big", "4", "8Gi", json!({}), json!([])).await;
        assert_eq!(wait_bound(&client, "waiting").await, "big");
        let condition = wait_for("PodScheduled=True", Duration::from_secs(30), || {
            let client = client.clone();
            async move {
                scheduled_condition(&client, "waiting")
                    .await
                    .filter(|c| c.0 == "True")
            }
        })
        .await;
        assert_eq!(condition.0, "True");
        scheduler.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn gated_pods_wait_and_impossible_pods_say_why() {
    with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        create_node(&client, "n1", "4", "8Gi", json!({"zone": "a"}), json!([])).await;
        let scheduler = start_scheduler(&cluster, &[]).await;
        create_pod(
            &client,
            "gated",
            "100m",
            json!({"schedulingGates": [{"name": "example.com/wait"}]}),
            json!({}),
        )
        .await;
        create_pod(
            &client,
            "never",
            "100m",
            json!({"nodeSelector": {"zone": "mars"}}),
            json!({}),
        )
        .await;
        let message = wait_for("never to be unschedulable", Duration::from_secs(30), || {
            let client = client.clone();
            async move {
                scheduled_condition(&client, "never")
                    .await
                    .filter(|c| c.0 == "False")
                    .map(|c| c.2)
            }
        })
        .await;
        assert_eq!(
            message,
            "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
        );
        // The gated pod was never attempted.
        assert!(
            event_notes(&client, "gated", "FailedScheduling")
                .await
                .is_empty()
        );
        let api: Api<Pod> = Api::namespaced(client.clone(), "default");
        let pod = api.get("gated").await.unwrap();
        assert!(pod.spec.unwrap().node_name.is_none());
        api.patch(
            "gated",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"schedulingGates": null}})),
        )
        .await
        .unwrap();
        assert_eq!(wait_bound(&client, "gated").await, "n1");
        scheduler.shutdown().await.unwrap();
    });
}
