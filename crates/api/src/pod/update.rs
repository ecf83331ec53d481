//! Pod update rules (upstream `ValidatePodUpdate`) and status update rules
//! (upstream `ValidatePodStatusUpdate`).

use std::collections::{BTreeMap, BTreeSet};

use corten_apimachinery::names::{is_dns1123_subdomain, is_valid_ip};
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::{
    Container, ContainerStatus, NodeAffinity, NodeSelectorTerm, Pod, PodSpec, PodStatus, Toleration,
};
use serde_json::Value;

use super::field_rules::{FIELD_IMMUTABLE_MSG, inclusive_range_error, opt, shown};
use super::metadata::validate_qualified;
use super::scheduling::validate_tolerations;

/// The fields a pod update may change, as upstream lists them in the error.
const UPDATABLE_POD_SPEC_FIELDS: &[&str] = &[
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
];

const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
const APPARMOR_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// Upstream `ValidatePodSpecificAnnotationUpdates` (mirror and AppArmor annotations).
pub fn validate_annotation_updates(
    new: Option<&BTreeMap<String, String>>,
    old: Option<&BTreeMap<String, String>>,
    path: &Path,
) -> ErrorList {
    let empty = BTreeMap::new();
    let (new, old) = (new.unwrap_or(&empty), old.unwrap_or(&empty));
    let mut errs = Vec::new();
    for (k, v) in old {
        if new.get(k) == Some(v) {
            continue;
        }
        if k.starts_with(APPARMOR_PREFIX) {
            errs.push(FieldError::forbidden(
                &path.key(k),
                "may not remove or update AppArmor annotations",
            ));
        }
        if k == MIRROR_ANNOTATION {
            errs.push(FieldError::forbidden(
                &path.key(k),
                "may not remove or update mirror pod annotation",
            ));
        }
    }
    for k in new.keys().filter(|k| !old.contains_key(*k)) {
        if k.starts_with(APPARMOR_PREFIX) {
            errs.push(FieldError::forbidden(
                &path.key(k),
                "may not add AppArmor annotations",
            ));
        }
        if k == MIRROR_ANNOTATION {
            errs.push(FieldError::forbidden(
                &path.key(k),
                "may not add mirror pod annotation",
            ));
        }
    }
    errs
}

/// Returns the errors and whether validation must stop (containers were
/// added or removed).
fn validate_container_updates(
    new: &[Container],
    old: &[Container],
    path: &Path,
) -> (ErrorList, bool) {
    if new.len() != old.len() {
        return (
            vec![FieldError::forbidden(
                path,
                "pod updates may not add or remove containers",
            )],
            true,
        );
    }
    let mut errs = Vec::new();
    for (i, c) in new.iter().enumerate() {
        let image = opt(&c.image);
        if image.is_empty() {
            errs.push(FieldError::required(&path.index(i).child("image"), ""));
        }
        if image.trim().len() != image.len() {
            errs.push(FieldError::invalid(
                &path.index(i).child("image"),
                image,
                "must not have leading or trailing whitespace",
            ));
        }
    }
    (errs, false)
}

fn validate_only_added_tolerations(
    new: &[Toleration],
    old: &[Toleration],
    path: &Path,
) -> ErrorList {
    for o in old {
        let found = new.iter().any(|n| {
            let mut clone = o.clone();
            clone.toleration_seconds = n.toleration_seconds;
            &clone == n
        });
        if !found {
            return vec![FieldError::forbidden(
                path,
                "existing toleration can not be modified except its tolerationSeconds",
            )];
        }
    }
    validate_tolerations(new, path)
}

fn validate_only_deleted_gates(new: &PodSpec, old: &PodSpec, path: &Path) -> ErrorList {
    let old_names: BTreeSet<&str> = old
        .scheduling_gates
        .iter()
        .flatten()
        .map(|g| g.name.as_str())
        .collect();
    let mut added: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, g) in new.scheduling_gates.iter().flatten().enumerate() {
        if !old_names.contains(g.name.as_str()) {
            added.insert(g.name.as_str(), i);
        }
    }
    added
        .into_iter()
        .map(|(name, i)| {
            FieldError::forbidden(
                &path.index(i).child("name"),
                &format!("only deletion is allowed, but found new scheduling gate '{name}'"),
            )
        })
        .collect()
}

fn term_has_only_additions(new: &NodeSelectorTerm, old: &NodeSelectorTerm) -> bool {
    let (oe, of) = (
        old.match_expressions.as_deref().unwrap_or_default(),
        old.match_fields.as_deref().unwrap_or_default(),
    );
    let (ne, nf) = (
        new.match_expressions.as_deref().unwrap_or_default(),
        new.match_fields.as_deref().unwrap_or_default(),
    );
    if oe.is_empty() && of.is_empty() && (!ne.is_empty() || !nf.is_empty()) {
        return false;
    }
    ne.len() >= oe.len() && ne[..oe.len()] == *oe && nf.len() >= of.len() && nf[..of.len()] == *of
}

fn validate_node_affinity_mutation(
    new: Option<&NodeAffinity>,
    old: Option<&NodeAffinity>,
    path: &Path,
) -> ErrorList {
    let Some(old_req) = old.and_then(|o| {
        o.required_during_scheduling_ignored_during_execution
            .as_ref()
    }) else {
        return Vec::new();
    };
    let old_terms = &old_req.node_selector_terms;
    let new_terms: &[NodeSelectorTerm] = new
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .map(|r| r.node_selector_terms.as_slice())
        .unwrap_or_default();
    let terms_path = path
        .child("requiredDuringSchedulingIgnoredDuringExecution")
        .child("nodeSelectorTerms");
    if !old_terms.is_empty() && old_terms.len() != new_terms.len() {
        return vec![FieldError::invalid(
            &terms_path,
            shown(&new_terms),
            "no additions/deletions to non-empty NodeSelectorTerms list are allowed",
        )];
    }
    let mut errs = Vec::new();
    for (i, (o, n)) in old_terms.iter().zip(new_terms).enumerate() {
        if !term_has_only_additions(n, o) {
            errs.push(FieldError::invalid(
                &terms_path.index(i),
                shown(n),
                "only additions are allowed (no mutations or deletions)",
            ));
        }
    }
    errs
}

/// A short description of which top-level spec fields differ, standing in
/// for upstream's `cmp.Diff` output.
fn spec_diff(old: &PodSpec, new: &PodSpec) -> String {
    let (o, n) = (shown(old), shown(new));
    let empty = serde_json::Map::new();
    let (om, nm) = (
        o.as_object().unwrap_or(&empty),
        n.as_object().unwrap_or(&empty),
    );
    let keys: BTreeSet<&String> = om.keys().chain(nm.keys()).collect();
    let mut out = String::from("  core.PodSpec{\n");
    for k in keys {
        let (ov, nv) = (
            om.get(k).unwrap_or(&Value::Null),
            nm.get(k).unwrap_or(&Value::Null),
        );
        if ov != nv {
            out.push_str(&format!("- \t{k}: {ov},\n+ \t{k}: {nv},\n"));
        }
    }
    out.push_str("  }\n");
    out
}

/// The spec part of upstream `ValidatePodUpdate` (metadata update rules and
/// the full validation of the new pod are done by the caller).
pub fn validate_pod_spec_update(new: &PodSpec, old: &PodSpec) -> ErrorList {
    let spec_path = Path::new("spec");
    let mut errs = Vec::new();
    let (e, stop) = validate_container_updates(
        &new.containers,
        &old.containers,
        &spec_path.child("containers"),
    );
    errs.extend(e);
    if stop {
        return errs;
    }
    let (new_inits, old_inits) = (
        new.init_containers.as_deref().unwrap_or_default(),
        old.init_containers.as_deref().unwrap_or_default(),
    );
    let (e, stop) =
        validate_container_updates(new_inits, old_inits, &spec_path.child("initContainers"));
    errs.extend(e);
    if stop {
        return errs;
    }
    let ads_path = spec_path.child("activeDeadlineSeconds");
    match (new.active_deadline_seconds, old.active_deadline_seconds) {
        (Some(n), o) => {
            if n < 0 || n > i64::from(i32::MAX) {
                errs.push(FieldError::invalid(
                    &ads_path,
                    n,
                    &inclusive_range_error(0, i64::from(i32::MAX)),
                ));
                return errs;
            }
            if o.is_some_and(|o| o < n) {
                errs.push(FieldError::invalid(
                    &ads_path,
                    n,
                    "must be less than or equal to previous value",
                ));
                return errs;
            }
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            &ads_path,
            Value::Null,
            "must not update from a positive integer to nil value",
        )),
        (None, None) => {}
    }
    errs.extend(validate_only_added_tolerations(
        new.tolerations.as_deref().unwrap_or_default(),
        old.tolerations.as_deref().unwrap_or_default(),
        &spec_path.child("tolerations"),
    ));
    if new.scheduling_gates.as_ref().is_some_and(|g| !g.is_empty()) {
        errs.extend(validate_only_deleted_gates(
            new,
            old,
            &spec_path.child("schedulingGates"),
        ));
    }
    if new == old {
        return errs;
    }
    let mut munged = new.clone();
    for (c, o) in munged.containers.iter_mut().zip(&old.containers) {
        c.image = o.image.clone();
    }
    for (c, o) in munged.init_containers.iter_mut().flatten().zip(old_inits) {
        c.image = o.image.clone();
    }
    munged.active_deadline_seconds = old.active_deadline_seconds;
    munged.scheduling_gates = old.scheduling_gates.clone();
    munged.tolerations = old.tolerations.clone();
    if old.termination_grace_period_seconds.is_some_and(|g| g < 0)
        && munged.termination_grace_period_seconds == Some(1)
    {
        munged.termination_grace_period_seconds = old.termination_grace_period_seconds;
    }
    let gated = old.scheduling_gates.as_ref().is_some_and(|g| !g.is_empty());
    if gated {
        if munged.node_selector != old.node_selector {
            let empty = BTreeMap::new();
            let new_sel = munged.node_selector.as_ref().unwrap_or(&empty);
            let removed_or_changed = old
                .node_selector
                .iter()
                .flatten()
                .any(|(k, v)| new_sel.get(k) != Some(v));
            if removed_or_changed {
                errs.push(FieldError::invalid(
                    &spec_path.child("nodeSelector"),
                    shown(new_sel),
                    "only additions to spec.nodeSelector are allowed (no mutations or deletions)",
                ));
            }
            munged.node_selector = old.node_selector.clone();
        }
        let old_na = old.affinity.as_ref().and_then(|a| a.node_affinity.clone());
        let new_na = munged
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.clone());
        if old_na != new_na {
            errs.extend(validate_node_affinity_mutation(
                new_na.as_ref(),
                old_na.as_ref(),
                &spec_path.child("affinity").child("nodeAffinity"),
            ));
            match munged.affinity.as_mut() {
                None => {
                    if old_na.is_some() {
                        munged.affinity = Some(k8s_openapi::api::core::v1::Affinity {
                            node_affinity: old_na,
                            ..Default::default()
                        });
                    }
                }
                Some(a) => {
                    if old.affinity.is_none()
                        && a.pod_affinity.is_none()
                        && a.pod_anti_affinity.is_none()
                    {
                        munged.affinity = None;
                    } else {
                        a.node_affinity = old_na;
                    }
                }
            }
        }
    }
    if munged != *old {
        let msg = format!(
            "pod updates may not change fields other than {}\n{}",
            UPDATABLE_POD_SPEC_FIELDS.join(","),
            spec_diff(old, &munged)
        );
        errs.push(FieldError::forbidden(&spec_path, &msg));
    }
    errs
}

fn terminated(s: &ContainerStatus) -> Option<i32> {
    s.state.as_ref()?.terminated.as_ref().map(|t| t.exit_code)
}

/// Upstream `ValidateContainerStateTransition`: containers that may not
/// restart stay terminated.
fn validate_state_transition(
    new: &[ContainerStatus],
    old: &[ContainerStatus],
    path: &Path,
    restart_policy: &str,
    restartable: &BTreeSet<&str>,
) -> ErrorList {
    let mut errs = Vec::new();
    if restart_policy == "Always" {
        return errs;
    }
    for (i, o) in old.iter().enumerate() {
        let Some(code) = terminated(o) else { continue };
        if code != 0 && restart_policy == "OnFailure" {
            continue;
        }
        if restartable.contains(o.name.as_str()) {
            continue;
        }
        for n in new {
            if n.name == o.name && terminated(n).is_none() {
                errs.push(FieldError::forbidden(
                    &path.index(i).child("state"),
                    "may not be transitioned to non-terminated state",
                ));
            }
        }
    }
    errs
}

fn validate_ip_list(ips: &[&str], path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    for (i, ip) in ips.iter().enumerate() {
        for msg in is_valid_ip(ip) {
            errs.push(FieldError::invalid(&path.index(i), *ip, &msg));
        }
    }
    if ips.len() > 1 {
        let v4 = ips
            .iter()
            .filter(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok())
            .count();
        let v6 = ips
            .iter()
            .filter(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
            .count();
        if ips.len() > 2 || v4 != 1 || v6 != 1 {
            errs.push(FieldError::invalid(
                path,
                shown(&ips),
                "may specify no more than one IP for each IP family",
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, ip) in ips.iter().enumerate() {
            if !seen.insert(*ip) {
                errs.push(FieldError::duplicate(
                    &path.index(i),
                    serde_json::json!({ "ip": ip }),
                ));
            }
        }
    }
    errs
}

/// The status part of upstream `ValidatePodStatusUpdate` (metadata update
/// rules are done by the caller).
pub fn validate_pod_status_update(new: &Pod, old: &Pod) -> ErrorList {
    let mut errs = Vec::new();
    let default_status = PodStatus::default();
    let default_spec = PodSpec::default();
    let (ns, os) = (
        new.status.as_ref().unwrap_or(&default_status),
        old.status.as_ref().unwrap_or(&default_status),
    );
    let (nspec, ospec) = (
        new.spec.as_ref().unwrap_or(&default_spec),
        old.spec.as_ref().unwrap_or(&default_spec),
    );
    let meta_path = Path::new("metadata");
    errs.extend(validate_annotation_updates(
        new.metadata.annotations.as_ref(),
        old.metadata.annotations.as_ref(),
        &meta_path.child("annotations"),
    ));
    for (i, c) in ns.conditions.iter().flatten().enumerate() {
        if ["PodScheduled", "Ready", "Initialized"].contains(&c.type_.as_str()) {
            continue;
        }
        errs.extend(validate_qualified(
            &c.type_,
            &meta_path.child("conditions").index(i).child("Type"),
        ));
    }
    let status_path = Path::new("status");
    if nspec.node_name != ospec.node_name {
        errs.push(FieldError::forbidden(
            &status_path.child("nodeName"),
            "may not be changed directly",
        ));
    }
    let nominated = opt(&ns.nominated_node_name);
    if nominated != opt(&os.nominated_node_name) && !nominated.is_empty() {
        for msg in is_dns1123_subdomain(nominated) {
            errs.push(FieldError::invalid(
                &status_path.child("nominatedNodeName"),
                nominated,
                &msg,
            ));
        }
    }
    if ns.qos_class != os.qos_class {
        errs.push(FieldError::invalid(
            &status_path.child("qosClass"),
            opt(&ns.qos_class),
            FIELD_IMMUTABLE_MSG,
        ));
    }
    let none = BTreeSet::new();
    let restart_policy = opt(&ospec.restart_policy);
    errs.extend(validate_state_transition(
        ns.container_statuses.as_deref().unwrap_or_default(),
        os.container_statuses.as_deref().unwrap_or_default(),
        &status_path.child("containerStatuses"),
        restart_policy,
        &none,
    ));
    let restartable: BTreeSet<&str> = ospec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .map(|c| c.name.as_str())
        .collect();
    errs.extend(validate_state_transition(
        ns.init_container_statuses.as_deref().unwrap_or_default(),
        os.init_container_statuses.as_deref().unwrap_or_default(),
        &status_path.child("initContainerStatuses"),
        restart_policy,
        &restartable,
    ));
    errs.extend(validate_state_transition(
        ns.ephemeral_container_statuses
            .as_deref()
            .unwrap_or_default(),
        os.ephemeral_container_statuses
            .as_deref()
            .unwrap_or_default(),
        &status_path.child("ephemeralContainerStatuses"),
        "Never",
        &none,
    ));
    let pod_ips: Vec<&str> = ns.pod_ips.iter().flatten().map(|p| p.ip.as_str()).collect();
    errs.extend(validate_ip_list(&pod_ips, &status_path.child("podIPs")));
    let host_ips: Vec<&str> = ns
        .host_ips
        .iter()
        .flatten()
        .map(|p| p.ip.as_str())
        .collect();
    if let Some(first) = host_ips.first() {
        if opt(&ns.host_ip) != *first {
            errs.push(FieldError::invalid(
                &status_path.child("hostIPs").index(0).child("ip"),
                *first,
                "must be equal to `hostIP`",
            ));
        }
        errs.extend(validate_ip_list(&host_ips, &status_path.child("hostIPs")));
    }
    errs
}
