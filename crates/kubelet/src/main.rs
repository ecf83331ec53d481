//! `kubelet`: options -> validated config -> run, like upstream's cmd/kubelet.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{CommandFactory, Parser};
use corten_component_base::flags::{EXIT_USAGE, KUBELET_UPSTREAM_FLAGS, exit_on_unsupported_flags};
use corten_component_base::{metrics, signals};
use corten_cri::instrumented::Instrumented;
use corten_cri::remote::RemoteRuntime;
use corten_kubelet::config::KubeletConfig;
use corten_kubelet::options::KubeletFlags;

fn main() -> ExitCode {
    exit_on_unsupported_flags(&KubeletFlags::command(), KUBELET_UPSTREAM_FLAGS, "kubelet");
    let flags = KubeletFlags::parse();
    if let Err(err) = flags.logging.init("kubelet") {
        eprintln!("Error: {err:#}");
        return ExitCode::from(EXIT_USAGE as u8);
    }
    let (config, unknown) = match flags.complete() {
        Ok(c) => c,
        Err(err) => {
            eprintln!("Error: {err}");
            return ExitCode::from(EXIT_USAGE as u8);
        }
    };
    if !unknown.is_empty() {
        tracing::warn!(fields = ?unknown, "unknown fields in the kubelet config file (ignored)");
    }
    // Already validated by `complete`; this only rebuilds the resolved set.
    let mut gates = corten_component_base::feature_gates::FeatureGates::new();
    if let Err(err) = gates.set_from_map(&config.file.feature_gates.clone().unwrap_or_default()) {
        eprintln!("Error: {err}");
        return ExitCode::from(EXIT_USAGE as u8);
    }
    corten_component_base::feature_gates::install(gates);
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
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: KubeletConfig) -> anyhow::Result<()> {
    metrics::register_build_info("kubelet");
    // SIGTERM also ends a TLS bootstrap that is still waiting for its CSR.
    let shutdown = signals::shutdown_signal();
    tokio::pin!(shutdown);
    let api = tokio::select! {
        api = corten_kubelet::certificate::api_client(
            &config,
            corten_kubelet::certificate::BOOTSTRAP_TIMEOUT,
        ) => api.context("preparing the API client")?,
        () = &mut shutdown => return Ok(()),
    };
    let client = api.as_ref().map(|a| a.client.clone());
    let (rotation_stop, rotation_stopped) = tokio::sync::oneshot::channel::<()>();
    let rotation = api
        .and_then(|a| Some((a.client, a.rotation?)))
        .map(|(client, store)| {
            tokio::spawn(corten_kubelet::certificate::client::run(
                client,
                store,
                config.node_name.clone(),
                async move {
                    let _ = rotation_stopped.await;
                },
            ))
        });
    let c = config.c();
    let endpoint = c
        .container_runtime_endpoint
        .clone()
        .unwrap_or_else(|| "unix:///run/containerd/containerd.sock".into());
    let timeout = c
        .runtime_request_timeout
        .unwrap_or(corten_cri::remote::DEFAULT_REQUEST_TIMEOUT);
    let remote = RemoteRuntime::new(&endpoint, timeout).context("container runtime endpoint")?;
    let runtime = Arc::new(Instrumented::new(remote));
    let running = corten_kubelet::kubelet::start(config, client, runtime).await?;
    shutdown.await;
    let _ = rotation_stop.send(());
    if let Some(rotation) = rotation {
        let _ = rotation.await;
    }
    running.stop().await;
    Ok(())
}
