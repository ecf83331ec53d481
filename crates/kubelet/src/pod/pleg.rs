//! PLEG, the pod lifecycle event generator: relists sandboxes and
//! containers every second (upstream's generic PLEG period) and wakes the
//! worker of every pod whose containers changed state. containerd 1.6 has no
//! CRI container event stream, so relisting is the only source; it also
//! feeds the running pods/containers gauges.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use corten_cri::{Runtime, api};

use super::labels;
use crate::metrics;

/// Upstream's relist period.
pub const RELIST_PERIOD: Duration = Duration::from_secs(1);
/// Upstream's PLEG health threshold (relist older than this: unhealthy).
pub const RELIST_THRESHOLD: Duration = Duration::from_secs(180);

/// When the last relist succeeded (ns since the epoch), for /healthz.
#[derive(Debug, Default)]
pub struct PlegHealth {
    last_relist: AtomicI64,
}

impl PlegHealth {
    /// `Err` with upstream's message when the last relist is too old.
    pub fn check(&self) -> Result<(), String> {
        let last = self.last_relist.load(Ordering::Relaxed);
        let age = corten_cri::now_nanos() - last;
        if last == 0 || age > RELIST_THRESHOLD.as_nanos() as i64 {
            return Err(format!(
                "pleg was last seen active {:?} ago; threshold is {RELIST_THRESHOLD:?}",
                Duration::from_nanos(u64::try_from(age.max(0)).unwrap_or(0))
            ));
        }
        Ok(())
    }
}

type Snapshot = HashMap<String, (String, i32)>;

/// One relist: (sandboxes, containers), each id -> (pod uid, state).
async fn relist(runtime: &Arc<dyn Runtime>) -> corten_cri::Result<(Snapshot, Snapshot)> {
    let sandboxes = runtime.list_pod_sandbox(None).await?;
    let containers = runtime.list_containers(None).await?;
    let uid = |l: &HashMap<String, String>| l.get(labels::POD_UID).cloned().unwrap_or_default();
    Ok((
        sandboxes
            .iter()
            .map(|s| (s.id.clone(), (uid(&s.labels), s.state)))
            .collect(),
        containers
            .iter()
            .map(|c| (c.id.clone(), (uid(&c.labels), c.state)))
            .collect(),
    ))
}

fn changed_pods(old: &Snapshot, new: &Snapshot, out: &mut Vec<String>) {
    for (id, (uid, state)) in new {
        if old.get(id).map(|(_, s)| s) != Some(state) {
            out.push(uid.clone());
        }
    }
    for (id, (uid, _)) in old {
        if !new.contains_key(id) {
            out.push(uid.clone());
        }
    }
}

/// Relists until `shutdown`, calling `event(uid)` for every pod that changed.
pub async fn run(
    node: String,
    runtime: Arc<dyn Runtime>,
    health: Arc<PlegHealth>,
    event: impl Fn(&str) + Send + 'static,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut sandboxes = Snapshot::new();
    let mut containers = Snapshot::new();
    let mut ticker = tokio::time::interval(RELIST_PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = &mut shutdown => return,
        }
        match relist(&runtime).await {
            Ok((new_sandboxes, new_containers)) => {
                health
                    .last_relist
                    .store(corten_cri::now_nanos(), Ordering::Relaxed);
                let mut changed = Vec::new();
                changed_pods(&sandboxes, &new_sandboxes, &mut changed);
                changed_pods(&containers, &new_containers, &mut changed);
                changed.sort();
                changed.dedup();
                for uid in changed.iter().filter(|u| !u.is_empty()) {
                    event(uid);
                }
                let ready = new_sandboxes
                    .values()
                    .filter(|(_, s)| *s == api::PodSandboxState::SandboxReady as i32)
                    .count();
                let mut by_state: HashMap<&'static str, i64> = HashMap::new();
                for (_, state) in new_containers.values() {
                    let name = match api::ContainerState::try_from(*state) {
                        Ok(api::ContainerState::ContainerCreated) => "created",
                        Ok(api::ContainerState::ContainerRunning) => "running",
                        Ok(api::ContainerState::ContainerExited) => "exited",
                        _ => "unknown",
                    };
                    *by_state.entry(name).or_default() += 1;
                }
                metrics::set_running(&node, ready, &by_state);
                sandboxes = new_sandboxes;
                containers = new_containers;
            }
            Err(err) => tracing::warn!(error = %err, "PLEG relist failed"),
        }
    }
}
