//! The `kubernetes` Service's Endpoints and EndpointSlice, kept pointing
//! at every live apiserver (upstream's lease endpoint reconciler,
//! `--endpoint-reconciler-type=lease`, the default).
//!
//! Each apiserver keeps a key `masterleases/<advertise address>` in etcd
//! under a lease of [`LEASE_TTL`], renewed every [`INTERVAL`]; a crashed
//! apiserver's key expires with its lease. After each renewal the
//! apiserver sets the Endpoints and the EndpointSlice to the addresses of
//! all keys present (sorted), with its own secure port, and fixes their
//! labels; objects already right are not written. On shutdown it deletes
//! its key and reconciles once more, so clients stop being sent to it
//! before it stops serving. Several apiservers may reconcile at once: the
//! writes carry the resourceVersion read, a lost race is retried at the
//! next tick, and all of them compute the same answer.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use corten_apimachinery::{StatusError, meta};
use serde_json::{Value, json};

use crate::app::ApiServer;
use crate::registry::store::{self, UpdateTarget, WriteOptions};

/// How long a lease outlives its last renewal (upstream's 15 s).
pub const LEASE_TTL: Duration = Duration::from_secs(15);
/// How often the lease is renewed and the endpoints reconciled (10 s).
pub const INTERVAL: Duration = Duration::from_secs(10);

const LEASE_PREFIX: &str = "masterleases/";

/// One apiserver's part in the reconciliation.
struct Reconciler {
    server: Arc<ApiServer>,
    /// This apiserver's lease, once written.
    lease: Option<i64>,
}

impl Reconciler {
    fn own_key(&self) -> String {
        format!("{LEASE_PREFIX}{}", self.server.config.advertise_address)
    }

    /// Renews this apiserver's lease and reconciles the objects.
    async fn tick(&mut self) -> Result<(), StatusError> {
        let store = &self.server.registry.store;
        let address = self.server.config.advertise_address.to_string();
        let value = serde_json::to_vec(&json!({
            "kind": "Endpoints",
            "apiVersion": "v1",
            "metadata": {"name": address},
            "subsets": [{"addresses": [{"ip": address}]}],
        }))
        .map_err(StatusError::internal)?;
        let lease = store
            .put_with_ttl(&self.own_key(), value, LEASE_TTL)
            .await
            .map_err(StatusError::internal)?;
        // The key now hangs on the new lease; the old one only holds
        // nothing and would expire anyway.
        if let Some(old) = self.lease.replace(lease)
            && let Err(e) = store.revoke_lease(old).await
        {
            tracing::debug!(error = %e, "revoking the previous master lease");
        }
        self.reconcile().await
    }

    /// Deletes this apiserver's lease and reconciles without it.
    async fn remove_self(&mut self) -> Result<(), StatusError> {
        if let Some(lease) = self.lease.take() {
            self.server
                .registry
                .store
                .revoke_lease(lease)
                .await
                .map_err(StatusError::internal)?;
        }
        self.reconcile().await
    }

    /// Sets the objects to the addresses of the live leases.
    async fn reconcile(&self) -> Result<(), StatusError> {
        let keys = self
            .server
            .registry
            .store
            .keys(LEASE_PREFIX)
            .await
            .map_err(StatusError::internal)?;
        // One slice has one address family: this apiserver's.
        let own = self.server.config.advertise_address;
        let mut addresses: Vec<IpAddr> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(LEASE_PREFIX)?.parse().ok())
            .filter(|a: &IpAddr| a.is_ipv4() == own.is_ipv4())
            .collect();
        addresses.sort();
        addresses.dedup();
        let port = self.server.config.secure_port;
        put_if_changed(&self.server, "", "endpoints", endpoints(&addresses, port)).await?;
        let family = if own.is_ipv4() { "IPv4" } else { "IPv6" };
        let slice = endpoint_slice(&addresses, family, port);
        put_if_changed(&self.server, "discovery.k8s.io", "endpointslices", slice).await
    }
}

/// The Endpoints for `addresses` (empty subsets when there are none).
pub fn endpoints(addresses: &[IpAddr], port: u16) -> Value {
    let subsets = if addresses.is_empty() {
        json!([])
    } else {
        let addresses: Vec<Value> = addresses
            .iter()
            .map(|a| json!({"ip": a.to_string()}))
            .collect();
        json!([{
            "addresses": addresses,
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        }])
    };
    json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
        },
        "subsets": subsets,
    })
}

/// The EndpointSlice for `addresses`.
pub fn endpoint_slice(addresses: &[IpAddr], family: &str, port: u16) -> Value {
    let endpoints: Vec<Value> = addresses
        .iter()
        .map(|a| json!({"addresses": [a.to_string()], "conditions": {"ready": true}}))
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            // Only the service name, as upstream's endpoints adapter: a
            // `managed-by` label of the mirroring controller would make
            // that controller delete the slice, since the Endpoints are
            // marked skip-mirror.
            "labels": {"kubernetes.io/service-name": "kubernetes"},
        },
        "addressType": family,
        "endpoints": endpoints,
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    })
}

/// The fields the reconciler owns; anything else on the stored object
/// (annotations, managedFields, other labels' absence) is left as found
/// apart from the labels, which must be exactly ours.
const OWNED: &[&str] = &["subsets", "addressType", "endpoints", "ports"];

/// Creates `want` or updates the stored object when an owned field or the
/// labels differ.
async fn put_if_changed(
    server: &ApiServer,
    group: &str,
    resource: &str,
    want: Value,
) -> Result<(), StatusError> {
    let reg = &server.registry;
    let res = reg
        .resource(group, "v1", resource)
        .ok_or_else(|| StatusError::internal(format!("resource {resource} is not served")))?;
    let current = match store::get(reg, &res, Some("default"), "kubernetes", None).await {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes).map_err(StatusError::internal)?,
        Err(e) if e.code == 404 => {
            return match store::create(reg, &res, Some("default"), want, &WriteOptions::default())
                .await
            {
                Err(e) if e.code != 409 => Err(e),
                _ => Ok(()),
            };
        }
        Err(e) => return Err(e),
    };
    let same_labels = meta::metadata(&current).and_then(|m| m.get("labels"))
        == meta::metadata(&want).and_then(|m| m.get("labels"));
    let same_fields = OWNED.iter().all(|f| {
        let empty = |v: Option<&Value>| v.is_none_or(|v| v.as_array().is_some_and(Vec::is_empty));
        let (a, b) = (current.get(*f), want.get(*f));
        a == b || (empty(a) && empty(b))
    });
    if same_labels && same_fields {
        return Ok(());
    }
    let mut next = current;
    for f in OWNED {
        match want.get(*f) {
            Some(v) => next[*f] = v.clone(),
            None => {
                if let Some(o) = next.as_object_mut() {
                    o.remove(*f);
                }
            }
        }
    }
    let labels = meta::metadata(&want)
        .and_then(|m| m.get("labels"))
        .cloned()
        .unwrap_or_default();
    meta::set(&mut next, "labels", labels);
    store::update(
        reg,
        &res,
        Some("default"),
        "kubernetes",
        next,
        UpdateTarget::Main,
        &WriteOptions::default(),
    )
    .await?;
    tracing::info!(resource, "reconciled the kubernetes service's endpoints");
    Ok(())
}

/// The running reconciler; [`Handle::stop`] takes this apiserver out.
pub struct Handle {
    stop: tokio::sync::oneshot::Sender<tokio::sync::oneshot::Sender<()>>,
}

impl Handle {
    /// Stops renewing, deletes this apiserver's lease and reconciles the
    /// endpoints without it (waits at most 5 s).
    pub async fn stop(self) {
        let (done, removed) = tokio::sync::oneshot::channel();
        if self.stop.send(done).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), removed).await;
        }
    }
}

/// Reconciles once (before the apiserver serves), then every [`INTERVAL`]
/// until [`Handle::stop`]. Errors are logged and retried at the next tick:
/// with a loopback `--advertise-address` the objects are refused by
/// validation (as upstream) and the Service has no endpoints.
pub async fn start(server: Arc<ApiServer>) -> Handle {
    let mut reconciler = Reconciler {
        server,
        lease: None,
    };
    let report = |r: Result<(), StatusError>| {
        if let Err(e) = r {
            tracing::warn!(error = %e.message, "reconciling the kubernetes service's endpoints");
        }
    };
    report(reconciler.tick().await);
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<tokio::sync::oneshot::Sender<()>>();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => report(reconciler.tick().await),
                done = &mut stopped => {
                    report(reconciler.remove_self().await);
                    if let Ok(done) = done {
                        let _ = done.send(());
                    }
                    return;
                }
            }
        }
    });
    Handle { stop }
}
