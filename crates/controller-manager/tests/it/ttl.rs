//! ttl-controller: nodes get the `node.alpha.kubernetes.io/ttl` annotation.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

use crate::support::{object, start_manager, wait_for};

#[tokio::test]
async fn ttl_controller_annotates_nodes() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let _manager = start_manager(&cluster, &["--controllers=ttl"]).await;
        let nodes: Api<Node> = Api::all(client.clone());
        for name in ["a", "b"] {
            nodes
                .create(
                    &PostParams::default(),
                    &object(json!({"metadata": {"name": name}})),
                )
                .await
                .unwrap();
        }
        for name in ["a", "b"] {
            wait_for("the ttl annotation", Duration::from_secs(30), || async {
                let node = nodes.get(name).await.unwrap();
                let ttl = node
                    .metadata
                    .annotations?
                    .get("node.alpha.kubernetes.io/ttl")
                    .cloned()?;
                (ttl == "0").then_some(())
            })
            .await;
        }
    });
}
