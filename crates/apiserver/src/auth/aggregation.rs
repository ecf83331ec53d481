//! ClusterRole aggregation, kept by the apiserver (upstream runs it as the
//! `clusterrole-aggregation` controller in kube-controller-manager): the
//! `rules` of every ClusterRole with an `aggregationRule` are rewritten to
//! the union of the rules of the ClusterRoles its selectors match, in name
//! order. Authorization does not wait for this: the RBAC snapshot resolves
//! aggregation itself; this loop only makes the stored objects show it.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::authz::rules::PolicyRule;
use crate::app::ApiServer;
use crate::registry::store::{self, UpdateTarget, WriteOptions};

/// How often the aggregated roles are compared with their sources.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// One pass: writes every aggregated ClusterRole whose rules are stale.
pub async fn sync_once(server: &ApiServer) {
    let reg = &server.registry;
    let snap = server.authz.rbac.snapshot(reg);
    let Some(res) = reg.resource("rbac.authorization.k8s.io", "v1", "clusterroles") else {
        return;
    };
    for (name, entry) in &snap.cluster_roles {
        if entry.aggregation.is_none() {
            continue;
        }
        let Some(effective) = snap.effective.get(name) else {
            continue;
        };
        if entry.rules == **effective {
            continue;
        }
        let Ok(bytes) = store::get(reg, &res, None, name, None).await else {
            continue;
        };
        let Ok(mut obj) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        let rules: Vec<Value> = effective.iter().map(PolicyRule::to_json).collect();
        obj["rules"] = Value::Array(rules);
        let opts = WriteOptions::default();
        if let Err(e) = store::update(reg, &res, None, name, obj, UpdateTarget::Main, &opts).await
            && e.code != 409
        {
            tracing::warn!(role = %name, error = %e.message, "aggregating cluster role");
        }
    }
}

/// Runs [`sync_once`] forever.
pub fn spawn(server: &Arc<ApiServer>) {
    let server = Arc::downgrade(server);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(INTERVAL).await;
            let Some(s) = server.upgrade() else {
                return;
            };
            sync_once(&s).await;
        }
    });
}
