//! Why a pod fits no node, in upstream's words (`FitError.Error()`):
//! `0/3 nodes are available: 1 node(s) had untolerated taint {a: b}, 2
//! Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption
//! victims found for incoming pod.`

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::NodeToStatus;

/// Upstream `ErrNoNodesAvailable`.
pub const NO_NODES_AVAILABLE: &str = "no nodes available to schedule pods";

/// What happened to a pod in one scheduling attempt.
#[derive(Debug, Clone, Default)]
pub struct Diagnosis {
    /// Per-node rejections.
    pub node_to_status: NodeToStatus,
    /// Plugins that rejected the pod (they decide which events retry it).
    pub unschedulable_plugins: BTreeSet<&'static str>,
    /// Plugins that returned Pending.
    pub pending_plugins: BTreeSet<&'static str>,
    /// The PreFilter rejection message, if PreFilter rejected the pod.
    pub pre_filter_msg: String,
    /// The PostFilter (preemption) message.
    pub post_filter_msg: String,
}

/// The pod fits no node.
#[derive(Debug, Clone, Default)]
pub struct FitError {
    /// How many nodes the cluster has.
    pub num_all_nodes: usize,
    /// The details.
    pub diagnosis: Diagnosis,
}

impl FitError {
    /// The "N reason" histogram, sorted as strings like upstream.
    fn histogram(&self) -> Vec<String> {
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        let statuses = &self.diagnosis.node_to_status;
        for status in statuses.statuses.values() {
            for reason in status.reasons() {
                *reasons.entry(reason.to_string()).or_insert(0) += 1;
            }
        }
        let listed = statuses.statuses.len();
        if listed < self.num_all_nodes {
            for reason in statuses.absent.reasons() {
                *reasons.entry(reason.to_string()).or_insert(0) += self.num_all_nodes - listed;
            }
        }
        let mut out: Vec<String> = reasons
            .into_iter()
            .map(|(reason, n)| format!("{n} {reason}"))
            .collect();
        out.sort();
        out
    }
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0/{} nodes are available:", self.num_all_nodes)?;
        if !self.diagnosis.pre_filter_msg.is_empty() {
            write!(f, " {}.", self.diagnosis.pre_filter_msg)?;
        } else {
            let histogram = self.histogram();
            if !histogram.is_empty() {
                write!(f, " {}.", histogram.join(", "))?;
            }
        }
        // Upstream appends the PostFilter message as is (it carries its
        // own final period).
        if !self.diagnosis.post_filter_msg.is_empty() {
            write!(f, " {}", self.diagnosis.post_filter_msg)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::{Code, Status};

    #[test]
    fn message_shape_matches_upstream() {
        let mut diagnosis = Diagnosis::default();
        diagnosis.node_to_status.statuses.insert(
            "a".into(),
            Status::unresolvable(
                "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",
            ),
        );
        diagnosis
            .node_to_status
            .statuses
            .insert("b".into(), Status::unschedulable("Insufficient cpu"));
        diagnosis
            .node_to_status
            .statuses
            .insert("c".into(), Status::unschedulable("Insufficient cpu"));
        diagnosis.post_filter_msg = "preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.".into();
        let err = FitError {
            num_all_nodes: 3,
            diagnosis,
        };
        assert_eq!(
            err.to_string(),
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
        );
    }

    #[test]
    fn absent_nodes_and_pre_filter_messages() {
        let mut diagnosis = Diagnosis::default();
        diagnosis.node_to_status.absent =
            Status::unresolvable("node(s) didn't satisfy plugin(s) [NodeAffinity]");
        diagnosis
            .node_to_status
            .statuses
            .insert("a".into(), Status::unschedulable("Insufficient cpu"));
        let err = FitError {
            num_all_nodes: 3,
            diagnosis: diagnosis.clone(),
        };
        assert_eq!(
            err.to_string(),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [NodeAffinity]."
        );
        diagnosis.pre_filter_msg = "pod affinity terms conflict".into();
        let err = FitError {
            num_all_nodes: 3,
            diagnosis,
        };
        assert_eq!(
            err.to_string(),
            "0/3 nodes are available: pod affinity terms conflict."
        );
        let empty = FitError {
            num_all_nodes: 2,
            diagnosis: Diagnosis::default(),
        };
        assert_eq!(empty.to_string(), "0/2 nodes are available:");
        assert_eq!(
            Status::with_reasons(Code::UnschedulableAndUnresolvable, vec![])
                .reasons()
                .len(),
            0
        );
    }
}
