//! The CRI `ContainerConfig` of a container (upstream
//! `generateContainerConfig` + `makeMounts` + security context
//! conversion), and the kubelet-managed `/etc/hosts`.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use corten_cri::api;
use k8s_openapi::api::core::v1::{Container, Pod, SecurityContext};

use super::labels;
use super::sandbox_config::seccomp;
use crate::volume::VolumeInfo;

/// Paths masked by default in unprivileged containers (upstream `defaultMaskedPaths`).
pub const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths read-only by default in unprivileged containers.
pub const DEFAULT_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Everything besides the pod and container that goes into the config.
#[derive(Clone, Debug)]
pub struct ContainerInputs<'a> {
    /// Whether it is an init container.
    pub init: bool,
    /// Restart count (= CRI attempt).
    pub restart_count: i32,
    /// Image reference to run (the image id from the pull).
    pub image_ref: &'a str,
    /// Final environment.
    pub env: &'a [(String, String)],
    /// Expanded command and args.
    pub command: Vec<String>,
    /// Expanded args.
    pub args: Vec<String>,
    /// The pod's volumes.
    pub volumes: &'a HashMap<String, VolumeInfo>,
    /// The kubelet-managed hosts file (None: host network).
    pub etc_hosts: Option<&'a Path>,
    /// Host file for the termination message.
    pub termination_log: Option<&'a Path>,
    /// CRI resources.
    pub resources: api::LinuxContainerResources,
    /// UID the image runs as (`None` if it has a non-numeric or no user).
    pub image_uid: Option<i64>,
    /// The image's user string.
    pub image_user: &'a str,
    /// Runtime id of the container whose process namespace an ephemeral
    /// container joins (`targetContainerName`).
    pub pid_target: Option<&'a str>,
}

fn propagation(mode: Option<&str>) -> i32 {
    match mode {
        Some("HostToContainer") => api::MountPropagation::PropagationHostToContainer as i32,
        Some("Bidirectional") => api::MountPropagation::PropagationBidirectional as i32,
        _ => api::MountPropagation::PropagationPrivate as i32,
    }
}

/// Upstream's checks of a (possibly expanded) subPath in `makeMounts`: it
/// must be relative and must not step back out of the volume.
fn check_sub_path(sub_path: &str) -> Result<(), String> {
    if Path::new(sub_path).is_absolute() {
        return Err(format!(
            "error SubPath `{sub_path}` must not be an absolute path"
        ));
    }
    if Path::new(sub_path)
        .components()
        .any(|c| c == Component::ParentDir)
    {
        return Err(format!(
            "unable to provision SubPath `{sub_path}`: must not contain '..'"
        ));
    }
    Ok(())
}

/// Upstream's `ExpandContainerVolumeMounts`: `$(VAR)` in `subPathExpr` from
/// the container's final environment; a variable that is unknown or empty is
/// an error (so a subpath never silently collapses to the volume root).
fn expand_sub_path_expr(expr: &str, env: &[(String, String)]) -> Result<String, String> {
    let missing = std::cell::RefCell::new(std::collections::BTreeSet::new());
    // The last definition of a name wins, as in the container's environment.
    let expanded = super::env::expand(expr, &|name| {
        let value = env
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty());
        if value.is_none() {
            missing.borrow_mut().insert(name.to_string());
        }
        Some(value.unwrap_or_default())
    });
    let missing = missing.into_inner();
    if !missing.is_empty() {
        let names: Vec<String> = missing.into_iter().collect();
        return Err(format!("missing value for {}", names.join(", ")));
    }
    Ok(expanded)
}

/// The mounts of a container (upstream `makeMounts`).
pub fn mounts(
    pod: &Pod,
    container: &Container,
    inputs: &ContainerInputs<'_>,
) -> Result<Vec<api::Mount>, String> {
    let mut mounts = Vec::new();
    for mount in container.volume_mounts.iter().flatten() {
        let volume = inputs.volumes.get(&mount.name).ok_or_else(|| {
            format!(
                "cannot find volume {:?} to mount into container {:?}",
                mount.name, container.name
            )
        })?;
        let mut host_path = volume.host_path.clone();
        let sub_path = match mount.sub_path_expr.as_deref().filter(|e| !e.is_empty()) {
            Some(expr) => expand_sub_path_expr(expr, inputs.env)?,
            None => mount.sub_path.clone().unwrap_or_default(),
        };
        if !sub_path.is_empty() {
            check_sub_path(&sub_path)?;
            host_path = host_path.join(&sub_path);
            if !host_path.exists() {
                std::fs::create_dir_all(&host_path)
                    .map_err(|e| format!("failed to create subPath directory for volumeMount {:?} of container {:?}: {e}", mount.name, container.name))?;
            }
        }
        mounts.push(api::Mount {
            container_path: mount.mount_path.clone(),
            host_path: host_path.display().to_string(),
            readonly: mount.read_only.unwrap_or(false) || volume.read_only,
            selinux_relabel: false,
            propagation: propagation(mount.mount_propagation.as_deref()),
            ..Default::default()
        });
    }
    let user_mounts_hosts = mounts.iter().any(|m| m.container_path == "/etc/hosts");
    if let Some(hosts) = inputs.etc_hosts
        && !user_mounts_hosts
    {
        mounts.push(api::Mount {
            container_path: "/etc/hosts".into(),
            host_path: hosts.display().to_string(),
            ..Default::default()
        });
    }
    let message_path = container
        .termination_message_path
        .clone()
        .unwrap_or_else(|| "/dev/termination-log".into());
    if let Some(log) = inputs.termination_log
        && !message_path.is_empty()
    {
        mounts.push(api::Mount {
            container_path: message_path,
            host_path: log.display().to_string(),
            ..Default::default()
        });
    }
    let _ = pod;
    Ok(mounts)
}

fn effective_security(pod: &Pod, container: &Container) -> SecurityContext {
    let mut sc = container.security_context.clone().unwrap_or_default();
    if let Some(pod_sc) = pod.spec.as_ref().and_then(|s| s.security_context.as_ref()) {
        sc.run_as_user = sc.run_as_user.or(pod_sc.run_as_user);
        sc.run_as_group = sc.run_as_group.or(pod_sc.run_as_group);
        sc.run_as_non_root = sc.run_as_non_root.or(pod_sc.run_as_non_root);
        if sc.seccomp_profile.is_none() {
            sc.seccomp_profile = pod_sc.seccomp_profile.clone();
        }
    }
    sc
}

fn pod_name(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Upstream's `verifyRunAsNonRoot`.
fn verify_non_root(
    pod: &Pod,
    container: &Container,
    sc: &SecurityContext,
    inputs: &ContainerInputs<'_>,
) -> Result<(), String> {
    if !sc.run_as_non_root.unwrap_or(false) {
        return Ok(());
    }
    let who = format!("(pod: {:?}, container: {})", pod_name(pod), container.name);
    match sc.run_as_user {
        Some(0) => Err(format!(
            "container's runAsUser breaks non-root policy {who}"
        )),
        Some(_) => Ok(()),
        None => match inputs.image_uid {
            Some(0) => Err(format!(
                "container has runAsNonRoot and image will run as root {who}"
            )),
            Some(_) => Ok(()),
            None if inputs.image_user.is_empty() => Err(format!(
                "container has runAsNonRoot and image will run as root {who}"
            )),
            None => Err(format!(
                "container has runAsNonRoot and image has non-numeric user ({}), cannot verify user is non-root {who}",
                inputs.image_user
            )),
        },
    }
}

/// The container's namespaces (upstream `containerNamespaces`): network
/// and IPC of the pod (or the node), its own PID namespace unless the pod
/// shares one or uses the node's; an ephemeral container with a target
/// joins the target's PID namespace.
fn namespaces(pod: &Pod, pid_target: Option<&str>) -> api::NamespaceOption {
    let spec = pod.spec.clone().unwrap_or_default();
    let mode = |on_host: Option<bool>, pod_wide: bool| {
        if on_host.unwrap_or(false) {
            api::NamespaceMode::Node
        } else if pod_wide {
            api::NamespaceMode::Pod
        } else {
            api::NamespaceMode::Container
        }
    };
    let mut pid = mode(spec.host_pid, spec.share_process_namespace.unwrap_or(false));
    let mut target_id = String::new();
    if let Some(target) = pid_target
        && pid == api::NamespaceMode::Container
    {
        pid = api::NamespaceMode::Target;
        target_id = target.to_string();
    }
    api::NamespaceOption {
        network: mode(spec.host_network, true) as i32,
        pid: pid as i32,
        ipc: mode(spec.host_ipc, true) as i32,
        target_id,
        ..Default::default()
    }
}

/// The Linux security context in CRI terms.
fn linux_security(
    pod: &Pod,
    sc: &SecurityContext,
    pid_target: Option<&str>,
) -> api::LinuxContainerSecurityContext {
    let privileged = sc.privileged.unwrap_or(false);
    let unmasked = sc.proc_mount.as_deref() == Some("Unmasked");
    let pod_sc = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.clone())
        .unwrap_or_default();
    let mut groups = pod_sc.supplemental_groups.clone().unwrap_or_default();
    if let Some(fs_group) = pod_sc.fs_group
        && !groups.contains(&fs_group)
    {
        groups.push(fs_group);
    }
    let capabilities = sc.capabilities.as_ref().map(|c| api::Capability {
        add_capabilities: c.add.clone().unwrap_or_default(),
        drop_capabilities: c.drop.clone().unwrap_or_default(),
        add_ambient_capabilities: Vec::new(),
    });
    api::LinuxContainerSecurityContext {
        capabilities,
        privileged,
        run_as_user: sc.run_as_user.map(|value| api::Int64Value { value }),
        run_as_group: sc.run_as_group.map(|value| api::Int64Value { value }),
        readonly_rootfs: sc.read_only_root_filesystem.unwrap_or(false),
        supplemental_groups: groups,
        no_new_privs: sc.allow_privilege_escalation == Some(false),
        masked_paths: if privileged || unmasked {
            Vec::new()
        } else {
            DEFAULT_MASKED_PATHS.iter().map(|s| s.to_string()).collect()
        },
        readonly_paths: if privileged || unmasked {
            Vec::new()
        } else {
            DEFAULT_READONLY_PATHS
                .iter()
                .map(|s| s.to_string())
                .collect()
        },
        seccomp: Some(seccomp(sc.seccomp_profile.as_ref())),
        namespace_options: Some(namespaces(pod, pid_target)),
        ..Default::default()
    }
}

/// The CRI config of `container`.
pub fn container_config(
    pod: &Pod,
    container: &Container,
    inputs: &ContainerInputs<'_>,
) -> Result<api::ContainerConfig, String> {
    let sc = effective_security(pod, container);
    verify_non_root(pod, container, &sc, inputs)?;
    let attempt = u32::try_from(inputs.restart_count).unwrap_or(0);
    Ok(api::ContainerConfig {
        metadata: Some(api::ContainerMetadata {
            name: container.name.clone(),
            attempt,
        }),
        image: Some(api::ImageSpec {
            image: inputs.image_ref.to_string(),
            user_specified_image: container.image.clone().unwrap_or_default(),
            ..Default::default()
        }),
        command: inputs.command.clone(),
        args: inputs.args.clone(),
        working_dir: container.working_dir.clone().unwrap_or_default(),
        envs: inputs
            .env
            .iter()
            .map(|(key, value)| api::KeyValue {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        mounts: mounts(pod, container, inputs)?,
        labels: labels::container_labels(pod, container),
        annotations: labels::container_annotations(
            pod,
            container,
            inputs.restart_count,
            inputs.init,
        ),
        log_path: format!("{}/{}.log", container.name, inputs.restart_count),
        stdin: container.stdin.unwrap_or(false),
        stdin_once: container.stdin_once.unwrap_or(false),
        tty: container.tty.unwrap_or(false),
        linux: Some(api::LinuxContainerConfig {
            resources: Some(inputs.resources.clone()),
            security_context: Some(linux_security(pod, &sc, inputs.pid_target)),
        }),
        ..Default::default()
    })
}

/// The kubelet-managed `/etc/hosts` (upstream `managedHostsFileContent`).
pub fn etc_hosts(pod: &Pod, pod_ips: &[String], hostname: &str, domain: Option<&str>) -> String {
    let mut out = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    for ip in pod_ips {
        match domain {
            Some(d) if !d.is_empty() => {
                out.push_str(&format!("{ip}\t{hostname}.{d}\t{hostname}\n"))
            }
            _ => out.push_str(&format!("{ip}\t{hostname}\n")),
        }
    }
    let aliases = pod
        .spec
        .as_ref()
        .and_then(|s| s.host_aliases.clone())
        .unwrap_or_default();
    if !aliases.is_empty() {
        out.push_str("\n# Entries added by HostAliases.\n");
        for alias in aliases {
            out.push_str(&format!(
                "{}\t{}\n",
                alias.ip,
                alias.hostnames.unwrap_or_default().join("\t")
            ));
        }
    }
    out
}

/// The pod's DNS domain for /etc/hosts (`<subdomain>.<ns>.svc.<cluster domain>`).
pub fn pod_domain(pod: &Pod, cluster_domain: &str) -> Option<String> {
    let subdomain = pod
        .spec
        .as_ref()?
        .subdomain
        .clone()
        .filter(|s| !s.is_empty())?;
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    Some(format!("{subdomain}.{ns}.svc.{cluster_domain}"))
}

/// Where a container's termination message file lives on the host.
pub fn termination_log_path(pod_dir: &Path, container: &str, restart_count: i32) -> PathBuf {
    pod_dir
        .join("containers")
        .join(container)
        .join(format!("termination-{restart_count}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{HostAlias, PodSecurityContext, PodSpec, VolumeMount};

    fn pod() -> Pod {
        Pod {
            metadata: kube::api::ObjectMeta {
                name: Some("p".into()),
                namespace: Some("ns".into()),
                uid: Some("u".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                host_aliases: Some(vec![HostAlias {
                    ip: "10.0.0.9".into(),
                    hostnames: Some(vec!["db".into(), "db.local".into()]),
                }]),
                security_context: Some(PodSecurityContext {
                    run_as_non_root: Some(true),
                    fs_group: Some(2000),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn inputs<'a>(
        volumes: &'a HashMap<String, VolumeInfo>,
        env: &'a [(String, String)],
    ) -> ContainerInputs<'a> {
        ContainerInputs {
            init: false,
            restart_count: 3,
            image_ref: "sha256:abc",
            env,
            command: vec!["sh".into()],
            args: vec![],
            volumes,
            etc_hosts: Some(Path::new("/pods/u/etc-hosts")),
            termination_log: Some(Path::new("/pods/u/containers/c/termination-3")),
            resources: api::LinuxContainerResources::default(),
            image_uid: Some(1000),
            image_user: "1000",
            pid_target: None,
        }
    }

    #[test]
    fn config_mounts_and_security() {
        let dir = tempfile::tempdir().unwrap();
        let volumes = HashMap::from([(
            "data".to_string(),
            VolumeInfo {
                host_path: dir.path().to_path_buf(),
                read_only: true,
            },
        )]);
        let env = vec![("A".to_string(), "1".to_string())];
        let container = Container {
            name: "c".into(),
            image: Some("busybox".into()),
            volume_mounts: Some(vec![VolumeMount {
                name: "data".into(),
                mount_path: "/data".into(),
                sub_path: Some("sub".into()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let config = container_config(&pod(), &container, &inputs(&volumes, &env)).unwrap();
        assert_eq!(config.log_path, "c/3.log");
        assert_eq!(config.metadata.as_ref().unwrap().attempt, 3);
        assert_eq!(config.annotations[labels::RESTART_COUNT], "3");
        let paths: Vec<&str> = config
            .mounts
            .iter()
            .map(|m| m.container_path.as_str())
            .collect();
        assert_eq!(paths, ["/data", "/etc/hosts", "/dev/termination-log"]);
        assert!(config.mounts[0].readonly);
        assert!(dir.path().join("sub").is_dir());
        let security = config.linux.unwrap().security_context.unwrap();
        assert_eq!(security.supplemental_groups, [2000]);
        assert_eq!(security.masked_paths.len(), DEFAULT_MASKED_PATHS.len());
        let ns = security.namespace_options.unwrap();
        assert_eq!(ns.pid, api::NamespaceMode::Container as i32);
        assert_eq!(ns.network, api::NamespaceMode::Pod as i32);
        let mut targeted = inputs(&volumes, &env);
        targeted.pid_target = Some("abc123");
        let config = container_config(&pod(), &container, &targeted).unwrap();
        let ns = config
            .linux
            .unwrap()
            .security_context
            .unwrap()
            .namespace_options
            .unwrap();
        assert_eq!(
            (ns.pid, ns.target_id.as_str()),
            (api::NamespaceMode::Target as i32, "abc123")
        );

        let mut root = inputs(&volumes, &env);
        root.image_uid = Some(0);
        let err = container_config(&pod(), &container, &root).unwrap_err();
        assert!(
            err.starts_with("container has runAsNonRoot and image will run as root"),
            "{err}"
        );
        let mut bad = container.clone();
        bad.volume_mounts.as_mut().unwrap()[0].name = "missing".into();
        assert!(container_config(&pod(), &bad, &inputs(&volumes, &env)).is_err());
        bad.volume_mounts.as_mut().unwrap()[0] = VolumeMount {
            name: "data".into(),
            mount_path: "/x".into(),
            sub_path: Some("../escape".into()),
            ..Default::default()
        };
        assert!(container_config(&pod(), &bad, &inputs(&volumes, &env)).is_err());
    }

    #[test]
    fn sub_path_expr() {
        let dir = tempfile::tempdir().unwrap();
        let volumes = HashMap::from([(
            "data".to_string(),
            VolumeInfo {
                host_path: dir.path().to_path_buf(),
                read_only: false,
            },
        )]);
        let mount = |expr: &str| Container {
            name: "c".into(),
            volume_mounts: Some(vec![VolumeMount {
                name: "data".into(),
                mount_path: "/m".into(),
                sub_path_expr: Some(expr.into()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let ok = env(&[("A", "x"), ("POD", "p1"), ("POD", "p2")]);
        let got = mounts(&pod(), &mount("$(A)/$(POD)"), &inputs(&volumes, &ok)).unwrap();
        assert_eq!(
            got[0].host_path,
            dir.path().join("x/p2").display().to_string()
        );
        assert!(dir.path().join("x/p2").is_dir());

        // An unknown or empty variable fails the container config.
        let empty = env(&[("A", "")]);
        let err = mounts(&pod(), &mount("$(B)/$(A)"), &inputs(&volumes, &empty)).unwrap_err();
        assert_eq!(err, "missing value for A, B");
        let abs = env(&[("A", "/tmp")]);
        let err = mounts(&pod(), &mount("$(A)"), &inputs(&volumes, &abs)).unwrap_err();
        assert_eq!(err, "error SubPath `/tmp` must not be an absolute path");
        let up = env(&[("A", "..")]);
        let err = mounts(&pod(), &mount("$(A)"), &inputs(&volumes, &up)).unwrap_err();
        assert_eq!(
            err,
            "unable to provision SubPath `..`: must not contain '..'"
        );
    }

    #[test]
    fn hosts_file() {
        let text = etc_hosts(
            &pod(),
            &["10.244.0.5".into()],
            "p",
            Some("sub.ns.svc.cluster.local"),
        );
        assert!(text.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert!(text.contains("10.244.0.5\tp.sub.ns.svc.cluster.local\tp\n"));
        assert!(text.ends_with("# Entries added by HostAliases.\n10.0.0.9\tdb\tdb.local\n"));
    }
}
