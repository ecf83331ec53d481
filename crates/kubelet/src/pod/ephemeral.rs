//! Ephemeral containers (`spec.ephemeralContainers`, added through the
//! `pods/ephemeralcontainers` subresource): started once in the running
//! pod's sandbox, never restarted, and reported in
//! `status.ephemeralContainerStatuses`. With `targetContainerName` they join
//! that container's process namespace (CRI `NamespaceMode::TARGET`).

use k8s_openapi::api::core::v1::{Container, EphemeralContainer, Pod};

/// An ephemeral container as a [`Container`] (the fields the kubelet uses
/// are the same; upstream converts the same way) plus its target.
#[derive(Clone, Debug)]
pub struct Ephemeral {
    /// The container.
    pub container: Container,
    /// `targetContainerName`.
    pub target: Option<String>,
}

fn convert(ec: &EphemeralContainer) -> Container {
    // Same JSON shape minus `targetContainerName`, which `Container` ignores.
    serde_json::to_value(ec)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_else(|| Container {
            name: ec.name.clone(),
            image: ec.image.clone(),
            ..Default::default()
        })
}

/// The pod's ephemeral containers, in spec order.
pub fn of(pod: &Pod) -> Vec<Ephemeral> {
    pod.spec
        .iter()
        .flat_map(|s| s.ephemeral_containers.iter().flatten())
        .map(|ec| Ephemeral {
            container: convert(ec),
            target: ec.target_container_name.clone().filter(|t| !t.is_empty()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;

    #[test]
    fn converts() {
        let pod = Pod {
            spec: Some(PodSpec {
                ephemeral_containers: Some(vec![EphemeralContainer {
                    name: "debugger".into(),
                    image: Some("busybox".into()),
                    command: Some(vec!["sh".into()]),
                    stdin: Some(true),
                    tty: Some(true),
                    target_container_name: Some("app".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let got = of(&pod);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].container.name, "debugger");
        assert_eq!(got[0].container.image.as_deref(), Some("busybox"));
        assert_eq!(
            got[0].container.command.as_deref(),
            Some(&["sh".to_string()][..])
        );
        assert_eq!(got[0].container.tty, Some(true));
        assert_eq!(got[0].target.as_deref(), Some("app"));
    }
}
