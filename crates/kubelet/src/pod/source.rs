//! Where pods come from: the apiserver (pods bound to this node, watched
//! with `fieldSelector=spec.nodeName=<node>`), skipping mirror pods, which
//! only reflect static pods. A (re)list is handed over once complete,
//! oldest pod first, so that admission after a kubelet restart admits the
//! pods that were there first (upstream sorts additions by creation time).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};

use crate::kubelet::Kubelet;

/// The annotation marking mirror pods.
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Whether a pod is a mirror pod.
pub fn is_mirror(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION))
}

/// Watches this node's pods until `shutdown`.
pub async fn watch_pods(
    kubelet: Arc<Kubelet>,
    client: kube::Client,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let api: Api<Pod> = Api::all(client);
    let config =
        watcher::Config::default().fields(&format!("spec.nodeName={}", kubelet.config.node_name));
    let stream = watcher::watcher(api, config).default_backoff();
    tokio::pin!(stream);
    tokio::pin!(shutdown);
    let mut listed: HashSet<String> = HashSet::new();
    let mut initial: Vec<Pod> = Vec::new();
    loop {
        let event = tokio::select! {
            e = stream.next() => e,
            () = &mut shutdown => return,
        };
        let Some(event) = event else { return };
        match event {
            Ok(Event::Init) => {
                listed.clear();
                initial.clear();
            }
            Ok(Event::InitApply(pod)) => {
                listed.insert(pod.metadata.uid.clone().unwrap_or_default());
                if !is_mirror(&pod) {
                    initial.push(pod);
                }
            }
            Ok(Event::InitDone) => {
                let mut pods = std::mem::take(&mut initial);
                pods.sort_by(|a, b| {
                    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
                    created(a)
                        .cmp(&created(b))
                        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
                });
                for pod in pods {
                    kubelet.update_pod(pod);
                }
                // Pods we run that the fresh list no longer has were deleted
                // while the watch was down.
                for pod in kubelet.known_pods() {
                    let uid = pod.metadata.uid.clone().unwrap_or_default();
                    if !listed.contains(&uid) && !crate::pod::static_pods::is_static(&pod) {
                        kubelet.remove_pod(pod);
                    }
                }
                kubelet.sources_ready.store(true, Ordering::SeqCst);
            }
            Ok(Event::Apply(pod)) => {
                if !is_mirror(&pod) {
                    kubelet.update_pod(pod);
                }
            }
            Ok(Event::Delete(pod)) => {
                if !is_mirror(&pod) {
                    kubelet.remove_pod(pod);
                }
            }
            Err(err) => tracing::warn!(error = %err, "watching pods"),
        }
    }
}
