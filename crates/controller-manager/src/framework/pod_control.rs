//! Creating pods from a controller's template and deleting them, with the
//! events upstream's `RealPodControl` records on the controller:
//!
//! | outcome | event |
//! | --- | --- |
//! | created | `Normal SuccessfulCreate "Created pod: <name>"` |
//! | create failed | `Warning FailedCreate "Error creating: <message>"` (not when the namespace is terminating) |
//! | deleted | `Normal SuccessfulDelete "Deleted pod: <name>"` |
//! | delete failed | `Warning FailedDelete "Error deleting: <message>"` (not for NotFound) |

use std::fmt;
use std::future::Future;

use k8s_openapi::api::core::v1::{ObjectReference, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};

use super::api_errors::{self, NAMESPACE_TERMINATING_CAUSE};
use super::events::{EventRecorder, EventType};

/// Event reason of a created pod.
pub const SUCCESSFUL_CREATE: &str = "SuccessfulCreate";
/// Event reason of a failed pod creation.
pub const FAILED_CREATE: &str = "FailedCreate";
/// Event reason of a deleted pod.
pub const SUCCESSFUL_DELETE: &str = "SuccessfulDelete";
/// Event reason of a failed pod deletion.
pub const FAILED_DELETE: &str = "FailedDelete";

/// Why a pod could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The template has no labels: the pod could never be matched again.
    #[error("unable to create pods, no labels")]
    NoLabels,
    /// The apiserver refused.
    #[error("{}", api_errors::message(.0))]
    Api(#[from] kube::Error),
}

impl CreateError {
    /// The namespace is being deleted: nothing can be created in it.
    pub fn is_namespace_terminating(&self) -> bool {
        matches!(self, CreateError::Api(err) if api_errors::has_status_cause(err, NAMESPACE_TERMINATING_CAUSE))
    }
}

/// Creates and deletes pods on behalf of one controller kind.
#[derive(Clone)]
pub struct PodControl {
    client: Client,
    recorder: EventRecorder,
}

impl fmt::Debug for PodControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PodControl").finish_non_exhaustive()
    }
}

/// Upstream `GetPodFromTemplate`: labels, annotations and finalizers from
/// the template, `generateName: <controller name>-`, the controller
/// reference, the template's spec.
pub fn pod_from_template(
    template: &PodTemplateSpec,
    controller_name: &str,
    controller_ref: Option<OwnerReference>,
) -> Pod {
    let template_meta = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{controller_name}-")),
            labels: template_meta.labels,
            annotations: template_meta.annotations,
            finalizers: template_meta.finalizers,
            owner_references: controller_ref.map(|r| vec![r]),
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

impl PodControl {
    /// Pod control writing through `client`, recording with `recorder`.
    pub fn new(client: Client, recorder: EventRecorder) -> Self {
        Self { client, recorder }
    }

    /// Creates one pod from `template` in `namespace` for the controller
    /// `controller` (named `controller_ref.name`).
    pub async fn create_pod(
        &self,
        namespace: &str,
        template: &PodTemplateSpec,
        controller: &ObjectReference,
        controller_ref: OwnerReference,
    ) -> Result<Pod, CreateError> {
        let name = controller_ref.name.clone();
        let pod = pod_from_template(template, &name, Some(controller_ref));
        if pod.metadata.labels.as_ref().is_none_or(|l| l.is_empty()) {
            return Err(CreateError::NoLabels);
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        match api.create(&PostParams::default(), &pod).await {
            Ok(created) => {
                let created_name = created.metadata.name.clone().unwrap_or_default();
                tracing::debug!(pod = %created_name, controller = %name, "created pod");
                self.recorder.event_for_reference(
                    controller.clone(),
                    EventType::Normal,
                    SUCCESSFUL_CREATE,
                    &format!("Created pod: {created_name}"),
                );
                Ok(created)
            }
            Err(err) => {
                let err = CreateError::Api(err);
                if !err.is_namespace_terminating() {
                    self.recorder.event_for_reference(
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

    /// Deletes the pod `namespace/name` of `controller`.
    pub async fn delete_pod(
        &self,
        namespace: &str,
        name: &str,
        controller: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {
                self.recorder.event_for_reference(
                    controller.clone(),
                    EventType::Normal,
                    SUCCESSFUL_DELETE,
                    &format!("Deleted pod: {name}"),
                );
                Ok(())
            }
            Err(err) if api_errors::is_not_found(&err) => Err(err),
            Err(err) => {
                self.recorder.event_for_reference(
                    controller.clone(),
                    EventType::Warning,
                    FAILED_DELETE,
                    &format!("Error deleting: {}", api_errors::message(&err)),
                );
                Err(err)
            }
        }
    }
}

/// Upstream `slowStartBatch`: calls `f` `count` times in batches of
/// `initial`, then twice as many each round, all calls of a batch at
/// once; stops after the first batch with a failure. Returns the number of
/// successful calls and the first error, so a controller whose pods are
/// refused (quota, admission) sends one request, not hundreds.
pub async fn slow_start_batch<E, F, Fut>(count: usize, initial: usize, f: F) -> (usize, Option<E>)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let mut remaining = count;
    let mut successes = 0;
    let mut batch = remaining.min(initial.max(1));
    while batch > 0 {
        let results = futures::future::join_all((0..batch).map(|_| f())).await;
        let mut first_error = None;
        for result in results {
            match result {
                Ok(()) => successes += 1,
                Err(err) => {
                    if first_error.is_none() {
                        first_error = Some(err);
                    }
                }
            }
        }
        if first_error.is_some() {
            return (successes, first_error);
        }
        remaining -= batch;
        batch = (2 * batch).min(remaining);
    }
    (successes, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn slow_start_doubles_and_stops_at_the_first_failing_batch() {
        let calls = Mutex::new(0usize);
        let (ok, err) = slow_start_batch(10, 1, || async {
            *calls.lock().unwrap() += 1;
            Ok::<(), ()>(())
        })
        .await;
        assert_eq!((ok, err), (10, None));
        assert_eq!(*calls.lock().unwrap(), 10);

        // Batches 1, 2, 4: the 5th call fails, the batch of 4 finishes,
        // nothing more is tried.
        let calls = Mutex::new(0usize);
        let (ok, err) = slow_start_batch(20, 1, || async {
            let n = {
                let mut c = calls.lock().unwrap();
                *c += 1;
                *c
            };
            if n == 5 { Err("quota") } else { Ok(()) }
        })
        .await;
        assert_eq!((ok, err), (6, Some("quota")));
        assert_eq!(*calls.lock().unwrap(), 7);
    }

    #[test]
    fn pods_come_from_the_template() {
        let template: PodTemplateSpec = serde_json::from_value(serde_json::json!({
            "metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}, "finalizers": ["x/y"]},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}
        }))
        .unwrap();
        let owner = OwnerReference {
            name: "web-abc".into(),
            uid: "u".into(),
            controller: Some(true),
            ..OwnerReference::default()
        };
        let pod = pod_from_template(&template, "web-abc", Some(owner));
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("web-abc-"));
        assert_eq!(pod.metadata.labels.unwrap()["app"], "web");
        assert_eq!(pod.metadata.annotations.unwrap()["a"], "b");
        assert_eq!(pod.metadata.finalizers.unwrap(), ["x/y"]);
        assert_eq!(pod.metadata.owner_references.unwrap()[0].uid, "u");
        assert_eq!(
            pod.spec.unwrap().containers[0].image.as_deref(),
            Some("nginx")
        );
    }
}
