//! Per-zone rate limiting of NoExecute tainting (upstream
//! `handleDisruption`, `setLimiterInZone` and the `zoneNoExecuteTainter`
//! queues).
//!
//! Nodes are grouped by zone (the `topology.kubernetes.io/region` and
//! `zone` labels). Each zone has a state, recomputed from the nodes' Ready
//! conditions after any node's Ready status changed (and at most once a
//! second otherwise):
//!
//! - *Normal*: NoExecute taints (which make the taint-eviction-controller
//!   evict pods) spread at `--node-eviction-rate` nodes per second;
//! - *PartialDisruption* (more than 2 nodes and at least
//!   `--unhealthy-zone-threshold` of them not Ready):
//!   `--secondary-node-eviction-rate`, or not at all in zones of at most
//!   `--large-cluster-size-threshold` nodes: a failure this wide is more
//!   likely the network than the nodes;
//! - *FullDisruption* (no node Ready): the normal rate, unless every zone
//!   is fully disrupted: then the controller assumes it is the one cut off,
//!   lifts the `not-ready`/`unreachable` NoExecute taints everywhere and
//!   adds none until a node is Ready again.
//!
//! Each zone's budget is a token bucket holding one token; a node that
//! needs a new NoExecute taint takes one or waits. Swapping `not-ready`
//! for `unreachable` (or back) and removing taints are never limited.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use prometheus::{GaugeVec, IntCounterVec, Opts};

use super::health::ready_status;

/// How often zone states are recomputed at most.
const REFRESH: Duration = Duration::from_secs(1);
/// The shortest wait before a deferred node is retried (upstream's
/// tainting pass runs every 100 ms).
const MIN_RETRY: Duration = Duration::from_millis(100);

/// `--node-eviction-rate`, `--secondary-node-eviction-rate`,
/// `--large-cluster-size-threshold`, `--unhealthy-zone-threshold`.
#[derive(Debug, Clone, PartialEq)]
pub struct EvictionConfig {
    /// Nodes per second in a healthy zone (0.1).
    pub rate: f64,
    /// Nodes per second in a partially disrupted large zone (0.01).
    pub secondary_rate: f64,
    /// Zones up to this size stop tainting when partially disrupted (50).
    pub large_cluster_threshold: i32,
    /// Fraction of not-Ready nodes that makes a zone unhealthy (0.55).
    pub unhealthy_zone_threshold: f64,
}

impl Default for EvictionConfig {
    fn default() -> Self {
        Self {
            rate: 0.1,
            secondary_rate: 0.01,
            large_cluster_threshold: 50,
            unhealthy_zone_threshold: 0.55,
        }
    }
}

/// A zone's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneState {
    /// Few nodes down.
    Normal,
    /// Many nodes down.
    PartialDisruption,
    /// Every node down.
    FullDisruption,
}

/// What the caller may do about a node's NoExecute taints now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoExecute {
    /// Add the taint its Ready condition calls for.
    Add,
    /// Keep or swap what it has, add nothing; retry after the duration (if
    /// any) to try again.
    Defer(Option<Duration>),
    /// Remove them: every zone is down.
    Lift,
}

/// The zone key of a node (upstream `GetZoneKey`): region and zone joined
/// by `:\0:`, empty when the node has neither label.
pub fn zone_key(node: &Node) -> String {
    let labels = node.metadata.labels.as_ref();
    let label = |keys: [&str; 2]| {
        keys.iter()
            .find_map(|k| labels.and_then(|l| l.get(*k)))
            .cloned()
            .unwrap_or_default()
    };
    let region = label([
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/region",
    ]);
    let zone = label([
        "topology.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/zone",
    ]);
    if region.is_empty() && zone.is_empty() {
        String::new()
    } else {
        format!("{region}:\x00:{zone}")
    }
}

/// Upstream `ComputeZoneState` over the zone's Ready statuses.
pub fn zone_state(ready: &[Option<&str>], unhealthy_threshold: f64) -> (ZoneState, usize) {
    let not_ready = ready.iter().filter(|r| **r != Some("True")).count();
    let state = if !ready.is_empty() && not_ready == ready.len() {
        ZoneState::FullDisruption
    } else if not_ready > 2 && not_ready as f64 / ready.len() as f64 >= unhealthy_threshold {
        ZoneState::PartialDisruption
    } else {
        ZoneState::Normal
    };
    (state, not_ready)
}

/// A one-token bucket refilled at `rate` per second; rate 0 never refills.
#[derive(Debug, Clone)]
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: f64, now: Instant) -> Self {
        Self {
            rate,
            tokens: if rate > 0.0 { 1.0 } else { 0.0 },
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(1.0);
        self.at = now;
    }

    fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// When the next token comes (`None`: never).
    fn wait(&self) -> Option<Duration> {
        (self.rate > 0.0)
            .then(|| Duration::from_secs_f64(((1.0 - self.tokens) / self.rate).max(0.0)))
    }

    /// Upstream `SwapLimiter`: a new rate; a drained bucket stays drained.
    fn set_rate(&mut self, rate: f64, now: Instant) {
        if rate == self.rate {
            return;
        }
        self.refill(now);
        let drained = self.tokens < 1.0;
        *self = Bucket::new(rate, now);
        if drained {
            self.tokens = 0.0;
        }
    }
}

#[derive(Debug)]
struct Zone {
    state: ZoneState,
    bucket: Bucket,
}

#[derive(Debug, Default)]
struct State {
    zones: HashMap<String, Zone>,
    refreshed: Option<Instant>,
    all_disrupted: bool,
}

/// The zones and their tainting budgets.
#[derive(Debug)]
pub struct ZoneTainter {
    config: EvictionConfig,
    state: Mutex<State>,
}

impl ZoneTainter {
    /// A tainter with `config`'s rates.
    pub fn new(config: EvictionConfig) -> Self {
        Self {
            config,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The rate a zone of `size` nodes in `state` taints at.
    fn rate(&self, state: ZoneState, size: usize) -> f64 {
        match state {
            ZoneState::Normal | ZoneState::FullDisruption => self.config.rate,
            ZoneState::PartialDisruption => {
                if size as i64 <= i64::from(self.config.large_cluster_threshold) {
                    0.0
                } else {
                    self.config.secondary_rate
                }
            }
        }
    }

    /// Recomputes the zones from `nodes` (listed only when due) and
    /// returns whether every zone is fully disrupted.
    pub fn refresh(&self, nodes: impl FnOnce() -> Vec<std::sync::Arc<Node>>, now: Instant) -> bool {
        let mut state = self.lock();
        if state
            .refreshed
            .is_some_and(|at| now.saturating_duration_since(at) < REFRESH)
        {
            return state.all_disrupted;
        }
        state.refreshed = Some(now);
        let nodes = nodes();
        let mut by_zone: HashMap<String, Vec<Option<&str>>> = HashMap::new();
        for node in &nodes {
            by_zone
                .entry(zone_key(node))
                .or_default()
                .push(ready_status(node));
        }
        let metrics = metrics();
        let mut computed = HashMap::new();
        for (key, ready) in &by_zone {
            let (zone_state, not_ready) = zone_state(ready, self.config.unhealthy_zone_threshold);
            metrics
                .zone_size
                .with_label_values(&[key])
                .set(ready.len() as f64);
            metrics
                .unhealthy
                .with_label_values(&[key])
                .set(not_ready as f64);
            metrics
                .zone_health
                .with_label_values(&[key])
                .set(100.0 * (ready.len() - not_ready) as f64 / ready.len() as f64);
            computed.insert(key.clone(), (zone_state, ready.len()));
        }
        for gone in state
            .zones
            .keys()
            .filter(|k| !by_zone.contains_key(*k))
            .cloned()
            .collect::<Vec<_>>()
        {
            state.zones.remove(&gone);
            for gauge in [&metrics.zone_size, &metrics.unhealthy, &metrics.zone_health] {
                let _ = gauge.remove_label_values(&[&gone]);
            }
        }
        let all_disrupted = !computed.is_empty()
            && computed
                .values()
                .all(|(s, _)| *s == ZoneState::FullDisruption);
        if all_disrupted != state.all_disrupted {
            if all_disrupted {
                tracing::warn!(
                    "every node is not Ready: entering master disruption mode, NoExecute taints are lifted"
                );
            } else {
                tracing::info!("a node is Ready again: leaving master disruption mode");
                // Fresh budgets, as upstream resets its limiters.
                state.zones.clear();
            }
            state.all_disrupted = all_disrupted;
        }
        for (key, (zone_state, size)) in computed {
            let rate = self.rate(zone_state, size);
            match state.zones.get_mut(&key) {
                Some(zone) => {
                    if zone.state != zone_state {
                        tracing::info!(zone = %key.replace('\0', ""), from = ?zone.state, to = ?zone_state, "zone state changed");
                    }
                    zone.state = zone_state;
                    zone.bucket.set_rate(rate, now);
                }
                None => {
                    state.zones.insert(
                        key,
                        Zone {
                            state: zone_state,
                            bucket: Bucket::new(rate, now),
                        },
                    );
                }
            }
        }
        all_disrupted
    }

    /// Whether `node`, which needs a NoExecute taint it does not have yet,
    /// may get it now (spending its zone's token, counted in
    /// `node_collector_evictions_total`).
    pub fn admit(&self, node: &Node, now: Instant) -> NoExecute {
        let key = zone_key(node);
        let mut state = self.lock();
        if state.all_disrupted {
            return NoExecute::Lift;
        }
        let Some(zone) = state.zones.get_mut(&key) else {
            // Not seen at the last refresh: try again after the next.
            return NoExecute::Defer(Some(REFRESH));
        };
        if zone.bucket.try_take(now) {
            metrics().evictions.with_label_values(&[&key]).inc();
            NoExecute::Add
        } else {
            NoExecute::Defer(zone.bucket.wait().map(|d| d.max(MIN_RETRY)))
        }
    }

    /// Forces the next [`Self::refresh`] to recompute: a node appeared,
    /// went away or changed its Ready status.
    pub fn invalidate(&self) {
        self.lock().refreshed = None;
    }

    /// Whether every zone is down (NoExecute taints must go).
    pub fn all_disrupted(&self) -> bool {
        self.lock().all_disrupted
    }
}

/// The `node_collector_*` metrics.
struct ZoneMetrics {
    zone_health: GaugeVec,
    zone_size: GaugeVec,
    unhealthy: GaugeVec,
    evictions: IntCounterVec,
}

fn metrics() -> &'static ZoneMetrics {
    static METRICS: OnceLock<ZoneMetrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let gauge = |name: &str, help: &str| {
            let g = GaugeVec::new(Opts::new(name, help).subsystem("node_collector"), &["zone"])
                .expect("valid metric");
            let _ = prometheus::register(Box::new(g.clone()));
            g
        };
        let evictions = IntCounterVec::new(
            Opts::new(
                "evictions_total",
                "Nodes given a NoExecute taint by the node lifecycle controller, by zone.",
            )
            .subsystem("node_collector"),
            &["zone"],
        )
        .expect("valid metric");
        let _ = prometheus::register(Box::new(evictions.clone()));
        ZoneMetrics {
            zone_health: gauge("zone_health", "Percentage of Ready nodes in the zone."),
            zone_size: gauge("zone_size", "Nodes in the zone."),
            unhealthy: gauge(
                "unhealthy_nodes_in_zone",
                "Nodes in the zone that are not Ready.",
            ),
            evictions,
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use serde_json::json;

    fn node(name: &str, zone: &str, ready: &str) -> Arc<Node> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}},
                "status": {"conditions": [{"type": "Ready", "status": ready}]}
            }))
            .unwrap(),
        )
    }

    #[test]
    fn zone_keys() {
        let n = node("a", "z1", "True");
        assert_eq!(zone_key(&n), ":\0:z1");
        let bare: Node = serde_json::from_value(json!({"metadata": {"name": "b"}})).unwrap();
        assert_eq!(zone_key(&bare), "");
        let both: Node = serde_json::from_value(json!({"metadata": {"name": "c", "labels": {
            "topology.kubernetes.io/region": "r", "failure-domain.beta.kubernetes.io/zone": "z"}}}))
        .unwrap();
        assert_eq!(zone_key(&both), "r:\0:z");
    }

    #[test]
    fn zone_states() {
        let t = 0.55;
        let s = |ready: &[&str]| {
            let r: Vec<Option<&str>> = ready.iter().map(|r| Some(*r)).collect();
            zone_state(&r, t).0
        };
        assert_eq!(s(&["True", "False"]), ZoneState::Normal);
        assert_eq!(s(&["False", "Unknown"]), ZoneState::FullDisruption);
        // Two of three down: at most 2 never counts as partial.
        assert_eq!(s(&["True", "False", "False"]), ZoneState::Normal);
        assert_eq!(
            s(&["True", "False", "False", "Unknown"]),
            ZoneState::PartialDisruption
        );
        assert_eq!(
            s(&["True", "True", "False", "False", "Unknown", "True", "True"]),
            ZoneState::Normal
        );
        assert_eq!(zone_state(&[None], t).0, ZoneState::FullDisruption);
    }

    #[test]
    fn buckets_hold_one_token() {
        let t0 = Instant::now();
        let mut b = Bucket::new(0.5, t0);
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0 + Duration::from_secs(1)));
        assert_eq!(b.wait(), Some(Duration::from_secs(1)));
        assert!(b.try_take(t0 + Duration::from_secs(2)));
        // A long pause still yields one token, not many.
        assert!(b.try_take(t0 + Duration::from_secs(100)));
        assert!(!b.try_take(t0 + Duration::from_secs(100)));
        // Rate 0 never grants; a drained bucket stays drained on a swap.
        b.set_rate(0.0, t0 + Duration::from_secs(100));
        assert!(!b.try_take(t0 + Duration::from_secs(1000)));
        assert_eq!(b.wait(), None);
        b.set_rate(1.0, t0 + Duration::from_secs(1000));
        assert!(!b.try_take(t0 + Duration::from_secs(1000)));
        assert!(b.try_take(t0 + Duration::from_secs(1001)));
    }

    #[test]
    fn zones_taint_at_their_rate() {
        let tainter = ZoneTainter::new(EvictionConfig {
            rate: 1.0,
            ..EvictionConfig::default()
        });
        let t0 = Instant::now();
        let nodes = vec![
            node("a", "z1", "False"),
            node("b", "z1", "True"),
            node("c", "z1", "True"),
            node("d", "z2", "True"),
        ];
        assert!(!tainter.refresh(|| nodes.clone(), t0));
        assert_eq!(tainter.admit(&nodes[0], t0), NoExecute::Add);
        // The zone's single token is spent; the other zone has its own.
        assert_eq!(
            tainter.admit(&nodes[1], t0),
            NoExecute::Defer(Some(Duration::from_secs(1)))
        );
        assert_eq!(tainter.admit(&nodes[3], t0), NoExecute::Add);
        assert_eq!(
            tainter.admit(&nodes[0], t0 + Duration::from_secs(1)),
            NoExecute::Add
        );
    }

    #[test]
    fn partial_disruption_of_a_small_zone_stops_tainting() {
        let tainter = ZoneTainter::new(EvictionConfig::default());
        let t0 = Instant::now();
        let nodes: Vec<_> = ["False", "False", "Unknown", "True"]
            .iter()
            .enumerate()
            .map(|(i, r)| node(&format!("n{i}"), "z1", r))
            .collect();
        let healthy_elsewhere = node("other", "z2", "True");
        let mut all = nodes.clone();
        all.push(healthy_elsewhere);
        assert!(!tainter.refresh(|| all.clone(), t0));
        // 3 of 4 down in a zone of at most 50 nodes: no tainting at all.
        assert_eq!(tainter.admit(&nodes[0], t0), NoExecute::Defer(None));
    }

    #[test]
    fn every_zone_down_lifts_taints() {
        let tainter = ZoneTainter::new(EvictionConfig::default());
        let t0 = Instant::now();
        let down = vec![node("a", "z1", "Unknown"), node("b", "z2", "False")];
        assert!(tainter.refresh(|| down.clone(), t0));
        assert!(tainter.all_disrupted());
        assert_eq!(tainter.admit(&down[0], t0), NoExecute::Lift);
        // Not recomputed within a second.
        let up = vec![node("a", "z1", "True"), node("b", "z2", "False")];
        assert!(tainter.refresh(|| up.clone(), t0 + Duration::from_millis(10)));
        // Then one Ready node ends the mode with fresh budgets.
        assert!(!tainter.refresh(|| up.clone(), t0 + Duration::from_secs(2)));
        assert_eq!(
            tainter.admit(&up[1], t0 + Duration::from_secs(2)),
            NoExecute::Add
        );
    }
}
