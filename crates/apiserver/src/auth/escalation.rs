//! RBAC escalation prevention: a user may only write a Role or ClusterRole
//! granting permissions they already hold (or with the `escalate` verb on
//! it), and only bind a role whose permissions they hold (or with the
//! `bind` verb on it). Members of `system:masters` are exempt.

use corten_apimachinery::{GroupResource, StatusError};
use serde_json::Value;

use super::authz::rules::{PolicyRule, compact_string, uncovered};
use super::authz::{Attributes, Authorizer};
use super::{SYSTEM_PRIVILEGED_GROUP, UserInfo};
use crate::registry::Registry;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

fn gr(resource: &str) -> GroupResource {
    GroupResource::new(RBAC_GROUP, resource)
}

fn may(reg: &Registry, authz: &Authorizer, a: Attributes) -> bool {
    authz.authorize(reg, &a).allowed()
}

fn escalation_error(
    resource: &str,
    name: &str,
    user: &UserInfo,
    missing: &[PolicyRule],
) -> StatusError {
    let groups = user
        .groups
        .iter()
        .map(|g| format!("{g:?}"))
        .collect::<Vec<_>>()
        .join(" ");
    let rules = missing
        .iter()
        .map(compact_string)
        .collect::<Vec<_>>()
        .join("\n");
    StatusError::forbidden(
        &gr(resource),
        name,
        &format!(
            "user {:?} (groups=[{groups}]) is attempting to grant RBAC permissions not currently held:\n{rules}",
            user.name
        ),
    )
}

/// Checks a Role (`namespace` set) or ClusterRole about to be written.
pub fn check_role(
    reg: &Registry,
    authz: &Authorizer,
    user: &UserInfo,
    namespace: &str,
    obj: &Value,
) -> Result<(), StatusError> {
    if !authz.uses_rbac() || user.in_group(SYSTEM_PRIVILEGED_GROUP) {
        return Ok(());
    }
    let resource = if namespace.is_empty() {
        "clusterroles"
    } else {
        "roles"
    };
    let name = corten_apimachinery::meta::name(obj).unwrap_or_default();
    if may(
        reg,
        authz,
        Attributes::resource(user, "escalate", RBAC_GROUP, resource, namespace, name),
    ) {
        return Ok(());
    }
    if obj.get("aggregationRule").is_some_and(|a| !a.is_null()) {
        return Err(StatusError::forbidden(
            &gr(resource),
            name,
            "must have cluster-admin privileges to use the aggregationRule",
        ));
    }
    let wanted = PolicyRule::list_from(obj);
    let held = authz.rbac.rules_for(reg, user, namespace);
    let missing = uncovered(&held, &wanted);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(escalation_error(resource, name, user, &missing))
    }
}

/// Checks a RoleBinding (`namespace` set) or ClusterRoleBinding about to be
/// written.
pub fn check_binding(
    reg: &Registry,
    authz: &Authorizer,
    user: &UserInfo,
    namespace: &str,
    obj: &Value,
) -> Result<(), StatusError> {
    if !authz.uses_rbac() || user.in_group(SYSTEM_PRIVILEGED_GROUP) {
        return Ok(());
    }
    let resource = if namespace.is_empty() {
        "clusterrolebindings"
    } else {
        "rolebindings"
    };
    let name = corten_apimachinery::meta::name(obj).unwrap_or_default();
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
    let (kind, role) = (s("/roleRef/kind"), s("/roleRef/name"));
    let role_resource = if kind == "Role" {
        "roles"
    } else {
        "clusterroles"
    };
    if may(
        reg,
        authz,
        Attributes::resource(user, "bind", RBAC_GROUP, role_resource, namespace, role),
    ) {
        return Ok(());
    }
    let snap = authz.rbac.snapshot(reg);
    let rules = match kind {
        "Role" => snap.role(namespace, role).map(|r| r.to_vec()),
        _ => snap.effective.get(role).map(|r| r.to_vec()),
    };
    let Some(rules) = rules else {
        return Err(StatusError::forbidden(
            &gr(resource),
            name,
            &format!("{} {role:?} not found", gr(role_resource)),
        ));
    };
    let held = snap.rules_for(user, namespace);
    let missing = uncovered(&held, &rules);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(escalation_error(resource, name, user, &missing))
    }
}
