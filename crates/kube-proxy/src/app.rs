//! Wiring: API client, watchers, the proxier, the sync loop and the two
//! HTTP servers; runs until the shutdown future resolves.

use std::future::Future;
use std::path::Path;

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio_util::sync::CancellationToken;

use crate::health::{self, ProxyHealth};
use crate::http_server;
use crate::metrics;
use crate::model::{HEADLESS_LABEL, SERVICE_PROXY_NAME_LABEL};
use crate::options::Config;
use crate::proxier::{IptablesProxier, NftablesProxier, Proxier, ProxyMode};
use crate::runner::ExecRunner;
use crate::service_health::ServiceHealthServers;
use crate::sync_loop::{self, Periods, Shared};

/// The component name (logs, build info).
pub const COMPONENT: &str = "kube-proxy";

/// Builds the API client from the kubeconfig (or in-cluster config).
pub async fn client(config: &Config) -> anyhow::Result<Client> {
    let mut client_config = match &config.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(Path::new(path))
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .with_context(|| format!("loading kubeconfig {}", path.display()))?
        }
        None => kube::Config::incluster().context(
            "no --kubeconfig was given and the in-cluster configuration is not available",
        )?,
    };
    if let Some(master) = &config.master {
        client_config.cluster_url =
            corten_component_base::flags::parse_master(master).map_err(anyhow::Error::msg)?;
    }
    Client::try_from(client_config).context("building the API client")
}

/// The proxier for `config`.
pub fn proxier(config: &Config) -> Box<dyn Proxier> {
    let runner = ExecRunner::with_prefix(config.command_prefix.clone());
    match config.mode {
        ProxyMode::Nftables => Box::new(NftablesProxier::new(
            runner,
            config.rules.clone(),
            config.families.clone(),
        )),
        ProxyMode::Iptables => Box::new(IptablesProxier::new(
            runner,
            config.rules.clone(),
            config.families.clone(),
        )),
    }
}

/// `--cleanup`: removes the rules of both modes.
pub fn cleanup(config: &Config) -> anyhow::Result<()> {
    let runner = ExecRunner::with_prefix(config.command_prefix.clone());
    let mut nft = NftablesProxier::new(
        runner.clone(),
        config.rules.clone(),
        config.families.clone(),
    );
    let mut ipt = IptablesProxier::new(runner, config.rules.clone(), config.families.clone());
    let a = nft.cleanup();
    let b = ipt.cleanup();
    a.context("removing nftables rules")?;
    b.context("removing iptables rules")?;
    Ok(())
}

/// Runs kube-proxy until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    corten_component_base::metrics::register_build_info(COMPONENT);
    corten_component_base::metrics::register_process_metrics();
    metrics::register_all();
    if config.cleanup {
        return tokio::task::spawn_blocking(move || cleanup(&config)).await?;
    }
    let client = client(&config).await?;
    if config.command_prefix.is_empty() {
        // Programming this host (not a test's namespace): tune conntrack
        // first, as upstream does before its proxier starts.
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        crate::conntrack_sysctl::apply(
            &config.conntrack,
            cpus,
            &crate::conntrack_sysctl::KernelFiles::default(),
        )
        .context("setting conntrack sysctls")?;
    }
    let stop = CancellationToken::new();
    let health = ProxyHealth::new(2 * config.sync_period);
    let mut servers = Vec::new();
    // Bind before anything else so a taken port fails startup.
    if let Some(addr) = config.healthz_bind {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the health server to {addr}"))?;
        tracing::info!(address = %addr, "serving /healthz and /livez");
        let stop = stop.clone();
        servers.push(tokio::spawn(http_server::serve(
            listener,
            health::healthz_handler(health.clone()),
            async move { stop.cancelled().await },
        )));
    }
    if let Some(addr) = config.metrics_bind {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the metrics server to {addr}"))?;
        tracing::info!(address = %addr, "serving /metrics and /proxyMode");
        let stop = stop.clone();
        servers.push(tokio::spawn(http_server::serve(
            listener,
            health::metrics_handler(config.mode.as_str()),
            async move { stop.cancelled().await },
        )));
    }
    let shared = Shared::new(&config.node_name, health.clone());
    if config.rules.nodeport_primary {
        // Like upstream, wait a while for the node's IPs before the first
        // sync, so NodePorts are not first programmed nowhere.
        if let Some(node) = wait_for_node_ips(&client, &config.node_name).await {
            shared.update(|t| t.node_updated(Some(&node)));
        }
    }
    health.queued();
    let (services_synced, slices_synced) = (CancellationToken::new(), CancellationToken::new());
    let services_task = tokio::spawn(watch_services(
        Api::all(client.clone()),
        shared.clone(),
        services_synced.clone(),
        stop.clone(),
    ));
    let node_task = tokio::spawn(watch_node(
        Api::all(client.clone()),
        config.node_name.clone(),
        shared.clone(),
        stop.clone(),
    ));
    let (events, events_task) = crate::events::EventSink::spawn(client.clone());
    let slices_task = tokio::spawn(watch_slices(
        Api::all(client),
        shared.clone(),
        slices_synced.clone(),
        stop.clone(),
    ));
    tracing::info!(mode = config.mode.as_str(), node = %config.node_name, "starting kube-proxy");
    let proxier = proxier(&config);
    let periods = Periods {
        min_sync: config.min_sync_period,
        sync: config.sync_period,
    };
    let loop_stop = stop.clone();
    let mode = config.mode;
    let service_health = ServiceHealthServers::new(
        health.clone(),
        config.rules.clone(),
        config.families.clone(),
    )
    .with_events(&config.node_name, events);
    let sync_task = tokio::spawn(async move {
        // Like upstream: no rules until both caches are filled, so a restart
        // never programs a momentarily empty state.
        tokio::select! {
            () = async { services_synced.cancelled().await; slices_synced.cancelled().await; } => {}
            () = loop_stop.cancelled() => return,
        }
        tracing::info!("caches synced; programming rules");
        sync_loop::run(
            proxier,
            shared,
            periods,
            mode,
            Some(service_health),
            loop_stop,
        )
        .await;
    });
    shutdown.await;
    tracing::info!("shutting down; rules stay in place for the next kube-proxy");
    stop.cancel();
    let _ = sync_task.await;
    let _ = services_task.await;
    let _ = slices_task.await;
    let _ = node_task.await;
    // Events still queued are not worth holding up the exit.
    events_task.abort();
    for server in servers {
        let _ = server.await;
    }
    Ok(())
}

fn watcher_config(exclude_label: &str) -> watcher::Config {
    watcher::Config::default().labels(&format!("!{exclude_label},!{HEADLESS_LABEL}"))
}

/// How long to wait for this node's Node object at start (upstream: 30 s).
const NODE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// `--nodeport-addresses=primary` (nftables mode's default): waits up to
/// [`NODE_WAIT`] for this node's Node object to report an IP, as upstream
/// does at start. Without one, NodePorts answer nowhere (upstream assumes
/// loopback, where they never answer) until the Node shows up.
async fn wait_for_node_ips(client: &Client, node_name: &str) -> Option<Node> {
    let nodes: Api<Node> = Api::all(client.clone());
    let deadline = tokio::time::Instant::now() + NODE_WAIT;
    loop {
        if let Ok(Some(node)) = nodes.get_opt(node_name).await
            && !crate::model::primary_ips(&node).is_empty()
        {
            return Some(node);
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                node = node_name,
                "cannot determine this node's IPs from its Node object; NodePorts will not answer until it reports one"
            );
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

/// Follows this proxy's own Node: `/healthz`'s `nodeEligible`, as upstream
/// (a node being deleted or drained by the autoscaler stops receiving
/// load-balancer traffic), its zone (topology-aware routing) and its IPs
/// (`primary` NodePort addresses; changes are programmed at once, where
/// upstream takes new node IPs only on a restart).
async fn watch_node(api: Api<Node>, node_name: String, shared: Shared, stop: CancellationToken) {
    let health = shared.health.clone();
    let config = watcher::Config::default().fields(&format!("metadata.name={node_name}"));
    let stream = watcher::watcher(api, config).default_backoff().boxed();
    futures::pin_mut!(stream);
    let mut seen = false;
    loop {
        let next = tokio::select! {
            next = stream.try_next() => next,
            () = stop.cancelled() => return,
        };
        match next {
            Ok(Some(Event::Init)) => seen = false,
            Ok(Some(Event::InitApply(node) | Event::Apply(node))) => {
                seen = true;
                health.sync_node(Some(&node));
                shared.update(|t| t.node_updated(Some(&node)));
            }
            // A proxy whose Node was never registered (no kubelet yet) is
            // not held unhealthy for it.
            Ok(Some(Event::InitDone)) => {
                if !seen {
                    tracing::debug!(node = %node_name, "no Node object for this proxy yet");
                }
            }
            Ok(Some(Event::Delete(_))) => {
                health.sync_node(None);
                shared.update(|t| t.node_updated(None));
            }
            Ok(None) => return,
            Err(err) => tracing::warn!(error = %err, "watching this proxy's Node"),
        }
    }
}

async fn watch_services(
    api: Api<Service>,
    shared: Shared,
    synced: CancellationToken,
    stop: CancellationToken,
) {
    let mut initial: Vec<Service> = Vec::new();
    let stream = watcher::watcher(api, watcher_config(SERVICE_PROXY_NAME_LABEL))
        .default_backoff()
        .boxed();
    futures::pin_mut!(stream);
    loop {
        let next = tokio::select! {
            next = stream.try_next() => next,
            () = stop.cancelled() => return,
        };
        match next {
            Ok(Some(event)) => match event {
                Event::Init => initial.clear(),
                Event::InitApply(s) => initial.push(s),
                Event::InitDone => {
                    let list = std::mem::take(&mut initial);
                    shared.update(|t| {
                        t.reset_services(&list);
                        true
                    });
                    synced.cancel();
                }
                Event::Apply(s) => shared.update(|t| t.service_applied(&s)),
                Event::Delete(s) => {
                    let (ns, name) = (
                        s.metadata.namespace.unwrap_or_default(),
                        s.metadata.name.unwrap_or_default(),
                    );
                    shared.update(|t| t.service_deleted(&ns, &name));
                }
            },
            Ok(None) => return,
            Err(err) => tracing::warn!(error = %err, "watching Services"),
        }
    }
}

async fn watch_slices(
    api: Api<EndpointSlice>,
    shared: Shared,
    synced: CancellationToken,
    stop: CancellationToken,
) {
    let mut initial: Vec<EndpointSlice> = Vec::new();
    // Slices only need the service-name label; headless ones are excluded.
    let config = watcher::Config::default().labels(&format!("!{HEADLESS_LABEL}"));
    let stream = watcher::watcher(api, config).default_backoff().boxed();
    futures::pin_mut!(stream);
    loop {
        let next = tokio::select! {
            next = stream.try_next() => next,
            () = stop.cancelled() => return,
        };
        match next {
            Ok(Some(event)) => match event {
                Event::Init => initial.clear(),
                Event::InitApply(s) => initial.push(s),
                Event::InitDone => {
                    let list = std::mem::take(&mut initial);
                    shared.update(|t| {
                        t.reset_slices(&list);
                        true
                    });
                    synced.cancel();
                }
                Event::Apply(s) => shared.update(|t| t.slice_applied(&s)),
                Event::Delete(s) => {
                    let (ns, name) = (
                        s.metadata.namespace.unwrap_or_default(),
                        s.metadata.name.unwrap_or_default(),
                    );
                    shared.update(|t| t.slice_deleted(&ns, &name));
                }
            },
            Ok(None) => return,
            Err(err) => tracing::warn!(error = %err, "watching EndpointSlices"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_ips_are_the_first_internal_ip_per_family() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n1"},
            "status": {"addresses": [
                {"type": "Hostname", "address": "n1"},
                {"type": "ExternalIP", "address": "203.0.113.5"},
                {"type": "InternalIP", "address": "10.0.0.5"},
                {"type": "InternalIP", "address": "10.0.0.6"},
                {"type": "InternalIP", "address": "fd00::5"}
            ]}
        }))
        .unwrap();
        let ips: Vec<String> = crate::model::primary_ips(&node)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(ips, ["10.0.0.5", "fd00::5"]);
        let external_only: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n1"},
            "status": {"addresses": [{"type": "ExternalIP", "address": "203.0.113.5"}]}
        }))
        .unwrap();
        assert_eq!(
            crate::model::primary_ips(&external_only),
            ["203.0.113.5".parse::<std::net::IpAddr>().unwrap()]
        );
        let bare: Node =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "n1"}})).unwrap();
        assert!(crate::model::primary_ips(&bare).is_empty());
    }
}
