//! storage.k8s.io/v1: StorageClass, CSIDriver, CSINode, VolumeAttachment,
//! CSIStorageCapacity.

use std::collections::HashSet;

use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::storage::v1::{
    CSIDriver, CSIDriverSpec, CSINode, CSIStorageCapacity, StorageClass, VolumeAttachment,
};
use serde_json::Value;

use crate::kind::{KindRules, KindStrategy};
use crate::validate;

/// Strategy for StorageClass.
pub static STORAGE_CLASS_STRATEGY: KindStrategy<StorageClassRules> = KindStrategy::new();

/// Strategy for CSIDriver.
pub static CSI_DRIVER_STRATEGY: KindStrategy<CsiDriverRules> = KindStrategy::new();

/// Strategy for CSINode.
pub static CSI_NODE_STRATEGY: KindStrategy<CsiNodeRules> = KindStrategy::new();

/// Strategy for VolumeAttachment.
pub static VOLUME_ATTACHMENT_STRATEGY: KindStrategy<VolumeAttachmentRules> = KindStrategy::new();

/// Strategy for CSIStorageCapacity.
pub static CSI_STORAGE_CAPACITY_STRATEGY: KindStrategy<CsiStorageCapacityRules> =
    KindStrategy::new();

const MAX_PARAMETERS: usize = 512;
const MAX_PARAMETERS_SIZE: usize = 256 * 1024;
const MAX_CSI_NODE_ID_LENGTH: usize = 192;

/// Upstream `ValidateCSIDriverName`.
fn csi_driver_name(name: &str, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if name.is_empty() {
        errs.push(FieldError::required(path, ""));
    }
    if name.len() > 63 {
        errs.push(FieldError::too_long(path, 63));
    }
    errs.extend(validate::invalid_each(
        path,
        name,
        corten_apimachinery::names::is_dns1123_subdomain(&name.to_lowercase()),
    ));
    errs
}

/// The rules of StorageClass: a provisioner, immutable with the
/// parameters, reclaim policy (default Delete) and binding mode (default
/// Immediate).
pub struct StorageClassRules;

impl KindRules for StorageClassRules {
    type Object = StorageClass;
    const NAMESPACED: bool = false;

    fn default(sc: &mut StorageClass) {
        if sc.reclaim_policy.is_none() {
            sc.reclaim_policy = Some("Delete".into());
        }
        if sc.volume_binding_mode.is_none() {
            sc.volume_binding_mode = Some("Immediate".into());
        }
    }

    fn validate(sc: &StorageClass) -> ErrorList {
        let mut errs = Vec::new();
        let pp = Path::new("provisioner");
        if sc.provisioner.is_empty() {
            errs.push(FieldError::required(&pp, ""));
        } else {
            errs.extend(validate::qualified_name(
                &sc.provisioner.to_lowercase(),
                &pp,
            ));
        }
        let params = sc.parameters.clone().unwrap_or_default();
        let par = Path::new("parameters");
        if params.len() > MAX_PARAMETERS {
            errs.push(FieldError::too_long(&par, MAX_PARAMETERS));
        } else {
            let mut size = 0usize;
            for (k, v) in &params {
                if k.is_empty() {
                    errs.push(FieldError::invalid(
                        &par,
                        k.as_str(),
                        "field can not be empty.",
                    ));
                }
                size = size.saturating_add(k.len() + v.len());
            }
            if size > MAX_PARAMETERS_SIZE {
                errs.push(FieldError::too_long(&par, MAX_PARAMETERS_SIZE));
            }
        }
        if let Some(p) = sc.reclaim_policy.as_deref() {
            errs.extend(validate::one_of(
                p,
                &["Delete", "Retain"],
                false,
                &Path::new("reclaimPolicy"),
            ));
        }
        match sc.volume_binding_mode.as_deref() {
            None => errs.push(FieldError::required(&Path::new("volumeBindingMode"), "")),
            Some(m) => errs.extend(validate::one_of(
                m,
                &["Immediate", "WaitForFirstConsumer"],
                true,
                &Path::new("volumeBindingMode"),
            )),
        }
        errs
    }

    fn validate_update(new: &StorageClass, old: &StorageClass) -> ErrorList {
        let mut errs = Vec::new();
        if !validate::same_map(new.parameters.as_ref(), old.parameters.as_ref()) {
            errs.push(FieldError::forbidden(
                &Path::new("parameters"),
                "updates to parameters are forbidden.",
            ));
        }
        if new.provisioner != old.provisioner {
            errs.push(FieldError::forbidden(
                &Path::new("provisioner"),
                "updates to provisioner are forbidden.",
            ));
        }
        if new.reclaim_policy != old.reclaim_policy {
            errs.push(FieldError::forbidden(
                &Path::new("reclaimPolicy"),
                "updates to reclaimPolicy are forbidden.",
            ));
        }
        errs.extend(validate::immutable(
            &new.volume_binding_mode,
            &old.volume_binding_mode,
            &Path::new("volumeBindingMode"),
        ));
        errs.extend(Self::validate(new));
        errs
    }
}

/// The rules of CSIDriver.
pub struct CsiDriverRules;

impl KindRules for CsiDriverRules {
    type Object = CSIDriver;
    const NAMESPACED: bool = false;

    fn default(d: &mut CSIDriver) {
        let s = &mut d.spec;
        s.attach_required.get_or_insert(true);
        s.pod_info_on_mount.get_or_insert(false);
        s.storage_capacity.get_or_insert(false);
        s.requires_republish.get_or_insert(false);
        s.se_linux_mount.get_or_insert(false);
        s.fs_group_policy
            .get_or_insert_with(|| "ReadWriteOnceWithFSType".into());
        if s.volume_lifecycle_modes.as_ref().is_none_or(Vec::is_empty) {
            s.volume_lifecycle_modes = Some(vec!["Persistent".into()]);
        }
    }

    fn validate(d: &CSIDriver) -> ErrorList {
        let mut errs = csi_driver_name(
            d.metadata.name.as_deref().unwrap_or_default(),
            &Path::new("name"),
        );
        errs.extend(validate_csi_driver_spec(&d.spec));
        errs
    }

    fn validate_update(new: &CSIDriver, old: &CSIDriver) -> ErrorList {
        let mut errs = validate_csi_driver_spec(&new.spec);
        let sp = Path::new("spec");
        errs.extend(validate::immutable(
            &new.spec.attach_required,
            &old.spec.attach_required,
            &sp.child("attachRequired"),
        ));
        errs.extend(validate::immutable(
            &new.spec.volume_lifecycle_modes,
            &old.spec.volume_lifecycle_modes,
            &sp.child("volumeLifecycleModes"),
        ));
        errs
    }
}

fn validate_csi_driver_spec(s: &CSIDriverSpec) -> ErrorList {
    let sp = Path::new("spec");
    let mut errs = Vec::new();
    for (field, v) in [
        ("attachRequired", s.attach_required),
        ("podInfoOnMount", s.pod_info_on_mount),
        ("storageCapacity", s.storage_capacity),
        ("requiresRepublish", s.requires_republish),
    ] {
        if v.is_none() {
            errs.push(FieldError::required(&sp.child(field), ""));
        }
    }
    if let Some(p) = s.fs_group_policy.as_deref() {
        errs.extend(validate::one_of(
            p,
            &["File", "None", "ReadWriteOnceWithFSType"],
            true,
            &sp.child("fsGroupPolicy"),
        ));
    }
    let tp = sp.child("tokenRequests");
    let mut audiences = HashSet::new();
    for (i, t) in s.token_requests.iter().flatten().enumerate() {
        let p = tp.index(i);
        if !audiences.insert(t.audience.as_str()) {
            errs.push(FieldError::duplicate(
                &p.child("audience"),
                t.audience.as_str(),
            ));
            continue;
        }
        if let Some(e) = t.expiration_seconds {
            if e < 600 {
                errs.push(FieldError::invalid(
                    &p.child("expirationSeconds"),
                    e,
                    "may not specify a duration less than 10 minutes",
                ));
            }
            if e > 1 << 32 {
                errs.push(FieldError::invalid(
                    &p.child("expirationSeconds"),
                    e,
                    "may not specify a duration larger than 2^32 seconds",
                ));
            }
        }
    }
    for (i, m) in s.volume_lifecycle_modes.iter().flatten().enumerate() {
        errs.extend(validate::one_of(
            m,
            &["Ephemeral", "Persistent"],
            true,
            &sp.child("volumeLifecycleModes").index(i),
        ));
    }
    if let Some(p) = s.node_allocatable_update_period_seconds
        && p < 10
    {
        errs.push(FieldError::invalid(
            &sp.child("nodeAllocatableUpdatePeriodSeconds"),
            p,
            "must be greater than or equal to 10 seconds",
        ));
    }
    errs
}

/// The rules of CSINode.
pub struct CsiNodeRules;

impl KindRules for CsiNodeRules {
    type Object = CSINode;
    const NAMESPACED: bool = false;

    fn validate(n: &CSINode) -> ErrorList {
        let mut errs = Vec::new();
        let dp = Path::new("spec").child("drivers");
        let mut names = HashSet::new();
        for (i, d) in n.spec.drivers.iter().enumerate() {
            let p = dp.index(i);
            if d.node_id.is_empty() {
                errs.push(FieldError::required(&p.child("nodeID"), ""));
            } else if d.node_id.len() > MAX_CSI_NODE_ID_LENGTH {
                errs.push(FieldError::invalid(
                    &p.child("nodeID"),
                    d.node_id.as_str(),
                    &format!("must be {MAX_CSI_NODE_ID_LENGTH} characters or less"),
                ));
            }
            errs.extend(csi_driver_name(&d.name, &p.child("name")));
            if !names.insert(d.name.as_str()) {
                errs.push(FieldError::duplicate(&p.child("name"), d.name.as_str()));
            }
            let mut keys = HashSet::new();
            for (j, k) in d.topology_keys.iter().flatten().enumerate() {
                let kp = p.child("topologyKeys").index(j);
                if k.is_empty() {
                    errs.push(FieldError::required(&kp, ""));
                    continue;
                }
                if !keys.insert(k.as_str()) {
                    errs.push(FieldError::duplicate(&kp, k.as_str()));
                }
                errs.extend(validate::qualified_name(k, &kp));
            }
            if let Some(count) = d.allocatable.as_ref().and_then(|a| a.count) {
                errs.extend(validate::nonnegative(
                    i64::from(count),
                    &p.child("allocatable").child("count"),
                ));
            }
        }
        errs
    }

    fn validate_update(new: &CSINode, old: &CSINode) -> ErrorList {
        let mut errs = Self::validate(new);
        let dp = Path::new("spec").child("drivers");
        for (i, d) in new.spec.drivers.iter().enumerate() {
            if let Some(o) = old.spec.drivers.iter().find(|o| o.name == d.name) {
                let p = dp.index(i);
                errs.extend(validate::immutable(
                    &d.node_id,
                    &o.node_id,
                    &p.child("nodeID"),
                ));
                errs.extend(validate::immutable(
                    &d.topology_keys,
                    &o.topology_keys,
                    &p.child("topologyKeys"),
                ));
            }
        }
        errs
    }
}

/// The rules of VolumeAttachment: an attacher, exactly one source, a node,
/// and an immutable spec.
pub struct VolumeAttachmentRules;

impl KindRules for VolumeAttachmentRules {
    type Object = VolumeAttachment;
    const NAMESPACED: bool = false;

    fn prepare_for_status_update(new: &mut VolumeAttachment, old: &VolumeAttachment) {
        crate::strategy::reset_object_meta_for_status(&mut new.metadata, &old.metadata);
    }

    fn validate(va: &VolumeAttachment) -> ErrorList {
        let sp = Path::new("spec");
        let spec = &va.spec;
        let mut errs = Vec::new();
        let ap = sp.child("attacher");
        if spec.attacher.is_empty() {
            errs.push(FieldError::required(&ap, ""));
        } else {
            errs.extend(csi_driver_name(&spec.attacher, &ap));
        }
        let src = sp.child("source");
        let msg = "must specify exactly one of inlineVolumeSpec and persistentVolumeName";
        match (
            &spec.source.persistent_volume_name,
            &spec.source.inline_volume_spec,
        ) {
            (None, None) => errs.push(FieldError::required(&src, msg)),
            (Some(_), Some(_)) => errs.push(FieldError::forbidden(&src, msg)),
            (Some(pv), None) => {
                errs.extend(validate::dns1123_subdomain(
                    pv,
                    &src.child("persistentVolumeName"),
                ));
            }
            (None, Some(_)) => {}
        }
        let np = sp.child("nodeName");
        if spec.node_name.is_empty() {
            errs.push(FieldError::required(&np, ""));
        } else {
            errs.extend(validate::dns1123_subdomain(&spec.node_name, &np));
        }
        errs
    }

    fn validate_update(new: &VolumeAttachment, old: &VolumeAttachment) -> ErrorList {
        let mut errs = Self::validate(new);
        if new.spec != old.spec {
            errs.push(FieldError::invalid(
                &Path::new("spec"),
                serde_json::to_value(&new.spec).unwrap_or(Value::Null),
                "field is immutable",
            ));
        }
        errs
    }
}

/// The rules of CSIStorageCapacity: a topology selector and a storage
/// class name that a CSI driver's `GetCapacity` was asked with, so both are
/// immutable, and non-negative capacities.
pub struct CsiStorageCapacityRules;

impl KindRules for CsiStorageCapacityRules {
    type Object = CSIStorageCapacity;
    const NAMESPACED: bool = true;

    fn canonicalize(c: &mut CSIStorageCapacity) -> Result<(), String> {
        for q in [&mut c.capacity, &mut c.maximum_volume_size]
            .into_iter()
            .flatten()
        {
            validate::canonicalize_quantity(q)?;
        }
        Ok(())
    }

    fn validate(c: &CSIStorageCapacity) -> ErrorList {
        let mut errs =
            validate::label_selector(c.node_topology.as_ref(), &Path::new("nodeTopology"));
        errs.extend(validate::dns1123_subdomain(
            &c.storage_class_name,
            &Path::new("storageClassName"),
        ));
        if let Some(q) = &c.capacity {
            errs.extend(validate::nonnegative_quantity(q, &Path::new("capacity")));
        }
        errs
    }

    fn validate_update(new: &CSIStorageCapacity, old: &CSIStorageCapacity) -> ErrorList {
        let mut errs = Self::validate(new);
        if new.node_topology != old.node_topology {
            errs.push(FieldError::invalid(
                &Path::new("nodeTopology"),
                serde_json::to_value(&new.node_topology).unwrap_or(Value::Null),
                "field is immutable",
            ));
        }
        if new.storage_class_name != old.storage_class_name {
            errs.push(FieldError::invalid(
                &Path::new("storageClassName"),
                new.storage_class_name.as_str(),
                "field is immutable",
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Strategy;
    use serde_json::json;

    fn created(s: &dyn Strategy, obj: Value) -> Value {
        let mut o = s.canonicalize(obj).unwrap();
        s.prepare_for_create(&mut o);
        s.default(&mut o);
        o
    }

    #[test]
    fn storage_class_defaults_and_immutability() {
        let sc = created(
            &STORAGE_CLASS_STRATEGY,
            json!({"metadata": {"name": "fast"}, "provisioner": "example.com/p", "parameters": {"a": "b"}}),
        );
        assert_eq!(sc["reclaimPolicy"], "Delete");
        assert_eq!(sc["volumeBindingMode"], "Immediate");
        let mut changed = sc.clone();
        changed["parameters"] = json!({"a": "c"});
        changed["provisioner"] = json!("example.com/q");
        let errs: Vec<String> = STORAGE_CLASS_STRATEGY
            .validate_update(&changed, &sc)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert!(
            errs.contains(
                &"parameters: Forbidden: updates to parameters are forbidden.".to_string()
            )
        );
        assert!(errs.contains(
            &"provisioner: Forbidden: updates to provisioner are forbidden.".to_string()
        ));
    }

    #[test]
    fn storage_class_needs_provisioner() {
        let sc: StorageClass = crate::typed::from_value(
            json!({"metadata": {"name": "x"}, "volumeBindingMode": "Later"}),
        )
        .unwrap();
        let errs: Vec<String> = StorageClassRules::validate(&sc)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert!(errs.contains(&"provisioner: Required value".to_string()));
        assert!(errs.contains(&"volumeBindingMode: Unsupported value: \"Later\": supported values: \"Immediate\", \"WaitForFirstConsumer\"".to_string()));
    }

    #[test]
    fn csi_driver_defaults() {
        let d = created(
            &CSI_DRIVER_STRATEGY,
            json!({"metadata": {"name": "csi.example.com"}, "spec": {}}),
        );
        assert_eq!(d["spec"]["attachRequired"], true);
        assert_eq!(d["spec"]["podInfoOnMount"], false);
        assert_eq!(d["spec"]["fsGroupPolicy"], "ReadWriteOnceWithFSType");
        assert_eq!(d["spec"]["volumeLifecycleModes"], json!(["Persistent"]));
        let mut with_token = d.clone();
        with_token["spec"]["tokenRequests"] = json!([{"audience": "a", "expirationSeconds": 60}]);
        let errs = CSI_DRIVER_STRATEGY.validate(&with_token);
        assert!(
            errs.iter()
                .any(|e| e.detail == "may not specify a duration less than 10 minutes")
        );
    }

    #[test]
    fn volume_attachment_source_and_immutability() {
        let va = json!({"metadata": {"name": "va"}, "spec": {"attacher": "csi.example.com", "nodeName": "n1", "source": {}}});
        let o = created(&VOLUME_ATTACHMENT_STRATEGY, va);
        let errs = VOLUME_ATTACHMENT_STRATEGY.validate(&o);
        assert!(errs.iter().any(|e| e.field == "spec.source"
            && e.detail
                == "must specify exactly one of inlineVolumeSpec and persistentVolumeName"));
        let mut ok = o.clone();
        ok["spec"]["source"] = json!({"persistentVolumeName": "pv1"});
        let mut moved = ok.clone();
        moved["spec"]["nodeName"] = json!("n2");
        let errs = VOLUME_ATTACHMENT_STRATEGY.validate_update(&moved, &ok);
        assert!(
            errs.iter()
                .any(|e| e.field == "spec" && e.detail == "field is immutable")
        );
    }

    #[test]
    fn csi_storage_capacity_validation_and_immutability() {
        let c = created(
            &CSI_STORAGE_CAPACITY_STRATEGY,
            json!({"metadata": {"name": "c1", "namespace": "ns"}, "storageClassName": "Bad_Class",
                   "capacity": "-1Gi", "nodeTopology": {"matchLabels": {"zone": "a"}}}),
        );
        let errs = CSI_STORAGE_CAPACITY_STRATEGY.validate(&c);
        assert!(errs.iter().any(|e| e.field == "storageClassName"));
        assert!(errs.iter().any(|e| e.field == "capacity"));
        let ok = created(
            &CSI_STORAGE_CAPACITY_STRATEGY,
            json!({"metadata": {"name": "c1", "namespace": "ns"}, "storageClassName": "fast",
                   "capacity": "1024Mi", "nodeTopology": {"matchLabels": {"zone": "a"}}}),
        );
        assert!(CSI_STORAGE_CAPACITY_STRATEGY.validate(&ok).is_empty());
        assert_eq!(ok["capacity"], "1Gi");
        let mut moved = ok.clone();
        moved["nodeTopology"] = json!({"matchLabels": {"zone": "b"}});
        moved["storageClassName"] = json!("slow");
        let errs: Vec<String> = CSI_STORAGE_CAPACITY_STRATEGY
            .validate_update(&moved, &ok)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert!(
            errs.iter()
                .any(|e| e.starts_with("nodeTopology: Invalid value")
                    && e.ends_with("field is immutable"))
        );
        assert!(errs.contains(
            &"storageClassName: Invalid value: \"slow\": field is immutable".to_string()
        ));
    }

    #[test]
    fn csi_node_drivers() {
        let n = json!({"metadata": {"name": "n1"}, "spec": {"drivers": [
            {"name": "csi.example.com", "nodeID": "", "topologyKeys": ["zone", "zone"]},
            {"name": "csi.example.com", "nodeID": "x"}]}});
        let o = created(&CSI_NODE_STRATEGY, n);
        let errs: Vec<String> = CSI_NODE_STRATEGY
            .validate(&o)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert!(errs.contains(&"spec.drivers[0].nodeID: Required value".to_string()));
        assert!(
            errs.contains(
                &"spec.drivers[0].topologyKeys[1]: Duplicate value: \"zone\"".to_string()
            )
        );
        assert!(
            errs.contains(
                &"spec.drivers[1].name: Duplicate value: \"csi.example.com\"".to_string()
            )
        );
    }
}
