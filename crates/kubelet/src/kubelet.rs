//! The kubelet assembled: the shared [`Kubelet`] state and [`start`], which
//! binds the ports, registers the node and spawns every loop (pod source,
//! pod workers, PLEG, status manager, node status, lease, housekeeping,
//! servers). [`RunningKubelet::stop`] shuts them down; containers keep
//! running, as with upstream's kubelet, and are adopted on the next start.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use corten_component_base::health::HealthRegistry;
use corten_cri::Runtime;
use futures::FutureExt;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::runtime::WatchStreamExt;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::KubeletConfig;
use crate::events::{EventRecorder, NORMAL, node_ref};
use crate::node::NodeManager;
use crate::node::machine::MachineInfo;
use crate::pod::backoff::{Backoff, CRASH_LOOP_INITIAL, CRASH_LOOP_MAX};
use crate::pod::dns::HostDns;
use crate::pod::images::ImagePuller;
use crate::pod::objects::{ApiObjects, ObjectGetter};
use crate::pod::pleg::{self, PlegHealth};
use crate::pod::status_manager::StatusManager;
use crate::pod::workers::WorkerShared;
use crate::probe::ProbeManager;
use crate::volume::VolumeManager;

/// State shared by the kubelet's managers.
pub struct Kubelet {
    /// Configuration.
    pub config: KubeletConfig,
    /// The container runtime.
    pub runtime: Arc<dyn Runtime>,
    pub(crate) recorder: EventRecorder,
    pub(crate) objects: Arc<dyn ObjectGetter>,
    pub(crate) volumes: VolumeManager,
    pub(crate) images: ImagePuller,
    pub(crate) probes: Arc<ProbeManager>,
    /// The status manager.
    pub status: Arc<StatusManager>,
    pub(crate) crash_backoff: Backoff,
    pub(crate) workers: Mutex<HashMap<String, Arc<WorkerShared>>>,
    pub(crate) pods: Mutex<HashMap<String, Pod>>,
    pub(crate) node_ips: Vec<IpAddr>,
    pub(crate) machine: MachineInfo,
    pub(crate) allocatable: BTreeMap<String, Quantity>,
    pub(crate) host_dns: HostDns,
    /// Set once the first full pod list arrived.
    pub sources_ready: AtomicBool,
    pub(crate) started_at: String,
    /// Cancelled when the kubelet stops: pod workers end.
    pub(crate) cancel: tokio_util::sync::CancellationToken,
    /// The pod worker tasks.
    pub(crate) worker_tasks: tokio_util::task::TaskTracker,
    /// The eviction manager (its observer can be replaced in tests).
    pub eviction: Arc<crate::eviction::EvictionManager>,
    /// The image garbage collector.
    pub image_gc: Arc<crate::gc::images::ImageGc>,
    /// Grace periods of pods being evicted, by UID.
    pub(crate) evictions: Mutex<HashMap<String, i64>>,
    /// The kubelet's Node object as last seen (for admission).
    pub node_cache: Arc<crate::admission::NodeCache>,
    /// Serializes pod admissions.
    pub(crate) admission: Mutex<()>,
    /// In-place resize: allocated and actuated container resources.
    pub(crate) allocations: crate::pod::resize::Allocations,
    /// Sysctls pods may set (safe ones plus `allowedUnsafeSysctls`).
    pub(crate) sysctls: crate::admission::sysctl::Allowlist,
}

impl std::fmt::Debug for Kubelet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubelet")
            .field("node", &self.config.node_name)
            .finish_non_exhaustive()
    }
}

/// The node's IPs: `--node-ip`, else the address of the default route, else 127.0.0.1.
pub fn node_ips(config: &KubeletConfig) -> Vec<IpAddr> {
    if !config.node_ips.is_empty() {
        return config.node_ips.clone();
    }
    let detected = std::net::UdpSocket::bind("0.0.0.0:0")
        .ok()
        .and_then(|socket| {
            // TEST-NET-1 (RFC 5737): never contacted; connect() only picks a route.
            socket.connect("192.0.2.1:9").ok()?;
            let ip = socket.local_addr().ok()?.ip();
            (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
        });
    vec![detected.unwrap_or(IpAddr::from([127, 0, 0, 1]))]
}

impl Kubelet {
    /// Builds the shared state. `probe_changes` receives the UIDs of pods whose
    /// probe results changed.
    pub fn new(
        config: KubeletConfig,
        runtime: Arc<dyn Runtime>,
        objects: Arc<dyn ObjectGetter>,
        recorder: EventRecorder,
        status: Arc<StatusManager>,
        machine: MachineInfo,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<String>) {
        let (changed_tx, changed_rx) = mpsc::unbounded_channel();
        let c = config.c();
        let empty = BTreeMap::new();
        let capacity = machine.capacity(c.max_pods.unwrap_or(110));
        let allocatable = crate::node::status::allocatable(
            &capacity,
            &[
                c.system_reserved.as_ref().unwrap_or(&empty),
                c.kube_reserved.as_ref().unwrap_or(&empty),
            ],
            c.eviction_hard.as_ref().unwrap_or(&empty),
        );
        let observer = Arc::new(crate::eviction::observe::MachineObserver::new(
            runtime.clone(),
            &config.root_dir,
            &config.pod_logs_dir(),
            c.cgroup_root.as_deref().unwrap_or("/"),
            i64::try_from(machine.memory_bytes).unwrap_or(i64::MAX),
        ));
        let eviction = Arc::new(crate::eviction::EvictionManager::new(
            // Validated with the configuration.
            crate::eviction::threshold::from_config(c).unwrap_or_default(),
            c.eviction_pressure_transition_period
                .unwrap_or(Duration::from_secs(300)),
            i64::from(c.eviction_max_pod_grace_period.unwrap_or(0)),
            observer,
            recorder.clone(),
        ));
        let image_gc = Arc::new(crate::gc::images::ImageGc::new(
            runtime.clone(),
            recorder.clone(),
            &config.node_name,
            crate::gc::images::Policy {
                high_percent: c.image_gc_high_threshold_percent.unwrap_or(85),
                low_percent: c.image_gc_low_threshold_percent.unwrap_or(80),
                min_age: c.image_minimum_gc_age.unwrap_or(Duration::from_secs(120)),
                max_age: c.image_maximum_gc_age.unwrap_or_default(),
            },
            &config.pod_infra_container_image,
        ));
        // Validated with the configuration.
        let sysctls = crate::admission::sysctl::Allowlist::new(
            &machine.kernel_version,
            c.allowed_unsafe_sysctls.as_deref().unwrap_or_default(),
        )
        .unwrap_or_default();
        let kubelet = Arc::new(Self {
            sysctls,
            eviction,
            image_gc,
            evictions: Mutex::new(HashMap::new()),
            node_cache: Arc::new(crate::admission::NodeCache::default()),
            admission: Mutex::new(()),
            allocations: Default::default(),
            volumes: VolumeManager::new(&config.root_dir, objects.clone()),
            images: ImagePuller::new(
                runtime.clone(),
                recorder.clone(),
                c.serialize_image_pulls.unwrap_or(true),
            ),
            probes: ProbeManager::new(runtime.clone(), recorder.clone(), changed_tx),
            host_dns: HostDns::read(c.resolv_conf.as_deref().unwrap_or("/etc/resolv.conf")),
            node_ips: node_ips(&config),
            crash_backoff: Backoff::new(CRASH_LOOP_INITIAL, CRASH_LOOP_MAX),
            workers: Mutex::new(HashMap::new()),
            pods: Mutex::new(HashMap::new()),
            sources_ready: AtomicBool::new(false),
            started_at: jiff::Timestamp::now().to_string(),
            cancel: tokio_util::sync::CancellationToken::new(),
            worker_tasks: tokio_util::task::TaskTracker::new(),
            allocatable,
            config,
            runtime,
            recorder,
            objects,
            status,
            machine,
        });
        (kubelet, changed_rx)
    }

    /// Removes what the runtime runs for pods the kubelet does not know
    /// (after the first full pod list), and leftover pod directories.
    pub async fn housekeeping(&self) {
        if !self.sources_ready.load(Ordering::SeqCst) {
            return;
        }
        let known: HashSet<String> = self.worker_uids().into_iter().collect();
        let Ok(sandboxes) = self.runtime.list_pod_sandbox(None).await else {
            return;
        };
        let orphans: HashSet<String> = sandboxes
            .iter()
            .filter_map(|s| s.labels.get(crate::pod::labels::POD_UID).cloned())
            .filter(|uid| !known.contains(uid))
            .collect();
        for uid in orphans {
            tracing::info!(uid = %uid, "removing the containers of a pod the kubelet no longer knows");
            if let Ok(runtime) =
                crate::pod::runtime_pod::RuntimePod::fetch(&self.runtime, &uid).await
            {
                for c in runtime.running() {
                    let _ = self.runtime.stop_container(&c.id, 1).await;
                }
            }
            self.remove_pod_from_runtime(&uid).await;
        }
        for uid in self.volumes.pod_dirs() {
            if !known.contains(&uid)
                && let Err(err) = self.volumes.teardown(&uid)
            {
                tracing::warn!(uid = %uid, error = %err, "removing an orphaned pod directory");
            }
        }
    }
}

/// A started kubelet.
pub struct RunningKubelet {
    /// The shared state.
    pub kubelet: Arc<Kubelet>,
    /// Where the kubelet API listens (None when `enableServer` is false).
    pub api_addr: Option<SocketAddr>,
    /// Where `/healthz` listens (None when the healthz port is 0).
    pub healthz_addr: Option<SocketAddr>,
    /// The node manager (None without an apiserver).
    pub node: Option<Arc<NodeManager>>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for RunningKubelet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningKubelet")
            .field("api_addr", &self.api_addr)
            .field("healthz_addr", &self.healthz_addr)
            .finish_non_exhaustive()
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

impl RunningKubelet {
    /// Stops every loop, pod worker and server (containers keep running).
    pub async fn stop(mut self) {
        self.kubelet.cancel.cancel();
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            if tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .is_err()
            {
                tracing::warn!("a kubelet task did not stop in time");
            }
        }
        self.kubelet.worker_tasks.close();
        if tokio::time::timeout(Duration::from_secs(10), self.kubelet.worker_tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("pod workers did not stop in time");
        }
        for uid in self.kubelet.worker_uids() {
            self.kubelet.probes.remove_pod(&uid);
        }
        crate::metrics::forget_node(&self.kubelet.config.node_name);
    }
}

impl Drop for RunningKubelet {
    /// Best effort when [`RunningKubelet::stop`] was not awaited (a failing
    /// test): stop everything so that nothing starts containers any more.
    fn drop(&mut self) {
        self.kubelet.cancel.cancel();
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
        for uid in self.kubelet.worker_uids() {
            self.kubelet.probes.remove_pod(&uid);
        }
    }
}

/// How a kubelet differs from one on a real machine.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// The machine to report (None: read this machine).
    pub machine: Option<MachineInfo>,
    /// A simulated node (over the fake runtime): no tmpfs mounts, and the
    /// eviction manager observes nothing, so the real machine's memory and
    /// disk never put simulated nodes under pressure.
    pub simulated: bool,
}

/// Binds the ports, registers the node (when there is an apiserver) and
/// starts everything.
pub async fn start(
    config: KubeletConfig,
    client: Option<kube::Client>,
    runtime: Arc<dyn Runtime>,
) -> anyhow::Result<RunningKubelet> {
    start_with(config, client, runtime, StartOptions::default()).await
}

/// [`start`] with [`StartOptions`].
pub async fn start_with(
    config: KubeletConfig,
    client: Option<kube::Client>,
    runtime: Arc<dyn Runtime>,
    options: StartOptions,
) -> anyhow::Result<RunningKubelet> {
    let c = config.c().clone();
    let api_listener = if c.enable_server.unwrap_or(true) {
        let addr = SocketAddr::new(
            c.address
                .as_deref()
                .unwrap_or("0.0.0.0")
                .parse()
                .context("address")?,
            c.port.unwrap_or(10250),
        );
        Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the kubelet API to {addr}"))?,
        )
    } else {
        None
    };
    let healthz_listener = match c.healthz_port.unwrap_or(10248) {
        0 => None,
        port => {
            let addr = SocketAddr::new(
                c.healthz_bind_address
                    .as_deref()
                    .unwrap_or("127.0.0.1")
                    .parse()
                    .context("healthzBindAddress")?,
                port,
            );
            Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding /healthz to {addr}"))?,
            )
        }
    };
    let api_addr = api_listener.as_ref().and_then(|l| l.local_addr().ok());
    let healthz_addr = healthz_listener.as_ref().and_then(|l| l.local_addr().ok());
    std::fs::create_dir_all(config.root_dir.join("pods"))
        .with_context(|| format!("creating {}", config.root_dir.display()))?;
    std::fs::create_dir_all(config.pod_logs_dir())
        .with_context(|| format!("creating {}", config.pod_logs_dir().display()))?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let recorder = match &client {
        Some(client) => EventRecorder::new(client.clone(), &config.node_name),
        None => EventRecorder::disabled(),
    };
    let services = client.as_ref().map(|client| {
        let (reader, writer) = kube::runtime::reflector::store::<Service>();
        let api: kube::Api<Service> = kube::Api::all(client.clone());
        let stream =
            kube::runtime::reflector(writer, kube::runtime::watcher(api, Default::default()))
                .default_backoff();
        let stop = stopped(stop_rx.clone());
        tasks.push(tokio::spawn(async move {
            use futures::StreamExt;
            tokio::pin!(stream);
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    item = stream.next() => if item.is_none() { return },
                    () = &mut stop => return,
                }
            }
        }));
        reader
    });
    let objects: Arc<dyn ObjectGetter> = match &client {
        Some(client) => Arc::new(ApiObjects::new(client.clone(), services)),
        None => Arc::new(crate::pod::objects::MemoryObjects::default()),
    };
    let machine = options
        .machine
        .clone()
        .unwrap_or_else(|| MachineInfo::read(&config.root_dir));
    let status = StatusManager::new(client.clone());
    let (kubelet, mut probe_changes) = Kubelet::new(
        config.clone(),
        runtime.clone(),
        objects,
        recorder.clone(),
        status.clone(),
        machine.clone(),
    );
    if options.simulated {
        kubelet.volumes.set_memory_backed(false);
        kubelet
            .probes
            .set_network(crate::probe::check::Network::Simulated);
        kubelet
            .eviction
            .set_observer(Arc::new(crate::eviction::observe::NothingObserved));
    }
    crate::metrics::set_node_name(&config.node_name);
    recorder.record(
        node_ref(&config.node_name),
        NORMAL,
        "Starting",
        "Starting kubelet.",
    );

    // Node registration, status and lease.
    let mut node_manager = None;
    let (uid_tx, uid_rx) = watch::channel(String::new());
    if let Some(client) = &client
        && c.register_node.unwrap_or(true)
    {
        let manager = Arc::new(NodeManager::new(
            client.clone(),
            config.clone(),
            runtime.clone(),
            recorder.clone(),
            machine,
            kubelet.node_ips.clone(),
            api_addr.map_or(c.port.unwrap_or(10250), |a| a.port()),
            kubelet.eviction.clone(),
        ));
        node_manager = Some(manager.clone());
        let client = client.clone();
        let stop = stop_rx.clone();
        let node_name = config.node_name.clone();
        let lease_seconds = c.node_lease_duration_seconds.unwrap_or(40);
        tasks.push(tokio::spawn(async move {
            let registered = tokio::select! {
                node = manager.register() => node,
                () = stopped(stop.clone()) => return,
            };
            let Ok(node) = registered else { return };
            let _ = uid_tx.send(node.metadata.uid.clone().unwrap_or_default());
            let lease = tokio::spawn(crate::node::lease::run(
                client,
                node_name,
                uid_tx.subscribe(),
                lease_seconds,
                stopped(stop.clone()),
            ));
            manager.run_status_loop(node, stopped(stop)).await;
            let _ = lease.await;
        }));
    }

    tasks.push(tokio::spawn(status.clone().run(stopped(stop_rx.clone()))));
    // Probe results wake pod workers.
    {
        let kubelet = kubelet.clone();
        let stop = stopped(stop_rx.clone());
        tasks.push(tokio::spawn(async move {
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    uid = probe_changes.recv() => match uid {
                        Some(uid) => kubelet.poke(&uid),
                        None => return,
                    },
                    () = &mut stop => return,
                }
            }
        }));
    }
    let pleg_health = Arc::new(PlegHealth::default());
    {
        let k = kubelet.clone();
        tasks.push(tokio::spawn(pleg::run(
            config.node_name.clone(),
            runtime.clone(),
            pleg_health.clone(),
            move |uid| k.poke(uid),
            stopped(stop_rx.clone()),
        )));
    }
    if let Some(client) = &client {
        tasks.push(tokio::spawn(kubelet.node_cache.clone().run(
            client.clone(),
            config.node_name.clone(),
            stopped(stop_rx.clone()),
        )));
        tasks.push(tokio::spawn(crate::pod::source::watch_pods(
            kubelet.clone(),
            client.clone(),
            stopped(stop_rx.clone()),
        )));
    } else {
        kubelet.sources_ready.store(true, Ordering::SeqCst);
    }
    if let Some(dir) = c.static_pod_path.clone().filter(|p| !p.is_empty()) {
        tasks.push(tokio::spawn(crate::pod::static_pods::run(
            kubelet.clone(),
            dir.into(),
            c.file_check_frequency.unwrap_or(Duration::from_secs(20)),
            client.clone(),
            uid_rx.clone(),
            stopped(stop_rx.clone()),
        )));
    }
    {
        let kubelet = kubelet.clone();
        let stop = stopped(stop_rx.clone());
        tasks.push(tokio::spawn(async move {
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(2)) => kubelet.housekeeping().await,
                    () = &mut stop => return,
                }
            }
        }));
    }

    if !options.simulated {
        let manager = Arc::new(crate::logs::ContainerLogManager::new(runtime.clone(), &c));
        tasks.push(tokio::spawn(manager.run(stopped(stop_rx.clone()))));
    }
    tasks.push(tokio::spawn(crate::gc::run_container_gc(
        kubelet.clone(),
        stopped(stop_rx.clone()),
    )));
    {
        let eviction = kubelet.eviction.clone();
        tasks.push(tokio::spawn(kubelet.image_gc.clone().run(
            move || {
                let eviction = eviction.clone();
                async move {
                    eviction
                        .observe_signal(crate::eviction::threshold::Signal::ImageFsAvailable)
                        .await
                }
            },
            stopped(stop_rx.clone()),
        )));
    }
    tasks.push(tokio::spawn(kubelet.eviction.clone().run(
        Arc::new(crate::pod::evict::KubeletPodKiller(kubelet.clone())),
        stopped(stop_rx.clone()),
    )));

    let health = HealthRegistry::new();
    {
        let pleg = pleg_health.clone();
        health.add_check("pleg", move || {
            let pleg = pleg.clone();
            async move { pleg.check() }.boxed()
        });
        health.add_check("syncloop", || async { Ok(()) }.boxed());
    }
    if let Some(listener) = healthz_listener {
        let health = health.clone();
        let stop = stopped(stop_rx.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(err) =
                corten_component_base::server::serve_ops_on(listener, health, stop).await
            {
                tracing::error!(error = %err, "healthz server");
            }
        }));
    }
    if let Some(listener) = api_listener {
        let client_ca = c
            .authentication
            .as_ref()
            .and_then(|a| a.x509.as_ref())
            .and_then(|x| x.client_ca_file.as_deref());
        let tls = if c.server_tls_bootstrap == Some(true) {
            let client = client
                .clone()
                .context("serverTLSBootstrap needs a connection to the apiserver (--kubeconfig)")?;
            // Upstream's template comes from the node's addresses: the
            // Hostname address and the InternalIPs.
            let serving = crate::certificate::serving::ServingCertificate::load(
                &config.cert_dir,
                &config.node_name,
                vec![config.hostname.clone()],
                kubelet.node_ips.clone(),
                c.tls_cert_file
                    .as_deref()
                    .zip(c.tls_private_key_file.as_deref()),
            );
            tasks.push(tokio::spawn(
                serving.clone().run(client, stopped(stop_rx.clone())),
            ));
            crate::server::tls::server_config_with_resolver(serving, client_ca)?
        } else {
            crate::server::tls::server_config(
                c.tls_cert_file.as_deref(),
                c.tls_private_key_file.as_deref(),
                &config.cert_dir,
                &config.hostname,
                &kubelet.node_ips,
                client_ca,
            )?
        };
        let auth = Arc::new(crate::server::auth::ApiAuth::new(
            &c,
            &config.node_name,
            client.clone(),
        ));
        tasks.push(tokio::spawn(crate::server::serve(
            listener,
            tls,
            kubelet.clone(),
            auth,
            health,
            stopped(stop_rx.clone()),
        )));
    }
    tracing::info!(node = %config.node_name, api = ?api_addr, healthz = ?healthz_addr, "kubelet started");
    Ok(RunningKubelet {
        kubelet,
        api_addr,
        healthz_addr,
        node: node_manager,
        stop: stop_tx,
        tasks,
    })
}
