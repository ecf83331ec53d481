//! kube-controller-manager benchmark (not a test; `make bench-kcm`):
//! D workloads of R pods each (`--workload`: Deployments, StatefulSets or
//! Jobs), rolled out by the real `kube-controller-manager` binary (a
//! separate process, so its RSS and CPU are its own) against an apiserver
//! and etcd started here. No scheduler or kubelet runs: a stand-in kubelet
//! in this process marks every new pod Running and Ready (for Jobs:
//! Succeeded), as the issue allows ("direct pod status patches").
//!
//! Printed, from one run:
//! 1. the apiserver's raw pod create rate (this process creating pods
//!    directly, 64 in flight) as the baseline;
//! 2. the time until every Deployment / StatefulSet reports R ready
//!    replicas (every Job: `Complete` with R succeeded), and the pods per
//!    second the controllers created, beside the baseline;
//! 3. reconciles per second (`workqueue_work_duration_seconds_count` of
//!    the workload's queues, scraped from the manager's `/metrics`);
//! 4. the controller-manager's RSS and CPU;
//! 5. what upstream has published to compare with (nothing comparable).
//!
//! Usage: kcm-bench --kcm <kube-controller-manager binary>
//! [--workload deployment|statefulset|job] [--deployments D] [--replicas R]
//! [--baseline-pods N] (`--deployments` is the number of workloads of
//! any kind).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use corten_e2e::TestCluster;
use corten_e2e::procstat::{cpu_seconds, rss_kib};
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
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

/// What is benchmarked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    Deployment,
    StatefulSet,
    Job,
}

impl Workload {
    fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "deployment" => Workload::Deployment,
            "statefulset" => Workload::StatefulSet,
            "job" => Workload::Job,
            other => bail!("--workload {other:?}: want deployment, statefulset or job"),
        })
    }

    /// The controllers to run and the queues whose reconciles are counted.
    fn controllers(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Workload::Deployment => ("deployment,replicaset", &["deployment", "replicaset"]),
            Workload::StatefulSet => ("statefulset", &["statefulset"]),
            Workload::Job => ("job", &["job"]),
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Workload::Deployment => "Deployments",
            Workload::StatefulSet => "StatefulSets",
            Workload::Job => "Jobs",
        }
    }

    /// Creates workload `i`.
    async fn create(self, client: &Client, i: usize, replicas: usize) -> Result<()> {
        let name = format!("w{i}");
        let template = json!({"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
        match self {
            Workload::Deployment => {
                let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
                api.create(&PostParams::default(), &deployment(&name, replicas))
                    .await?;
            }
            Workload::StatefulSet => {
                // Parallel: the controller, not the stand-in kubelet's
                // latency one pod at a time, sets the pace.
                let set: StatefulSet = serde_json::from_value(json!({
                    "metadata": {"name": name},
                    "spec": {"replicas": replicas, "serviceName": name,
                             "podManagementPolicy": "Parallel",
                             "selector": {"matchLabels": {"app": name}},
                             "template": template}
                }))?;
                let api: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
                api.create(&PostParams::default(), &set).await?;
            }
            Workload::Job => {
                let mut template = template;
                template["spec"]["restartPolicy"] = json!("Never");
                let job: Job = serde_json::from_value(json!({
                    "metadata": {"name": name},
                    "spec": {"completions": replicas, "parallelism": replicas,
                             "template": template}
                }))?;
                let api: Api<Job> = Api::namespaced(client.clone(), NS);
                api.create(&PostParams::default(), &job).await?;
            }
        }
        Ok(())
    }

    /// How many workloads are done (all replicas ready, or complete).
    async fn done(self, client: &Client, replicas: usize) -> Result<usize> {
        let replicas = Some(replicas as i32);
        Ok(match self {
            Workload::Deployment => {
                let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
                let list = api.list(&Default::default()).await?;
                list.items
                    .iter()
                    .filter(|d| {
                        d.status
                            .as_ref()
                            .is_some_and(|s| s.ready_replicas == replicas)
                    })
                    .count()
            }
            Workload::StatefulSet => {
                let api: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
                let list = api.list(&Default::default()).await?;
                list.items
                    .iter()
                    .filter(|s| {
                        s.status
                            .as_ref()
                            .is_some_and(|s| s.ready_replicas == replicas)
                    })
                    .count()
            }
            Workload::Job => {
                let api: Api<Job> = Api::namespaced(client.clone(), NS);
                let list = api.list(&Default::default()).await?;
                list.items
                    .iter()
                    .filter(|j| {
                        j.status.as_ref().is_some_and(|s| {
                            s.succeeded == replicas
                                && s.conditions
                                    .iter()
                                    .flatten()
                                    .any(|c| c.type_ == "Complete" && c.status == "True")
                        })
                    })
                    .count()
            }
        })
    }
}

/// Marks every pod of [`NS`] Running and Ready once, as a kubelet would
/// (`finish`: Succeeded instead, for Jobs).
async fn stand_in_kubelet(client: Client, marked: Arc<AtomicUsize>, finish: bool) {
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
            let finished = p
                .status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .is_some_and(|phase| phase == "Succeeded" || phase == "Failed");
            futures::future::ready(!ready && !finished && p.metadata.deletion_timestamp.is_none())
        })
        .for_each_concurrent(32, |p| {
            let pods = pods.clone();
            let marked = marked.clone();
            async move {
                let now = jiff::Timestamp::now().to_string();
                let patch = if finish {
                    json!({"status": {"phase": "Succeeded", "startTime": now,
                        "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": now}]}})
                } else {
                    json!({"status": {"phase": "Running", "startTime": now,
                        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now},
                                       {"type": "ContainersReady", "status": "True", "lastTransitionTime": now}]}})
                };
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
    let workload = Workload::parse(arg("--workload").as_deref().unwrap_or("deployment"))?;
    let (controllers, queues) = workload.controllers();
    let kind = workload.plural();
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
            &format!("--controllers={controllers}"),
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
    let reconciles_before = reconciles(metrics_port, queues);
    let marked = Arc::new(AtomicUsize::new(0));
    let kubelet = tokio::spawn(stand_in_kubelet(
        client.clone(),
        marked.clone(),
        workload == Workload::Job,
    ));

    let started = Instant::now();
    let results: Vec<_> = stream::iter(0..deployments)
        .map(|i| {
            let client = client.clone();
            async move { workload.create(&client, i, replicas).await }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    if let Some(Err(err)) = results.into_iter().find(Result::is_err) {
        bail!("{kind} create failed: {err}");
    }
    let created_in = started.elapsed();
    let mut rss_peak: f64 = 0.0;
    let deadline = started + Duration::from_secs(1800);
    let rolled_out = loop {
        rss_peak = rss_peak.max(rss_mib(pid));
        let ready = workload.done(&client, replicas).await?;
        if ready == deployments {
            break started.elapsed();
        }
        if Instant::now() > deadline {
            bail!("only {ready} of {deployments} {kind} were done in 30 min");
        }
        if let Some(status) = kcm.try_wait()? {
            bail!("kube-controller-manager exited: {status}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let cpu = cpu_seconds(pid) - cpu_before;
    let reconciled = reconciles(metrics_port, queues) - reconciles_before;
    let pods = deployments * replicas;
    let pod_rate = pods as f64 / rolled_out.as_secs_f64();
    println!("kube-controller-manager benchmark: {deployments} {kind} x {replicas} replicas");
    println!(
        "  apiserver raw pod creates (baseline, {baseline_pods} pods, {IN_FLIGHT} in flight): {raw_rate:.0}/s"
    );
    println!(
        "  {kind} created in {:.1} s; all done after {:.1} s",
        created_in.as_secs_f64(),
        rolled_out.as_secs_f64()
    );
    println!(
        "  pods created and ready through the controllers: {pod_rate:.0}/s (ratio to the raw create rate {:.2})",
        pod_rate / raw_rate
    );
    println!(
        "  reconciles ({} queues): {reconciled:.0}, {:.0}/s",
        queues.join(" + "),
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
