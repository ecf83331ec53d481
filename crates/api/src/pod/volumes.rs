//! Volume validation (upstream `ValidateVolumes` / `validateVolumeSource`
//! and the per-source validators).

use std::collections::{BTreeMap, BTreeSet};

use corten_apimachinery::names::{is_dns1123_label, is_dns1123_subdomain};
use corten_apimachinery::quantity::Quantity as ParsedQuantity;
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::{
    DownwardAPIVolumeFile, KeyToPath, PersistentVolumeClaimSpec, PersistentVolumeClaimTemplate,
    ProjectedVolumeSource, Volume,
};

use super::containers::{validate_object_field_selector, validate_resource_field_selector};
use super::field_rules::shown;
use super::metadata::{validate_annotations, validate_label_selector, validate_labels};

/// Upstream `fileModeErrorMsg`.
const FILE_MODE_MSG: &str = "must be a number between 0 and 0777 (octal), both inclusive";

/// What container validation needs to know about a declared volume.
#[derive(Debug, Clone, Copy, Default)]
pub struct VolumeInfo {
    /// Backed by a PVC (`persistentVolumeClaim` or `ephemeral`): usable as a block device.
    pub is_pvc: bool,
    /// An `image` volume: no subPath allowed.
    pub is_image: bool,
}

/// The field paths of the downward API allowed in volume files.
pub const VOLUME_DOWNWARD_FIELDS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
];

/// Validates `spec.volumes`; returns the valid volumes by name.
pub fn validate_volumes(
    volumes: &[Volume],
    pod_name: Option<&str>,
    path: &Path,
    resource_is_pod: bool,
) -> (BTreeMap<String, VolumeInfo>, ErrorList) {
    let mut errs = Vec::new();
    let mut valid = BTreeMap::new();
    let created_pvcs: BTreeSet<String> = match pod_name.filter(|n| !n.is_empty()) {
        Some(pod) => volumes
            .iter()
            .filter(|v| v.ephemeral.is_some())
            .map(|v| format!("{pod}-{}", v.name))
            .collect(),
        None => BTreeSet::new(),
    };
    for (i, vol) in volumes.iter().enumerate() {
        let idx = path.index(i);
        let name_path = idx.child("name");
        let mut el =
            super::volume_sources::validate_volume_source(vol, &idx, pod_name, resource_is_pod);
        if vol.name.is_empty() {
            el.push(FieldError::required(&name_path, ""));
        } else {
            for msg in is_dns1123_label(&vol.name) {
                el.push(FieldError::invalid(&name_path, vol.name.as_str(), &msg));
            }
        }
        if valid.contains_key(&vol.name) {
            el.push(FieldError::duplicate(&name_path, vol.name.as_str()));
        }
        if el.is_empty() {
            let info = VolumeInfo {
                is_pvc: vol.persistent_volume_claim.is_some() || vol.ephemeral.is_some(),
                is_image: vol.image.is_some(),
            };
            valid.insert(vol.name.clone(), info);
        } else {
            errs.extend(el);
        }
        if let Some(claim) = vol.persistent_volume_claim.as_ref()
            && created_pvcs.contains(&claim.claim_name)
        {
            errs.push(FieldError::invalid(
                &idx.child("persistentVolumeClaim").child("claimName"),
                claim.claim_name.as_str(),
                "must not reference a PVC that gets created for an ephemeral volume",
            ));
        }
    }
    (valid, errs)
}

pub(super) fn required_str(value: &str, path: &Path, errs: &mut ErrorList) {
    if value.is_empty() {
        errs.push(FieldError::required(path, ""));
    }
}

pub(super) fn validate_mode(mode: Option<i32>, path: &Path, errs: &mut ErrorList) {
    if let Some(m) = mode
        && !(0..=0o777).contains(&m)
    {
        errs.push(FieldError::invalid(path, m, FILE_MODE_MSG));
    }
}

/// Upstream `validatePathNoBacksteps`.
pub fn validate_no_backsteps(target: &str, path: &Path) -> ErrorList {
    if target.replace('\\', "/").split('/').any(|p| p == "..") {
        vec![FieldError::invalid(path, target, "must not contain '..'")]
    } else {
        Vec::new()
    }
}

/// Upstream `validateLocalDescendingPath`: relative and without `..`.
pub fn validate_local_descending_path(target: &str, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if target.starts_with('/') {
        errs.push(FieldError::invalid(path, target, "must be a relative path"));
    }
    errs.extend(validate_no_backsteps(target, path));
    errs
}

/// Upstream `ValidateLocalNonReservedPath`.
pub fn validate_local_non_reserved_path(target: &str, path: &Path) -> ErrorList {
    let mut errs = validate_local_descending_path(target, path);
    if target.starts_with("..") && !target.starts_with("../") {
        errs.push(FieldError::invalid(
            path,
            target,
            "must not start with '..'",
        ));
    }
    errs
}

pub(super) fn validate_key_to_path(kp: &KeyToPath, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    required_str(&kp.key, &path.child("key"), &mut errs);
    required_str(&kp.path, &path.child("path"), &mut errs);
    errs.extend(validate_local_non_reserved_path(
        &kp.path,
        &path.child("path"),
    ));
    validate_mode(kp.mode, &path.child("mode"), &mut errs);
    errs
}

pub(super) fn validate_downward_file(file: &DownwardAPIVolumeFile, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    required_str(&file.path, &path.child("path"), &mut errs);
    errs.extend(validate_local_non_reserved_path(
        &file.path,
        &path.child("path"),
    ));
    match (file.field_ref.as_ref(), file.resource_field_ref.as_ref()) {
        (Some(f), r) => {
            errs.extend(validate_object_field_selector(
                f,
                VOLUME_DOWNWARD_FIELDS,
                &path.child("fieldRef"),
            ));
            if r.is_some() {
                errs.push(FieldError::invalid(
                    path,
                    "resource",
                    "fieldRef and resourceFieldRef can not be specified simultaneously",
                ));
            }
        }
        (None, Some(r)) => errs.extend(validate_resource_field_selector(
            r,
            true,
            &path.child("resourceFieldRef"),
        )),
        (None, None) => errs.push(FieldError::required(
            path,
            "one of fieldRef and resourceFieldRef is required",
        )),
    }
    validate_mode(file.mode, &path.child("mode"), &mut errs);
    errs
}

pub(super) fn validate_projected(p: &ProjectedVolumeSource, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    validate_mode(p.default_mode, &path.child("defaultMode"), &mut errs);
    let mut all_paths = BTreeSet::new();
    for (i, src) in p.sources.iter().flatten().enumerate() {
        let src_path = path.child("sources").index(i);
        let mut n = 0;
        if let Some(s) = src.secret.as_ref() {
            n += 1;
            let pp = src_path.child("secret");
            required_str(&s.name, &pp.child("name"), &mut errs);
            for (j, kp) in s.items.iter().flatten().enumerate() {
                errs.extend(validate_key_to_path(kp, &pp.child("items").index(j)));
                if !kp.path.is_empty() && !all_paths.insert(kp.path.clone()) {
                    errs.push(FieldError::invalid(
                        path,
                        s.name.as_str(),
                        "conflicting duplicate paths",
                    ));
                }
            }
        }
        if let Some(c) = src.config_map.as_ref() {
            n += 1;
            let pp = src_path.child("configMap");
            required_str(&c.name, &pp.child("name"), &mut errs);
            for (j, kp) in c.items.iter().flatten().enumerate() {
                errs.extend(validate_key_to_path(kp, &pp.child("items").index(j)));
                if !kp.path.is_empty() && !all_paths.insert(kp.path.clone()) {
                    errs.push(FieldError::invalid(
                        path,
                        c.name.as_str(),
                        "conflicting duplicate paths",
                    ));
                }
            }
        }
        if let Some(d) = src.downward_api.as_ref() {
            n += 1;
            let pp = src_path.child("downwardAPI");
            for file in d.items.iter().flatten() {
                errs.extend(validate_downward_file(file, &pp));
                if !file.path.is_empty() && !all_paths.insert(file.path.clone()) {
                    errs.push(FieldError::invalid(
                        path,
                        file.path.as_str(),
                        "conflicting duplicate paths",
                    ));
                }
            }
        }
        if let Some(t) = src.service_account_token.as_ref() {
            n += 1;
            let pp = src_path.child("serviceAccountToken");
            let secs = t.expiration_seconds.unwrap_or(0);
            if secs < 10 * 60 {
                errs.push(FieldError::invalid(
                    &pp.child("expirationSeconds"),
                    secs,
                    "may not specify a duration less than 10 minutes",
                ));
            }
            if secs > 1 << 32 {
                errs.push(FieldError::invalid(
                    &pp.child("expirationSeconds"),
                    secs,
                    "may not specify a duration larger than 2^32 seconds",
                ));
            }
            if t.path.is_empty() {
                errs.push(FieldError::required(&path.child("path"), ""));
            } else {
                errs.extend(validate_local_non_reserved_path(
                    &t.path,
                    &path.child("path"),
                ));
            }
        }
        if let Some(b) = src.cluster_trust_bundle.as_ref() {
            n += 1;
            let pp = src_path.child("clusterTrustBundle");
            match (b.name.as_ref(), b.signer_name.as_ref()) {
                (Some(_), Some(_)) => errs.push(FieldError::invalid(
                    &pp,
                    shown(b),
                    "only one of name and signerName may be used",
                )),
                (Some(name), None) => {
                    if name.is_empty() {
                        errs.push(FieldError::required(
                            &pp.child("name"),
                            "must be a valid object name",
                        ));
                    }
                    if b.label_selector.is_some() {
                        errs.push(FieldError::invalid(
                            &pp.child("labelSelector"),
                            shown(&b.label_selector),
                            "labelSelector must be unset if name is specified",
                        ));
                    }
                }
                (None, Some(signer)) => {
                    if signer.is_empty() {
                        errs.push(FieldError::required(
                            &pp.child("signerName"),
                            "must be a valid signer name",
                        ));
                    }
                    errs.extend(validate_label_selector(
                        b.label_selector.as_ref(),
                        false,
                        &pp.child("labelSelector"),
                    ));
                }
                (None, None) => errs.push(FieldError::required(
                    &pp,
                    "either name or signerName must be specified",
                )),
            }
            required_str(&b.path, &pp.child("path"), &mut errs);
            errs.extend(validate_local_non_reserved_path(&b.path, &pp.child("path")));
            if !all_paths.insert(b.path.clone()) {
                errs.push(FieldError::invalid(
                    path,
                    b.path.as_str(),
                    "conflicting duplicate paths",
                ));
            }
        }
        if n > 1 {
            errs.push(FieldError::forbidden(
                &src_path,
                "may not specify more than 1 volume type per source",
            ));
        }
    }
    errs
}

const ACCESS_MODES: &[&str] = &[
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];

/// The subset of upstream `ValidatePersistentVolumeClaimSpec` that applies
/// to claim templates: access modes, storage request, class and mode.
pub fn validate_pvc_spec(spec: &PersistentVolumeClaimSpec, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let modes = spec.access_modes.as_deref().unwrap_or_default();
    if modes.is_empty() {
        errs.push(FieldError::required(
            &path.child("accessModes"),
            "at least 1 access mode is required",
        ));
    }
    errs.extend(validate_label_selector(
        spec.selector.as_ref(),
        false,
        &path.child("selector"),
    ));
    let (mut rwop, mut other) = (false, false);
    for m in modes {
        if !ACCESS_MODES.contains(&m.as_str()) {
            errs.push(FieldError::not_supported(
                &path.child("accessModes"),
                m.as_str(),
                ACCESS_MODES,
            ));
        } else if m == "ReadWriteOncePod" {
            rwop = true;
        } else {
            other = true;
        }
    }
    if rwop && other {
        errs.push(FieldError::forbidden(
            &path.child("accessModes"),
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
    let storage_path = path.child("resources").key("storage");
    let storage = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"));
    match storage {
        None => errs.push(FieldError::required(&storage_path, "")),
        Some(q) => match ParsedQuantity::parse(&q.0) {
            Ok(p) if p.is_negative() || p.is_zero() => errs.push(FieldError::invalid(
                &storage_path,
                q.0.as_str(),
                "must be greater than zero",
            )),
            Ok(_) => {}
            Err(e) => errs.push(FieldError::invalid(
                &storage_path,
                q.0.as_str(),
                &e.to_string(),
            )),
        },
    }
    if let Some(class) = spec.storage_class_name.as_deref().filter(|c| !c.is_empty()) {
        for msg in is_dns1123_subdomain(class) {
            errs.push(FieldError::invalid(
                &path.child("storageClassName"),
                class,
                &msg,
            ));
        }
    }
    if let Some(mode) = spec.volume_mode.as_deref()
        && mode != "Block"
        && mode != "Filesystem"
    {
        errs.push(FieldError::not_supported(
            &path.child("volumeMode"),
            mode,
            &["Block", "Filesystem"],
        ));
    }
    errs
}

/// Upstream `ValidatePersistentVolumeClaimTemplate`: only labels and
/// annotations may be set in the embedded metadata.
pub fn validate_pvc_template(t: &PersistentVolumeClaimTemplate, path: &Path) -> ErrorList {
    let meta_path = path.child("metadata");
    let mut errs = Vec::new();
    if let Some(m) = t.metadata.as_ref() {
        errs.extend(validate_annotations(
            m.annotations.as_ref(),
            &meta_path.child("annotations"),
        ));
        errs.extend(validate_labels(
            m.labels.as_ref(),
            &meta_path.child("labels"),
        ));
        let set = [
            ("name", m.name.as_deref().is_some_and(|s| !s.is_empty())),
            (
                "generateName",
                m.generate_name.as_deref().is_some_and(|s| !s.is_empty()),
            ),
            (
                "namespace",
                m.namespace.as_deref().is_some_and(|s| !s.is_empty()),
            ),
            ("uid", m.uid.as_deref().is_some_and(|s| !s.is_empty())),
            (
                "finalizers",
                m.finalizers.as_ref().is_some_and(|f| !f.is_empty()),
            ),
            (
                "ownerReferences",
                m.owner_references.as_ref().is_some_and(|o| !o.is_empty()),
            ),
        ];
        for (field, is_set) in set {
            if is_set {
                errs.push(FieldError::forbidden(
                    &meta_path.child(field),
                    "cannot be set",
                ));
            }
        }
    }
    errs.extend(validate_pvc_spec(&t.spec, &path.child("spec")));
    errs
}
