//! Security contexts (upstream `validatePodSpecSecurityContext` and
//! `ValidateSecurityContext`).
//!
//! Privileged containers are allowed, as with `--allow-privileged=true`
//! (what kubeadm and most installers configure).

use std::collections::BTreeSet;
use std::sync::LazyLock;

use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::{AppArmorProfile, PodSpec, SeccompProfile, SecurityContext};
use regex::Regex;

use super::field_rules::{inclusive_range_error, shown};
use super::volumes::validate_local_descending_path;

const MAX_ID: i64 = 2_147_483_647;

fn validate_id(id: i64, path: &Path, errs: &mut ErrorList) {
    if !(0..=MAX_ID).contains(&id) {
        errs.push(FieldError::invalid(
            path,
            id,
            &inclusive_range_error(0, MAX_ID),
        ));
    }
}

fn validate_seccomp(p: Option<&SeccompProfile>, path: &Path) -> ErrorList {
    let Some(p) = p else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    const TYPES: &[&str] = &["Localhost", "RuntimeDefault", "Unconfined"];
    match p.type_.as_str() {
        "" => errs.push(FieldError::required(
            &path.child("type"),
            "type is required when seccompProfile is set",
        )),
        t if !TYPES.contains(&t) => {
            errs.push(FieldError::not_supported(&path.child("type"), t, TYPES))
        }
        _ => {}
    }
    if p.type_ == "Localhost" {
        match p.localhost_profile.as_deref() {
            None => errs.push(FieldError::required(
                &path.child("localhostProfile"),
                "must be set when seccomp type is Localhost",
            )),
            Some(lp) => errs.extend(validate_local_descending_path(
                lp,
                &path.child("localhostProfile"),
            )),
        }
    } else if p.localhost_profile.is_some() {
        errs.push(FieldError::invalid(
            &path.child("localhostProfile"),
            shown(p),
            "can only be set when seccomp type is Localhost",
        ));
    }
    errs
}

fn validate_apparmor(p: Option<&AppArmorProfile>, path: &Path) -> ErrorList {
    let Some(p) = p else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    let lp_path = path.child("localhostProfile");
    match p.type_.as_str() {
        "Localhost" => match p.localhost_profile.as_deref() {
            None => errs.push(FieldError::required(
                &lp_path,
                "must be set when AppArmor type is Localhost",
            )),
            Some(lp) => {
                if lp.trim() != lp {
                    errs.push(FieldError::invalid(
                        &lp_path,
                        lp,
                        "must not be padded with whitespace",
                    ));
                } else if lp.is_empty() {
                    errs.push(FieldError::required(
                        &lp_path,
                        "must be set when AppArmor type is Localhost",
                    ));
                }
                if lp.len() > 4095 {
                    errs.push(FieldError::too_long(&lp_path, 4095));
                }
            }
        },
        "RuntimeDefault" | "Unconfined" => {
            if p.localhost_profile.is_some() {
                errs.push(FieldError::invalid(
                    &lp_path,
                    shown(&p.localhost_profile),
                    "can only be set when AppArmor type is Localhost",
                ));
            }
        }
        "" => errs.push(FieldError::required(
            &path.child("type"),
            "type is required when appArmorProfile is set",
        )),
        t => errs.push(FieldError::not_supported(
            &path.child("type"),
            t,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
    errs
}

static SYSCTL_NAME: LazyLock<Regex> = LazyLock::new(|| {
    let segment = "[a-z0-9]([-_a-z0-9]*[a-z0-9])?";
    // A constant pattern: it compiles or the unit tests fail.
    Regex::new(&format!(r"^({segment}[\./])*{segment}$")).expect("sysctl pattern")
});

/// The pod-level security context, including the fields upstream keeps there
/// internally (`hostNetwork`, `hostPID`, `hostIPC`, `shareProcessNamespace`).
pub fn validate_pod_security_context(spec: &PodSpec, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let host_pid = spec.host_pid.unwrap_or(false);
    if let Some(share) = spec.share_process_namespace
        && share
        && host_pid
    {
        errs.push(FieldError::invalid(
            &path.child("shareProcessNamespace"),
            share,
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    let Some(sc) = spec.security_context.as_ref() else {
        return errs;
    };
    if let Some(id) = sc.fs_group {
        validate_id(id, &path.child("fsGroup"), &mut errs);
    }
    if let Some(id) = sc.run_as_user {
        validate_id(id, &path.child("runAsUser"), &mut errs);
    }
    if let Some(id) = sc.run_as_group {
        validate_id(id, &path.child("runAsGroup"), &mut errs);
    }
    for (i, gid) in sc.supplemental_groups.iter().flatten().enumerate() {
        validate_id(*gid, &path.child("supplementalGroups").index(i), &mut errs);
    }
    let mut names = BTreeSet::new();
    for (i, s) in sc.sysctls.iter().flatten().enumerate() {
        let p = path.child("sysctls").index(i).child("name");
        if s.name.is_empty() {
            errs.push(FieldError::required(&p, ""));
        } else if s.name.len() > 253 || !SYSCTL_NAME.is_match(&s.name) {
            errs.push(FieldError::invalid(
                &p,
                s.name.as_str(),
                "must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$",
            ));
        } else if !names.insert(s.name.clone()) {
            errs.push(FieldError::duplicate(&p, s.name.as_str()));
        }
    }
    if let Some(p) = sc.fs_group_change_policy.as_deref()
        && p != "Always"
        && p != "OnRootMismatch"
    {
        errs.push(FieldError::not_supported(
            &path.child("fsGroupChangePolicy"),
            p,
            &["Always", "OnRootMismatch"],
        ));
    }
    errs.extend(validate_seccomp(
        sc.seccomp_profile.as_ref(),
        &path.child("seccompProfile"),
    ));
    errs.extend(validate_apparmor(
        sc.app_armor_profile.as_ref(),
        &path.child("appArmorProfile"),
    ));
    if let Some(p) = sc.supplemental_groups_policy.as_deref()
        && p != "Merge"
        && p != "Strict"
    {
        errs.push(FieldError::not_supported(
            &path.child("supplementalGroupsPolicy"),
            p,
            &["Merge", "Strict"],
        ));
    }
    if let Some(p) = sc.se_linux_change_policy.as_deref()
        && p != "MountOption"
        && p != "Recursive"
    {
        errs.push(FieldError::not_supported(
            &path.child("seLinuxChangePolicy"),
            p,
            &["MountOption", "Recursive"],
        ));
    }
    errs
}

/// A container's security context.
pub fn validate_security_context(
    sc: Option<&SecurityContext>,
    host_users: bool,
    path: &Path,
) -> ErrorList {
    let Some(sc) = sc else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    if let Some(id) = sc.run_as_user {
        validate_id(id, &path.child("runAsUser"), &mut errs);
    }
    if let Some(id) = sc.run_as_group {
        validate_id(id, &path.child("runAsGroup"), &mut errs);
    }
    if let Some(pm) = sc.proc_mount.as_deref() {
        if pm != "Default" && pm != "Unmasked" {
            errs.push(FieldError::not_supported(
                &path.child("procMount"),
                pm,
                &["Default", "Unmasked"],
            ));
        }
        if host_users && pm == "Unmasked" {
            errs.push(FieldError::invalid(
                &path.child("procMount"),
                pm,
                "`hostUsers` must be false to use `Unmasked`",
            ));
        }
    }
    errs.extend(validate_seccomp(
        sc.seccomp_profile.as_ref(),
        &path.child("seccompProfile"),
    ));
    if sc.allow_privilege_escalation == Some(false) {
        if sc.privileged == Some(true) {
            errs.push(FieldError::invalid(
                path,
                shown(sc),
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        let adds = sc.capabilities.as_ref().and_then(|c| c.add.as_ref());
        if adds.into_iter().flatten().any(|c| c == "CAP_SYS_ADMIN") {
            errs.push(FieldError::invalid(
                path,
                shown(sc),
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
    errs.extend(validate_apparmor(
        sc.app_armor_profile.as_ref(),
        &path.child("appArmorProfile"),
    ));
    errs
}

/// Upstream `validateHostUsers`: user namespaces exclude host namespaces.
pub fn validate_host_users(spec: &PodSpec, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if spec.host_users != Some(false) {
        return errs;
    }
    const MSG: &str = "when `pod.Spec.HostUsers` is false";
    if spec.host_network == Some(true) {
        errs.push(FieldError::forbidden(&path.child("hostNetwork"), MSG));
    }
    if spec.host_pid == Some(true) {
        errs.push(FieldError::forbidden(&path.child("HostPID"), MSG));
    }
    if spec.host_ipc == Some(true) {
        errs.push(FieldError::forbidden(&path.child("HostIPC"), MSG));
    }
    errs
}

/// Upstream `validateOS` plus the Linux/Windows field exclusions for the pod
/// security context.
pub fn validate_os(spec: &PodSpec, path: &Path) -> ErrorList {
    let Some(os) = spec.os.as_ref() else {
        return Vec::new();
    };
    if os.name.is_empty() {
        return vec![FieldError::required(
            &path.child("os").child("name"),
            "cannot be empty",
        )];
    }
    if os.name != "linux" && os.name != "windows" {
        return vec![FieldError::not_supported(
            &path.child("os"),
            os.name.as_str(),
            &["linux", "windows"],
        )];
    }
    let mut errs = Vec::new();
    let sc_path = path.child("securityContext");
    let sc = spec.security_context.as_ref();
    if os.name == "linux" {
        if sc.is_some_and(|s| s.windows_options.is_some()) {
            errs.push(FieldError::forbidden(
                &sc_path.child("windowsOptions"),
                "windows options cannot be set for a linux pod",
            ));
        }
        return errs;
    }
    const MSG: &str = "cannot be set for a windows pod";
    if let Some(sc) = sc {
        for (set, p) in [
            (
                sc.app_armor_profile.is_some(),
                sc_path.child("appArmorProfile"),
            ),
            (
                sc.se_linux_options.is_some(),
                sc_path.child("seLinuxOptions"),
            ),
            (spec.host_users.is_some(), path.child("hostUsers")),
            (spec.host_pid == Some(true), path.child("hostPID")),
            (spec.host_ipc == Some(true), path.child("hostIPC")),
            (
                sc.seccomp_profile.is_some(),
                sc_path.child("seccompProfile"),
            ),
            (sc.fs_group.is_some(), sc_path.child("fsGroup")),
            (
                sc.fs_group_change_policy.is_some(),
                sc_path.child("fsGroupChangePolicy"),
            ),
            (
                sc.sysctls.as_ref().is_some_and(|s| !s.is_empty()),
                sc_path.child("sysctls"),
            ),
            (
                spec.share_process_namespace.is_some(),
                path.child("shareProcessNamespace"),
            ),
            (sc.run_as_user.is_some(), sc_path.child("runAsUser")),
            (sc.run_as_group.is_some(), sc_path.child("runAsGroup")),
            (
                sc.supplemental_groups.is_some(),
                sc_path.child("supplementalGroups"),
            ),
            (
                sc.supplemental_groups_policy.is_some(),
                sc_path.child("supplementalGroupsPolicy"),
            ),
            (
                sc.se_linux_change_policy.is_some(),
                sc_path.child("seLinuxChangePolicy"),
            ),
        ] {
            if set {
                errs.push(FieldError::forbidden(&p, MSG));
            }
        }
    }
    let containers = spec
        .containers
        .iter()
        .enumerate()
        .map(|(i, c)| (path.child("containers").index(i), c));
    let inits = spec
        .init_containers
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| (path.child("initContainers").index(i), c));
    for (cp, c) in containers.chain(inits) {
        let Some(sc) = c.security_context.as_ref() else {
            continue;
        };
        let p = cp.child("securityContext");
        for (set, field) in [
            (sc.app_armor_profile.is_some(), "appArmorProfile"),
            (sc.se_linux_options.is_some(), "seLinuxOptions"),
            (sc.seccomp_profile.is_some(), "seccompProfile"),
            (sc.capabilities.is_some(), "capabilities"),
            (
                sc.read_only_root_filesystem.is_some(),
                "readOnlyRootFilesystem",
            ),
            (sc.privileged.is_some(), "privileged"),
            (
                sc.allow_privilege_escalation.is_some(),
                "allowPrivilegeEscalation",
            ),
            (sc.proc_mount.is_some(), "procMount"),
            (sc.run_as_user.is_some(), "runAsUser"),
            (sc.run_as_group.is_some(), "runAsGroup"),
        ] {
            if set {
                errs.push(FieldError::forbidden(&p.child(field), MSG));
            }
        }
    }
    errs
}
