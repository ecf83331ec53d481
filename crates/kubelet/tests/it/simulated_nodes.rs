//! Simulated nodes (hollow nodes) against a real etcd + apiserver: 20
//! kubelets over fake runtimes in this process register Ready Nodes, renew
//! their Leases and run the pods bound to them; pod admission rejects what
//! does not fit with upstream's reasons. No containerd: this runs anywhere.

use std::collections::BTreeMap;
use std::time::Duration;

use corten_e2e::TestCluster;
use corten_kubelet::simulated::{SimulatedNodes, SimulatedNodesConfig};
use futures::future::join_all;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};

const NODES: usize = 20;
const PREFIX: &str = "sim-";

fn ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn pod(name: &str, node: &str, extra: serde_json::Value) -> Pod {
    let mut spec = serde_json::json!({
        "nodeName": node,
        "containers": [{"name": "app", "image": "corten.local/testserver:1.0"}]
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            if k == "container" {
                if let Some(c) = spec["containers"][0].as_object_mut()
                    && let Some(more) = v.as_object()
                {
                    c.extend(more.clone());
                }
            } else {
                spec.insert(k.clone(), v.clone());
            }
        }
    }
    serde_json::from_value(serde_json::json!({"metadata": {"name": name}, "spec": spec}))
        .expect("pod")
}

async fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn twenty_simulated_nodes_register_heartbeat_run_pods_and_admit() {
    let test = async {
        let cluster = TestCluster::start().await.expect("cluster");
        let client = cluster.client().await.expect("client");
        let root = tempfile::tempdir().expect("tempdir");
        let mut config = SimulatedNodesConfig::new(NODES, PREFIX, root.path());
        config.cpus = 2;
        config.max_pods = 4;
        config.node_labels = BTreeMap::from([("corten.dev/simulated".into(), "true".into())]);
        let nodes = SimulatedNodes::start(&config, client.clone())
            .await
            .expect("simulated nodes");

        // Twenty Ready Nodes with the made-up capacity, and their Leases.
        let node_api: Api<Node> = Api::all(client.clone());
        let listed = wait_for("20 Ready nodes", Duration::from_secs(60), async || {
            let list = node_api
                .list(&ListParams::default().labels("corten.dev/simulated=true"))
                .await
                .ok()?;
            (list.items.iter().filter(|n| ready(n)).count() == NODES).then_some(list.items)
        })
        .await;
        let capacity = listed[0].status.as_ref().unwrap().capacity.clone().unwrap();
        assert_eq!(capacity["cpu"].0, "2");
        assert_eq!(capacity["pods"].0, "4");
        let lease_api: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
        for i in 0..NODES {
            let lease = lease_api.get(&format!("{PREFIX}{i}")).await.expect("lease");
            let spec = lease.spec.unwrap();
            assert_eq!(
                spec.holder_identity.as_deref(),
                Some(format!("{PREFIX}{i}").as_str())
            );
            assert!(spec.renew_time.is_some());
        }

        // Two pods per node run: Running and Ready, with IPs from the node's CIDR.
        let pod_api: Api<Pod> = Api::namespaced(client.clone(), "default");
        let creates = (0..NODES * 2).map(|i| {
            let api = pod_api.clone();
            async move {
                let node = format!("{PREFIX}{}", i % NODES);
                api.create(
                    &PostParams::default(),
                    &pod(&format!("p{i}"), &node, serde_json::json!({})),
                )
                .await
                .expect("create pod");
            }
        });
        join_all(creates).await;
        let running = wait_for("40 pods Running", Duration::from_secs(90), async || {
            let list = pod_api.list(&ListParams::default()).await.ok()?;
            let running: Vec<Pod> = list
                .items
                .into_iter()
                .filter(|p| {
                    p.metadata
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with('p'))
                })
                .filter(|p| phase(p) == "Running")
                .collect();
            (running.len() == NODES * 2).then_some(running)
        })
        .await;
        for p in &running {
            let status = p.status.as_ref().unwrap();
            let node = p.spec.as_ref().unwrap().node_name.clone().unwrap();
            let i: usize = node.trim_start_matches(PREFIX).parse().unwrap();
            let ip = status.pod_ip.clone().unwrap_or_default();
            assert!(
                ip.starts_with(&format!("10.64.{i}.")),
                "pod {:?} on {node} has IP {ip}",
                p.metadata.name
            );
            let ready = status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            assert!(ready, "{:?} not Ready", p.metadata.name);
            assert!(status.container_statuses.as_ref().unwrap()[0].ready);
        }

        // A container that exits 0 completes its pod.
        pod_api
            .create(
                &PostParams::default(),
                &pod(
                    "job",
                    &format!("{PREFIX}1"),
                    serde_json::json!({
                        "restartPolicy": "Never",
                        "container": {"env": [{"name": "FAKE_EXIT_CODE", "value": "0"}]}
                    }),
                ),
            )
            .await
            .expect("create job pod");

        // Admission: node 0 has 2 pods of 4 and 2 CPUs.
        let node0 = format!("{PREFIX}0");
        let rejected = [
            (
                pod(
                    "too-big",
                    &node0,
                    serde_json::json!({"container": {"resources": {"requests": {"cpu": "3"}}}}),
                ),
                "OutOfcpu",
                "Node didn't have enough resource: cpu, requested: 3000, used: 0, capacity: 2000",
            ),
            (
                pod(
                    "wrong-zone",
                    &node0,
                    serde_json::json!({"nodeSelector": {"zone": "b"}}),
                ),
                "NodeAffinity",
                "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector",
            ),
        ];
        for (p, _, _) in &rejected {
            pod_api
                .create(&PostParams::default(), p)
                .await
                .expect("create");
        }
        // Host ports: the first pod takes 8080, the second is rejected.
        let port =
            serde_json::json!({"container": {"ports": [{"containerPort": 80, "hostPort": 8080}]}});
        pod_api
            .create(&PostParams::default(), &pod("port-a", &node0, port.clone()))
            .await
            .expect("create");
        wait_for("port-a Running", Duration::from_secs(30), async || {
            let p = pod_api.get("port-a").await.ok()?;
            (phase(&p) == "Running").then_some(())
        })
        .await;
        pod_api
            .create(&PostParams::default(), &pod("port-b", &node0, port))
            .await
            .expect("create");
        let mut expected: Vec<(String, &str, &str)> = rejected
            .iter()
            .map(|(p, r, m)| (p.metadata.name.clone().unwrap(), *r, *m))
            .collect();
        expected.push((
            "port-b".into(),
            "NodePorts",
            "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports",
        ));
        for (name, reason, message) in expected {
            let got = wait_for(
                &format!("{name} rejected"),
                Duration::from_secs(30),
                async || {
                    let p = pod_api.get(&name).await.ok()?;
                    (phase(&p) == "Failed").then_some(p)
                },
            )
            .await;
            let status = got.status.unwrap();
            assert_eq!(status.reason.as_deref(), Some(reason), "{name}");
            assert_eq!(
                status.message.as_deref(),
                Some(format!("Pod was rejected: {message}").as_str()),
                "{name}"
            );
        }
        // Node 0 now runs p0, p20, port-a: one slot left; of two more pods
        // one gets it, the other is OutOfpods.
        for name in ["last-a", "last-b"] {
            pod_api
                .create(
                    &PostParams::default(),
                    &pod(name, &node0, serde_json::json!({})),
                )
                .await
                .expect("create");
        }
        let (fit, full) = wait_for("last-a/b decided", Duration::from_secs(30), async || {
            let a = pod_api.get("last-a").await.ok()?;
            let b = pod_api.get("last-b").await.ok()?;
            match (phase(&a), phase(&b)) {
                ("Running", "Failed") => Some((a, b)),
                ("Failed", "Running") => Some((b, a)),
                _ => None,
            }
        })
        .await;
        let full_status = full.status.unwrap();
        assert_eq!(full_status.reason.as_deref(), Some("OutOfpods"));
        assert_eq!(
            full_status.message.as_deref(),
            Some(
                "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: 4, capacity: 4"
            )
        );
        assert_eq!(phase(&fit), "Running");

        // A critical pod on the full node 0 preempts one of its pods
        // (critical priority classes are for kube-system only).
        let system: Api<Pod> = Api::namespaced(client.clone(), "kube-system");
        let critical = serde_json::json!({"priorityClassName": "system-node-critical"});
        system
            .create(&PostParams::default(), &pod("critical", &node0, critical))
            .await
            .expect("create critical pod");
        wait_for("critical Running", Duration::from_secs(30), async || {
            let p = system.get("critical").await.ok()?;
            (phase(&p) == "Running").then_some(())
        })
        .await;
        let preempted: Vec<Pod> = pod_api
            .list(&ListParams::default().fields(&format!("spec.nodeName={node0}")))
            .await
            .expect("list")
            .items
            .into_iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.reason.as_deref()) == Some("Preempting"))
            .collect();
        assert_eq!(preempted.len(), 1, "{preempted:#?}");
        let status = preempted[0].status.clone().unwrap();
        assert_eq!(status.phase.as_deref(), Some("Failed"));
        assert_eq!(
            status.message.as_deref(),
            Some("Preempted in order to admit critical pod")
        );
        assert!(
            status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "DisruptionTarget"
                    && c.reason.as_deref() == Some("TerminationByKubelet"))
        );
        // One needing more CPU than every other pod holds is rejected.
        let huge = serde_json::json!({
            "priorityClassName": "system-node-critical",
            "container": {"resources": {"requests": {"cpu": "3"}}}
        });
        system
            .create(
                &PostParams::default(),
                &pod("critical-huge", &format!("{PREFIX}2"), huge),
            )
            .await
            .expect("create critical pod");
        let rejected = wait_for(
            "critical-huge rejected",
            Duration::from_secs(30),
            async || {
                let p = system.get("critical-huge").await.ok()?;
                (phase(&p) == "Failed").then_some(p)
            },
        )
        .await;
        let status = rejected.status.unwrap();
        assert_eq!(status.reason.as_deref(), Some("UnexpectedAdmissionError"));
        assert_eq!(
            status.message.as_deref(),
            Some(
                "Pod was rejected: Unexpected error while attempting to recover from admission failure: preemption: error finding a set of pods to preempt: no set of running pods found to reclaim resources: [(res: cpu, q: 1000), ]"
            )
        );

        // A NoExecute taint on node 1 rejects new pods that do not tolerate it.
        let node1 = format!("{PREFIX}1");
        node_api
            .patch(
                &node1,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"spec": {"taints": [
                    {"key": "maintenance", "value": "now", "effect": "NoExecute"}
                ]}})),
            )
            .await
            .expect("taint");
        // The kubelet sees the taint through its Node watch.
        tokio::time::sleep(Duration::from_secs(1)).await;
        pod_api
            .create(
                &PostParams::default(),
                &pod("untolerated", &node1, serde_json::json!({})),
            )
            .await
            .expect("create");
        let tainted = wait_for(
            "untolerated rejected",
            Duration::from_secs(30),
            async || {
                let p = pod_api.get("untolerated").await.ok()?;
                (phase(&p) == "Failed").then_some(p)
            },
        )
        .await;
        assert_eq!(
            tainted.status.unwrap().reason.as_deref(),
            Some("TaintToleration")
        );

        // The rejection event, as upstream: Warning, the reason, the message.
        let event_api: Api<Event> = Api::namespaced(client.clone(), "default");
        let event = wait_for("OutOfcpu event", Duration::from_secs(30), async || {
            let events = event_api.list(&ListParams::default()).await.ok()?;
            events.items.into_iter().find(|e| {
                e.involved_object.name.as_deref() == Some("too-big")
                    && e.reason.as_deref() == Some("OutOfcpu")
            })
        })
        .await;
        assert_eq!(event.type_.as_deref(), Some("Warning"));
        assert_eq!(
            event.message.as_deref(),
            Some("Node didn't have enough resource: cpu, requested: 3000, used: 0, capacity: 2000")
        );

        let job = wait_for("job Succeeded", Duration::from_secs(30), async || {
            let p = pod_api.get("job").await.ok()?;
            (phase(&p) == "Succeeded").then_some(p)
        })
        .await;
        assert_eq!(
            job.status.unwrap().container_statuses.unwrap()[0]
                .state
                .as_ref()
                .unwrap()
                .terminated
                .as_ref()
                .unwrap()
                .exit_code,
            0
        );

        // The rejection metric counts by reason (process-wide).
        let metrics = prometheus::TextEncoder::new()
            .encode_to_string(&prometheus::gather())
            .unwrap();
        assert!(
            metrics.contains("kubelet_admission_rejections_total{reason=\"OutOfcpu\"} 1"),
            "{metrics}"
        );
        nodes.stop().await;
    };
    tokio::time::timeout(Duration::from_secs(300), test)
        .await
        .expect("test timed out");
}
