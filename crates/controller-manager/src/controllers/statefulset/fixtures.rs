//! Test objects shared by the StatefulSet controller's unit tests.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

/// A StatefulSet `web` (2 replicas) with the given `updateStrategy`.
pub(super) fn set(strategy: serde_json::Value) -> StatefulSet {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "ns", "generation": 3},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "a"}}, "serviceName": "s",
            "updateStrategy": strategy,
            "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}
    }))
    .unwrap()
}

/// A running pod at revision `rev`, Ready or not.
pub(super) fn pod(name: &str, rev: &str, ready: bool) -> Arc<Pod> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"controller-revision-hash": rev}},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
        }))
        .unwrap(),
    )
}
