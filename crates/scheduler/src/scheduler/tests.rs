//! Whole-loop tests against the fake API: informer updates in, bindings,
//! events and status patches out.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Value, json};

use super::*;
use crate::framework::FakeApi;
use crate::queue::Location;

fn node(name: &str, cpu: &str, labels: Value) -> ClusterUpdate {
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}
    }))
    .unwrap();
    ClusterUpdate::Node(Change::Upsert(Arc::new(node)))
}

fn pod(name: &str, cpu: &str, node: &str, priority: i32) -> ClusterUpdate {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": {"nodeName": node, "priority": priority, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}
    }))
    .unwrap();
    ClusterUpdate::Pod(Change::Upsert(Arc::new(pod)))
}

fn scheduler(api: Arc<FakeApi>) -> Scheduler {
    Scheduler::new(&KubeSchedulerConfiguration::default(), api, &[]).unwrap()
}

async fn settle(s: &mut Scheduler) {
    for _ in 0..5 {
        s.schedule_pending();
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        s.drain_bind_results();
    }
}

#[tokio::test]
async fn schedules_by_resources_and_records_events() {
    let api = Arc::new(FakeApi::recording());
    let mut s = scheduler(api.clone());
    s.apply(node("small", "1", json!({})));
    s.apply(node("large", "4", json!({})));
    s.apply(pod("p", "2", "", 0));
    settle(&mut s).await;
    assert_eq!(
        api.bindings(),
        [("default/p".to_string(), "large".to_string())]
    );
    let events = api.events();
    assert_eq!(events[0].reason, "Scheduled");
    assert_eq!(events[0].note, "Successfully assigned default/p to large");
    assert_eq!(s.stats().bound, 1);
}

#[tokio::test]
async fn unschedulable_pods_wait_for_a_node() {
    let api = Arc::new(FakeApi::recording());
    let mut s = scheduler(api.clone());
    s.apply(node("small", "1", json!({})));
    s.apply(pod("p", "2", "", 0));
    settle(&mut s).await;
    assert!(api.bindings().is_empty());
    let failed = api
        .events()
        .into_iter()
        .find(|e| e.reason == "FailedScheduling")
        .unwrap();
    assert_eq!(
        failed.note,
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    );
    assert_eq!(
        s.queue().location("uid-p"),
        Some(crate::queue::Location::Unschedulable)
    );
    s.apply(node("large", "4", json!({})));
    // The node add moved the pod; it pops from the backoff queue at once.
    settle(&mut s).await;
    assert_eq!(
        api.bindings(),
        [("default/p".to_string(), "large".to_string())]
    );
}

#[tokio::test]
async fn preemption_nominates_and_evicts() {
    let api = Arc::new(FakeApi::recording());
    let mut s = scheduler(api.clone());
    s.apply(node("n1", "2", json!({})));
    s.apply(node("n2", "2", json!({})));
    s.apply(pod("low1", "1500m", "n1", 100));
    s.apply(pod("low2", "1500m", "n2", 10));
    s.apply(pod("vip", "1500m", "", 1000));
    settle(&mut s).await;
    assert!(api.bindings().is_empty());
    // The lowest-priority victim is on n2.
    let deletions = api.deletions.lock().unwrap().clone();
    assert_eq!(deletions, ["default/low2"]);
    let patches = api.status_patches.lock().unwrap().clone();
    let nominated = patches
        .iter()
        .find(|(k, p)| k == "default/vip" && p["status"]["nominatedNodeName"] == "n2");
    assert!(nominated.is_some(), "{patches:?}");
    assert_eq!(s.snapshot().nominations.node_of("uid-vip"), Some("n2"));
    // The victim goes away: vip lands on n2.
    let victim: Pod = serde_json::from_value(
        json!({"metadata": {"name": "low2", "namespace": "default", "uid": "uid-low2"}}),
    )
    .unwrap();
    s.apply(ClusterUpdate::Pod(Change::Delete(Arc::new(victim))));
    settle(&mut s).await;
    assert_eq!(
        api.bindings(),
        [("default/vip".to_string(), "n2".to_string())]
    );
}

#[tokio::test]
async fn pods_of_other_schedulers_are_ignored() {
    let api = Arc::new(FakeApi::recording());
    let mut s = scheduler(api.clone());
    s.apply(node("n1", "2", json!({})));
    let foreign: Pod = serde_json::from_value(json!({
        "metadata": {"name": "f", "namespace": "default", "uid": "f"},
        "spec": {"schedulerName": "other", "containers": []}
    }))
    .unwrap();
    s.apply(ClusterUpdate::Pod(Change::Upsert(Arc::new(foreign))));
    settle(&mut s).await;
    assert!(api.bindings().is_empty());
    assert!(api.events().is_empty());
}

#[tokio::test]
async fn waits_for_caches_before_scheduling() {
    let api = Arc::new(FakeApi::recording());
    let mut s = Scheduler::new(
        &KubeSchedulerConfiguration::default(),
        api,
        &[Resource::Nodes, Resource::Pods],
    )
    .unwrap();
    assert!(!s.synced());
    s.apply(ClusterUpdate::Synced(Resource::Nodes));
    assert!(!s.synced());
    s.apply(ClusterUpdate::Synced(Resource::Pods));
    assert!(s.synced());
}

/// A fake API whose pod deletions wait for a permit.
#[derive(Debug)]
struct SlowDeletes {
    inner: Arc<FakeApi>,
    permits: Arc<tokio::sync::Semaphore>,
}

impl crate::framework::ClusterApi for SlowDeletes {
    fn bind(&self, ns: &str, name: &str, uid: &str, node: &str) -> crate::framework::ApiFuture<()> {
        self.inner.bind(ns, name, uid, node)
    }
    fn patch_pod_status(
        &self,
        ns: &str,
        name: &str,
        patch: Value,
    ) -> crate::framework::ApiFuture<()> {
        self.inner.patch_pod_status(ns, name, patch)
    }
    fn delete_pod(&self, ns: &str, name: &str, uid: &str) -> crate::framework::ApiFuture<()> {
        let permits = self.permits.clone();
        let inner = self.inner.clone();
        let (ns, name, uid) = (ns.to_string(), name.to_string(), uid.to_string());
        Box::pin(async move {
            if let Ok(permit) = permits.acquire().await {
                permit.forget();
            }
            inner.delete_pod(&ns, &name, &uid).await
        })
    }
    fn patch_core(
        &self,
        r: &str,
        ns: &str,
        name: &str,
        patch: Value,
    ) -> crate::framework::ApiFuture<()> {
        self.inner.patch_core(r, ns, name, patch)
    }
    fn record_event(&self, event: crate::framework::EventSpec) {
        self.inner.record_event(event)
    }
}

fn gone(name: &str) -> ClusterUpdate {
    let pod: Pod = serde_json::from_value(
        json!({"metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")}}),
    )
    .unwrap();
    ClusterUpdate::Pod(Change::Delete(Arc::new(pod)))
}

#[tokio::test]
async fn a_preemptor_is_not_retried_while_its_victims_are_being_deleted() {
    let api = Arc::new(SlowDeletes {
        inner: Arc::new(FakeApi::recording()),
        permits: Arc::new(tokio::sync::Semaphore::new(0)),
    });
    let mut s = Scheduler::new(&KubeSchedulerConfiguration::default(), api.clone(), &[]).unwrap();
    s.apply(node("n1", "2", json!({})));
    s.apply(node("n2", "1", json!({})));
    s.apply(pod("low-a", "1", "n1", 10));
    s.apply(pod("low-b", "1", "n1", 10));
    s.apply(pod("filler", "1", "n2", 5000));
    s.apply(pod("vip", "2", "", 1000));
    settle(&mut s).await;
    assert_eq!(s.stats().attempts, 1);
    assert_eq!(s.snapshot().nominations.node_of("uid-vip"), Some("n1"));
    assert_eq!(s.queue().location("uid-vip"), Some(Location::Unschedulable));
    // The first deletion hangs. A pod deletion NodeResourcesFit would retry
    // the preemptor for arrives: it is gated instead of retried.
    s.apply(gone("filler"));
    settle(&mut s).await;
    assert_eq!(s.queue().location("uid-vip"), Some(Location::Gated));
    assert_eq!(s.stats().attempts, 1);
    assert!(api.inner.deletions.lock().unwrap().is_empty());
    // The deletions go through; the victims' deletion events then retry
    // the preemptor, which lands on the freed node.
    api.permits.add_permits(2);
    for _ in 0..50 {
        if api.inner.deletions.lock().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut deleted = api.inner.deletions.lock().unwrap().clone();
    deleted.sort();
    assert_eq!(deleted, ["default/low-a", "default/low-b"]);
    s.apply(gone("low-a"));
    s.apply(gone("low-b"));
    settle(&mut s).await;
    assert_eq!(
        api.inner.bindings(),
        [("default/vip".to_string(), "n1".to_string())]
    );
    assert_eq!(s.stats().attempts, 2);
}
