use serde_json::{Value, json};

use super::*;
use crate::strategy::Strategy;

fn svc(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "web", "namespace": "default", "resourceVersion": "1"}, "spec": spec})
}

/// canonicalize -> prepare_for_create -> default, as the store does.
fn created(obj: Value) -> Value {
    let s = &SERVICE_STRATEGY;
    crate::pipeline::testing::assert_same_create(s, &obj);
    let mut o = s.canonicalize(obj).unwrap();
    s.prepare_for_create(&mut o);
    s.default(&mut o);
    o
}

fn updated(new: Value, old: &Value) -> Value {
    let s = &SERVICE_STRATEGY;
    crate::pipeline::testing::assert_same_updates(s, &new, old);
    let mut o = s.canonicalize(new).unwrap();
    s.prepare_for_update(&mut o, old);
    s.default(&mut o);
    o
}

fn errors(o: &Value) -> Vec<String> {
    SERVICE_STRATEGY
        .validate(o)
        .iter()
        .map(|e| e.to_string())
        .collect()
}

fn update_errors(new: &Value, old: &Value) -> Vec<String> {
    SERVICE_STRATEGY
        .validate_update(new, old)
        .iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn defaults_cluster_ip_service() {
    let o = created(svc(
        json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}),
    ));
    let spec = &o["spec"];
    assert_eq!(spec["type"], "ClusterIP");
    assert_eq!(spec["sessionAffinity"], "None");
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    assert_eq!(spec["ports"][0]["protocol"], "TCP");
    assert_eq!(spec["ports"][0]["targetPort"], 80);
    assert!(spec.get("externalTrafficPolicy").is_none());
    assert!(spec.get("allocateLoadBalancerNodePorts").is_none());
    assert!(errors(&o).is_empty(), "{:?}", errors(&o));
}

#[test]
fn defaults_load_balancer_and_client_ip_affinity() {
    let o = created(svc(
        json!({"type": "LoadBalancer", "sessionAffinity": "ClientIP",
        "ports": [{"port": 443, "targetPort": "https"}]}),
    ));
    let spec = &o["spec"];
    assert_eq!(spec["externalTrafficPolicy"], "Cluster");
    assert_eq!(spec["allocateLoadBalancerNodePorts"], true);
    assert_eq!(
        spec["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
        10800
    );
    assert_eq!(spec["ports"][0]["targetPort"], "https");
    assert!(errors(&o).is_empty(), "{:?}", errors(&o));
}

#[test]
fn name_must_be_dns1035_label() {
    let mut o = created(svc(json!({"ports": [{"port": 80}]})));
    o["metadata"]["name"] = json!("1web");
    let errs = errors(&o);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("metadata.name: Invalid value: \"1web\": a DNS-1035 label"));
}

#[test]
fn ports_are_required_unless_headless_or_external_name() {
    let o = created(svc(json!({})));
    assert_eq!(errors(&o), vec!["spec.ports: Required value"]);
    let headless = created(svc(json!({"clusterIP": "None"})));
    assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));
    assert!(errors(&headless).is_empty(), "{:?}", errors(&headless));
    let ext = created(svc(
        json!({"type": "ExternalName", "externalName": "db.example.com."}),
    ));
    assert!(errors(&ext).is_empty(), "{:?}", errors(&ext));
}

#[test]
fn port_rules() {
    let o = created(svc(json!({"ports": [
        {"port": 80},
        {"name": "b", "port": 0, "protocol": "ICMP", "targetPort": "Not_A_Name"},
        {"name": "b", "port": 81, "nodePort": 30000},
    ]})));
    let errs = errors(&o);
    let want = [
        "spec.ports[0].name: Required value",
        "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "spec.ports[1].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
        "spec.ports[2].name: Duplicate value: \"b\"",
        "spec.ports[2].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
    ];
    for w in want {
        assert!(errs.contains(&w.to_string()), "missing {w}\n{errs:#?}");
    }
    assert!(
        errs.iter()
            .any(|e| e.starts_with("spec.ports[1].targetPort: Invalid value: \"Not_A_Name\""))
    );
}

#[test]
fn duplicate_port_and_protocol() {
    let o = created(svc(json!({"ports": [
        {"name": "a", "port": 53, "protocol": "UDP"},
        {"name": "b", "port": 53, "protocol": "TCP"},
        {"name": "c", "port": 53, "protocol": "UDP"},
    ]})));
    let errs = SERVICE_STRATEGY.validate(&o);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].field, "spec.ports[2]");
    assert_eq!(
        errs[0].error_type,
        corten_apimachinery::FieldErrorType::Duplicate
    );
}

#[test]
fn type_and_affinity_enums() {
    let mut o = created(svc(json!({"ports": [{"port": 80}]})));
    o["spec"]["type"] = json!("Magic");
    o["spec"]["sessionAffinity"] = json!("Sticky");
    let errs = errors(&o);
    assert!(errs.contains(&"spec.type: Unsupported value: \"Magic\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"".to_string()));
    assert!(errs.contains(&"spec.sessionAffinity: Unsupported value: \"Sticky\": supported values: \"ClientIP\", \"None\"".to_string()));
}

#[test]
fn external_name_rules() {
    let o = created(svc(
        json!({"type": "ExternalName", "clusterIP": "10.0.0.5"}),
    ));
    let errs = errors(&o);
    assert!(errs.contains(
        &"spec.clusterIPs: Forbidden: may not be set for ExternalName services".to_string()
    ));
    assert!(errs.contains(&"spec.externalName: Required value".to_string()));
    let o = created(svc(
        json!({"type": "ExternalName", "externalName": "Bad_Name"}),
    ));
    assert!(
        errors(&o)
            .iter()
            .any(|e| e.starts_with("spec.externalName: Invalid value: \"Bad_Name\""))
    );
}

#[test]
fn cluster_ip_rules() {
    let o = created(svc(
        json!({"clusterIP": "not-an-ip", "ports": [{"port": 80}]}),
    ));
    assert_eq!(
        errors(&o),
        vec![
            "spec.clusterIPs[0]: Invalid value: \"not-an-ip\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
        ]
    );
    let o = created(svc(
        json!({"type": "NodePort", "clusterIP": "None", "ports": [{"port": 80}]}),
    ));
    assert!(errors(&o).contains(&"spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services".to_string()));
    let o = created(svc(
        json!({"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1", "10.0.0.2"], "ports": [{"port": 80}]}),
    ));
    assert!(
        errors(&o)
            .iter()
            .any(|e| e.ends_with("may specify no more than one IP for each IP family"))
    );
    let o = created(svc(
        json!({"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1", "fd00::1"],
        "ipFamilies": ["IPv6", "IPv4"], "ipFamilyPolicy": "RequireDualStack", "ports": [{"port": 80}]}),
    ));
    let errs = errors(&o);
    assert!(errs.contains(&"spec.clusterIPs[0]: Invalid value: \"10.0.0.1\": expected an IPv6 value as indicated by `ipFamilies[0]`".to_string()));
}

#[test]
fn selector_labels_are_validated() {
    let o = created(svc(
        json!({"selector": {"bad key!": "v"}, "ports": [{"port": 80}]}),
    ));
    let errs = SERVICE_STRATEGY.validate(&o);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].field, "spec.selector");
}

#[test]
fn cluster_ip_may_not_change() {
    let mut old = created(svc(json!({"ports": [{"port": 80}]})));
    set_allocated_cluster_ips(&mut old, &["10.96.0.10".to_string()]);
    assert!(errors(&old).is_empty(), "{:?}", errors(&old));
    let mut body = old.clone();
    body["spec"]["clusterIP"] = json!("10.96.0.11");
    let new = updated(body, &old);
    assert_eq!(new["spec"]["clusterIPs"], json!(["10.96.0.11"]));
    let errs = update_errors(&new, &old);
    assert_eq!(
        errs,
        vec!["spec.clusterIPs[0]: Invalid value: [\"10.96.0.11\"]: may not change once set"]
    );
}

#[test]
fn updates_without_allocated_values_keep_them() {
    let mut old = created(svc(
        json!({"type": "NodePort", "ports": [{"name": "http", "port": 80}]}),
    ));
    set_allocated_cluster_ips(&mut old, &["10.96.0.10".to_string()]);
    old["spec"]["ports"][0]["nodePort"] = json!(30080);
    let body = svc(
        json!({"type": "NodePort", "ports": [{"name": "http", "port": 80}], "selector": {"app": "x"}}),
    );
    let new = updated(body, &old);
    assert_eq!(new["spec"]["clusterIP"], "10.96.0.10");
    assert_eq!(new["spec"]["clusterIPs"], json!(["10.96.0.10"]));
    assert_eq!(new["spec"]["ipFamilies"], json!(["IPv4"]));
    assert_eq!(new["spec"]["ports"][0]["nodePort"], 30080);
    assert!(
        update_errors(&new, &old).is_empty(),
        "{:?}",
        update_errors(&new, &old)
    );
}

#[test]
fn changing_to_external_name_releases_cluster_ip() {
    let mut old = created(svc(
        json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30001}]}),
    ));
    set_allocated_cluster_ips(&mut old, &["10.96.0.10".to_string()]);
    let mut body = old.clone();
    body["spec"]["type"] = json!("ExternalName");
    body["spec"]["externalName"] = json!("example.com");
    let new = updated(body, &old);
    let spec = &new["spec"];
    assert!(spec.get("clusterIP").is_none());
    assert!(spec.get("clusterIPs").is_none());
    assert!(spec.get("ipFamilies").is_none());
    assert!(spec.get("ipFamilyPolicy").is_none());
    assert!(spec["ports"][0].get("nodePort").is_none());
    assert!(spec.get("externalTrafficPolicy").is_none());
    assert!(
        update_errors(&new, &old).is_empty(),
        "{:?}",
        update_errors(&new, &old)
    );
}

#[test]
fn changing_load_balancer_to_cluster_ip_drops_lb_fields() {
    let mut old = created(svc(
        json!({"type": "LoadBalancer", "ports": [{"port": 80, "nodePort": 30001}]}),
    ));
    set_allocated_cluster_ips(&mut old, &["10.96.0.10".to_string()]);
    old["status"] = json!({"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}});
    let mut body = old.clone();
    body["spec"]["type"] = json!("ClusterIP");
    let new = updated(body, &old);
    assert!(new["spec"].get("allocateLoadBalancerNodePorts").is_none());
    assert!(new["spec"]["ports"][0].get("nodePort").is_none());
    assert!(new["status"].get("loadBalancer").is_none());
    assert!(
        update_errors(&new, &old).is_empty(),
        "{:?}",
        update_errors(&new, &old)
    );
}

#[test]
fn status_updates_keep_spec() {
    let old = created(svc(
        json!({"type": "LoadBalancer", "ports": [{"port": 80}]}),
    ));
    let mut new = old.clone();
    new["spec"]["type"] = json!("ClusterIP");
    new["status"] = json!({"loadBalancer": {"ingress": [{"ip": "1.2.3.4", "ipMode": "VIP"}, {"hostname": "10.0.0.1"}]}});
    SERVICE_STRATEGY.prepare_for_status_update(&mut new, &old);
    assert_eq!(new["spec"]["type"], "LoadBalancer");
    let errs: Vec<String> = SERVICE_STRATEGY
        .validate_status_update(&new, &old)
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(
        errs,
        vec![
            "status.loadBalancer.ingress[1].hostname: Invalid value: \"10.0.0.1\": must be a DNS name, not an IP address"
        ]
    );
}

#[test]
fn field_selectors() {
    let mut o = created(svc(json!({"ports": [{"port": 80}]})));
    set_allocated_cluster_ips(&mut o, &["10.0.0.7".to_string()]);
    assert_eq!(
        SERVICE_STRATEGY.field_labels(),
        &["spec.clusterIP", "spec.type"]
    );
    let attrs = SERVICE_STRATEGY.field_attrs(&o);
    assert!(attrs.contains(&("spec.clusterIP".to_string(), "10.0.0.7".to_string())));
    assert!(attrs.contains(&("spec.type".to_string(), "ClusterIP".to_string())));
}

#[test]
fn allocator_helpers() {
    let cluster = created(svc(json!({"ports": [{"port": 80}]})));
    assert!(needs_cluster_ip(&cluster));
    assert!(cluster_ips_to_allocate(&cluster));
    assert!(node_ports_needed(&cluster).is_empty());

    let headless = created(svc(json!({"clusterIP": "None"})));
    assert!(is_headless(&headless));
    assert!(!cluster_ips_to_allocate(&headless));

    let ext = created(svc(
        json!({"type": "ExternalName", "externalName": "x.example.com"}),
    ));
    assert!(!needs_cluster_ip(&ext));

    let np = created(svc(
        json!({"type": "NodePort", "ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81, "nodePort": 30081}]}),
    ));
    assert_eq!(node_ports_needed(&np), vec![(0, None), (1, Some(30081))]);

    let lb = created(svc(
        json!({"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false,
        "externalTrafficPolicy": "Local",
        "ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81, "nodePort": 30081}]}),
    ));
    assert_eq!(node_ports_needed(&lb), vec![(1, Some(30081))]);
    assert!(needs_health_check_node_port(&lb));

    let mut dual = cluster.clone();
    set_allocated_cluster_ips(&mut dual, &["10.0.0.1".to_string(), "fd00::1".to_string()]);
    assert_eq!(dual["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
    assert_eq!(dual["spec"]["ipFamilyPolicy"], "RequireDualStack");
    assert_eq!(requested_cluster_ips(&dual), vec!["10.0.0.1", "fd00::1"]);
    assert_eq!(ip_family_of("fd00::1"), Some("IPv6"));
    assert_eq!(ip_family_of("nope"), None);
    // Garbage never panics.
    assert!(!needs_health_check_node_port(&json!(null)));
    assert!(node_ports_needed(&json!({"spec": 5})).is_empty());
    let mut not_obj = json!([1]);
    set_allocated_cluster_ips(&mut not_obj, &["10.0.0.1".to_string()]);
    assert_eq!(not_obj, json!([1]));
}

#[test]
fn traffic_policies() {
    let o = created(svc(
        json!({"externalTrafficPolicy": "Local", "healthCheckNodePort": 30000, "ports": [{"port": 80}]}),
    ));
    let errs = errors(&o);
    assert!(errs.contains(&"spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for externally-accessible services".to_string()));
    assert!(errs.contains(&"spec.healthCheckNodePort: Invalid value: 30000: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'".to_string()));
}

#[test]
fn source_ranges_only_for_load_balancers() {
    let o = created(svc(
        json!({"loadBalancerSourceRanges": ["10.0.0.0/8"], "ports": [{"port": 80}]}),
    ));
    assert_eq!(
        errors(&o),
        vec![
            "spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'"
        ]
    );
}

mod endpoints {
    use super::*;

    fn ep(subsets: Value) -> Value {
        let mut o = ENDPOINTS_STRATEGY
            .canonicalize(json!({"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": "web", "namespace": "default"}, "subsets": subsets}))
            .unwrap();
        ENDPOINTS_STRATEGY.prepare_for_create(&mut o);
        ENDPOINTS_STRATEGY.default(&mut o);
        o
    }

    #[test]
    fn defaults_protocol_and_accepts_valid_subsets() {
        let o = ep(
            json!([{"addresses": [{"ip": "10.1.2.3", "hostname": "a"}], "ports": [{"port": 80}]}]),
        );
        assert_eq!(o["subsets"][0]["ports"][0]["protocol"], "TCP");
        assert!(ENDPOINTS_STRATEGY.validate(&o).is_empty());
    }

    #[test]
    fn rejects_bad_subsets() {
        let o = ep(json!([
            {"ports": [{"port": 80}]},
            {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": 80}, {"name": "x", "port": 70000}]}
        ]));
        let errs: Vec<String> = ENDPOINTS_STRATEGY
            .validate(&o)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert!(
            errs.contains(
                &"subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`"
                    .to_string()
            )
        );
        assert!(errs.contains(&"subsets[1].addresses[0].ip: Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)".to_string()));
        assert!(errs.contains(&"subsets[1].ports[0].name: Required value".to_string()));
        assert!(errs.contains(&"subsets[1].ports[1].port: Invalid value: 70000: must be between 1 and 65535, inclusive".to_string()));
    }
}
