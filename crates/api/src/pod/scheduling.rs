//! Scheduling constraints: affinity, tolerations and topology spread
//! (upstream `validateAffinity`, `ValidateTolerations`,
//! `validateTopologySpreadConstraints`).

use std::collections::BTreeSet;

use corten_apimachinery::names::{is_dns1123_label, is_dns1123_subdomain, is_valid_label_value};
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::{
    Affinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodAffinityTerm, Toleration,
    TopologySpreadConstraint, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::field_rules::{NOT_POSITIVE_MSG, opt};
use super::metadata::{validate_label_name, validate_label_selector};

fn validate_node_selector_requirement(rq: &NodeSelectorRequirement, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let values = rq.values.as_deref().unwrap_or_default();
    match rq.operator.as_str() {
        "In" | "NotIn" => {
            if values.is_empty() {
                errs.push(FieldError::required(
                    &path.child("values"),
                    "must be specified when `operator` is 'In' or 'NotIn'",
                ));
            }
        }
        "Exists" | "DoesNotExist" => {
            if !values.is_empty() {
                errs.push(FieldError::forbidden(
                    &path.child("values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ));
            }
        }
        "Gt" | "Lt" => {
            if values.len() != 1 {
                errs.push(FieldError::required(
                    &path.child("values"),
                    "must be specified single value when `operator` is 'Lt' or 'Gt'",
                ));
            }
        }
        op => errs.push(FieldError::invalid(
            &path.child("operator"),
            op,
            "not a valid selector operator",
        )),
    }
    errs.extend(validate_label_name(&rq.key, &path.child("key")));
    errs
}

fn validate_node_field_requirement(rq: &NodeSelectorRequirement, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let values = rq.values.as_deref().unwrap_or_default();
    match rq.operator.as_str() {
        "In" | "NotIn" => {
            if values.len() != 1 {
                errs.push(FieldError::required(
                    &path.child("values"),
                    "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                ));
            }
        }
        op => errs.push(FieldError::invalid(
            &path.child("operator"),
            op,
            "not a valid selector operator",
        )),
    }
    if rq.key != "metadata.name" {
        errs.push(FieldError::invalid(
            &path.child("key"),
            rq.key.as_str(),
            "not a valid field selector key",
        ));
    } else {
        for (i, v) in values.iter().enumerate() {
            for msg in is_dns1123_subdomain(v) {
                errs.push(FieldError::invalid(
                    &path.child("values").index(i),
                    v.as_str(),
                    &msg,
                ));
            }
        }
    }
    errs
}

fn validate_node_selector_term(
    term: &NodeSelectorTerm,
    check_values: bool,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    for (j, rq) in term.match_expressions.iter().flatten().enumerate() {
        let p = path.child("matchExpressions").index(j);
        errs.extend(validate_node_selector_requirement(rq, &p));
        if check_values {
            for (k, v) in rq.values.iter().flatten().enumerate() {
                for msg in is_valid_label_value(v) {
                    errs.push(FieldError::invalid(
                        &p.child("values").index(k),
                        v.as_str(),
                        &msg,
                    ));
                }
            }
        }
    }
    for (j, rq) in term.match_fields.iter().flatten().enumerate() {
        errs.extend(validate_node_field_requirement(
            rq,
            &path.child("matchFields").index(j),
        ));
    }
    errs
}

/// Upstream `ValidateNodeSelector` (required node affinity).
pub fn validate_node_selector(ns: &NodeSelector, path: &Path) -> ErrorList {
    let terms_path = path.child("nodeSelectorTerms");
    if ns.node_selector_terms.is_empty() {
        return vec![FieldError::required(
            &terms_path,
            "must have at least one node selector term",
        )];
    }
    ns.node_selector_terms
        .iter()
        .enumerate()
        .flat_map(|(i, t)| validate_node_selector_term(t, true, &terms_path.index(i)))
        .collect()
}

fn validate_label_keys(
    keys: &[String],
    selector: Option<&LabelSelector>,
    path: &Path,
) -> ErrorList {
    if keys.is_empty() {
        return Vec::new();
    }
    if selector.is_none() {
        return vec![FieldError::forbidden(
            path,
            "must not be specified when labelSelector is not set",
        )];
    }
    keys.iter()
        .enumerate()
        .flat_map(|(i, k)| validate_label_name(k, &path.index(i)))
        .collect()
}

fn validate_pod_affinity_term(t: &PodAffinityTerm, path: &Path) -> ErrorList {
    let mut errs = validate_label_selector(
        t.label_selector.as_ref(),
        false,
        &path.child("labelSelector"),
    );
    errs.extend(validate_label_selector(
        t.namespace_selector.as_ref(),
        false,
        &path.child("namespaceSelector"),
    ));
    for ns in t.namespaces.iter().flatten() {
        for msg in is_dns1123_label(ns) {
            errs.push(FieldError::invalid(
                &path.child("namespace"),
                ns.as_str(),
                &msg,
            ));
        }
    }
    let match_keys = t.match_label_keys.as_deref().unwrap_or_default();
    let mismatch_keys = t.mismatch_label_keys.as_deref().unwrap_or_default();
    errs.extend(validate_label_keys(
        match_keys,
        t.label_selector.as_ref(),
        &path.child("matchLabelKeys"),
    ));
    errs.extend(validate_label_keys(
        mismatch_keys,
        t.label_selector.as_ref(),
        &path.child("mismatchLabelKeys"),
    ));
    let mismatch: BTreeSet<&String> = mismatch_keys.iter().collect();
    for (i, k) in match_keys.iter().enumerate() {
        if mismatch.contains(k) {
            errs.push(FieldError::invalid(
                &path.child("matchLabelKeys").index(i),
                k.as_str(),
                "exists in both matchLabelKeys and mismatchLabelKeys",
            ));
        }
    }
    if t.topology_key.is_empty() {
        errs.push(FieldError::required(
            &path.child("topologyKey"),
            "can not be empty",
        ));
    }
    errs.extend(validate_label_name(
        &t.topology_key,
        &path.child("topologyKey"),
    ));
    errs
}

fn validate_weighted_terms(terms: &[WeightedPodAffinityTerm], path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    for (j, t) in terms.iter().enumerate() {
        if t.weight <= 0 || t.weight > 100 {
            errs.push(FieldError::invalid(
                &path.index(j).child("weight"),
                t.weight,
                "must be in the range 1-100",
            ));
        }
        errs.extend(validate_pod_affinity_term(
            &t.pod_affinity_term,
            &path.index(j).child("podAffinityTerm"),
        ));
    }
    errs
}

/// Upstream `validateAffinity`.
pub fn validate_affinity(a: Option<&Affinity>, path: &Path) -> ErrorList {
    let Some(a) = a else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    if let Some(na) = a.node_affinity.as_ref() {
        let p = path.child("nodeAffinity");
        if let Some(req) = na
            .required_during_scheduling_ignored_during_execution
            .as_ref()
        {
            errs.extend(validate_node_selector(
                req,
                &p.child("requiredDuringSchedulingIgnoredDuringExecution"),
            ));
        }
        let pp = p.child("preferredDuringSchedulingIgnoredDuringExecution");
        for (i, t) in na
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .enumerate()
        {
            if t.weight <= 0 || t.weight > 100 {
                errs.push(FieldError::invalid(
                    &pp.index(i).child("weight"),
                    t.weight,
                    "must be in the range 1-100",
                ));
            }
            // Preferred terms tolerate invalid label values, as upstream.
            errs.extend(validate_node_selector_term(
                &t.preference,
                false,
                &pp.index(i).child("preference"),
            ));
        }
    }
    for (pa, name) in [
        (
            a.pod_affinity.as_ref().map(|p| {
                (
                    &p.required_during_scheduling_ignored_during_execution,
                    &p.preferred_during_scheduling_ignored_during_execution,
                )
            }),
            "podAffinity",
        ),
        (
            a.pod_anti_affinity.as_ref().map(|p| {
                (
                    &p.required_during_scheduling_ignored_during_execution,
                    &p.preferred_during_scheduling_ignored_during_execution,
                )
            }),
            "podAntiAffinity",
        ),
    ] {
        let Some((required, preferred)) = pa else {
            continue;
        };
        let p = path.child(name);
        let rp = p.child("requiredDuringSchedulingIgnoredDuringExecution");
        for (i, t) in required.iter().flatten().enumerate() {
            errs.extend(validate_pod_affinity_term(t, &rp.index(i)));
        }
        if let Some(preferred) = preferred.as_deref() {
            errs.extend(validate_weighted_terms(
                preferred,
                &p.child("preferredDuringSchedulingIgnoredDuringExecution"),
            ));
        }
    }
    errs
}

/// Upstream `ValidateTolerations`.
pub fn validate_tolerations(tolerations: &[Toleration], path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    for (i, t) in tolerations.iter().enumerate() {
        let idx = path.index(i);
        let key = opt(&t.key);
        let operator = opt(&t.operator);
        let effect = opt(&t.effect);
        let value = opt(&t.value);
        if !key.is_empty() {
            errs.extend(validate_label_name(key, &idx.child("key")));
        }
        if key.is_empty() && operator != "Exists" {
            errs.push(FieldError::invalid(
                &idx.child("operator"),
                operator,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.toleration_seconds.is_some() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                &idx.child("effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match operator {
            "Equal" | "" => {
                let msgs = is_valid_label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(
                        &idx.child("operator"),
                        value,
                        &msgs.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        &idx.child("operator"),
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            op => errs.push(FieldError::not_supported(
                &idx.child("operator"),
                op,
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() && !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect)
        {
            errs.push(FieldError::not_supported(
                &idx.child("effect"),
                effect,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
    errs
}

/// Upstream `validateTopologySpreadConstraints`.
pub fn validate_topology_spread(
    constraints: &[TopologySpreadConstraint],
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    for (i, c) in constraints.iter().enumerate() {
        let p = path.index(i);
        if c.max_skew <= 0 {
            errs.push(FieldError::invalid(
                &p.child("maxSkew"),
                c.max_skew,
                NOT_POSITIVE_MSG,
            ));
        }
        if c.topology_key.is_empty() {
            errs.push(FieldError::required(
                &p.child("topologyKey"),
                "can not be empty",
            ));
        }
        let when = c.when_unsatisfiable.as_str();
        if when != "DoNotSchedule" && when != "ScheduleAnyway" {
            errs.push(FieldError::not_supported(
                &p.child("whenUnsatisfiable"),
                when,
                &["DoNotSchedule", "ScheduleAnyway"],
            ));
        }
        let repeated = constraints[i + 1..].iter().any(|o| {
            o.topology_key == c.topology_key && o.when_unsatisfiable == c.when_unsatisfiable
        });
        if repeated {
            errs.push(FieldError::duplicate(
                &p.child("{topologyKey, whenUnsatisfiable}"),
                format!("{{{}, {}}}", c.topology_key, c.when_unsatisfiable),
            ));
        }
        if let Some(min) = c.min_domains {
            if min <= 0 {
                errs.push(FieldError::invalid(
                    &p.child("minDomains"),
                    min,
                    NOT_POSITIVE_MSG,
                ));
            }
            if when != "DoNotSchedule" {
                errs.push(FieldError::invalid(
                    &p.child("minDomains"),
                    min,
                    &format!(
                        "can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {when}"
                    ),
                ));
            }
        }
        for (policy, field) in [
            (&c.node_affinity_policy, "nodeAffinityPolicy"),
            (&c.node_taints_policy, "nodeTaintsPolicy"),
        ] {
            if let Some(v) = policy.as_deref()
                && v != "Honor"
                && v != "Ignore"
            {
                errs.push(FieldError::not_supported(
                    &p.child(field),
                    v,
                    &["Honor", "Ignore"],
                ));
            }
        }
        let keys = c.match_label_keys.as_deref().unwrap_or_default();
        if !keys.is_empty() {
            let kp = p.child("matchLabelKeys");
            let mut selector_keys = BTreeSet::new();
            match c.label_selector.as_ref() {
                Some(sel) => {
                    selector_keys.extend(sel.match_labels.iter().flat_map(|m| m.keys().cloned()));
                    selector_keys.extend(
                        sel.match_expressions
                            .iter()
                            .flatten()
                            .map(|e| e.key.clone()),
                    );
                }
                None => errs.push(FieldError::forbidden(
                    &kp,
                    "must not be specified when labelSelector is not set",
                )),
            }
            for (j, k) in keys.iter().enumerate() {
                errs.extend(validate_label_name(k, &kp.index(j)));
                if selector_keys.contains(k) {
                    errs.push(FieldError::invalid(
                        &kp.index(j),
                        k.as_str(),
                        "exists in both matchLabelKeys and labelSelector",
                    ));
                }
            }
        }
        errs.extend(validate_label_selector(
            c.label_selector.as_ref(),
            false,
            &p.child("labelSelector"),
        ));
    }
    errs
}
