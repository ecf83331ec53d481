//! List+watch of every resource the scheduler reads (kube-runtime
//! watchers), turned into [`ClusterUpdate`]s for the scheduling loop.
//!
//! Each informer keeps the last version of every object (its store), so
//! that after a relist (the watcher's `Init..InitDone`, e.g. after a 410
//! Gone) objects that vanished while the watch was down are delivered as
//! deletions, and unchanged objects (same resourceVersion) are not
//! delivered again.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, ReplicationController, Service,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::{CSINode, StorageClass};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client, Resource as KubeResource};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::scheduler::{Change, ClusterUpdate, Resource};

/// Capacity of the channel into the scheduling loop.
pub const UPDATE_CHANNEL_CAPACITY: usize = 16 * 1024;

/// The resources the scheduler watches, in start order.
pub const WATCHED: [Resource; 12] = [
    Resource::Nodes,
    Resource::Namespaces,
    Resource::PodDisruptionBudgets,
    Resource::PersistentVolumeClaims,
    Resource::PersistentVolumes,
    Resource::StorageClasses,
    Resource::CsiNodes,
    Resource::Services,
    Resource::ReplicaSets,
    Resource::StatefulSets,
    Resource::ReplicationControllers,
    Resource::Pods,
];

fn object_key<K: KubeResource>(obj: &K) -> String {
    let meta = obj.meta();
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or(""),
        meta.name.as_deref().unwrap_or("")
    )
}

async fn run_informer<K>(
    api: Api<K>,
    resource: Resource,
    wrap: fn(Change<K>) -> ClusterUpdate,
    tx: mpsc::Sender<ClusterUpdate>,
    stop: CancellationToken,
) where
    K: KubeResource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let config = watcher::Config::default().page_size(1000);
    let mut stream = watcher(api, config).default_backoff().boxed();
    let mut store: HashMap<String, Arc<K>> = HashMap::new();
    let mut relisting: Option<HashMap<String, Arc<K>>> = None;
    let mut synced = false;
    loop {
        let event = tokio::select! {
            event = stream.next() => event,
            () = stop.cancelled() => return,
        };
        let Some(event) = event else { return };
        let mut out: Vec<ClusterUpdate> = Vec::new();
        match event {
            Ok(Event::Init) => relisting = Some(HashMap::new()),
            Ok(Event::InitApply(obj)) => {
                let key = object_key(&obj);
                let obj = Arc::new(obj);
                let unchanged = store
                    .get(&key)
                    .is_some_and(|old| old.meta().resource_version == obj.meta().resource_version);
                if !unchanged {
                    out.push(wrap(Change::Upsert(obj.clone())));
                }
                relisting.get_or_insert_with(HashMap::new).insert(key, obj);
            }
            Ok(Event::InitDone) => {
                let fresh = relisting.take().unwrap_or_default();
                for (key, old) in &store {
                    if !fresh.contains_key(key) {
                        out.push(wrap(Change::Delete(old.clone())));
                    }
                }
                store = fresh;
                if !synced {
                    synced = true;
                    out.push(ClusterUpdate::Synced(resource));
                }
            }
            Ok(Event::Apply(obj)) => {
                let obj = Arc::new(obj);
                store.insert(object_key(&*obj), obj.clone());
                out.push(wrap(Change::Upsert(obj)));
            }
            Ok(Event::Delete(obj)) => {
                let key = object_key(&obj);
                let last = store.remove(&key).unwrap_or_else(|| Arc::new(obj));
                out.push(wrap(Change::Delete(last)));
            }
            Err(err) => {
                tracing::warn!(resource = ?resource, error = %err, "watch failed; retrying with backoff");
            }
        }
        for update in out {
            if tx.send(update).await.is_err() {
                return;
            }
        }
    }
}

fn spawn<K>(
    client: &Client,
    resource: Resource,
    wrap: fn(Change<K>) -> ClusterUpdate,
    tx: &mpsc::Sender<ClusterUpdate>,
    stop: &CancellationToken,
) where
    K: KubeResource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let api: Api<K> = Api::all(client.clone());
    tokio::spawn(run_informer(api, resource, wrap, tx.clone(), stop.clone()));
}

fn spawn_cluster<K>(
    client: &Client,
    resource: Resource,
    wrap: fn(Change<K>) -> ClusterUpdate,
    tx: &mpsc::Sender<ClusterUpdate>,
    stop: &CancellationToken,
) where
    K: KubeResource<DynamicType = (), Scope = k8s_openapi::ClusterResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let api: Api<K> = Api::all(client.clone());
    tokio::spawn(run_informer(api, resource, wrap, tx.clone(), stop.clone()));
}

/// Starts every informer; updates go to `tx` until `stop` fires.
pub fn start(client: &Client, tx: &mpsc::Sender<ClusterUpdate>, stop: &CancellationToken) {
    for resource in WATCHED {
        match resource {
            Resource::Nodes => {
                spawn_cluster::<Node>(client, resource, ClusterUpdate::Node, tx, stop)
            }
            Resource::Namespaces => {
                spawn_cluster::<Namespace>(client, resource, ClusterUpdate::Namespace, tx, stop)
            }
            Resource::PersistentVolumes => {
                spawn_cluster::<PersistentVolume>(client, resource, ClusterUpdate::Pv, tx, stop)
            }
            Resource::StorageClasses => spawn_cluster::<StorageClass>(
                client,
                resource,
                ClusterUpdate::StorageClass,
                tx,
                stop,
            ),
            Resource::CsiNodes => {
                spawn_cluster::<CSINode>(client, resource, ClusterUpdate::CsiNode, tx, stop)
            }
            Resource::Pods => spawn::<Pod>(client, resource, ClusterUpdate::Pod, tx, stop),
            Resource::PodDisruptionBudgets => {
                spawn::<PodDisruptionBudget>(client, resource, ClusterUpdate::Pdb, tx, stop)
            }
            Resource::PersistentVolumeClaims => {
                spawn::<PersistentVolumeClaim>(client, resource, ClusterUpdate::Pvc, tx, stop)
            }
            Resource::Services => {
                spawn::<Service>(client, resource, ClusterUpdate::Service, tx, stop)
            }
            Resource::ReplicaSets => {
                spawn::<ReplicaSet>(client, resource, ClusterUpdate::ReplicaSet, tx, stop)
            }
            Resource::StatefulSets => {
                spawn::<StatefulSet>(client, resource, ClusterUpdate::StatefulSet, tx, stop)
            }
            Resource::ReplicationControllers => spawn::<ReplicationController>(
                client,
                resource,
                ClusterUpdate::ReplicationController,
                tx,
                stop,
            ),
        }
    }
}
