//! ImageLocality: favors nodes that already have the pod's images, weighted
//! by image size and by how many nodes have them (so that images present
//! everywhere do not pull every pod to one node).

use crate::cache::Snapshot;
use crate::framework::{
    ExtensionPoints, MAX_NODE_SCORE, NodeInfo, Plugin, PodInfo, StateBox, StateData, Status,
    state_ref,
};

/// Plugin name.
pub const NAME: &str = "ImageLocality";

const MB: i64 = 1024 * 1024;
/// Below this total, the score is 0.
const MIN_THRESHOLD: i64 = 23 * MB;
/// Per container, above this the score is 100.
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

/// The ImageLocality plugin.
#[derive(Debug, Default)]
pub struct ImageLocality;

/// The pod's images as interned ids (unknown images are on no node), and
/// the container count.
#[derive(Clone)]
struct PreScoreState {
    images: Vec<u32>,
    containers: usize,
}

/// Upstream `normalizedImageName`: adds `:latest` when there is no tag.
pub fn normalized_image_name(name: &str) -> String {
    let colon = name.rfind(':');
    let slash = name.rfind('/');
    let has_tag = match (colon, slash) {
        (Some(c), Some(s)) => c > s,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if has_tag {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

fn pod_images(pod: &PodInfo, snapshot: &Snapshot) -> PreScoreState {
    let Some(spec) = pod.pod.spec.as_ref() else {
        return PreScoreState {
            images: Vec::new(),
            containers: 0,
        };
    };
    let containers: Vec<&k8s_openapi::api::core::v1::Container> = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .collect();
    let images = containers
        .iter()
        .filter_map(|c| c.image.as_deref())
        .filter_map(|image| snapshot.image_id(&normalized_image_name(image)))
        .collect();
    PreScoreState {
        images,
        containers: containers.len(),
    }
}

fn calculate_priority(sum: i64, containers: usize) -> i64 {
    let max_threshold = MAX_CONTAINER_THRESHOLD
        * i64::try_from(containers).unwrap_or(i64::MAX / MAX_CONTAINER_THRESHOLD);
    if max_threshold <= MIN_THRESHOLD {
        return 0;
    }
    let clamped = sum.clamp(MIN_THRESHOLD, max_threshold);
    MAX_NODE_SCORE * (clamped - MIN_THRESHOLD) / (max_threshold - MIN_THRESHOLD)
}

impl Plugin for ImageLocality {
    fn name(&self) -> &'static str {
        NAME
    }

    fn extension_points(&self) -> ExtensionPoints {
        ExtensionPoints::PRE_SCORE.or(ExtensionPoints::SCORE)
    }

    fn pre_score(
        &self,
        pod: &PodInfo,
        _nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> (Option<StateBox>, Status) {
        let state = pod_images(pod, snapshot);
        if state.images.is_empty() {
            // No node has any of the pod's images: every node scores 0.
            return (None, Status::skip());
        }
        (Some(Box::new(state)), Status::success())
    }

    fn score(
        &self,
        state: Option<&dyn StateData>,
        pod: &PodInfo,
        node: &NodeInfo,
        snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        let computed;
        let state = match state_ref::<PreScoreState>(state) {
            Some(s) => s,
            None => {
                computed = pod_images(pod, snapshot);
                &computed
            }
        };
        let total = snapshot.num_nodes().max(1) as f64;
        let mut sum = 0i64;
        for &id in &state.images {
            if let Some(size) = node.image_size(id) {
                let spread = f64::from(snapshot.image_node_count(id)) / total;
                sum += (size as f64 * spread) as i64;
            }
        }
        Ok(calculate_priority(sum, state.containers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn normalizes_names() {
        assert_eq!(normalized_image_name("nginx"), "nginx:latest");
        assert_eq!(normalized_image_name("nginx:1.2"), "nginx:1.2");
        assert_eq!(
            normalized_image_name("localhost:5000/nginx"),
            "localhost:5000/nginx:latest"
        );
        assert_eq!(normalized_image_name("gcr.io/a/b:v1"), "gcr.io/a/b:v1");
    }

    #[test]
    fn scores_like_upstream() {
        // Upstream image_locality_test "two images spread on two nodes, prefer the larger image one":
        // node1 has gcr.io/40:latest (40MB), node2 has gcr.io/300:latest (300MB).
        let mut snap = Snapshot::new();
        let node = |name: &str, image: &str, mb: i64| {
            Arc::new(
                serde_json::from_value(json!({"metadata": {"name": name},
                "status": {"images": [{"names": [image], "sizeBytes": mb * MB}]}}))
                .unwrap(),
            )
        };
        snap.upsert_node(node("node1", "gcr.io/40:latest", 40));
        snap.upsert_node(node("node2", "gcr.io/300:latest", 300));
        snap.prepare();
        let pod = PodInfo::new(Arc::new(serde_json::from_value(json!({"metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a", "image": "gcr.io/40"}, {"name": "b", "image": "gcr.io/300"}]}})).unwrap()));
        let nodes: Vec<&NodeInfo> = snap.nodes().collect();
        let (state, _) = ImageLocality.pre_score(&pod, &nodes, &snap);
        let scores: Vec<i64> = nodes
            .iter()
            .map(|n| {
                ImageLocality
                    .score(state.as_deref(), &pod, n, &snap)
                    .unwrap()
            })
            .collect();
        // node1: 40MB * 1/2 = 20MB < 23MB -> 0; node2: 150MB -> 100 * (150-23)/(2000-23) = 6.
        assert_eq!(scores, [0, 6]);
    }
}
