//! podgc: terminated pods beyond `--terminated-pod-gc-threshold` are
//! deleted oldest first; pods bound to a node that does not exist are
//! marked Failed and deleted after the quarantine.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::endpoints::{create_node, create_pod};
use crate::support::{start_manager, wait_for, wait_for_default_service_account};

#[tokio::test]
async fn terminated_and_orphaned_pods_are_collected() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let _manager = start_manager(
            &cluster,
            &[
                "--controllers=podgc,serviceaccount",
                "--terminated-pod-gc-threshold=2",
            ],
        )
        .await;
        wait_for_default_service_account(&client, "default").await;
        create_node(&client, "n1", json!({})).await;
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        for i in 0..4 {
            let name = format!("done-{i}");
            create_pod(&client, &name, "n1", json!({})).await;
            pods.patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"phase": "Succeeded"}})),
            )
            .await
            .unwrap();
        }
        create_pod(&client, "running", "n1", json!({})).await;
        // The orphan's node never existed.
        create_pod(&client, "orphan", "gone", json!({})).await;

        let left = wait_for(
            "two terminated pods left",
            Duration::from_secs(40),
            || async {
                let names: Vec<String> = pods
                    .list(&ListParams::default())
                    .await
                    .unwrap()
                    .items
                    .iter()
                    .filter(|p| p.name_any().starts_with("done-"))
                    .map(|p| p.name_any())
                    .collect();
                (names.len() == 2).then_some(names)
            },
        )
        .await;
        let mut left = left;
        left.sort();
        assert_eq!(left, ["done-2", "done-3"]);

        wait_for("the orphan deleted", Duration::from_secs(90), || async {
            pods.get_opt("orphan")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        })
        .await;
        assert!(pods.get_opt("running").await.unwrap().is_some());
    });
}
