//! Services and Endpoints (core/v1).
//!
//! Defaulting, the create/update preparation of upstream's `svcStrategy`
//! (clusterIP/clusterIPs normalization, clearing type-dependent fields when
//! the type changes) and `ValidateService`/`ValidateServiceUpdate`.
//!
//! IP and port allocation is the apiserver's job; it must run after
//! `default` and before `validate`, as upstream's allocators do (their
//! `BeginCreate` runs before validation). The helpers at the bottom of this
//! module tell it what a service needs: [`needs_cluster_ip`],
//! [`node_ports_needed`], [`needs_health_check_node_port`], and
//! [`set_allocated_cluster_ips`] to record the result.

mod endpoints;
mod validation;

#[cfg(test)]
mod tests;

use k8s_openapi::api::core::v1::{ClientIPConfig, Service, ServiceSpec, SessionAffinityConfig};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::kind::{KindRules, KindStrategy};

pub use endpoints::EndpointsRules;

/// `ClusterIP`, the default type.
pub const TYPE_CLUSTER_IP: &str = "ClusterIP";
/// `NodePort`.
pub const TYPE_NODE_PORT: &str = "NodePort";
/// `LoadBalancer`.
pub const TYPE_LOAD_BALANCER: &str = "LoadBalancer";
/// `ExternalName`.
pub const TYPE_EXTERNAL_NAME: &str = "ExternalName";
/// The `clusterIP` of a headless service.
pub const CLUSTER_IP_NONE: &str = "None";
/// Default `sessionAffinityConfig.clientIP.timeoutSeconds` (3 hours).
pub const DEFAULT_CLIENT_IP_TIMEOUT_SECONDS: i32 = 10800;

/// Strategy for Service.
pub static SERVICE_STRATEGY: KindStrategy<ServiceRules> = KindStrategy::new();

/// Strategy for Endpoints.
pub static ENDPOINTS_STRATEGY: KindStrategy<EndpointsRules> = KindStrategy::new();

/// The rules of core/v1 Service.
pub struct ServiceRules;

impl KindRules for ServiceRules {
    type Object = Service;
    const NAMESPACED: bool = true;

    fn name_validator() -> corten_apimachinery::names::NameValidator {
        corten_apimachinery::names::is_dns1035_label
    }

    fn prepare_for_create(obj: &mut Service) {
        if let Some(spec) = obj.spec.as_mut() {
            normalize_cluster_ips(spec, None);
        }
    }

    fn prepare_for_update(new: &mut Service, old: &Service) {
        let empty = ServiceSpec::default();
        let old_spec = old.spec.as_ref().unwrap_or(&empty);
        let spec = new.spec.get_or_insert_with(Default::default);
        patch_allocated_values(spec, old_spec);
        normalize_cluster_ips(spec, Some(old_spec));
        drop_type_dependent_fields(spec, old_spec);
        if spec_type(spec) != TYPE_LOAD_BALANCER
            && let Some(status) = new.status.as_mut()
        {
            status.load_balancer = None;
        }
    }

    fn fill_go_zero_values(obj: &mut Value) {
        crate::strategy::zero_condition_times(obj);
    }

    fn prepare_for_status_update(new: &mut Service, old: &Service) {
        new.spec.clone_from(&old.spec);
    }

    fn default(obj: &mut Service) {
        default_service_spec(obj.spec.get_or_insert_with(Default::default));
    }

    fn validate(obj: &Service) -> corten_apimachinery::ErrorList {
        validation::validate_service(obj)
    }

    fn validate_update(new: &Service, old: &Service) -> corten_apimachinery::ErrorList {
        validation::validate_service_update(new, old)
    }

    fn validate_status_update(new: &Service, _old: &Service) -> corten_apimachinery::ErrorList {
        validation::validate_service_status(new)
    }

    fn field_labels() -> &'static [&'static str] {
        &["spec.clusterIP", "spec.type"]
    }

    fn field_attrs(obj: &Service) -> Vec<(String, String)> {
        let spec = obj.spec.as_ref();
        vec![
            (
                "spec.clusterIP".into(),
                spec.and_then(|s| s.cluster_ip.clone()).unwrap_or_default(),
            ),
            (
                "spec.type".into(),
                spec.and_then(|s| s.type_.clone()).unwrap_or_default(),
            ),
        ]
    }
}

/// The service's type, "" if unset.
pub(crate) fn spec_type(spec: &ServiceSpec) -> &str {
    spec.type_.as_deref().unwrap_or_default()
}

/// Upstream `ExternallyAccessible`: NodePort, LoadBalancer, or ClusterIP
/// with external IPs.
pub(crate) fn externally_accessible(spec: &ServiceSpec) -> bool {
    match spec_type(spec) {
        TYPE_LOAD_BALANCER | TYPE_NODE_PORT => true,
        TYPE_CLUSTER_IP => spec.external_ips.as_ref().is_some_and(|v| !v.is_empty()),
        _ => false,
    }
}

/// Upstream `NeedsHealthCheck`: LoadBalancer with `externalTrafficPolicy:
/// Local`.
pub(crate) fn needs_health_check(spec: &ServiceSpec) -> bool {
    spec_type(spec) == TYPE_LOAD_BALANCER
        && spec.external_traffic_policy.as_deref() == Some("Local")
}

/// Upstream `isHeadlessService`: ClusterIP type with `clusterIPs: [None]`.
pub(crate) fn is_headless_spec(spec: &ServiceSpec) -> bool {
    spec_type(spec) == TYPE_CLUSTER_IP
        && spec
            .cluster_ips
            .as_deref()
            .is_some_and(|ips| ips.len() == 1 && ips[0] == CLUSTER_IP_NONE)
}

/// `SetDefaults_Service`.
fn default_service_spec(spec: &mut ServiceSpec) {
    if spec
        .session_affinity
        .as_deref()
        .unwrap_or_default()
        .is_empty()
    {
        spec.session_affinity = Some("None".into());
    }
    match spec.session_affinity.as_deref() {
        Some("None") => spec.session_affinity_config = None,
        Some("ClientIP") => {
            let has_timeout = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .is_some();
            if !has_timeout {
                spec.session_affinity_config = Some(SessionAffinityConfig {
                    client_ip: Some(ClientIPConfig {
                        timeout_seconds: Some(DEFAULT_CLIENT_IP_TIMEOUT_SECONDS),
                    }),
                });
            }
        }
        _ => {}
    }
    if spec_type(spec).is_empty() {
        spec.type_ = Some(TYPE_CLUSTER_IP.into());
    }
    for port in spec.ports.iter_mut().flatten() {
        if port.protocol.as_deref().unwrap_or_default().is_empty() {
            port.protocol = Some("TCP".into());
        }
        let unset = match &port.target_port {
            None => true,
            Some(IntOrString::Int(0)) => true,
            Some(IntOrString::String(s)) => s.is_empty(),
            Some(IntOrString::Int(_)) => false,
        };
        if unset {
            port.target_port = Some(IntOrString::Int(port.port));
        }
    }
    if externally_accessible(spec)
        && spec
            .external_traffic_policy
            .as_deref()
            .unwrap_or_default()
            .is_empty()
    {
        spec.external_traffic_policy = Some("Cluster".into());
    }
    if spec.internal_traffic_policy.is_none()
        && matches!(
            spec_type(spec),
            TYPE_NODE_PORT | TYPE_LOAD_BALANCER | TYPE_CLUSTER_IP
        )
    {
        spec.internal_traffic_policy = Some("Cluster".into());
    }
    if spec_type(spec) == TYPE_LOAD_BALANCER && spec.allocate_load_balancer_node_ports.is_none() {
        spec.allocate_load_balancer_node_ports = Some(true);
    }
}

fn cluster_ip(spec: &ServiceSpec) -> &str {
    spec.cluster_ip.as_deref().unwrap_or_default()
}

fn cluster_ips(spec: &ServiceSpec) -> &[String] {
    spec.cluster_ips.as_deref().unwrap_or_default()
}

/// Upstream `NormalizeClusterIPs`: infers `clusterIPs` from `clusterIP`
/// for clients that only know the singular field.
fn normalize_cluster_ips(spec: &mut ServiceSpec, old: Option<&ServiceSpec>) {
    let Some(old) = old else {
        if !cluster_ip(spec).is_empty() && cluster_ips(spec).is_empty() {
            spec.cluster_ips = Some(vec![cluster_ip(spec).to_string()]);
        }
        return;
    };
    // An old client patched something else and dropped clusterIPs.
    if !cluster_ips(old).is_empty()
        && cluster_ips(spec).is_empty()
        && cluster_ip(old) == cluster_ip(spec)
    {
        spec.cluster_ips.clone_from(&old.cluster_ips);
    }
    if cluster_ip(old) != cluster_ip(spec) {
        // A client clearing clusterIP: clear the plural on its behalf.
        if !cluster_ip(old).is_empty()
            && cluster_ip(spec).is_empty()
            && cluster_ips(old) == cluster_ips(spec)
        {
            spec.cluster_ips = None;
        }
        // A client changing clusterIP only: follow it.
        if !cluster_ip(spec).is_empty() && cluster_ips(old) == cluster_ips(spec) {
            spec.cluster_ips = Some(vec![cluster_ip(spec).to_string()]);
        }
    }
}

/// Upstream `patchAllocatedValues`: values the apiserver allocated and
/// the client left out of its update (cluster IPs, node ports matched by
/// port name, the health-check node port) are carried over, so a PUT of a
/// manifest without them is not a change. The IP families and policy are
/// carried over too when the type still uses cluster IPs (upstream
/// re-infers the same values in its allocator).
fn patch_allocated_values(spec: &mut ServiceSpec, old: &ServiceSpec) {
    let needs_ip = |s: &ServiceSpec| spec_type(s) != TYPE_EXTERNAL_NAME;
    if needs_ip(old) && needs_ip(spec) {
        if cluster_ip(spec).is_empty() && !cluster_ip(old).is_empty() {
            spec.cluster_ip.clone_from(&old.cluster_ip);
        }
        if cluster_ips(spec).is_empty() && !cluster_ips(old).is_empty() {
            spec.cluster_ips.clone_from(&old.cluster_ips);
        }
        if spec.ip_families.as_ref().is_none_or(Vec::is_empty) {
            spec.ip_families.clone_from(&old.ip_families);
        }
        if spec.ip_family_policy.is_none() {
            spec.ip_family_policy.clone_from(&old.ip_family_policy);
        }
    }
    let needs_node_port =
        |s: &ServiceSpec| matches!(spec_type(s), TYPE_NODE_PORT | TYPE_LOAD_BALANCER);
    if needs_node_port(old) && needs_node_port(spec) {
        let new_used = node_port_set(spec);
        let used: Vec<i32> = node_port_set(old)
            .into_iter()
            .filter(|p| new_used.contains(p))
            .collect();
        for port in spec.ports.iter_mut().flatten() {
            if port.node_port.unwrap_or(0) != 0 {
                continue;
            }
            let old_val = old
                .ports
                .iter()
                .flatten()
                .find(|p| p.name == port.name)
                .and_then(|p| p.node_port)
                .unwrap_or(0);
            if old_val != 0 && !used.contains(&old_val) {
                port.node_port = Some(old_val);
            }
        }
    }
    if needs_health_check(old)
        && needs_health_check(spec)
        && spec.health_check_node_port.unwrap_or(0) == 0
    {
        spec.health_check_node_port = old.health_check_node_port;
    }
}

fn node_port_set(spec: &ServiceSpec) -> Vec<i32> {
    spec.ports
        .iter()
        .flatten()
        .filter_map(|p| p.node_port)
        .filter(|n| *n != 0)
        .collect()
}

/// Upstream `dropTypeDependentFields`: when the type changes, clears what
/// the new type does not use, if the client left it as it was.
fn drop_type_dependent_fields(spec: &mut ServiceSpec, old: &ServiceSpec) {
    let needs_ip = |s: &ServiceSpec| spec_type(s) != TYPE_EXTERNAL_NAME;
    if needs_ip(old) && !needs_ip(spec) {
        if cluster_ip(old) == cluster_ip(spec) && cluster_ips(old) == cluster_ips(spec) {
            spec.cluster_ip = None;
            spec.cluster_ips = None;
        }
        if old.ip_families == spec.ip_families {
            spec.ip_families = None;
        }
        if old.ip_family_policy == spec.ip_family_policy {
            spec.ip_family_policy = None;
        }
    }
    let needs_node_port =
        |s: &ServiceSpec| matches!(spec_type(s), TYPE_NODE_PORT | TYPE_LOAD_BALANCER);
    if needs_node_port(old) && !needs_node_port(spec) {
        let old_ports = node_port_set(old);
        if node_port_set(spec).iter().all(|p| old_ports.contains(p)) {
            for port in spec.ports.iter_mut().flatten() {
                port.node_port = None;
            }
        }
    }
    if needs_health_check(old)
        && !needs_health_check(spec)
        && old.health_check_node_port == spec.health_check_node_port
    {
        spec.health_check_node_port = None;
    }
    if spec_type(old) == TYPE_LOAD_BALANCER && spec_type(spec) != TYPE_LOAD_BALANCER {
        if spec.allocate_load_balancer_node_ports.is_some()
            && spec.allocate_load_balancer_node_ports == old.allocate_load_balancer_node_ports
        {
            spec.allocate_load_balancer_node_ports = None;
        }
        if spec.load_balancer_class == old.load_balancer_class {
            spec.load_balancer_class = None;
        }
    }
    if externally_accessible(old)
        && !externally_accessible(spec)
        && old.external_traffic_policy == spec.external_traffic_policy
    {
        spec.external_traffic_policy = None;
    }
}

// ---- helpers for the apiserver's IP and port allocators ----

fn decode_spec(svc: &Value) -> ServiceSpec {
    svc.get("spec")
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or_default()
}

/// Whether the service's type uses a cluster IP (every type but
/// ExternalName). A headless service (`clusterIP: None`) needs no
/// allocation even though this is true; see [`cluster_ips_to_allocate`].
pub fn needs_cluster_ip(svc: &Value) -> bool {
    spec_type(&decode_spec(svc)) != TYPE_EXTERNAL_NAME
}

/// Whether the service is headless (`clusterIP: None`).
pub fn is_headless(svc: &Value) -> bool {
    let spec = decode_spec(svc);
    cluster_ip(&spec) == CLUSTER_IP_NONE || is_headless_spec(&spec)
}

/// The cluster IPs a client asked for (`spec.clusterIPs`, or
/// `[spec.clusterIP]` for old clients); empty means "allocate".
pub fn requested_cluster_ips(svc: &Value) -> Vec<String> {
    let spec = decode_spec(svc);
    if !cluster_ips(&spec).is_empty() {
        return cluster_ips(&spec).to_vec();
    }
    match cluster_ip(&spec) {
        "" => Vec::new(),
        ip => vec![ip.to_string()],
    }
}

/// Whether the allocator must assign cluster IPs: the type needs one, it
/// is not headless and none was requested.
pub fn cluster_ips_to_allocate(svc: &Value) -> bool {
    needs_cluster_ip(svc) && !is_headless(svc) && requested_cluster_ips(svc).is_empty()
}

/// The IP family (`IPv4`/`IPv6`) of an address, as `spec.ipFamilies`
/// spells it.
pub fn ip_family_of(ip: &str) -> Option<&'static str> {
    match crate::validate::parse_ip_sloppy(ip)? {
        std::net::IpAddr::V4(_) => Some("IPv4"),
        std::net::IpAddr::V6(_) => Some("IPv6"),
    }
}

/// Records allocated cluster IPs: `clusterIP` = first, `clusterIPs` = all,
/// `ipFamilies` inferred from the addresses, and `ipFamilyPolicy` set to
/// `SingleStack` (one IP) or `RequireDualStack` (two) if the client left it
/// unset. No-op on a non-object.
pub fn set_allocated_cluster_ips(svc: &mut Value, ips: &[String]) {
    let Some(first) = ips.first() else {
        return;
    };
    let Some(spec) = svc
        .as_object_mut()
        .map(|o| {
            o.entry("spec")
                .or_insert_with(|| Value::Object(Default::default()))
        })
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    spec.insert("clusterIP".into(), Value::String(first.clone()));
    spec.insert(
        "clusterIPs".into(),
        Value::Array(ips.iter().cloned().map(Value::String).collect()),
    );
    let families: Vec<Value> = ips
        .iter()
        .filter_map(|ip| ip_family_of(ip))
        .map(|f| Value::String(f.to_string()))
        .collect();
    spec.insert("ipFamilies".into(), Value::Array(families));
    if spec.get("ipFamilyPolicy").is_none_or(Value::is_null) {
        let policy = if ips.len() > 1 {
            "RequireDualStack"
        } else {
            "SingleStack"
        };
        spec.insert("ipFamilyPolicy".into(), Value::String(policy.into()));
    }
}

/// The ports that need a node port: `(index into spec.ports, requested
/// nodePort)`, `None` meaning "allocate one". NodePort services need one per
/// port; LoadBalancer services too unless `allocateLoadBalancerNodePorts` is
/// false, in which case only explicitly requested ones are kept. Other
/// types need none. Upstream shares one node port between entries with the
/// same `port` and different protocols; the allocator decides that.
pub fn node_ports_needed(svc: &Value) -> Vec<(usize, Option<i32>)> {
    let spec = decode_spec(svc);
    let all = match spec_type(&spec) {
        TYPE_NODE_PORT => true,
        TYPE_LOAD_BALANCER => spec.allocate_load_balancer_node_ports != Some(false),
        _ => return Vec::new(),
    };
    spec.ports
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, p)| {
            let requested = p.node_port.filter(|n| *n != 0);
            if all || requested.is_some() {
                Some((i, requested))
            } else {
                None
            }
        })
        .collect()
}

/// Whether the service needs a health-check node port (LoadBalancer with
/// `externalTrafficPolicy: Local`) and has none yet.
pub fn needs_health_check_node_port(svc: &Value) -> bool {
    let spec = decode_spec(svc);
    needs_health_check(&spec) && spec.health_check_node_port.unwrap_or(0) == 0
}
