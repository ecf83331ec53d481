//! StorageObjectInUseProtection: every new PersistentVolumeClaim gets the
//! `kubernetes.io/pvc-protection` finalizer and every new PersistentVolume
//! `kubernetes.io/pv-protection`, so neither disappears while a pod uses
//! the claim or a claim is bound to the volume. The controller-manager's
//! `pvc-protection` and `pv-protection` controllers remove them once that
//! is no longer so.

use serde_json::{Value, json};

use super::{Operation, Request};

/// The finalizer on claims.
pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
/// The finalizer on volumes.
pub const PV_PROTECTION: &str = "kubernetes.io/pv-protection";

/// Adds the protection finalizer to a claim or volume being created.
pub fn admit(req: &Request<'_>, obj: &mut Value) {
    if req.operation != Operation::Create {
        return;
    }
    let finalizer = if req.is("", "persistentvolumeclaims") {
        PVC_PROTECTION
    } else if req.is("", "persistentvolumes") {
        PV_PROTECTION
    } else {
        return;
    };
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let md = root.entry("metadata").or_insert_with(|| json!({}));
    let Some(md) = md.as_object_mut() else {
        return;
    };
    let list = md.entry("finalizers").or_insert_with(|| json!([]));
    if list.is_null() {
        *list = json!([]);
    }
    let Some(list) = list.as_array_mut() else {
        return;
    };
    if !list.iter().any(|f| f.as_str() == Some(finalizer)) {
        list.push(json!(finalizer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::UserInfo;

    fn req<'a>(user: &'a UserInfo, resource: &'a str, operation: Operation) -> Request<'a> {
        Request {
            user,
            operation,
            group: "",
            resource,
            subresource: "",
            namespace: "",
            name: "x",
            dry_run: false,
        }
    }

    #[test]
    fn claims_and_volumes_get_their_finalizer_once() {
        let user = UserInfo::default();
        let mut pvc = json!({"metadata": {"name": "c", "finalizers": ["example.com/keep"]}});
        admit(
            &req(&user, "persistentvolumeclaims", Operation::Create),
            &mut pvc,
        );
        assert_eq!(
            pvc["metadata"]["finalizers"],
            json!(["example.com/keep", PVC_PROTECTION])
        );
        admit(
            &req(&user, "persistentvolumeclaims", Operation::Create),
            &mut pvc,
        );
        assert_eq!(pvc["metadata"]["finalizers"].as_array().unwrap().len(), 2);
        let mut pv = json!({"spec": {}});
        admit(&req(&user, "persistentvolumes", Operation::Create), &mut pv);
        assert_eq!(pv["metadata"]["finalizers"], json!([PV_PROTECTION]));
    }

    #[test]
    fn updates_and_other_kinds_are_left_alone() {
        let user = UserInfo::default();
        let mut pvc = json!({"metadata": {"name": "c"}});
        admit(
            &req(&user, "persistentvolumeclaims", Operation::Update),
            &mut pvc,
        );
        admit(&req(&user, "configmaps", Operation::Create), &mut pvc);
        assert_eq!(pvc, json!({"metadata": {"name": "c"}}));
    }
}
