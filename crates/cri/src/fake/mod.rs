//! A runtime that only simulates containers, in process.
//!
//! Used by the kubelet's unit tests and by simulated nodes (many kubelets in
//! one process for scale tests). It keeps sandboxes, containers and images in
//! memory and follows the CRI state machine (created -> running -> exited),
//! allocates pod IPs from 10.88.0.0/16 (or from the IPv4 pod CIDR given
//! with `UpdateRuntimeConfig`, as a CNI plugin would) and writes one CRI-format log line per
//! container start, so the kubelet's log endpoint works against it too.
//!
//! Tests steer it: [`FakeRuntime::exit_container`] makes a running container
//! exit, [`FakeRuntime::exit_on_start`] makes every container with a name exit
//! right after starting, [`FakeRuntime::deny_pull`] makes pulls of an image
//! fail, [`FakeRuntime::inject_error`] fails the next call of an operation,
//! [`FakeRuntime::set_exec_handler`] answers `ExecSync` (exec probes), and
//! [`FakeRuntime::calls`] lists the operations seen. A container with the
//! environment variable `FAKE_EXIT_CODE=<n>` exits with `n` as soon as it
//! starts, which lets simulated workloads complete or crash without a test hook.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::api;
use crate::image_ref::normalize_image_ref;
use crate::service::{ImageService, Result, RuntimeService};

/// Answers an `ExecSync` call: (container name, command) -> response.
pub type ExecHandler = Arc<dyn Fn(&str, &[String]) -> api::ExecSyncResponse + Send + Sync>;

#[derive(Clone, Debug)]
struct Sandbox {
    config: api::PodSandboxConfig,
    state: api::PodSandboxState,
    created_at: i64,
    ip: String,
}

#[derive(Clone, Debug)]
struct Container {
    sandbox_id: String,
    config: api::ContainerConfig,
    log_path: String,
    image_ref: String,
    state: api::ContainerState,
    created_at: i64,
    started_at: i64,
    finished_at: i64,
    exit_code: i32,
    reason: String,
}

#[derive(Default)]
struct State {
    next_id: u64,
    next_ip: u32,
    /// Pod CIDR from `UpdateRuntimeConfig`: (network address, host count).
    pod_cidr: Option<(u32, u32)>,
    sandboxes: BTreeMap<String, Sandbox>,
    containers: BTreeMap<String, Container>,
    images: BTreeMap<String, api::Image>,
    denied_pulls: BTreeSet<String>,
    exit_on_start: HashMap<String, i32>,
    injected: HashMap<String, VecDeque<tonic::Status>>,
    calls: Vec<String>,
    exec_handler: Option<ExecHandler>,
    network_not_ready: bool,
}

/// The in-process fake runtime. Cheap to clone; clones share state.
#[derive(Clone, Default)]
pub struct FakeRuntime {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for FakeRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("FakeRuntime")
            .field("sandboxes", &state.sandboxes.len())
            .field("containers", &state.containers.len())
            .field("images", &state.images.len())
            .finish()
    }
}

/// `a.b.c.d/len` -> (network address, usable pod addresses: all but the
/// network, gateway and broadcast addresses). None for IPv6, malformed
/// CIDRs and ones too small to hold a pod.
fn parse_ipv4_cidr(cidr: &str) -> Option<(u32, u32)> {
    let (ip, len) = cidr.split_once('/')?;
    let ip: std::net::Ipv4Addr = ip.parse().ok()?;
    let len: u32 = len.parse().ok()?;
    if len > 30 {
        return None;
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    let size = 1u64 << (32 - len);
    Some((u32::from(ip) & mask, u32::try_from(size - 3).ok()?))
}

fn image_id(reference: &str) -> String {
    let digest = Sha256::digest(reference.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn make_image(reference: &str) -> api::Image {
    let id = image_id(reference);
    let repo = reference
        .rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .map_or(reference, |(repo, _)| repo);
    api::Image {
        id: id.clone(),
        repo_tags: vec![reference.to_string()],
        repo_digests: vec![format!("{repo}@{id}")],
        size: 1024 * 1024,
        ..Default::default()
    }
}

impl FakeRuntime {
    /// An empty runtime: no sandboxes, containers or images.
    pub fn new() -> Self {
        Self::default()
    }

    /// A runtime with these images present.
    pub fn with_images(images: &[&str]) -> Self {
        let runtime = Self::new();
        for image in images {
            runtime.add_image(image);
        }
        runtime
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not wedge every other user.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `image` present (as if pulled).
    pub fn add_image(&self, image: &str) {
        let reference = normalize_image_ref(image);
        self.lock()
            .images
            .insert(reference.clone(), make_image(&reference));
    }

    /// Makes pulls of `image` fail with "not found".
    pub fn deny_pull(&self, image: &str) {
        self.lock().denied_pulls.insert(normalize_image_ref(image));
    }

    /// Every container named `name` exits with `exit_code` right after it starts.
    pub fn exit_on_start(&self, name: &str, exit_code: i32) {
        self.lock()
            .exit_on_start
            .insert(name.to_string(), exit_code);
    }

    /// The next call of `operation` (upstream metric name, e.g. `"create_container"`)
    /// fails with `status`.
    pub fn inject_error(&self, operation: &str, status: tonic::Status) {
        self.lock()
            .injected
            .entry(operation.to_string())
            .or_default()
            .push_back(status);
    }

    /// Answers `ExecSync` with `handler` (default: exit code 0, no output).
    pub fn set_exec_handler(
        &self,
        handler: impl Fn(&str, &[String]) -> api::ExecSyncResponse + Send + Sync + 'static,
    ) {
        self.lock().exec_handler = Some(Arc::new(handler));
    }

    /// Reports `NetworkReady=false` in `Status` when `ready` is false.
    pub fn set_network_ready(&self, ready: bool) {
        self.lock().network_not_ready = !ready;
    }

    /// Makes a running container exit with `exit_code` (reason `Completed` for
    /// 0, `Error` otherwise, `OOMKilled` for 137 when `oom` is set).
    pub fn exit_container(&self, container_id: &str, exit_code: i32, oom: bool) -> bool {
        let mut state = self.lock();
        match state.containers.get_mut(container_id) {
            Some(c) if c.state == api::ContainerState::ContainerRunning => {
                finish(c, exit_code, oom);
                true
            }
            _ => false,
        }
    }

    /// Operation names seen so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// Ids of containers named `name` (any state), oldest first.
    pub fn containers_named(&self, name: &str) -> Vec<String> {
        let state = self.lock();
        let mut found: Vec<(&i64, &String)> = state
            .containers
            .iter()
            .filter(|(_, c)| c.config.metadata.as_ref().is_some_and(|m| m.name == name))
            .map(|(id, c)| (&c.created_at, id))
            .collect();
        found.sort();
        found.into_iter().map(|(_, id)| id.clone()).collect()
    }

    /// Number of sandboxes in the ready state.
    pub fn ready_sandboxes(&self) -> usize {
        self.lock()
            .sandboxes
            .values()
            .filter(|s| s.state == api::PodSandboxState::SandboxReady)
            .count()
    }

    fn begin(&self, operation: &str) -> Result<MutexGuard<'_, State>> {
        let mut state = self.lock();
        state.calls.push(operation.to_string());
        if let Some(err) = state
            .injected
            .get_mut(operation)
            .and_then(VecDeque::pop_front)
        {
            return Err(err);
        }
        Ok(state)
    }
}

fn finish(container: &mut Container, exit_code: i32, oom: bool) {
    container.state = api::ContainerState::ContainerExited;
    container.finished_at = crate::now_nanos();
    container.exit_code = exit_code;
    container.reason = if oom {
        "OOMKilled".into()
    } else if exit_code == 0 {
        "Completed".into()
    } else {
        "Error".into()
    };
}

fn not_found(what: &str, id: &str) -> tonic::Status {
    tonic::Status::not_found(format!("{what} \"{id}\" not found"))
}

fn labels_match(selector: &HashMap<String, String>, labels: &HashMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn append_log(path: &str, line: &str) {
    if path.is_empty() {
        return;
    }
    let path = Path::new(path);
    if let Some(parent) = path.parent()
        && std::fs::create_dir_all(parent).is_err()
    {
        return;
    }
    let stamp = {
        let nanos = crate::now_nanos();
        let secs = nanos / 1_000_000_000;
        let frac = nanos % 1_000_000_000;
        format!("{}.{frac:09}Z", rfc3339_seconds(secs))
    };
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        // Best effort: the fake's log is a convenience.
        let _ = writeln!(file, "{stamp} stdout F {line}");
    }
}

/// `YYYY-MM-DDTHH:MM:SS` for seconds since the epoch (UTC).
fn rfc3339_seconds(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

impl Container {
    fn status(&self, id: &str) -> api::ContainerStatus {
        api::ContainerStatus {
            id: id.to_string(),
            metadata: self.config.metadata.clone(),
            state: self.state as i32,
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            exit_code: self.exit_code,
            image: self.config.image.clone(),
            image_ref: self.image_ref.clone(),
            image_id: self.image_ref.clone(),
            reason: self.reason.clone(),
            labels: self.config.labels.clone(),
            annotations: self.config.annotations.clone(),
            mounts: self.config.mounts.clone(),
            log_path: self.log_path.clone(),
            resources: self
                .config
                .linux
                .as_ref()
                .and_then(|l| l.resources.clone())
                .map(|linux| api::ContainerResources {
                    linux: Some(linux),
                    ..Default::default()
                }),
            ..Default::default()
        }
    }
}

#[async_trait]
impl RuntimeService for FakeRuntime {
    async fn version(&self) -> Result<api::VersionResponse> {
        drop(self.begin("version")?);
        Ok(api::VersionResponse {
            version: "0.1.0".into(),
            runtime_name: "fake".into(),
            runtime_version: "0.1.0".into(),
            runtime_api_version: crate::CRI_API_VERSION.into(),
        })
    }

    async fn status(&self) -> Result<api::RuntimeStatus> {
        let state = self.begin("status")?;
        let network_ready = !state.network_not_ready;
        Ok(api::RuntimeStatus {
            conditions: vec![
                api::RuntimeCondition {
                    r#type: "RuntimeReady".into(),
                    status: true,
                    ..Default::default()
                },
                api::RuntimeCondition {
                    r#type: "NetworkReady".into(),
                    status: network_ready,
                    reason: if network_ready {
                        String::new()
                    } else {
                        "NetworkPluginNotReady".into()
                    },
                    message: if network_ready {
                        String::new()
                    } else {
                        "Network plugin returns error: cni plugin not initialized".into()
                    },
                },
            ],
        })
    }

    async fn run_pod_sandbox(
        &self,
        config: api::PodSandboxConfig,
        _runtime_handler: &str,
    ) -> Result<String> {
        let mut state = self.begin("run_podsandbox")?;
        state.next_id += 1;
        let id = format!("{:064x}", state.next_id);
        let host_network = config
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .and_then(|s| s.namespace_options.as_ref())
            .is_some_and(|n| n.network == api::NamespaceMode::Node as i32);
        let ip = if host_network {
            String::new()
        } else {
            state.next_ip += 1;
            let n = state.next_ip;
            match state.pod_cidr {
                // Skip the network address and the gateway (.1), like the
                // bridge plugin; wrap around in a small CIDR.
                Some((network, hosts)) => {
                    std::net::Ipv4Addr::from(network + 2 + (n - 1) % hosts).to_string()
                }
                None => format!("10.88.{}.{}", (n / 254) % 256, n % 254 + 1),
            }
        };
        state.sandboxes.insert(
            id.clone(),
            Sandbox {
                config,
                state: api::PodSandboxState::SandboxReady,
                created_at: crate::now_nanos(),
                ip,
            },
        );
        Ok(id)
    }

    async fn stop_pod_sandbox(&self, sandbox_id: &str) -> Result<()> {
        let mut state = self.begin("stop_podsandbox")?;
        let state = &mut *state;
        if let Some(sandbox) = state.sandboxes.get_mut(sandbox_id) {
            sandbox.state = api::PodSandboxState::SandboxNotready;
        }
        for container in state.containers.values_mut() {
            if container.sandbox_id == sandbox_id
                && container.state == api::ContainerState::ContainerRunning
            {
                finish(container, 137, false);
            }
        }
        Ok(())
    }

    async fn remove_pod_sandbox(&self, sandbox_id: &str) -> Result<()> {
        let mut state = self.begin("remove_podsandbox")?;
        state.sandboxes.remove(sandbox_id);
        state.containers.retain(|_, c| c.sandbox_id != sandbox_id);
        Ok(())
    }

    async fn pod_sandbox_status(&self, sandbox_id: &str) -> Result<api::PodSandboxStatus> {
        let state = self.begin("podsandbox_status")?;
        let sandbox = state
            .sandboxes
            .get(sandbox_id)
            .ok_or_else(|| not_found("sandbox", sandbox_id))?;
        Ok(api::PodSandboxStatus {
            id: sandbox_id.to_string(),
            metadata: sandbox.config.metadata.clone(),
            state: sandbox.state as i32,
            created_at: sandbox.created_at,
            network: Some(api::PodSandboxNetworkStatus {
                ip: sandbox.ip.clone(),
                additional_ips: Vec::new(),
            }),
            linux: sandbox
                .config
                .linux
                .as_ref()
                .map(|l| api::LinuxPodSandboxStatus {
                    namespaces: Some(api::Namespace {
                        options: l
                            .security_context
                            .as_ref()
                            .and_then(|s| s.namespace_options.clone()),
                    }),
                }),
            labels: sandbox.config.labels.clone(),
            annotations: sandbox.config.annotations.clone(),
            runtime_handler: String::new(),
        })
    }

    async fn list_pod_sandbox(
        &self,
        filter: Option<api::PodSandboxFilter>,
    ) -> Result<Vec<api::PodSandbox>> {
        let state = self.begin("list_podsandbox")?;
        let filter = filter.unwrap_or_default();
        Ok(state
            .sandboxes
            .iter()
            .filter(|(id, s)| {
                (filter.id.is_empty() || filter.id == **id)
                    && filter
                        .state
                        .as_ref()
                        .is_none_or(|f| f.state == s.state as i32)
                    && labels_match(&filter.label_selector, &s.config.labels)
            })
            .map(|(id, s)| api::PodSandbox {
                id: id.clone(),
                metadata: s.config.metadata.clone(),
                state: s.state as i32,
                created_at: s.created_at,
                labels: s.config.labels.clone(),
                annotations: s.config.annotations.clone(),
                runtime_handler: String::new(),
            })
            .collect())
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: api::ContainerConfig,
        _sandbox_config: api::PodSandboxConfig,
    ) -> Result<String> {
        let mut state = self.begin("create_container")?;
        let sandbox = state
            .sandboxes
            .get(sandbox_id)
            .ok_or_else(|| not_found("sandbox", sandbox_id))?;
        if sandbox.state != api::PodSandboxState::SandboxReady {
            return Err(tonic::Status::failed_precondition(format!(
                "sandbox {sandbox_id} is not ready"
            )));
        }
        let log_path = if config.log_path.is_empty() || sandbox.config.log_directory.is_empty() {
            String::new()
        } else {
            Path::new(&sandbox.config.log_directory)
                .join(&config.log_path)
                .display()
                .to_string()
        };
        let image = config
            .image
            .as_ref()
            .map(|i| normalize_image_ref(&i.image))
            .unwrap_or_default();
        let image_ref = state
            .images
            .get(&image)
            .map(|i| i.id.clone())
            .or_else(|| {
                // Already an image id.
                state
                    .images
                    .values()
                    .find(|i| config.image.as_ref().is_some_and(|s| s.image == i.id))
                    .map(|i| i.id.clone())
            })
            .ok_or_else(|| {
                tonic::Status::not_found(format!("failed to get image {image:?}: image not found"))
            })?;
        state.next_id += 1;
        let id = format!("{:064x}", state.next_id);
        state.containers.insert(
            id.clone(),
            Container {
                sandbox_id: sandbox_id.to_string(),
                config,
                log_path,
                image_ref,
                state: api::ContainerState::ContainerCreated,
                created_at: crate::now_nanos(),
                started_at: 0,
                finished_at: 0,
                exit_code: 0,
                reason: String::new(),
            },
        );
        Ok(id)
    }

    async fn start_container(&self, container_id: &str) -> Result<()> {
        let mut state = self.begin("start_container")?;
        let state = &mut *state;
        let container = state
            .containers
            .get_mut(container_id)
            .ok_or_else(|| not_found("container", container_id))?;
        if container.state != api::ContainerState::ContainerCreated {
            return Err(tonic::Status::failed_precondition(format!(
                "container {container_id} is not in created state"
            )));
        }
        container.state = api::ContainerState::ContainerRunning;
        container.started_at = crate::now_nanos();
        let name = container
            .config
            .metadata
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_default();
        append_log(
            &container.log_path,
            &format!("fake container {name} started"),
        );
        let env_exit = container
            .config
            .envs
            .iter()
            .find(|kv| kv.key == "FAKE_EXIT_CODE")
            .and_then(|kv| kv.value.parse::<i32>().ok());
        if let Some(code) = state.exit_on_start.get(&name).copied().or(env_exit) {
            finish(container, code, false);
        }
        Ok(())
    }

    async fn stop_container(&self, container_id: &str, _timeout_seconds: i64) -> Result<()> {
        let mut state = self.begin("stop_container")?;
        let container = state
            .containers
            .get_mut(container_id)
            .ok_or_else(|| not_found("container", container_id))?;
        if container.state == api::ContainerState::ContainerRunning {
            finish(container, 137, false);
        }
        Ok(())
    }

    async fn remove_container(&self, container_id: &str) -> Result<()> {
        let mut state = self.begin("remove_container")?;
        state.containers.remove(container_id);
        Ok(())
    }

    async fn list_containers(
        &self,
        filter: Option<api::ContainerFilter>,
    ) -> Result<Vec<api::Container>> {
        let state = self.begin("list_containers")?;
        let filter = filter.unwrap_or_default();
        Ok(state
            .containers
            .iter()
            .filter(|(id, c)| {
                (filter.id.is_empty() || filter.id == **id)
                    && (filter.pod_sandbox_id.is_empty() || filter.pod_sandbox_id == c.sandbox_id)
                    && filter
                        .state
                        .as_ref()
                        .is_none_or(|f| f.state == c.state as i32)
                    && labels_match(&filter.label_selector, &c.config.labels)
            })
            .map(|(id, c)| api::Container {
                id: id.clone(),
                pod_sandbox_id: c.sandbox_id.clone(),
                metadata: c.config.metadata.clone(),
                image: c.config.image.clone(),
                image_ref: c.image_ref.clone(),
                image_id: c.image_ref.clone(),
                state: c.state as i32,
                created_at: c.created_at,
                labels: c.config.labels.clone(),
                annotations: c.config.annotations.clone(),
            })
            .collect())
    }

    async fn container_status(&self, container_id: &str) -> Result<api::ContainerStatus> {
        let state = self.begin("container_status")?;
        state
            .containers
            .get(container_id)
            .map(|c| c.status(container_id))
            .ok_or_else(|| not_found("container", container_id))
    }

    async fn update_container_resources(
        &self,
        container_id: &str,
        linux: api::LinuxContainerResources,
    ) -> Result<()> {
        let mut state = self.begin("update_container_resources")?;
        let container = state
            .containers
            .get_mut(container_id)
            .ok_or_else(|| not_found("container", container_id))?;
        container
            .config
            .linux
            .get_or_insert_with(Default::default)
            .resources = Some(linux);
        Ok(())
    }

    async fn exec_sync(
        &self,
        container_id: &str,
        cmd: Vec<String>,
        _timeout: Duration,
    ) -> Result<api::ExecSyncResponse> {
        let state = self.begin("exec_sync")?;
        let container = state
            .containers
            .get(container_id)
            .ok_or_else(|| not_found("container", container_id))?;
        if container.state != api::ContainerState::ContainerRunning {
            return Err(tonic::Status::failed_precondition(format!(
                "container {container_id} is not running"
            )));
        }
        let name = container
            .config
            .metadata
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_default();
        let handler = state.exec_handler.clone();
        drop(state);
        Ok(match handler {
            Some(handler) => handler(&name, &cmd),
            None => api::ExecSyncResponse::default(),
        })
    }

    async fn exec(&self, _request: api::ExecRequest) -> Result<String> {
        drop(self.begin("exec")?);
        Err(tonic::Status::unimplemented(
            "the fake runtime has no streaming server",
        ))
    }

    async fn attach(&self, _request: api::AttachRequest) -> Result<String> {
        drop(self.begin("attach")?);
        Err(tonic::Status::unimplemented(
            "the fake runtime has no streaming server",
        ))
    }

    async fn port_forward(&self, _request: api::PortForwardRequest) -> Result<String> {
        drop(self.begin("port_forward")?);
        Err(tonic::Status::unimplemented(
            "the fake runtime has no streaming server",
        ))
    }

    async fn update_runtime_config(&self, pod_cidr: &str) -> Result<()> {
        let mut state = self.begin("update_runtime_config")?;
        state.pod_cidr = parse_ipv4_cidr(pod_cidr);
        Ok(())
    }

    async fn list_container_stats(
        &self,
        _filter: Option<api::ContainerStatsFilter>,
    ) -> Result<Vec<api::ContainerStats>> {
        let state = self.begin("list_container_stats")?;
        let now = crate::now_nanos();
        Ok(state
            .containers
            .iter()
            .filter(|(_, c)| c.state == api::ContainerState::ContainerRunning)
            .map(|(id, c)| api::ContainerStats {
                attributes: Some(api::ContainerAttributes {
                    id: id.clone(),
                    metadata: c.config.metadata.clone(),
                    labels: c.config.labels.clone(),
                    annotations: c.config.annotations.clone(),
                }),
                cpu: Some(api::CpuUsage {
                    timestamp: now,
                    usage_core_nano_seconds: Some(api::UInt64Value { value: 1_000_000 }),
                    usage_nano_cores: Some(api::UInt64Value { value: 1_000 }),
                }),
                memory: Some(api::MemoryUsage {
                    timestamp: now,
                    working_set_bytes: Some(api::UInt64Value { value: 1 << 20 }),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect())
    }

    async fn reopen_container_log(&self, container_id: &str) -> Result<()> {
        let state = self.begin("reopen_container_log")?;
        let container = state
            .containers
            .get(container_id)
            .ok_or_else(|| not_found("container", container_id))?;
        if container.state != api::ContainerState::ContainerRunning {
            return Err(tonic::Status::failed_precondition(
                "container is not running",
            ));
        }
        // Like containerd: a fresh file where the log was (rotated away).
        if !container.log_path.is_empty() {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&container.log_path)
                .map_err(|e| tonic::Status::internal(format!("failed to reopen log: {e}")))?;
        }
        Ok(())
    }
}

#[async_trait]
impl ImageService for FakeRuntime {
    async fn list_images(&self, _filter: Option<api::ImageFilter>) -> Result<Vec<api::Image>> {
        let state = self.begin("list_images")?;
        Ok(state.images.values().cloned().collect())
    }

    async fn image_status(&self, image: api::ImageSpec) -> Result<Option<api::Image>> {
        let state = self.begin("image_status")?;
        let reference = normalize_image_ref(&image.image);
        Ok(state
            .images
            .get(&reference)
            .cloned()
            .or_else(|| state.images.values().find(|i| i.id == image.image).cloned()))
    }

    async fn pull_image(
        &self,
        image: api::ImageSpec,
        _auth: Option<api::AuthConfig>,
        _sandbox_config: Option<api::PodSandboxConfig>,
    ) -> Result<String> {
        let mut state = self.begin("pull_image")?;
        let reference = normalize_image_ref(&image.image);
        if state.denied_pulls.contains(&reference) {
            return Err(tonic::Status::not_found(format!(
                "failed to pull and unpack image \"{reference}\": failed to resolve reference \"{reference}\": {reference}: not found"
            )));
        }
        let made = make_image(&reference);
        let id = made.id.clone();
        state.images.insert(reference, made);
        Ok(id)
    }

    async fn remove_image(&self, image: api::ImageSpec) -> Result<()> {
        let mut state = self.begin("remove_image")?;
        let reference = normalize_image_ref(&image.image);
        state.images.remove(&reference);
        state.images.retain(|_, i| i.id != image.image);
        Ok(())
    }

    async fn image_fs_info(&self) -> Result<api::ImageFsInfoResponse> {
        let state = self.begin("image_fs_info")?;
        let used: u64 = state.images.values().map(|i| i.size).sum();
        Ok(api::ImageFsInfoResponse {
            image_filesystems: vec![api::FilesystemUsage {
                timestamp: crate::now_nanos(),
                fs_id: Some(api::FilesystemIdentifier {
                    mountpoint: "/var/lib/fake".into(),
                }),
                used_bytes: Some(api::UInt64Value { value: used }),
                inodes_used: Some(api::UInt64Value {
                    value: state.images.len() as u64,
                }),
            }],
            container_filesystems: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests;
