//! Container validation (upstream `validateContainers`,
//! `validateInitContainers`, `validateEphemeralContainers` and
//! `validateContainerCommon` with what they call).

use std::collections::{BTreeMap, BTreeSet};

use corten_apimachinery::names::{is_dns1123_label, is_valid_port_name, is_valid_port_num};
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::{Container, EphemeralContainer};

use super::env::{validate_env, validate_env_from};
use super::field_rules::opt;
use super::probes::validate_probes_and_lifecycle;
use super::resources::validate_container_resources;
use super::security::validate_security_context;
use super::volumes::{VolumeInfo, validate_local_descending_path, validate_no_backsteps};

pub use super::env::{
    ENV_DOWNWARD_FIELDS, validate_object_field_selector, validate_resource_field_selector,
};

/// What container validation needs from the enclosing pod spec.
pub struct ContainerContext<'a> {
    /// Valid volumes by name.
    pub volumes: &'a BTreeMap<String, VolumeInfo>,
    /// Names in `spec.resourceClaims`.
    pub claim_names: &'a BTreeSet<String>,
    /// `spec.terminationGracePeriodSeconds`.
    pub grace_period: Option<i64>,
    /// `spec.restartPolicy`.
    pub restart_policy: &'a str,
    /// Whether the pod uses the host user namespace.
    pub host_users: bool,
}

/// Upstream `validatePullPolicy`.
pub fn validate_pull_policy(policy: &str, path: &Path) -> ErrorList {
    match policy {
        "Always" | "IfNotPresent" | "Never" => Vec::new(),
        "" => vec![FieldError::required(path, "")],
        p => vec![FieldError::not_supported(
            path,
            p,
            &["Always", "IfNotPresent", "Never"],
        )],
    }
}

fn validate_ports(c: &Container, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let mut names = BTreeSet::new();
    for (i, port) in c.ports.iter().flatten().enumerate() {
        let idx = path.index(i);
        let name = opt(&port.name);
        if !name.is_empty() {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                for msg in msgs {
                    errs.push(FieldError::invalid(&idx.child("name"), name, &msg));
                }
            } else if !names.insert(name.to_string()) {
                errs.push(FieldError::duplicate(&idx.child("name"), name));
            }
        }
        if port.container_port == 0 {
            errs.push(FieldError::required(&idx.child("containerPort"), ""));
        } else {
            for msg in is_valid_port_num(i64::from(port.container_port)) {
                errs.push(FieldError::invalid(
                    &idx.child("containerPort"),
                    port.container_port,
                    &msg,
                ));
            }
        }
        let host_port = port.host_port.unwrap_or(0);
        if host_port != 0 {
            for msg in is_valid_port_num(i64::from(host_port)) {
                errs.push(FieldError::invalid(&idx.child("hostPort"), host_port, &msg));
            }
        }
        match opt(&port.protocol) {
            "" => errs.push(FieldError::required(&idx.child("protocol"), "")),
            "TCP" | "UDP" | "SCTP" => {}
            p => errs.push(FieldError::not_supported(
                &idx.child("protocol"),
                p,
                &["SCTP", "TCP", "UDP"],
            )),
        }
    }
    errs
}

fn validate_volume_mounts(
    c: &Container,
    volumes: &BTreeMap<String, VolumeInfo>,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    let devices: BTreeMap<&str, &str> = c
        .volume_devices
        .iter()
        .flatten()
        .map(|d| (d.name.as_str(), d.device_path.as_str()))
        .collect();
    let mut mount_points = BTreeSet::new();
    for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
        let idx = path.index(i);
        if m.name.is_empty() {
            errs.push(FieldError::required(&idx.child("name"), ""));
        }
        if !volumes.contains_key(&m.name) {
            errs.push(FieldError::not_found(&idx.child("name"), m.name.as_str()));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(&idx.child("mountPath"), ""));
        }
        if !mount_points.insert(m.mount_path.clone()) {
            errs.push(FieldError::invalid(
                &idx.child("mountPath"),
                m.mount_path.as_str(),
                "must be unique",
            ));
        }
        if devices.contains_key(m.name.as_str()) {
            errs.push(FieldError::invalid(
                &idx.child("name"),
                m.name.as_str(),
                "must not already exist in volumeDevices",
            ));
        }
        if devices.values().any(|p| *p == m.mount_path) {
            errs.push(FieldError::invalid(
                &idx.child("mountPath"),
                m.mount_path.as_str(),
                "must not already exist as a path in volumeDevices",
            ));
        }
        let sub_path = opt(&m.sub_path);
        let sub_path_expr = opt(&m.sub_path_expr);
        if volumes.get(&m.name).is_some_and(|v| v.is_image) {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    &idx.child("subPath"),
                    sub_path,
                    "not allowed in image volume sources",
                ));
            }
            if !sub_path_expr.is_empty() {
                errs.push(FieldError::invalid(
                    &idx.child("subPathExpr"),
                    sub_path_expr,
                    "not allowed in image volume sources",
                ));
            }
        }
        if !sub_path.is_empty() {
            errs.extend(validate_local_descending_path(
                sub_path,
                &path.child("subPath"),
            ));
        }
        if !sub_path_expr.is_empty() {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    &idx.child("subPathExpr"),
                    sub_path_expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            errs.extend(validate_local_descending_path(
                sub_path_expr,
                &path.child("subPathExpr"),
            ));
        }
        let propagation = m.mount_propagation.as_deref();
        if let Some(mp) = propagation {
            let mp_path = path.child("mountPropagation");
            const MODES: &[&str] = &["Bidirectional", "HostToContainer", "None"];
            if !MODES.contains(&mp) {
                errs.push(FieldError::not_supported(&mp_path, mp, MODES));
            }
            let privileged = c
                .security_context
                .as_ref()
                .and_then(|s| s.privileged)
                .unwrap_or(false);
            if mp == "Bidirectional" && !privileged {
                errs.push(FieldError::forbidden(
                    &mp_path,
                    "Bidirectional mount propagation is available only to privileged containers",
                ));
            }
        }
        if let Some(rro) = m.recursive_read_only.as_deref() {
            let rro_path = path.child("recursiveReadOnly");
            match rro {
                "Disabled" => {}
                "Enabled" | "IfPossible" => {
                    if !m.read_only.unwrap_or(false) {
                        errs.push(FieldError::forbidden(
                            &rro_path,
                            "may only be specified when readOnly is true",
                        ));
                    }
                    if propagation.is_some_and(|p| p != "None") {
                        errs.push(FieldError::forbidden(
                            &rro_path,
                            "may only be specified when mountPropagation is None or not specified",
                        ));
                    }
                }
                other => errs.push(FieldError::not_supported(
                    &rro_path,
                    other,
                    &["Disabled", "Enabled", "IfPossible"],
                )),
            }
        }
    }
    errs
}

fn validate_volume_devices(
    c: &Container,
    volumes: &BTreeMap<String, VolumeInfo>,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    let mounts: BTreeMap<&str, &str> = c
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| (m.name.as_str(), m.mount_path.as_str()))
        .collect();
    let mut paths = BTreeSet::new();
    let mut names = BTreeSet::new();
    for (i, d) in c.volume_devices.iter().flatten().enumerate() {
        let idx = path.index(i);
        let info = volumes.get(&d.name);
        if d.name.is_empty() {
            errs.push(FieldError::required(&idx.child("name"), ""));
        }
        if names.contains(&d.name) {
            errs.push(FieldError::invalid(
                &idx.child("name"),
                d.name.as_str(),
                "must be unique",
            ));
        }
        match info {
            Some(v) if !v.is_pvc => errs.push(FieldError::invalid(
                &idx.child("name"),
                d.name.as_str(),
                "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode",
            )),
            None => errs.push(FieldError::not_found(&idx.child("name"), d.name.as_str())),
            Some(_) => {}
        }
        if d.device_path.is_empty() {
            errs.push(FieldError::required(&idx.child("devicePath"), ""));
        }
        if paths.contains(&d.device_path) {
            errs.push(FieldError::invalid(
                &idx.child("devicePath"),
                d.device_path.as_str(),
                "must be unique",
            ));
        }
        if !d.device_path.is_empty() && !validate_no_backsteps(&d.device_path, &idx).is_empty() {
            errs.push(FieldError::invalid(
                &idx.child("devicePath"),
                d.device_path.as_str(),
                "can not contain backsteps ('..')",
            ));
        } else {
            paths.insert(d.device_path.clone());
        }
        if mounts.contains_key(d.name.as_str()) {
            errs.push(FieldError::invalid(
                &idx.child("name"),
                d.name.as_str(),
                "must not already exist in volumeMounts",
            ));
        }
        if mounts.values().any(|p| *p == d.device_path) {
            errs.push(FieldError::invalid(
                &idx.child("devicePath"),
                d.device_path.as_str(),
                "must not already exist as a path in volumeMounts",
            ));
        }
        if !d.name.is_empty() {
            names.insert(d.name.clone());
        }
    }
    errs
}

fn validate_resize_policy(c: &Container, pod_restart_policy: &str, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, p) in c.resize_policy.iter().flatten().enumerate() {
        if !seen.insert(p.resource_name.clone()) {
            errs.push(FieldError::duplicate(
                &path.index(i),
                p.resource_name.as_str(),
            ));
        }
        match p.resource_name.as_str() {
            "cpu" | "memory" => {}
            "" => errs.push(FieldError::required(path, "")),
            r => errs.push(FieldError::not_supported(path, r, &["cpu", "memory"])),
        }
        match p.restart_policy.as_str() {
            "NotRequired" | "RestartContainer" => {}
            "" => errs.push(FieldError::required(path, "")),
            r => errs.push(FieldError::not_supported(
                path,
                r,
                &["NotRequired", "RestartContainer"],
            )),
        }
        if pod_restart_policy == "Never" && p.restart_policy != "NotRequired" {
            errs.push(FieldError::invalid(
                path,
                p.restart_policy.as_str(),
                "must be 'NotRequired' when `restartPolicy` is 'Never'",
            ));
        }
    }
    errs
}

/// Upstream `validateContainerCommon`.
fn validate_container_common(c: &Container, ctx: &ContainerContext<'_>, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let name_path = path.child("name");
    if c.name.is_empty() {
        errs.push(FieldError::required(&name_path, ""));
    } else {
        for msg in is_dns1123_label(&c.name) {
            errs.push(FieldError::invalid(&name_path, c.name.as_str(), &msg));
        }
    }
    if opt(&c.image).is_empty() {
        errs.push(FieldError::required(&path.child("image"), ""));
    }
    match opt(&c.termination_message_policy) {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(FieldError::required(
            &path.child("terminationMessagePolicy"),
            "",
        )),
        p => errs.push(FieldError::not_supported(
            &path.child("terminationMessagePolicy"),
            p,
            &["File", "FallbackToLogsOnError"],
        )),
    }
    errs.extend(validate_ports(c, &path.child("ports")));
    errs.extend(validate_env(c, &path.child("env")));
    errs.extend(validate_env_from(c, &path.child("envFrom")));
    errs.extend(validate_volume_mounts(
        c,
        ctx.volumes,
        &path.child("volumeMounts"),
    ));
    errs.extend(validate_volume_devices(
        c,
        ctx.volumes,
        &path.child("volumeDevices"),
    ));
    errs.extend(validate_pull_policy(
        opt(&c.image_pull_policy),
        &path.child("imagePullPolicy"),
    ));
    errs.extend(validate_container_resources(
        c.resources.as_ref(),
        ctx.claim_names,
        &path.child("resources"),
    ));
    errs.extend(validate_resize_policy(
        c,
        ctx.restart_policy,
        &path.child("resizePolicy"),
    ));
    errs.extend(validate_security_context(
        c.security_context.as_ref(),
        ctx.host_users,
        &path.child("securityContext"),
    ));
    errs
}

/// Host ports must be unique per protocol/hostIP among `containers`.
fn check_host_port_conflicts(
    containers: &[&Container],
    path: &Path,
    indices: &[usize],
) -> ErrorList {
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for (c, ci) in containers.iter().zip(indices) {
        for (pi, p) in c.ports.iter().flatten().enumerate() {
            let hp = p.host_port.unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let key = format!("{}/{}/{hp}", opt(&p.protocol), opt(&p.host_ip));
            if !seen.insert(key.clone()) {
                let p = path.index(*ci).child("ports").index(pi).child("hostPort");
                errs.push(FieldError::duplicate(&p, key));
            }
        }
    }
    errs
}

/// Upstream `validateContainers` for `spec.containers`.
pub fn validate_containers(
    containers: &[Container],
    ctx: &ContainerContext<'_>,
    path: &Path,
) -> ErrorList {
    if containers.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let mut errs = Vec::new();
    let mut names = BTreeSet::new();
    for (i, c) in containers.iter().enumerate() {
        let p = path.index(i);
        errs.extend(validate_container_common(c, ctx, &p));
        if !names.insert(c.name.clone()) {
            errs.push(FieldError::duplicate(&p.child("name"), c.name.as_str()));
        }
        errs.extend(validate_probes_and_lifecycle(c, ctx.grace_period, &p));
        if c.restart_policy.is_some() {
            errs.push(FieldError::forbidden(
                &p.child("restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    let all: Vec<&Container> = containers.iter().collect();
    let indices: Vec<usize> = (0..containers.len()).collect();
    errs.extend(check_host_port_conflicts(&all, path, &indices));
    errs
}

/// Upstream `validateInitContainers` for `spec.initContainers`.
pub fn validate_init_containers(
    inits: &[Container],
    regular: &[Container],
    ctx: &ContainerContext<'_>,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    let mut names: BTreeSet<String> = regular.iter().map(|c| c.name.clone()).collect();
    for (i, c) in inits.iter().enumerate() {
        let p = path.index(i);
        errs.extend(validate_container_common(c, ctx, &p));
        let mut restart_always = false;
        if let Some(rp) = c.restart_policy.as_deref() {
            if rp == "Always" {
                restart_always = true;
            } else {
                errs.push(FieldError::not_supported(
                    &p.child("restartPolicy"),
                    rp,
                    &["Always"],
                ));
            }
        }
        if names.contains(&c.name) {
            errs.push(FieldError::duplicate(&p.child("name"), c.name.as_str()));
        } else if !c.name.is_empty() {
            names.insert(c.name.clone());
        }
        errs.extend(check_host_port_conflicts(&[c], path, &[i]));
        if restart_always {
            errs.extend(validate_probes_and_lifecycle(c, ctx.grace_period, &p));
        } else {
            const MSG: &str = "may not be set for init containers without restartPolicy=Always";
            for (set, field) in [
                (c.lifecycle.is_some(), "lifecycle"),
                (c.liveness_probe.is_some(), "livenessProbe"),
                (c.readiness_probe.is_some(), "readinessProbe"),
                (c.startup_probe.is_some(), "startupProbe"),
            ] {
                if set {
                    errs.push(FieldError::forbidden(&p.child(field), MSG));
                }
            }
        }
    }
    errs
}

/// The container part of an ephemeral container.
pub fn ephemeral_as_container(e: &EphemeralContainer) -> Container {
    Container {
        args: e.args.clone(),
        command: e.command.clone(),
        env: e.env.clone(),
        env_from: e.env_from.clone(),
        image: e.image.clone(),
        image_pull_policy: e.image_pull_policy.clone(),
        lifecycle: e.lifecycle.clone(),
        liveness_probe: e.liveness_probe.clone(),
        name: e.name.clone(),
        ports: e.ports.clone(),
        readiness_probe: e.readiness_probe.clone(),
        resize_policy: e.resize_policy.clone(),
        resources: e.resources.clone(),
        restart_policy: e.restart_policy.clone(),
        security_context: e.security_context.clone(),
        startup_probe: e.startup_probe.clone(),
        stdin: e.stdin,
        stdin_once: e.stdin_once,
        termination_message_path: e.termination_message_path.clone(),
        termination_message_policy: e.termination_message_policy.clone(),
        tty: e.tty,
        volume_devices: e.volume_devices.clone(),
        volume_mounts: e.volume_mounts.clone(),
        working_dir: e.working_dir.clone(),
    }
}

/// Upstream `validateEphemeralContainers`.
pub fn validate_ephemeral_containers(
    ephemeral: &[EphemeralContainer],
    regular: &[Container],
    inits: &[Container],
    ctx: &ContainerContext<'_>,
    path: &Path,
) -> ErrorList {
    let mut errs = Vec::new();
    let others: BTreeSet<&str> = regular
        .iter()
        .chain(inits)
        .map(|c| c.name.as_str())
        .collect();
    let mut all: BTreeSet<String> = others.iter().map(|s| s.to_string()).collect();
    const FORBIDDEN: &str = "cannot be set for an Ephemeral Container";
    for (i, e) in ephemeral.iter().enumerate() {
        let p = path.index(i);
        let c = ephemeral_as_container(e);
        errs.extend(validate_container_common(&c, ctx, &p));
        errs.extend(validate_image_whitespace(&c, &p));
        if !all.insert(e.name.clone()) {
            errs.push(FieldError::duplicate(&p.child("name"), e.name.as_str()));
        }
        let target = opt(&e.target_container_name);
        if !target.is_empty() && !others.contains(target) {
            errs.push(FieldError::not_found(
                &p.child("targetContainerName"),
                target,
            ));
        }
        for (set, field) in [
            (e.lifecycle.is_some(), "lifecycle"),
            (e.liveness_probe.is_some(), "livenessProbe"),
            (e.ports.is_some(), "ports"),
            (e.readiness_probe.is_some(), "readinessProbe"),
            (e.resize_policy.is_some(), "resizePolicy"),
            // Go's `resources` is a struct: `{}` (what kubectl debug
            // sends) is its zero value, i.e. not set.
            (
                e.resources.as_ref().is_some_and(|r| {
                    r.limits.as_ref().is_some_and(|m| !m.is_empty())
                        || r.requests.as_ref().is_some_and(|m| !m.is_empty())
                        || r.claims.as_ref().is_some_and(|c| !c.is_empty())
                }),
                "resources",
            ),
            (e.restart_policy.is_some(), "restartPolicy"),
            (e.startup_probe.is_some(), "startupProbe"),
        ] {
            if set {
                errs.push(FieldError::forbidden(&p.child(field), FORBIDDEN));
            }
        }
        for (j, m) in e.volume_mounts.iter().flatten().enumerate() {
            let mp = p.child("volumeMounts").index(j);
            if !opt(&m.sub_path).is_empty() {
                errs.push(FieldError::forbidden(&mp.child("subPath"), FORBIDDEN));
            }
            if !opt(&m.sub_path_expr).is_empty() {
                errs.push(FieldError::forbidden(&mp.child("subPathExpr"), FORBIDDEN));
            }
        }
    }
    errs
}

/// Pod-only container check (not templates): no surrounding whitespace in `image`.
pub fn validate_image_whitespace(c: &Container, path: &Path) -> ErrorList {
    let image = opt(&c.image);
    if image.len() != image.trim().len() {
        vec![FieldError::invalid(
            &path.child("image"),
            image,
            "must not have leading or trailing whitespace",
        )]
    } else {
        Vec::new()
    }
}
