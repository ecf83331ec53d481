//! core/v1 Endpoints: port protocol defaulting and `ValidateEndpoints`.

use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, Endpoints};

use super::validation::PROTOCOLS;
use crate::kind::KindRules;
use crate::validate;

/// The rules of core/v1 Endpoints.
pub struct EndpointsRules;

impl KindRules for EndpointsRules {
    type Object = Endpoints;
    const NAMESPACED: bool = true;

    fn default(obj: &mut Endpoints) {
        for subset in obj.subsets.iter_mut().flatten() {
            for port in subset.ports.iter_mut().flatten() {
                if port.protocol.as_deref().unwrap_or_default().is_empty() {
                    port.protocol = Some("TCP".into());
                }
            }
        }
    }

    fn validate(obj: &Endpoints) -> ErrorList {
        let mut errs = Vec::new();
        let root = Path::new("subsets");
        for (i, subset) in obj.subsets.iter().flatten().enumerate() {
            let sp = root.index(i);
            let ready = subset.addresses.as_deref().unwrap_or_default();
            let not_ready = subset.not_ready_addresses.as_deref().unwrap_or_default();
            if ready.is_empty() && not_ready.is_empty() {
                errs.push(FieldError::required(
                    &sp,
                    "must specify `addresses` or `notReadyAddresses`",
                ));
            }
            for (j, a) in ready.iter().enumerate() {
                errs.extend(validate_address(a, &sp.child("addresses").index(j)));
            }
            for (j, a) in not_ready.iter().enumerate() {
                errs.extend(validate_address(a, &sp.child("notReadyAddresses").index(j)));
            }
            let ports = subset.ports.as_deref().unwrap_or_default();
            for (j, p) in ports.iter().enumerate() {
                errs.extend(validate_port(
                    p,
                    ports.len() > 1,
                    &sp.child("ports").index(j),
                ));
            }
        }
        errs
    }
}

fn validate_address(addr: &EndpointAddress, path: &Path) -> ErrorList {
    let ip_path = path.child("ip");
    let mut errs = validate::ip(&addr.ip, &ip_path);
    if let Some(h) = addr.hostname.as_deref().filter(|h| !h.is_empty()) {
        errs.extend(validate::dns1123_label(h, &path.child("hostname")));
    }
    if let Some(n) = addr.node_name.as_deref() {
        errs.extend(validate::dns1123_subdomain(n, &path.child("nodeName")));
    }
    errs.extend(validate::non_special_ip(&addr.ip, &ip_path));
    errs
}

fn validate_port(port: &EndpointPort, require_name: bool, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let name = port.name.as_deref().unwrap_or_default();
    if require_name && name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    } else if !name.is_empty() {
        errs.extend(validate::dns1123_label(name, &path.child("name")));
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
    if let Some(ap) = port.app_protocol.as_deref() {
        errs.extend(validate::qualified_name(ap, &path.child("appProtocol")));
    }
    errs
}
