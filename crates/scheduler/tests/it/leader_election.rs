//! Two schedulers, one Lease: only the leader schedules; when it dies the
//! other takes over.

use std::time::Duration;

use corten_e2e::TestCluster;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use serde_json::json;

use crate::support::{create_node, create_pod, start_scheduler, wait_bound, wait_for};
use crate::with_timeout;

const LE: [&str; 4] = [
    "--leader-elect=true",
    "--leader-elect-lease-duration=3s",
    "--leader-elect-renew-deadline=2s",
    "--leader-elect-retry-period=500ms",
];

#[tokio::test]
async fn standby_takes_over_after_the_leader_dies() {
    with_timeout!(async {
        let cluster = TestCluster::start().await.unwrap();
        let client = cluster.client().await.unwrap();
        create_node(&client, "n1", "4", "8Gi", json!({}), json!([])).await;
        let first = start_scheduler(&cluster, &LE).await;
        wait_for(
            "the first scheduler to lead",
            Duration::from_secs(20),
            || async { first.is_leader().then_some(()) },
        )
        .await;
        let second = start_scheduler(&cluster, &LE).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(!second.is_leader());
        let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
        let lease = leases.get("kube-scheduler").await.unwrap();
        assert_eq!(
            lease.spec.unwrap().holder_identity.as_deref(),
            Some(first.identity())
        );
        create_pod(&client, "one", "100m", json!({}), json!({})).await;
        assert_eq!(wait_bound(&client, "one").await, "n1");

        let second_id = second.identity().to_string();
        first.crash().await;
        wait_for(
            "the standby to take over",
            Duration::from_secs(30),
            || async { second.is_leader().then_some(()) },
        )
        .await;
        let lease = leases.get("kube-scheduler").await.unwrap();
        let spec = lease.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some(second_id.as_str()));
        assert!(spec.lease_transitions.unwrap_or(0) >= 1);
        create_pod(&client, "two", "100m", json!({}), json!({})).await;
        assert_eq!(wait_bound(&client, "two").await, "n1");
        second.shutdown().await.unwrap();
        // A graceful stop releases the Lease.
        let lease = leases.get("kube-scheduler").await.unwrap();
        assert_eq!(lease.spec.unwrap().holder_identity.as_deref(), Some(""));
    });
}
