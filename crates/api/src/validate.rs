//! Field checks shared by several kinds (upstream's `ValidateDNS1123Label`,
//! `ValidateLabels`, `ValidateLabelSelector`, `ValidateNonnegativeField`,
//! `ValidateImmutableField`, IP and quantity helpers, ...).
//!
//! Each returns an [`ErrorList`] with upstream's paths and messages, built
//! on the string validators of `corten_apimachinery::names`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use corten_apimachinery::names;
use corten_apimachinery::quantity::Quantity;
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as KQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde_json::Value;

/// Upstream's message for negative numbers.
pub const NEGATIVE_MSG: &str = "must be greater than or equal to 0";

/// Turns validator messages into `Invalid` errors on `path`.
pub fn invalid_each(path: &Path, value: &str, msgs: Vec<String>) -> ErrorList {
    msgs.into_iter()
        .map(|m| FieldError::invalid(path, value, &m))
        .collect()
}

/// `ValidateDNS1123Label`.
pub fn dns1123_label(value: &str, path: &Path) -> ErrorList {
    invalid_each(path, value, names::is_dns1123_label(value))
}

/// `ValidateDNS1123Subdomain`.
pub fn dns1123_subdomain(value: &str, path: &Path) -> ErrorList {
    invalid_each(path, value, names::is_dns1123_subdomain(value))
}

/// `ValidateQualifiedName`.
pub fn qualified_name(value: &str, path: &Path) -> ErrorList {
    invalid_each(path, value, names::is_qualified_name(value))
}

/// `ValidateLabels`: keys are qualified names, values label values; errors
/// are reported on `path` itself, as upstream does.
pub fn labels(map: Option<&BTreeMap<String, String>>, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    for (k, v) in map.into_iter().flatten() {
        errs.extend(qualified_name(k, path));
        errs.extend(invalid_each(path, v, names::is_valid_label_value(v)));
    }
    errs
}

/// `ValidateLabelSelector` (with invalid label values rejected).
pub fn label_selector(sel: Option<&LabelSelector>, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let Some(sel) = sel else {
        return errs;
    };
    errs.extend(labels(
        sel.match_labels.as_ref(),
        &path.child("matchLabels"),
    ));
    for (i, req) in sel.match_expressions.iter().flatten().enumerate() {
        let p = path.child("matchExpressions").index(i);
        let values = req.values.as_deref().unwrap_or_default();
        match req.operator.as_str() {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        &p.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        &p.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            other => errs.push(FieldError::invalid(
                &p.child("operator"),
                other,
                "not a valid selector operator",
            )),
        }
        errs.extend(qualified_name(&req.key, &p.child("key")));
        for (j, v) in values.iter().enumerate() {
            errs.extend(invalid_each(
                &p.child("values").index(j),
                v,
                names::is_valid_label_value(v),
            ));
        }
    }
    errs
}

/// `ValidateNonnegativeField`.
pub fn nonnegative(value: i64, path: &Path) -> ErrorList {
    if value < 0 {
        vec![FieldError::invalid(path, value, NEGATIVE_MSG)]
    } else {
        Vec::new()
    }
}

/// `ValidateImmutableField`: `Invalid value: <new>: field is immutable`.
pub fn immutable<T: Serialize + PartialEq>(new: &T, old: &T, path: &Path) -> ErrorList {
    if new == old {
        Vec::new()
    } else {
        let v = serde_json::to_value(new).unwrap_or(Value::Null);
        vec![FieldError::invalid(path, v, "field is immutable")]
    }
}

/// An enum check: `Required` if empty (when `required`), `Unsupported
/// value` if not one of `supported`.
pub fn one_of(value: &str, supported: &[&str], required: bool, path: &Path) -> ErrorList {
    if value.is_empty() {
        if required {
            return vec![FieldError::required(path, "")];
        }
        return Vec::new();
    }
    if supported.contains(&value) {
        Vec::new()
    } else {
        vec![FieldError::not_supported(path, value, supported)]
    }
}

/// `IsValidPercent`'s message.
pub const PERCENT_MSG: &str = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";

/// The numeric part of a valid percent string (`"25%"` -> 25).
pub fn parse_percent(s: &str) -> Option<i64> {
    let digits = s.strip_suffix('%')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().or(Some(i64::MAX))
}

/// `ValidatePositiveIntOrPercent`: a non-negative int or a percent string.
pub fn int_or_percent(v: &IntOrString, path: &Path) -> ErrorList {
    match v {
        IntOrString::Int(i) => nonnegative(i64::from(*i), path),
        IntOrString::String(s) => {
            if parse_percent(s).is_some() {
                Vec::new()
            } else {
                vec![FieldError::invalid(path, s.as_str(), PERCENT_MSG)]
            }
        }
    }
}

/// `IsNotMoreThan100Percent`.
pub fn not_more_than_100_percent(v: &IntOrString, path: &Path) -> ErrorList {
    match v {
        IntOrString::String(s) if parse_percent(s).is_some_and(|p| p > 100) => {
            vec![FieldError::invalid(
                path,
                s.as_str(),
                "must not be greater than 100%",
            )]
        }
        _ => Vec::new(),
    }
}

/// `IsValidPortNum` as errors.
pub fn port_num(port: i64, path: &Path) -> ErrorList {
    names::is_valid_port_num(port)
        .into_iter()
        .map(|m| FieldError::invalid(path, port, &m))
        .collect()
}

/// `ValidatePortNumOrName`.
pub fn port_num_or_name(v: &IntOrString, path: &Path) -> ErrorList {
    match v {
        IntOrString::Int(i) => port_num(i64::from(*i), path),
        IntOrString::String(s) => invalid_each(path, s, names::is_valid_port_name(s)),
    }
}

/// Parses an IP address the way upstream's validation does (Go's
/// `ParseIPSloppy`: IPv4 octets with leading zeros are read as decimal;
/// IPv4-mapped IPv6 addresses count as IPv4).
pub fn parse_ip_sloppy(s: &str) -> Option<IpAddr> {
    names::parse_ip(s)
}

/// `IsValidIP` as errors.
pub fn ip(value: &str, path: &Path) -> ErrorList {
    invalid_each(path, value, names::is_valid_ip(value))
}

/// `IsValidCIDR` as errors.
pub fn cidr(value: &str, path: &Path) -> ErrorList {
    invalid_each(path, value, names::is_valid_cidr(value))
}

/// `ValidateNonSpecialIP`: no unspecified, loopback or link-local
/// addresses (for endpoints and external IPs).
pub fn non_special_ip(value: &str, path: &Path) -> ErrorList {
    let Some(addr) = parse_ip_sloppy(value) else {
        return vec![FieldError::invalid(
            path,
            value,
            "must be a valid IP address",
        )];
    };
    let mut errs = Vec::new();
    let (unspecified, loopback, link_local, ll_multicast) = match addr {
        IpAddr::V4(a) => {
            let o = a.octets();
            (
                a.is_unspecified(),
                a.is_loopback(),
                a.is_link_local(),
                o[0] == 224 && o[1] == 0 && o[2] == 0,
            )
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            match a.to_ipv4_mapped() {
                Some(v4) => {
                    let o = v4.octets();
                    (
                        v4.is_unspecified(),
                        v4.is_loopback(),
                        v4.is_link_local(),
                        o[0] == 224 && o[1] == 0 && o[2] == 0,
                    )
                }
                None => (
                    a.is_unspecified(),
                    a.is_loopback(),
                    (s[0] & 0xffc0) == 0xfe80,
                    (s[0] & 0xff0f) == 0xff02,
                ),
            }
        }
    };
    if unspecified {
        errs.push(FieldError::invalid(
            path,
            value,
            &format!("may not be unspecified ({value})"),
        ));
    }
    if loopback {
        errs.push(FieldError::invalid(
            path,
            value,
            "may not be in the loopback range (127.0.0.0/8, ::1/128)",
        ));
    }
    if link_local {
        errs.push(FieldError::invalid(
            path,
            value,
            "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
        ));
    }
    if ll_multicast {
        errs.push(FieldError::invalid(
            path,
            value,
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
        ));
    }
    errs
}

/// Whether `s` parses as an IPv6 address (and not an IPv4 one).
pub fn is_ipv6(s: &str) -> bool {
    matches!(parse_ip_sloppy(s), Some(IpAddr::V6(_)))
}

/// `IsValidPathSegmentName`: not `.`/`..`, no `/` or `%`.
pub fn path_segment_name(name: &str) -> Vec<String> {
    if name == "." || name == ".." {
        return vec![format!("may not be '{name}'")];
    }
    let mut errs = Vec::new();
    for illegal in ["/", "%"] {
        if name.contains(illegal) {
            errs.push(format!("may not contain '{illegal}'"));
        }
    }
    errs
}

/// `IsWildcardDNS1123Subdomain`.
pub fn is_wildcard_dns1123_subdomain(v: &str) -> Vec<String> {
    let msg = "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    let mut errs = Vec::new();
    if v.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    match v.strip_prefix("*.") {
        Some(rest) if names::is_dns1123_subdomain(rest).is_empty() => {}
        _ => errs.push(msg.to_string()),
    }
    errs
}

/// `IsFullyQualifiedName`: a DNS subdomain with at least three labels.
pub fn fully_qualified_name(name: &str, path: &Path) -> ErrorList {
    if name.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let mut errs = dns1123_subdomain(name, path);
    if errs.is_empty() && name.split('.').count() < 3 {
        errs.push(FieldError::invalid(
            path,
            name,
            "should be a domain with at least three segments separated by dots",
        ));
    }
    errs
}

/// `IsFullyQualifiedDomainName` (FQDN endpoint addresses): at least two
/// labels, a DNS subdomain, a trailing dot tolerated.
pub fn fully_qualified_domain_name(name: &str, path: &Path) -> ErrorList {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let mut errs = dns1123_subdomain(trimmed, path);
    if errs.is_empty() && trimmed.split('.').count() < 2 {
        errs.push(FieldError::invalid(
            path,
            trimmed,
            "should be a domain with at least two segments separated by dots",
        ));
    }
    errs
}

/// Parses a k8s-openapi quantity with our parser.
pub fn parse_quantity(q: &KQuantity) -> Option<Quantity> {
    Quantity::parse(&q.0).ok()
}

/// Rewrites a quantity in canonical form (`0.5` -> `500m`); an unparsable
/// one is a decode error, as upstream.
pub fn canonicalize_quantity(q: &mut KQuantity) -> Result<(), String> {
    let parsed = Quantity::parse(&q.0).map_err(|e| e.to_string())?;
    q.0 = parsed.to_string();
    Ok(())
}

/// [`canonicalize_quantity`] over a resource list.
pub fn canonicalize_resource_list(
    list: Option<&mut BTreeMap<String, KQuantity>>,
) -> Result<(), String> {
    for q in list.into_iter().flat_map(|m| m.values_mut()) {
        canonicalize_quantity(q)?;
    }
    Ok(())
}

/// `ValidateNonnegativeQuantity`.
pub fn nonnegative_quantity(q: &KQuantity, path: &Path) -> ErrorList {
    match parse_quantity(q) {
        Some(p) if p.is_negative() => {
            vec![FieldError::invalid(path, p.to_string(), NEGATIVE_MSG)]
        }
        Some(_) => Vec::new(),
        None => vec![FieldError::invalid(
            path,
            q.0.as_str(),
            "must be a valid quantity",
        )],
    }
}

/// Resource names that hold integer counts (upstream
/// `IsIntegerResourceName`).
pub fn is_integer_resource_name(name: &str) -> bool {
    matches!(
        name,
        "pods"
            | "services"
            | "replicationcontrollers"
            | "resourcequotas"
            | "secrets"
            | "configmaps"
            | "persistentvolumeclaims"
            | "services.nodeports"
            | "services.loadbalancers"
    ) || name.starts_with("count/")
}

/// `ValidateResourceQuantityValue`: non-negative, integral for count
/// resources.
pub fn resource_quantity_value(name: &str, q: &KQuantity, path: &Path) -> ErrorList {
    let mut errs = nonnegative_quantity(q, path);
    if errs.is_empty()
        && is_integer_resource_name(name)
        && parse_quantity(q).is_some_and(|p| p.milli_value() % 1000 != 0)
    {
        errs.push(FieldError::invalid(
            path,
            q.0.as_str(),
            "must be an integer",
        ));
    }
    errs
}

/// `ValidatePositiveQuantityValue`.
pub fn positive_quantity(q: &KQuantity, path: &Path) -> ErrorList {
    match parse_quantity(q) {
        Some(p) if p.is_negative() || p.is_zero() => {
            vec![FieldError::invalid(
                path,
                p.to_string(),
                "must be greater than zero",
            )]
        }
        Some(_) => Vec::new(),
        None => vec![FieldError::invalid(
            path,
            q.0.as_str(),
            "must be a valid quantity",
        )],
    }
}

/// Validates a `LoadBalancerStatus` (services and ingresses): ingress
/// `ip` a valid IP, `hostname` a DNS subdomain and not an IP, `ipMode`
/// only with `ip`.
pub fn load_balancer_ingress(
    ip_addr: Option<&str>,
    hostname: Option<&str>,
    ip_mode: Option<&str>,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    if let Some(a) = ip_addr.filter(|s| !s.is_empty()) {
        errs.extend(ip(a, &path.child("ip")));
    }
    match ip_mode {
        Some(m) if ip_addr.is_none_or(str::is_empty) => errs.push(FieldError::forbidden(
            &path.child("ipMode"),
            &format!("may not be specified when `ip` is not ({m})"),
        )),
        Some(m) => errs.extend(one_of(m, &["Proxy", "VIP"], false, &path.child("ipMode"))),
        None => {}
    }
    if let Some(h) = hostname.filter(|s| !s.is_empty()) {
        errs.extend(dns1123_subdomain(h, &path.child("hostname")));
        if parse_ip_sloppy(h).is_some() {
            errs.push(FieldError::invalid(
                &path.child("hostname"),
                h,
                "must be a DNS name, not an IP address",
            ));
        }
    }
    errs
}

/// Whether two optional maps are equal, treating absent and empty alike
/// (JSON clients send either).
pub fn same_map<K: Ord, V: PartialEq>(
    a: Option<&BTreeMap<K, V>>,
    b: Option<&BTreeMap<K, V>>,
) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y,
        (Some(x), None) | (None, Some(x)) => x.is_empty(),
        (None, None) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_parsing() {
        assert_eq!(parse_percent("25%"), Some(25));
        assert_eq!(parse_percent("%"), None);
        assert_eq!(parse_percent("2.5%"), None);
        assert_eq!(parse_percent("25"), None);
        let p = Path::new("spec").child("minAvailable");
        assert_eq!(
            not_more_than_100_percent(&IntOrString::String("101%".into()), &p)[0].to_string(),
            "spec.minAvailable: Invalid value: \"101%\": must not be greater than 100%"
        );
        assert!(int_or_percent(&IntOrString::Int(3), &p).is_empty());
        assert_eq!(int_or_percent(&IntOrString::Int(-1), &p).len(), 1);
    }

    #[test]
    fn sloppy_ip_parsing() {
        assert!(parse_ip_sloppy("010.0.0.1").is_some());
        assert!(parse_ip_sloppy("::1").is_some());
        assert!(parse_ip_sloppy("1.2.3").is_none());
        assert!(parse_ip_sloppy("1.2.3.256").is_none());
        assert!(is_ipv6("fd00::1"));
        assert!(!is_ipv6("10.0.0.1"));
    }

    #[test]
    fn special_ips_are_rejected() {
        let p = Path::new("ip");
        assert_eq!(non_special_ip("10.1.2.3", &p), vec![]);
        assert_eq!(
            non_special_ip("127.0.0.1", &p)[0].detail,
            "may not be in the loopback range (127.0.0.0/8, ::1/128)"
        );
        assert_eq!(
            non_special_ip("0.0.0.0", &p)[0].detail,
            "may not be unspecified (0.0.0.0)"
        );
        assert_eq!(non_special_ip("169.254.1.1", &p).len(), 1);
        assert_eq!(non_special_ip("fe80::1", &p).len(), 1);
        assert_eq!(non_special_ip("224.0.0.5", &p).len(), 1);
        assert_eq!(non_special_ip("ff02::1", &p).len(), 1);
    }

    #[test]
    fn path_segment_names() {
        assert!(path_segment_name("system:admin").is_empty());
        assert_eq!(path_segment_name(".."), vec!["may not be '..'"]);
        assert_eq!(
            path_segment_name("a/b%"),
            vec!["may not contain '/'", "may not contain '%'"]
        );
    }

    #[test]
    fn immutable_fields() {
        let p = Path::new("spec").child("x");
        assert!(immutable(&1, &1, &p).is_empty());
        assert_eq!(
            immutable(&"b", &"a", &p)[0].to_string(),
            "spec.x: Invalid value: \"b\": field is immutable"
        );
    }

    #[test]
    fn maps_compare_absent_as_empty() {
        let empty: BTreeMap<String, String> = BTreeMap::new();
        assert!(same_map(Some(&empty), None));
        let mut one = BTreeMap::new();
        one.insert("a".to_string(), "b".to_string());
        assert!(!same_map(Some(&one), None));
    }
}
