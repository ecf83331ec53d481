//! Image pulls with upstream's policy handling, events and backoff
//! (`ErrImagePull`, `ImagePullBackOff`, `ErrImageNeverPull`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use corten_cri::{Runtime, api};
use k8s_openapi::api::core::v1::{Container, Pod};

use super::backoff::Backoff;
use crate::events::{EventRecorder, NORMAL, WARNING};

/// Why an image is not available; `reason()` is the container's waiting reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PullError {
    /// The pull failed.
    #[error("{0}")]
    ErrImagePull(String),
    /// Still backing off after a failed pull.
    #[error("{0}")]
    ImagePullBackOff(String),
    /// `imagePullPolicy: Never` and the image is missing.
    #[error("{0}")]
    ErrImageNeverPull(String),
    /// The image name is empty or malformed.
    #[error("{0}")]
    InvalidImageName(String),
}

impl PullError {
    /// The waiting reason.
    pub fn reason(&self) -> &'static str {
        match self {
            PullError::ErrImagePull(_) => "ErrImagePull",
            PullError::ImagePullBackOff(_) => "ImagePullBackOff",
            PullError::ErrImageNeverPull(_) => "ErrImageNeverPull",
            PullError::InvalidImageName(_) => "InvalidImageName",
        }
    }

    /// How long until a retry makes sense.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PullError::ImagePullBackOff(_) | PullError::ErrImagePull(_) => {
                Some(Duration::from_secs(1))
            }
            _ => None,
        }
    }
}

/// The image policy, defaulted like the API server does.
pub fn pull_policy(container: &Container) -> String {
    if let Some(policy) = container
        .image_pull_policy
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        return policy.to_string();
    }
    let image = container.image.as_deref().unwrap_or_default();
    let last = image.rsplit('/').next().unwrap_or(image);
    let tagged = last.contains(':') && !last.ends_with(":latest");
    if image.contains('@') || tagged {
        "IfNotPresent".into()
    } else {
        "Always".into()
    }
}

/// Pulls images for containers.
pub struct ImagePuller {
    runtime: Arc<dyn Runtime>,
    recorder: EventRecorder,
    backoff: Backoff,
    serialize: Option<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for ImagePuller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImagePuller").finish_non_exhaustive()
    }
}

impl ImagePuller {
    /// A puller; `serialize` pulls one image at a time (upstream default).
    pub fn new(runtime: Arc<dyn Runtime>, recorder: EventRecorder, serialize: bool) -> Self {
        Self {
            runtime,
            recorder,
            backoff: Backoff::new(Duration::from_secs(10), Duration::from_secs(300)),
            serialize: serialize.then(|| tokio::sync::Mutex::new(())),
        }
    }

    /// Makes sure the container's image is present; returns the image.
    pub async fn ensure(
        &self,
        pod: &Pod,
        container: &Container,
        init: bool,
    ) -> Result<api::Image, PullError> {
        let image = container.image.clone().unwrap_or_default();
        let event = |kind: &'static str, reason: &str, message: String| {
            self.recorder
                .pod(pod, Some((&container.name, init)), kind, reason, message);
        };
        if image.trim().is_empty() || image.chars().any(char::is_whitespace) {
            let message = format!(
                "Failed to apply default image tag {image:?}: couldn't parse image name {image:?}: invalid reference format"
            );
            event(WARNING, "InspectFailed", message.clone());
            return Err(PullError::InvalidImageName(message));
        }
        let spec = api::ImageSpec {
            image: image.clone(),
            ..Default::default()
        };
        let present = match self.runtime.image_status(spec.clone()).await {
            Ok(found) => found,
            Err(err) => {
                let message = format!("Failed to inspect image {image:?}: {}", err.message());
                event(WARNING, "InspectFailed", message.clone());
                return Err(PullError::ErrImagePull(message));
            }
        };
        let policy = pull_policy(container);
        let should_pull = match (policy.as_str(), &present) {
            ("Never", None) => {
                let message =
                    format!("Container image {image:?} is not present with pull policy of Never");
                event(WARNING, "ErrImageNeverPull", message.clone());
                return Err(PullError::ErrImageNeverPull(message));
            }
            ("Never", Some(_)) | ("IfNotPresent", Some(_)) => false,
            _ => true,
        };
        if !should_pull {
            event(
                NORMAL,
                "Pulled",
                format!("Container image {image:?} already present on machine"),
            );
            return Ok(present.unwrap_or_default());
        }
        let key = format!(
            "{}_{image}",
            pod.metadata.uid.as_deref().unwrap_or_default()
        );
        let now = corten_cri::now_nanos();
        if self.backoff.in_backoff_since_update(&key, now).is_some() {
            let message = format!("Back-off pulling image {image:?}");
            event(NORMAL, "BackOff", message.clone());
            return Err(PullError::ImagePullBackOff(message));
        }
        event(NORMAL, "Pulling", format!("Pulling image {image:?}"));
        let waited = Instant::now();
        let _guard = match &self.serialize {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        let started = Instant::now();
        match self.runtime.pull_image(spec.clone(), None, None).await {
            Ok(_) => {
                let pulled = self
                    .runtime
                    .image_status(spec)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                event(
                    NORMAL,
                    "Pulled",
                    format!(
                        "Successfully pulled image {image:?} in {:?} ({:?} including waiting). Image size: {} bytes.",
                        started.elapsed(),
                        waited.elapsed(),
                        pulled.size
                    ),
                );
                self.backoff.reset(&key);
                Ok(pulled)
            }
            Err(err) => {
                let message = format!("Failed to pull image {image:?}: {}", err.message());
                event(WARNING, "Failed", message.clone());
                self.backoff.next(&key, corten_cri::now_nanos());
                Err(PullError::ErrImagePull(message))
            }
        }
    }

    /// Forgets the backoff of a removed pod.
    pub fn forget_pod(&self, uid: &str) {
        self.backoff.forget_prefix(&format!("{uid}_"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corten_cri::fake::FakeRuntime;

    fn container(image: &str, policy: Option<&str>) -> Container {
        Container {
            name: "c".into(),
            image: Some(image.into()),
            image_pull_policy: policy.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn default_policies() {
        assert_eq!(pull_policy(&container("busybox", None)), "Always");
        assert_eq!(pull_policy(&container("busybox:latest", None)), "Always");
        assert_eq!(
            pull_policy(&container("busybox:1.36", None)),
            "IfNotPresent"
        );
        assert_eq!(
            pull_policy(&container("localhost:5000/app", None)),
            "Always"
        );
        assert_eq!(
            pull_policy(&container("busybox@sha256:ab", None)),
            "IfNotPresent"
        );
        assert_eq!(pull_policy(&container("busybox", Some("Never"))), "Never");
    }

    #[tokio::test]
    async fn policies_errors_and_backoff() {
        let fake = FakeRuntime::with_images(&["busybox"]);
        fake.deny_pull("missing:1");
        let puller = ImagePuller::new(Arc::new(fake.clone()), EventRecorder::disabled(), true);
        let pod = Pod::default();
        puller
            .ensure(&pod, &container("busybox", Some("IfNotPresent")), false)
            .await
            .unwrap();
        assert!(!fake.calls().contains(&"pull_image".to_string()));
        puller
            .ensure(&pod, &container("busybox", Some("Always")), false)
            .await
            .unwrap();
        assert!(fake.calls().contains(&"pull_image".to_string()));
        let err = puller
            .ensure(&pod, &container("other:1", Some("Never")), false)
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "ErrImageNeverPull");
        let err = puller
            .ensure(&pod, &container("missing:1", None), false)
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "ErrImagePull");
        assert!(
            err.to_string()
                .starts_with("Failed to pull image \"missing:1\""),
            "{err}"
        );
        let err = puller
            .ensure(&pod, &container("missing:1", None), false)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            PullError::ImagePullBackOff("Back-off pulling image \"missing:1\"".into())
        );
        let err = puller
            .ensure(&pod, &container("", None), false)
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "InvalidImageName");
    }
}
