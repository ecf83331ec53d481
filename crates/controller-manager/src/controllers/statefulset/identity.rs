//! The stable identity of a StatefulSet's pods (upstream
//! `stateful_set_utils.go`): the name `<set>-<ordinal>`, hostname and
//! subdomain, the `statefulset.kubernetes.io/pod-name` and
//! `apps.kubernetes.io/pod-index` labels, and one PersistentVolumeClaim
//! per `volumeClaimTemplates` entry, `<claim>-<set>-<ordinal>`, with the
//! owner references `persistentVolumeClaimRetentionPolicy` asks for.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;

use crate::framework::controller_history::CONTROLLER_REVISION_HASH_LABEL;
use crate::framework::controller_ref::Owner;
use crate::framework::pod_control::pod_from_template;

/// The pod label with the pod's own name (for per-pod Services).
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The pod label with the pod's ordinal.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// `spec.ordinals.start` (0 by default).
pub fn start_ordinal(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.ordinals.as_ref())
        .and_then(|o| o.start)
        .unwrap_or(0)
}

/// `spec.replicas` (1 by default).
pub fn replicas(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// Upstream `getParentNameAndOrdinal`: `web-3` is ordinal 3 of `web`.
pub fn parent_and_ordinal(pod_name: &str) -> Option<(&str, i32)> {
    let (parent, ordinal) = pod_name.rsplit_once('-')?;
    if ordinal.is_empty() || !ordinal.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((parent, ordinal.parse().ok()?))
}

/// The pod's ordinal, if its name has one.
pub fn ordinal(pod: &Pod) -> Option<i32> {
    parent_and_ordinal(&pod.name_any()).map(|(_, o)| o)
}

/// Upstream `isMemberOf`: the pod's name says it belongs to `set`.
pub fn is_member_of(set: &StatefulSet, pod: &Pod) -> bool {
    parent_and_ordinal(&pod.name_any()).is_some_and(|(parent, _)| parent == set.name_any())
}

/// `<set>-<ordinal>`.
pub fn pod_name(set: &StatefulSet, ordinal: i32) -> String {
    format!("{}-{ordinal}", set.name_any())
}

/// `<claim template>-<pod name>`.
pub fn claim_name(template: &PersistentVolumeClaim, pod_name: &str) -> String {
    format!("{}-{pod_name}", template.name_any())
}

/// The revision (name) a pod was made from.
pub fn pod_revision(pod: &Pod) -> &str {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(CONTROLLER_REVISION_HASH_LABEL))
        .map_or("", String::as_str)
}

/// The claims the pod of `ordinal` uses, by template name.
pub fn claims_for(set: &StatefulSet, ordinal: i32) -> BTreeMap<String, PersistentVolumeClaim> {
    let name = pod_name(set, ordinal);
    let selector_labels = set
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    let mut out = BTreeMap::new();
    for template in set
        .spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.clone())
        .unwrap_or_default()
    {
        let mut claim = PersistentVolumeClaim {
            metadata: template.metadata.clone(),
            spec: template.spec.clone(),
            status: None,
        };
        claim.metadata.name = Some(claim_name(&template, &name));
        claim.metadata.namespace = set.namespace();
        let labels = claim.metadata.labels.get_or_insert_with(Default::default);
        for (k, v) in &selector_labels {
            labels.insert(k.clone(), v.clone());
        }
        claim.metadata.uid = None;
        claim.metadata.resource_version = None;
        claim.metadata.owner_references = None;
        out.insert(template.name_any(), claim);
    }
    out
}

/// Upstream `updateStorage`: a `persistentVolumeClaim` volume per claim
/// template (replacing a template volume of the same name).
fn update_storage(set: &StatefulSet, pod: &mut Pod, ordinal: i32) {
    let claims = claims_for(set, ordinal);
    if claims.is_empty() {
        return;
    }
    let spec = pod.spec.get_or_insert_with(Default::default);
    let mut volumes: Vec<Volume> = spec
        .volumes
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|v| !claims.contains_key(&v.name))
        .collect();
    for (template_name, claim) in claims {
        volumes.push(Volume {
            name: template_name,
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.name_any(),
                read_only: None,
            }),
            ..Volume::default()
        });
    }
    spec.volumes = Some(volumes);
}

/// Upstream `updateIdentity`: name, namespace, hostname, subdomain and
/// the two identity labels.
fn update_identity(set: &StatefulSet, pod: &mut Pod, ordinal: i32) {
    let name = pod_name(set, ordinal);
    pod.metadata.name = Some(name.clone());
    pod.metadata.generate_name = None;
    pod.metadata.namespace = set.namespace();
    let labels = pod.metadata.labels.get_or_insert_with(Default::default);
    labels.insert(POD_NAME_LABEL.to_string(), name.clone());
    labels.insert(POD_INDEX_LABEL.to_string(), ordinal.to_string());
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.hostname = Some(name);
    let service = set
        .spec
        .as_ref()
        .and_then(|s| s.service_name.clone())
        .unwrap_or_default();
    spec.subdomain = (!service.is_empty()).then_some(service);
}

/// Upstream `newVersionedStatefulSetPod`: the pod of `ordinal` from
/// `template`, labelled with `revision`.
pub fn new_pod(set: &StatefulSet, template: &PodTemplateSpec, ordinal: i32, revision: &str) -> Pod {
    let owner = Owner::of(set);
    let mut pod = pod_from_template(template, &set.name_any(), Some(owner.controller_ref()));
    update_identity(set, &mut pod, ordinal);
    update_storage(set, &mut pod, ordinal);
    pod.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(
            CONTROLLER_REVISION_HASH_LABEL.to_string(),
            revision.to_string(),
        );
    pod
}

/// Upstream `identityMatches`.
pub fn identity_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let name = pod.name_any();
    let Some((parent, ordinal)) = parent_and_ordinal(&name) else {
        return false;
    };
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let service = set
        .spec
        .as_ref()
        .and_then(|s| s.service_name.clone())
        .unwrap_or_default();
    parent == set.name_any()
        && pod.namespace() == set.namespace()
        && labels.get(POD_NAME_LABEL) == Some(&pod.name_any())
        && labels.get(POD_INDEX_LABEL) == Some(&ordinal.to_string())
        && spec.hostname.as_deref() == Some(pod.name_any().as_str())
        && spec.subdomain.clone().unwrap_or_default() == service
}

/// Upstream `storageMatches`.
pub fn storage_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let Some(ordinal) = ordinal(pod) else {
        return false;
    };
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default();
    claims_for(set, ordinal).iter().all(|(template, claim)| {
        volumes.iter().any(|v| {
            v.name == *template
                && v.persistent_volume_claim
                    .as_ref()
                    .is_some_and(|p| p.claim_name == claim.name_any())
        })
    })
}

/// Fixes a pod's identity and storage in place (upstream `UpdateStatefulPod`).
pub fn fix_identity_and_storage(set: &StatefulSet, pod: &mut Pod) {
    if let Some(ordinal) = ordinal(pod) {
        update_identity(set, pod, ordinal);
        update_storage(set, pod, ordinal);
    }
}

/// `whenDeleted` and `whenScaled` of the retention policy (`Retain` by default).
pub fn retention(set: &StatefulSet) -> (String, String) {
    let policy = set
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_claim_retention_policy.clone())
        .unwrap_or_default();
    (
        policy.when_deleted.unwrap_or_else(|| "Retain".to_string()),
        policy.when_scaled.unwrap_or_else(|| "Retain".to_string()),
    )
}

/// The owner references a claim should carry (upstream
/// `updateClaimOwnerRefForSetAndPod`): the set when it is deleted with
/// `whenDeleted: Delete`, the pod when it is scaled away with `whenScaled:
/// Delete`. Other owners of the claim are kept.
pub fn claim_owner_refs(
    set: &StatefulSet,
    pod: &Pod,
    existing: &[OwnerReference],
    scaled_down: bool,
) -> Vec<OwnerReference> {
    let (when_deleted, when_scaled) = retention(set);
    let set_uid = set.uid().unwrap_or_default();
    let pod_uid = pod.uid().unwrap_or_default();
    let mut refs: Vec<OwnerReference> = existing
        .iter()
        .filter(|r| r.uid != set_uid && (pod_uid.is_empty() || r.uid != pod_uid))
        .cloned()
        .collect();
    let set_ref = || OwnerReference {
        api_version: "apps/v1".to_string(),
        kind: "StatefulSet".to_string(),
        name: set.name_any(),
        uid: set_uid.clone(),
        controller: None,
        block_owner_deletion: None,
    };
    let pod_ref = || OwnerReference {
        api_version: "v1".to_string(),
        kind: "Pod".to_string(),
        name: pod.name_any(),
        uid: pod_uid.clone(),
        controller: None,
        block_owner_deletion: None,
    };
    let scaled_delete = when_scaled == "Delete" && scaled_down && !pod_uid.is_empty();
    if scaled_delete {
        refs.push(pod_ref());
    } else if when_deleted == "Delete" {
        refs.push(set_ref());
    }
    refs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set() -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "set-uid"},
            "spec": {
                "serviceName": "nginx",
                "selector": {"matchLabels": {"app": "nginx"}},
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Delete"},
                "template": {"metadata": {"labels": {"app": "nginx"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}],
                        "volumes": [{"name": "www", "emptyDir": {}}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "www", "labels": {"tier": "db"}},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
            }
        }))
        .unwrap()
    }

    #[test]
    fn names_and_ordinals() {
        assert_eq!(parent_and_ordinal("web-12"), Some(("web", 12)));
        assert_eq!(parent_and_ordinal("my-web-0"), Some(("my-web", 0)));
        assert_eq!(parent_and_ordinal("web-x"), None);
        assert_eq!(parent_and_ordinal("web"), None);
    }

    #[test]
    fn pods_get_identity_storage_and_revision() {
        let s = set();
        let template = s.spec.as_ref().unwrap().template.clone();
        let pod = new_pod(&s, &template, 2, "web-abc");
        assert_eq!(pod.name_any(), "web-2");
        let labels = pod.labels();
        assert_eq!(labels[POD_NAME_LABEL], "web-2");
        assert_eq!(labels[POD_INDEX_LABEL], "2");
        assert_eq!(labels[CONTROLLER_REVISION_HASH_LABEL], "web-abc");
        let spec = pod.spec.clone().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("web-2"));
        assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
        let volumes = spec.volumes.unwrap();
        assert_eq!(volumes.len(), 1, "the claim replaces the template volume");
        assert_eq!(
            volumes[0]
                .persistent_volume_claim
                .as_ref()
                .unwrap()
                .claim_name,
            "www-web-2"
        );
        assert!(identity_matches(&s, &pod) && storage_matches(&s, &pod));
        let claims = claims_for(&s, 2);
        let claim = &claims["www"];
        assert_eq!(claim.name_any(), "www-web-2");
        assert_eq!(claim.labels()["app"], "nginx");
        assert_eq!(claim.labels()["tier"], "db");
        let mut broken = pod.clone();
        broken.spec.as_mut().unwrap().hostname = None;
        assert!(!identity_matches(&s, &broken));
        fix_identity_and_storage(&s, &mut broken);
        assert!(identity_matches(&s, &broken));
    }

    #[test]
    fn claim_owners_follow_the_retention_policy() {
        let s = set();
        let mut pod = new_pod(&s, &s.spec.as_ref().unwrap().template, 0, "r");
        pod.metadata.uid = Some("pod-uid".into());
        let refs = claim_owner_refs(&s, &pod, &[], false);
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].kind, "StatefulSet");
        let refs = claim_owner_refs(&s, &pod, &refs, true);
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].kind, "Pod");
        let mut retain = s.clone();
        retain
            .spec
            .as_mut()
            .unwrap()
            .persistent_volume_claim_retention_policy = None;
        assert!(claim_owner_refs(&retain, &pod, &refs, true).is_empty());
    }
}
