//! Leader election over a coordination.k8s.io/v1 Lease, with client-go's
//! algorithm and timings, so Corten and upstream instances interoperate.
//!
//! - **Acquire**: every `retry_period` (jittered by up to 1.2x), read the
//!   Lease; take it if it does not exist, has no holder, or its record has
//!   not changed for `lease_duration` *as observed locally* (no clock
//!   comparison between hosts). Taking it bumps `leaseTransitions`.
//! - **Renew**: every `retry_period`, write a new `renewTime`; if no renewal
//!   succeeds within `renew_deadline`, leadership is lost and the process
//!   must stop its controllers and exit (upstream: "leaderelection lost").
//! - **Release** (graceful shutdown): write an empty `holderIdentity` with
//!   `leaseDurationSeconds: 1`, so a standby takes over at its next retry
//!   instead of waiting for the lease to expire.
//!
//! The holder identity is `<hostname>_<uuid>` as upstream's.
//!
//! Shared by kube-scheduler and kube-controller-manager; each gives its own
//! way of recording the `LeaderElection` events ([`EventSink`]).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::FutureExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Client, Resource};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Records a `LeaderElection` event (`<identity> became leader`, `<identity>
/// stopped leading`) about the Lease (`reference`).
pub type EventSink = Arc<dyn Fn(ObjectReference, String) + Send + Sync>;

/// `leader_election_master_status{name}`: 1 while this process leads the
/// Lease `name` (client-go's metric), in the default registry.
pub fn leader_election_master_status() -> &'static prometheus::IntGaugeVec {
    static METRIC: OnceLock<prometheus::IntGaugeVec> = OnceLock::new();
    METRIC.get_or_init(|| {
        let gauge = prometheus::IntGaugeVec::new(
            prometheus::Opts::new(
                "leader_election_master_status",
                "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease. Please make sure to group by name.",
            ),
            &["name"],
        )
        .expect("valid metric");
        if let Err(err) = prometheus::register(Box::new(gauge.clone())) {
            tracing::warn!(error = %err, "registering leader_election_master_status");
        }
        gauge
    })
}

fn set_leading(name: &str, leading: bool) {
    leader_election_master_status()
        .with_label_values(&[name])
        .set(i64::from(leading));
}

/// client-go's `JitterFactor` for the acquire loop.
pub const JITTER_FACTOR: f64 = 1.2;
/// Slack the health check allows past the lease duration (upstream's
/// `NewLeaderHealthzAdaptor(20s)`).
pub const HEALTHZ_TIMEOUT: Duration = Duration::from_secs(20);

/// `--leader-elect-*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderElectionConfig {
    /// How long a lease stays valid without renewal (15s).
    pub lease_duration: Duration,
    /// How long the leader keeps retrying a renewal before giving up (10s).
    pub renew_deadline: Duration,
    /// Pause between attempts (2s).
    pub retry_period: Duration,
    /// Namespace of the Lease (`kube-system`).
    pub namespace: String,
    /// Name of the Lease (`kube-scheduler`, `kube-controller-manager`).
    pub name: String,
}

/// The Lease fields leader election uses (client-go's `LeaderElectionRecord`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaderElectionRecord {
    /// Who holds it; empty when released.
    pub holder_identity: String,
    /// Validity in seconds.
    pub lease_duration_seconds: i32,
    /// When the current holder acquired it.
    pub acquire_time: Option<MicroTime>,
    /// When it was last renewed.
    pub renew_time: Option<MicroTime>,
    /// How often it changed hands.
    pub leader_transitions: i32,
}

impl LeaderElectionRecord {
    fn from_lease(lease: &Lease) -> Self {
        let spec = lease.spec.clone().unwrap_or_default();
        Self {
            holder_identity: spec.holder_identity.unwrap_or_default(),
            lease_duration_seconds: spec.lease_duration_seconds.unwrap_or(0),
            acquire_time: spec.acquire_time,
            renew_time: spec.renew_time,
            leader_transitions: spec.lease_transitions.unwrap_or(0),
        }
    }

    fn to_spec(&self) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.holder_identity.clone()),
            lease_duration_seconds: Some(self.lease_duration_seconds),
            acquire_time: self.acquire_time.clone(),
            renew_time: self.renew_time.clone(),
            lease_transitions: Some(self.leader_transitions),
            ..LeaseSpec::default()
        }
    }
}

/// The holder identity upstream uses: `<hostname>_<uuid>`.
pub fn default_identity() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}_{}", uuid::Uuid::new_v4())
}

/// The state the `leaderElection` health check reads.
#[derive(Debug, Clone, Default)]
pub struct LeaderHealth {
    inner: Arc<Mutex<Option<Instant>>>,
}

impl LeaderHealth {
    fn set(&self, last_renew: Option<Instant>) {
        *self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = last_renew;
    }

    /// Fails when this process leads but has not renewed for longer than
    /// the lease duration plus [`HEALTHZ_TIMEOUT`].
    pub fn check(&self, lease_duration: Duration, lease_name: &str) -> Result<(), String> {
        let last = *self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match last {
            Some(at) if at.elapsed() > lease_duration + HEALTHZ_TIMEOUT => Err(format!(
                "failed election to renew leadership on lease {lease_name}"
            )),
            _ => Ok(()),
        }
    }
}

/// Why [`LeaderElector::renew`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewOutcome {
    /// No renewal succeeded within the renew deadline.
    Lost,
    /// Shutdown was asked; the lease is still ours (release it).
    Stopped,
}

#[derive(Debug, Clone)]
struct Observed {
    record: LeaderElectionRecord,
    at: Instant,
}

/// Runs the election for one Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaderElectionConfig,
    identity: String,
    observed: Option<Observed>,
    lease: Option<Lease>,
    reported_leader: Option<String>,
    events: Option<EventSink>,
    health: LeaderHealth,
}

impl std::fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector")
            .field("config", &self.config)
            .field("identity", &self.identity)
            .field("reported_leader", &self.reported_leader)
            .field("events", &self.events.is_some())
            .finish_non_exhaustive()
    }
}

impl LeaderElector {
    /// An elector for `config`'s Lease, competing as `identity`.
    pub fn new(client: Client, config: LeaderElectionConfig, identity: String) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            identity,
            observed: None,
            lease: None,
            reported_leader: None,
            events: None,
            health: LeaderHealth::default(),
        }
    }

    /// Records `LeaderElection` events on the Lease (`<id> became leader`,
    /// `<id> stopped leading`) through `sink`, as upstream does.
    pub fn with_events(mut self, sink: EventSink) -> Self {
        self.events = Some(sink);
        self
    }

    /// The state for the `leaderElection` health check.
    pub fn health(&self) -> LeaderHealth {
        self.health.clone()
    }

    /// This elector's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    fn describe(&self) -> String {
        format!("{}/{}", self.config.namespace, self.config.name)
    }

    /// Whether the last observed record names us.
    pub fn is_leader(&self) -> bool {
        self.observed
            .as_ref()
            .is_some_and(|o| o.record.holder_identity == self.identity)
    }

    fn is_lease_valid(&self, now: Instant) -> bool {
        self.observed.as_ref().is_some_and(|o| {
            let duration =
                Duration::from_secs(u64::try_from(o.record.lease_duration_seconds).unwrap_or(0));
            o.at + duration > now
        })
    }

    fn set_observed(&mut self, record: LeaderElectionRecord) {
        self.observed = Some(Observed {
            record,
            at: Instant::now(),
        });
    }

    /// Tries until the lease is ours (`true`) or `shutdown` fires (`false`).
    pub async fn acquire(&mut self, shutdown: &CancellationToken) -> bool {
        tracing::info!(lease = %self.describe(), identity = %self.identity, "attempting to acquire leader lease");
        loop {
            if shutdown.is_cancelled() {
                return false;
            }
            let acquired = tokio::select! {
                acquired = self.try_acquire_or_renew() => acquired,
                () = shutdown.cancelled() => return false,
            };
            self.report_transition();
            if acquired {
                self.record_event("became leader");
                set_leading(&self.config.name, true);
                self.health.set(Some(Instant::now()));
                tracing::info!(lease = %self.describe(), "successfully acquired lease");
                return true;
            }
            tracing::debug!(lease = %self.describe(), "failed to acquire lease");
            let wait = jitter(self.config.retry_period, JITTER_FACTOR);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.cancelled() => return false,
            }
        }
    }

    /// Keeps renewing until a renewal fails for `renew_deadline`
    /// ([`RenewOutcome::Lost`]) or `shutdown` fires ([`RenewOutcome::Stopped`]).
    pub async fn renew(&mut self, shutdown: &CancellationToken) -> RenewOutcome {
        let outcome = loop {
            let deadline = Instant::now() + self.config.renew_deadline;
            let renewed = loop {
                let attempt = tokio::select! {
                    renewed = tokio::time::timeout_at(deadline, self.try_acquire_or_renew()) => renewed.unwrap_or(false),
                    () = shutdown.cancelled() => break None,
                };
                if attempt {
                    break Some(true);
                }
                let next = Instant::now() + self.config.retry_period;
                if next >= deadline {
                    // client-go's poll gives up once the deadline passes.
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => break Some(false),
                        () = shutdown.cancelled() => break None,
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep_until(next) => {}
                    () = shutdown.cancelled() => break None,
                }
            };
            self.report_transition();
            match renewed {
                None => break RenewOutcome::Stopped,
                Some(true) => {
                    self.health.set(Some(Instant::now()));
                    tracing::trace!(lease = %self.describe(), "successfully renewed lease");
                }
                Some(false) => {
                    tracing::info!(lease = %self.describe(), "failed to renew lease: timed out waiting for the condition");
                    break RenewOutcome::Lost;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.config.retry_period) => {}
                () = shutdown.cancelled() => break RenewOutcome::Stopped,
            }
        };
        self.step_down();
        outcome
    }

    /// Marks this process as no longer leading (metric, health check,
    /// `stopped leading` event); [`LeaderElector::renew`] does it itself.
    pub fn step_down(&mut self) {
        set_leading(&self.config.name, false);
        self.health.set(None);
        self.record_event("stopped leading");
    }

    /// Gives the lease up (empty holder, 1s duration) if we still hold it.
    /// Returns whether the Lease now says so.
    pub async fn release(&mut self) -> bool {
        let deadline = self.config.renew_deadline;
        let release = async {
            let lease = match self.api.get(&self.config.name).await {
                Ok(lease) => lease,
                Err(err) => {
                    tracing::error!(lease = %self.describe(), error = %err, "error retrieving resource lock while releasing");
                    return false;
                }
            };
            let current = LeaderElectionRecord::from_lease(&lease);
            if current.holder_identity != self.identity {
                return true;
            }
            let now = Some(MicroTime(Timestamp::now()));
            let record = LeaderElectionRecord {
                holder_identity: String::new(),
                lease_duration_seconds: 1,
                acquire_time: now.clone(),
                renew_time: now,
                leader_transitions: current.leader_transitions,
            };
            self.lease = Some(lease);
            match self.update(&record).await {
                Ok(()) => {
                    self.set_observed(record);
                    tracing::info!(lease = %self.describe(), "released leader lease");
                    true
                }
                Err(err) => {
                    tracing::error!(lease = %self.describe(), error = %err, "failed to release lock");
                    false
                }
            }
        };
        tokio::time::timeout(deadline, release)
            .await
            .unwrap_or(false)
    }

    /// One round of client-go's `tryAcquireOrRenew`.
    pub async fn try_acquire_or_renew(&mut self) -> bool {
        let now = Some(MicroTime(Timestamp::now()));
        let mut record = LeaderElectionRecord {
            holder_identity: self.identity.clone(),
            lease_duration_seconds: i32::try_from(self.config.lease_duration.as_secs())
                .unwrap_or(i32::MAX),
            acquire_time: now.clone(),
            renew_time: now,
            leader_transitions: 0,
        };

        // 1. The leader's fast path: update what we wrote last time.
        if self.is_leader() && self.is_lease_valid(Instant::now()) && self.lease.is_some() {
            if let Some(observed) = &self.observed {
                record.acquire_time = observed.record.acquire_time.clone();
                record.leader_transitions = observed.record.leader_transitions;
            }
            match self.update(&record).await {
                Ok(()) => {
                    self.set_observed(record);
                    return true;
                }
                Err(err) => {
                    tracing::warn!(lease = %self.describe(), error = %err, "failed to update lock optimistically, falling back to slow path");
                }
            }
        }

        // 2. Read (or create) the Lease.
        let lease = match self.api.get(&self.config.name).await {
            Ok(lease) => lease,
            Err(kube::Error::Api(status)) if status.code == 404 => {
                return match self.create(&record).await {
                    Ok(()) => {
                        self.set_observed(record);
                        true
                    }
                    Err(err) => {
                        tracing::warn!(lease = %self.describe(), error = %err, "error initially creating leader election record");
                        false
                    }
                };
            }
            Err(err) => {
                tracing::warn!(lease = %self.describe(), error = %err, "error retrieving resource lock");
                return false;
            }
        };
        let old = LeaderElectionRecord::from_lease(&lease);
        self.lease = Some(lease);

        // 3. A record that changed restarts the expiry clock.
        if self.observed.as_ref().is_none_or(|o| o.record != old) {
            self.set_observed(old.clone());
        }
        if !old.holder_identity.is_empty()
            && self.is_lease_valid(Instant::now())
            && !self.is_leader()
        {
            tracing::trace!(holder = %old.holder_identity, "lock is held and has not yet expired");
            return false;
        }

        // 4. Take or renew it.
        if self.is_leader() {
            record.acquire_time = old.acquire_time;
            record.leader_transitions = old.leader_transitions;
        } else {
            record.leader_transitions = old.leader_transitions.saturating_add(1);
        }
        match self.update(&record).await {
            Ok(()) => {
                self.set_observed(record);
                true
            }
            Err(err) => {
                tracing::warn!(lease = %self.describe(), error = %err, "failed to update lock");
                false
            }
        }
    }

    async fn create(&mut self, record: &LeaderElectionRecord) -> kube::Result<()> {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.config.name.clone()),
                namespace: Some(self.config.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(record.to_spec()),
        };
        let created = self.api.create(&PostParams::default(), &lease).await?;
        self.lease = Some(created);
        Ok(())
    }

    async fn update(&mut self, record: &LeaderElectionRecord) -> kube::Result<()> {
        let Some(mut lease) = self.lease.clone() else {
            return self.create(record).await;
        };
        lease.spec = Some(record.to_spec());
        let updated = self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await?;
        self.lease = Some(updated);
        Ok(())
    }

    fn report_transition(&mut self) {
        let Some(holder) = self
            .observed
            .as_ref()
            .map(|o| o.record.holder_identity.clone())
        else {
            return;
        };
        if self.reported_leader.as_deref() != Some(holder.as_str()) {
            if !holder.is_empty() {
                tracing::info!(lease = %self.describe(), leader = %holder, "new leader elected");
            }
            self.reported_leader = Some(holder);
        }
    }

    fn record_event(&self, what: &str) {
        let (Some(sink), Some(lease)) = (&self.events, &self.lease) else {
            return;
        };
        let mut reference = lease.object_ref(&());
        reference.kind = Some("Lease".into());
        reference.api_version = Some("coordination.k8s.io/v1".into());
        sink(reference, format!("{} {what}", self.identity));
    }
}

/// `d` plus up to `factor * d`, like `wait.Jitter`.
fn jitter(d: Duration, factor: f64) -> Duration {
    // 53 random bits from a v4 UUID (its low 62 bits are random): good
    // enough for spreading retries.
    let bits = uuid::Uuid::new_v4().as_u128() & ((1u128 << 53) - 1);
    let random = bits as f64 / (1u64 << 53) as f64;
    d + d.mul_f64(random * factor)
}

/// Registers the `leaderElection` check on `/healthz` (and `/livez`,
/// `/readyz`) of `health`.
pub fn add_health_check(
    registry: &crate::health::HealthRegistry,
    health: LeaderHealth,
    config: &LeaderElectionConfig,
) {
    let lease_duration = config.lease_duration;
    let name = config.name.clone();
    registry.add_check("leaderElection", move || {
        let result = health.check(lease_duration, &name);
        async move { result }.boxed()
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_host_underscore_uuid() {
        let id = default_identity();
        let (host, uuid) = id.rsplit_once('_').unwrap();
        assert!(!host.is_empty());
        assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{id}");
        assert_ne!(default_identity(), id);
    }

    #[test]
    fn jitter_stays_within_the_factor() {
        for _ in 0..100 {
            let d = jitter(Duration::from_secs(2), JITTER_FACTOR);
            assert!(
                d >= Duration::from_secs(2) && d <= Duration::from_millis(4400),
                "{d:?}"
            );
        }
    }

    #[test]
    fn records_round_trip_through_lease_specs() {
        let record = LeaderElectionRecord {
            holder_identity: "a_1".into(),
            lease_duration_seconds: 15,
            acquire_time: Some(MicroTime(Timestamp::from_second(1_700_000_000).unwrap())),
            renew_time: Some(MicroTime(Timestamp::from_second(1_700_000_010).unwrap())),
            leader_transitions: 3,
        };
        let lease = Lease {
            metadata: ObjectMeta::default(),
            spec: Some(record.to_spec()),
        };
        assert_eq!(LeaderElectionRecord::from_lease(&lease), record);
        assert_eq!(
            LeaderElectionRecord::from_lease(&Lease::default()),
            LeaderElectionRecord::default()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn health_fails_only_when_renewals_stall() {
        let health = LeaderHealth::default();
        assert!(health.check(Duration::from_secs(15), "kcm").is_ok());
        health.set(Some(Instant::now()));
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(health.check(Duration::from_secs(15), "kcm").is_ok());
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(
            health.check(Duration::from_secs(15), "kcm").unwrap_err(),
            "failed election to renew leadership on lease kcm"
        );
        health.set(None);
        assert!(health.check(Duration::from_secs(15), "kcm").is_ok());
    }
}
