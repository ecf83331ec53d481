//! Nodes: pod CIDRs (valid, dual-stack, immutable once set), taints,
//! provider ID, and the `spec.unschedulable` field selector.

use std::collections::HashSet;

use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::{Node, NodeSpec, Taint, Toleration};
use serde_json::Value;

use crate::kind::KindRules;
use crate::validate;

const TAINT_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];
const POD_CIDR_MSG: &str = "node updates may not change podCIDR except from \"\" to valid";

/// The rules of Node.
pub struct NodeRules;

impl KindRules for NodeRules {
    type Object = Node;
    const NAMESPACED: bool = false;
    /// Kubelets register nodes with their status.
    const STATUS_ON_CREATE: bool = true;

    /// Keeps the legacy `podCIDR` and the list `podCIDRs` in step, as
    /// upstream's v1 conversion does.
    fn canonicalize(node: &mut Node) -> Result<(), String> {
        if let Some(spec) = node.spec.as_mut() {
            let list = spec.pod_cidrs.clone().unwrap_or_default();
            match (list.first(), spec.pod_cidr.as_deref()) {
                (Some(first), _) => spec.pod_cidr = Some(first.clone()),
                (None, Some(single)) if !single.is_empty() => {
                    spec.pod_cidrs = Some(vec![single.to_string()]);
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn default(node: &mut Node) {
        if let Some(status) = node.status.as_mut()
            && status.allocatable.is_none()
            && status.capacity.is_some()
        {
            status.allocatable.clone_from(&status.capacity);
        }
    }

    fn validate(node: &Node) -> ErrorList {
        let mut errs = Vec::new();
        let empty = NodeSpec::default();
        let spec = node.spec.as_ref().unwrap_or(&empty);
        // Upstream reports taint problems under `metadata.taints`.
        errs.extend(validate_taints(
            spec.taints.as_deref().unwrap_or_default(),
            &Path::new("metadata").child("taints"),
        ));
        errs.extend(validate_resources(node));
        let cidrs = spec.pod_cidrs.as_deref().unwrap_or_default();
        let path = Path::new("spec").child("podCIDRs");
        for (i, c) in cidrs.iter().enumerate() {
            errs.extend(validate::cidr(c, &path.index(i)));
        }
        if cidrs.len() > 1 {
            let v6: Vec<bool> = cidrs
                .iter()
                .map(|c| validate::is_ipv6(c.split('/').next().unwrap_or_default()))
                .collect();
            if cidrs.len() > 2 || v6[0] == v6[1] {
                errs.push(FieldError::invalid(
                    &path,
                    serde_json::to_value(cidrs).unwrap_or(Value::Null),
                    "may specify no more than one CIDR for each IP family",
                ));
            }
            let mut seen = HashSet::new();
            for (i, c) in cidrs.iter().enumerate() {
                if !seen.insert(c) {
                    errs.push(FieldError::duplicate(&path.index(i), c.as_str()));
                }
            }
        }
        errs
    }

    fn validate_update(new: &Node, old: &Node) -> ErrorList {
        let mut errs = Vec::new();
        let empty = NodeSpec::default();
        let ns = new.spec.as_ref().unwrap_or(&empty);
        let os = old.spec.as_ref().unwrap_or(&empty);
        errs.extend(validate_resources(new));
        let mut seen = HashSet::new();
        for (i, a) in new
            .status
            .iter()
            .flat_map(|s| s.addresses.iter().flatten())
            .enumerate()
        {
            if !seen.insert((a.type_.clone(), a.address.clone())) {
                errs.push(FieldError::duplicate(
                    &Path::new("status").child("addresses").index(i),
                    serde_json::json!({"type": a.type_, "address": a.address}),
                ));
            }
        }
        let old_cidrs = os.pod_cidrs.as_deref().unwrap_or_default();
        let new_cidrs = ns.pod_cidrs.as_deref().unwrap_or_default();
        if !old_cidrs.is_empty() && old_cidrs != new_cidrs {
            errs.push(FieldError::forbidden(
                &Path::new("spec").child("podCIDRs"),
                POD_CIDR_MSG,
            ));
        }
        let old_provider = os.provider_id.as_deref().unwrap_or_default();
        if !old_provider.is_empty() && Some(old_provider) != ns.provider_id.as_deref() {
            errs.push(FieldError::forbidden(
                &Path::new("spec").child("providerID"),
                "node updates may not change providerID except from \"\" to valid",
            ));
        }
        errs.extend(validate_taints(
            ns.taints.as_deref().unwrap_or_default(),
            &Path::new("metadata").child("taints"),
        ));
        if ns.external_id != os.external_id {
            errs.push(FieldError::forbidden(
                &Path::new("spec").child("externalID"),
                "may not be updated",
            ));
        }
        // Newly set pod CIDRs must be valid too.
        if old_cidrs.is_empty() {
            let path = Path::new("spec").child("podCIDRs");
            for (i, c) in new_cidrs.iter().enumerate() {
                errs.extend(validate::cidr(c, &path.index(i)));
            }
        }
        errs
    }

    fn validate_status_update(new: &Node, old: &Node) -> ErrorList {
        Self::validate_update(new, old)
    }

    fn field_labels() -> &'static [&'static str] {
        &["spec.unschedulable"]
    }

    fn field_attrs(node: &Node) -> Vec<(String, String)> {
        let unschedulable = node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        vec![("spec.unschedulable".into(), unschedulable.to_string())]
    }
}

/// Upstream `validateNodeTaints`: valid key, value and effect, unique per
/// (key, effect).
pub fn validate_taints(taints: &[Taint], path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let mut seen = HashSet::new();
    for (i, t) in taints.iter().enumerate() {
        let p = path.index(i);
        errs.extend(validate::qualified_name(&t.key, &p.child("key")));
        let value = t.value.as_deref().unwrap_or_default();
        let msgs = corten_apimachinery::names::is_valid_label_value(value);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(
                &p.child("value"),
                value,
                &msgs.join(";"),
            ));
        }
        if t.effect.is_empty() {
            errs.push(FieldError::required(&p.child("effect"), ""));
        } else if !TAINT_EFFECTS.contains(&t.effect.as_str()) {
            errs.push(FieldError::not_supported(
                &p.child("effect"),
                t.effect.as_str(),
                TAINT_EFFECTS,
            ));
        }
        if !seen.insert((t.key.clone(), t.effect.clone())) {
            let mut e = FieldError::duplicate(&p, serde_json::to_value(t).unwrap_or(Value::Null));
            e.detail = "taints must be unique by key and effect pair".into();
            errs.push(e);
        }
    }
    errs
}

/// Capacity and allocatable quantities must not be negative.
fn validate_resources(node: &Node) -> ErrorList {
    let mut errs = Vec::new();
    let Some(status) = node.status.as_ref() else {
        return errs;
    };
    for (field, list) in [
        ("capacity", status.capacity.as_ref()),
        ("allocatable", status.allocatable.as_ref()),
    ] {
        for (k, q) in list.into_iter().flatten() {
            errs.extend(validate::qualified_name(
                k,
                &Path::new("status").child(field).key(k),
            ));
            errs.extend(validate::nonnegative_quantity(
                q,
                &Path::new("status").child(field).key(k),
            ));
        }
    }
    errs
}

/// Upstream `ValidateTolerations` (pods, RuntimeClass scheduling).
pub fn validate_tolerations(tolerations: &[Toleration], path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    for (i, t) in tolerations.iter().enumerate() {
        let p = path.index(i);
        let key = t.key.as_deref().unwrap_or_default();
        let op = t.operator.as_deref().unwrap_or_default();
        let effect = t.effect.as_deref().unwrap_or_default();
        let value = t.value.as_deref().unwrap_or_default();
        if !key.is_empty() {
            errs.extend(validate::qualified_name(key, &p.child("key")));
        }
        if key.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                &p.child("operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.toleration_seconds.is_some() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                &p.child("effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "Equal" | "" => {
                let msgs = corten_apimachinery::names::is_valid_label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(
                        &p.child("operator"),
                        value,
                        &msgs.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        &p.child("operator"),
                        serde_json::to_value(t).unwrap_or(Value::Null),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                &p.child("operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() && !TAINT_EFFECTS.contains(&effect) {
            errs.push(FieldError::not_supported(
                &p.child("effect"),
                effect,
                TAINT_EFFECTS,
            ));
        }
    }
    errs
}
