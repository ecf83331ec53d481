//! Corten's hostPath provisioner (upstream's in-tree `kubernetes.io/host-path`
//! provisioner plays this role in test clusters): a claim of a StorageClass
//! whose `provisioner` is [`HOSTPATH_PROVISIONER`] gets a PersistentVolume
//! `pvc-<claim uid>` with `hostPath: <dir>/pvc-<claim uid>`
//! (`DirectoryOrCreate`, so the kubelet creates the directory on first
//! mount), pre-bound to the claim. With `WaitForFirstConsumer` the volume
//! is pinned to the node the scheduler selected (node affinity on
//! `kubernetes.io/hostname`). On reclaim (`Delete`) the directory is
//! removed when it is on this host, then the volume object.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{
    HostPathVolumeSource, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeSpec, VolumeNodeAffinity,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::binder::claim_reference;
use super::{ANN_BOUND_BY_CONTROLLER, ANN_PROVISIONED_BY, ANN_SELECTED_NODE};

/// The `provisioner` of StorageClasses served by this controller.
pub const HOSTPATH_PROVISIONER: &str = "corten.io/hostpath";

/// The volume the provisioner creates for `claim` of `class`, or why it
/// cannot.
pub fn hostpath_volume(
    claim: &PersistentVolumeClaim,
    class: &StorageClass,
    dir: &Path,
) -> Result<PersistentVolume, String> {
    let uid = claim
        .metadata
        .uid
        .as_deref()
        .filter(|u| !u.is_empty())
        .ok_or("the claim has no uid")?;
    let spec = claim.spec.clone().unwrap_or_default();
    if spec.selector.is_some() {
        return Err("claim.Spec.Selector is not supported for dynamic provisioning".into());
    }
    let storage = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .cloned()
        .ok_or("the claim requests no storage")?;
    let name = format!("pvc-{uid}");
    let selected_node = claim
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANN_SELECTED_NODE));
    let node_affinity = selected_node.map(|node| VolumeNodeAffinity {
        required: Some(NodeSelector {
            node_selector_terms: vec![NodeSelectorTerm {
                match_expressions: Some(vec![NodeSelectorRequirement {
                    key: "kubernetes.io/hostname".into(),
                    operator: "In".into(),
                    values: Some(vec![node.clone()]),
                }]),
                match_fields: None,
            }],
        }),
    });
    let annotations = BTreeMap::from([
        (
            ANN_PROVISIONED_BY.to_string(),
            HOSTPATH_PROVISIONER.to_string(),
        ),
        (ANN_BOUND_BY_CONTROLLER.to_string(), "yes".to_string()),
    ]);
    let access_modes = spec
        .access_modes
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| vec!["ReadWriteOnce".into()]);
    Ok(PersistentVolume {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeSpec {
            capacity: Some(BTreeMap::from([(
                "storage".to_string(),
                Quantity(storage.0),
            )])),
            access_modes: Some(access_modes),
            claim_ref: Some(claim_reference(claim)),
            persistent_volume_reclaim_policy: Some(
                class
                    .reclaim_policy
                    .clone()
                    .unwrap_or_else(|| "Delete".into()),
            ),
            storage_class_name: Some(class.metadata.name.clone().unwrap_or_default()),
            mount_options: class.mount_options.clone(),
            volume_mode: spec.volume_mode.clone(),
            node_affinity,
            host_path: Some(HostPathVolumeSource {
                path: dir.join(&name).to_string_lossy().into_owned(),
                type_: Some("DirectoryOrCreate".into()),
            }),
            ..PersistentVolumeSpec::default()
        }),
        status: None,
    })
}

/// Removes the directory of a provisioned volume, if it exists on this
/// host. Refuses paths outside `dir` (a volume edited to point elsewhere
/// must never make the controller delete arbitrary host data).
pub fn delete_hostpath(volume: &PersistentVolume, dir: &Path) -> Result<(), String> {
    let Some(path) = volume
        .spec
        .as_ref()
        .and_then(|s| s.host_path.as_ref())
        .map(|h| PathBuf::from(&h.path))
    else {
        return Ok(());
    };
    if !is_inside(&path, dir) {
        return Err(format!(
            "host_path deleter only supports {}/.+ but received provided {}",
            dir.display(),
            path.display()
        ));
    }
    match std::fs::remove_dir_all(&path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(format!("deleting {}: {err}", path.display())),
    }
}

/// Whether `path` is strictly below `dir`, lexically, with no `..`.
fn is_inside(path: &Path, dir: &Path) -> bool {
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return false;
    }
    path.strip_prefix(dir)
        .is_ok_and(|rest| rest.components().next().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim(annotations: serde_json::Value) -> PersistentVolumeClaim {
        serde_json::from_value(json!({
            "metadata": {"name": "data", "namespace": "ns", "uid": "1234", "annotations": annotations},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
                     "resources": {"requests": {"storage": "1Gi"}}}
        }))
        .unwrap()
    }

    fn class(reclaim: Option<&str>) -> StorageClass {
        let mut c = json!({"metadata": {"name": "standard"}, "provisioner": HOSTPATH_PROVISIONER});
        if let Some(r) = reclaim {
            c["reclaimPolicy"] = json!(r);
        }
        serde_json::from_value(c).unwrap()
    }

    #[test]
    fn provisioned_volume_is_pre_bound_and_annotated() {
        let pv = hostpath_volume(&claim(json!({})), &class(None), Path::new("/var/vols")).unwrap();
        let v = serde_json::to_value(&pv).unwrap();
        assert_eq!(v["metadata"]["name"], "pvc-1234");
        assert_eq!(
            v["metadata"]["annotations"][ANN_PROVISIONED_BY],
            HOSTPATH_PROVISIONER
        );
        assert_eq!(v["spec"]["capacity"]["storage"], "1Gi");
        assert_eq!(v["spec"]["claimRef"]["uid"], "1234");
        assert_eq!(v["spec"]["claimRef"]["name"], "data");
        assert_eq!(v["spec"]["persistentVolumeReclaimPolicy"], "Delete");
        assert_eq!(v["spec"]["storageClassName"], "standard");
        assert_eq!(v["spec"]["hostPath"]["path"], "/var/vols/pvc-1234");
        assert!(v["spec"].get("nodeAffinity").is_none());
        let pv = hostpath_volume(
            &claim(json!({ANN_SELECTED_NODE: "node-a"})),
            &class(Some("Retain")),
            Path::new("/var/vols"),
        )
        .unwrap();
        let v = serde_json::to_value(&pv).unwrap();
        assert_eq!(v["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(
            v["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"]
                [0],
            "node-a"
        );
    }

    #[test]
    fn selectors_are_refused() {
        let mut c = claim(json!({}));
        c.spec.as_mut().unwrap().selector = Some(Default::default());
        assert!(hostpath_volume(&c, &class(None), Path::new("/v")).is_err());
    }

    #[test]
    fn deleter_stays_inside_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let inside = dir.path().join("pvc-1");
        std::fs::create_dir_all(inside.join("sub")).unwrap();
        let volume = |path: &Path| -> PersistentVolume {
            serde_json::from_value(json!({"metadata": {"name": "v"},
                "spec": {"hostPath": {"path": path}}}))
            .unwrap()
        };
        delete_hostpath(&volume(&inside), dir.path()).unwrap();
        assert!(!inside.exists());
        // Already gone is fine.
        delete_hostpath(&volume(&inside), dir.path()).unwrap();
        assert!(delete_hostpath(&volume(Path::new("/etc")), dir.path()).is_err());
        assert!(delete_hostpath(&volume(dir.path()), dir.path()).is_err());
        assert!(delete_hostpath(&volume(&dir.path().join("../x")), dir.path()).is_err());
    }
}
