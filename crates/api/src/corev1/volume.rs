//! PersistentVolumes and PersistentVolumeClaims.

use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::{
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimStatus, PersistentVolumeSpec, PersistentVolumeStatus,
};
use serde_json::Value;

use crate::kind::KindRules;
use crate::validate;

const ACCESS_MODES: &[&str] = &[
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];
const VOLUME_MODES: &[&str] = &["Block", "Filesystem"];
const RECLAIM_POLICIES: &[&str] = &["Delete", "Recycle", "Retain"];

fn validate_access_modes(modes: &[String], path: &Path, required_detail: &str) -> ErrorList {
    let mut errs = Vec::new();
    if modes.is_empty() {
        errs.push(FieldError::required(path, required_detail));
    }
    let (mut once_pod, mut other) = (false, false);
    for m in modes {
        if !ACCESS_MODES.contains(&m.as_str()) {
            errs.push(FieldError::not_supported(path, m.as_str(), ACCESS_MODES));
        } else if m == "ReadWriteOncePod" {
            once_pod = true;
        } else {
            other = true;
        }
    }
    if once_pod && other {
        errs.push(FieldError::forbidden(
            path,
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
    errs
}

/// The volume sources set on a PV spec, in upstream's checking order.
fn pv_sources(spec: &Value) -> Vec<&'static str> {
    const SOURCES: &[&str] = &[
        "hostPath",
        "gcePersistentDisk",
        "awsElasticBlockStore",
        "glusterfs",
        "flocker",
        "nfs",
        "rbd",
        "quobyte",
        "cephfs",
        "iscsi",
        "cinder",
        "fc",
        "flexVolume",
        "azureFile",
        "vsphereVolume",
        "photonPersistentDisk",
        "portworxVolume",
        "azureDisk",
        "scaleIO",
        "local",
        "storageos",
        "csi",
    ];
    SOURCES
        .iter()
        .copied()
        .filter(|s| spec.get(*s).is_some_and(|v| !v.is_null()))
        .collect()
}

/// The rules of PersistentVolume.
pub struct PersistentVolumeRules;

impl KindRules for PersistentVolumeRules {
    type Object = PersistentVolume;
    const NAMESPACED: bool = false;

    fn canonicalize(pv: &mut PersistentVolume) -> Result<(), String> {
        if let Some(spec) = pv.spec.as_mut() {
            validate::canonicalize_resource_list(spec.capacity.as_mut())?;
        }
        Ok(())
    }

    fn default(pv: &mut PersistentVolume) {
        let status = pv
            .status
            .get_or_insert_with(PersistentVolumeStatus::default);
        if status.phase.as_deref().unwrap_or_default().is_empty() {
            status.phase = Some("Pending".into());
        }
        let spec = pv.spec.get_or_insert_with(PersistentVolumeSpec::default);
        if spec
            .persistent_volume_reclaim_policy
            .as_deref()
            .unwrap_or_default()
            .is_empty()
        {
            spec.persistent_volume_reclaim_policy = Some("Retain".into());
        }
        if spec.volume_mode.is_none() {
            spec.volume_mode = Some("Filesystem".into());
        }
        if let Some(hp) = spec.host_path.as_mut()
            && hp.type_.is_none()
        {
            hp.type_ = Some(String::new());
        }
    }

    fn validate(pv: &PersistentVolume) -> ErrorList {
        let empty = PersistentVolumeSpec::default();
        let spec = pv.spec.as_ref().unwrap_or(&empty);
        let sp = Path::new("spec");
        let mut errs = validate_access_modes(
            spec.access_modes.as_deref().unwrap_or_default(),
            &sp.child("accessModes"),
            "",
        );
        let cap = spec.capacity.clone().unwrap_or_default();
        if cap.is_empty() {
            errs.push(FieldError::required(&sp.child("capacity"), ""));
        }
        if !cap.contains_key("storage") || cap.len() > 1 {
            errs.push(FieldError::not_supported(
                &sp.child("capacity"),
                serde_json::to_value(&cap).unwrap_or(Value::Null),
                &["storage"],
            ));
        }
        for (k, q) in &cap {
            let p = sp.child("capacity").key(k);
            errs.extend(validate::resource_quantity_value(k, q, &p));
            errs.extend(validate::positive_quantity(q, &p));
        }
        if let Some(policy) = spec.persistent_volume_reclaim_policy.as_deref() {
            errs.extend(validate::one_of(
                policy,
                RECLAIM_POLICIES,
                false,
                &sp.child("persistentVolumeReclaimPolicy"),
            ));
        }
        if let Some(class) = spec.storage_class_name.as_deref().filter(|c| !c.is_empty()) {
            errs.extend(validate::dns1123_subdomain(
                class,
                &sp.child("storageClassName"),
            ));
        }
        if let Some(mode) = spec.volume_mode.as_deref() {
            errs.extend(validate::one_of(
                mode,
                VOLUME_MODES,
                true,
                &sp.child("volumeMode"),
            ));
        }
        let spec_json = serde_json::to_value(spec).unwrap_or(Value::Null);
        let sources = pv_sources(&spec_json);
        match sources.as_slice() {
            [] => errs.push(FieldError::required(&sp, "must specify a volume type")),
            [_] => {}
            [_, rest @ ..] => {
                for s in rest {
                    errs.push(FieldError::forbidden(
                        &sp.child(s),
                        "may not specify more than 1 volume type",
                    ));
                }
            }
        }
        if let Some(hp) = spec.host_path.as_ref()
            && hp.path.is_empty()
        {
            errs.push(FieldError::required(
                &sp.child("hostPath").child("path"),
                "",
            ));
        }
        if let Some(local) = spec.local.as_ref() {
            if local.path.is_empty() {
                errs.push(FieldError::required(&sp.child("local").child("path"), ""));
            }
            if spec.node_affinity.is_none() {
                errs.push(FieldError::required(
                    &sp.child("nodeAffinity"),
                    "Local volume requires node affinity",
                ));
            }
        }
        if let Some(nfs) = spec.nfs.as_ref() {
            let np = sp.child("nfs");
            if nfs.server.is_empty() {
                errs.push(FieldError::required(&np.child("server"), ""));
            }
            if nfs.path.is_empty() {
                errs.push(FieldError::required(&np.child("path"), ""));
            } else if !nfs.path.starts_with('/') {
                errs.push(FieldError::invalid(
                    &np.child("path"),
                    nfs.path.as_str(),
                    "must be an absolute path",
                ));
            }
        }
        if let Some(csi) = spec.csi.as_ref() {
            let cp = sp.child("csi");
            if csi.driver.is_empty() {
                errs.push(FieldError::required(&cp.child("driver"), ""));
            }
            if csi.volume_handle.is_empty() {
                errs.push(FieldError::required(&cp.child("volumeHandle"), ""));
            }
        }
        errs
    }

    fn validate_update(new: &PersistentVolume, old: &PersistentVolume) -> ErrorList {
        let mut errs = Self::validate(new);
        let empty = PersistentVolumeSpec::default();
        let ns = new.spec.as_ref().unwrap_or(&empty);
        let os = old.spec.as_ref().unwrap_or(&empty);
        let nj = serde_json::to_value(ns).unwrap_or(Value::Null);
        let oj = serde_json::to_value(os).unwrap_or(Value::Null);
        let changed = pv_sources(&nj) != pv_sources(&oj)
            || pv_sources(&oj).iter().any(|s| nj.get(*s) != oj.get(*s));
        if changed {
            errs.push(FieldError::forbidden(
                &Path::new("spec").child("persistentvolumesource"),
                "spec.persistentvolumesource is immutable after creation",
            ));
        }
        errs.extend(validate::immutable(
            &ns.volume_mode,
            &os.volume_mode,
            &Path::new("volumeMode"),
        ));
        if os.node_affinity.is_some() {
            errs.extend(validate::immutable(
                &ns.node_affinity,
                &os.node_affinity,
                &Path::new("nodeAffinity"),
            ));
        }
        errs
    }

    fn validate_status_update(new: &PersistentVolume, _old: &PersistentVolume) -> ErrorList {
        let phase = new
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or_default();
        validate::one_of(
            phase,
            &["Available", "Bound", "Failed", "Pending", "Released"],
            false,
            &Path::new("status").child("phase"),
        )
    }
}

/// The rules of PersistentVolumeClaim.
pub struct PersistentVolumeClaimRules;

fn storage_request(
    spec: &PersistentVolumeClaimSpec,
) -> Option<&k8s_openapi::apimachinery::pkg::api::resource::Quantity> {
    spec.resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
}

impl KindRules for PersistentVolumeClaimRules {
    type Object = PersistentVolumeClaim;
    const NAMESPACED: bool = true;

    fn canonicalize(pvc: &mut PersistentVolumeClaim) -> Result<(), String> {
        if let Some(res) = pvc.spec.as_mut().and_then(|s| s.resources.as_mut()) {
            validate::canonicalize_resource_list(res.requests.as_mut())?;
            validate::canonicalize_resource_list(res.limits.as_mut())?;
        }
        if let Some(status) = pvc.status.as_mut() {
            validate::canonicalize_resource_list(status.capacity.as_mut())?;
            validate::canonicalize_resource_list(status.allocated_resources.as_mut())?;
        }
        Ok(())
    }

    fn default(pvc: &mut PersistentVolumeClaim) {
        let status = pvc
            .status
            .get_or_insert_with(PersistentVolumeClaimStatus::default);
        if status.phase.as_deref().unwrap_or_default().is_empty() {
            status.phase = Some("Pending".into());
        }
        let spec = pvc
            .spec
            .get_or_insert_with(PersistentVolumeClaimSpec::default);
        if spec.volume_mode.is_none() {
            spec.volume_mode = Some("Filesystem".into());
        }
    }

    fn validate(pvc: &PersistentVolumeClaim) -> ErrorList {
        let empty = PersistentVolumeClaimSpec::default();
        let spec = pvc.spec.as_ref().unwrap_or(&empty);
        let sp = Path::new("spec");
        let mut errs = validate_access_modes(
            spec.access_modes.as_deref().unwrap_or_default(),
            &sp.child("accessModes"),
            "at least 1 access mode is required",
        );
        errs.extend(validate::label_selector(
            spec.selector.as_ref(),
            &sp.child("selector"),
        ));
        let rp = sp.child("resources").key("storage");
        match storage_request(spec) {
            None => errs.push(FieldError::required(&rp, "")),
            Some(q) => {
                let pos = validate::positive_quantity(q, &rp);
                if pos.is_empty() {
                    errs.extend(validate::resource_quantity_value("storage", q, &rp));
                } else {
                    errs.extend(pos);
                }
            }
        }
        if let Some(class) = spec.storage_class_name.as_deref().filter(|c| !c.is_empty()) {
            errs.extend(validate::dns1123_subdomain(
                class,
                &sp.child("storageClassName"),
            ));
        }
        if let Some(mode) = spec.volume_mode.as_deref() {
            errs.extend(validate::one_of(
                mode,
                VOLUME_MODES,
                true,
                &sp.child("volumeMode"),
            ));
        }
        if let Some(ds) = spec.data_source.as_ref() {
            let dp = sp.child("dataSource");
            if ds.name.is_empty() {
                errs.push(FieldError::required(&dp.child("name"), ""));
            }
            if ds.kind.is_empty() {
                errs.push(FieldError::required(&dp.child("kind"), ""));
            }
        }
        errs
    }

    fn validate_update(new: &PersistentVolumeClaim, old: &PersistentVolumeClaim) -> ErrorList {
        let mut errs = Self::validate(new);
        let empty = PersistentVolumeClaimSpec::default();
        let ns = new.spec.as_ref().unwrap_or(&empty);
        let os = old.spec.as_ref().unwrap_or(&empty);
        let bound = new.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");

        // Compare the specs without the fields an update may change: the
        // volume name once, the storage request of bound claims, and the
        // volume attributes class.
        let mut n = ns.clone();
        let mut o = os.clone();
        if o.volume_name.as_deref().unwrap_or_default().is_empty() {
            o.volume_name.clone_from(&n.volume_name);
        }
        n.volume_attributes_class_name
            .clone_from(&o.volume_attributes_class_name);
        // Upstream's retroactive default class: a claim created without
        // any class may get one (non-empty) later, once.
        let old_beta_class = old
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("volume.beta.kubernetes.io/storage-class"));
        if !old_beta_class
            && o.storage_class_name.is_none()
            && n.storage_class_name
                .as_deref()
                .is_some_and(|c| !c.is_empty())
        {
            n.storage_class_name = None;
        }
        if bound && let Some(reqs) = n.resources.as_mut().and_then(|r| r.requests.as_mut()) {
            match storage_request(os) {
                Some(q) => {
                    reqs.insert("storage".into(), q.clone());
                }
                None => {
                    reqs.remove("storage");
                }
            }
        }
        if n != o {
            errs.push(FieldError::forbidden(
                &Path::new("spec"),
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
            ));
        }
        let parse = |q: Option<&k8s_openapi::apimachinery::pkg::api::resource::Quantity>| {
            q.and_then(validate::parse_quantity)
        };
        if let (Some(new_size), Some(old_size)) =
            (parse(storage_request(ns)), parse(storage_request(os)))
            && new_size.cmp_value(&old_size) == std::cmp::Ordering::Less
        {
            // Shrinking is allowed down to (not including) the recorded
            // capacity, to recover from failed expansions.
            let capacity = parse(
                old.status
                    .as_ref()
                    .and_then(|s| s.capacity.as_ref())
                    .and_then(|c| c.get("storage")),
            );
            let too_small = capacity
                .as_ref()
                .is_some_and(|c| new_size.cmp_value(c) != std::cmp::Ordering::Greater);
            if too_small {
                errs.push(FieldError::forbidden(
                    &Path::new("spec")
                        .child("resources")
                        .child("requests")
                        .child("storage"),
                    "field can not be less than status.capacity",
                ));
            }
        }
        errs.extend(validate::immutable(
            &ns.volume_mode,
            &os.volume_mode,
            &Path::new("volumeMode"),
        ));
        errs
    }

    fn validate_status_update(
        new: &PersistentVolumeClaim,
        _old: &PersistentVolumeClaim,
    ) -> ErrorList {
        let mut errs = Vec::new();
        let Some(status) = new.status.as_ref() else {
            return errs;
        };
        let sp = Path::new("status");
        for m in status.access_modes.iter().flatten() {
            if !ACCESS_MODES.contains(&m.as_str()) {
                errs.push(FieldError::not_supported(
                    &sp.child("accessModes"),
                    m.as_str(),
                    ACCESS_MODES,
                ));
            }
        }
        for (field, list) in [
            ("capacity", status.capacity.as_ref()),
            ("allocatedResources", status.allocated_resources.as_ref()),
        ] {
            for (k, q) in list.into_iter().flatten() {
                errs.extend(validate::resource_quantity_value(
                    k,
                    q,
                    &sp.child(field).key(k),
                ));
            }
        }
        errs
    }
}
