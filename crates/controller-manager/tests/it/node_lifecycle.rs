//! node-lifecycle-controller and taint-eviction-controller: a node whose
//! Lease keeps being renewed stays Ready; once heartbeats stop it turns
//! Unknown with `unreachable` taints, its pods are marked not ready, pods
//! whose tolerations run out are evicted; a node reporting NotReady gets
//! `not-ready` taints; recovery removes them. New NoExecute taints follow
//! the zones' budgets: none while every node is down, none in a small
//! zone that is mostly down.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::endpoints::{create_node, create_pod, set_running};
use crate::support::{object, start_manager, wait_for, wait_for_default_service_account};

fn now_text() -> String {
    Timestamp::from_second(Timestamp::now().as_second())
        .unwrap()
        .to_string()
}

async fn set_node_ready(client: &Client, name: &str, status: &str) {
    let api: Api<Node> = Api::all(client.clone());
    let now = now_text();
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"conditions": [
            {"type": "Ready", "status": status, "reason": "KubeletReady",
             "lastHeartbeatTime": now, "lastTransitionTime": now}
        ]}})),
    )
    .await
    .unwrap();
}

/// Renews the node's Lease every 500ms until `stop` fires.
fn renew_lease(
    client: &Client,
    node: &str,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let api: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let node = node.to_string();
    tokio::spawn(async move {
        loop {
            let renew = Timestamp::now().to_string();
            let patch = json!({"spec": {"renewTime": renew}});
            let _ = api
                .patch(&node, &PatchParams::default(), &Patch::Merge(patch))
                .await;
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    })
}

fn taint_keys(node: &Node) -> Vec<(String, String)> {
    let mut keys: Vec<_> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.key, t.effect))
        .collect();
    keys.sort();
    keys
}

async fn wait_for_taints(client: &Client, node: &str, want: &[(&str, &str)]) -> Node {
    let api: Api<Node> = Api::all(client.clone());
    let mut want: Vec<(String, String)> = want
        .iter()
        .map(|(k, e)| (k.to_string(), e.to_string()))
        .collect();
    want.sort();
    wait_for(
        &format!("taints {want:?} on {node}"),
        Duration::from_secs(30),
        || {
            let api = api.clone();
            let want = want.clone();
            async move {
                let n = api.get(node).await.unwrap();
                (taint_keys(&n) == want).then_some(n)
            }
        },
    )
    .await
}

fn condition<'a>(
    pod: &'a Pod,
    type_: &str,
) -> Option<&'a k8s_openapi::api::core::v1::PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

#[tokio::test]
async fn silent_nodes_become_unknown_tainted_and_evicted() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let _manager = start_manager(
            &cluster,
            &[
                "--controllers=nodelifecycle,taint-eviction-controller,serviceaccount",
                "--node-monitor-grace-period=3s",
                "--node-monitor-period=1s",
            ],
        )
        .await;
        wait_for_default_service_account(&client, "default").await;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let _ = namespaces
            .create(
                &PostParams::default(),
                &object(json!({"metadata": {"name": "kube-node-lease"}})),
            )
            .await;
        create_node(&client, "n1", json!({})).await;
        set_node_ready(&client, "n1", "True").await;
        let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
        leases
            .create(
                &PostParams::default(),
                &object(json!({"metadata": {"name": "n1"},
                               "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40,
                                        "renewTime": Timestamp::now().to_string()}})),
            )
            .await
            .unwrap();
        let stop = CancellationToken::new();
        let renewer = renew_lease(&client, "n1", stop.clone());
        // A healthy second node: with every node down the controller would
        // suspect itself and add no NoExecute taints (tested below).
        create_node(&client, "n2", json!({})).await;
        set_node_ready(&client, "n2", "True").await;
        leases
            .create(
                &PostParams::default(),
                &object(json!({"metadata": {"name": "n2"},
                               "spec": {"holderIdentity": "n2", "leaseDurationSeconds": 40,
                                        "renewTime": Timestamp::now().to_string()}})),
            )
            .await
            .unwrap();
        let keep_n2 = CancellationToken::new();
        let n2_renewer = renew_lease(&client, "n2", keep_n2.clone());

        create_pod(&client, "a", "n1", json!({})).await;
        create_pod(
            &client,
            "short",
            "n1",
            json!({"tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                    "effect": "NoExecute", "tolerationSeconds": 2}]}),
        )
        .await;
        create_pod(
            &client,
            "forever",
            "n1",
            json!({"tolerations": [{"operator": "Exists"}]}),
        )
        .await;
        for (name, ip) in [
            ("a", "10.244.0.2"),
            ("short", "10.244.0.3"),
            ("forever", "10.244.0.4"),
        ] {
            set_running(&client, name, ip, true).await;
        }
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        // Admission gave "a" the default 300s tolerations.
        let a = pods.get("a").await.unwrap();
        let tolerations = a.spec.unwrap().tolerations.unwrap_or_default();
        assert!(
            tolerations.iter().any(
                |t| t.key.as_deref() == Some("node.kubernetes.io/unreachable")
                    && t.toleration_seconds == Some(300)
            ),
            "{tolerations:?}"
        );

        // Lease renewals alone keep the node Ready past the grace period.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let nodes: Api<Node> = Api::all(client.clone());
        let n1 = nodes.get("n1").await.unwrap();
        let ready = n1
            .status
            .as_ref()
            .unwrap()
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == "Ready")
            .unwrap()
            .clone();
        assert_eq!(ready.status, "True");
        assert!(taint_keys(&n1).is_empty());

        // Silence: Unknown, unreachable taints.
        stop.cancel();
        renewer.await.unwrap();
        let n1 = wait_for_taints(
            &client,
            "n1",
            &[
                ("node.kubernetes.io/unreachable", "NoExecute"),
                ("node.kubernetes.io/unreachable", "NoSchedule"),
            ],
        )
        .await;
        let ready = n1
            .status
            .as_ref()
            .unwrap()
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == "Ready")
            .unwrap()
            .clone();
        assert_eq!(ready.status, "Unknown");
        assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
        assert_eq!(
            ready.message.as_deref(),
            Some("Kubelet stopped posting node status.")
        );

        // Pods are marked not ready; the one tolerating 2s is evicted.
        wait_for("pod a marked not ready", Duration::from_secs(30), || {
            let pods = pods.clone();
            async move {
                let pod = pods.get("a").await.unwrap();
                (condition(&pod, "Ready")?.status == "False").then_some(())
            }
        })
        .await;
        let short = wait_for("pod short evicted", Duration::from_secs(30), || {
            let pods = pods.clone();
            async move {
                let pod = pods.get_opt("short").await.unwrap();
                match pod {
                    None => Some(None),
                    Some(p) if p.metadata.deletion_timestamp.is_some() => Some(Some(p)),
                    Some(_) => None,
                }
            }
        })
        .await;
        if let Some(short) = short {
            let c = condition(&short, "DisruptionTarget").unwrap();
            assert_eq!(c.reason.as_deref(), Some("DeletionByTaintManager"));
        }
        let events = crate::support::events_for(&client, "default", "short").await;
        assert!(
            events
                .iter()
                .any(|(reason, _, _)| reason == "TaintManagerEviction"),
            "{events:?}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        for name in ["a", "forever"] {
            let pod = pods.get(name).await.unwrap();
            assert!(
                pod.metadata.deletion_timestamp.is_none(),
                "{name} was evicted"
            );
        }

        // The kubelet comes back reporting NotReady: not-ready taints.
        set_node_ready(&client, "n1", "False").await;
        wait_for_taints(
            &client,
            "n1",
            &[
                ("node.kubernetes.io/not-ready", "NoExecute"),
                ("node.kubernetes.io/not-ready", "NoSchedule"),
            ],
        )
        .await;
        // Ready again, kept alive: no taints.
        set_node_ready(&client, "n1", "True").await;
        let stop = CancellationToken::new();
        let renewer = renew_lease(&client, "n1", stop.clone());
        wait_for_taints(&client, "n1", &[]).await;
        stop.cancel();
        renewer.await.unwrap();
        keep_n2.cancel();
        n2_renewer.await.unwrap();
    });
}

fn has_no_execute(node: &Node) -> bool {
    taint_keys(node).iter().any(|(_, e)| e == "NoExecute")
}

#[tokio::test]
async fn zone_disruption_holds_back_no_execute_taints() {
    crate::with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        let _manager = start_manager(
            &cluster,
            &[
                "--controllers=nodelifecycle",
                "--node-monitor-period=1s",
                "--node-eviction-rate=2",
                // 4 of 8 down is already unhealthy, so the zone turns
                // partially disrupted with the first of the last three.
                "--unhealthy-zone-threshold=0.4",
            ],
        )
        .await;
        let nodes: Api<Node> = Api::all(client.clone());
        let names: Vec<String> = (1..=8).map(|i| format!("z{i}")).collect();
        // Every node of the only zone reports NotReady.
        for name in &names {
            create_node(&client, name, json!({"topology.kubernetes.io/zone": "a"})).await;
            set_node_ready(&client, name, "False").await;
        }
        let not_ready = ("node.kubernetes.io/not-ready", "NoSchedule");
        for name in &names {
            wait_for_taints(&client, name, &[not_ready]).await;
        }
        // Master disruption: no NoExecute taint at all, over several
        // passes of the controller.
        tokio::time::sleep(Duration::from_secs(3)).await;
        for name in &names {
            let n = nodes.get(name).await.unwrap();
            assert!(!has_no_execute(&n), "{name}: {:?}", taint_keys(&n));
        }

        // Five come back: 3 of 8 down is a healthy zone, and the three get
        // NoExecute taints (within the 2 per second budget).
        for name in &names[3..] {
            set_node_ready(&client, name, "True").await;
        }
        for name in &names[..3] {
            wait_for_taints(
                &client,
                name,
                &[not_ready, ("node.kubernetes.io/not-ready", "NoExecute")],
            )
            .await;
        }
        for name in &names[3..] {
            wait_for_taints(&client, name, &[]).await;
        }

        // Three more go down: from 4 of 8 on a partial disruption of a
        // zone of at most --large-cluster-size-threshold nodes, where
        // tainting stops; the nodes tainted before keep their taints.
        for name in &names[3..6] {
            set_node_ready(&client, name, "False").await;
        }
        for name in &names[3..6] {
            wait_for_taints(&client, name, &[not_ready]).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        for name in &names[3..6] {
            let n = nodes.get(name).await.unwrap();
            assert!(!has_no_execute(&n), "{name}: {:?}", taint_keys(&n));
        }
        for name in &names[..3] {
            assert!(has_no_execute(&nodes.get(name).await.unwrap()));
        }
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&prometheus::gather())
            .unwrap();
        assert!(
            text.lines()
                .any(|l| l.starts_with("node_collector_zone_size{") && l.ends_with(" 8")),
            "zone size missing"
        );
    });
}
