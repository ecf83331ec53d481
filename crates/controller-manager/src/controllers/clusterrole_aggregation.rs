//! `clusterrole-aggregation-controller`: in Corten, kube-apiserver keeps
//! aggregated ClusterRoles itself (`crates/apiserver/src/auth/aggregation.rs`
//! writes the union of the rules of the ClusterRoles matched by
//! `aggregationRule.clusterRoleSelectors` into each aggregated role, and
//! RBAC authorization resolves aggregation when it builds its snapshot), so
//! `admin`, `edit` and `view` work even before a controller-manager runs.
//! To keep a single implementation, this controller has nothing to run: it
//! is accepted by `--controllers` (so upstream command lines keep working)
//! and says where the work happens.

use crate::framework::controller::{Controller, ControllerContext};

/// Upstream name.
pub const NAME: &str = "clusterrole-aggregation-controller";

/// Logs that the apiserver aggregates; runs nothing.
pub fn new_controller(_ctx: &ControllerContext) -> anyhow::Result<Option<Box<dyn Controller>>> {
    tracing::info!(
        controller = NAME,
        "ClusterRole aggregation is kept by kube-apiserver; nothing to run here"
    );
    Ok(None)
}
