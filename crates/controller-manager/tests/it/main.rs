//! Integration tests of kube-controller-manager against a real etcd and the
//! real apiserver (corten-e2e's `TestCluster`), in-process and as the
//! `kube-controller-manager` binary. One test binary (link time is scarce).

mod binary;
mod certificates;
mod clusterrole_aggregation;
mod conformance_apps;
mod cronjob;
mod daemonset;
mod deployment;
mod deployment_rollout;
mod disruption;
mod endpoints;
mod events;
mod fake_kubelet;
mod garbage_collector;
mod garbage_collector_rc;
mod horizontal_pod_autoscaler;
mod hpa_custom_metrics;
mod job;
mod leader_election;
mod namespace;
mod node_lifecycle;
mod nodeipam;
mod persistentvolume;
mod podgc;
mod pv_recycle;
mod replicaset;
mod resourcequota;
mod resourcequota_scopes;
mod root_ca;
mod serviceaccount;
mod serviceaccount_token;
mod statefulset;
mod support;
mod token_cleaner;
mod ttl;
mod volume_protection;

/// Every test gets this long before it is failed.
pub const TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(150);

/// Runs an async test body with the standard timeout.
#[macro_export]
macro_rules! with_timeout {
    ($body:expr) => {
        tokio::time::timeout($crate::TEST_TIMEOUT, $body)
            .await
            .expect("test timed out")
    };
}
