//! What the garbage collector watches: every resource the apiserver serves
//! that can be listed, watched and deleted (custom resources included),
//! as metadata only (`Accept: ...;as=PartialObjectMetadataList`), and the
//! REST mapping from an owner reference's `apiVersion`/`kind` to a
//! resource.
//!
//! Discovery runs again every [`RESYNC_PERIOD`]; monitors start for new
//! resources and stop for removed ones. Each monitor turns its watch into
//! [`GraphEvent`]s on one channel (upstream's single `graphChanges` queue),
//! including deletions of objects that vanished while a watch was down.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use futures::StreamExt;
use kube::Api;
use kube::Client;
use kube::api::{ApiResource, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, watcher};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::graph::{GraphEvent, Identity, Observed};
use crate::framework::discovery::{self, DiscoveredResource};

/// How often discovery runs again (upstream's GC `Sync` period).
pub const RESYNC_PERIOD: Duration = Duration::from_secs(30);

/// Resources never monitored (upstream `DefaultIgnoredResources`).
const IGNORED: &[(&str, &str)] = &[("", "events"), ("events.k8s.io", "events")];

/// `garbagecollector_controller_resources_sync_error_total`: failed
/// discoveries of the resources to monitor.
pub fn resources_sync_errors() -> &'static prometheus::IntCounter {
    static METRIC: OnceLock<prometheus::IntCounter> = OnceLock::new();
    METRIC.get_or_init(|| {
        let counter = prometheus::IntCounter::new(
            "garbagecollector_controller_resources_sync_error_total",
            "Number of garbage collector resources sync errors",
        )
        .expect("valid metric");
        if let Err(err) = prometheus::register(Box::new(counter.clone())) {
            tracing::warn!(error = %err, "registering garbagecollector_controller_resources_sync_error_total");
        }
        counter
    })
}

/// One resource mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// For building requests.
    pub resource: ApiResource,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
}

/// `(apiVersion, kind)` -> resource, over every served version.
#[derive(Debug, Default)]
pub struct RestMapper {
    by_version_kind: HashMap<(String, String), Mapping>,
}

impl RestMapper {
    /// The mapping of `api_version` + `kind`, if served.
    pub fn mapping(&self, api_version: &str, kind: &str) -> Option<Mapping> {
        self.by_version_kind
            .get(&(api_version.to_string(), kind.to_string()))
            .cloned()
    }

    fn rebuild(&mut self, all: &[DiscoveredResource]) {
        self.by_version_kind = all
            .iter()
            .map(|r| {
                let resource = r.api_resource();
                (
                    (resource.api_version.clone(), r.kind.clone()),
                    Mapping {
                        resource,
                        namespaced: r.namespaced,
                    },
                )
            })
            .collect();
    }
}

/// A shared REST mapper, refreshed by [`Monitors::sync`].
pub type SharedMapper = Arc<RwLock<RestMapper>>;

struct Monitor {
    stop: CancellationToken,
    synced: watch::Receiver<bool>,
}

/// The running monitors.
pub struct Monitors {
    client: Client,
    events: mpsc::UnboundedSender<GraphEvent>,
    mapper: SharedMapper,
    running: HashMap<String, Monitor>,
    shutdown: CancellationToken,
}

impl Monitors {
    /// Monitors sending to `events`, stopping at `shutdown`.
    pub fn new(
        client: Client,
        events: mpsc::UnboundedSender<GraphEvent>,
        mapper: SharedMapper,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            client,
            events,
            mapper,
            running: HashMap::new(),
            shutdown,
        }
    }

    /// Discovers the resources again and starts/stops monitors to match.
    /// A partial discovery failure keeps the monitors of the failed groups.
    pub async fn sync(&mut self) -> Result<(), kube::Error> {
        let discovered = discovery::server_preferred_resources(&self.client)
            .await
            .inspect_err(|_| resources_sync_errors().inc())?;
        if discovered.failure_message().is_some() {
            resources_sync_errors().inc();
        }
        self.mapper
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .rebuild(&discovered.all_versions);
        let wanted: Vec<&DiscoveredResource> = discovered
            .resources
            .iter()
            .filter(|r| ["list", "watch", "delete"].iter().all(|v| r.supports(v)))
            .filter(|r| !IGNORED.contains(&(r.group.as_str(), r.resource.as_str())))
            .collect();
        let wanted_keys: HashSet<String> = wanted.iter().map(|r| r.gvr_string()).collect();
        let failed_groups: Vec<&String> = discovered.failed.keys().collect();
        self.running.retain(|key, monitor| {
            let keep = wanted_keys.contains(key)
                || failed_groups
                    .iter()
                    .any(|gv| key.starts_with(&format!("{gv}, ")));
            if !keep {
                tracing::info!(resource = %key, "garbage collector stops monitoring");
                monitor.stop.cancel();
            }
            keep
        });
        for resource in wanted {
            let key = resource.gvr_string();
            if self.running.contains_key(&key) {
                continue;
            }
            tracing::debug!(resource = %key, "garbage collector starts monitoring");
            let stop = self.shutdown.child_token();
            let (synced_tx, synced) = watch::channel(false);
            tokio::spawn(run_monitor(
                self.client.clone(),
                resource.clone(),
                self.events.clone(),
                synced_tx,
                stop.clone(),
            ));
            self.running.insert(key, Monitor { stop, synced });
        }
        Ok(())
    }

    /// The monitors whose first list has not completed.
    pub fn unsynced(&self) -> Vec<String> {
        self.running
            .iter()
            .filter(|(_, m)| !*m.synced.borrow())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// How many resources are monitored.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether nothing is monitored.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }
}

fn identity_of(resource: &DiscoveredResource, meta: &kube::core::ObjectMeta) -> Option<Identity> {
    Some(Identity {
        api_version: resource.api_resource().api_version,
        kind: resource.kind.clone(),
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone()?,
        uid: meta.uid.clone()?,
    })
}

fn observed(resource: &DiscoveredResource, meta: &kube::core::ObjectMeta) -> Option<Observed> {
    Some(Observed {
        identity: identity_of(resource, meta)?,
        owners: meta.owner_references.clone().unwrap_or_default(),
        deleting: meta.deletion_timestamp.is_some(),
        finalizers: meta.finalizers.clone().unwrap_or_default(),
    })
}

/// Lists and watches one resource (metadata only) until `stop`.
async fn run_monitor(
    client: Client,
    resource: DiscoveredResource,
    events: mpsc::UnboundedSender<GraphEvent>,
    synced: watch::Sender<bool>,
    stop: CancellationToken,
) {
    let api: Api<PartialObjectMeta<DynamicObject>> =
        Api::all_with(client, &resource.api_resource());
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    let key = resource.gvr_string();
    // uid -> identity of what this monitor has reported as present.
    let mut known: HashMap<String, Identity> = HashMap::new();
    let mut listed: HashSet<String> = HashSet::new();
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return,
            event = stream.next() => event,
        };
        let event = match event {
            None => return,
            Some(Err(err)) => {
                tracing::debug!(resource = %key, error = %err, "garbage collector monitor: list/watch failed; retrying");
                continue;
            }
            Some(Ok(event)) => event,
        };
        let send = |event: GraphEvent| {
            let _ = events.send(event);
        };
        match event {
            watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) => {
                if let Some(seen) = observed(&resource, &obj.metadata) {
                    listed.insert(seen.identity.uid.clone());
                    known.insert(seen.identity.uid.clone(), seen.identity.clone());
                    send(GraphEvent::Upsert(seen));
                }
            }
            watcher::Event::Delete(obj) => {
                if let Some(identity) = identity_of(&resource, &obj.metadata) {
                    known.remove(&identity.uid);
                    send(GraphEvent::Delete {
                        identity,
                        virtual_: false,
                    });
                }
            }
            watcher::Event::Init => listed.clear(),
            watcher::Event::InitDone => {
                let gone: Vec<String> = known
                    .keys()
                    .filter(|uid| !listed.contains(*uid))
                    .cloned()
                    .collect();
                for uid in gone {
                    if let Some(identity) = known.remove(&uid) {
                        send(GraphEvent::Delete {
                            identity,
                            virtual_: false,
                        });
                    }
                }
                synced.send_replace(true);
            }
        }
    }
}
