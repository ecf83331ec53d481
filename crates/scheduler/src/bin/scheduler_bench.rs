//! scheduler-bench: a scheduler_perf-like benchmark (not a test).
//!
//! Algorithm only (default): N fake nodes and M pods fed straight into the
//! scheduling loop, bindings to a fake API; prints pods/s and µs per pod
//! per 1,000 nodes.
//!
//! End to end (`--kubeconfig`): creates the nodes and pods in a running
//! cluster (e.g. `corten up`), then starts an in-process scheduler and
//! times until every pod is bound through the apiserver and etcd.
//!
//! ```text
//! cargo run --release -p corten-scheduler --bin scheduler-bench -- --nodes 5000 --pods 10000 --workload basic
//! cargo run --release -p corten-scheduler --bin scheduler-bench -- --workload all
//! cargo run --release -p corten-scheduler --bin scheduler-bench -- --kubeconfig ~/.corten/admin.kubeconfig --nodes 500 --pods 2000
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use corten_scheduler::config::KubeSchedulerConfiguration;
use corten_scheduler::framework::{ApiFuture, ClusterApi, EventSpec};
use corten_scheduler::scheduler::{Change, ClusterUpdate, Scheduler};
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Value, json};

/// The workloads, with the upstream scheduler_perf workload they mirror
/// and upstream's CI floor where the issue tracker states one.
const WORKLOADS: &[(&str, &str)] = &[
    (
        "basic",
        "SchedulingBasic (upstream CI floor at 5000 nodes: 270 pods/s)",
    ),
    (
        "anti-affinity",
        "SchedulingPodAntiAffinity (required anti-affinity on kubernetes.io/hostname)",
    ),
    (
        "spread",
        "TopologySpreading (maxSkew 5 on topology.kubernetes.io/zone, 3 zones)",
    ),
    (
        "preemption",
        "PreemptionBasic (4 low-priority 900m pods fill each 4-CPU node; every measured pod preempts)",
    ),
];

#[derive(Debug, Parser)]
#[command(
    name = "scheduler-bench",
    about = "Benchmarks Corten's kube-scheduler (prints results; not a test)"
)]
struct Args {
    /// Number of nodes.
    #[arg(long, default_value_t = 5000)]
    nodes: usize,
    /// Number of measured pods.
    #[arg(long, default_value_t = 10000)]
    pods: usize,
    /// Pods already running before the measurement (spread over the nodes).
    #[arg(long, default_value_t = 1000)]
    init_pods: usize,
    /// basic, anti-affinity, spread, preemption, or all.
    #[arg(long, default_value = "basic")]
    workload: String,
    /// `parallelism` of the configuration (threads that filter and score
    /// nodes, capped by the CPUs); upstream's default is 16.
    #[arg(long, default_value_t = 16)]
    parallelism: i32,
    /// Run end to end against this cluster instead of in memory.
    #[arg(long)]
    kubeconfig: Option<std::path::PathBuf>,
}

fn node(i: usize) -> Value {
    let name = format!("node-{i}");
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name,
            "topology.kubernetes.io/zone": format!("zone-{}", i % 3),
        }},
        "status": {
            "capacity": {"cpu": "4", "memory": "32Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}]
        }
    })
}

fn pod(workload: &str, name: &str, node: Option<String>, priority: i32, namespace: &str) -> Value {
    let mut spec = json!({
        "priority": priority,
        "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
            "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}]
    });
    let mut labels = json!({"app": "bench"});
    match workload {
        "anti-affinity" => {
            labels = json!({"color": "green"});
            spec["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"color": "green"}}, "topologyKey": "kubernetes.io/hostname"}]}});
        }
        "spread" => {
            spec["topologySpreadConstraints"] = json!([{"maxSkew": 5, "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "bench"}}}]);
        }
        "preemption" => {
            // Big pods: four fill a node, so every measured pod must evict.
            spec["containers"][0]["resources"]["requests"] =
                json!({"cpu": "900m", "memory": "4Gi"});
        }
        _ => {}
    }
    if let Some(node) = node {
        spec["nodeName"] = json!(node);
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{name}"), "labels": labels},
        "spec": spec
    })
}

/// Counts bindings; reports deletions (preemption victims) back.
#[derive(Debug, Default)]
struct BenchApi {
    bound: AtomicU64,
    deleted: std::sync::Mutex<Vec<String>>,
}

impl ClusterApi for BenchApi {
    fn bind(&self, _: &str, _: &str, _: &str, _: &str) -> ApiFuture<()> {
        self.bound.fetch_add(1, Ordering::Relaxed);
        Box::pin(async { Ok(()) })
    }
    fn patch_pod_status(&self, _: &str, _: &str, _: Value) -> ApiFuture<()> {
        Box::pin(async { Ok(()) })
    }
    fn delete_pod(&self, _: &str, name: &str, _: &str) -> ApiFuture<()> {
        self.deleted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(name.to_string());
        Box::pin(async { Ok(()) })
    }
    fn patch_core(&self, _: &str, _: &str, _: &str, _: Value) -> ApiFuture<()> {
        Box::pin(async { Ok(()) })
    }
    fn record_event(&self, _: EventSpec) {}
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Arc<T> {
    match serde_json::from_value(v) {
        Ok(obj) => Arc::new(obj),
        Err(err) => {
            eprintln!("bench object: {err}");
            std::process::exit(1);
        }
    }
}

async fn algorithm(args: &Args, workload: &str) {
    let api = Arc::new(BenchApi::default());
    let config = KubeSchedulerConfiguration {
        parallelism: args.parallelism,
        ..KubeSchedulerConfiguration::default()
    };
    let mut scheduler = match Scheduler::new(&config, api.clone(), &[]) {
        Ok(s) => s,
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(1);
        }
    };
    let setup = Instant::now();
    for i in 0..args.nodes {
        scheduler.apply(ClusterUpdate::Node(Change::Upsert(parse::<Node>(node(i)))));
    }
    let (init, init_priority, measured_priority) = if workload == "preemption" {
        (args.nodes * 4, 0, 1000)
    } else {
        (args.init_pods, 0, 0)
    };
    for i in 0..init {
        // Like upstream, init pods live in another namespace (their
        // anti-affinity does not reach the measured pods).
        let p = pod(
            workload,
            &format!("init-{i}"),
            Some(format!("node-{}", i % args.nodes)),
            init_priority,
            "init",
        );
        scheduler.apply(ClusterUpdate::Pod(Change::Upsert(parse::<Pod>(p))));
    }
    let rss_before = rss_mib();
    for i in 0..args.pods {
        let p = pod(
            workload,
            &format!("pod-{i}"),
            None,
            measured_priority,
            "default",
        );
        scheduler.apply(ClusterUpdate::Pod(Change::Upsert(parse::<Pod>(p))));
    }
    let setup = setup.elapsed();
    let start = Instant::now();
    // Stop when every pod is bound, or when rounds stop binding anything
    // (pods that fit nowhere would otherwise cycle through backoff forever).
    let mut idle_rounds = 0;
    while (api.bound.load(Ordering::Relaxed) as usize) < args.pods && idle_rounds < 3 {
        let bound_before = api.bound.load(Ordering::Relaxed);
        let cycles = scheduler.schedule_pending();
        tokio::task::yield_now().await;
        scheduler.drain_bind_results();
        let victims: Vec<String> =
            std::mem::take(&mut *api.deleted.lock().unwrap_or_else(|p| p.into_inner()));
        for name in &victims {
            let gone = json!({"metadata": {"name": name, "namespace": "init", "uid": format!("uid-{name}")}});
            scheduler.apply(ClusterUpdate::Pod(Change::Delete(parse::<Pod>(gone))));
        }
        let progressed = api.bound.load(Ordering::Relaxed) > bound_before || !victims.is_empty();
        if progressed {
            idle_rounds = 0;
        } else {
            idle_rounds += 1;
            if cycles == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let elapsed = start.elapsed();
    let bound = api.bound.load(Ordering::Relaxed) as usize;
    let stats = scheduler.stats();
    let pods_per_sec = bound as f64 / elapsed.as_secs_f64();
    let us_per_pod = elapsed.as_secs_f64() * 1e6 / bound.max(1) as f64;
    println!(
        "algorithm  {workload:<13} nodes={:<5} init={:<6} pods={:<6} workers={} bound={:<6} attempts={:<6} time={:>8.3}s  {:>9.0} pods/s  {:>8.1} µs/pod  {:>7.2} µs/pod/1k-nodes  rss={:.0}MiB (before measured pods {:.0}MiB, setup {:.1}s)",
        args.nodes,
        init,
        args.pods,
        scheduler.workers(),
        bound,
        stats.attempts,
        elapsed.as_secs_f64(),
        pods_per_sec,
        us_per_pod,
        us_per_pod / (args.nodes as f64 / 1000.0),
        rss_mib(),
        rss_before,
        setup.as_secs_f64(),
    );
}

async fn end_to_end(args: &Args, workload: &str, path: &std::path::Path) -> anyhow::Result<()> {
    use futures::{StreamExt, TryStreamExt};
    use kube::api::{Api, PostParams};
    use kube::runtime::watcher;
    let kubeconfig = kube::config::Kubeconfig::read_from(path)?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    let client = kube::Client::try_from(config)?;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let created = Instant::now();
    futures::stream::iter(0..args.nodes)
        .map(|i| {
            let nodes = nodes.clone();
            async move {
                let n: Node = serde_json::from_value(node(i))?;
                match nodes.create(&PostParams::default(), &n).await {
                    Ok(_) | Err(kube::Error::Api(_)) => Ok::<_, anyhow::Error>(()),
                    Err(err) => Err(err.into()),
                }
            }
        })
        .buffer_unordered(64)
        .try_collect::<Vec<_>>()
        .await?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("bench-{}", &run[..8]);
    futures::stream::iter(0..args.pods)
        .map(|i| {
            let pods = pods.clone();
            let prefix = prefix.clone();
            async move {
                let mut p = pod(workload, &format!("{prefix}-{i}"), None, 0, "default");
                if let Some(meta) = p["metadata"].as_object_mut() {
                    meta.remove("uid");
                }
                let p: Pod = serde_json::from_value(p)?;
                pods.create(&PostParams::default(), &p).await?;
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(64)
        .try_collect::<Vec<_>>()
        .await?;
    let setup = created.elapsed();
    let options = <corten_scheduler::options::Options as clap::Parser>::try_parse_from([
        "kube-scheduler",
        &format!("--kubeconfig={}", path.display()),
        "--leader-elect=false",
        "--secure-port=0",
        "--kube-api-qps=5000",
        "--kube-api-burst=5000",
    ])?;
    let start = Instant::now();
    let scheduler = corten_scheduler::app::start(options.complete()?).await?;
    let mut bound = 0usize;
    let mut seen = std::collections::HashSet::new();
    let mut stream = watcher(pods.clone(), watcher::Config::default()).boxed();
    while bound < args.pods {
        let Some(event) = tokio::time::timeout(Duration::from_secs(120), stream.next()).await?
        else {
            break;
        };
        if let watcher::Event::Apply(p) | watcher::Event::InitApply(p) = event? {
            let name = p.metadata.name.clone().unwrap_or_default();
            let assigned = p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some();
            if name.starts_with(&prefix) && assigned && seen.insert(name) {
                bound += 1;
            }
        }
    }
    let elapsed = start.elapsed();
    scheduler.shutdown().await?;
    println!(
        "end-to-end {workload:<13} nodes={:<5} pods={:<6} bound={:<6} time={:>8.3}s  {:>9.0} pods/s  (setup {:.1}s; scheduler started cold: includes its initial lists)",
        args.nodes,
        args.pods,
        bound,
        elapsed.as_secs_f64(),
        bound as f64 / elapsed.as_secs_f64(),
        setup.as_secs_f64()
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let workloads: Vec<&str> = if args.workload == "all" {
        vec!["basic", "anti-affinity", "spread", "preemption"]
    } else {
        vec![args.workload.as_str()]
    };
    for workload in workloads {
        if !WORKLOADS.iter().any(|(w, _)| *w == workload) {
            eprintln!(
                "unknown workload {workload:?} (basic, anti-affinity, spread, preemption, all)"
            );
            std::process::exit(64);
        }
        match &args.kubeconfig {
            Some(path) => {
                if let Err(err) = end_to_end(&args, workload, path).await {
                    eprintln!("end-to-end run failed: {err:#}");
                    std::process::exit(1);
                }
            }
            None => algorithm(&args, workload).await,
        }
        if let Some((_, upstream)) = WORKLOADS.iter().find(|(w, _)| *w == workload) {
            println!("           mirrors upstream scheduler_perf {upstream}");
        }
    }
}
