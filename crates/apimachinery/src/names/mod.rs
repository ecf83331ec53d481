//! Name and value validation (upstream `k8s.io/apimachinery/pkg/util/validation`
//! and `api/validation` for object metadata).
//!
//! Each `is_*` function returns the list of problems as upstream's message
//! strings (empty = valid), so callers wrap them in `FieldError::invalid`.
//! The matchers are hand-written equivalents of upstream's regular
//! expressions (validators run on every write); the regex quoted in each
//! message is upstream's, verbatim.

mod ip;
mod object_meta;

pub use object_meta::{
    FIELD_IMMUTABLE_ERROR_MSG, TOTAL_ANNOTATION_SIZE_LIMIT_B, validate_annotations,
    validate_finalizers, validate_labels, validate_object_meta, validate_object_meta_update,
    validate_owner_references,
};

/// Which validator applies to `metadata.name` of a kind.
pub type NameValidator = fn(&str) -> Vec<String>;

/// Max length of an RFC 1123 label (upstream `DNS1123LabelMaxLength`).
pub const DNS1123_LABEL_MAX_LENGTH: usize = 63;
/// Max length of an RFC 1123 subdomain (upstream `DNS1123SubdomainMaxLength`).
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;
/// Max length of an RFC 1035 label (upstream `DNS1035LabelMaxLength`).
pub const DNS1035_LABEL_MAX_LENGTH: usize = 63;
/// Max length of a label value (upstream `LabelValueMaxLength`).
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;
/// Max length of the name part of a qualified name.
pub const QUALIFIED_NAME_MAX_LENGTH: usize = 63;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_ERR_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_ERR_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const C_IDENTIFIER_FMT: &str = "[A-Za-z_][A-Za-z0-9_]*";
const C_IDENTIFIER_ERR_MSG: &str = "a valid C identifier must start with alphabetic character or '_', followed by a string of alphanumeric characters or '_'";
const ENV_VAR_NAME_FMT: &str = "[-._a-zA-Z][-._a-zA-Z0-9]*";
const ENV_VAR_NAME_ERR_MSG: &str = "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit";
const RELAXED_ENV_VAR_NAME_ERR_MSG: &str = "a valid environment variable name must consist only of printable ASCII characters other than '='";
const CONFIG_MAP_KEY_FMT: &str = "[-._a-zA-Z0-9]+";
const CONFIG_MAP_KEY_ERR_MSG: &str =
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";

/// Upstream `MaxLenError`: `must be no more than <n> characters`.
pub fn max_len_error(length: usize) -> String {
    format!("must be no more than {length} characters")
}

/// Upstream `EmptyError`: `must be non-empty`.
pub fn empty_error() -> String {
    "must be non-empty".to_string()
}

/// Upstream `InclusiveRangeError`: `must be between <lo> and <hi>, inclusive`.
pub fn inclusive_range_error(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

/// Upstream `RegexError`: the message, examples and the regex used, in
/// upstream's exact (slightly odd, double-spaced) shape.
pub fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let mut out = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push('\'');
        out.push_str(e);
        out.push_str("', ");
    }
    out.push_str("regex used for validation is '");
    out.push_str(fmt);
    out.push_str("')");
    out
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn matches_dns1123_label(v: &[u8]) -> bool {
    match (v.first(), v.last()) {
        (Some(&f), Some(&l)) => {
            is_lower_alnum(f)
                && is_lower_alnum(l)
                && v.iter().all(|&b| is_lower_alnum(b) || b == b'-')
        }
        _ => false,
    }
}

/// `label(\.label)*`
fn matches_dns1123_subdomain(v: &[u8]) -> bool {
    !v.is_empty() && v.split(|&b| b == b'.').all(matches_dns1123_label)
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn matches_qualified_name_part(v: &[u8]) -> bool {
    match (v.first(), v.last()) {
        (Some(&f), Some(&l)) => {
            is_alnum(f)
                && is_alnum(l)
                && v.iter()
                    .all(|&b| is_alnum(b) || b == b'-' || b == b'_' || b == b'.')
        }
        _ => false,
    }
}

/// RFC 1123 subdomain (most object names): max 253 chars.
pub fn is_dns1123_subdomain(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    if !matches_dns1123_subdomain(v.as_bytes()) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR_MSG,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// RFC 1123 label (namespaces, service names' stricter cousin): max 63 chars.
pub fn is_dns1123_label(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_LABEL_MAX_LENGTH));
    }
    if !matches_dns1123_label(v.as_bytes()) {
        if matches_dns1123_subdomain(v.as_bytes()) {
            // A valid subdomain but not a label: it must be the dots.
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_ERR_MSG,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// RFC 1035 label (service names): max 63 chars, starts with a letter.
pub fn is_dns1035_label(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > DNS1035_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1035_LABEL_MAX_LENGTH));
    }
    let b = v.as_bytes();
    let ok = matches_dns1123_label(b) && b.first().is_some_and(u8::is_ascii_lowercase);
    if !ok {
        errs.push(regex_error(
            DNS1035_LABEL_ERR_MSG,
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// A qualified name (label and annotation keys): `[prefix/]name`.
pub fn is_qualified_name(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let mut parts = v.splitn(3, '/');
    let first = parts.next().unwrap_or_default();
    let name = match (parts.next(), parts.next()) {
        (None, _) => first,
        (Some(name), None) => {
            let prefix = first;
            if prefix.is_empty() {
                errs.push(format!("prefix part {}", empty_error()));
            } else {
                for msg in is_dns1123_subdomain(prefix) {
                    errs.push(format!("prefix part {msg}"));
                }
            }
            name
        }
        (Some(_), Some(_)) => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(
                    QUALIFIED_NAME_ERR_MSG,
                    QUALIFIED_NAME_FMT,
                    &["MyName", "my.name", "123-abc"]
                )
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push(format!("name part {}", empty_error()));
    } else if name.len() > QUALIFIED_NAME_MAX_LENGTH {
        errs.push(format!(
            "name part {}",
            max_len_error(QUALIFIED_NAME_MAX_LENGTH)
        ));
    }
    if !matches_qualified_name_part(name.as_bytes()) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_ERR_MSG,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// A label value: max 63 chars, alphanumerics plus `-_.` inside.
pub fn is_valid_label_value(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(max_len_error(LABEL_VALUE_MAX_LENGTH));
    }
    if !v.is_empty() && !matches_qualified_name_part(v.as_bytes()) {
        errs.push(regex_error(
            LABEL_VALUE_ERR_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// A C identifier (e.g. strict env var names).
pub fn is_c_identifier(v: &str) -> Vec<String> {
    let b = v.as_bytes();
    let ok = b
        .first()
        .is_some_and(|&f| f.is_ascii_alphabetic() || f == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_');
    if ok {
        Vec::new()
    } else {
        vec![regex_error(
            C_IDENTIFIER_ERR_MSG,
            C_IDENTIFIER_FMT,
            &["my_name", "MY_NAME", "MyName"],
        )]
    }
}

/// An env var name (upstream's relaxed rule: printable ASCII, no `=`).
///
/// This is upstream `IsRelaxedEnvVarName`, the rule in force in 1.33 where
/// the `RelaxedEnvironmentVariableValidation` gate is on by default.
pub fn is_env_var_name(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.is_empty() {
        errs.push(format!("environment variable name {}", empty_error()));
    }
    if v.chars().any(|c| !(' '..='~').contains(&c) || c == '=') {
        errs.push(RELAXED_ENV_VAR_NAME_ERR_MSG.to_string());
    }
    errs
}

/// The strict env var name rule (upstream `IsEnvVarName`, used when the
/// `RelaxedEnvironmentVariableValidation` gate is off).
pub fn is_strict_env_var_name(v: &str) -> Vec<String> {
    let b = v.as_bytes();
    let ext = |c: u8| c.is_ascii_alphabetic() || c == b'-' || c == b'.' || c == b'_';
    let ok = b.first().is_some_and(|&f| ext(f)) && b.iter().all(|&c| ext(c) || c.is_ascii_digit());
    let mut errs = Vec::new();
    if !ok {
        errs.push(regex_error(
            ENV_VAR_NAME_ERR_MSG,
            ENV_VAR_NAME_FMT,
            &["my.env-name", "MY_ENV.NAME", "MyEnvName1"],
        ));
    }
    errs.extend(ch_dir_prefix_errors(v));
    errs
}

fn ch_dir_prefix_errors(v: &str) -> Option<String> {
    if v == "." {
        Some("must not be '.'".to_string())
    } else if v == ".." {
        Some("must not be '..'".to_string())
    } else if v.starts_with("..") {
        Some("must not start with '..'".to_string())
    } else {
        None
    }
}

/// A ConfigMap/Secret key: `[-._a-zA-Z0-9]+`, max 253, not `.` or `..`.
pub fn is_config_map_key(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    let ok = !v.is_empty()
        && v.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_');
    if !ok {
        errs.push(regex_error(
            CONFIG_MAP_KEY_ERR_MSG,
            CONFIG_MAP_KEY_FMT,
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    errs.extend(ch_dir_prefix_errors(v));
    errs
}

/// A port number 1..=65535.
pub fn is_valid_port_num(port: i64) -> Vec<String> {
    if (1..=65535).contains(&port) {
        Vec::new()
    } else {
        vec![inclusive_range_error(1, 65535)]
    }
}

/// A named port (IANA_SVC_NAME): max 15 chars, lowercase alnum and `-`, at least one letter.
pub fn is_valid_port_name(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let b = v.as_bytes();
    if b.len() > 15 {
        errs.push(max_len_error(15));
    }
    if b.is_empty() || !b.iter().all(|&c| is_lower_alnum(c) || c == b'-') {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if !b.iter().any(u8::is_ascii_lowercase) {
        errs.push("must contain at least one letter (a-z)".into());
    }
    if v.contains("--") {
        errs.push("must not contain consecutive hyphens".into());
    }
    if b.first() == Some(&b'-') || b.last() == Some(&b'-') {
        errs.push("must not begin or end with a hyphen".into());
    }
    errs
}

/// An IPv4 or IPv6 address (upstream `IsValidIP`, which uses the "sloppy"
/// parser that still accepts IPv4 octets with leading zeros).
pub fn is_valid_ip(v: &str) -> Vec<String> {
    if ip::parse_ip_sloppy(v).is_some() {
        Vec::new()
    } else {
        vec!["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".to_string()]
    }
}

/// An IPv4 address (upstream `IsValidIPv4Address`).
pub fn is_valid_ipv4_address(v: &str) -> Vec<String> {
    match ip::parse_ip_sloppy(v) {
        Some(a) if a.is_ipv4() => Vec::new(),
        _ => vec!["must be a valid IPv4 address".to_string()],
    }
}

/// An IPv6 address (upstream `IsValidIPv6Address`).
pub fn is_valid_ipv6_address(v: &str) -> Vec<String> {
    match ip::parse_ip_sloppy(v) {
        Some(a) if !a.is_ipv4() => Vec::new(),
        _ => vec!["must be a valid IPv6 address".to_string()],
    }
}

/// A CIDR (upstream `IsValidCIDR`: sloppy parse, host bits may be set).
pub fn is_valid_cidr(v: &str) -> Vec<String> {
    if ip::parse_cidr_sloppy(v).is_some() {
        Vec::new()
    } else {
        vec!["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)".to_string()]
    }
}

/// Parses an IP address the way upstream's validation does (Go's legacy
/// parser: IPv4 octets may carry leading zeros, read as decimal;
/// IPv4-mapped IPv6 addresses count as IPv4).
pub fn parse_ip(v: &str) -> Option<std::net::IpAddr> {
    ip::parse_ip_sloppy(v).map(ip::SloppyIp::into_ip_addr)
}

#[cfg(test)]
mod tests;
