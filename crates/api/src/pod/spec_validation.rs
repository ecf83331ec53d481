//! Pod spec and pod template validation (upstream `ValidatePodSpec`,
//! `ValidatePodTemplateSpec`, `ValidatePodSpecificAnnotations`).

use std::collections::{BTreeMap, BTreeSet};

use corten_apimachinery::names::{is_dns1123_label, is_dns1123_subdomain, is_valid_ip};
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};

use super::containers::{
    ContainerContext, validate_containers, validate_ephemeral_containers, validate_init_containers,
};
use super::field_rules::{inclusive_range_error, opt, shown};
use super::metadata::{validate_annotations, validate_labels, validate_qualified};
use super::resources::validate_container_resources;
use super::scheduling::{validate_affinity, validate_tolerations, validate_topology_spread};
use super::security::{validate_host_users, validate_os, validate_pod_security_context};
use super::volumes::validate_volumes;

/// Options that differ between pods and pod templates.
#[derive(Debug, Clone, Copy, Default)]
pub struct PodValidationOptions {
    /// The spec belongs to a Pod (not a template in another resource):
    /// `hostPort` must equal `containerPort` with host networking and image
    /// volumes need a reference.
    pub resource_is_pod: bool,
}

const MAX_DNS_NAMESERVERS: usize = 3;
const MAX_DNS_SEARCH_PATHS: usize = 32;
const MAX_DNS_SEARCH_LIST_CHARS: usize = 2048;

fn validate_dns_config(spec: &PodSpec, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let policy = opt(&spec.dns_policy);
    let cfg = spec.dns_config.as_ref();
    if policy == "None" {
        let Some(cfg) = cfg else {
            return vec![FieldError::required(
                path,
                "must provide `dnsConfig` when `dnsPolicy` is None",
            )];
        };
        if cfg.nameservers.as_ref().is_none_or(Vec::is_empty) {
            return vec![FieldError::required(
                &path.child("nameservers"),
                "must provide at least one DNS nameserver when `dnsPolicy` is None",
            )];
        }
    }
    let Some(cfg) = cfg else {
        return errs;
    };
    let nameservers = cfg.nameservers.as_deref().unwrap_or_default();
    if nameservers.len() > MAX_DNS_NAMESERVERS {
        errs.push(FieldError::invalid(
            &path.child("nameservers"),
            shown(&nameservers),
            &format!("must not have more than {MAX_DNS_NAMESERVERS} nameservers"),
        ));
    }
    for (i, ns) in nameservers.iter().enumerate() {
        for msg in is_valid_ip(ns) {
            errs.push(FieldError::invalid(
                &path.child("nameservers").index(i),
                ns.as_str(),
                &msg,
            ));
        }
    }
    let searches = cfg.searches.as_deref().unwrap_or_default();
    if searches.len() > MAX_DNS_SEARCH_PATHS {
        errs.push(FieldError::invalid(
            &path.child("searches"),
            shown(&searches),
            &format!("must not have more than {MAX_DNS_SEARCH_PATHS} search paths"),
        ));
    }
    if searches.join(" ").len() > MAX_DNS_SEARCH_LIST_CHARS {
        errs.push(FieldError::invalid(
            &path.child("searches"),
            shown(&searches),
            &format!("must not have more than {MAX_DNS_SEARCH_LIST_CHARS} characters (including spaces) in the search list"),
        ));
    }
    for (i, s) in searches.iter().enumerate() {
        // RelaxedDNSSearchValidation (on in 1.33): "." and underscores are allowed.
        if s == "." {
            continue;
        }
        let trimmed = s.strip_suffix('.').unwrap_or(s);
        for msg in is_dns1123_subdomain(&trimmed.replace('_', "-")) {
            errs.push(FieldError::invalid(
                &path.child("searches").index(i),
                trimmed,
                &msg,
            ));
        }
    }
    for (i, o) in cfg.options.iter().flatten().enumerate() {
        if opt(&o.name).is_empty() {
            errs.push(FieldError::required(
                &path.child("options").index(i),
                "must not be empty",
            ));
        }
    }
    errs
}

fn validate_host_network_ports(
    spec: &PodSpec,
    path: &Path,
    opts: PodValidationOptions,
) -> ErrorList {
    let mut errs = Vec::new();
    if spec.host_network != Some(true) {
        return errs;
    }
    for (i, c) in spec.containers.iter().enumerate() {
        for (j, p) in c.ports.iter().flatten().enumerate() {
            let hp = p.host_port.unwrap_or(0);
            if (opts.resource_is_pod || hp != 0) && hp != p.container_port {
                errs.push(FieldError::invalid(
                    &path
                        .child("containers")
                        .index(i)
                        .child("ports")
                        .index(j)
                        .child("hostPort"),
                    hp,
                    "must match `containerPort` when `hostNetwork` is true",
                ));
            }
        }
    }
    errs
}

fn validate_name_field(value: &str, path: &Path, label: bool) -> ErrorList {
    let msgs = if label {
        is_dns1123_label(value)
    } else {
        is_dns1123_subdomain(value)
    };
    msgs.into_iter()
        .map(|m| FieldError::invalid(path, value, &m))
        .collect()
}

/// Upstream `ValidatePodSpec`. `pod_name` is the pod's name when the spec is
/// a Pod's (used for ephemeral volume claim names).
pub fn validate_pod_spec(
    spec: &PodSpec,
    pod_name: Option<&str>,
    path: &Path,
    opts: PodValidationOptions,
) -> ErrorList {
    let mut errs = Vec::new();
    if spec.termination_grace_period_seconds.is_none() {
        errs.push(FieldError::required(
            &path.child("terminationGracePeriodSeconds"),
            "",
        ));
    }
    let host_users = spec.host_users.unwrap_or(true);
    let volumes_slice = spec.volumes.as_deref().unwrap_or_default();
    let (volumes, vol_errs) = validate_volumes(
        volumes_slice,
        pod_name,
        &path.child("volumes"),
        opts.resource_is_pod,
    );
    errs.extend(vol_errs);

    let mut claim_names = BTreeSet::new();
    let claims_path = path.child("resourceClaims");
    for (i, c) in spec.resource_claims.iter().flatten().enumerate() {
        let p = claims_path.index(i);
        if c.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        } else if !claim_names.insert(c.name.clone()) {
            errs.push(FieldError::duplicate(&p.child("name"), c.name.as_str()));
        } else {
            errs.extend(validate_name_field(&c.name, &p.child("name"), true));
        }
        match (c.resource_claim_name.as_deref(), c.resource_claim_template_name.as_deref()) {
            (Some(_), Some(_)) => errs.push(FieldError::invalid(
                &p,
                shown(c),
                "at most one of `resourceClaimName` or `resourceClaimTemplateName` may be specified",
            )),
            (None, None) => errs.push(FieldError::invalid(
                &p,
                shown(c),
                "must specify one of: `resourceClaimName`, `resourceClaimTemplateName`",
            )),
            (Some(n), None) => errs.extend(validate_name_field(n, &p.child("resourceClaimName"), false)),
            (None, Some(n)) => errs.extend(validate_name_field(n, &p.child("resourceClaimTemplateName"), false)),
        }
    }

    let restart_policy = opt(&spec.restart_policy);
    let ctx = ContainerContext {
        volumes: &volumes,
        claim_names: &claim_names,
        grace_period: spec.termination_grace_period_seconds,
        restart_policy,
        host_users,
    };
    let inits = spec.init_containers.as_deref().unwrap_or_default();
    errs.extend(validate_containers(
        &spec.containers,
        &ctx,
        &path.child("containers"),
    ));
    errs.extend(validate_init_containers(
        inits,
        &spec.containers,
        &ctx,
        &path.child("initContainers"),
    ));
    if let Some(eph) = spec.ephemeral_containers.as_deref() {
        errs.extend(validate_ephemeral_containers(
            eph,
            &spec.containers,
            inits,
            &ctx,
            &path.child("ephemeralContainers"),
        ));
    }
    errs.extend(validate_host_network_ports(spec, path, opts));
    match restart_policy {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(FieldError::required(&path.child("restartPolicy"), "")),
        p => errs.push(FieldError::not_supported(
            &path.child("restartPolicy"),
            p,
            &["Always", "OnFailure", "Never"],
        )),
    }
    match opt(&spec.dns_policy) {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(FieldError::required(&path.child("dnsPolicy"), "")),
        p => errs.push(FieldError::not_supported(
            &path.child("dnsPolicy"),
            p,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    errs.extend(validate_labels(
        spec.node_selector.as_ref(),
        &path.child("nodeSelector"),
    ));
    errs.extend(validate_pod_security_context(
        spec,
        &path.child("securityContext"),
    ));
    errs.extend(validate_affinity(
        spec.affinity.as_ref(),
        &path.child("affinity"),
    ));
    errs.extend(validate_dns_config(spec, &path.child("dnsConfig")));
    for (i, g) in spec.readiness_gates.iter().flatten().enumerate() {
        errs.extend(validate_qualified(
            &g.condition_type,
            &path.child("readinessGates").index(i).child("conditionType"),
        ));
    }
    let mut gates = BTreeSet::new();
    for (i, g) in spec.scheduling_gates.iter().flatten().enumerate() {
        let p = path.child("schedulingGates").index(i);
        errs.extend(validate_qualified(&g.name, &p));
        if !gates.insert(g.name.clone()) {
            errs.push(FieldError::duplicate(&p, g.name.as_str()));
        }
    }
    errs.extend(validate_topology_spread(
        spec.topology_spread_constraints
            .as_deref()
            .unwrap_or_default(),
        &path.child("topologySpreadConstraints"),
    ));
    errs.extend(validate_host_users(spec, path));
    let sa = opt(&spec.service_account_name);
    if !sa.is_empty() {
        errs.extend(validate_name_field(
            sa,
            &path.child("serviceAccountName"),
            false,
        ));
    }
    let node = opt(&spec.node_name);
    if !node.is_empty() {
        errs.extend(validate_name_field(node, &path.child("nodeName"), false));
    }
    if let Some(ads) = spec.active_deadline_seconds
        && !(1..=i64::from(i32::MAX)).contains(&ads)
    {
        errs.push(FieldError::invalid(
            &path.child("activeDeadlineSeconds"),
            ads,
            &inclusive_range_error(1, i64::from(i32::MAX)),
        ));
    }
    let hostname = opt(&spec.hostname);
    if !hostname.is_empty() {
        errs.extend(validate_name_field(hostname, &path.child("hostname"), true));
    }
    let subdomain = opt(&spec.subdomain);
    if !subdomain.is_empty() {
        errs.extend(validate_name_field(
            subdomain,
            &path.child("subdomain"),
            true,
        ));
    }
    if let Some(t) = spec.tolerations.as_deref() {
        errs.extend(validate_tolerations(t, &path.child("tolerations")));
    }
    for (i, ha) in spec.host_aliases.iter().flatten().enumerate() {
        let p = path.child("hostAliases").index(i);
        for msg in is_valid_ip(&ha.ip) {
            errs.push(FieldError::invalid(&p.child("ip"), ha.ip.as_str(), &msg));
        }
        for (j, h) in ha.hostnames.iter().flatten().enumerate() {
            errs.extend(validate_name_field(
                h,
                &p.child("hostnames").index(j),
                false,
            ));
        }
    }
    let pcn = opt(&spec.priority_class_name);
    if !pcn.is_empty() {
        errs.extend(validate_name_field(
            pcn,
            &path.child("priorityClassName"),
            false,
        ));
    }
    if let Some(rc) = spec.runtime_class_name.as_deref() {
        errs.extend(validate_name_field(
            rc,
            &path.child("runtimeClassName"),
            false,
        ));
    }
    if let Some(pp) = spec.preemption_policy.as_deref() {
        match pp {
            "PreemptLowerPriority" | "Never" => {}
            "" => errs.push(FieldError::required(&path.child("preemptionPolicy"), "")),
            p => errs.push(FieldError::not_supported(
                &path.child("preemptionPolicy"),
                p,
                &["PreemptLowerPriority", "Never"],
            )),
        }
    }
    if spec.overhead.is_some() {
        let overhead = k8s_openapi::api::core::v1::ResourceRequirements {
            limits: spec.overhead.clone(),
            ..Default::default()
        };
        errs.extend(validate_container_resources(
            Some(&overhead),
            &BTreeSet::new(),
            &path.child("overhead"),
        ));
    }
    errs.extend(validate_os(spec, path));
    errs
}

/// Upstream `ValidatePodSpecificAnnotations` (mirror pods, deletion cost).
pub fn validate_pod_specific_annotations(
    annotations: Option<&BTreeMap<String, String>>,
    spec: &PodSpec,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    let Some(a) = annotations else {
        return errs;
    };
    const MIRROR: &str = "kubernetes.io/config.mirror";
    if let Some(v) = a.get(MIRROR)
        && opt(&spec.node_name).is_empty()
    {
        errs.push(FieldError::invalid(
            &path.key(MIRROR),
            v.as_str(),
            "must set spec.nodeName if mirror pod annotation is set",
        ));
    }
    const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";
    if let Some(v) = a.get(DELETION_COST)
        && v.parse::<i32>().is_err()
    {
        errs.push(FieldError::invalid(
            &path.key(DELETION_COST),
            v.as_str(),
            "must be a 32bit integer",
        ));
    }
    errs
}

/// Upstream `ValidatePodTemplateSpec`: template labels and annotations, the
/// pod spec, and no ephemeral containers. `path` is the template's path
/// (e.g. `spec.template`).
pub fn validate_pod_template_spec(t: &PodTemplateSpec, path: &Path) -> ErrorList {
    let meta = t.metadata.as_ref();
    let mut errs = validate_labels(meta.and_then(|m| m.labels.as_ref()), &path.child("labels"));
    let annotations = meta.and_then(|m| m.annotations.as_ref());
    errs.extend(validate_annotations(
        annotations,
        &path.child("annotations"),
    ));
    let default_spec = PodSpec::default();
    let spec = t.spec.as_ref().unwrap_or(&default_spec);
    errs.extend(validate_pod_specific_annotations(
        annotations,
        spec,
        &path.child("annotations"),
    ));
    errs.extend(validate_pod_spec(
        spec,
        None,
        &path.child("spec"),
        PodValidationOptions::default(),
    ));
    if spec
        .ephemeral_containers
        .as_ref()
        .is_some_and(|e| !e.is_empty())
    {
        errs.push(FieldError::forbidden(
            &path.child("spec").child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}
