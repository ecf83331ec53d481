//! The labels and annotations upstream's kubelet puts on CRI sandboxes and
//! containers, so a restarted kubelet (ours or upstream's) can find the pod,
//! container name, restart count and spec hash of everything it runs.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Container, Pod};

/// Pod name label.
pub const POD_NAME: &str = "io.kubernetes.pod.name";
/// Pod namespace label.
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// Pod UID label.
pub const POD_UID: &str = "io.kubernetes.pod.uid";
/// Container name label.
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";
/// Label upstream puts on sandboxes and containers to mark them as the
/// kubelet's (`io.kubernetes.docker.type` is docker-era; CRI uses this).
pub const CONTAINER_TYPE: &str = "io.kubernetes.container.type";
/// Spec hash annotation.
pub const CONTAINER_HASH: &str = "io.kubernetes.container.hash";
/// Restart count annotation.
pub const RESTART_COUNT: &str = "io.kubernetes.container.restartCount";
/// Termination message path annotation.
pub const TERMINATION_MESSAGE_PATH: &str = "io.kubernetes.container.terminationMessagePath";
/// Termination message policy annotation.
pub const TERMINATION_MESSAGE_POLICY: &str = "io.kubernetes.container.terminationMessagePolicy";
/// Pod grace period annotation.
pub const POD_TERMINATION_GRACE: &str = "io.kubernetes.pod.terminationGracePeriod";
/// Whether a container is an init container (Corten; upstream infers it from the spec).
pub const INIT_CONTAINER: &str = "io.corten.container.init";

/// Sandbox labels: the pod's labels plus name, namespace and UID.
pub fn sandbox_labels(pod: &Pod) -> HashMap<String, String> {
    let mut labels: HashMap<String, String> = pod
        .metadata
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    labels.insert(
        POD_NAME.into(),
        pod.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(
        POD_NAMESPACE.into(),
        pod.metadata.namespace.clone().unwrap_or_default(),
    );
    labels.insert(POD_UID.into(), pod.metadata.uid.clone().unwrap_or_default());
    labels.insert(CONTAINER_TYPE.into(), "podsandbox".into());
    labels
}

/// Sandbox annotations: the pod's annotations.
pub fn sandbox_annotations(pod: &Pod) -> HashMap<String, String> {
    pod.metadata
        .annotations
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// Container labels.
pub fn container_labels(pod: &Pod, container: &Container) -> HashMap<String, String> {
    HashMap::from([
        (
            POD_NAME.into(),
            pod.metadata.name.clone().unwrap_or_default(),
        ),
        (
            POD_NAMESPACE.into(),
            pod.metadata.namespace.clone().unwrap_or_default(),
        ),
        (POD_UID.into(), pod.metadata.uid.clone().unwrap_or_default()),
        (CONTAINER_NAME.into(), container.name.clone()),
        (CONTAINER_TYPE.into(), "container".into()),
    ])
}

/// Container annotations.
pub fn container_annotations(
    pod: &Pod,
    container: &Container,
    restart_count: i32,
    init: bool,
) -> HashMap<String, String> {
    let mut annotations = HashMap::from([
        (CONTAINER_HASH.into(), container_hash(container)),
        (RESTART_COUNT.into(), restart_count.to_string()),
        (
            TERMINATION_MESSAGE_PATH.into(),
            container
                .termination_message_path
                .clone()
                .unwrap_or_else(|| "/dev/termination-log".into()),
        ),
        (
            TERMINATION_MESSAGE_POLICY.into(),
            container
                .termination_message_policy
                .clone()
                .unwrap_or_else(|| "File".into()),
        ),
    ]);
    if let Some(grace) = pod
        .spec
        .as_ref()
        .and_then(|s| s.termination_grace_period_seconds)
    {
        annotations.insert(POD_TERMINATION_GRACE.into(), grace.to_string());
    }
    if init {
        annotations.insert(INIT_CONTAINER.into(), "true".into());
    }
    annotations
}

/// A hash of the container spec, without the fields that may change in
/// place (resources): a different hash means "restart the container".
pub fn container_hash(container: &Container) -> String {
    let mut c = container.clone();
    c.resources = None;
    c.resize_policy = None;
    let text = serde_json::to_string(&c).unwrap_or_default();
    // FNV-1a, 64 bit: stable across builds, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_ignores_resources_only() {
        let c = Container {
            name: "a".into(),
            image: Some("busybox".into()),
            ..Default::default()
        };
        let mut resized = c.clone();
        resized.resources = Some(Default::default());
        assert_eq!(container_hash(&c), container_hash(&resized));
        let mut other = c.clone();
        other.image = Some("busybox:1".into());
        assert_ne!(container_hash(&c), container_hash(&other));
    }
}
