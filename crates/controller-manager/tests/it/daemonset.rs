//! daemonset-controller against the real apiserver with Node objects
//! created by the test (pods marked ready as a kubelet would): placement
//! by nodeSelector and taints, the automatic tolerations, `kubectl rollout
//! status|undo ds/x`, ControllerRevisions and node changes.

use std::collections::BTreeSet;
use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::fake_kubelet::{image, spawn_ready_loop};
use crate::support::{
    events_for, live_pods, object, start_manager, wait_for, wait_for_default_service_account,
};

/// The node a daemon pod is pinned to by its required node affinity.
fn pinned_node(pod: &Pod) -> String {
    let terms = &pod
        .spec
        .as_ref()
        .unwrap()
        .affinity
        .as_ref()
        .unwrap()
        .node_affinity
        .as_ref()
        .unwrap()
        .required_during_scheduling_ignored_during_execution
        .as_ref()
        .unwrap()
        .node_selector_terms;
    terms[0].match_fields.as_ref().unwrap()[0]
        .values
        .as_ref()
        .unwrap()[0]
        .clone()
}

async fn pod_nodes(client: &Client) -> BTreeSet<String> {
    live_pods(client, "default", "app=agent")
        .await
        .iter()
        .map(pinned_node)
        .collect()
}

async fn wait_nodes(client: &Client, want: &[&str]) {
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    wait_for(
        &format!("daemon pods on {want:?}"),
        Duration::from_secs(60),
        || async {
            let pods = live_pods(client, "default", "app=agent").await;
            let nodes: BTreeSet<String> = pods.iter().map(pinned_node).collect();
            (nodes == want && pods.len() == want.len()).then_some(())
        },
    )
    .await;
}

async fn rollout_status(cluster: &TestCluster) -> String {
    cluster
        .kubectl_ok(&["rollout", "status", "ds/agent", "--timeout=90s"])
        .await
        .unwrap()
}

#[tokio::test]
async fn daemonset_places_pods_rolls_out_and_follows_nodes() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let manager = start_manager(&cluster, &[]).await;
        wait_for_default_service_account(&client, "default").await;
        let nodes: Api<Node> = Api::all(client.clone());
        for (name, labels, taints) in [
            ("n1", json!({"disk": "ssd"}), json!([])),
            (
                "n2",
                json!({"disk": "ssd"}),
                json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]),
            ),
            (
                "n3",
                json!({"disk": "ssd"}),
                json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
            ),
            ("n4", json!({"disk": "hdd"}), json!([])),
        ] {
            let node: Node = object(
                json!({"metadata": {"name": name, "labels": labels}, "spec": {"taints": taints}}),
            );
            nodes.create(&PostParams::default(), &node).await.unwrap();
        }
        let api: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
        let ds: DaemonSet = object(json!({
            "metadata": {"name": "agent"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {"nodeSelector": {"disk": "ssd"},
                        "containers": [{"name": "c", "image": "agent:v1"}]}
                }
            }
        }));
        api.create(&PostParams::default(), &ds).await.unwrap();
        // n2 is cordoned (tolerated automatically), n3 tainted, n4 hdd.
        wait_nodes(&client, &["n1", "n2"]).await;
        let pods = live_pods(&client, "default", "app=agent").await;
        for pod in &pods {
            let tolerations = pod.spec.as_ref().unwrap().tolerations.clone().unwrap();
            for (key, effect) in [
                ("node.kubernetes.io/not-ready", "NoExecute"),
                ("node.kubernetes.io/unreachable", "NoExecute"),
                ("node.kubernetes.io/unschedulable", "NoSchedule"),
                ("node.kubernetes.io/disk-pressure", "NoSchedule"),
            ] {
                assert!(
                    tolerations
                        .iter()
                        .any(|t| t.key.as_deref() == Some(key)
                            && t.effect.as_deref() == Some(effect)),
                    "{key} missing: {tolerations:?}"
                );
            }
            assert!(pod.labels().contains_key("controller-revision-hash"));
            assert_eq!(pod.labels()["pod-template-generation"], "1");
            assert!(pod.name_any().starts_with("agent-"));
        }
        let kubelet = CancellationToken::new();
        let ready_loop = spawn_ready_loop(client.clone(), "default", kubelet.clone());
        let out = rollout_status(&cluster).await;
        assert!(
            out.contains("daemon set \"agent\" successfully rolled out"),
            "{out}"
        );
        let s = wait_for("status counts", Duration::from_secs(30), || async {
            let s = api.get("agent").await.unwrap().status?;
            (s.number_available == Some(2) && s.updated_number_scheduled == Some(2)).then_some(s)
        })
        .await;
        assert_eq!(
            (
                s.desired_number_scheduled,
                s.current_number_scheduled,
                s.number_ready,
                s.number_misscheduled
            ),
            (2, 2, 2, 0)
        );
        assert_eq!(s.number_unavailable, Some(0));

        // A rolling update to v2, one node at a time.
        cluster
            .kubectl_ok(&["set", "image", "ds/agent", "c=agent:v2"])
            .await
            .unwrap();
        rollout_status(&cluster).await;
        wait_for("all pods at v2", Duration::from_secs(60), || async {
            let pods = live_pods(&client, "default", "app=agent").await;
            (pods.len() == 2 && pods.iter().all(|p| image(p) == "agent:v2")).then_some(())
        })
        .await;
        let revisions: Api<ControllerRevision> = Api::namespaced(client.clone(), "default");
        let revs = revisions
            .list(&ListParams::default().labels("app=agent"))
            .await
            .unwrap()
            .items;
        assert_eq!(revs.len(), 2, "{revs:?}");
        let mut numbers: Vec<i64> = revs.iter().map(|r| r.revision).collect();
        numbers.sort();
        assert_eq!(numbers, [1, 2]);
        let history = cluster
            .kubectl_ok(&["rollout", "history", "ds/agent"])
            .await
            .unwrap();
        assert!(history.contains('1') && history.contains('2'), "{history}");

        // Undo goes back to v1 through the revision (renumbered 3).
        cluster
            .kubectl_ok(&["rollout", "undo", "ds/agent"])
            .await
            .unwrap();
        rollout_status(&cluster).await;
        wait_for("all pods back at v1", Duration::from_secs(60), || async {
            let pods = live_pods(&client, "default", "app=agent").await;
            (pods.len() == 2 && pods.iter().all(|p| image(p) == "agent:v1")).then_some(())
        })
        .await;
        let revs = revisions
            .list(&ListParams::default().labels("app=agent"))
            .await
            .unwrap()
            .items;
        assert_eq!(revs.iter().map(|r| r.revision).max(), Some(3));

        // Nodes change: n4 becomes ssd (gets a pod), n1 gets a NoExecute
        // taint (loses its pod).
        cluster
            .kubectl_ok(&["label", "node", "n4", "disk=ssd", "--overwrite"])
            .await
            .unwrap();
        cluster
            .kubectl_ok(&["taint", "node", "n1", "evict=now:NoExecute"])
            .await
            .unwrap();
        wait_nodes(&client, &["n2", "n4"]).await;
        assert_eq!(pod_nodes(&client).await.len(), 2);
        let events = events_for(&client, "default", "agent").await;
        assert!(
            events.iter().any(|(r, m, s)| r == "SuccessfulCreate"
                && m.starts_with("Created pod: agent-")
                && s == "daemonset-controller"),
            "{events:?}"
        );
        assert!(
            events.iter().any(|(r, _, _)| r == "SuccessfulDelete"),
            "{events:?}"
        );
        kubelet.cancel();
        ready_loop.await.unwrap();
        manager.shutdown().await.unwrap();
    });
}
