//! Creating a fully built Pod (a given name or `generateName`, a node, an
//! index annotation, finalizers, ...) on behalf of a controller, with the
//! same events as [`PodControl`](super::pod_control::PodControl), and
//! removing a finalizer from a pod.
//!
//! Jobs (index in the name and annotations) and DaemonSets (node
//! affinity per pod) build their pods themselves and create them here.

use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};

use super::events::{EventRecorder, EventType};
use super::pod_control::{CreateError, FAILED_CREATE, SUCCESSFUL_CREATE};

/// Creates `pod` in `namespace` for `controller`: `SuccessfulCreate
/// "Created pod: <name>"`, or `FailedCreate "Error creating: <message>"`
/// (not when the namespace is terminating).
pub async fn create_pod(
    client: &Client,
    recorder: &EventRecorder,
    namespace: &str,
    pod: &Pod,
    controller: &ObjectReference,
) -> Result<Pod, CreateError> {
    if pod.metadata.labels.as_ref().is_none_or(|l| l.is_empty()) {
        return Err(CreateError::NoLabels);
    }
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    match api.create(&PostParams::default(), pod).await {
        Ok(created) => {
            recorder.event_for_reference(
                controller.clone(),
                EventType::Normal,
                SUCCESSFUL_CREATE,
                &format!("Created pod: {}", created.name_any()),
            );
            Ok(created)
        }
        Err(err) => {
            let err = CreateError::Api(err);
            if !err.is_namespace_terminating() {
                recorder.event_for_reference(
                    controller.clone(),
                    EventType::Warning,
                    FAILED_CREATE,
                    &format!("Error creating: {err}"),
                );
            }
            Err(err)
        }
    }
}

/// Whether `pod` carries `finalizer`.
pub fn has_finalizer(pod: &Pod, finalizer: &str) -> bool {
    pod.metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == finalizer)
}

/// Removes `finalizer` from `pod` with a strategic merge patch that names
/// the pod's UID (so a replacement pod of the same name is never touched).
pub async fn remove_finalizer(client: &Client, pod: &Pod, finalizer: &str) -> kube::Result<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
    let patch = serde_json::json!({
        "metadata": {
            "$deleteFromPrimitiveList/finalizers": [finalizer],
            "uid": pod.metadata.uid,
        }
    });
    api.patch(
        &pod.name_any(),
        &PatchParams::default(),
        &Patch::Strategic(patch),
    )
    .await
}
