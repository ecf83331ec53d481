//! discovery.k8s.io/v1 EndpointSlice.

use std::collections::HashSet;

use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::kind::{KindRules, KindStrategy};
use crate::validate;

/// Strategy for EndpointSlice.
pub static ENDPOINT_SLICE_STRATEGY: KindStrategy<EndpointSliceRules> = KindStrategy::new();

const ADDRESS_TYPES: &[&str] = &["FQDN", "IPv4", "IPv6"];
const MAX_ENDPOINTS: usize = 1000;
const MAX_ADDRESSES: usize = 100;
const MAX_PORTS: usize = 20000;
const MAX_TOPOLOGY_LABELS: usize = 16;
const MAX_ZONE_HINTS: usize = 8;

/// The rules of EndpointSlice: address type (immutable), endpoints and
/// their addresses per type, ports. The generation is bumped on any change
/// besides metadata, and on label changes, like upstream.
pub struct EndpointSliceRules;

impl KindRules for EndpointSliceRules {
    type Object = EndpointSlice;
    const NAMESPACED: bool = true;
    const TRACKS_GENERATION: bool = true;

    fn prepare_for_update(new: &mut EndpointSlice, old: &EndpointSlice) {
        let generation = old.metadata.generation.unwrap_or(0);
        let same_content = new.address_type == old.address_type
            && new.endpoints == old.endpoints
            && new.ports == old.ports;
        if same_content && new.metadata.labels != old.metadata.labels {
            new.metadata.generation = Some(generation + 1);
        }
    }

    fn default(slice: &mut EndpointSlice) {
        for port in slice.ports.iter_mut().flatten() {
            if port.name.is_none() {
                port.name = Some(String::new());
            }
            if port.protocol.is_none() {
                port.protocol = Some("TCP".into());
            }
        }
    }

    fn validate(slice: &EndpointSlice) -> ErrorList {
        let mut errs = Vec::new();
        let at = Path::new("addressType");
        errs.extend(validate::one_of(
            &slice.address_type,
            ADDRESS_TYPES,
            true,
            &at,
        ));

        let ep = Path::new("endpoints");
        if slice.endpoints.len() > MAX_ENDPOINTS {
            errs.push(FieldError::too_many(
                &ep,
                slice.endpoints.len(),
                MAX_ENDPOINTS,
            ));
        } else {
            for (i, e) in slice.endpoints.iter().enumerate() {
                let p = ep.index(i);
                let ap = p.child("addresses");
                if e.addresses.is_empty() {
                    errs.push(FieldError::required(&ap, "must contain at least 1 address"));
                } else if e.addresses.len() > MAX_ADDRESSES {
                    errs.push(FieldError::too_many(&ap, e.addresses.len(), MAX_ADDRESSES));
                }
                for (j, a) in e.addresses.iter().enumerate() {
                    errs.extend(validate_address(&slice.address_type, a, &ap.index(j)));
                }
                if let Some(n) = e.node_name.as_deref() {
                    errs.extend(validate::dns1123_subdomain(n, &p.child("nodeName")));
                }
                let tp = p.child("deprecatedTopology");
                if let Some(t) = e.deprecated_topology.as_ref() {
                    if t.len() > MAX_TOPOLOGY_LABELS {
                        errs.push(FieldError::too_many(&tp, t.len(), MAX_TOPOLOGY_LABELS));
                    }
                    errs.extend(validate::labels(Some(t), &tp));
                }
                if let Some(h) = e.hostname.as_deref() {
                    errs.extend(validate::dns1123_label(h, &p.child("hostname")));
                }
                if let Some(hints) = e.hints.as_ref() {
                    let zp = p.child("hints").child("forZones");
                    let zones = hints.for_zones.as_deref().unwrap_or_default();
                    if zones.len() > MAX_ZONE_HINTS {
                        errs.push(FieldError::too_many(&zp, zones.len(), MAX_ZONE_HINTS));
                    }
                    let mut seen = HashSet::new();
                    for (k, z) in zones.iter().enumerate() {
                        if !seen.insert(&z.name) {
                            errs.push(FieldError::duplicate(
                                &zp.index(k).child("name"),
                                z.name.as_str(),
                            ));
                        }
                        errs.extend(validate::invalid_each(
                            &zp.index(k).child("name"),
                            &z.name,
                            corten_apimachinery::names::is_valid_label_value(&z.name),
                        ));
                    }
                }
            }
        }

        let pp = Path::new("ports");
        let ports = slice.ports.as_deref().unwrap_or_default();
        if ports.len() > MAX_PORTS {
            errs.push(FieldError::too_many(&pp, ports.len(), MAX_PORTS));
            return errs;
        }
        let mut names = HashSet::new();
        for (i, port) in ports.iter().enumerate() {
            let p = pp.index(i);
            let name = port.name.as_deref().unwrap_or_default();
            if !name.is_empty() {
                errs.extend(validate::dns1123_label(name, &p.child("name")));
            }
            if !names.insert(name) {
                errs.push(FieldError::duplicate(&p.child("name"), name));
            }
            match port.protocol.as_deref() {
                None => errs.push(FieldError::required(&p.child("protocol"), "")),
                Some(proto) => errs.extend(validate::one_of(
                    proto,
                    &["SCTP", "TCP", "UDP"],
                    true,
                    &p.child("protocol"),
                )),
            }
            if let Some(ap) = port.app_protocol.as_deref() {
                errs.extend(validate::qualified_name(ap, &p.child("appProtocol")));
            }
        }
        errs
    }

    fn validate_update(new: &EndpointSlice, old: &EndpointSlice) -> ErrorList {
        let mut errs = Self::validate(new);
        errs.extend(validate::immutable(
            &new.address_type,
            &old.address_type,
            &Path::new("addressType"),
        ));
        errs
    }
}

fn validate_address(address_type: &str, addr: &str, path: &Path) -> ErrorList {
    match address_type {
        "IPv4" | "IPv6" => {
            let msgs = if address_type == "IPv4" {
                corten_apimachinery::names::is_valid_ipv4_address(addr)
            } else {
                corten_apimachinery::names::is_valid_ipv6_address(addr)
            };
            if !msgs.is_empty() {
                return validate::invalid_each(path, addr, msgs);
            }
            validate::non_special_ip(addr, path)
        }
        "FQDN" => validate::fully_qualified_domain_name(addr, path),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Strategy;
    use serde_json::json;

    fn slice(address_type: &str, addresses: serde_json::Value) -> serde_json::Value {
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": "s", "namespace": "default"},
               "addressType": address_type,
               "endpoints": [{"addresses": addresses}],
               "ports": [{"port": 80}]})
    }

    fn prepared(o: serde_json::Value) -> serde_json::Value {
        let mut o = ENDPOINT_SLICE_STRATEGY.canonicalize(o).unwrap();
        ENDPOINT_SLICE_STRATEGY.prepare_for_create(&mut o);
        ENDPOINT_SLICE_STRATEGY.default(&mut o);
        o
    }

    #[test]
    fn defaults_port_protocol_and_name() {
        let o = prepared(slice("IPv4", json!(["10.0.0.1"])));
        assert_eq!(o["ports"][0]["protocol"], "TCP");
        assert_eq!(o["ports"][0]["name"], "");
        assert_eq!(o["metadata"]["generation"], 1);
        assert!(ENDPOINT_SLICE_STRATEGY.validate(&o).is_empty());
    }

    #[test]
    fn addresses_match_the_type() {
        let o = prepared(slice("IPv4", json!(["fd00::1"])));
        let errs = ENDPOINT_SLICE_STRATEGY.validate(&o);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "endpoints[0].addresses[0]");
        let o = prepared(slice("FQDN", json!(["example.com"])));
        assert!(ENDPOINT_SLICE_STRATEGY.validate(&o).is_empty());
        let o = prepared(slice("Bogus", json!(["x"])));
        let errs = ENDPOINT_SLICE_STRATEGY.validate(&o);
        assert_eq!(
            errs[0].to_string(),
            "addressType: Unsupported value: \"Bogus\": supported values: \"FQDN\", \"IPv4\", \"IPv6\""
        );
    }

    #[test]
    fn too_many_endpoints() {
        let mut o = prepared(slice("IPv4", json!(["10.0.0.1"])));
        let eps: Vec<serde_json::Value> = (0..1001)
            .map(|_| json!({"addresses": ["10.0.0.1"]}))
            .collect();
        o["endpoints"] = json!(eps);
        let errs = ENDPOINT_SLICE_STRATEGY.validate(&o);
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            "endpoints: Too many: 1001: must have at most 1000 items"
        );
    }

    #[test]
    fn address_type_is_immutable() {
        let old = prepared(slice("IPv4", json!(["10.0.0.1"])));
        let mut new = old.clone();
        new["addressType"] = json!("FQDN");
        new["endpoints"] = json!([{"addresses": ["a.example.com"]}]);
        let errs = ENDPOINT_SLICE_STRATEGY.validate_update(&new, &old);
        assert!(
            errs.iter().any(
                |e| e.to_string() == "addressType: Invalid value: \"FQDN\": field is immutable"
            )
        );
    }

    #[test]
    fn label_changes_bump_generation() {
        let old = prepared(slice("IPv4", json!(["10.0.0.1"])));
        let mut new = old.clone();
        new["metadata"]["labels"] = json!({"a": "b"});
        ENDPOINT_SLICE_STRATEGY.prepare_for_update(&mut new, &old);
        assert_eq!(new["metadata"]["generation"], 2);
    }
}
