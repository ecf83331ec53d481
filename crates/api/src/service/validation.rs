//! `ValidateService`, `ValidateServiceUpdate` and the status validation.

use std::collections::HashSet;

use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::{
    CLUSTER_IP_NONE, TYPE_CLUSTER_IP, TYPE_EXTERNAL_NAME, TYPE_LOAD_BALANCER, TYPE_NODE_PORT,
    externally_accessible, is_headless_spec, needs_health_check, spec_type,
};
use crate::validate;

/// Protocols of service and endpoint ports (sorted, as upstream lists them).
pub(crate) const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const TYPES: &[&str] = &[
    TYPE_CLUSTER_IP,
    TYPE_EXTERNAL_NAME,
    TYPE_LOAD_BALANCER,
    TYPE_NODE_PORT,
];
const SESSION_AFFINITIES: &[&str] = &["ClientIP", "None"];
const IP_FAMILIES: &[&str] = &["IPv4", "IPv6"];
const IP_FAMILY_POLICIES: &[&str] = &["PreferDualStack", "RequireDualStack", "SingleStack"];
const TRAFFIC_POLICIES: &[&str] = &["Cluster", "Local"];
const MAX_CLIENT_IP_TIMEOUT: i32 = 86400;
const KUBELET_PORT: i32 = 10250;

fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().cloned().map(Value::String).collect())
}

/// `ValidateService` (besides metadata).
pub(crate) fn validate_service(svc: &Service) -> ErrorList {
    let empty = ServiceSpec::default();
    let spec = svc.spec.as_ref().unwrap_or(&empty);
    let sp = Path::new("spec");
    let mut errs = Vec::new();
    let ports = spec.ports.as_deref().unwrap_or_default();
    let cluster_ips = spec.cluster_ips.as_deref().unwrap_or_default();
    let headless = is_headless_spec(spec);
    let ty = spec_type(spec);

    if ports.is_empty() && !headless && ty != TYPE_EXTERNAL_NAME {
        errs.push(FieldError::required(&sp.child("ports"), ""));
    }
    match ty {
        TYPE_LOAD_BALANCER => {
            if cluster_ips.first().map(String::as_str) == Some(CLUSTER_IP_NONE) {
                errs.push(FieldError::invalid(
                    &sp.child("clusterIPs").index(0),
                    CLUSTER_IP_NONE,
                    "may not be set to 'None' for LoadBalancer services",
                ));
            }
            for (i, p) in ports.iter().enumerate() {
                if p.port == KUBELET_PORT {
                    errs.push(FieldError::invalid(
                        &sp.child("ports").index(i),
                        p.port,
                        &format!(
                            "may not expose port {KUBELET_PORT} externally since it is used by kubelet"
                        ),
                    ));
                }
            }
        }
        TYPE_NODE_PORT if cluster_ips.first().map(String::as_str) == Some(CLUSTER_IP_NONE) => {
            errs.push(FieldError::invalid(
                &sp.child("clusterIPs").index(0),
                CLUSTER_IP_NONE,
                "may not be set to 'None' for NodePort services",
            ));
        }
        TYPE_EXTERNAL_NAME => {
            if !cluster_ips.is_empty() {
                errs.push(FieldError::forbidden(
                    &sp.child("clusterIPs"),
                    "may not be set for ExternalName services",
                ));
            }
            if spec.ip_families.as_ref().is_some_and(|f| !f.is_empty()) {
                errs.push(FieldError::forbidden(
                    &sp.child("ipFamilies"),
                    "may not be set for ExternalName services",
                ));
            }
            if spec.ip_family_policy.is_some() {
                errs.push(FieldError::forbidden(
                    &sp.child("ipFamilyPolicy"),
                    "may not be set for ExternalName services",
                ));
            }
            let name = spec.external_name.as_deref().unwrap_or_default();
            let cname = name.strip_suffix('.').unwrap_or(name);
            if cname.is_empty() {
                errs.push(FieldError::required(&sp.child("externalName"), ""));
            } else {
                errs.extend(validate::dns1123_subdomain(
                    cname,
                    &sp.child("externalName"),
                ));
            }
        }
        _ => {}
    }

    let mut names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        errs.extend(validate_service_port(
            p,
            ports.len() > 1,
            &mut names,
            &sp.child("ports").index(i),
        ));
    }

    errs.extend(validate::labels(
        spec.selector.as_ref(),
        &sp.child("selector"),
    ));

    let affinity = spec.session_affinity.as_deref().unwrap_or_default();
    errs.extend(validate::one_of(
        affinity,
        SESSION_AFFINITIES,
        true,
        &sp.child("sessionAffinity"),
    ));
    let cfg_path = sp.child("sessionAffinityConfig");
    if affinity == "ClientIP" {
        let when = "when session affinity type is ClientIP";
        match spec.session_affinity_config.as_ref() {
            None => errs.push(FieldError::required(&cfg_path, when)),
            Some(cfg) => match cfg.client_ip.as_ref() {
                None => errs.push(FieldError::required(&cfg_path.child("clientIP"), when)),
                Some(cip) => {
                    let tp = cfg_path.child("clientIP").child("timeoutSeconds");
                    match cip.timeout_seconds {
                        None => errs.push(FieldError::required(&tp, when)),
                        Some(t) if t <= 0 || t > MAX_CLIENT_IP_TIMEOUT => {
                            errs.push(FieldError::invalid(
                                &tp,
                                t,
                                &format!(
                                    "must be greater than 0 and less than {MAX_CLIENT_IP_TIMEOUT}"
                                ),
                            ))
                        }
                        Some(_) => {}
                    }
                }
            },
        }
    } else if affinity == "None" && spec.session_affinity_config.is_some() {
        errs.push(FieldError::forbidden(
            &cfg_path,
            "must not be set when session affinity is None",
        ));
    }

    errs.extend(validate_cluster_ips_related(spec));

    for (i, addr) in spec.external_ips.iter().flatten().enumerate() {
        let p = sp.child("externalIPs").index(i);
        let ip_errs = validate::ip(addr, &p);
        if ip_errs.is_empty() {
            errs.extend(validate::non_special_ip(addr, &p));
        } else {
            errs.extend(ip_errs);
        }
    }

    errs.extend(validate::one_of(ty, TYPES, true, &sp.child("type")));

    if ty == TYPE_CLUSTER_IP {
        for (i, p) in ports.iter().enumerate() {
            if p.node_port.unwrap_or(0) != 0 {
                errs.push(FieldError::forbidden(
                    &sp.child("ports").index(i).child("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }

    // Duplicate node ports and ports, keyed by protocol.
    let mut node_ports = HashSet::new();
    let mut seen_ports = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let proto = p.protocol.clone().unwrap_or_default();
        if let Some(np) = p.node_port.filter(|n| *n != 0)
            && !node_ports.insert((proto.clone(), np))
        {
            errs.push(FieldError::duplicate(
                &sp.child("ports").index(i).child("nodePort"),
                np,
            ));
        }
        if !seen_ports.insert((proto.clone(), p.port)) {
            errs.push(FieldError::duplicate(
                &sp.child("ports").index(i),
                serde_json::json!({"port": p.port, "protocol": proto}),
            ));
        }
    }

    if let Some(ranges) = spec
        .load_balancer_source_ranges
        .as_ref()
        .filter(|r| !r.is_empty())
    {
        let p = sp.child("LoadBalancerSourceRanges");
        if ty != TYPE_LOAD_BALANCER {
            errs.push(FieldError::forbidden(
                &p,
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        for (i, r) in ranges.iter().enumerate() {
            errs.extend(validate::cidr(r.trim(), &p.index(i)));
        }
    }

    if spec.allocate_load_balancer_node_ports.is_some() && ty != TYPE_LOAD_BALANCER {
        errs.push(FieldError::forbidden(
            &sp.child("allocateLoadBalancerNodePorts"),
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if ty == TYPE_LOAD_BALANCER && spec.allocate_load_balancer_node_ports.is_none() {
        errs.push(FieldError::required(
            &Path::new("allocateLoadBalancerNodePorts"),
            "",
        ));
    }

    if let Some(class) = spec.load_balancer_class.as_deref() {
        if ty != TYPE_LOAD_BALANCER {
            errs.push(FieldError::forbidden(
                &sp.child("loadBalancerClass"),
                "may only be used when `type` is 'LoadBalancer'",
            ));
        } else {
            errs.extend(validate::qualified_name(
                class,
                &sp.child("loadBalancerClass"),
            ));
        }
    }

    errs.extend(validate_traffic_policies(spec));

    if let Some(td) = spec.traffic_distribution.as_deref() {
        errs.extend(validate::one_of(
            td,
            &["PreferClose"],
            true,
            &sp.child("trafficDistribution"),
        ));
    }
    errs
}

fn validate_service_port(
    port: &ServicePort,
    require_name: bool,
    names: &mut HashSet<String>,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    let name = port.name.as_deref().unwrap_or_default();
    if require_name && name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    } else if !name.is_empty() {
        errs.extend(validate::dns1123_label(name, &path.child("name")));
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(&path.child("name"), name));
        }
    }
    errs.extend(validate::port_num(
        i64::from(port.port),
        &path.child("port"),
    ));
    errs.extend(validate::one_of(
        port.protocol.as_deref().unwrap_or_default(),
        PROTOCOLS,
        true,
        &path.child("protocol"),
    ));
    let target = port.target_port.clone().unwrap_or(IntOrString::Int(0));
    errs.extend(validate::port_num_or_name(
        &target,
        &path.child("targetPort"),
    ));
    if let Some(ap) = port.app_protocol.as_deref() {
        errs.extend(validate::qualified_name(ap, &path.child("appProtocol")));
    }
    errs
}

/// `validateServiceExternalTrafficPolicy` and the internal traffic policy
/// checks. A missing `healthCheckNodePort` is left to the allocator.
fn validate_traffic_policies(spec: &ServiceSpec) -> ErrorList {
    let sp = Path::new("spec");
    let mut errs = Vec::new();
    let etp = spec.external_traffic_policy.as_deref().unwrap_or_default();
    if !externally_accessible(spec) {
        if !etp.is_empty() {
            errs.push(FieldError::invalid(
                &sp.child("externalTrafficPolicy"),
                etp,
                "may only be set for externally-accessible services",
            ));
        }
    } else {
        errs.extend(validate::one_of(
            etp,
            TRAFFIC_POLICIES,
            true,
            &sp.child("externalTrafficPolicy"),
        ));
    }
    let hc = spec.health_check_node_port.unwrap_or(0);
    if !needs_health_check(spec) {
        if hc != 0 {
            errs.push(FieldError::invalid(
                &sp.child("healthCheckNodePort"),
                hc,
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        }
    } else if hc != 0 {
        errs.extend(validate::port_num(
            i64::from(hc),
            &sp.child("healthCheckNodePort"),
        ));
    }

    match spec.internal_traffic_policy.as_deref() {
        None => {
            if matches!(
                spec_type(spec),
                TYPE_NODE_PORT | TYPE_LOAD_BALANCER | TYPE_CLUSTER_IP
            ) {
                errs.push(FieldError::required(&sp.child("internalTrafficPolicy"), ""));
            }
        }
        Some(p) if !TRAFFIC_POLICIES.contains(&p) => errs.push(FieldError::not_supported(
            &sp.child("internalTrafficPolicy"),
            p,
            TRAFFIC_POLICIES,
        )),
        Some(_) => {}
    }
    errs
}

/// `ValidateServiceClusterIPsRelatedFields`.
fn validate_cluster_ips_related(spec: &ServiceSpec) -> ErrorList {
    let mut errs = Vec::new();
    if spec_type(spec) == TYPE_EXTERNAL_NAME {
        return errs;
    }
    let sp = Path::new("spec");
    let ips_path = sp.child("clusterIPs");
    let cluster_ip = spec.cluster_ip.as_deref().unwrap_or_default();
    let ips = spec.cluster_ips.as_deref().unwrap_or_default();
    let families = spec.ip_families.as_deref().unwrap_or_default();

    if !cluster_ip.is_empty() {
        if ips.is_empty() {
            errs.push(FieldError::required(&ips_path, ""));
        } else if ips[0] != cluster_ip {
            errs.push(FieldError::invalid(
                &ips_path,
                strings(ips),
                "first value must match `clusterIP`",
            ));
        }
    } else if !ips.is_empty() {
        errs.push(FieldError::invalid(
            &ips_path,
            strings(ips),
            "must be empty when `clusterIP` is not specified",
        ));
    }

    let mut seen = HashSet::new();
    for (i, f) in families.iter().enumerate() {
        let p = sp.child("ipFamilies").index(i);
        if !IP_FAMILIES.contains(&f.as_str()) {
            errs.push(FieldError::not_supported(&p, f.as_str(), IP_FAMILIES));
        }
        if !seen.insert(f.as_str()) {
            errs.push(FieldError::duplicate(&p, f.as_str()));
        }
    }
    if let Some(policy) = spec.ip_family_policy.as_deref()
        && !IP_FAMILY_POLICIES.contains(&policy)
    {
        errs.push(FieldError::not_supported(
            &sp.child("ipFamilyPolicy"),
            policy,
            IP_FAMILY_POLICIES,
        ));
    }

    let mut bad_ips = false;
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && ip == CLUSTER_IP_NONE {
            if ips.len() > 1 {
                bad_ips = true;
                errs.push(FieldError::invalid(
                    &ips_path,
                    strings(ips),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        let e = validate::ip(ip, &ips_path.index(i));
        bad_ips |= !e.is_empty();
        errs.extend(e);
    }
    if ips.len() > 2 {
        errs.push(FieldError::invalid(
            &ips_path,
            strings(ips),
            "may only hold up to 2 values",
        ));
    }
    if bad_ips {
        return errs;
    }
    if ips.len() > 1 {
        let v6: Vec<bool> = ips.iter().map(|ip| validate::is_ipv6(ip)).collect();
        let dual = v6.len() == 2 && v6[0] != v6[1];
        if !dual {
            errs.push(FieldError::invalid(
                &ips_path,
                strings(ips),
                "may specify no more than one IP for each IP family",
            ));
        }
    }
    if !is_headless_spec(spec) && !ips.is_empty() && !families.is_empty() {
        for (i, ip) in ips.iter().enumerate().take(families.len()) {
            let v6 = validate::is_ipv6(ip);
            if families[i] == "IPv4" && v6 {
                errs.push(FieldError::invalid(
                    &ips_path.index(i),
                    ip.as_str(),
                    &format!("expected an IPv4 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
            if families[i] == "IPv6" && !v6 {
                errs.push(FieldError::invalid(
                    &ips_path.index(i),
                    ip.as_str(),
                    &format!("expected an IPv6 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
    errs
}

/// `ValidateServiceUpdate` (besides metadata): cluster IPs and families may
/// only be added or released, never changed, unless the type changes to
/// or from ExternalName.
pub(crate) fn validate_service_update(new: &Service, old: &Service) -> ErrorList {
    let empty = ServiceSpec::default();
    let ns = new.spec.as_ref().unwrap_or(&empty);
    let os = old.spec.as_ref().unwrap_or(&empty);
    let mut errs = Vec::new();
    errs.extend(validate_upgrade_downgrade_cluster_ips(ns, os));
    errs.extend(validate_upgrade_downgrade_ip_families(ns, os));
    if spec_type(os) == TYPE_LOAD_BALANCER
        && spec_type(ns) == TYPE_LOAD_BALANCER
        && os.load_balancer_class != ns.load_balancer_class
    {
        errs.extend(validate::immutable(
            &ns.load_balancer_class,
            &os.load_balancer_class,
            &Path::new("spec").child("loadBalancerClass"),
        ));
    }
    errs.extend(validate_service(new));
    errs
}

fn validate_upgrade_downgrade_cluster_ips(ns: &ServiceSpec, os: &ServiceSpec) -> ErrorList {
    let mut errs = Vec::new();
    if spec_type(ns) == TYPE_EXTERNAL_NAME || spec_type(os) == TYPE_EXTERNAL_NAME {
        return errs;
    }
    if is_headless_spec(ns) && is_headless_spec(os) {
        return errs;
    }
    let new_ips = ns.cluster_ips.as_deref().unwrap_or_default();
    let old_ips = os.cluster_ips.as_deref().unwrap_or_default();
    let first = Path::new("spec").child("clusterIPs").index(0);
    let changed = "may not change once set";
    if old_ips.len() == new_ips.len() {
        for (i, ip) in old_ips.iter().enumerate() {
            if *ip != new_ips[i] {
                errs.push(FieldError::invalid(
                    &Path::new("spec").child("clusterIPs").index(i),
                    strings(new_ips),
                    changed,
                ));
            }
        }
    } else if old_ips.len() > new_ips.len() {
        if new_ips.is_empty() {
            errs.push(FieldError::invalid(
                &first,
                strings(new_ips),
                "primary clusterIP can not be unset",
            ));
        }
        if !old_ips.is_empty() && !new_ips.is_empty() && new_ips[0] != old_ips[0] {
            errs.push(FieldError::invalid(&first, strings(new_ips), changed));
        }
        if new_ips.len() == 1 && ns.ip_family_policy.as_deref() != Some("SingleStack") {
            errs.push(FieldError::invalid(
                &first,
                strings(new_ips),
                "`ipFamilyPolicy` must be set to 'SingleStack' when releasing the secondary clusterIP",
            ));
        }
    } else if !old_ips.is_empty() && new_ips[0] != old_ips[0] {
        errs.push(FieldError::invalid(&first, strings(new_ips), changed));
    }
    errs
}

fn validate_upgrade_downgrade_ip_families(ns: &ServiceSpec, os: &ServiceSpec) -> ErrorList {
    let mut errs = Vec::new();
    if spec_type(ns) == TYPE_EXTERNAL_NAME || spec_type(os) == TYPE_EXTERNAL_NAME {
        return errs;
    }
    if is_headless_spec(ns) && is_headless_spec(os) {
        return errs;
    }
    let new_f = ns.ip_families.as_deref().unwrap_or_default();
    let old_f = os.ip_families.as_deref().unwrap_or_default();
    let fp = Path::new("spec").child("ipFamilies");
    if old_f.len() == new_f.len() {
        for (i, f) in old_f.iter().enumerate() {
            if *f != new_f[i] {
                errs.push(FieldError::invalid(
                    &fp.index(0),
                    strings(new_f),
                    "may not change once set",
                ));
            }
        }
    } else if old_f.len() > new_f.len() {
        if !new_f.is_empty() && new_f[0] != old_f[0] {
            errs.push(FieldError::invalid(
                &fp.index(0),
                strings(new_f),
                "may not change once set",
            ));
        }
        if new_f.len() == 1 && ns.ip_family_policy.as_deref() != Some("SingleStack") {
            errs.push(FieldError::invalid(
                &fp.index(0),
                strings(new_f),
                "`ipFamilyPolicy` must be set to 'SingleStack' when releasing the secondary ipFamily",
            ));
        }
    } else if !old_f.is_empty() && new_f[0] != old_f[0] {
        errs.push(FieldError::invalid(
            &fp.index(0),
            strings(new_f),
            "may not change once set",
        ));
    }
    errs
}

/// `ValidateServiceStatusUpdate` (besides metadata): load-balancer
/// ingress entries and conditions.
pub(crate) fn validate_service_status(svc: &Service) -> ErrorList {
    let mut errs = Vec::new();
    let Some(status) = svc.status.as_ref() else {
        return errs;
    };
    let lb = Path::new("status").child("loadBalancer").child("ingress");
    for (i, ing) in status
        .load_balancer
        .iter()
        .flat_map(|l| l.ingress.iter().flatten())
        .enumerate()
    {
        errs.extend(validate::load_balancer_ingress(
            ing.ip.as_deref(),
            ing.hostname.as_deref(),
            ing.ip_mode.as_deref(),
            &lb.index(i),
        ));
    }
    errs
}
