//! Image garbage collection (upstream `realImageGCManager`).
//!
//! Every 5 minutes: images used by any container (running or not) are
//! marked used now; unused images older than `imageMaximumGCAge` (if set)
//! are removed; then, when the image filesystem is at least
//! `imageGCHighThresholdPercent` full, unused images are removed least
//! recently used first (then oldest detected) until usage is down to
//! `imageGCLowThresholdPercent`. Images detected less than
//! `imageMinimumGCAge` ago, images in use, pinned images and the sandbox
//! image are never removed. Removal goes through CRI `RemoveImage`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use corten_cri::{Runtime, api};

use crate::events::{EventRecorder, WARNING, node_ref};
use crate::eviction::threshold::Observation;

/// Upstream's `ImageGCPeriod`.
pub const PERIOD: Duration = Duration::from_secs(300);

static COLLECTED: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    let c = prometheus::IntCounterVec::new(
        prometheus::Opts::new(
            "kubelet_image_garbage_collected_total",
            "Total number of images garbage collected by the kubelet, whether through disk usage or image age.",
        ),
        &["reason"],
    )
    .expect("metric");
    if let Err(err) = prometheus::register(Box::new(c.clone())) {
        tracing::debug!(error = %err, "registering kubelet_image_garbage_collected_total");
    }
    c
});

/// `imageGC*` settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Policy {
    /// `imageGCHighThresholdPercent`.
    pub high_percent: i32,
    /// `imageGCLowThresholdPercent`.
    pub low_percent: i32,
    /// `imageMinimumGCAge`.
    pub min_age: Duration,
    /// `imageMaximumGCAge` (zero: no limit).
    pub max_age: Duration,
}

#[derive(Clone, Copy, Debug)]
struct Record {
    first_detected: Instant,
    last_used: Instant,
    size: u64,
}

/// The image garbage collector.
pub struct ImageGc {
    runtime: Arc<dyn Runtime>,
    recorder: EventRecorder,
    node_name: String,
    policy: Policy,
    sandbox_image: String,
    records: Mutex<HashMap<String, Record>>,
}

impl std::fmt::Debug for ImageGc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageGc")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

struct Candidate {
    id: String,
    record: Record,
}

impl ImageGc {
    /// A collector; `sandbox_image` is never removed.
    pub fn new(
        runtime: Arc<dyn Runtime>,
        recorder: EventRecorder,
        node_name: &str,
        policy: Policy,
        sandbox_image: &str,
    ) -> Self {
        Self {
            runtime,
            recorder,
            node_name: node_name.to_string(),
            policy,
            sandbox_image: corten_cri::image_ref::normalize_image_ref(sandbox_image),
            records: Mutex::new(HashMap::new()),
        }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn protected(&self, image: &api::Image) -> bool {
        image.pinned || image.repo_tags.contains(&self.sandbox_image)
    }

    /// Updates first-detected / last-used times; returns the unused,
    /// removable images.
    async fn detect(&self, now: Instant) -> Result<Vec<Candidate>, String> {
        let images = self
            .runtime
            .list_images(None)
            .await
            .map_err(|e| format!("failed to list images: {}", e.message()))?;
        let containers = self
            .runtime
            .list_containers(None)
            .await
            .map_err(|e| format!("failed to list containers: {}", e.message()))?;
        // Containers in any state keep their image (upstream GetPods(all=true)).
        let mut in_use: HashSet<String> = HashSet::new();
        for c in &containers {
            in_use.insert(c.image_ref.clone());
            if let Some(spec) = &c.image {
                in_use.insert(spec.image.clone());
                in_use.insert(corten_cri::image_ref::normalize_image_ref(&spec.image));
            }
        }
        let mut records = self.records();
        let present: HashSet<&str> = images.iter().map(|i| i.id.as_str()).collect();
        records.retain(|id, _| present.contains(id.as_str()));
        let mut candidates = Vec::new();
        for image in &images {
            let record = records.entry(image.id.clone()).or_insert(Record {
                first_detected: now,
                last_used: now,
                size: image.size,
            });
            record.size = image.size;
            let used = in_use.contains(&image.id)
                || image
                    .repo_tags
                    .iter()
                    .chain(&image.repo_digests)
                    .any(|t| in_use.contains(t));
            if used {
                record.last_used = now;
                continue;
            }
            if self.protected(image) {
                continue;
            }
            candidates.push(Candidate {
                id: image.id.clone(),
                record: *record,
            });
        }
        candidates.sort_by_key(|c| (c.record.last_used, c.record.first_detected));
        Ok(candidates)
    }

    async fn remove(&self, id: &str, reason: &str) -> Result<(), String> {
        tracing::info!(image = id, reason, "removing unused image");
        self.runtime
            .remove_image(api::ImageSpec {
                image: id.to_string(),
                ..Default::default()
            })
            .await
            .map_err(|e| format!("failed to remove image {id}: {}", e.message()))?;
        self.records().remove(id);
        COLLECTED.with_label_values(&[reason]).inc();
        Ok(())
    }

    /// Removes unused images (at least `imageMinimumGCAge` old) until
    /// `bytes` are freed; returns what was freed.
    pub async fn free_space(&self, bytes: i64, now: Instant) -> Result<i64, String> {
        let candidates = self.detect(now).await?;
        let mut freed = 0i64;
        let mut errors = Vec::new();
        for c in candidates {
            if freed >= bytes {
                break;
            }
            if now.saturating_duration_since(c.record.first_detected) < self.policy.min_age {
                continue;
            }
            match self.remove(&c.id, "space").await {
                Ok(()) => freed += i64::try_from(c.record.size).unwrap_or(i64::MAX),
                Err(err) => errors.push(err),
            }
        }
        if errors.is_empty() {
            Ok(freed)
        } else {
            Err(errors.join("; "))
        }
    }

    /// Every unused image old enough goes (disk pressure; upstream `DeleteUnusedImages`).
    pub async fn delete_unused(&self, now: Instant) -> Result<i64, String> {
        self.free_space(i64::MAX, now).await
    }

    /// One garbage collection at `now` with the image filesystem's usage
    /// (`None`: unknown, which fails like upstream without imagefs stats).
    pub async fn garbage_collect(
        &self,
        image_fs: Option<Observation>,
        now: Instant,
    ) -> Result<(), String> {
        let candidates = self.detect(now).await?;
        if !self.policy.max_age.is_zero() {
            for c in &candidates {
                if now.saturating_duration_since(c.record.last_used) > self.policy.max_age {
                    self.remove(&c.id, "age").await?;
                }
            }
        }
        let fs = image_fs
            .ok_or_else(|| "failed to get imageFs info: no image filesystem stats".to_string())?;
        if fs.capacity <= 0 {
            return Err(format!(
                "invalid capacity {} on image filesystem",
                fs.capacity
            ));
        }
        let available = fs.available.min(fs.capacity);
        let usage_percent = 100 - (available * 100 / fs.capacity);
        if usage_percent < i64::from(self.policy.high_percent) {
            return Ok(());
        }
        let to_free = fs.capacity * i64::from(100 - self.policy.low_percent) / 100 - available;
        tracing::info!(
            usage_percent,
            high = self.policy.high_percent,
            bytes = to_free,
            "image filesystem usage is over the high threshold; freeing space"
        );
        let freed = self.free_space(to_free, now).await?;
        if freed < to_free {
            let message = format!(
                "Failed to garbage collect required amount of images. Attempted to free {to_free} bytes, but only found {freed} bytes eligible to free."
            );
            self.recorder.record(
                node_ref(&self.node_name),
                WARNING,
                "FreeDiskSpaceFailed",
                message.clone(),
            );
            return Err(message);
        }
        Ok(())
    }

    /// Runs [`Self::garbage_collect`] now and every [`PERIOD`]; `image_fs` observes
    /// the image filesystem. A failure twice in a row gives an
    /// `ImageGCFailed` event, as upstream.
    pub async fn run<F, Fut>(
        self: Arc<Self>,
        image_fs: F,
        shutdown: impl std::future::Future<Output = ()>,
    ) where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Option<Observation>>,
    {
        tokio::pin!(shutdown);
        let mut failed_before = false;
        loop {
            // Like upstream's wait.Until: first right away (images seen now
            // start their minimum age), then every period.
            let fs = image_fs().await;
            match self.garbage_collect(fs, Instant::now()).await {
                Ok(()) => failed_before = false,
                Err(err) => {
                    tracing::error!(error = %err, "image garbage collection failed");
                    if failed_before {
                        self.recorder.record(
                            node_ref(&self.node_name),
                            WARNING,
                            "ImageGCFailed",
                            err,
                        );
                    }
                    failed_before = true;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(PERIOD) => {}
                () = &mut shutdown => return,
            }
        }
    }
}
