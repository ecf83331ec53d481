//! apiregistration.k8s.io/v1 APIService (kube-aggregator): the name is
//! `<version>.<group>`, priorities are bounded, a local APIService (no
//! `service`) carries no TLS settings, and `caBundle` excludes
//! `insecureSkipTLSVerify`. `service.port` defaults to 443.

use corten_apimachinery::names::{is_dns1035_label, is_dns1123_subdomain, is_valid_port_num};
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;

use crate::kind::{KindRules, KindStrategy};
use crate::validate;

/// Strategy for APIService.
pub static API_SERVICE_STRATEGY: KindStrategy<APIServiceRules> = KindStrategy::new();

/// The port of a Service an APIService points at when none is given.
pub const DEFAULT_SERVICE_PORT: i32 = 443;

/// The rules of APIService (upstream `ValidateAPIService`,
/// `ValidateAPIServiceStatus`, `SetDefaults_ServiceReference`).
pub struct APIServiceRules;

/// The name an APIService for `group`/`version` must have.
pub fn required_name(group: &str, version: &str) -> String {
    format!("{version}.{group}")
}

impl KindRules for APIServiceRules {
    type Object = APIService;
    const NAMESPACED: bool = false;

    fn name_validator() -> corten_apimachinery::names::NameValidator {
        // The `<version>.<group>` rule needs the spec: checked in validate.
        validate::path_segment_name
    }

    fn default(a: &mut APIService) {
        if let Some(svc) = a.spec.as_mut().and_then(|s| s.service.as_mut())
            && svc.port.is_none()
        {
            svc.port = Some(DEFAULT_SERVICE_PORT);
        }
    }

    fn validate(a: &APIService) -> ErrorList {
        let mut errs = Vec::new();
        let spec = a.spec.clone().unwrap_or_default();
        let group = spec.group.as_deref().unwrap_or("");
        let version = spec.version.as_deref().unwrap_or("");
        let name = a.metadata.name.as_deref().unwrap_or("");
        let required = required_name(group, version);
        if !name.is_empty() && validate::path_segment_name(name).is_empty() && name != required {
            errs.push(FieldError::invalid(
                &Path::new("metadata").child("name"),
                name,
                &format!("must be `spec.version+\".\"+spec.group`: {required:?}"),
            ));
        }
        let spec_path = Path::new("spec");
        if group.is_empty() && version != "v1" {
            errs.push(FieldError::required(
                &spec_path.child("group"),
                "only v1 may have an empty group and it better be legacy kube",
            ));
        }
        if !group.is_empty() {
            for e in is_dns1123_subdomain(group) {
                errs.push(FieldError::invalid(&spec_path.child("group"), group, &e));
            }
        }
        for e in is_dns1035_label(version) {
            errs.push(FieldError::invalid(
                &spec_path.child("version"),
                version,
                &e,
            ));
        }
        let gpm = spec.group_priority_minimum;
        if gpm <= 0 || gpm > 20000 {
            errs.push(FieldError::invalid(
                &spec_path.child("groupPriorityMinimum"),
                gpm,
                "must be positive and less than 20000",
            ));
        }
        let vp = spec.version_priority;
        if vp <= 0 || vp > 1000 {
            errs.push(FieldError::invalid(
                &spec_path.child("versionPriority"),
                vp,
                "must be positive and less than 1000",
            ));
        }
        let ca_len = spec.ca_bundle.as_ref().map_or(0, |b| b.0.len());
        let insecure = spec.insecure_skip_tls_verify.unwrap_or(false);
        let Some(svc) = &spec.service else {
            if ca_len != 0 {
                errs.push(FieldError::invalid(
                    &spec_path.child("caBundle"),
                    format!("{ca_len} bytes"),
                    "local APIServices may not have a caBundle",
                ));
            }
            if insecure {
                errs.push(FieldError::invalid(
                    &spec_path.child("insecureSkipTLSVerify"),
                    insecure,
                    "local APIServices may not have insecureSkipTLSVerify",
                ));
            }
            return errs;
        };
        let svc_path = spec_path.child("service");
        if svc.namespace.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::required(&svc_path.child("namespace"), ""));
        }
        if svc.name.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::required(&svc_path.child("name"), ""));
        }
        let port = svc.port.unwrap_or(DEFAULT_SERVICE_PORT);
        let port_errs = is_valid_port_num(i64::from(port));
        if !port_errs.is_empty() {
            errs.push(FieldError::invalid(
                &svc_path.child("port"),
                port,
                &format!("port is not valid: {}", port_errs.join(", ")),
            ));
        }
        if insecure && ca_len > 0 {
            errs.push(FieldError::invalid(
                &spec_path.child("insecureSkipTLSVerify"),
                insecure,
                "may not be true if caBundle is present",
            ));
        }
        errs
    }

    fn validate_status_update(new: &APIService, _old: &APIService) -> ErrorList {
        let mut errs = Vec::new();
        let conditions = new
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let path = Path::new("status").child("conditions");
        for (i, c) in conditions.iter().enumerate() {
            if !matches!(c.status.as_str(), "True" | "False" | "Unknown") {
                errs.push(FieldError::not_supported(
                    &path.index(i).child("status"),
                    c.status.as_str(),
                    &["True", "False", "Unknown"],
                ));
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Strategy;
    use serde_json::{Value, json};

    fn created(obj: Value) -> Value {
        let mut o = API_SERVICE_STRATEGY.canonicalize(obj).unwrap();
        API_SERVICE_STRATEGY.prepare_for_create(&mut o);
        API_SERVICE_STRATEGY.default(&mut o);
        o
    }

    fn errors(obj: Value) -> Vec<String> {
        let o = created(obj);
        API_SERVICE_STRATEGY
            .validate(&o)
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    fn remote(name: &str, spec: Value) -> Value {
        let mut s = json!({
            "group": "wardle.example.com", "version": "v1alpha1",
            "groupPriorityMinimum": 1000, "versionPriority": 15,
            "service": {"namespace": "wardle", "name": "api"},
        });
        for (k, v) in spec.as_object().unwrap() {
            s[k] = v.clone();
        }
        json!({"metadata": {"name": name}, "spec": s})
    }

    #[test]
    fn remote_and_local_services_are_valid_and_port_defaults() {
        let o = created(remote("v1alpha1.wardle.example.com", json!({})));
        assert_eq!(o["spec"]["service"]["port"], 443);
        assert!(errors(remote("v1alpha1.wardle.example.com", json!({}))).is_empty());
        let local = json!({"metadata": {"name": "v1."}, "spec": {
            "version": "v1", "groupPriorityMinimum": 18000, "versionPriority": 1}});
        assert!(errors(local).is_empty());
    }

    #[test]
    fn name_must_be_version_dot_group() {
        assert_eq!(
            errors(remote("wardle", json!({}))),
            [
                "metadata.name: Invalid value: \"wardle\": must be `spec.version+\".\"+spec.group`: \"v1alpha1.wardle.example.com\""
            ]
        );
    }

    #[test]
    fn priorities_are_bounded() {
        let errs = errors(remote(
            "v1alpha1.wardle.example.com",
            json!({"groupPriorityMinimum": 20001, "versionPriority": 0}),
        ));
        assert_eq!(
            errs,
            [
                "spec.groupPriorityMinimum: Invalid value: 20001: must be positive and less than 20000",
                "spec.versionPriority: Invalid value: 0: must be positive and less than 1000",
            ]
        );
    }

    #[test]
    fn tls_settings() {
        let errs = errors(remote(
            "v1alpha1.wardle.example.com",
            json!({"caBundle": "YWJj", "insecureSkipTLSVerify": true}),
        ));
        assert_eq!(
            errs,
            [
                "spec.insecureSkipTLSVerify: Invalid value: true: may not be true if caBundle is present"
            ]
        );
        let local = json!({"metadata": {"name": "v1.local.io"}, "spec": {
            "group": "local.io", "version": "v1", "groupPriorityMinimum": 100,
            "versionPriority": 1, "caBundle": "YWJj", "insecureSkipTLSVerify": true}});
        assert_eq!(
            errors(local),
            [
                "spec.caBundle: Invalid value: \"3 bytes\": local APIServices may not have a caBundle",
                "spec.insecureSkipTLSVerify: Invalid value: true: local APIServices may not have insecureSkipTLSVerify",
            ]
        );
    }

    #[test]
    fn empty_group_only_for_v1_and_service_fields_required() {
        let errs = errors(json!({"metadata": {"name": "v2."}, "spec": {
            "version": "v2", "groupPriorityMinimum": 1, "versionPriority": 1,
            "service": {"port": 70000}}}));
        assert_eq!(
            errs,
            [
                "spec.group: Required value: only v1 may have an empty group and it better be legacy kube",
                "spec.service.namespace: Required value",
                "spec.service.name: Required value",
                "spec.service.port: Invalid value: 70000: port is not valid: must be between 1 and 65535, inclusive",
            ]
        );
    }

    #[test]
    fn condition_status_values() {
        let mut old = created(remote("v1alpha1.wardle.example.com", json!({})));
        old["metadata"]["resourceVersion"] = json!("5");
        let mut new = old.clone();
        new["status"] = json!({"conditions": [{"type": "Available", "status": "Maybe"}]});
        let errs: Vec<String> = API_SERVICE_STRATEGY
            .validate_status_update(&new, &old)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            errs,
            [
                "status.conditions[0].status: Unsupported value: \"Maybe\": supported values: \"True\", \"False\", \"Unknown\""
            ]
        );
    }
}
