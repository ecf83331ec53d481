//! Several profiles in one scheduler, chosen by `spec.schedulerName`;
//! pods of other schedulers are left alone.

use std::time::Duration;

use corten_e2e::TestCluster;
use serde_json::json;

use crate::support::{create_node, create_pod, event_notes, start_scheduler, wait_bound};
use crate::with_timeout;

const CONFIG: &str = r#"apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
profiles:
- schedulerName: default-scheduler
- schedulerName: bin-packer
  plugins:
    score:
      disabled:
      - name: NodeResourcesBalancedAllocation
      - name: ImageLocality
      - name: PodTopologySpread
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
"#;

#[tokio::test]
async fn profiles_by_scheduler_name() {
    with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let path = cluster.dir().join("scheduler.yaml");
        std::fs::write(
            &path,
            CONFIG.replace(
                "leaderElect: false",
                &format!(
                    "leaderElect: false\nclientConnection:\n  kubeconfig: {}\n  qps: -1",
                    cluster.kubeconfig.display()
                ),
            ),
        )
        .unwrap();
        create_node(&client, "busy", "4", "8Gi", json!({}), json!([])).await;
        create_node(&client, "idle", "4", "8Gi", json!({}), json!([])).await;
        let config_flag = format!("--config={}", path.display());
        let scheduler = start_scheduler(&cluster, &[&config_flag]).await;
        create_pod(
            &client,
            "filler",
            "2",
            json!({"nodeName": "busy"}),
            json!({}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;

        // LeastAllocated (default profile) prefers the idle node...
        create_pod(&client, "spreader", "500m", json!({}), json!({})).await;
        assert_eq!(wait_bound(&client, "spreader").await, "idle");
        // ...MostAllocated (bin-packer) the busy one.
        create_pod(
            &client,
            "packer",
            "500m",
            json!({"schedulerName": "bin-packer"}),
            json!({}),
        )
        .await;
        assert_eq!(wait_bound(&client, "packer").await, "busy");
        // Another scheduler's pod is not ours.
        create_pod(
            &client,
            "foreign",
            "100m",
            json!({"schedulerName": "someone-else"}),
            json!({}),
        )
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let pod =
            kube::Api::<k8s_openapi::api::core::v1::Pod>::namespaced(client.clone(), "default")
                .get("foreign")
                .await
                .unwrap();
        assert!(pod.spec.unwrap().node_name.is_none());
        assert!(
            event_notes(&client, "foreign", "FailedScheduling")
                .await
                .is_empty()
        );
        // Events name the profile as reporting controller.
        let events: kube::Api<k8s_openapi::api::events::v1::Event> =
            kube::Api::namespaced(client.clone(), "default");
        let list = events.list(&Default::default()).await.unwrap();
        let packer_event = list
            .items
            .iter()
            .find(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("packer"))
            .expect("an event for packer");
        assert_eq!(
            packer_event.reporting_controller.as_deref(),
            Some("bin-packer")
        );
        scheduler.shutdown().await.unwrap();
    });
}
