//! networking.k8s.io (Ingress, IngressClass, NetworkPolicy, ServiceCIDR,
//! IPAddress) and discovery.k8s.io (EndpointSlice).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::access::{age, at, format_label_selector, list, list_with_more, name, opt_text, text};
use super::core::load_balancer_addresses;
use super::{AGE, Column, NAME, Printer};

pub(super) fn printer(group: &str, kind: &str) -> Option<&'static Printer> {
    Some(match (group, kind) {
        ("networking.k8s.io", "Ingress") => &INGRESS,
        ("networking.k8s.io", "IngressClass") => &INGRESS_CLASS,
        ("networking.k8s.io", "NetworkPolicy") => &NETWORK_POLICY,
        ("networking.k8s.io", "ServiceCIDR") => &SERVICE_CIDR,
        ("networking.k8s.io", "IPAddress") => &IP_ADDRESS,
        ("discovery.k8s.io", "EndpointSlice") => &ENDPOINT_SLICE,
        _ => return None,
    })
}

static INGRESS: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "Class",
            "string",
            "The name of the IngressClass resource that should be used for additional configuration",
        ),
        Column::new(
            "Hosts",
            "string",
            "Hosts that incoming requests are matched against before the ingress rule",
        ),
        Column::new(
            "Address",
            "string",
            "Address is a list containing ingress points for the load-balancer",
        ),
        Column::new("Ports", "string", "Ports of TLS configurations that open"),
        AGE,
    ],
    ingress_cells,
);

/// Upstream `formatHosts`: up to three hosts, `*` when no rule names one.
fn ingress_hosts(rules: &[Value]) -> String {
    const MAX: usize = 3;
    let mut hosts: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if hosts.len() == MAX {
            more = true;
        }
        let host = text(rule, &["host"]);
        if !more && !host.is_empty() {
            hosts.push(host);
        }
    }
    if hosts.is_empty() {
        return "*".to_string();
    }
    let joined = hosts.join(",");
    if more {
        format!("{joined} + {} more...", rules.len() - MAX)
    } else {
        joined
    }
}

fn ingress_cells(ing: &Value, now: Timestamp) -> Vec<Value> {
    let ports = if list(ing, &["spec", "tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        json!(name(ing)),
        json!(opt_text(ing, &["spec", "ingressClassName"]).unwrap_or("<none>")),
        json!(ingress_hosts(list(ing, &["spec", "rules"]))),
        json!(load_balancer_addresses(list(
            ing,
            &["status", "loadBalancer", "ingress"]
        ))),
        json!(ports),
        json!(age(ing, now)),
    ]
}

static INGRESS_CLASS: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "Controller",
            "string",
            "Controller that is responsible for handling this class",
        ),
        Column::new(
            "Parameters",
            "string",
            "A reference to a resource with additional parameters",
        ),
        AGE,
    ],
    |obj, now| {
        let params = at(obj, &["spec", "parameters"]);
        let parameters = if params.is_object() {
            let mut p = text(params, &["kind"]).to_string();
            if let Some(group) = opt_text(params, &["apiGroup"]) {
                p = format!("{p}.{group}");
            }
            format!("{p}/{}", text(params, &["name"]))
        } else {
            "<none>".to_string()
        };
        vec![
            json!(name(obj)),
            json!(text(obj, &["spec", "controller"])),
            json!(parameters),
            json!(age(obj, now)),
        ]
    },
);

static NETWORK_POLICY: Printer = Printer::new(
    &[
        NAME,
        Column::new("Pod-Selector", "string", "The pods the policy applies to."),
        AGE,
    ],
    |obj, now| {
        // podSelector is not a pointer upstream: missing means empty.
        let selector = match at(obj, &["spec", "podSelector"]) {
            Value::Null => json!({}),
            s => s.clone(),
        };
        vec![
            json!(name(obj)),
            json!(format_label_selector(&selector)),
            json!(age(obj, now)),
        ]
    },
);

static SERVICE_CIDR: Printer = Printer::new(
    &[
        NAME,
        Column::new("CIDRs", "string", "The IP ranges of the ServiceCIDR."),
        AGE,
    ],
    |obj, now| {
        let cidrs: Vec<&str> = list(obj, &["spec", "cidrs"])
            .iter()
            .map(|c| c.as_str().unwrap_or(""))
            .collect();
        vec![
            json!(name(obj)),
            json!(cidrs.join(",")),
            json!(age(obj, now)),
        ]
    },
);

static IP_ADDRESS: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "ParentRef",
            "string",
            "The object the IP address is allocated to.",
        ),
    ],
    // Upstream computes an age but declares no column for it, so the row
    // carries one cell more than the columns; kept for fidelity.
    |obj, now| {
        let parent = at(obj, &["spec", "parentRef"]);
        let parent_ref = if parent.is_object() {
            let group = text(parent, &["group"]);
            let resource = text(parent, &["resource"]);
            let mut p = if group.is_empty() {
                resource.to_string()
            } else {
                format!("{resource}.{group}")
            }
            .to_lowercase();
            let namespace = text(parent, &["namespace"]);
            if !namespace.is_empty() {
                p = format!("{p}/{namespace}");
            }
            format!("{p}/{}", text(parent, &["name"]))
        } else {
            "<none>".to_string()
        };
        vec![json!(name(obj)), json!(parent_ref), json!(age(obj, now))]
    },
);

static ENDPOINT_SLICE: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "AddressType",
            "string",
            "The type of the addresses (IPv4, IPv6, FQDN).",
        ),
        Column::new("Ports", "string", "The ports of the endpoints."),
        Column::new("Endpoints", "string", "The addresses of the endpoints."),
        AGE,
    ],
    endpoint_slice_cells,
);

fn endpoint_slice_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    const MAX: usize = 3;
    let mut ports: Vec<String> = Vec::new();
    let mut more = false;
    let port_list = list(obj, &["ports"]);
    for p in port_list {
        if ports.len() < MAX {
            let port = match (at(p, &["port"]).as_i64(), opt_text(p, &["name"])) {
                (Some(n), _) => n.to_string(),
                (None, Some(name)) => name.to_string(),
                (None, None) => "*".to_string(),
            };
            ports.push(port);
        } else {
            more = true;
        }
    }
    let ports = list_with_more(&ports, more, port_list.len(), MAX);

    let mut addresses: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0;
    for endpoint in list(obj, &["endpoints"]) {
        for address in list(endpoint, &["addresses"]) {
            if addresses.len() < MAX {
                addresses.push(address.as_str().unwrap_or("").to_string());
            } else {
                more = true;
            }
            count += 1;
        }
    }
    vec![
        json!(name(obj)),
        json!(text(obj, &["addressType"])),
        json!(ports),
        json!(list_with_more(&addresses, more, count, MAX)),
        json!(age(obj, now)),
    ]
}
