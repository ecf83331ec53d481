//! disruption-controller: PodDisruptionBudget status from the pods and
//! their controller's scale, and the eviction subresource honouring it.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use kube::api::{EvictParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::fake_kubelet::set_pod_status;
use crate::support::{
    object, start_manager, wait_for, wait_for_default_service_account, wait_for_pods,
};

const NS: &str = "default";

async fn wait_for_pdb(
    client: &Client,
    what: &str,
    check: impl Fn(&PodDisruptionBudgetStatus) -> bool,
) -> PodDisruptionBudget {
    let api: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), NS);
    wait_for(what, Duration::from_secs(30), || async {
        let pdb = api.get("web").await.unwrap();
        pdb.status.as_ref().filter(|s| check(s))?;
        Some(pdb)
    })
    .await
}

#[tokio::test]
async fn budget_status_and_evictions() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let _manager = start_manager(
            &cluster,
            &["--controllers=disruption,replicaset,serviceaccount"],
        )
        .await;
        wait_for_default_service_account(&client, NS).await;
        let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);
        sets.create(
            &PostParams::default(),
            &object(json!({
                "metadata": {"name": "web"},
                "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}},
                                      "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
            })),
        )
        .await
        .unwrap();
        let pods = wait_for_pods(&client, NS, "app=web", 3).await;
        for pod in &pods {
            set_pod_status(&client, pod, true, 0).await;
        }
        let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), NS);
        pdbs.create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": "web"},
                           "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}})),
        )
        .await
        .unwrap();
        let pdb = wait_for_pdb(&client, "one disruption allowed", |s| {
            s.current_healthy == 3 && s.disruptions_allowed == 1
        })
        .await;
        let status = pdb.status.unwrap();
        assert_eq!((status.expected_pods, status.desired_healthy), (3, 2));
        assert_eq!(status.observed_generation, pdb.metadata.generation);
        let condition = &status.conditions.unwrap()[0];
        assert_eq!(
            (
                condition.type_.as_str(),
                condition.status.as_str(),
                condition.reason.as_str()
            ),
            ("DisruptionAllowed", "True", "SufficientPods")
        );
        let out = cluster
            .kubectl_ok(&["get", "pdb", "web", "-n", NS])
            .await
            .unwrap();
        assert!(out.contains("ALLOWED DISRUPTIONS"), "{out}");

        // One eviction is allowed, the next is refused with 429.
        let pod_api: Api<Pod> = Api::namespaced(client.clone(), NS);
        pod_api
            .evict(&pods[0].name_any(), &EvictParams::default())
            .await
            .unwrap();
        // kube-rs retries 429s by itself; kubectl shows the refusal.
        let body = json!({"apiVersion": "policy/v1", "kind": "Eviction",
                          "metadata": {"name": pods[1].name_any(), "namespace": NS}})
        .to_string();
        let path = format!(
            "/api/v1/namespaces/{NS}/pods/{}/eviction",
            pods[1].name_any()
        );
        let out = cluster
            .kubectl_stdin(&["create", "--raw", &path, "-f", "-"], Some(&body))
            .await
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("disruption budget"), "{stderr}");
        // The replacement pod is not ready yet: nothing may go.
        wait_for_pdb(&client, "no disruption allowed", |s| {
            s.current_healthy == 2 && s.disruptions_allowed == 0 && s.expected_pods == 3
        })
        .await;

        // maxUnavailable as a percentage uses the ReplicaSet's scale.
        pdbs.patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"minAvailable": null, "maxUnavailable": "34%"}})),
        )
        .await
        .unwrap();
        let pdb = wait_for_pdb(&client, "maxUnavailable applied", |s| {
            s.desired_healthy == 1
        })
        .await;
        let status = pdb.status.unwrap();
        assert_eq!((status.expected_pods, status.disruptions_allowed), (3, 1));
        assert_eq!(status.observed_generation, pdb.metadata.generation);

        // A pod without a controller makes the percentage impossible.
        pod_api
            .create(
                &PostParams::default(),
                &object(
                    json!({"metadata": {"name": "stray", "labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
                ),
            )
            .await
            .unwrap();
        let pdb = wait_for_pdb(&client, "SyncFailed", |s| {
            s.conditions
                .iter()
                .flatten()
                .any(|c| c.reason == "SyncFailed")
        })
        .await;
        assert_eq!(pdb.status.unwrap().disruptions_allowed, 0);
    });
}
