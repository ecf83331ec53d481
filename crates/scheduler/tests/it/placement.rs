//! Pods land where upstream would put them: resources, taints, node
//! affinity, pod anti-affinity, topology spread.

use std::collections::BTreeMap;

use corten_e2e::TestCluster;
use serde_json::json;

use crate::support::{create_node, create_pod, event_notes, start_scheduler, wait_bound, wait_for};
use crate::with_timeout;

#[tokio::test]
async fn resources_taints_and_node_affinity() {
    with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        create_node(
            &client,
            "n1",
            "2",
            "8Gi",
            json!({"topology.kubernetes.io/zone": "a", "disk": "ssd"}),
            json!([]),
        )
        .await;
        create_node(
            &client,
            "n2",
            "4",
            "8Gi",
            json!({"topology.kubernetes.io/zone": "b"}),
            json!([]),
        )
        .await;
        create_node(
            &client,
            "n3",
            "8",
            "8Gi",
            json!({"topology.kubernetes.io/zone": "b"}),
            json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
        )
        .await;
        let scheduler = start_scheduler(&cluster, &[]).await;

        // Only n2 has 3 free CPUs and no taint.
        create_pod(&client, "big", "3", json!({}), json!({})).await;
        assert_eq!(wait_bound(&client, "big").await, "n2");
        // nodeSelector.
        create_pod(
            &client,
            "ssd",
            "100m",
            json!({"nodeSelector": {"disk": "ssd"}}),
            json!({}),
        )
        .await;
        assert_eq!(wait_bound(&client, "ssd").await, "n1");
        // Required zone b with 5 CPUs: only the tainted n3, which it tolerates.
        create_pod(&client, "tolerant", "5", json!({
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["b"]}]}]}}}
        }), json!({})).await;
        assert_eq!(wait_bound(&client, "tolerant").await, "n3");
        // Preferred affinity breaks the tie toward n1.
        create_pod(&client, "prefers-a", "100m", json!({
            "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "preference": {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}]}}]}}
        }), json!({})).await;
        assert_eq!(wait_bound(&client, "prefers-a").await, "n1");

        let notes = wait_for(
            "the Scheduled event",
            std::time::Duration::from_secs(30),
            || {
                let client = client.clone();
                async move {
                    Some(event_notes(&client, "big", "Scheduled").await).filter(|n| !n.is_empty())
                }
            },
        )
        .await;
        assert_eq!(notes, ["Successfully assigned default/big to n2"]);
        // kubectl sees it through core/v1 too.
        let out = cluster
            .kubectl_ok(&[
                "get",
                "events",
                "--field-selector",
                "reason=Scheduled",
                "-o",
                "json",
            ])
            .await
            .unwrap();
        assert!(
            out.contains("Successfully assigned default/big to n2"),
            "{out}"
        );
        scheduler.shutdown().await.unwrap();
    });
}

#[tokio::test]
async fn anti_affinity_and_topology_spread() {
    with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        for (name, zone) in [("a1", "a"), ("a2", "a"), ("b1", "b"), ("b2", "b")] {
            create_node(
                &client,
                name,
                "4",
                "8Gi",
                json!({"topology.kubernetes.io/zone": zone}),
                json!([]),
            )
            .await;
        }
        let scheduler = start_scheduler(&cluster, &[]).await;
        let anti = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}});
        let mut nodes = Vec::new();
        for i in 0..4 {
            let name = format!("web-{i}");
            create_pod(&client, &name, "100m", anti.clone(), json!({"app": "web"})).await;
            nodes.push(wait_bound(&client, &name).await);
        }
        nodes.sort();
        assert_eq!(nodes, ["a1", "a2", "b1", "b2"]);
        // A fifth web pod has nowhere to go.
        create_pod(
            &client,
            "web-4",
            "100m",
            anti.clone(),
            json!({"app": "web"}),
        )
        .await;
        let message = wait_for(
            "web-4 to be unschedulable",
            std::time::Duration::from_secs(30),
            || {
                let client = client.clone();
                async move {
                    crate::support::scheduled_condition(&client, "web-4")
                        .await
                        .filter(|c| c.0 == "False")
                        .map(|c| c.2)
                }
            },
        )
        .await;
        assert!(
            message.starts_with(
                "0/4 nodes are available: 4 node(s) didn't match pod anti-affinity rules."
            ),
            "{message}"
        );

        let spread = json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "spread"}}}]});
        let mut zones: BTreeMap<String, usize> = BTreeMap::new();
        for i in 0..6 {
            let name = format!("spread-{i}");
            create_pod(
                &client,
                &name,
                "100m",
                spread.clone(),
                json!({"app": "spread"}),
            )
            .await;
            let node = wait_bound(&client, &name).await;
            *zones.entry(node[..1].to_string()).or_insert(0) += 1;
            let counts: Vec<usize> = zones.values().copied().collect();
            let (min, max) = (
                counts.iter().min().copied().unwrap_or(0),
                counts.iter().max().copied().unwrap_or(0),
            );
            assert!(
                max - if zones.len() < 2 { 0 } else { min } <= 1,
                "skew too large: {zones:?}"
            );
        }
        assert_eq!(zones.values().copied().collect::<Vec<_>>(), [3, 3]);
        scheduler.shutdown().await.unwrap();
    });
}
