//! Integration tests of kube-scheduler against a real etcd and the real
//! apiserver (corten-e2e's `TestCluster`), with Node objects created by the
//! tests (no kubelet). One test binary (link time is scarce).

mod binary;
mod leader_election;
mod placement;
mod preemption;
mod profiles;
mod support;
mod unschedulable;

/// Every test gets this long before it is failed.
pub const TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);

/// Runs an async test body with the standard timeout.
#[macro_export]
macro_rules! with_timeout {
    ($body:expr) => {
        tokio::time::timeout($crate::TEST_TIMEOUT, $body)
            .await
            .expect("test timed out")
    };
}
