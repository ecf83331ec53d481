//! The scheduling framework: the plugin interface and the data plugins work
//! on (upstream `pkg/scheduler/framework`).
//!
//! A plugin implements [`Plugin`] and says which extension points it serves
//! ([`ExtensionPoints`]); every method has a neutral default. Per-cycle data
//! a plugin computes in PreFilter (or PreScore) is returned as a
//! [`StateBox`] and handed back to the same plugin's Filter (or Score)
//! calls: no shared map, no string keys on the hot path.

pub mod api;
pub mod cycle_state;
pub mod events;
pub mod fit_error;
pub mod node_info;
pub mod node_selector;
pub mod parallelize;
pub mod pod_info;
pub mod profile;
pub mod resolve;
pub mod resource;
pub mod status;
pub mod taints;

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;

pub use self::api::{ApiError, ApiFuture, ClusterApi, EventSpec, EventType, FakeApi};
pub use self::cycle_state::CycleState;
pub use self::events::{
    ActionType, ClusterEvent, ClusterEventWithHint, EventObjects, EventResource, QueueingHint,
};
pub use self::fit_error::{Diagnosis, FitError};
pub use self::node_info::NodeInfo;
pub use self::pod_info::PodInfo;
pub use self::profile::Framework;
pub use self::resource::Resource;
pub use self::status::{Code, Status};
use crate::cache::Snapshot;

/// The highest score a node can get from one plugin.
pub const MAX_NODE_SCORE: i64 = 100;
/// The lowest score.
pub const MIN_NODE_SCORE: i64 = 0;

/// Per-cycle plugin data. Any `Clone + Send + Sync` type qualifies.
pub trait StateData: Any + Send + Sync {
    /// A deep copy (preemption explores what-ifs on copies).
    fn clone_box(&self) -> StateBox;
}

impl<T: Any + Send + Sync + Clone> StateData for T {
    fn clone_box(&self) -> StateBox {
        Box::new(self.clone())
    }
}

/// Owned per-cycle plugin data.
pub type StateBox = Box<dyn StateData>;

/// Reads a plugin's own state back.
pub fn state_ref<T: Any>(state: Option<&dyn StateData>) -> Option<&T> {
    let any: &dyn Any = state?;
    any.downcast_ref::<T>()
}

/// Mutable access to a plugin's own state.
pub fn state_mut<T: Any>(state: &mut dyn StateData) -> Option<&mut T> {
    let any: &mut dyn Any = state;
    any.downcast_mut::<T>()
}

/// The extension points a plugin serves, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExtensionPoints(pub u16);

impl ExtensionPoints {
    /// PreEnqueue
    pub const PRE_ENQUEUE: Self = Self(1);
    /// QueueSort
    pub const QUEUE_SORT: Self = Self(1 << 1);
    /// PreFilter
    pub const PRE_FILTER: Self = Self(1 << 2);
    /// Filter
    pub const FILTER: Self = Self(1 << 3);
    /// PostFilter
    pub const POST_FILTER: Self = Self(1 << 4);
    /// PreScore
    pub const PRE_SCORE: Self = Self(1 << 5);
    /// Score (with NormalizeScore)
    pub const SCORE: Self = Self(1 << 6);
    /// Reserve (with Unreserve)
    pub const RESERVE: Self = Self(1 << 7);
    /// Permit
    pub const PERMIT: Self = Self(1 << 8);
    /// PreBind
    pub const PRE_BIND: Self = Self(1 << 9);
    /// Bind
    pub const BIND: Self = Self(1 << 10);
    /// PostBind
    pub const POST_BIND: Self = Self(1 << 11);

    /// Every point with its configuration name, in upstream order.
    pub const ALL: [(Self, &'static str); 12] = [
        (Self::PRE_ENQUEUE, "preEnqueue"),
        (Self::QUEUE_SORT, "queueSort"),
        (Self::PRE_FILTER, "preFilter"),
        (Self::FILTER, "filter"),
        (Self::POST_FILTER, "postFilter"),
        (Self::PRE_SCORE, "preScore"),
        (Self::SCORE, "score"),
        (Self::RESERVE, "reserve"),
        (Self::PERMIT, "permit"),
        (Self::PRE_BIND, "preBind"),
        (Self::BIND, "bind"),
        (Self::POST_BIND, "postBind"),
    ];

    /// The union.
    pub const fn or(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

/// What a PreFilter plugin returns.
#[derive(Default)]
pub struct PreFilterOutput {
    /// State for this plugin's Filter calls.
    pub state: Option<StateBox>,
    /// The only nodes worth filtering (`None`: all).
    pub node_names: Option<Vec<String>>,
    /// The verdict (Skip: this plugin's Filter is not needed this cycle).
    pub status: Status,
}

impl PreFilterOutput {
    /// Success with state.
    pub fn with_state(state: impl StateData) -> Self {
        PreFilterOutput {
            state: Some(Box::new(state)),
            ..Default::default()
        }
    }

    /// A bare status.
    pub fn status(status: Status) -> Self {
        PreFilterOutput {
            status,
            ..Default::default()
        }
    }
}

/// The statuses of the nodes a pod was filtered against (upstream
/// `NodeToStatus`): nodes not listed get `absent`.
#[derive(Debug, Clone)]
pub struct NodeToStatus {
    /// Status per node name.
    pub statuses: HashMap<String, Status>,
    /// The status of nodes not in `statuses`.
    pub absent: Status,
}

impl Default for NodeToStatus {
    fn default() -> Self {
        NodeToStatus {
            statuses: HashMap::new(),
            absent: Status::with_reasons(Code::UnschedulableAndUnresolvable, Vec::new()),
        }
    }
}

impl NodeToStatus {
    /// The status of `node`.
    pub fn get(&self, node: &str) -> &Status {
        self.statuses.get(node).unwrap_or(&self.absent)
    }
}

/// Everything a PostFilter plugin (preemption) may look at.
pub struct PostFilterContext<'a> {
    /// The pod's profile.
    pub framework: &'a Framework,
    /// The cluster.
    pub snapshot: &'a Snapshot,
    /// The cycle's plugin state after PreFilter.
    pub state: &'a CycleState,
    /// Why each node was rejected.
    pub statuses: &'a NodeToStatus,
    /// Where writes go.
    pub api: &'a Arc<dyn ClusterApi>,
}

/// What PostFilter achieved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostFilterResult {
    /// `Some(node)`: the pod is nominated to `node` (`Some("")` clears a
    /// previous nomination).
    pub nominated_node_name: Option<String>,
}

/// A future resolving to a status (PreBind, Bind).
pub type StatusFuture = BoxFuture<'static, Status>;

/// A scheduler plugin. Implement the extension points named by
/// [`Plugin::extension_points`]; the others are never called.
pub trait Plugin: Send + Sync + 'static {
    /// The upstream name (`NodeResourcesFit`, ...).
    fn name(&self) -> &'static str;

    /// The extension points this plugin serves.
    fn extension_points(&self) -> ExtensionPoints;

    /// Cluster events that may make a pod this plugin rejected schedulable.
    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        Vec::new()
    }

    /// Whether the pod may enter the active queue at all.
    fn pre_enqueue(&self, _pod: &PodInfo) -> Status {
        Status::success()
    }

    /// Computes per-cycle state; may restrict the candidate nodes.
    fn pre_filter(&self, _pod: &PodInfo, _snapshot: &Snapshot) -> PreFilterOutput {
        PreFilterOutput::default()
    }

    /// Whether the pod fits `node`.
    fn filter(
        &self,
        _state: Option<&dyn StateData>,
        _pod: &PodInfo,
        _node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Status {
        Status::success()
    }

    /// Whether [`Plugin::add_pod`]/[`Plugin::remove_pod`] update the state.
    fn has_pre_filter_extensions(&self) -> bool {
        false
    }

    /// Updates PreFilter state as if `added` ran on `node`.
    fn add_pod(
        &self,
        _state: &mut dyn StateData,
        _pod: &PodInfo,
        _added: &PodInfo,
        _node: &NodeInfo,
    ) {
    }

    /// Updates PreFilter state as if `removed` left `node`.
    fn remove_pod(
        &self,
        _state: &mut dyn StateData,
        _pod: &PodInfo,
        _removed: &PodInfo,
        _node: &NodeInfo,
    ) {
    }

    /// Tries to make an unschedulable pod schedulable later (preemption).
    fn post_filter(
        &self,
        _ctx: &PostFilterContext<'_>,
        _pod: &PodInfo,
    ) -> (PostFilterResult, Status) {
        (
            PostFilterResult::default(),
            Status::new(Code::Unschedulable, ""),
        )
    }

    /// Computes per-cycle scoring state for the feasible `nodes`.
    fn pre_score(
        &self,
        _pod: &PodInfo,
        _nodes: &[&NodeInfo],
        _snapshot: &Snapshot,
    ) -> (Option<StateBox>, Status) {
        (None, Status::success())
    }

    /// Scores one feasible node.
    fn score(
        &self,
        _state: Option<&dyn StateData>,
        _pod: &PodInfo,
        _node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        Ok(0)
    }

    /// Rescales the raw scores to `0..=100` (default: unchanged).
    fn normalize_scores(
        &self,
        _state: Option<&dyn StateData>,
        _pod: &PodInfo,
        _scores: &mut [i64],
    ) -> Status {
        Status::success()
    }

    /// Claims per-pod resources once a node is chosen.
    fn reserve(&self, _pod: &PodInfo, _node: &NodeInfo, _snapshot: &Snapshot) -> Status {
        Status::success()
    }

    /// Releases what `reserve` claimed.
    fn unreserve(&self, _pod: &PodInfo, _node: &str) {}

    /// Approves or rejects the binding.
    fn permit(&self, _pod: &PodInfo, _node: &str) -> Status {
        Status::success()
    }

    /// Work before the binding (volume binding).
    fn pre_bind(&self, _pod: Arc<PodInfo>, _node: String) -> StatusFuture {
        Box::pin(async { Status::success() })
    }

    /// Binds; Skip lets the next Bind plugin do it.
    fn bind(&self, _pod: Arc<PodInfo>, _node: String) -> StatusFuture {
        Box::pin(async { Status::skip() })
    }

    /// Informational, after a successful binding.
    fn post_bind(&self, _pod: &PodInfo, _node: &str) {}
}

/// Upstream `DefaultNormalizeScore`: scales to `0..=max` by the highest
/// score; `reverse` flips (higher raw is worse).
pub fn default_normalize_score(max: i64, reverse: bool, scores: &mut [i64]) {
    let highest = scores.iter().copied().max().unwrap_or(0).max(0);
    if highest == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = max);
        }
        return;
    }
    for score in scores.iter_mut() {
        let scaled = max * *score / highest;
        *score = if reverse { max - scaled } else { scaled };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_normalize_matches_upstream() {
        let mut s = vec![10, 5, 0];
        default_normalize_score(100, false, &mut s);
        assert_eq!(s, [100, 50, 0]);
        let mut s = vec![10, 5, 0];
        default_normalize_score(100, true, &mut s);
        assert_eq!(s, [0, 50, 100]);
        let mut s = vec![0, 0];
        default_normalize_score(100, true, &mut s);
        assert_eq!(s, [100, 100]);
        let mut s = vec![0, 0];
        default_normalize_score(100, false, &mut s);
        assert_eq!(s, [0, 0]);
    }

    #[test]
    fn state_round_trips() {
        #[derive(Clone)]
        struct S(u32);
        let boxed: StateBox = Box::new(S(4));
        assert_eq!(state_ref::<S>(Some(boxed.as_ref())).map(|s| s.0), Some(4));
        assert!(state_ref::<u8>(Some(boxed.as_ref())).is_none());
        let mut copy = StateData::clone_box(&*boxed);
        state_mut::<S>(copy.as_mut()).unwrap().0 = 5;
        assert_eq!(state_ref::<S>(Some(boxed.as_ref())).map(|s| s.0), Some(4));
    }
}
