//! Environment variables and the downward API (upstream `ValidateEnv`,
//! `ValidateEnvFrom`, `validateObjectFieldSelector`,
//! `validateContainerResourceFieldSelector`).

use corten_apimachinery::names::{is_config_map_key, is_dns1123_subdomain, is_env_var_name};
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::{Container, ObjectFieldSelector, ResourceFieldSelector};

use super::field_rules::opt;

/// The downward API fields allowed in env vars.
pub const ENV_DOWNWARD_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

const RESOURCE_FIELD_EXPRESSIONS: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

/// Splits `metadata.labels['key']` into path and subscript.
fn split_subscripted(field_path: &str) -> Option<(&str, &str)> {
    let s = field_path.strip_suffix("']")?;
    let (path, sub) = s.split_once("['")?;
    (!path.is_empty()).then_some((path, sub))
}

/// Upstream `validateObjectFieldSelector` against the allowed `expressions`.
pub fn validate_object_field_selector(
    fs: &ObjectFieldSelector,
    expressions: &[&str],
    path: &Path,
) -> ErrorList {
    let api_version = opt(&fs.api_version);
    if api_version.is_empty() {
        return vec![FieldError::required(&path.child("apiVersion"), "")];
    }
    if fs.field_path.is_empty() {
        return vec![FieldError::required(&path.child("fieldPath"), "")];
    }
    let converted = convert_downward_field_label(api_version, &fs.field_path);
    let internal = match converted {
        Ok(p) => p,
        Err(e) => {
            return vec![FieldError::invalid(
                &path.child("fieldPath"),
                fs.field_path.as_str(),
                &format!("error converting fieldPath: {e}"),
            )];
        }
    };
    if let Some((p, sub)) = split_subscripted(&internal) {
        let key = match p {
            "metadata.annotations" => sub.to_lowercase(),
            "metadata.labels" => sub.to_string(),
            _ => return vec![FieldError::invalid(path, p, "does not support subscript")],
        };
        return corten_apimachinery::names::is_qualified_name(&key)
            .into_iter()
            .map(|msg| FieldError::invalid(path, key.as_str(), &msg))
            .collect();
    }
    if !expressions.contains(&internal.as_str()) {
        return vec![FieldError::not_supported(
            &path.child("fieldPath"),
            internal.as_str(),
            expressions,
        )];
    }
    Vec::new()
}

/// Upstream `ConvertDownwardAPIFieldLabel` for pods.
fn convert_downward_field_label(version: &str, label: &str) -> Result<String, String> {
    if version != "v1" {
        return Err(format!("unsupported pod version: {version}"));
    }
    if let Some((p, _)) = split_subscripted(label) {
        return match p {
            "metadata.annotations" | "metadata.labels" => Ok(label.to_string()),
            _ => Err(format!("field label does not support subscript: {label}")),
        };
    }
    match label {
        "metadata.annotations"
        | "metadata.labels"
        | "metadata.name"
        | "metadata.namespace"
        | "metadata.uid"
        | "spec.nodeName"
        | "spec.restartPolicy"
        | "spec.serviceAccountName"
        | "spec.schedulerName"
        | "status.phase"
        | "status.hostIP"
        | "status.hostIPs"
        | "status.podIP"
        | "status.podIPs" => Ok(label.to_string()),
        "spec.host" => Ok("spec.nodeName".to_string()),
        _ => Err(format!("field label not supported: {label}")),
    }
}

/// Upstream `validateContainerResourceFieldSelector`.
pub fn validate_resource_field_selector(
    fs: &ResourceFieldSelector,
    volume: bool,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    if volume && opt(&fs.container_name).is_empty() {
        errs.push(FieldError::required(&path.child("containerName"), ""));
    } else if fs.resource.is_empty() {
        errs.push(FieldError::required(&path.child("resource"), ""));
    } else if !RESOURCE_FIELD_EXPRESSIONS.contains(&fs.resource.as_str())
        && !fs.resource.starts_with("requests.hugepages-")
        && !fs.resource.starts_with("limits.hugepages-")
    {
        errs.push(FieldError::not_supported(
            &path.child("resource"),
            fs.resource.as_str(),
            RESOURCE_FIELD_EXPRESSIONS,
        ));
    }
    if let Some(divisor) = fs
        .divisor
        .as_ref()
        .map(|d| d.0.as_str())
        .filter(|d| *d != "0")
    {
        let r = fs.resource.as_str();
        const SIZES: &[&str] = &[
            "1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei",
        ];
        let (ok, what) = match r {
            "limits.cpu" | "requests.cpu" => (["1m", "1"].contains(&divisor), "cpu"),
            "limits.memory" | "requests.memory" => (SIZES.contains(&divisor), "memory"),
            "limits.ephemeral-storage" | "requests.ephemeral-storage" => {
                (SIZES.contains(&divisor), "local ephemeral storage")
            }
            _ if r.starts_with("requests.hugepages-") || r.starts_with("limits.hugepages-") => {
                (SIZES.contains(&divisor), "hugepages")
            }
            _ => (true, ""),
        };
        if !ok {
            let allowed = if what == "cpu" {
                "1m and 1".to_string()
            } else {
                SIZES.join(", ")
            };
            errs.push(FieldError::invalid(
                &path.child("divisor"),
                r,
                &format!("only divisor's values {allowed} are supported with the {what} resource"),
            ));
        }
    }
    errs
}

pub(crate) fn validate_env(c: &Container, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    for (i, ev) in c.env.iter().flatten().enumerate() {
        let idx = path.index(i);
        if ev.name.is_empty() {
            errs.push(FieldError::required(&idx.child("name"), ""));
        } else {
            for msg in is_env_var_name(&ev.name) {
                errs.push(FieldError::invalid(
                    &idx.child("name"),
                    ev.name.as_str(),
                    &msg,
                ));
            }
        }
        let Some(vf) = ev.value_from.as_ref() else {
            continue;
        };
        let vf_path = idx.child("valueFrom");
        let mut n = 0;
        if let Some(f) = vf.field_ref.as_ref() {
            n += 1;
            errs.extend(validate_object_field_selector(
                f,
                ENV_DOWNWARD_FIELDS,
                &vf_path.child("fieldRef"),
            ));
        }
        if let Some(r) = vf.resource_field_ref.as_ref() {
            n += 1;
            errs.extend(validate_resource_field_selector(
                r,
                false,
                &vf_path.child("resourceFieldRef"),
            ));
        }
        for (sel, field) in [
            (
                vf.config_map_key_ref.as_ref().map(|s| (&s.name, &s.key)),
                "configMapKeyRef",
            ),
            (
                vf.secret_key_ref.as_ref().map(|s| (&s.name, &s.key)),
                "secretKeyRef",
            ),
        ] {
            let Some((name, key)) = sel else { continue };
            n += 1;
            let p = vf_path.child(field);
            for msg in is_dns1123_subdomain(name) {
                errs.push(FieldError::invalid(&p.child("name"), name.as_str(), &msg));
            }
            if key.is_empty() {
                errs.push(FieldError::required(&p.child("key"), ""));
            } else {
                for msg in is_config_map_key(key) {
                    errs.push(FieldError::invalid(&p.child("key"), key.as_str(), &msg));
                }
            }
        }
        if n == 0 {
            errs.push(FieldError::invalid(
                &vf_path,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !opt(&ev.value).is_empty() {
            errs.push(FieldError::invalid(
                &vf_path,
                "",
                "may not be specified when `value` is not empty",
            ));
        } else if n > 1 {
            errs.push(FieldError::invalid(
                &vf_path,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
    errs
}

pub(crate) fn validate_env_from(c: &Container, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    for (i, ef) in c.env_from.iter().flatten().enumerate() {
        let idx = path.index(i);
        let prefix = opt(&ef.prefix);
        if !prefix.is_empty() {
            for msg in is_env_var_name(prefix) {
                errs.push(FieldError::invalid(&idx.child("prefix"), prefix, &msg));
            }
        }
        let mut n = 0;
        for (name, field) in [
            (ef.config_map_ref.as_ref().map(|r| &r.name), "configMapRef"),
            (ef.secret_ref.as_ref().map(|r| &r.name), "secretRef"),
        ] {
            let Some(name) = name else { continue };
            n += 1;
            let p = idx.child(field).child("name");
            if name.is_empty() {
                errs.push(FieldError::required(&p, ""));
            } else {
                // Prefix validation: trailing dashes are allowed, as for generateName.
                let check = name
                    .strip_suffix('-')
                    .map_or(name.clone(), |s| format!("{s}a"));
                for msg in is_dns1123_subdomain(&check) {
                    errs.push(FieldError::invalid(&p, name.as_str(), &msg));
                }
            }
        }
        if n == 0 {
            errs.push(FieldError::invalid(
                path,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if n > 1 {
            errs.push(FieldError::invalid(
                path,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
    errs
}
