//! One pod sync (upstream `SyncPod` / `SyncTerminatingPod`): make the
//! runtime match the pod, then compute and hand over its status.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use corten_cri::api;
use k8s_openapi::api::core::v1::{Container, Pod, PodStatus};

use super::actions::{self, PodActions};
use super::api_status::{self, StatusInputs, kubelet_owned};
use super::container_config::{self, ContainerInputs};
use super::deadline::{self, Deadline};
use super::downward::RuntimeFacts;
use super::env;
use super::ephemeral;
use super::lifecycle;
use super::qos;
use super::runtime_pod::RuntimePod;
use super::sandbox_config::{self, SandboxInputs};
use crate::events::{NORMAL, WARNING};
use crate::kubelet::Kubelet;
use crate::metrics;

/// State a pod worker keeps between syncs.
#[derive(Debug, Default)]
pub struct WorkerState {
    /// Containers that failed to start in the last sync: name -> (reason, message).
    pub waiting: HashMap<String, (String, String)>,
    /// The pod has been terminated (containers stopped, final status set).
    pub terminated: bool,
    /// When the pod was first seen (for the startup latency metric).
    pub first_seen: Option<std::time::Instant>,
    /// Whether the Running phase was reached once.
    pub reported_running: bool,
}

/// Result of a sync: when to sync again at the latest.
#[derive(Debug, Default)]
pub struct SyncResult {
    /// Sync again after this long (None: the resync period).
    pub requeue_after: Option<Duration>,
}

impl SyncResult {
    fn sooner(&mut self, after: Duration) {
        self.requeue_after = Some(self.requeue_after.map_or(after, |d| d.min(after)));
    }
}

fn pod_key(pod: &Pod) -> String {
    format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or_default(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.uid.as_deref().unwrap_or_default()
    )
}

/// Whether the pod's spec asks for host networking.
pub fn host_network(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false)
}

impl Kubelet {
    /// Node IPs as strings.
    pub(crate) fn host_ips(&self) -> Vec<String> {
        self.node_ips.iter().map(|ip| ip.to_string()).collect()
    }

    fn facts(&self, runtime: &RuntimePod, pod: &Pod) -> RuntimeFacts {
        let host_ips = self.host_ips();
        let pod_ips = if host_network(pod) {
            host_ips.clone()
        } else {
            runtime
                .latest_sandbox()
                .map(|s| s.ips.clone())
                .unwrap_or_default()
        };
        RuntimeFacts {
            pod_ips,
            host_ips,
            node_allocatable: self.allocatable.clone(),
        }
    }

    async fn fetch(&self, pod: &Pod) -> corten_cri::Result<RuntimePod> {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let mut runtime = RuntimePod::fetch(&self.runtime, uid).await?;
        // Termination messages (upstream reads them when a container exits).
        let pod_dir = self.volumes.pod_dir(uid);
        for c in runtime.containers.iter_mut().filter(|c| c.is_exited()) {
            let file = container_config::termination_log_path(&pod_dir, &c.name, c.restart_count);
            if let Ok(text) = std::fs::read_to_string(&file) {
                let text: String = text.chars().take(4096).collect();
                if !text.is_empty() {
                    c.message = text;
                    continue;
                }
            }
            let fallback = pod
                .spec
                .iter()
                .flat_map(|s| {
                    s.containers
                        .iter()
                        .chain(s.init_containers.iter().flatten())
                })
                .find(|s| s.name == c.name)
                .and_then(|s| s.termination_message_policy.as_deref())
                == Some("FallbackToLogsOnError");
            if fallback && c.exit_code != 0 {
                c.message = crate::server::logs::tail_message(Path::new(&c.log_path), 80, 2048);
            }
        }
        Ok(runtime)
    }

    /// Generates the status and gives it to the status manager.
    fn report(
        &self,
        pod: &Pod,
        runtime: &RuntimePod,
        state: &mut WorkerState,
        terminal: bool,
    ) -> PodStatus {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let api_status = pod.status.clone();
        let mut old = self.status.get(uid).or_else(|| api_status.clone());
        // Conditions owned by others come from the API object.
        if let Some(old) = old.as_mut() {
            let mut conditions: Vec<_> = old
                .conditions
                .take()
                .unwrap_or_default()
                .into_iter()
                // The kubelet's own DisruptionTarget (eviction) may not be
                // in the API object yet.
                .filter(|c| kubelet_owned(&c.type_) || c.type_ == super::evict::DISRUPTION_TARGET)
                .collect();
            let own: Vec<String> = conditions.iter().map(|c| c.type_.clone()).collect();
            conditions.extend(
                api_status
                    .as_ref()
                    .and_then(|s| s.conditions.clone())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|c| !kubelet_owned(&c.type_) && !own.contains(&c.type_)),
            );
            old.conditions = Some(conditions);
        }
        let host_ips = self.host_ips();
        let status = api_status::generate(&StatusInputs {
            pod,
            runtime,
            waiting: &state.waiting,
            probes: &*self.probes,
            old: old.as_ref(),
            host_ips: &host_ips,
            terminal,
            now: crate::time::now(),
        });
        let mut status = status;
        self.resize_status(pod, runtime, &mut status);
        if status.phase.as_deref() == Some("Running")
            && !state.reported_running
            && let Some(seen) = state.first_seen
        {
            state.reported_running = true;
            metrics::observe_pod_start(seen.elapsed());
        }
        self.status.set(pod, status.clone());
        status
    }

    /// Syncs a pod that should run. Returns when to sync again.
    pub(crate) async fn sync_pod(&self, pod: &Pod, state: &mut WorkerState) -> SyncResult {
        let mut result = SyncResult::default();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        state.first_seen.get_or_insert_with(std::time::Instant::now);
        let mut runtime = match self.fetch(pod).await {
            Ok(r) => r,
            Err(err) => {
                tracing::warn!(pod = %pod_key(pod), error = %err, "reading the pod from the runtime");
                result.sooner(Duration::from_secs(2));
                return result;
            }
        };
        let current = self.status.get(&uid).or_else(|| pod.status.clone());
        let current_phase = current.as_ref().and_then(|s| s.phase.clone());
        let mut terminal_phase = current_phase
            .as_deref()
            .is_some_and(|p| p == "Succeeded" || p == "Failed");
        if !terminal_phase {
            match deadline::check(pod, current.as_ref()) {
                Deadline::Exceeded => {
                    self.recorder
                        .pod(pod, None, WARNING, deadline::REASON, deadline::MESSAGE);
                    self.status
                        .set(pod, deadline::fail(current.clone().unwrap_or_default()));
                    terminal_phase = true;
                }
                // Come back when it passes.
                Deadline::In(left) => result.sooner(left),
                Deadline::None => {}
            }
        }
        // A pod whose phase is already terminal never runs again.
        if terminal_phase {
            // An eviction chose the grace period.
            self.stop_pod(pod, &runtime, self.eviction_grace(&uid))
                .await;
            let runtime = self.fetch(pod).await.unwrap_or(runtime);
            self.report(pod, &runtime, state, false);
            return result;
        }

        let facts = self.facts(&runtime, pod);
        let volumes = match self.volumes.setup(pod, &facts).await {
            Ok(v) => v,
            Err(err) => {
                self.recorder
                    .pod(pod, None, WARNING, "FailedMount", err.to_string());
                state.waiting.clear();
                self.report(pod, &runtime, state, false);
                result.sooner(Duration::from_secs(5));
                return result;
            }
        };
        let pod_ip = facts.pod_ips.first().cloned().unwrap_or_default();
        self.probes.sync_pod(pod, &runtime, &pod_ip);
        // In-place resize: containers run (and start) with the allocated
        // resources, which follow the spec once the node can fit them.
        let allocated = self.allocate_resize(pod);
        if self.actuate_resize(&allocated, &runtime).await
            && let Ok(r) = self.fetch(pod).await
        {
            runtime = r;
        }
        if self.allocations.has_pending(&uid) {
            // Deferred: other pods may have shrunk or gone by then.
            result.sooner(Duration::from_secs(10));
        }
        let actions = actions::compute(&allocated, &runtime, &*self.probes);
        tracing::debug!(pod = %pod_key(pod), ?actions, "sync");
        self.execute(
            &allocated,
            &mut runtime,
            actions,
            volumes,
            state,
            &mut result,
        )
        .await;
        let runtime = self.fetch(pod).await.unwrap_or(runtime);
        let pod_ip = self
            .facts(&runtime, pod)
            .pod_ips
            .first()
            .cloned()
            .unwrap_or_default();
        self.probes.sync_pod(pod, &runtime, &pod_ip);
        self.gc_containers(pod, &runtime).await;
        let status = self.report(pod, &runtime, state, false);
        if matches!(status.phase.as_deref(), Some("Succeeded") | Some("Failed")) {
            // Done: stop the sandbox, keep the containers for their logs.
            self.stop_pod(pod, &runtime, None).await;
        }
        result
    }

    async fn execute(
        &self,
        pod: &Pod,
        runtime: &mut RuntimePod,
        actions: PodActions,
        mut volumes: HashMap<String, crate::volume::VolumeInfo>,
        state: &mut WorkerState,
        result: &mut SyncResult,
    ) {
        let spec = pod.spec.clone().unwrap_or_default();
        let inits = spec.init_containers.clone().unwrap_or_default();
        let pod_ip = self
            .facts(runtime, pod)
            .pod_ips
            .first()
            .cloned()
            .unwrap_or_default();
        for kill in &actions.kill {
            let container = if kill.init {
                inits.iter().find(|c| c.name == kill.name)
            } else {
                spec.containers.iter().find(|c| c.name == kill.name)
            };
            let grace = container.map_or(lifecycle::DEFAULT_GRACE_SECONDS, |c| {
                lifecycle::grace_period(pod, c, Some(kill.reason.clone()), None)
            });
            if let Err(err) = lifecycle::kill_container(
                &self.runtime,
                &self.recorder,
                pod,
                container,
                kill.init,
                &kill.id,
                &kill.name,
                grace,
                Some(&kill.message),
                &pod_ip,
                self.probes.network(),
            )
            .await
            {
                tracing::warn!(pod = %pod_key(pod), container = %kill.name, error = %err, "killing container");
            }
        }
        if actions.kill_pod {
            self.stop_pod(pod, runtime, None).await;
        }
        if !actions.create_sandbox
            && actions.init_to_start.is_empty()
            && actions.start.is_empty()
            && actions.ephemeral_to_start.is_empty()
        {
            state
                .waiting
                .retain(|name, _| runtime.latest(name).is_none_or(|c| !c.is_running()));
            return;
        }
        let sandbox_config = self.sandbox_config(pod, actions.attempt);
        if actions.create_sandbox {
            state.waiting.clear();
            if let Err(err) = std::fs::create_dir_all(&sandbox_config.log_directory) {
                tracing::warn!(error = %err, "creating the pod log directory");
            }
            if actions.attempt > 0 {
                self.recorder.pod(
                    pod,
                    None,
                    NORMAL,
                    "SandboxChanged",
                    "Pod sandbox changed, it will be killed and re-created.",
                );
            }
            match self
                .runtime
                .run_pod_sandbox(sandbox_config.clone(), "")
                .await
            {
                Ok(id) => tracing::info!(pod = %pod_key(pod), sandbox = %id, "sandbox started"),
                Err(err) => {
                    self.recorder.pod(
                        pod,
                        None,
                        WARNING,
                        "FailedCreatePodSandBox",
                        format!("Failed to create pod sandbox: {}", err.message()),
                    );
                    result.sooner(Duration::from_secs(5));
                    return;
                }
            }
            match self.fetch(pod).await {
                Ok(r) => *runtime = r,
                Err(err) => {
                    tracing::warn!(error = %err, "reading the new sandbox");
                    result.sooner(Duration::from_secs(1));
                    return;
                }
            }
            // The pod IP is known now: refresh downward API volumes.
            let facts = self.facts(runtime, pod);
            if let Ok(v) = self.volumes.setup(pod, &facts).await {
                volumes = v;
            }
        }
        let Some(sandbox) = runtime.latest_sandbox().filter(|s| s.ready).cloned() else {
            result.sooner(Duration::from_secs(1));
            return;
        };
        let etc_hosts = self.write_etc_hosts(pod, runtime);
        // Ephemeral containers first, so they can debug a start that hangs
        // (upstream's order).
        let ephemerals = ephemeral::of(pod);
        for &i in &actions.ephemeral_to_start {
            let Some(e) = ephemerals.get(i) else { continue };
            let target = e.target.as_deref().and_then(|t| runtime.latest(t));
            if let Some(name) = &e.target
                && target.is_none_or(|c| !c.is_running())
            {
                tracing::info!(pod = %pod_key(pod), container = %e.container.name, target = %name,
                    "target container not running: the ephemeral container gets its own process namespace");
            }
            let target_id = target.filter(|c| c.is_running()).map(|c| c.id.clone());
            self.start_container(
                pod,
                &e.container,
                false,
                target_id.as_deref(),
                runtime,
                &sandbox.id,
                &sandbox_config,
                &volumes,
                etc_hosts.as_deref(),
                state,
                result,
            )
            .await;
        }
        for &i in &actions.init_to_start {
            if let Some(c) = inits.get(i) {
                self.start_container(
                    pod,
                    c,
                    true,
                    None,
                    runtime,
                    &sandbox.id,
                    &sandbox_config,
                    &volumes,
                    etc_hosts.as_deref(),
                    state,
                    result,
                )
                .await;
            }
        }
        for &i in &actions.start {
            if let Some(c) = spec.containers.get(i) {
                self.start_container(
                    pod,
                    c,
                    false,
                    None,
                    runtime,
                    &sandbox.id,
                    &sandbox_config,
                    &volumes,
                    etc_hosts.as_deref(),
                    state,
                    result,
                )
                .await;
            }
        }
    }

    fn sandbox_config(&self, pod: &Pod, attempt: u32) -> api::PodSandboxConfig {
        let c = self.config.c();
        let cluster = super::dns::ClusterDns {
            servers: c.cluster_dns.clone().unwrap_or_default(),
            domain: c
                .cluster_domain
                .clone()
                .unwrap_or_else(|| "cluster.local".into()),
        };
        let (dns, warning) = super::dns::pod_dns(pod, &self.host_dns, &cluster);
        if let Some(message) = warning {
            self.recorder
                .pod(pod, None, WARNING, "MissingClusterDNS", message);
        }
        let logs_dir = self.config.pod_logs_dir();
        sandbox_config::sandbox_config(&SandboxInputs {
            pod,
            attempt,
            logs_dir: &logs_dir,
            dns,
            cgroup_parent: qos::cgroup_parent(
                pod,
                c.cgroup_root.as_deref().unwrap_or("/"),
                c.cgroups_per_qos.unwrap_or(true),
            ),
            cluster_domain: &cluster.domain,
        })
    }

    fn write_etc_hosts(&self, pod: &Pod, runtime: &RuntimePod) -> Option<std::path::PathBuf> {
        if host_network(pod) {
            return None;
        }
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let path = self.volumes.pod_dir(uid).join("etc-hosts");
        let domain_name = self.config.c().cluster_domain.clone().unwrap_or_default();
        let hostname = sandbox_config::pod_hostname(pod, &domain_name);
        let domain = container_config::pod_domain(pod, &domain_name);
        let ips = runtime
            .latest_sandbox()
            .map(|s| s.ips.clone())
            .unwrap_or_default();
        let content = container_config::etc_hosts(pod, &ips, &hostname, domain.as_deref());
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        match std::fs::write(&path, content) {
            Ok(()) => Some(path),
            Err(err) => {
                tracing::warn!(error = %err, "writing etc-hosts");
                None
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn start_container(
        &self,
        pod: &Pod,
        container: &Container,
        init: bool,
        pid_target: Option<&str>,
        runtime: &RuntimePod,
        sandbox_id: &str,
        sandbox_config: &api::PodSandboxConfig,
        volumes: &HashMap<String, crate::volume::VolumeInfo>,
        etc_hosts: Option<&Path>,
        state: &mut WorkerState,
        result: &mut SyncResult,
    ) {
        let name = container.name.clone();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let latest = runtime.latest(&name);
        let fail = |state: &mut WorkerState, reason: &str, message: String| {
            state
                .waiting
                .insert(name.clone(), (reason.to_string(), message));
        };
        // Crash loop backoff (upstream doBackOff).
        if let Some(exited) = latest.filter(|c| c.is_exited()) {
            let key = format!("{uid}_{name}");
            let now = corten_cri::now_nanos();
            if let Some(left) = self
                .crash_backoff
                .in_backoff_since(&key, exited.finished_at, now)
            {
                let backoff = self.crash_backoff.get(&key);
                self.recorder.pod(
                    pod,
                    Some((&name, init)),
                    WARNING,
                    "BackOff",
                    format!(
                        "Back-off restarting failed container {name} in pod {}",
                        pod_key(pod)
                    ),
                );
                fail(
                    state,
                    "CrashLoopBackOff",
                    format!(
                        "back-off {} restarting failed container={name} pod={}",
                        crate::duration::format_go_duration(backoff),
                        pod_key(pod)
                    ),
                );
                result.sooner(left + Duration::from_millis(100));
                return;
            }
            self.crash_backoff.next(&key, exited.finished_at);
        }
        let image = match self.images.ensure(pod, container, init).await {
            Ok(image) => image,
            Err(err) => {
                fail(state, err.reason(), err.to_string());
                if let Some(after) = err.retry_after() {
                    result.sooner(after);
                }
                return;
            }
        };
        let restart_count = latest.map_or(0, |c| c.restart_count + 1);
        let facts = self.facts(runtime, pod);
        let env = match env::environment(pod, container, &facts, &*self.objects).await {
            Ok(env) => env,
            Err(err) => {
                self.recorder.pod(
                    pod,
                    Some((&name, init)),
                    WARNING,
                    "Failed",
                    format!("Error: {err}"),
                );
                fail(state, "CreateContainerConfigError", err);
                result.sooner(Duration::from_secs(5));
                return;
            }
        };
        let (command, args) = env::expand_command(container, &env);
        let termination_log = container_config::termination_log_path(
            &self.volumes.pod_dir(&uid),
            &name,
            restart_count,
        );
        if let Some(parent) = termination_log.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(&termination_log, b"");
        // Writable whatever user the container runs as (upstream chmods it
        // to 0666 too, independent of the umask).
        {
            use std::os::unix::fs::PermissionsExt;
            let _ =
                std::fs::set_permissions(&termination_log, std::fs::Permissions::from_mode(0o666));
        }
        let inputs = ContainerInputs {
            init,
            restart_count,
            image_ref: if image.id.is_empty() {
                container.image.as_deref().unwrap_or_default()
            } else {
                &image.id
            },
            env: &env,
            command,
            args,
            volumes,
            etc_hosts,
            termination_log: Some(&termination_log),
            resources: qos::linux_resources(
                pod,
                container,
                i64::try_from(self.machine.memory_bytes).unwrap_or(i64::MAX),
            ),
            image_uid: image.uid.as_ref().map(|u| u.value),
            image_user: &image.username,
            pid_target,
        };
        let config = match container_config::container_config(pod, container, &inputs) {
            Ok(c) => c,
            Err(err) => {
                self.recorder.pod(
                    pod,
                    Some((&name, init)),
                    WARNING,
                    "Failed",
                    format!("Error: {err}"),
                );
                fail(state, "CreateContainerConfigError", err);
                result.sooner(Duration::from_secs(5));
                return;
            }
        };
        let kind = if init { "init_container" } else { "container" };
        let id = match self
            .runtime
            .create_container(sandbox_id, config, sandbox_config.clone())
            .await
        {
            Ok(id) => id,
            Err(err) => {
                let message = err.message().to_string();
                self.recorder.pod(
                    pod,
                    Some((&name, init)),
                    WARNING,
                    "Failed",
                    format!("Error: {message}"),
                );
                metrics::started_container_error(kind, "CreateContainerError");
                fail(state, "CreateContainerError", message);
                result.sooner(Duration::from_secs(5));
                return;
            }
        };
        self.recorder.pod(
            pod,
            Some((&name, init)),
            NORMAL,
            "Created",
            format!("Created container: {name}"),
        );
        if let Err(err) = self.runtime.start_container(&id).await {
            let message = err.message().to_string();
            self.recorder.pod(
                pod,
                Some((&name, init)),
                WARNING,
                "Failed",
                format!("Error: {message}"),
            );
            metrics::started_container_error(kind, "RunContainerError");
            fail(state, "RunContainerError", message);
            result.sooner(Duration::from_secs(5));
            return;
        }
        metrics::started_container(kind);
        self.recorder.pod(
            pod,
            Some((&name, init)),
            NORMAL,
            "Started",
            format!("Started container {name}"),
        );
        state.waiting.remove(&name);
        if let Some(handler) = container
            .lifecycle
            .as_ref()
            .and_then(|l| l.post_start.as_ref())
        {
            let pod_ip = facts.pod_ips.first().cloned().unwrap_or_default();
            let grace = lifecycle::grace_period(pod, container, None, None);
            let timeout = Duration::from_secs(u64::try_from(grace.max(1)).unwrap_or(30));
            if let Err(err) = lifecycle::run_handler(
                &self.runtime,
                pod,
                container,
                &id,
                handler,
                &pod_ip,
                timeout,
                self.probes.network(),
            )
            .await
            {
                self.recorder.pod(
                    pod,
                    Some((&name, init)),
                    WARNING,
                    "FailedPostStartHook",
                    err.clone(),
                );
                let _ = lifecycle::kill_container(
                    &self.runtime,
                    &self.recorder,
                    pod,
                    Some(container),
                    init,
                    &id,
                    &name,
                    grace,
                    Some(&format!("FailedPostStartHook: {err}")),
                    &pod_ip,
                    self.probes.network(),
                )
                .await;
                fail(state, "PostStartHookError", err);
            }
        }
    }

    /// Stops every running container (preStop and grace) and the sandboxes.
    pub(crate) async fn stop_pod(
        &self,
        pod: &Pod,
        runtime: &RuntimePod,
        grace_override: Option<i64>,
    ) {
        let spec = pod.spec.clone().unwrap_or_default();
        let pod_ip = self
            .facts(runtime, pod)
            .pod_ips
            .first()
            .cloned()
            .unwrap_or_default();
        let kills = runtime.running().map(|c| {
            let init = c.init;
            let container = if init {
                spec.init_containers.iter().flatten().find(|s| s.name == c.name)
            } else {
                spec.containers.iter().find(|s| s.name == c.name)
            };
            let grace = container.map_or(grace_override.unwrap_or(lifecycle::DEFAULT_GRACE_SECONDS), |s| {
                lifecycle::grace_period(pod, s, None, grace_override)
            });
            let pod_ip = pod_ip.clone();
            async move {
                if let Err(err) = lifecycle::kill_container(
                    &self.runtime,
                    &self.recorder,
                    pod,
                    container,
                    init,
                    &c.id,
                    &c.name,
                    grace,
                    None,
                    &pod_ip,
                    self.probes.network(),
                )
                .await
                {
                    tracing::warn!(pod = %pod_key(pod), container = %c.name, error = %err, "stopping container");
                }
            }
        });
        futures::future::join_all(kills).await;
        for sandbox in runtime.sandboxes.iter().filter(|s| s.ready) {
            if let Err(err) = self.runtime.stop_pod_sandbox(&sandbox.id).await {
                tracing::warn!(pod = %pod_key(pod), sandbox = %sandbox.id, error = %err, "stopping sandbox");
            }
        }
    }

    /// Removes every container and sandbox of the pod from the runtime.
    pub(crate) async fn remove_pod_from_runtime(&self, uid: &str) {
        let Ok(runtime) = RuntimePod::fetch(&self.runtime, uid).await else {
            return;
        };
        for c in &runtime.containers {
            crate::logs::clean_path(&c.log_path).await;
            if let Err(err) = self.runtime.remove_container(&c.id).await {
                tracing::debug!(container = %c.id, error = %err, "removing container");
            }
        }
        for s in &runtime.sandboxes {
            let _ = self.runtime.stop_pod_sandbox(&s.id).await;
            if let Err(err) = self.runtime.remove_pod_sandbox(&s.id).await {
                tracing::debug!(sandbox = %s.id, error = %err, "removing sandbox");
            }
        }
    }

    /// Removes exited containers beyond the two newest per name (upstream
    /// keeps the last dead container for `--previous` logs).
    async fn gc_containers(&self, pod: &Pod, runtime: &RuntimePod) {
        let spec = pod.spec.clone().unwrap_or_default();
        let names = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .map(|c| c.name.clone());
        for name in names {
            for old in runtime.named(&name).skip(2).filter(|c| c.is_exited()) {
                crate::logs::clean_path(&old.log_path).await;
                if let Err(err) = self.runtime.remove_container(&old.id).await {
                    tracing::debug!(container = %old.id, error = %err, "removing old container");
                }
            }
        }
    }

    /// Terminates a pod that is being deleted (or is gone from the API):
    /// stop everything with the grace period, report the final status, clean up.
    pub(crate) async fn terminate_pod(&self, pod: &Pod, removed: bool, state: &mut WorkerState) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        if !state.terminated {
            let runtime = self.fetch(pod).await.unwrap_or_default();
            self.stop_pod(pod, &runtime, None).await;
            self.probes.remove_pod(&uid);
            let runtime = self.fetch(pod).await.unwrap_or(runtime);
            if !removed {
                self.report(pod, &runtime, state, true);
            }
            state.terminated = true;
        }
        self.remove_pod_from_runtime(&uid).await;
        if let Err(err) = self.volumes.teardown(&uid) {
            tracing::warn!(pod = %pod_key(pod), error = %err, "cleaning up volumes");
        }
        self.images.forget_pod(&uid);
        self.evictions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&uid);
        self.crash_backoff.forget_prefix(&format!("{uid}_"));
        self.allocations.forget(&uid);
        if removed {
            self.status.forget(&uid);
        } else {
            self.status.delete_when_written(pod);
        }
    }
}
