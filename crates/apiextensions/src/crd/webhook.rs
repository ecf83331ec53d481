//! `spec.conversion` (upstream `validateCustomResourceConversion` and the
//! webhook client config checks of `k8s.io/apiserver/pkg/util/webhook`),
//! reported on the internal paths (`conversion.webhookClientConfig`,
//! `conversion.conversionReviewVersions`).

use base64::Engine;
use corten_apimachinery::names::{is_dns1035_label, is_dns1123_subdomain, is_valid_port_num};
use corten_apimachinery::{ErrorList, FieldError, Path};
use serde_json::Value;

use super::schema_checks::Opts;
use super::str_at;

const FORM: &str = "; desired format: https://host[/path]";

pub(crate) fn validate_conversion(c: &Value, opts: &Opts, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let strategy = str_at(c, "strategy");
    match strategy {
        "" => errs.push(FieldError::required(&path.child("strategy"), "")),
        "None" | "Webhook" => {}
        s => errs.push(FieldError::not_supported(
            &path.child("strategy"),
            s,
            &["None", "Webhook"],
        )),
    }
    let webhook = c.get("webhook").filter(|w| !w.is_null());
    let client = webhook
        .and_then(|w| w.get("clientConfig"))
        .filter(|x| !x.is_null());
    let review: Option<&Vec<Value>> = webhook
        .and_then(|w| w.get("conversionReviewVersions"))
        .and_then(Value::as_array);
    let cc_path = path.child("webhookClientConfig");
    if strategy == "Webhook" {
        match client {
            None => errs.push(FieldError::required(
                &cc_path,
                "required when strategy is set to Webhook",
            )),
            Some(cc) => {
                let url = cc.get("url").and_then(Value::as_str);
                let service = cc.get("service").filter(|s| !s.is_null());
                match (url, service) {
                    (Some(_), Some(_)) | (None, None) => {
                        errs.push(FieldError::required(
                            &cc_path,
                            "exactly one of url or service is required",
                        ));
                    }
                    (Some(u), None) => errs.extend(webhook_url(&cc_path.child("url"), u)),
                    (None, Some(s)) => errs.extend(webhook_service(&cc_path.child("service"), s)),
                }
                if let Some(ca) = cc
                    .get("caBundle")
                    .and_then(Value::as_str)
                    .filter(|c| !c.is_empty())
                    && !opts.allow_invalid_ca_bundle
                    && !ca_bundle_ok(ca)
                {
                    errs.push(FieldError::invalid(
                        &cc_path.child("caBundle"),
                        ca,
                        "unable to load root certificates: unable to parse bytes as PEM block",
                    ));
                }
            }
        }
        let rp = path.child("conversionReviewVersions");
        match review.filter(|r| !r.is_empty()) {
            None => errs.push(FieldError::required(&rp, "")),
            Some(versions) => {
                let mut seen = std::collections::HashSet::new();
                let mut accepted = false;
                for (i, v) in versions.iter().enumerate() {
                    let v = v.as_str().unwrap_or("");
                    if !seen.insert(v) {
                        errs.push(FieldError::invalid(&rp.index(i), v, "duplicate version"));
                        continue;
                    }
                    for m in is_dns1035_label(v) {
                        errs.push(FieldError::invalid(&rp.index(i), v, &m));
                    }
                    accepted |= matches!(v, "v1" | "v1beta1");
                }
                if opts.require_recognized_conversion_review_version && !accepted {
                    errs.push(FieldError::invalid(
                        &rp,
                        Value::Array(versions.clone()),
                        "must include at least one of v1, v1beta1",
                    ));
                }
            }
        }
    } else {
        if client.is_some() {
            errs.push(FieldError::forbidden(
                &cc_path,
                "should not be set when strategy is not set to Webhook",
            ));
        }
        if review.is_some_and(|r| !r.is_empty()) {
            errs.push(FieldError::forbidden(
                &path.child("conversionReviewVersions"),
                "should not be set when strategy is not set to Webhook",
            ));
        }
    }
    errs
}

fn ca_bundle_ok(b64: &str) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .is_some_and(|pem| pem.contains("-----BEGIN CERTIFICATE-----"))
}

fn webhook_url(path: &Path, url: &str) -> ErrorList {
    let mut errs = ErrorList::new();
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    if scheme != "https" {
        errs.push(FieldError::invalid(
            path,
            scheme,
            &format!("'https' is the only allowed URL scheme{FORM}"),
        ));
    }
    let (before_fragment, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (before_query, query) = before_fragment
        .split_once('?')
        .unwrap_or((before_fragment, ""));
    let authority = if scheme.is_empty() {
        ""
    } else {
        before_query.split('/').next().unwrap_or("")
    };
    let (user, host) = authority
        .rsplit_once('@')
        .map_or(("", authority), |(u, h)| (u, h));
    if host.is_empty() {
        errs.push(FieldError::invalid(
            path,
            host,
            &format!("host must be specified{FORM}"),
        ));
    }
    if !user.is_empty() {
        errs.push(FieldError::invalid(
            path,
            user,
            "user information is not permitted in the URL",
        ));
    }
    if !fragment.is_empty() {
        errs.push(FieldError::invalid(
            path,
            fragment,
            "fragments are not permitted in the URL",
        ));
    }
    if !query.is_empty() {
        errs.push(FieldError::invalid(
            path,
            query,
            "query parameters are not permitted in the URL",
        ));
    }
    errs
}

fn webhook_service(path: &Path, s: &Value) -> ErrorList {
    let mut errs = ErrorList::new();
    if str_at(s, "name").is_empty() {
        errs.push(FieldError::required(
            &path.child("name"),
            "service name is required",
        ));
    }
    if str_at(s, "namespace").is_empty() {
        errs.push(FieldError::required(
            &path.child("namespace"),
            "service namespace is required",
        ));
    }
    let port = s.get("port").and_then(Value::as_i64).unwrap_or(443);
    let msgs = is_valid_port_num(port);
    if !msgs.is_empty() {
        errs.push(FieldError::invalid(
            &path.child("port"),
            port,
            &format!("port is not valid: {}", msgs.join(", ")),
        ));
    }
    let Some(p) = s.get("path").and_then(Value::as_str) else {
        return errs;
    };
    if p == "/" || p.is_empty() {
        return errs;
    }
    let pp = path.child("path");
    if p == "//" {
        errs.push(FieldError::invalid(&pp, p, "segment[0] may not be empty"));
        return errs;
    }
    if !p.starts_with('/') {
        errs.push(FieldError::invalid(&pp, p, "must start with a '/'"));
    }
    let check = p.get(1..).unwrap_or("");
    let check = check.strip_suffix('/').unwrap_or(check);
    for (i, step) in check.split('/').enumerate() {
        if step.is_empty() {
            errs.push(FieldError::invalid(
                &pp,
                p,
                &format!("segment[{i}] may not be empty"),
            ));
            continue;
        }
        for m in is_dns1123_subdomain(step) {
            errs.push(FieldError::invalid(&pp, p, &format!("segment[{i}]: {m}")));
        }
    }
    errs
}
