//! `kubelet-bench` (`make bench-kubelet`): pod startup latency and kubelet
//! footprint on one node with the real containerd, images present.
//!
//! It starts etcd + kube-apiserver (in this process), a private containerd
//! (own root, state, socket, CNI bridge and cgroup parent, local images
//! imported) and the release `kubelet` binary as a child process, then
//! measures, as a watch sees it:
//!
//! - single pods: create -> Running, one pod at a time (`--singles`);
//! - a batch: `--batch` pods created at once, each create -> Running;
//! - the kubelet's RSS idle and with the batch running, and its CPU while
//!   starting the batch and over `--steady-seconds` with it running.
//!
//! Values are printed beside the targets of issue #7 (single pod p99 <= 1 s,
//! RSS <= 30 MiB with 30 pods). Needs root (containerd, CNI, cgroups).
//! Everything is removed at the end, also on failure (guards: kubelet
//! killed, sandboxes removed, containerd stopped, netns/bridge/cgroups and
//! temp dirs deleted).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use corten_cri::testing::TestContainerd;
use corten_e2e::TestCluster;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::watcher::{self, Event};

#[derive(Debug, Parser)]
#[command(name = "kubelet-bench")]
struct Flags {
    /// The kubelet binary to measure (a release build).
    #[arg(long)]
    kubelet: PathBuf,
    /// Single pods started one after the other.
    #[arg(long, default_value_t = 20)]
    singles: usize,
    /// Pods started at once.
    #[arg(long, default_value_t = 30)]
    batch: usize,
    /// Seconds of steady state over which the kubelet's CPU is measured.
    #[arg(long, default_value_t = 20)]
    steady_seconds: u64,
}

const NODE: &str = "bench-node";
const NAMESPACE: &str = "default";
const TIMEOUT: Duration = Duration::from_secs(120);

/// Kills the kubelet on drop (also when the bench fails half-way).
struct KubeletProcess(Child);

impl KubeletProcess {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for KubeletProcess {
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Resident set size of `pid` in bytes.
fn rss(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .context("no VmRSS")?;
    Ok(kib * 1024)
}

/// CPU time (user + system) of `pid` so far.
fn cpu_time(pid: u32, ticks_per_second: f64) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at 3.
    let after = stat.rsplit_once(')').context("bad stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11)
        .zip(fields.get(12))
        .and_then(|(u, s)| Some(u.parse::<f64>().ok()? + s.parse::<f64>().ok()?))
        .context("bad stat fields")?;
    Ok(Duration::from_secs_f64(ticks / ticks_per_second))
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn bench_pod(name: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"bench": "kubelet"}},
        "spec": {
            "nodeName": NODE,
            "terminationGracePeriodSeconds": 0,
            "containers": [{
                "name": "app",
                "image": corten_cri::local_images::BUSYBOX_IMAGE,
                "imagePullPolicy": "IfNotPresent",
                "command": ["sleep", "3600"],
            }]
        }
    }))
    .expect("pod")
}

/// Records when the watch first sees each pod Running.
#[derive(Clone, Default)]
struct RunningSeen(Arc<Mutex<HashMap<String, Instant>>>);

impl RunningSeen {
    fn spawn_watch(&self, api: Api<Pod>) -> tokio::task::JoinHandle<()> {
        let seen = self.clone();
        tokio::spawn(async move {
            let config = watcher::Config::default().labels("bench=kubelet");
            let stream = watcher::watcher(api, config);
            tokio::pin!(stream);
            while let Some(event) = stream.next().await {
                let pods = match event {
                    Ok(Event::Apply(p) | Event::InitApply(p)) => vec![p],
                    _ => continue,
                };
                let now = Instant::now();
                for p in pods {
                    let running =
                        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
                    if running && let Some(name) = p.metadata.name {
                        seen.0
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .entry(name)
                            .or_insert(now);
                    }
                }
            }
        })
    }

    fn get(&self, name: &str) -> Option<Instant> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .copied()
    }

    async fn wait(&self, names: &[String]) -> anyhow::Result<()> {
        let deadline = Instant::now() + TIMEOUT;
        while names.iter().any(|n| self.get(n).is_none()) {
            if Instant::now() > deadline {
                bail!("pods did not reach Running within {TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }
}

async fn delete_all(api: &Api<Pod>) -> anyhow::Result<()> {
    let list = api
        .list(&ListParams::default().labels("bench=kubelet"))
        .await?;
    for p in &list.items {
        let name = p.metadata.name.clone().unwrap_or_default();
        let _ = api
            .delete(&name, &DeleteParams::default().grace_period(0))
            .await;
    }
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left = api
            .list(&ListParams::default().labels("bench=kubelet"))
            .await?;
        if left.items.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{} pods were not deleted", left.items.len());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn write_config(dir: &Path, containerd: &TestContainerd, ca: &Path) -> anyhow::Result<PathBuf> {
    let config = serde_json::json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": "127.0.0.1",
        "port": 0,
        "healthzPort": 0,
        "containerRuntimeEndpoint": containerd.endpoint(),
        "cgroupRoot": containerd.cgroup_root,
        "podLogsDir": dir.join("logs").display().to_string(),
        // The machine's own disk usage must not evict the pods or collect
        // the images (they cannot be pulled again).
        "evictionHard": {"memory.available": "100Mi"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "authentication": {"x509": {"clientCAFile": ca.display().to_string()}},
    });
    let path = dir.join("kubelet-config.yaml");
    std::fs::write(&path, serde_yaml::to_string(&config)?)?;
    Ok(path)
}

fn report(name: &str, mut samples: Vec<Duration>, target_p99: Option<Duration>) {
    samples.sort();
    let p50 = percentile(&samples, 50.0);
    let p99 = percentile(&samples, 99.0);
    let max = samples.last().copied().unwrap_or_default();
    let verdict = match target_p99 {
        Some(t) if p99 <= t => format!("  target p99 <= {:.0} ms: met", t.as_secs_f64() * 1e3),
        Some(t) => format!("  target p99 <= {:.0} ms: MISSED", t.as_secs_f64() * 1e3),
        None => String::new(),
    };
    println!(
        "{name:<34} n={:<3} p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms{verdict}",
        samples.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
}

async fn run(flags: Flags) -> anyhow::Result<()> {
    if !flags.kubelet.exists() {
        bail!(
            "{} does not exist (build it with `cargo build --release -p corten-kubelet --bin kubelet`)",
            flags.kubelet.display()
        );
    }
    corten_cri::testing::available()
        .map_err(|e| anyhow::anyhow!("cannot run containerd here: {e}"))?;
    let ticks = clock_ticks();
    println!("starting etcd + kube-apiserver, containerd and the kubelet ...");
    let cluster = TestCluster::start().await?;
    let client = cluster.client().await?;
    let containerd = TestContainerd::start(None)
        .await
        .map_err(|e| anyhow::anyhow!("containerd: {e}"))?;
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("kubelet");
    std::fs::create_dir_all(&root)?;
    let config = write_config(dir.path(), &containerd, &cluster.ca_file())?;
    let kubeconfig = cluster.user_kubeconfig("kubelet-bench", &["system:masters"])?;
    let log = std::fs::File::create(dir.path().join("kubelet.log"))?;
    let child = Command::new(&flags.kubelet)
        .arg(format!("--config={}", config.display()))
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg(format!("--hostname-override={NODE}"))
        .arg("--node-ip=127.0.0.1")
        .arg(format!("--root-dir={}", root.display()))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting the kubelet")?;
    let kubelet = KubeletProcess(child);
    let result = measure(&flags, &client, &kubelet, ticks).await;
    if result.is_err() {
        let log = std::fs::read_to_string(dir.path().join("kubelet.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        eprintln!("kubelet log (newest first):\n{}", tail.join("\n"));
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let _ = delete_all(&pods).await;
    drop(kubelet);
    containerd.shutdown().await;
    corten_kubelet_unmount(&root);
    result
}

/// The kubelet may leave tmpfs mounts (secret volumes) below its root.
fn corten_kubelet_unmount(root: &Path) {
    if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
        let prefix = root.display().to_string();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|p| p.starts_with(&prefix))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for point in points {
            let _ = Command::new("umount").args(["-l", point]).status();
        }
    }
}

async fn measure(
    flags: &Flags,
    client: &kube::Client,
    kubelet: &KubeletProcess,
    ticks: f64,
) -> anyhow::Result<()> {
    let pid = kubelet.pid();
    let nodes: Api<Node> = Api::all(client.clone());
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let ready = nodes.get_opt(NODE).await?.is_some_and(|n| {
            n.status
                .and_then(|s| s.conditions)
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        });
        if ready {
            break;
        }
        if Instant::now() > deadline {
            bail!("the node did not become Ready");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let seen = RunningSeen::default();
    let watch = seen.spawn_watch(pods.clone());
    // Warm up: the first sandbox and container of the busybox image.
    let warm = "warmup".to_string();
    pods.create(&PostParams::default(), &bench_pod(&warm))
        .await?;
    seen.wait(std::slice::from_ref(&warm)).await?;
    delete_all(&pods).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_rss = rss(pid)?;

    let mut singles = Vec::new();
    for i in 0..flags.singles {
        let name = format!("single-{i}");
        let start = Instant::now();
        pods.create(&PostParams::default(), &bench_pod(&name))
            .await?;
        seen.wait(std::slice::from_ref(&name)).await?;
        singles.push(seen.get(&name).unwrap_or_else(Instant::now) - start);
        delete_all(&pods).await?;
    }

    let names: Vec<String> = (0..flags.batch).map(|i| format!("batch-{i}")).collect();
    let cpu_before = cpu_time(pid, ticks)?;
    let mut starts = HashMap::new();
    let creates = names.iter().map(|name| {
        let pods = pods.clone();
        let name = name.clone();
        async move {
            let start = Instant::now();
            pods.create(&PostParams::default(), &bench_pod(&name))
                .await
                .map(|_| (name, start))
        }
    });
    for created in futures::future::join_all(creates).await {
        let (name, start) = created?;
        starts.insert(name, start);
    }
    seen.wait(&names).await?;
    let batch_cpu = cpu_time(pid, ticks)? - cpu_before;
    let batch: Vec<Duration> = names
        .iter()
        .map(|n| seen.get(n).unwrap_or_else(Instant::now) - starts[n])
        .collect();
    // Let the start-up work settle, then measure the steady state.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let steady_before = cpu_time(pid, ticks)?;
    let steady_start = Instant::now();
    let mut peak_rss = rss(pid)?;
    while steady_start.elapsed() < Duration::from_secs(flags.steady_seconds) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        peak_rss = peak_rss.max(rss(pid)?);
    }
    let steady_cpu = cpu_time(pid, ticks)? - steady_before;
    let steady_share = steady_cpu.as_secs_f64() / steady_start.elapsed().as_secs_f64();
    let running_rss = rss(pid)?;
    watch.abort();

    println!();
    println!(
        "kubelet pod startup (create -> Running seen by a watch), real containerd, images present"
    );
    report("single pod", singles, Some(Duration::from_secs(1)));
    report(&format!("batch of {} pods", flags.batch), batch, None);
    println!();
    let target_rss = 30.0;
    let verdict = if mib(peak_rss) <= target_rss {
        "met"
    } else {
        "MISSED"
    };
    println!(
        "kubelet RSS idle                   {:>7.1} MiB",
        mib(idle_rss)
    );
    println!(
        "kubelet RSS with {} pods           {:>7.1} MiB (peak {:.1} MiB over {}s)  target <= {target_rss:.0} MiB: {verdict}",
        flags.batch,
        mib(running_rss),
        mib(peak_rss),
        flags.steady_seconds
    );
    println!(
        "kubelet CPU starting {} pods       {:>7.2} s",
        flags.batch,
        batch_cpu.as_secs_f64()
    );
    println!(
        "kubelet CPU with {} pods running   {:>7.2} % of one core (over {}s)",
        flags.batch,
        steady_share * 100.0,
        flags.steady_seconds
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let flags = Flags::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(err) => {
            eprintln!("Error: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(flags)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
