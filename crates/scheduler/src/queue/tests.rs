//! Queue tests on tokio's paused clock.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::{Instant, advance};

use super::*;
use crate::framework::events::known;
use crate::framework::{ActionType, Code};

fn pod(uid: &str, priority: i32) -> Arc<PodInfo> {
    Arc::new(PodInfo::new(Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": uid, "namespace": "ns", "uid": uid},
            "spec": {"containers": [], "priority": priority}
        }))
        .unwrap(),
    )))
}

fn queue() -> SchedulingQueue {
    SchedulingQueue::new(QueueConfig {
        pop_from_backoff: false,
        ..QueueConfig::default()
    })
}

fn fail(q: &mut SchedulingQueue, mut info: QueuedPodInfo, plugin: &'static str) {
    info.unschedulable_plugins.insert(plugin);
    q.requeue_failed(info, Instant::now());
}

#[tokio::test(start_paused = true)]
async fn active_queue_orders_by_priority_then_time() {
    let mut q = queue();
    q.add(pod("low", 1), &Status::success(), Instant::now());
    advance(Duration::from_millis(1)).await;
    q.add(pod("high", 10), &Status::success(), Instant::now());
    advance(Duration::from_millis(1)).await;
    q.add(pod("low2", 1), &Status::success(), Instant::now());
    let order: Vec<String> =
        std::iter::from_fn(|| q.pop(Instant::now()).map(|i| i.pod.uid.clone())).collect();
    assert_eq!(order, ["high", "low", "low2"]);
    assert_eq!(q.sizes()[4], 3);
}

#[tokio::test(start_paused = true)]
async fn backoff_doubles_up_to_the_maximum() {
    let q = queue();
    let d: Vec<u64> = (1..=6).map(|a| q.backoff_duration(a).as_secs()).collect();
    assert_eq!(d, [1, 2, 4, 8, 10, 10]);
}

#[tokio::test(start_paused = true)]
async fn errors_back_off_and_return() {
    let mut q = queue();
    q.add(pod("p", 0), &Status::success(), Instant::now());
    let mut info = q.pop(Instant::now()).unwrap();
    info.failed_with_error = true;
    q.requeue_failed(info, Instant::now());
    assert_eq!(q.location("p"), Some(Location::Backoff));
    assert!(q.pop(Instant::now()).is_none());
    advance(Duration::from_millis(999)).await;
    assert!(q.pop(Instant::now()).is_none());
    advance(Duration::from_millis(2)).await;
    let info = q.pop(Instant::now()).unwrap();
    assert_eq!(info.attempts, 2);
    // Second failure: 2s.
    let mut info = info;
    info.failed_with_error = true;
    q.requeue_failed(info, Instant::now());
    advance(Duration::from_millis(1500)).await;
    assert!(q.pop(Instant::now()).is_none());
    advance(Duration::from_millis(600)).await;
    assert!(q.pop(Instant::now()).is_some());
}

#[tokio::test(start_paused = true)]
async fn unschedulable_pods_move_on_relevant_events_only() {
    let mut q = queue();
    q.set_registrations(
        "default-scheduler",
        vec![(
            "NodeResourcesFit",
            ClusterEventWithHint::always(EventResource::Node, ActionType::ADD),
        )],
    );
    q.add(pod("p", 0), &Status::success(), Instant::now());
    let info = q.pop(Instant::now()).unwrap();
    fail(&mut q, info, "NodeResourcesFit");
    assert_eq!(q.location("p"), Some(Location::Unschedulable));
    // An event no rejecting plugin registered for changes nothing.
    assert_eq!(
        q.move_on_event(
            &known::ASSIGNED_POD_ADD,
            &EventObjects::Other,
            Instant::now()
        ),
        0
    );
    // A node add does; the pod is still backing off (1s).
    assert_eq!(
        q.move_on_event(&known::NODE_ADD, &EventObjects::Other, Instant::now()),
        1
    );
    assert_eq!(q.location("p"), Some(Location::Backoff));
    advance(Duration::from_secs(1)).await;
    assert_eq!(q.pop(Instant::now()).unwrap().pod.uid, "p");
}

#[tokio::test(start_paused = true)]
async fn hints_can_skip_events() {
    let mut q = queue();
    q.set_registrations(
        "default-scheduler",
        vec![(
            "TaintToleration",
            ClusterEventWithHint::with_hint(EventResource::Node, ActionType::ADD, |_, _| {
                QueueingHint::Skip
            }),
        )],
    );
    q.add(pod("p", 0), &Status::success(), Instant::now());
    let info = q.pop(Instant::now()).unwrap();
    fail(&mut q, info, "TaintToleration");
    assert_eq!(
        q.move_on_event(&known::NODE_ADD, &EventObjects::Other, Instant::now()),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn leftover_unschedulable_pods_are_flushed_after_five_minutes() {
    let mut q = queue();
    q.add(pod("p", 0), &Status::success(), Instant::now());
    let info = q.pop(Instant::now()).unwrap();
    fail(&mut q, info, "NodeAffinity");
    advance(Duration::from_secs(299)).await;
    assert_eq!(q.flush_unschedulable_leftover(Instant::now()), 0);
    advance(Duration::from_secs(2)).await;
    assert_eq!(q.flush_unschedulable_leftover(Instant::now()), 1);
    assert_eq!(q.location("p"), Some(Location::Active));
}

#[tokio::test(start_paused = true)]
async fn gated_pods_wait_for_their_gates() {
    let mut q = queue();
    let gate =
        Status::new(Code::UnschedulableAndUnresolvable, "waiting").with_plugin("SchedulingGates");
    q.add(pod("p", 0), &gate, Instant::now());
    assert_eq!(q.location("p"), Some(Location::Gated));
    assert!(q.pop(Instant::now()).is_none());
    assert_eq!(q.sizes()[3], 1);
    q.update(pod("p", 0), &Status::success(), Instant::now());
    assert_eq!(q.location("p"), Some(Location::Active));
    assert!(q.pop(Instant::now()).is_some());
}

#[tokio::test(start_paused = true)]
async fn pop_from_backoff_when_idle() {
    let mut q = SchedulingQueue::new(QueueConfig::default());
    q.add(pod("p", 0), &Status::success(), Instant::now());
    let info = q.pop(Instant::now()).unwrap();
    fail(&mut q, info, "NodeResourcesFit");
    q.move_on_event(&known::FORCE_ACTIVATE, &EventObjects::Other, Instant::now());
    assert_eq!(q.location("p"), Some(Location::Backoff));
    // The active queue is empty: the pod need not wait for its backoff.
    assert!(q.has_active());
    assert_eq!(q.pop(Instant::now()).unwrap().pod.uid, "p");
}

#[tokio::test(start_paused = true)]
async fn deleted_in_flight_pods_are_not_requeued() {
    let mut q = queue();
    q.add(pod("p", 0), &Status::success(), Instant::now());
    let info = q.pop(Instant::now()).unwrap();
    q.delete("p");
    q.requeue_failed(info, Instant::now());
    assert!(!q.contains("p"));
    assert_eq!(q.sizes(), [0; 5]);
}

/// A PreEnqueue check that holds back the pods whose UIDs are listed.
fn holding(q: &mut SchedulingQueue) -> Arc<std::sync::Mutex<Vec<String>>> {
    let held = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let check = held.clone();
    q.set_pre_enqueue(
        "default-scheduler",
        Arc::new(move |p: &PodInfo| {
            if check.lock().unwrap().contains(&p.uid) {
                Status::unresolvable("waiting for the preemption for this pod to be finished")
                    .with_plugin("DefaultPreemption")
            } else {
                Status::success()
            }
        }),
    );
    held
}

#[tokio::test(start_paused = true)]
async fn a_held_pod_is_gated_when_an_event_would_move_it() {
    let mut q = queue();
    let held = holding(&mut q);
    q.add(pod("vip", 1000), &Status::success(), Instant::now());
    let info = q.pop(Instant::now()).unwrap();
    fail(&mut q, info, "NodeResourcesFit");
    assert_eq!(q.location("vip"), Some(Location::Unschedulable));
    // Preemption started: an event that NodeResourcesFit cares about
    // arrives, but the pod must not be retried yet.
    held.lock().unwrap().push("vip".into());
    advance(Duration::from_secs(2)).await;
    let moved = q.move_on_event(&known::NODE_ADD, &EventObjects::Other, Instant::now());
    assert_eq!(moved, 0);
    assert_eq!(q.location("vip"), Some(Location::Gated));
    assert_eq!(q.sizes()[3], 1);
    assert!(q.pop(Instant::now()).is_none());
    // Still held: the next event leaves it gated.
    q.move_on_event(&known::NODE_ADD, &EventObjects::Other, Instant::now());
    assert_eq!(q.location("vip"), Some(Location::Gated));
    // Released: the next helpful event (a victim's deletion) moves it.
    held.lock().unwrap().clear();
    let moved = q.move_on_event(&known::NODE_ADD, &EventObjects::Other, Instant::now());
    assert_eq!(moved, 1);
    assert_eq!(q.location("vip"), Some(Location::Active));
    assert_eq!(q.pop(Instant::now()).unwrap().attempts, 2);
}

#[tokio::test(start_paused = true)]
async fn a_held_pod_does_not_enter_backoff_or_get_popped_early() {
    let mut q = SchedulingQueue::new(QueueConfig::default());
    let held = holding(&mut q);
    q.add(pod("vip", 1000), &Status::success(), Instant::now());
    let mut info = q.pop(Instant::now()).unwrap();
    info.failed_with_error = true;
    held.lock().unwrap().push("vip".into());
    q.requeue_failed(info, Instant::now());
    assert_eq!(q.location("vip"), Some(Location::Gated));
    // SchedulerPopFromBackoffQ would pop a backing-off pod at once.
    assert!(q.pop(Instant::now()).is_none());
    held.lock().unwrap().clear();
    assert!(q.activate("vip", Instant::now()));
    assert!(q.pop(Instant::now()).is_some());
}

#[tokio::test(start_paused = true)]
async fn gated_pods_without_an_attempt_ignore_events() {
    let mut q = queue();
    q.add(
        pod("gated", 0),
        &Status::unresolvable("waiting for scheduling gates: [a]").with_plugin("SchedulingGates"),
        Instant::now(),
    );
    q.move_on_event(&known::NODE_ADD, &EventObjects::Other, Instant::now());
    q.flush_unschedulable_leftover(Instant::now() + Duration::from_secs(600));
    assert!(!q.activate("gated", Instant::now()));
    assert_eq!(q.location("gated"), Some(Location::Gated));
}
