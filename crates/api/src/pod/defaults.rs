//! Pod defaulting (upstream `SetDefaults_Pod`, `SetDefaults_PodSpec`,
//! `SetDefaults_Container`, the volume-source defaulters and the declarative
//! `+default` markers of core/v1).
//!
//! Everything here is idempotent: strategies may run it more than once.

use std::sync::LazyLock;

use k8s_openapi::api::core::v1::{
    Container, EphemeralContainer, HTTPGetAction, Lifecycle, ObjectFieldSelector, Pod,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, Volume,
};
use regex::Regex;

/// Default `terminationMessagePath`.
pub const TERMINATION_MESSAGE_PATH_DEFAULT: &str = "/dev/termination-log";
/// Default `terminationGracePeriodSeconds`.
pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;
/// Default `schedulerName`.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
/// Default mode of secret/configMap/downwardAPI/projected volumes (0644).
pub const DEFAULT_VOLUME_MODE: i32 = 0o644;

fn set_if_none<T>(field: &mut Option<T>, value: T) {
    if field.is_none() {
        *field = Some(value);
    }
}

fn set_if_empty(field: &mut Option<String>, value: &str) {
    if field.as_deref().is_none_or(str::is_empty) {
        *field = Some(value.to_string());
    }
}

// The docker reference grammar (distribution/reference), enough to find the
// tag the way upstream `parsers.ParseImageName` does.
static IMAGE_REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    let domain_component = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let domain = format!(r"(?:{domain_component}(?:\.{domain_component})*(?::[0-9]+)?)");
    let path_component = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
    let name = format!(r"(?:{domain}/)?{path_component}(?:/{path_component})*");
    let tag = r"[\w][\w.-]{0,127}";
    let digest = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    // A constant pattern: it compiles or the unit tests fail.
    Regex::new(&format!(r"^({name})(?::({tag}))?(?:@({digest}))?$"))
        .expect("image reference pattern")
});

/// The tag upstream's `ParseImageName` reports: the explicit tag, `latest`
/// when neither a tag nor a digest is given, and `""` when the reference does
/// not parse or carries only a digest.
pub fn image_tag(image: &str) -> String {
    let Some(caps) = IMAGE_REFERENCE.captures(image) else {
        return String::new();
    };
    if caps.get(1).is_some_and(|n| n.as_str().len() > 255) {
        return String::new();
    }
    match (caps.get(2), caps.get(3)) {
        (Some(tag), _) => tag.as_str().to_string(),
        (None, Some(_)) => String::new(),
        (None, None) => "latest".to_string(),
    }
}

/// `Always` for `:latest` or untagged images, else `IfNotPresent`.
pub fn default_pull_policy(image: &str) -> &'static str {
    if image_tag(image) == "latest" {
        "Always"
    } else {
        "IfNotPresent"
    }
}

fn default_http_get(h: &mut HTTPGetAction) {
    set_if_empty(&mut h.path, "/");
    set_if_empty(&mut h.scheme, "HTTP");
}

fn default_probe(p: &mut Probe) {
    for (field, value) in [
        (&mut p.timeout_seconds, 1),
        (&mut p.period_seconds, 10),
        (&mut p.success_threshold, 1),
        (&mut p.failure_threshold, 3),
    ] {
        if field.unwrap_or(0) == 0 {
            *field = Some(value);
        }
    }
    if let Some(h) = p.http_get.as_mut() {
        default_http_get(h);
    }
    if let Some(g) = p.grpc.as_mut() {
        set_if_none(&mut g.service, String::new());
    }
}

fn default_lifecycle(l: &mut Lifecycle) {
    for h in [l.post_start.as_mut(), l.pre_stop.as_mut()]
        .into_iter()
        .flatten()
    {
        if let Some(g) = h.http_get.as_mut() {
            default_http_get(g);
        }
    }
}

fn default_field_ref(f: &mut ObjectFieldSelector) {
    set_if_empty(&mut f.api_version, "v1");
}

/// The per-container defaults shared by regular, init and ephemeral containers.
macro_rules! default_container_fields {
    ($c:expr) => {{
        let c = $c;
        if c.image_pull_policy.as_deref().is_none_or(str::is_empty) {
            let policy = default_pull_policy(c.image.as_deref().unwrap_or(""));
            c.image_pull_policy = Some(policy.to_string());
        }
        set_if_empty(
            &mut c.termination_message_path,
            TERMINATION_MESSAGE_PATH_DEFAULT,
        );
        set_if_empty(&mut c.termination_message_policy, "File");
        for p in c.ports.iter_mut().flatten() {
            set_if_empty(&mut p.protocol, "TCP");
        }
        for probe in [
            c.liveness_probe.as_mut(),
            c.readiness_probe.as_mut(),
            c.startup_probe.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            default_probe(probe);
        }
        if let Some(l) = c.lifecycle.as_mut() {
            default_lifecycle(l);
        }
        for e in c.env.iter_mut().flatten() {
            if let Some(f) = e.value_from.as_mut().and_then(|v| v.field_ref.as_mut()) {
                default_field_ref(f);
            }
        }
    }};
}

/// `SetDefaults_Container` and the defaults of what it contains.
pub fn default_container(c: &mut Container) {
    default_container_fields!(c);
}

fn default_ephemeral_container(c: &mut EphemeralContainer) {
    default_container_fields!(c);
}

/// `SetDefaults_Volume` and the volume-source defaulters.
pub fn default_volume(v: &mut Volume) {
    let has_source = v.aws_elastic_block_store.is_some()
        || v.azure_disk.is_some()
        || v.azure_file.is_some()
        || v.cephfs.is_some()
        || v.cinder.is_some()
        || v.config_map.is_some()
        || v.csi.is_some()
        || v.downward_api.is_some()
        || v.empty_dir.is_some()
        || v.ephemeral.is_some()
        || v.fc.is_some()
        || v.flex_volume.is_some()
        || v.flocker.is_some()
        || v.gce_persistent_disk.is_some()
        || v.git_repo.is_some()
        || v.glusterfs.is_some()
        || v.host_path.is_some()
        || v.image.is_some()
        || v.iscsi.is_some()
        || v.nfs.is_some()
        || v.persistent_volume_claim.is_some()
        || v.photon_persistent_disk.is_some()
        || v.portworx_volume.is_some()
        || v.projected.is_some()
        || v.quobyte.is_some()
        || v.rbd.is_some()
        || v.scale_io.is_some()
        || v.secret.is_some()
        || v.storageos.is_some()
        || v.vsphere_volume.is_some();
    if !has_source {
        v.empty_dir = Some(Default::default());
    }
    if let Some(s) = v.secret.as_mut() {
        set_if_none(&mut s.default_mode, DEFAULT_VOLUME_MODE);
    }
    if let Some(s) = v.config_map.as_mut() {
        set_if_none(&mut s.default_mode, DEFAULT_VOLUME_MODE);
    }
    if let Some(s) = v.downward_api.as_mut() {
        set_if_none(&mut s.default_mode, DEFAULT_VOLUME_MODE);
        for item in s.items.iter_mut().flatten() {
            if let Some(f) = item.field_ref.as_mut() {
                default_field_ref(f);
            }
        }
    }
    if let Some(p) = v.projected.as_mut() {
        set_if_none(&mut p.default_mode, DEFAULT_VOLUME_MODE);
        for src in p.sources.iter_mut().flatten() {
            if let Some(t) = src.service_account_token.as_mut() {
                set_if_none(&mut t.expiration_seconds, 3600);
            }
            let items = src
                .downward_api
                .iter_mut()
                .flat_map(|d| d.items.iter_mut().flatten());
            for item in items {
                if let Some(f) = item.field_ref.as_mut() {
                    default_field_ref(f);
                }
            }
        }
    }
    if let Some(h) = v.host_path.as_mut() {
        set_if_none(&mut h.type_, String::new());
    }
    if let Some(i) = v.iscsi.as_mut() {
        set_if_empty(&mut i.iscsi_interface, "default");
    }
    if let Some(r) = v.rbd.as_mut() {
        set_if_empty(&mut r.pool, "rbd");
        set_if_empty(&mut r.user, "admin");
        set_if_empty(&mut r.keyring, "/etc/ceph/keyring");
    }
    if let Some(a) = v.azure_disk.as_mut() {
        set_if_empty(&mut a.caching_mode, "ReadWrite");
        set_if_empty(&mut a.fs_type, "ext4");
        set_if_none(&mut a.read_only, false);
        set_if_empty(&mut a.kind, "Shared");
    }
    if let Some(s) = v.scale_io.as_mut() {
        set_if_empty(&mut s.storage_mode, "ThinProvisioned");
        set_if_empty(&mut s.fs_type, "xfs");
    }
    if let Some(i) = v.image.as_mut()
        && i.pull_policy.as_deref().is_none_or(str::is_empty)
    {
        let policy = default_pull_policy(i.reference.as_deref().unwrap_or(""));
        i.pull_policy = Some(policy.to_string());
    }
    if let Some(t) = v
        .ephemeral
        .as_mut()
        .and_then(|e| e.volume_claim_template.as_mut())
    {
        set_if_empty(&mut t.spec.volume_mode, "Filesystem");
    }
}

/// `SetDefaults_PodSpec` plus the defaults of everything a pod spec embeds
/// (what upstream applies to every PodSpec: pods and templates alike).
pub fn default_pod_spec(spec: &mut PodSpec) {
    set_if_empty(&mut spec.dns_policy, "ClusterFirst");
    set_if_empty(&mut spec.restart_policy, "Always");
    set_if_none(&mut spec.security_context, PodSecurityContext::default());
    set_if_none(
        &mut spec.termination_grace_period_seconds,
        DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS,
    );
    set_if_empty(&mut spec.scheduler_name, DEFAULT_SCHEDULER_NAME);
    for c in spec.containers.iter_mut() {
        default_container(c);
    }
    for c in spec.init_containers.iter_mut().flatten() {
        default_container(c);
    }
    for c in spec.ephemeral_containers.iter_mut().flatten() {
        default_ephemeral_container(c);
    }
    for v in spec.volumes.iter_mut().flatten() {
        default_volume(v);
    }
}

/// Pod-template defaults: the spec is always present upstream (a value, not
/// a pointer), so a missing one is created before defaulting.
pub fn default_pod_template_spec(t: &mut PodTemplateSpec) {
    default_pod_spec(t.spec.get_or_insert_with(Default::default));
}

fn requests_from_limits(r: &mut Option<ResourceRequirements>) {
    let Some(r) = r.as_mut() else {
        return;
    };
    let Some(limits) = r.limits.as_ref() else {
        return;
    };
    let requests = r.requests.get_or_insert_with(Default::default);
    for (k, v) in limits {
        requests.entry(k.clone()).or_insert_with(|| v.clone());
    }
}

/// `SetDefaults_Pod` on top of [`default_pod_spec`]: requests default to
/// limits, `enableServiceLinks` to true, and with host networking every
/// container port gets `hostPort = containerPort`.
pub fn default_pod(pod: &mut Pod) {
    let spec = pod.spec.get_or_insert_with(Default::default);
    default_pod_spec(spec);
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        requests_from_limits(&mut c.resources);
    }
    set_if_none(&mut spec.enable_service_links, true);
    if spec.host_network == Some(true) {
        for c in spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten())
        {
            for p in c.ports.iter_mut().flatten() {
                if p.host_port.unwrap_or(0) == 0 {
                    p.host_port = Some(p.container_port);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tags_follow_parse_image_name() {
        assert_eq!(image_tag("nginx"), "latest");
        assert_eq!(image_tag("nginx:latest"), "latest");
        assert_eq!(image_tag("nginx:1.25"), "1.25");
        assert_eq!(image_tag("registry.example.com:5000/team/app:v2"), "v2");
        assert_eq!(image_tag("registry.example.com:5000/team/app"), "latest");
        let digest = format!("nginx@sha256:{}", "a".repeat(64));
        assert_eq!(image_tag(&digest), "");
        assert_eq!(image_tag("Nginx"), "");
        assert_eq!(image_tag(""), "");
        assert_eq!(default_pull_policy("busybox"), "Always");
        assert_eq!(default_pull_policy("busybox:1.36"), "IfNotPresent");
    }
}
