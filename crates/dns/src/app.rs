//! Wiring: watchers fill the record store; UDP/TCP servers answer from it;
//! the ops listeners serve /health, /ready and /metrics; SIGTERM stops all.

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use anyhow::Context;
use futures::TryStreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio_util::sync::CancellationToken;

use crate::forward::Forwarder;
use crate::metrics;
use crate::ops::{self, Endpoint};
use crate::options::Config;
use crate::server::{self, Handler};
use crate::store::RecordStore;

/// The component name.
pub const COMPONENT: &str = "corten-dns";

async fn client(config: &Config) -> anyhow::Result<Client> {
    let client_config = match &config.kubeconfig {
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
    Client::try_from(client_config).context("building the API client")
}

/// The DNS addresses actually bound (tests bind port 0).
#[derive(Clone, Copy, Debug)]
pub struct Bound {
    /// UDP and TCP address.
    pub dns: std::net::SocketAddr,
}

/// Runs until `shutdown`; `on_bound` learns the bound DNS address.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()>,
    on_bound: impl FnOnce(Bound),
) -> anyhow::Result<()> {
    corten_component_base::metrics::register_build_info(COMPONENT);
    corten_component_base::metrics::register_process_metrics();
    metrics::register_all();
    let client = client(&config).await?;
    // Bind everything first: a taken port fails startup.
    let (udp, tcp) = crate::bind::udp_and_tcp(config.listen, config.freebind)?;
    let dns_addr = udp.local_addr()?;
    let mut ops_listeners = Vec::new();
    for (addr, endpoint) in [
        (config.health, Endpoint::Health),
        (config.ready, Endpoint::Ready),
        (config.metrics, Endpoint::Metrics),
    ] {
        if let Some(addr) = addr {
            ops_listeners.push((ops::bind(addr).await?, endpoint));
        }
    }
    if let Some(ip) = config.kube_dns_service_ip {
        let service = crate::publish::service(ip);
        let slice = crate::publish::slice(dns_addr, None, &config.node_name);
        crate::publish::publish(client.clone(), service, slice).await?;
    }
    let store = Arc::new(RwLock::new(
        RecordStore::new(&config.cluster_domain, config.ttl).map_err(anyhow::Error::msg)?,
    ));
    let forwarder =
        (!config.upstreams.is_empty()).then(|| Forwarder::new(config.upstreams.clone()));
    let stop = CancellationToken::new();
    let ready = Arc::new(AtomicBool::new(false));
    let handler = Handler::new(store.clone(), forwarder, dns_addr).with_synced_flag(ready.clone());
    let mut tasks = Vec::new();
    for (listener, endpoint) in ops_listeners {
        tasks.push(tokio::spawn(ops::serve(
            listener,
            endpoint,
            ready.clone(),
            stop.clone(),
        )));
    }
    let services_synced = CancellationToken::new();
    let slices_synced = CancellationToken::new();
    tasks.push(tokio::spawn(watch_into::<Service>(
        Api::all(client.clone()),
        store.clone(),
        services_synced.clone(),
        stop.clone(),
    )));
    tasks.push(tokio::spawn(watch_into::<EndpointSlice>(
        Api::all(client),
        store.clone(),
        slices_synced.clone(),
        stop.clone(),
    )));
    {
        let ready = ready.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            tokio::select! {
                () = async { services_synced.cancelled().await; slices_synced.cancelled().await; } => {
                    ready.store(true, Ordering::SeqCst);
                    tracing::info!("caches synced; ready");
                }
                () = stop.cancelled() => {}
            }
        }));
    }
    tasks.push(tokio::spawn(server::serve_udp(
        udp,
        handler.clone(),
        stop.clone(),
    )));
    tasks.push(tokio::spawn(server::serve_tcp(tcp, handler, stop.clone())));
    tracing::info!(
        address = %dns_addr,
        domain = %config.cluster_domain,
        upstreams = ?config.upstreams,
        "serving DNS"
    );
    on_bound(Bound { dns: dns_addr });
    shutdown.await;
    tracing::info!("shutting down");
    ready.store(false, Ordering::SeqCst);
    stop.cancel();
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}

/// How one watched kind feeds the record store.
trait Recorded:
    kube::Resource<DynamicType = ()>
    + Clone
    + std::fmt::Debug
    + serde::de::DeserializeOwned
    + Send
    + 'static
{
    /// For the log line when the watch fails.
    const PLURAL: &'static str;
    fn reset(store: &mut RecordStore, all: &[Self]);
    fn apply(store: &mut RecordStore, object: &Self);
    fn delete(store: &mut RecordStore, namespace: &str, name: &str);
}

impl Recorded for Service {
    const PLURAL: &'static str = "Services";
    fn reset(store: &mut RecordStore, all: &[Self]) {
        store.reset_services(all);
    }
    fn apply(store: &mut RecordStore, object: &Self) {
        store.apply_service(object);
    }
    fn delete(store: &mut RecordStore, namespace: &str, name: &str) {
        store.delete_service(namespace, name);
    }
}

impl Recorded for EndpointSlice {
    const PLURAL: &'static str = "EndpointSlices";
    fn reset(store: &mut RecordStore, all: &[Self]) {
        store.reset_slices(all);
    }
    fn apply(store: &mut RecordStore, object: &Self) {
        store.apply_slice(object);
    }
    fn delete(store: &mut RecordStore, namespace: &str, name: &str) {
        store.delete_slice(namespace, name);
    }
}

/// Keeps the store's view of `K` in step with a watch; `synced` fires after
/// the first complete list.
async fn watch_into<K: Recorded>(
    api: Api<K>,
    store: Arc<RwLock<RecordStore>>,
    synced: CancellationToken,
    stop: CancellationToken,
) {
    let mut initial = Vec::new();
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    loop {
        let next = tokio::select! {
            next = stream.try_next() => next,
            () = stop.cancelled() => return,
        };
        match next {
            Ok(Some(event)) => {
                let Ok(mut s) = store.write() else { return };
                match event {
                    Event::Init => initial.clear(),
                    Event::InitApply(o) => initial.push(o),
                    Event::InitDone => {
                        K::reset(&mut s, &std::mem::take(&mut initial));
                        synced.cancel();
                    }
                    Event::Apply(o) => K::apply(&mut s, &o),
                    Event::Delete(o) => {
                        let meta = o.meta();
                        K::delete(
                            &mut s,
                            meta.namespace.as_deref().unwrap_or_default(),
                            meta.name.as_deref().unwrap_or_default(),
                        );
                    }
                }
            }
            Ok(None) => return,
            Err(err) => tracing::warn!(error = %err, "watching {}", K::PLURAL),
        }
    }
}
