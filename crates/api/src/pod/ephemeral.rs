//! The `pods/ephemeralcontainers` subresource rules (upstream
//! `podEphemeralContainersStrategy` and
//! `ValidatePodEphemeralContainersUpdate`): only `spec.ephemeralContainers`
//! changes, and existing ephemeral containers may be neither removed nor
//! changed.

use std::collections::BTreeMap;

use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::{EphemeralContainer, Pod};

/// The subresource name.
pub const EPHEMERAL_CONTAINERS: &str = "ephemeralcontainers";

const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// The stored pod with only the request's ephemeral containers (and the
/// identifying metadata) taken from `new`.
pub fn keep_only_ephemeral_changes(new: &Pod, old: &Pod) -> Pod {
    let mut pod = old.clone();
    pod.metadata.name = new.metadata.name.clone();
    pod.metadata.namespace = new.metadata.namespace.clone();
    pod.metadata.resource_version = new.metadata.resource_version.clone();
    pod.metadata.uid = new.metadata.uid.clone();
    let ephemeral = new
        .spec
        .as_ref()
        .and_then(|s| s.ephemeral_containers.clone());
    pod.spec
        .get_or_insert_with(Default::default)
        .ephemeral_containers = ephemeral;
    // Upstream `updatePodGeneration`: a spec change is a new generation.
    if pod.spec != old.spec {
        pod.metadata.generation = Some(old.metadata.generation.unwrap_or(0) + 1);
    }
    pod
}

/// The changes between the old and new ephemeral containers: additions
/// only. Static (mirror) pods take none.
pub fn validate_ephemeral_containers_update(new: &Pod, old: &Pod) -> ErrorList {
    if old
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION))
    {
        return vec![FieldError::forbidden(
            &Path::new(""),
            "static pods do not support ephemeral containers",
        )];
    }
    let list = |p: &Pod| -> Vec<EphemeralContainer> {
        p.spec
            .as_ref()
            .and_then(|s| s.ephemeral_containers.clone())
            .unwrap_or_default()
    };
    let new_list = list(new);
    let by_name: BTreeMap<&str, &EphemeralContainer> =
        new_list.iter().map(|c| (c.name.as_str(), c)).collect();
    let path = Path::new("spec").child("ephemeralContainers");
    let mut errs = Vec::new();
    for old_c in list(old) {
        match by_name.get(old_c.name.as_str()) {
            None => errs.push(FieldError::forbidden(
                &path,
                &format!(
                    "existing ephemeral containers {:?} may not be removed\n",
                    old_c.name
                ),
            )),
            Some(new_c) if **new_c != old_c => errs.push(FieldError::forbidden(
                &path.child(&old_c.name),
                &format!(
                    "existing ephemeral containers {:?} may not be changed\n",
                    old_c.name
                ),
            )),
            Some(_) => {}
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    fn pod(ephemeral: &[(&str, &str)]) -> Pod {
        Pod {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("p".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "app".into(),
                    ..Default::default()
                }],
                ephemeral_containers: Some(
                    ephemeral
                        .iter()
                        .map(|(name, image)| EphemeralContainer {
                            name: name.to_string(),
                            image: Some(image.to_string()),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn only_additions() {
        let old = pod(&[("a", "busybox")]);
        assert!(
            validate_ephemeral_containers_update(&pod(&[("a", "busybox"), ("b", "x")]), &old)
                .is_empty()
        );
        let removed = validate_ephemeral_containers_update(&pod(&[("b", "x")]), &old);
        assert_eq!(
            removed[0].to_string(),
            "spec.ephemeralContainers: Forbidden: existing ephemeral containers \"a\" may not be removed\n"
        );
        let changed = validate_ephemeral_containers_update(&pod(&[("a", "other")]), &old);
        assert!(
            changed[0]
                .to_string()
                .starts_with("spec.ephemeralContainers.a: Forbidden: existing ephemeral containers \"a\" may not be changed"),
            "{}",
            changed[0]
        );
    }

    #[test]
    fn keeps_everything_but_ephemeral_containers() {
        let old = pod(&[]);
        let mut new = pod(&[("debug", "busybox")]);
        new.spec.as_mut().unwrap().containers[0].image = Some("changed".into());
        let kept = keep_only_ephemeral_changes(&new, &old);
        let spec = kept.spec.unwrap();
        assert_eq!(spec.containers[0].image, None);
        assert_eq!(spec.ephemeral_containers.unwrap()[0].name, "debug");
    }
}
