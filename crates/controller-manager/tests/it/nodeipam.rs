//! node-ipam-controller: pod CIDRs for every node (dual-stack), existing
//! assignments respected, exhaustion reported, deleted nodes' CIDRs reused.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::core::v1::Node;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use crate::support::{events_for, object, start_manager, wait_for};

async fn pod_cidrs(client: &Client, name: &str) -> Vec<String> {
    let api: Api<Node> = Api::all(client.clone());
    api.get(name)
        .await
        .unwrap()
        .spec
        .and_then(|s| s.pod_cidrs)
        .unwrap_or_default()
}

async fn wait_for_cidrs(client: &Client, name: &str) -> Vec<String> {
    wait_for(
        &format!("pod CIDRs of {name}"),
        Duration::from_secs(30),
        || async {
            let cidrs = pod_cidrs(client, name).await;
            (!cidrs.is_empty()).then_some(cidrs)
        },
    )
    .await
}

#[tokio::test]
async fn nodes_get_pod_cidrs() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let nodes: Api<Node> = Api::all(client.clone());
        // Assigned before the controller starts: must not be handed out.
        nodes
            .create(
                &PostParams::default(),
                &object(json!({"metadata": {"name": "pre"},
                               "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24", "fd00:10:0:1::/64"]}})),
            )
            .await
            .unwrap();
        let _manager = start_manager(
            &cluster,
            &[
                "--controllers=nodeipam",
                "--allocate-node-cidrs",
                "--cluster-cidr=10.244.0.0/22,fd00:10::/62",
            ],
        )
        .await;
        for name in ["a", "b", "c"] {
            nodes
                .create(
                    &PostParams::default(),
                    &object(json!({"metadata": {"name": name}})),
                )
                .await
                .unwrap();
            // One at a time, so the order of assignment is known.
            wait_for_cidrs(&client, name).await;
        }
        assert_eq!(
            pod_cidrs(&client, "a").await,
            ["10.244.0.0/24", "fd00:10::/64"]
        );
        assert_eq!(
            pod_cidrs(&client, "b").await,
            ["10.244.2.0/24", "fd00:10:0:2::/64"]
        );
        assert_eq!(
            pod_cidrs(&client, "c").await,
            ["10.244.3.0/24", "fd00:10:0:3::/64"]
        );
        let a = nodes.get("a").await.unwrap();
        assert_eq!(a.spec.unwrap().pod_cidr.as_deref(), Some("10.244.0.0/24"));

        // The range is full.
        nodes
            .create(
                &PostParams::default(),
                &object(json!({"metadata": {"name": "d"}})),
            )
            .await
            .unwrap();
        wait_for(
            "CIDRNotAvailable for d",
            Duration::from_secs(30),
            || async {
                let events = events_for(&client, "default", "d").await;
                events
                    .iter()
                    .any(|(reason, _, _)| reason == "CIDRNotAvailable")
                    .then_some(())
            },
        )
        .await;
        assert!(pod_cidrs(&client, "d").await.is_empty());

        // A deleted node's CIDRs go to the next node.
        nodes.delete("a", &DeleteParams::default()).await.unwrap();
        nodes
            .create(
                &PostParams::default(),
                &object(json!({"metadata": {"name": "e"}})),
            )
            .await
            .unwrap();
        let got = wait_for("a freed CIDR reused", Duration::from_secs(60), || async {
            for name in ["d", "e"] {
                let cidrs = pod_cidrs(&client, name).await;
                if !cidrs.is_empty() {
                    return Some(cidrs);
                }
            }
            None
        })
        .await;
        assert_eq!(got, ["10.244.0.0/24", "fd00:10::/64"]);
    });
}
