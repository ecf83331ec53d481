//! Which PersistentVolume a claim may bind to (upstream
//! `FindMatchingVolume` and `checkVolumeSatisfyClaim`), without I/O.
//!
//! A volume fits a claim when it is not being deleted, has the same
//! `volumeMode`, at least the requested `storage`, the same storage class,
//! every requested access mode, and labels the claim's selector accepts.
//! Among fitting volumes the smallest wins; a volume pre-bound to the claim
//! (its `claimRef` names the claim) wins over everything else.

use corten_apimachinery::quantity::Quantity;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};

use crate::framework::selector::Selector;

/// The beta annotation that named the class before `storageClassName`.
pub const BETA_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

/// The claim's storage class (upstream `GetPersistentVolumeClaimClass`):
/// the beta annotation wins, then `spec.storageClassName`, else `""`.
pub fn claim_class(claim: &PersistentVolumeClaim) -> String {
    if let Some(class) = claim
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(BETA_STORAGE_CLASS_ANNOTATION))
    {
        return class.clone();
    }
    claim
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.clone())
        .unwrap_or_default()
}

/// The volume's storage class (upstream `GetPersistentVolumeClass`).
pub fn volume_class(volume: &PersistentVolume) -> String {
    if let Some(class) = volume
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(BETA_STORAGE_CLASS_ANNOTATION))
    {
        return class.clone();
    }
    volume
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.clone())
        .unwrap_or_default()
}

/// `spec.resources.requests.storage` of the claim in bytes (absent: 0).
pub fn requested_storage(claim: &PersistentVolumeClaim) -> i64 {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .and_then(|q| Quantity::parse(&q.0).ok())
        .map_or(0, |q| q.value())
}

/// `spec.capacity.storage` of the volume in bytes (absent: 0).
pub fn volume_storage(volume: &PersistentVolume) -> i64 {
    volume
        .spec
        .as_ref()
        .and_then(|s| s.capacity.as_ref())
        .and_then(|c| c.get("storage"))
        .and_then(|q| Quantity::parse(&q.0).ok())
        .map_or(0, |q| q.value())
}

fn claim_volume_mode(claim: &PersistentVolumeClaim) -> &str {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_mode.as_deref())
        .unwrap_or("Filesystem")
}

fn volume_mode(volume: &PersistentVolume) -> &str {
    volume
        .spec
        .as_ref()
        .and_then(|s| s.volume_mode.as_deref())
        .unwrap_or("Filesystem")
}

/// Whether the volume offers every access mode the claim asks for.
pub fn access_modes_satisfied(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let offered = volume
        .spec
        .as_ref()
        .and_then(|s| s.access_modes.as_deref())
        .unwrap_or_default();
    claim
        .spec
        .as_ref()
        .and_then(|s| s.access_modes.as_deref())
        .unwrap_or_default()
        .iter()
        .all(|mode| offered.contains(mode))
}

/// Whether the volume's `claimRef` names this claim (upstream
/// `IsVolumeBoundToClaim`): same namespace and name, and the same UID
/// unless the reference carries none (pre-bound by a user).
pub fn is_volume_bound_to_claim(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let Some(claim_ref) = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else {
        return false;
    };
    if claim_ref.name != claim.metadata.name || claim_ref.namespace != claim.metadata.namespace {
        return false;
    }
    match claim_ref.uid.as_deref() {
        None | Some("") => true,
        Some(uid) => claim.metadata.uid.as_deref() == Some(uid),
    }
}

/// Why a volume named by the claim's `volumeName` cannot serve it
/// (upstream `checkVolumeSatisfyClaim`); the text goes into the
/// `VolumeMismatch` event.
pub fn check_volume_satisfies_claim(
    volume: &PersistentVolume,
    claim: &PersistentVolumeClaim,
) -> Result<(), String> {
    let requested = requested_storage(claim);
    let capacity = volume_storage(volume);
    if capacity < requested {
        return Err("requested PV is too small".to_string());
    }
    if volume_class(volume) != claim_class(claim) {
        return Err("storageClassName does not match".to_string());
    }
    if volume_mode(volume) != claim_volume_mode(claim) {
        return Err("incompatible volumeMode".to_string());
    }
    if !access_modes_satisfied(volume, claim) {
        return Err("incompatible accessMode".to_string());
    }
    Ok(())
}

/// The best volume for the claim among `volumes`, or `None`.
/// `delay_binding`: the claim's class waits for a consumer and no node is
/// selected yet, so only a volume pre-bound to the claim may be chosen.
pub fn find_best_match<'a>(
    claim: &PersistentVolumeClaim,
    volumes: impl IntoIterator<Item = &'a PersistentVolume>,
    delay_binding: bool,
) -> Option<&'a PersistentVolume> {
    let requested = requested_storage(claim);
    let class = claim_class(claim);
    let selector = claim
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .map(|s| Selector::from_label_selector(Some(s)));
    let selector = match selector {
        // An invalid selector selects nothing (upstream returns an error).
        Some(Err(_)) => return None,
        Some(Ok(selector)) => Some(selector),
        None => None,
    };
    let mode = claim_volume_mode(claim);
    let mut best: Option<(&PersistentVolume, i64)> = None;
    for volume in volumes {
        if volume.metadata.deletion_timestamp.is_some() || volume_mode(volume) != mode {
            continue;
        }
        let capacity = volume_storage(volume);
        if is_volume_bound_to_claim(volume, claim) {
            // Pre-bound to this claim: it wins if it can serve it at all.
            if capacity < requested || volume_class(volume) != class {
                continue;
            }
            return Some(volume);
        }
        if delay_binding {
            continue;
        }
        let spec = volume.spec.as_ref();
        if spec.and_then(|s| s.claim_ref.as_ref()).is_some() {
            continue;
        }
        let phase = volume.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Released" | "Failed")) {
            continue;
        }
        if capacity < requested {
            continue;
        }
        if let Some(selector) = &selector
            && !selector.matches(volume.metadata.labels.as_ref())
        {
            continue;
        }
        if volume_class(volume) != class || !access_modes_satisfied(volume, claim) {
            continue;
        }
        let smaller = best.as_ref().is_none_or(|(_, size)| capacity < *size);
        if smaller {
            best = Some((volume, capacity));
        }
    }
    best.map(|(volume, _)| volume)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pv(name: &str, size: &str, class: &str, modes: &[&str]) -> PersistentVolume {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"tier": "fast"}},
            "spec": {"capacity": {"storage": size}, "accessModes": modes,
                     "storageClassName": class, "hostPath": {"path": "/tmp/x"}},
            "status": {"phase": "Available"}
        }))
        .unwrap()
    }

    fn pvc(size: &str, class: Option<&str>, modes: &[&str]) -> PersistentVolumeClaim {
        let mut spec = json!({"accessModes": modes, "resources": {"requests": {"storage": size}}});
        if let Some(class) = class {
            spec["storageClassName"] = json!(class);
        }
        serde_json::from_value(json!({
            "metadata": {"name": "data", "namespace": "ns", "uid": "u1"},
            "spec": spec
        }))
        .unwrap()
    }

    fn names(v: Option<&PersistentVolume>) -> Option<&str> {
        v.and_then(|v| v.metadata.name.as_deref())
    }

    #[test]
    fn smallest_fitting_volume_wins() {
        let volumes = [
            pv("big", "10Gi", "", &["ReadWriteOnce"]),
            pv("small", "1Gi", "", &["ReadWriteOnce"]),
            pv("tiny", "500Mi", "", &["ReadWriteOnce"]),
            pv("mid", "2Gi", "", &["ReadWriteOnce", "ReadOnlyMany"]),
        ];
        let claim = pvc("1Gi", Some(""), &["ReadWriteOnce"]);
        assert_eq!(
            names(find_best_match(&claim, &volumes, false)),
            Some("small")
        );
        let claim = pvc("1Gi", Some(""), &["ReadOnlyMany"]);
        assert_eq!(names(find_best_match(&claim, &volumes, false)), Some("mid"));
        let claim = pvc("20Gi", Some(""), &["ReadWriteOnce"]);
        assert_eq!(names(find_best_match(&claim, &volumes, false)), None);
    }

    #[test]
    fn class_selector_and_mode_must_match() {
        let volumes = [
            pv("gold", "1Gi", "gold", &["ReadWriteOnce"]),
            pv("plain", "1Gi", "", &["ReadWriteOnce"]),
        ];
        let claim = pvc("1Gi", Some("gold"), &["ReadWriteOnce"]);
        assert_eq!(
            names(find_best_match(&claim, &volumes, false)),
            Some("gold")
        );
        // No class at all matches only class-less volumes.
        let claim = pvc("1Gi", None, &["ReadWriteOnce"]);
        assert_eq!(
            names(find_best_match(&claim, &volumes, false)),
            Some("plain")
        );
        let mut claim = pvc("1Gi", Some(""), &["ReadWriteOnce"]);
        claim.spec.as_mut().unwrap().selector =
            Some(serde_json::from_value(json!({"matchLabels": {"tier": "slow"}})).unwrap());
        assert_eq!(names(find_best_match(&claim, &volumes, false)), None);
        claim.spec.as_mut().unwrap().selector =
            Some(serde_json::from_value(json!({"matchLabels": {"tier": "fast"}})).unwrap());
        assert_eq!(
            names(find_best_match(&claim, &volumes, false)),
            Some("plain")
        );
        claim.spec.as_mut().unwrap().volume_mode = Some("Block".into());
        assert_eq!(names(find_best_match(&claim, &volumes, false)), None);
    }

    #[test]
    fn bound_released_and_deleting_volumes_are_skipped() {
        let mut bound = pv("bound", "1Gi", "", &["ReadWriteOnce"]);
        bound.spec.as_mut().unwrap().claim_ref = Some(
            serde_json::from_value(json!({"namespace": "ns", "name": "other", "uid": "u2"}))
                .unwrap(),
        );
        let mut released = pv("released", "1Gi", "", &["ReadWriteOnce"]);
        released.status.as_mut().unwrap().phase = Some("Released".into());
        let mut deleting = pv("deleting", "1Gi", "", &["ReadWriteOnce"]);
        deleting.metadata.deletion_timestamp =
            Some(serde_json::from_value(json!("2024-01-01T00:00:00Z")).unwrap());
        let claim = pvc("1Gi", Some(""), &["ReadWriteOnce"]);
        let volumes = [bound, released, deleting];
        assert_eq!(names(find_best_match(&claim, &volumes, false)), None);
    }

    #[test]
    fn pre_bound_volume_wins_even_when_delayed() {
        let mut pre = pv("pre", "5Gi", "", &["ReadWriteOnce"]);
        pre.spec.as_mut().unwrap().claim_ref =
            Some(serde_json::from_value(json!({"namespace": "ns", "name": "data"})).unwrap());
        let volumes = [pv("small", "1Gi", "", &["ReadWriteOnce"]), pre];
        let claim = pvc("1Gi", Some(""), &["ReadWriteOnce"]);
        assert_eq!(names(find_best_match(&claim, &volumes, false)), Some("pre"));
        assert_eq!(names(find_best_match(&claim, &volumes, true)), Some("pre"));
        assert_eq!(names(find_best_match(&claim, &volumes[..1], true)), None);
        // A claimRef with another UID is someone else's.
        let mut other = volumes[1].clone();
        other.spec.as_mut().unwrap().claim_ref.as_mut().unwrap().uid = Some("zzz".into());
        assert!(!is_volume_bound_to_claim(&other, &claim));
    }

    #[test]
    fn explicit_volume_is_checked() {
        let volume = pv("v", "1Gi", "gold", &["ReadWriteOnce"]);
        assert_eq!(
            check_volume_satisfies_claim(&volume, &pvc("2Gi", Some("gold"), &["ReadWriteOnce"])),
            Err("requested PV is too small".into())
        );
        assert_eq!(
            check_volume_satisfies_claim(&volume, &pvc("1Gi", Some(""), &["ReadWriteOnce"])),
            Err("storageClassName does not match".into())
        );
        assert_eq!(
            check_volume_satisfies_claim(&volume, &pvc("1Gi", Some("gold"), &["ReadWriteMany"])),
            Err("incompatible accessMode".into())
        );
        assert!(
            check_volume_satisfies_claim(&volume, &pvc("1G", Some("gold"), &["ReadWriteOnce"]))
                .is_ok()
        );
    }
}
