//! networking.k8s.io/v1: Ingress, IngressClass, NetworkPolicy.

use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, Ingress, IngressBackend, IngressClass, IngressSpec, NetworkPolicy,
    NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::kind::{KindRules, KindStrategy};
use crate::validate;

/// Strategy for Ingress.
pub static INGRESS_STRATEGY: KindStrategy<IngressRules> = KindStrategy::new();

/// Strategy for IngressClass.
pub static INGRESS_CLASS_STRATEGY: KindStrategy<IngressClassRules> = KindStrategy::new();

/// Strategy for NetworkPolicy.
pub static NETWORK_POLICY_STRATEGY: KindStrategy<NetworkPolicyRules> = KindStrategy::new();

const PATH_TYPES: &[&str] = &["Exact", "ImplementationSpecific", "Prefix"];
const INVALID_PATH_SEQUENCES: &[&str] = &["//", "/./", "/../", "%2f", "%2F"];
const INVALID_PATH_SUFFIXES: &[&str] = &["/..", "/."];
const PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP"];

/// The rules of Ingress.
pub struct IngressRules;

impl KindRules for IngressRules {
    type Object = Ingress;
    const NAMESPACED: bool = true;
    const TRACKS_GENERATION: bool = true;

    fn validate(ing: &Ingress) -> ErrorList {
        let empty = IngressSpec::default();
        validate_ingress_spec(ing.spec.as_ref().unwrap_or(&empty))
    }

    fn validate_status_update(new: &Ingress, _old: &Ingress) -> ErrorList {
        let mut errs = Vec::new();
        let path = Path::new("status").child("loadBalancer").child("ingress");
        for (i, ing) in new
            .status
            .iter()
            .flat_map(|s| s.load_balancer.iter())
            .flat_map(|l| l.ingress.iter().flatten())
            .enumerate()
        {
            errs.extend(validate::load_balancer_ingress(
                ing.ip.as_deref(),
                ing.hostname.as_deref(),
                None,
                &path.index(i),
            ));
        }
        errs
    }
}

fn validate_ingress_spec(spec: &IngressSpec) -> ErrorList {
    let sp = Path::new("spec");
    let mut errs = Vec::new();
    let rules = spec.rules.as_deref().unwrap_or_default();
    if rules.is_empty() && spec.default_backend.is_none() {
        errs.push(FieldError::invalid(
            &sp,
            serde_json::to_value(rules).unwrap_or(Value::Null),
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if let Some(b) = spec.default_backend.as_ref() {
        errs.extend(validate_backend(b, &sp.child("defaultBackend")));
    }
    for (i, rule) in rules.iter().enumerate() {
        let rp = sp.child("rules").index(i);
        let host = rule.host.as_deref().unwrap_or_default();
        if !host.is_empty() {
            let hp = rp.child("host");
            if validate::parse_ip_sloppy(host).is_some() {
                errs.push(FieldError::invalid(
                    &hp,
                    host,
                    "must be a DNS name, not an IP address",
                ));
            }
            if host.contains('*') {
                errs.extend(validate::invalid_each(
                    &hp,
                    host,
                    validate::is_wildcard_dns1123_subdomain(host),
                ));
            } else {
                errs.extend(validate::dns1123_subdomain(host, &hp));
            }
        }
        if let Some(http) = rule.http.as_ref() {
            let pp = rp.child("http").child("paths");
            if http.paths.is_empty() {
                errs.push(FieldError::required(&pp, ""));
            }
            for (j, p) in http.paths.iter().enumerate() {
                errs.extend(validate_path(p, &pp.index(j)));
            }
        }
    }
    for (i, tls) in spec.tls.iter().flatten().enumerate() {
        for (j, host) in tls.hosts.iter().flatten().enumerate() {
            let hp = Path::new("spec")
                .child("tls")
                .index(i)
                .child("hosts")
                .index(j);
            let bare = host.strip_prefix("*.").unwrap_or(host);
            errs.extend(validate::invalid_each(
                &hp,
                host,
                corten_apimachinery::names::is_dns1123_subdomain(bare),
            ));
        }
    }
    if let Some(class) = spec.ingress_class_name.as_deref() {
        errs.extend(validate::dns1123_subdomain(
            class,
            &sp.child("ingressClassName"),
        ));
    }
    errs
}

fn validate_path(p: &HTTPIngressPath, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let value = p.path.as_deref().unwrap_or_default();
    let vp = path.child("path");
    match p.path_type.as_str() {
        "" => {
            errs.push(FieldError::required(
                &path.child("pathType"),
                "pathType must be specified",
            ));
            return errs;
        }
        "Exact" | "Prefix" => {
            if !value.starts_with('/') {
                errs.push(FieldError::invalid(&vp, value, "must be an absolute path"));
            }
            if !value.is_empty() {
                for seq in INVALID_PATH_SEQUENCES {
                    if value.contains(seq) {
                        errs.push(FieldError::invalid(
                            &vp,
                            value,
                            &format!("must not contain '{seq}'"),
                        ));
                    }
                }
                for suffix in INVALID_PATH_SUFFIXES {
                    if value.ends_with(suffix) {
                        errs.push(FieldError::invalid(
                            &vp,
                            value,
                            &format!("cannot end with '{suffix}'"),
                        ));
                    }
                }
            }
        }
        "ImplementationSpecific" => {
            if !value.is_empty() && !value.starts_with('/') {
                errs.push(FieldError::invalid(&vp, value, "must be an absolute path"));
            }
        }
        other => errs.push(FieldError::not_supported(
            &path.child("pathType"),
            other,
            PATH_TYPES,
        )),
    }
    errs.extend(validate_backend(&p.backend, &path.child("backend")));
    errs
}

fn validate_backend(b: &IngressBackend, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    match (&b.resource, &b.service) {
        (Some(_), Some(_)) => errs.push(FieldError::invalid(
            path,
            "",
            "cannot set both resource and service backends",
        )),
        (Some(r), None) => {
            let rp = path.child("resource");
            if r.kind.is_empty() {
                errs.push(FieldError::required(&rp.child("kind"), ""));
            }
            if r.name.is_empty() {
                errs.push(FieldError::required(&rp.child("name"), ""));
            }
        }
        (None, Some(s)) => {
            let sp = path.child("service");
            if s.name.is_empty() {
                errs.push(FieldError::required(&sp.child("name"), ""));
            } else {
                errs.extend(validate::invalid_each(
                    &sp.child("name"),
                    &s.name,
                    corten_apimachinery::names::is_dns1035_label(&s.name),
                ));
            }
            let name = s
                .port
                .as_ref()
                .and_then(|p| p.name.as_deref())
                .unwrap_or_default();
            let number = s.port.as_ref().and_then(|p| p.number).unwrap_or(0);
            match (!name.is_empty(), number != 0) {
                (true, true) => errs.push(FieldError::invalid(
                    path,
                    "",
                    "cannot set both port name & port number",
                )),
                (true, false) => errs.extend(validate::port_num_or_name(
                    &IntOrString::String(name.to_string()),
                    &sp.child("port").child("name"),
                )),
                (false, true) => errs.extend(validate::port_num(
                    i64::from(number),
                    &sp.child("port").child("number"),
                )),
                (false, false) => errs.push(FieldError::required(
                    path,
                    "port name or number is required",
                )),
            }
        }
        (None, None) => errs.push(FieldError::invalid(
            path,
            "",
            "resource or service backend is required",
        )),
    }
    errs
}

/// The rules of IngressClass: a domain-prefixed, immutable controller name
/// and a well-formed parameters reference.
pub struct IngressClassRules;

impl KindRules for IngressClassRules {
    type Object = IngressClass;
    const NAMESPACED: bool = false;

    fn validate(ic: &IngressClass) -> ErrorList {
        let mut errs = Vec::new();
        let sp = Path::new("spec");
        let Some(spec) = ic.spec.as_ref() else {
            return errs;
        };
        let controller = spec.controller.as_deref().unwrap_or_default();
        let cp = sp.child("controller");
        if controller.len() > 250 {
            errs.push(FieldError::too_long(&cp, 250));
        }
        if !controller.is_empty() {
            errs.extend(domain_prefixed_path(controller, &cp));
        }
        if let Some(params) = spec.parameters.as_ref() {
            let pp = sp.child("parameters");
            if params.kind.is_empty() {
                errs.push(FieldError::required(&pp.child("kind"), ""));
            }
            if params.name.is_empty() {
                errs.push(FieldError::required(&pp.child("name"), ""));
            }
            match params.scope.as_deref() {
                Some("Namespace") => {
                    if params.namespace.as_deref().unwrap_or_default().is_empty() {
                        errs.push(FieldError::required(
                            &pp.child("namespace"),
                            "`parameters.scope` is set to 'Namespace'",
                        ));
                    }
                }
                Some("Cluster") | None => {
                    if params.namespace.is_some() {
                        errs.push(FieldError::forbidden(
                            &pp.child("namespace"),
                            "`parameters.scope` is set to 'Cluster'",
                        ));
                    }
                }
                Some(other) => errs.push(FieldError::not_supported(
                    &pp.child("scope"),
                    other,
                    &["Cluster", "Namespace"],
                )),
            }
        }
        errs
    }

    fn validate_update(new: &IngressClass, old: &IngressClass) -> ErrorList {
        let mut errs = Self::validate(new);
        errs.extend(validate::immutable(
            &new.spec.as_ref().and_then(|s| s.controller.clone()),
            &old.spec.as_ref().and_then(|s| s.controller.clone()),
            &Path::new("spec").child("controller"),
        ));
        errs
    }
}

/// Upstream `IsDomainPrefixedPath` (`example.com/foo`).
fn domain_prefixed_path(v: &str, path: &Path) -> ErrorList {
    let Some((host, rest)) = v
        .split_once('/')
        .filter(|(h, r)| !h.is_empty() && !r.is_empty())
    else {
        return vec![FieldError::invalid(
            path,
            v,
            "must be a domain-prefixed path (such as \"acme.io/foo\")",
        )];
    };
    let mut errs = validate::invalid_each(
        path,
        host,
        corten_apimachinery::names::is_dns1123_subdomain(host),
    );
    let ok = rest
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:".contains(c));
    if !ok {
        errs.push(FieldError::invalid(
            path,
            rest,
            "must consist of only alphanumeric characters or the following: /-._~%!$&'()*+,;=: (regex used for validation is '^[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+$')",
        ));
    }
    errs
}

/// The rules of NetworkPolicy.
pub struct NetworkPolicyRules;

impl KindRules for NetworkPolicyRules {
    type Object = NetworkPolicy;
    const NAMESPACED: bool = true;
    const TRACKS_GENERATION: bool = true;

    fn default(np: &mut NetworkPolicy) {
        let spec = np.spec.get_or_insert_with(NetworkPolicySpec::default);
        let ports = spec
            .ingress
            .iter_mut()
            .flatten()
            .flat_map(|r| r.ports.iter_mut().flatten())
            .chain(
                spec.egress
                    .iter_mut()
                    .flatten()
                    .flat_map(|r| r.ports.iter_mut().flatten()),
            );
        for p in ports {
            if p.protocol.is_none() {
                p.protocol = Some("TCP".into());
            }
        }
        if spec.policy_types.as_ref().is_none_or(Vec::is_empty) {
            let mut types = vec!["Ingress".to_string()];
            if spec.egress.as_ref().is_some_and(|e| !e.is_empty()) {
                types.push("Egress".into());
            }
            spec.policy_types = Some(types);
        }
    }

    fn validate(np: &NetworkPolicy) -> ErrorList {
        let empty = NetworkPolicySpec::default();
        let spec = np.spec.as_ref().unwrap_or(&empty);
        let sp = Path::new("spec");
        let mut errs =
            validate::label_selector(spec.pod_selector.as_ref(), &sp.child("podSelector"));
        for (i, rule) in spec.ingress.iter().flatten().enumerate() {
            let rp = sp.child("ingress").index(i);
            for (j, p) in rule.ports.iter().flatten().enumerate() {
                errs.extend(validate_policy_port(p, &rp.child("ports").index(j)));
            }
            for (j, peer) in rule.from.iter().flatten().enumerate() {
                errs.extend(validate_peer(peer, &rp.child("from").index(j)));
            }
        }
        for (i, rule) in spec.egress.iter().flatten().enumerate() {
            let rp = sp.child("egress").index(i);
            for (j, p) in rule.ports.iter().flatten().enumerate() {
                errs.extend(validate_policy_port(p, &rp.child("ports").index(j)));
            }
            for (j, peer) in rule.to.iter().flatten().enumerate() {
                errs.extend(validate_peer(peer, &rp.child("to").index(j)));
            }
        }
        let types = spec.policy_types.as_deref().unwrap_or_default();
        if types.len() > 2 {
            errs.push(FieldError::invalid(
                &sp.child("policyTypes"),
                serde_json::to_value(types).unwrap_or(Value::Null),
                "may not specify more than two policyTypes",
            ));
            return errs;
        }
        for (i, t) in types.iter().enumerate() {
            if t != "Ingress" && t != "Egress" {
                errs.push(FieldError::not_supported(
                    &sp.child("policyTypes").index(i),
                    t.as_str(),
                    &["Ingress", "Egress"],
                ));
            }
        }
        errs
    }
}

fn validate_policy_port(p: &NetworkPolicyPort, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if let Some(proto) = p.protocol.as_deref()
        && !PROTOCOLS.contains(&proto)
    {
        errs.push(FieldError::not_supported(
            &path.child("protocol"),
            proto,
            PROTOCOLS,
        ));
    }
    let ep = path.child("endPort");
    match (&p.port, p.end_port) {
        (Some(IntOrString::Int(port)), end) => {
            errs.extend(validate::port_num(i64::from(*port), &path.child("port")));
            if let Some(end) = end {
                if end < *port {
                    errs.push(FieldError::invalid(
                        &ep,
                        *port,
                        "must be greater than or equal to `port`",
                    ));
                }
                errs.extend(validate::port_num(i64::from(end), &ep));
            }
        }
        (Some(IntOrString::String(name)), end) => {
            if let Some(end) = end {
                errs.push(FieldError::invalid(
                    &ep,
                    end,
                    "may not be specified when `port` is non-numeric",
                ));
            }
            errs.extend(validate::port_num_or_name(
                &IntOrString::String(name.clone()),
                &path.child("port"),
            ));
        }
        (None, Some(end)) => errs.push(FieldError::invalid(
            &ep,
            end,
            "may not be specified when `port` is not specified",
        )),
        (None, None) => {}
    }
    errs
}

fn validate_peer(peer: &NetworkPolicyPeer, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let mut count = 0;
    if let Some(s) = peer.pod_selector.as_ref() {
        count += 1;
        errs.extend(validate::label_selector(
            Some(s),
            &path.child("podSelector"),
        ));
    }
    if let Some(s) = peer.namespace_selector.as_ref() {
        count += 1;
        errs.extend(validate::label_selector(
            Some(s),
            &path.child("namespaceSelector"),
        ));
    }
    if let Some(block) = peer.ip_block.as_ref() {
        count += 1;
        let bp = path.child("ipBlock");
        if block.cidr.is_empty() {
            errs.push(FieldError::required(&bp.child("cidr"), ""));
        } else {
            let cidr_errs = validate::cidr(&block.cidr, &bp.child("cidr"));
            let parent = block.cidr.parse::<ipnet::IpNet>().ok();
            errs.extend(cidr_errs);
            if let Some(parent) = parent {
                for (i, ex) in block.except.iter().flatten().enumerate() {
                    let xp = bp.child("except").index(i);
                    let ex_errs = validate::cidr(ex, &xp);
                    let inner = ex.parse::<ipnet::IpNet>().ok();
                    errs.extend(ex_errs);
                    if let Some(inner) = inner
                        && (!parent.contains(&inner.network())
                            || parent.prefix_len() >= inner.prefix_len())
                    {
                        errs.push(FieldError::invalid(
                            &xp,
                            ex.as_str(),
                            "must be a strict subset of `cidr`",
                        ));
                    }
                }
            }
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a peer"));
    } else if count > 1 && peer.ip_block.is_some() {
        errs.push(FieldError::forbidden(
            path,
            "may not specify both ipBlock and another peer",
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Strategy;
    use serde_json::json;

    fn errors(s: &dyn Strategy, obj: Value) -> Vec<String> {
        let mut o = s.canonicalize(obj).unwrap();
        s.prepare_for_create(&mut o);
        s.default(&mut o);
        s.validate(&o).iter().map(|e| e.to_string()).collect()
    }

    fn ingress(spec: Value) -> Value {
        json!({"metadata": {"name": "i", "namespace": "default"}, "spec": spec})
    }

    #[test]
    fn ingress_needs_rules_or_default_backend() {
        let errs = errors(&INGRESS_STRATEGY, ingress(json!({})));
        assert_eq!(
            errs,
            vec!["spec: Invalid value: []: either `defaultBackend` or `rules` must be specified"]
        );
    }

    #[test]
    fn ingress_paths() {
        let spec = json!({"rules": [{"host": "foo.example.com", "http": {"paths": [
            {"path": "/a", "pathType": "Prefix", "backend": {"service": {"name": "svc", "port": {"number": 80}}}},
            {"path": "/b", "backend": {"service": {"name": "svc", "port": {"number": 80}}}},
            {"path": "c//d", "pathType": "Exact", "backend": {"service": {"name": "svc", "port": {"name": "http", "number": 80}}}},
            {"path": "/e", "pathType": "Weird", "backend": {}}
        ]}}]});
        let errs = errors(&INGRESS_STRATEGY, ingress(spec));
        let p = "spec.rules[0].http.paths";
        assert!(errs.contains(&format!(
            "{p}[1].pathType: Required value: pathType must be specified"
        )));
        assert!(errs.contains(&format!(
            "{p}[2].path: Invalid value: \"c//d\": must be an absolute path"
        )));
        assert!(errs.contains(&format!(
            "{p}[2].path: Invalid value: \"c//d\": must not contain '//'"
        )));
        assert!(errs.contains(&format!(
            "{p}[2].backend: Invalid value: \"\": cannot set both port name & port number"
        )));
        assert!(errs.contains(&format!("{p}[3].pathType: Unsupported value: \"Weird\": supported values: \"Exact\", \"ImplementationSpecific\", \"Prefix\"")));
        assert!(errs.contains(&format!(
            "{p}[3].backend: Invalid value: \"\": resource or service backend is required"
        )));
        assert_eq!(errs.len(), 6, "{errs:?}");
    }

    #[test]
    fn ingress_host_must_not_be_ip() {
        let spec = json!({"rules": [{"host": "10.0.0.1"}]});
        let errs = errors(&INGRESS_STRATEGY, ingress(spec));
        assert!(errs.contains(&"spec.rules[0].host: Invalid value: \"10.0.0.1\": must be a DNS name, not an IP address".to_string()));
    }

    #[test]
    fn ingress_class_controller() {
        let ic = json!({"metadata": {"name": "nginx"}, "spec": {"controller": "nginx"}});
        let errs = errors(&INGRESS_CLASS_STRATEGY, ic);
        assert_eq!(
            errs,
            vec![
                "spec.controller: Invalid value: \"nginx\": must be a domain-prefixed path (such as \"acme.io/foo\")"
            ]
        );
        let old = json!({"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/nginx"}});
        let mut new = old.clone();
        new["spec"]["controller"] = json!("k8s.io/other");
        let errs = INGRESS_CLASS_STRATEGY.validate_update(&new, &old);
        assert!(errs.iter().any(|e| e.detail == "field is immutable"));
    }

    #[test]
    fn network_policy_defaults() {
        let np = json!({"metadata": {"name": "n", "namespace": "d"},
            "spec": {"podSelector": {}, "egress": [{"ports": [{"port": 53}]}]}});
        let mut o = NETWORK_POLICY_STRATEGY.canonicalize(np).unwrap();
        NETWORK_POLICY_STRATEGY.default(&mut o);
        assert_eq!(o["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(o["spec"]["egress"][0]["ports"][0]["protocol"], "TCP");
    }

    #[test]
    fn network_policy_peers_and_ports() {
        let np = json!({"metadata": {"name": "n", "namespace": "d"}, "spec": {"podSelector": {},
            "ingress": [{"from": [{}, {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/16"]}, "podSelector": {}}],
                         "ports": [{"port": 80, "endPort": 70}, {"port": "http", "endPort": 90}]}]}});
        let errs = errors(&NETWORK_POLICY_STRATEGY, np);
        let p = "spec.ingress[0]";
        assert!(errs.contains(&format!("{p}.from[0]: Required value: must specify a peer")));
        assert!(errs.contains(&format!("{p}.from[1].ipBlock.except[0]: Invalid value: \"11.0.0.0/16\": must be a strict subset of `cidr`")));
        assert!(errs.contains(&format!(
            "{p}.from[1]: Forbidden: may not specify both ipBlock and another peer"
        )));
        assert!(errs.contains(&format!(
            "{p}.ports[0].endPort: Invalid value: 80: must be greater than or equal to `port`"
        )));
        assert!(errs.contains(&format!("{p}.ports[1].endPort: Invalid value: 90: may not be specified when `port` is non-numeric")));
    }
}
