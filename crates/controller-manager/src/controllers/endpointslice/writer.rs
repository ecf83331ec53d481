//! Writes a [`Plan`]: creates, then updates, then deletes (so readers never
//! see fewer endpoints than before in between), recording each write in the
//! [`SliceTracker`] and counting it in `endpoint_slice_controller_changes`.

use std::sync::OnceLock;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client, ResourceExt};
use prometheus::IntCounterVec;

use super::planner::Plan;
use super::tracker::SliceTracker;
use crate::framework::api_errors;
use crate::framework::key::ObjectKey;

/// `<subsystem>_changes{operation}`: slices created, updated and deleted
/// (`endpoint_slice_controller_changes`,
/// `endpoint_slice_mirroring_controller_changes`).
pub fn changes_metric(subsystem: &'static str) -> IntCounterVec {
    static METRICS: OnceLock<std::sync::Mutex<Vec<(&'static str, IntCounterVec)>>> =
        OnceLock::new();
    let metrics = METRICS.get_or_init(Default::default);
    let mut metrics = metrics
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, metric)) = metrics.iter().find(|(s, _)| *s == subsystem) {
        return metric.clone();
    }
    let metric = IntCounterVec::new(
        prometheus::Opts::new("changes", "Number of EndpointSlice changes").subsystem(subsystem),
        &["operation"],
    )
    .expect("valid metric");
    if let Err(err) = prometheus::register(Box::new(metric.clone())) {
        tracing::warn!(error = %err, subsystem, "registering the EndpointSlice changes metric");
    }
    metrics.push((subsystem, metric.clone()));
    metric
}

/// Applies `plan` for `owner` in its namespace. Creating in a terminating
/// namespace is not an error (the namespace controller removes everything).
pub async fn write_plan(
    client: &Client,
    namespace: &str,
    owner: &ObjectKey,
    plan: Plan,
    tracker: &SliceTracker,
    changes: &IntCounterVec,
) -> Result<(), kube::Error> {
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
    for slice in plan.create {
        match api.create(&PostParams::default(), &slice).await {
            Ok(created) => {
                tracker.wrote(owner, &created);
                changes.with_label_values(&["create"]).inc();
            }
            Err(err)
                if api_errors::has_status_cause(&err, api_errors::NAMESPACE_TERMINATING_CAUSE) =>
            {
                return Ok(());
            }
            Err(err) => return Err(err),
        }
    }
    for slice in plan.update {
        let name = slice.name_any();
        let updated = api.replace(&name, &PostParams::default(), &slice).await?;
        tracker.wrote(owner, &updated);
        changes.with_label_values(&["update"]).inc();
    }
    for slice in plan.delete {
        let name = slice.name_any();
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(err) if api_errors::is_not_found(&err) => {}
            Err(err) => return Err(err),
        }
        tracker.deleted(owner, &name);
        changes.with_label_values(&["delete"]).inc();
    }
    Ok(())
}
