//! The scheduling queue (upstream `PriorityQueue`): an active queue ordered
//! by priority then enqueue time, a backoff queue ordered by backoff
//! expiry, the unschedulable pods waiting for a cluster event that may
//! help them, and the gated pods waiting for their PreEnqueue plugins.
//!
//! Pure data structure: the caller passes `now`, so backoff is testable
//! with any clock. Heaps are lazy: an entry whose sequence number no longer
//! matches the pod's is skipped when popped.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::framework::events::known;
use crate::framework::{
    ClusterEvent, ClusterEventWithHint, EventObjects, EventResource, PodInfo, QueueingHint, Status,
};
use crate::metrics;

/// A pending pod and its scheduling history.
#[derive(Debug, Clone)]
pub struct QueuedPodInfo {
    /// The pod.
    pub pod: Arc<PodInfo>,
    /// When it was last added to a queue.
    pub timestamp: Instant,
    /// When it first became schedulable (not gated).
    pub initial_attempt: Option<Instant>,
    /// Scheduling attempts so far.
    pub attempts: u32,
    /// Plugins that rejected it in its last attempt.
    pub unschedulable_plugins: BTreeSet<&'static str>,
    /// Plugins that returned Pending in its last attempt.
    pub pending_plugins: BTreeSet<&'static str>,
    /// The PreEnqueue plugin gating it, if gated.
    pub gated_by: Option<&'static str>,
    /// Its last attempt ended with an error (not a rejection).
    pub failed_with_error: bool,
}

impl QueuedPodInfo {
    fn new(pod: Arc<PodInfo>, now: Instant) -> Self {
        QueuedPodInfo {
            pod,
            timestamp: now,
            initial_attempt: None,
            attempts: 0,
            unschedulable_plugins: BTreeSet::new(),
            pending_plugins: BTreeSet::new(),
            gated_by: None,
            failed_with_error: false,
        }
    }
}

/// Where a pending pod is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// In the active queue.
    Active,
    /// Backing off.
    Backoff,
    /// Waiting for a cluster event.
    Unschedulable,
    /// Blocked by a PreEnqueue plugin.
    Gated,
    /// Being scheduled (popped).
    InFlight,
}

#[derive(Debug)]
struct Entry {
    info: QueuedPodInfo,
    location: Location,
    seq: u64,
}

/// Queue settings.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// `podInitialBackoffSeconds`.
    pub initial_backoff: Duration,
    /// `podMaxBackoffSeconds`.
    pub max_backoff: Duration,
    /// `--pod-max-in-unschedulable-pods-duration` (5m).
    pub max_in_unschedulable: Duration,
    /// Pop from the backoff queue when the active queue is empty
    /// (SchedulerPopFromBackoffQ, on by default in 1.33).
    pub pop_from_backoff: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            max_in_unschedulable: Duration::from_secs(300),
            pop_from_backoff: true,
        }
    }
}

/// Event registrations of one profile: (plugin, event with hint).
pub type Registrations = Vec<(&'static str, ClusterEventWithHint)>;

/// A profile's PreEnqueue plugins, run whenever a pod would leave the
/// unschedulable pods or enter the backoff queue (upstream
/// `runPreEnqueuePlugins` in `moveToActiveQ`/`moveToBackoffQ`).
pub type PreEnqueueFn = Arc<dyn Fn(&PodInfo) -> Status + Send + Sync>;

#[derive(Default)]
struct PreEnqueues(HashMap<String, PreEnqueueFn>);

impl std::fmt::Debug for PreEnqueues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// The scheduling queue.
#[derive(Debug)]
pub struct SchedulingQueue {
    config: QueueConfig,
    pods: HashMap<String, Entry>,
    active: BinaryHeap<(i32, Reverse<Instant>, Reverse<u64>, String)>,
    backoff: BinaryHeap<Reverse<(Instant, u64, String)>>,
    counts: [usize; 5],
    seq: u64,
    registrations: HashMap<String, Registrations>,
    pre_enqueue: PreEnqueues,
}

fn slot(location: Location) -> usize {
    match location {
        Location::Active => 0,
        Location::Backoff => 1,
        Location::Unschedulable => 2,
        Location::Gated => 3,
        Location::InFlight => 4,
    }
}

fn queue_label(location: Location) -> &'static str {
    match location {
        Location::Active => "active",
        Location::Backoff => "backoff",
        Location::Unschedulable => "unschedulable",
        Location::Gated => "gated",
        Location::InFlight => "inflight",
    }
}

impl SchedulingQueue {
    /// An empty queue.
    pub fn new(config: QueueConfig) -> Self {
        SchedulingQueue {
            config,
            pods: HashMap::new(),
            active: BinaryHeap::new(),
            backoff: BinaryHeap::new(),
            counts: [0; 5],
            seq: 0,
            registrations: HashMap::new(),
            pre_enqueue: PreEnqueues::default(),
        }
    }

    /// Sets the PreEnqueue check of profile `profile`.
    pub fn set_pre_enqueue(&mut self, profile: &str, check: PreEnqueueFn) {
        self.pre_enqueue.0.insert(profile.to_string(), check);
    }

    fn gate(&self, pod: &PodInfo) -> Status {
        self.pre_enqueue
            .0
            .get(&pod.scheduler_name)
            .map_or_else(Status::success, |check| check(pod))
    }

    /// Moves a pod out of the unschedulable pods (or the gated ones, or
    /// backoff): to the gated pods if a PreEnqueue plugin holds it back,
    /// else to the backoff queue while its backoff runs, else to the active
    /// queue (or to the active queue at once with `skip_backoff`).
    fn release(&mut self, uid: &str, now: Instant, event: &str, skip_backoff: bool) {
        let Some(entry) = self.pods.get(uid) else {
            return;
        };
        let gate = self.gate(&entry.info.pod);
        let backing_off = !skip_backoff && self.backoff_expiry(&entry.info) > now;
        let location = entry.location;
        let Some(entry) = self.pods.get_mut(uid) else {
            return;
        };
        if !gate.is_success() {
            entry.info.gated_by = Some(gate.plugin());
            if location != Location::Gated {
                self.place(uid, Location::Gated, event);
            }
            return;
        }
        entry.info.gated_by = None;
        let target = if backing_off {
            Location::Backoff
        } else {
            Location::Active
        };
        self.place(uid, target, event);
    }

    /// Whether `entry` waits for cluster events: unschedulable, or gated
    /// after an attempt (a pod gated since its creation waits for its own
    /// update instead).
    fn awaits_events(entry: &Entry) -> bool {
        match entry.location {
            Location::Unschedulable => true,
            Location::Gated => entry.info.attempts > 0,
            _ => false,
        }
    }

    /// Sets the event registrations of profile `profile`.
    pub fn set_registrations(&mut self, profile: &str, registrations: Registrations) {
        self.registrations
            .insert(profile.to_string(), registrations);
    }

    /// The backoff of a pod after `attempts` attempts.
    pub fn backoff_duration(&self, attempts: u32) -> Duration {
        let mut d = self.config.initial_backoff;
        for _ in 1..attempts {
            if d > self.config.max_backoff.saturating_sub(d) {
                return self.config.max_backoff;
            }
            d += d;
        }
        d.min(self.config.max_backoff)
    }

    fn backoff_expiry(&self, info: &QueuedPodInfo) -> Instant {
        info.timestamp + self.backoff_duration(info.attempts)
    }

    fn place(&mut self, uid: &str, location: Location, event: &str) {
        self.seq += 1;
        let seq = self.seq;
        let Some(entry) = self.pods.get_mut(uid) else {
            return;
        };
        self.counts[slot(entry.location)] = self.counts[slot(entry.location)].saturating_sub(1);
        entry.location = location;
        entry.seq = seq;
        self.counts[slot(location)] += 1;
        let priority = entry.info.pod.priority;
        let timestamp = entry.info.timestamp;
        let attempts = entry.info.attempts;
        match location {
            Location::Active => {
                self.active
                    .push((priority, Reverse(timestamp), Reverse(seq), uid.to_string()))
            }
            Location::Backoff => {
                let expiry = timestamp + self.backoff_duration(attempts);
                self.backoff.push(Reverse((expiry, seq, uid.to_string())));
            }
            _ => {}
        }
        if location != Location::InFlight && !event.is_empty() {
            metrics::incoming_pod(queue_label(location), event);
        }
    }

    /// Adds a new pending pod; `gate` is its PreEnqueue verdict.
    pub fn add(&mut self, pod: Arc<PodInfo>, gate: &Status, now: Instant) {
        let uid = pod.uid.clone();
        if self.pods.contains_key(&uid) {
            self.update(pod, gate, now);
            return;
        }
        let mut info = QueuedPodInfo::new(pod, now);
        let location = if gate.is_success() {
            info.initial_attempt = Some(now);
            Location::Active
        } else {
            info.gated_by = Some(gate.plugin());
            Location::Gated
        };
        self.pods.insert(
            uid.clone(),
            Entry {
                info,
                location: Location::InFlight,
                seq: 0,
            },
        );
        self.counts[slot(Location::InFlight)] += 1;
        self.place(&uid, location, "PodAdd");
    }

    /// A pending pod changed.
    pub fn update(&mut self, pod: Arc<PodInfo>, gate: &Status, now: Instant) {
        let uid = pod.uid.clone();
        let Some(entry) = self.pods.get_mut(&uid) else {
            self.add(pod, gate, now);
            return;
        };
        let old = std::mem::replace(&mut entry.info.pod, pod.clone());
        let location = entry.location;
        match location {
            Location::Gated if gate.is_success() => {
                entry.info.gated_by = None;
                entry.info.timestamp = now;
                entry.info.initial_attempt.get_or_insert(now);
                self.place(&uid, Location::Active, "UpdatePodSchedulingGatesEliminated");
            }
            Location::Gated => entry.info.gated_by = Some(gate.plugin()),
            Location::Unschedulable if spec_changed(&old, &pod) => {
                self.release(&uid, now, "PodUpdate", false);
            }
            // Re-push so a changed priority takes effect.
            Location::Active | Location::Backoff => self.place(&uid, location, ""),
            _ => {}
        }
    }

    /// The pod was deleted, or bound by someone else.
    pub fn delete(&mut self, uid: &str) {
        if let Some(entry) = self.pods.remove(uid) {
            self.counts[slot(entry.location)] = self.counts[slot(entry.location)].saturating_sub(1);
        }
    }

    /// Whether the pod is known to the queue.
    pub fn contains(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    /// Where the pod is.
    pub fn location(&self, uid: &str) -> Option<Location> {
        self.pods.get(uid).map(|e| e.location)
    }

    /// The latest version of a queued pod.
    pub fn pod(&self, uid: &str) -> Option<&Arc<PodInfo>> {
        self.pods.get(uid).map(|e| &e.info.pod)
    }

    fn pop_active(&mut self) -> Option<String> {
        while let Some((_, _, Reverse(seq), uid)) = self.active.pop() {
            if self
                .pods
                .get(&uid)
                .is_some_and(|e| e.seq == seq && e.location == Location::Active)
            {
                return Some(uid);
            }
        }
        None
    }

    fn pop_backoff_now(&mut self) -> Option<String> {
        let mut skipped = Vec::new();
        let mut found = None;
        while let Some(Reverse((expiry, seq, uid))) = self.backoff.pop() {
            let Some(entry) = self.pods.get(&uid) else {
                continue;
            };
            if entry.seq != seq || entry.location != Location::Backoff {
                continue;
            }
            if entry.info.failed_with_error {
                skipped.push(Reverse((expiry, seq, uid)));
                continue;
            }
            found = Some(uid);
            break;
        }
        self.backoff.extend(skipped);
        found
    }

    /// The next pod to schedule, if any.
    pub fn pop(&mut self, now: Instant) -> Option<QueuedPodInfo> {
        self.flush_backoff_completed(now);
        let uid = match self.pop_active() {
            Some(uid) => uid,
            None if self.config.pop_from_backoff => self.pop_backoff_now()?,
            None => return None,
        };
        self.place(&uid, Location::InFlight, "");
        let entry = self.pods.get_mut(&uid)?;
        entry.info.attempts += 1;
        entry.info.initial_attempt.get_or_insert(now);
        Some(entry.info.clone())
    }

    /// The popped pod was scheduled (or dropped): forget it.
    pub fn done(&mut self, uid: &str) {
        if self
            .pods
            .get(uid)
            .is_some_and(|e| e.location == Location::InFlight)
        {
            self.delete(uid);
        }
    }

    /// A popped pod failed: back to the unschedulable pods (rejected by
    /// plugins) or the backoff queue (errors, or rejected without a known
    /// plugin).
    pub fn requeue_failed(&mut self, mut info: QueuedPodInfo, now: Instant) {
        let uid = info.pod.uid.clone();
        let Some(entry) = self.pods.get_mut(&uid) else {
            return;
        };
        // Keep the newest version of the pod (an update may have arrived).
        info.pod = entry.info.pod.clone();
        info.timestamp = now;
        entry.info = info;
        let rejected_by_plugins =
            !entry.info.unschedulable_plugins.is_empty() || !entry.info.pending_plugins.is_empty();
        if rejected_by_plugins && !entry.info.failed_with_error {
            self.place(&uid, Location::Unschedulable, "ScheduleAttemptFailure");
            return;
        }
        // Into backoff, which may be popped early: PreEnqueue first.
        let pod = entry.info.pod.clone();
        let gate = self.gate(&pod);
        if gate.is_success() {
            self.place(&uid, Location::Backoff, "ScheduleAttemptFailure");
        } else {
            if let Some(entry) = self.pods.get_mut(&uid) {
                entry.info.gated_by = Some(gate.plugin());
            }
            self.place(&uid, Location::Gated, "ScheduleAttemptFailure");
        }
    }

    fn worth_requeuing(
        &self,
        info: &QueuedPodInfo,
        event: &ClusterEvent,
        objects: &EventObjects<'_>,
    ) -> bool {
        if event.resource == EventResource::WildCard {
            return true;
        }
        let rejectors: Vec<&'static str> = info
            .unschedulable_plugins
            .iter()
            .chain(info.pending_plugins.iter())
            .chain(info.gated_by.iter())
            .copied()
            .collect();
        if rejectors.is_empty() {
            return true;
        }
        let Some(registrations) = self.registrations.get(&info.pod.scheduler_name) else {
            return true;
        };
        registrations.iter().any(|(plugin, registration)| {
            rejectors.contains(plugin)
                && registration.event.covers(event)
                && registration
                    .hint
                    .as_ref()
                    .is_none_or(|hint| hint(&info.pod, objects) == QueueingHint::Queue)
        })
    }

    /// Moves the unschedulable pods that `event` may help to the active or
    /// backoff queue. Returns how many moved.
    pub fn move_on_event(
        &mut self,
        event: &ClusterEvent,
        objects: &EventObjects<'_>,
        now: Instant,
    ) -> usize {
        if self.counts[slot(Location::Unschedulable)] == 0
            && self.counts[slot(Location::Gated)] == 0
        {
            return 0;
        }
        let movers: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, e)| {
                Self::awaits_events(e) && self.worth_requeuing(&e.info, event, objects)
            })
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in &movers {
            self.release(uid, now, event.label, false);
        }
        movers
            .iter()
            .filter(|uid| self.location(uid) != Some(Location::Gated))
            .count()
    }

    /// Moves pods whose backoff expired to the active queue.
    pub fn flush_backoff_completed(&mut self, now: Instant) {
        while let Some(Reverse((expiry, seq, uid))) = self.backoff.peek().cloned() {
            if expiry > now {
                break;
            }
            self.backoff.pop();
            if self
                .pods
                .get(&uid)
                .is_some_and(|e| e.seq == seq && e.location == Location::Backoff)
            {
                self.place(&uid, Location::Active, "BackoffComplete");
            }
        }
    }

    /// Retries pods that stayed unschedulable longer than
    /// `podMaxInUnschedulablePodsDuration`.
    pub fn flush_unschedulable_leftover(&mut self, now: Instant) -> usize {
        let limit = self.config.max_in_unschedulable;
        let stale: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, e)| {
                Self::awaits_events(e) && now.saturating_duration_since(e.info.timestamp) > limit
            })
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in &stale {
            self.release(uid, now, known::UNSCHEDULABLE_TIMEOUT.label, false);
        }
        stale.len()
    }

    /// Retries a waiting pod now (upstream `Activate`): from the
    /// unschedulable pods, the gated ones after a failed attempt, or the
    /// backoff queue, through PreEnqueue, to the active queue. Returns
    /// whether it is now active.
    pub fn activate(&mut self, uid: &str, now: Instant) -> bool {
        let Some(entry) = self.pods.get(uid) else {
            return false;
        };
        if !(Self::awaits_events(entry) || entry.location == Location::Backoff) {
            return false;
        }
        self.release(uid, now, known::FORCE_ACTIVATE.label, true);
        self.location(uid) == Some(Location::Active)
    }

    /// When the earliest backoff expires (for sleeping until then).
    pub fn next_backoff_expiry(&self) -> Option<Instant> {
        self.backoff.peek().map(|Reverse((expiry, _, _))| *expiry)
    }

    /// Whether a pod can be popped now.
    pub fn has_active(&self) -> bool {
        self.counts[slot(Location::Active)] > 0
            || (self.config.pop_from_backoff
                && self
                    .pods
                    .values()
                    .any(|e| e.location == Location::Backoff && !e.info.failed_with_error))
    }

    /// (active, backoff, unschedulable, gated, in flight) sizes.
    pub fn sizes(&self) -> [usize; 5] {
        self.counts
    }

    /// Publishes queue sizes and per-plugin unschedulable counts.
    pub fn report_metrics(&self) {
        metrics::pending_pods(
            self.counts[0],
            self.counts[1],
            self.counts[2],
            self.counts[3],
        );
        let mut per_plugin: HashMap<(&'static str, &str), usize> = HashMap::new();
        for (profile, registrations) in &self.registrations {
            for (plugin, _) in registrations {
                per_plugin.insert((plugin, profile.as_str()), 0);
            }
        }
        for e in self
            .pods
            .values()
            .filter(|e| e.location == Location::Unschedulable)
        {
            for plugin in &e.info.unschedulable_plugins {
                *per_plugin
                    .entry((plugin, e.info.pod.scheduler_name.as_str()))
                    .or_insert(0) += 1;
            }
        }
        for ((plugin, profile), n) in per_plugin {
            metrics::unschedulable_pods(plugin, profile, n);
        }
    }

    /// Every pending pod (for nominations and relists).
    pub fn pending(&self) -> impl Iterator<Item = &Arc<PodInfo>> + '_ {
        self.pods.values().map(|e| &e.info.pod)
    }
}

/// Whether an update of a pending pod can change its scheduling (anything
/// but status and bookkeeping metadata).
fn spec_changed(old: &PodInfo, new: &PodInfo) -> bool {
    old.pod.spec != new.pod.spec
        || old.pod.metadata.labels != new.pod.metadata.labels
        || old.pod.metadata.annotations != new.pod.metadata.annotations
}

#[cfg(test)]
mod tests;
