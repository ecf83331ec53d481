//! kube-controller-manager benchmark (not a test; `make bench-kcm`):
//! D Deployments of R replicas each, rolled out by the real
//! `kube-controller-manager` binary (a separate process, so its RSS and CPU
//! are its own) against an apiserver and etcd started here. No scheduler
//! or kubelet runs: a stand-in kubelet in this process marks every new pod
//! Running and Ready, as the issue allows ("direct pod status patches").
//!
//! Printed, from one run:
//! 1. the apiserver's raw pod create rate (this process creating pods
//!    directly, 64 in flight) as the baseline;
//! 2. the time until every Deployment reports R ready replicas, and the
//!    pods per second the controllers created, beside the baseline;
//! 3. reconciles per second (`workqueue_work_duration_seconds_count` of
//!    the deployment and replicaset queues, scraped from the manager's
//!    `/metrics`);
//! 4. the controller-manager's RSS and CPU;
//! 5. what upstream has published to compare with (nothing comparable).
//!
//! Usage: kcm-bench --kcm <kube-controller-manager binary> [--deployments D]
//! [--replicas R] [--baseline-pods N]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use corten_e2e::TestCluster;
use corten_e2e::procstat::{cpu_seconds, rss_kib};
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use serde_json::json;

const NS: &str = "bench";
const IN_FLIGHT: usize = 64;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn number(name: &str, default: usize) -> usize {
    arg(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_mib(pid: u32) -> f64 {
    rss_kib(pid) as f64 / 1024.0
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "baseline"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))
    .expect("valid pod")
}

fn deployment(name: &str, replicas: usize) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
    }))
    .expect("valid deployment")
}

/// Marks every pod of [`NS`] Running and Ready once, as a kubelet would.
async fn stand_in_kubelet(client: Client, marked: Arc<AtomicUsize>) {
    let pods: Api<Pod> = Api::namespaced(client, NS);
    let events = watcher::watcher(pods.clone(), watcher::Config::default());
    events
        .try_filter_map(|event| async move {
            Ok(match event {
                watcher::Event::Apply(p) | watcher::Event::InitApply(p) => Some(p),
                _ => None,
            })
        })
        .filter_map(|p| async move { p.ok() })
        .filter(|p| {
            let ready = p
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            futures::future::ready(!ready && p.metadata.deletion_timestamp.is_none())
        })
        .for_each_concurrent(32, |p| {
            let pods = pods.clone();
            let marked = marked.clone();
            async move {
                let now = jiff::Timestamp::now().to_string();
                let patch = json!({"status": {"phase": "Running", "startTime": now,
                    "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now},
                                   {"type": "ContainersReady", "status": "True", "lastTransitionTime": now}]}});
                if pods
                    .patch_status(&p.name_any(), &PatchParams::default(), &Patch::Merge(patch))
                    .await
                    .is_ok()
                {
                    marked.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
        .await;
}

/// Sum of `workqueue_work_duration_seconds_count` for the given queues.
fn reconciles(metrics_port: u16, queues: &[&str]) -> f64 {
    let Ok(out) = std::process::Command::new("curl")
        .args(["-sk", &format!("https://127.0.0.1:{metrics_port}/metrics")])
        .output()
    else {
        return 0.0;
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("workqueue_work_duration_seconds_count{"))
        .filter(|l| queues.iter().any(|q| l.contains(&format!("name=\"{q}\""))))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let kcm_bin = arg("--kcm").context("--kcm <kube-controller-manager binary> is required")?;
    let deployments = number("--deployments", 1000);
    let replicas = number("--replicas", 10);
    let baseline_pods = number("--baseline-pods", 2000);
    let cluster = TestCluster::start().await?;
    let client = cluster.client().await?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for ns in [NS, "baseline"] {
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": ns}}))?,
            )
            .await?;
    }

    // 1. The apiserver's raw create rate.
    let raw: Api<Pod> = Api::namespaced(client.clone(), "baseline");
    let started = Instant::now();
    let created: Vec<_> = stream::iter(0..baseline_pods)
        .map(|i| {
            let raw = raw.clone();
            async move {
                raw.create(&PostParams::default(), &pod(&format!("p{i}")))
                    .await
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let raw_rate = baseline_pods as f64 / started.elapsed().as_secs_f64();
    if let Some(Err(err)) = created.into_iter().find(Result::is_err) {
        bail!("baseline create failed: {err}");
    }

    // 2. The controller-manager as its own process.
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut kcm = tokio::process::Command::new(&kcm_bin)
        .args([
            &format!("--kubeconfig={}", cluster.kubeconfig.display()),
            "--leader-elect=false",
            "--controllers=deployment,replicaset",
            &format!("--secure-port={metrics_port}"),
            "--bind-address=127.0.0.1",
            "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting kube-controller-manager")?;
    let pid = kcm.id().context("controller-manager pid")?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = rss_mib(pid);
    let cpu_before = cpu_seconds(pid);
    let queues = ["deployment", "replicaset"];
    let reconciles_before = reconciles(metrics_port, &queues);
    let marked = Arc::new(AtomicUsize::new(0));
    let kubelet = tokio::spawn(stand_in_kubelet(client.clone(), marked.clone()));

    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let started = Instant::now();
    let results: Vec<_> = stream::iter(0..deployments)
        .map(|i| {
            let api = api.clone();
            async move {
                api.create(
                    &PostParams::default(),
                    &deployment(&format!("d{i}"), replicas),
                )
                .await
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    if let Some(Err(err)) = results.into_iter().find(Result::is_err) {
        bail!("deployment create failed: {err}");
    }
    let created_in = started.elapsed();
    let mut rss_peak: f64 = 0.0;
    let deadline = started + Duration::from_secs(1800);
    let rolled_out = loop {
        rss_peak = rss_peak.max(rss_mib(pid));
        let list = api.list(&Default::default()).await?;
        let ready = list
            .items
            .iter()
            .filter(|d| {
                d.status
                    .as_ref()
                    .is_some_and(|s| s.ready_replicas == Some(replicas as i32))
            })
            .count();
        if ready == deployments {
            break started.elapsed();
        }
        if Instant::now() > deadline {
            bail!("only {ready} of {deployments} Deployments became ready in 30 min");
        }
        if let Some(status) = kcm.try_wait()? {
            bail!("kube-controller-manager exited: {status}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let cpu = cpu_seconds(pid) - cpu_before;
    let reconciled = reconciles(metrics_port, &queues) - reconciles_before;
    let pods = deployments * replicas;
    let pod_rate = pods as f64 / rolled_out.as_secs_f64();
    println!("kube-controller-manager benchmark: {deployments} Deployments x {replicas} replicas");
    println!(
        "  apiserver raw pod creates (baseline, {baseline_pods} pods, {IN_FLIGHT} in flight): {raw_rate:.0}/s"
    );
    println!(
        "  Deployments created in {:.1} s; all ready after {:.1} s",
        created_in.as_secs_f64(),
        rolled_out.as_secs_f64()
    );
    println!(
        "  pods created and ready through the controllers: {pod_rate:.0}/s (ratio to the raw create rate {:.2})",
        pod_rate / raw_rate
    );
    println!(
        "  reconciles (deployment + replicaset queues): {reconciled:.0}, {:.0}/s",
        reconciled / rolled_out.as_secs_f64()
    );
    println!(
        "  pods marked ready by the stand-in kubelet: {}",
        marked.load(Ordering::Relaxed)
    );
    println!(
        "  controller-manager RSS: idle {rss_idle:.1} MiB, peak {rss_peak:.1} MiB; CPU {cpu:.1} s ({:.2} ms per pod)",
        1000.0 * cpu / pods as f64
    );
    // Searched for a published number to set beside this and found none:
    // SIG Scalability's system-throughput SLO is still "X minutes", and
    // density/load test results are not published as pods per second of
    // the controller-manager alone. Saying so beats inventing one.
    println!(
        "  upstream: no published kube-controller-manager pods/s or CPU-per-pod figure to compare with (docs/kube-controller-manager.md#benchmark)"
    );
    kubelet.abort();
    kcm.kill().await.ok();
    Ok(())
}
