//! `hollow-node`: many simulated kubelets in one process (upstream's
//! kubemark hollow nodes) for scale tests of the control plane. See
//! `corten_kubelet::simulated` and docs/kubelet.md.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use corten_apimachinery::quantity::Quantity;
use corten_component_base::flags::EXIT_USAGE;
use corten_component_base::health::HealthRegistry;
use corten_component_base::logging::LoggingOptions;
use corten_component_base::{metrics, server, signals};
use corten_kubelet::simulated::{SimulatedNodes, SimulatedNodesConfig};

/// Runs simulated nodes: each registers a Node, renews its Lease and runs
/// the pods bound to it over a fake container runtime.
#[derive(Debug, Parser)]
#[command(name = "hollow-node", version)]
struct Flags {
    /// Credentials for the apiserver (all simulated nodes share them).
    #[arg(long)]
    kubeconfig: PathBuf,
    /// How many nodes to simulate.
    #[arg(long, default_value_t = 10)]
    nodes: usize,
    /// Node i is named <prefix><i>.
    #[arg(long, default_value = "hollow-node-")]
    name_prefix: String,
    /// Each node keeps its pod directories and logs in <root-dir>/<node>.
    #[arg(long, default_value = "/var/lib/corten-hollow")]
    root_dir: PathBuf,
    /// CPUs each node reports.
    #[arg(long, default_value_t = 4)]
    node_cpu: u64,
    /// Memory each node reports (a quantity).
    #[arg(long, default_value = "16Gi")]
    node_memory: String,
    /// Ephemeral storage each node reports (a quantity).
    #[arg(long, default_value = "100Gi")]
    node_ephemeral_storage: String,
    /// maxPods of each node.
    #[arg(long, default_value_t = 110)]
    max_pods: i32,
    /// Extra labels of every node: k1=v1,k2=v2.
    #[arg(long, default_value = "")]
    node_labels: String,
    /// Taints every node registers with: key=value:Effect,...
    #[arg(long, default_value = "")]
    register_with_taints: String,
    /// Images present on every node before any pull (comma-separated).
    #[arg(long, default_value = "registry.k8s.io/pause:3.10")]
    images: String,
    /// Serve each node's kubelet API on 127.0.0.1 (random ports).
    #[arg(long)]
    enable_server: bool,
    /// Address of the process's /metrics, /healthz and /readyz.
    #[arg(long, default_value = "127.0.0.1")]
    healthz_bind_address: IpAddr,
    /// Port of the process's /metrics, /healthz and /readyz (0: off).
    #[arg(long, default_value_t = 10248)]
    healthz_port: u16,
    #[command(flatten)]
    logging: LoggingOptions,
}

fn quantity(flag: &str, text: &str) -> Result<u64, String> {
    let q = Quantity::parse(text).map_err(|e| format!("--{flag}: {e}"))?;
    u64::try_from(q.value()).map_err(|_| format!("--{flag}: must not be negative"))
}

fn config(flags: &Flags) -> Result<SimulatedNodesConfig, String> {
    if flags.nodes == 0 {
        return Err("--nodes must be at least 1".into());
    }
    if flags.max_pods <= 0 {
        return Err("--max-pods must be positive".into());
    }
    let mut config = SimulatedNodesConfig::new(flags.nodes, &flags.name_prefix, &flags.root_dir);
    config.cpus = flags.node_cpu;
    config.memory_bytes = quantity("node-memory", &flags.node_memory)?;
    config.ephemeral_storage_bytes =
        quantity("node-ephemeral-storage", &flags.node_ephemeral_storage)?;
    config.max_pods = flags.max_pods;
    config.node_labels = corten_kubelet::options::parse_labels(&flags.node_labels)
        .map_err(|e| format!("--node-labels: {e}"))?;
    config.taints = flags
        .register_with_taints
        .split(',')
        .filter(|s| !s.is_empty())
        .map(corten_kubelet::config::parse_taint)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--register-with-taints: {e}"))?;
    config.images = flags
        .images
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    config.enable_server = flags.enable_server;
    Ok(config)
}

fn main() -> ExitCode {
    let flags = Flags::parse();
    if let Err(err) = flags.logging.init("hollow-node") {
        eprintln!("Error: {err:#}");
        return ExitCode::from(EXIT_USAGE as u8);
    }
    let config = match config(&flags) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("Error: {err}");
            return ExitCode::from(EXIT_USAGE as u8);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(err) => {
            eprintln!("Error: building the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(flags, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(flags: Flags, config: SimulatedNodesConfig) -> anyhow::Result<()> {
    metrics::register_build_info("kubelet");
    let client = corten_kubelet::certificate::bootstrap::client_from(&flags.kubeconfig)
        .await
        .context("reading --kubeconfig")?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let ops = if flags.healthz_port == 0 {
        None
    } else {
        let addr = SocketAddr::new(flags.healthz_bind_address, flags.healthz_port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let mut stop = stop_rx.clone();
        Some(tokio::spawn(server::serve_ops_on(
            listener,
            HealthRegistry::new(),
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        )))
    };
    let nodes = SimulatedNodes::start(&config, client).await?;
    signals::shutdown_signal().await;
    nodes.stop().await;
    let _ = stop_tx.send(true);
    if let Some(ops) = ops {
        let _ = ops.await;
    }
    Ok(())
}
