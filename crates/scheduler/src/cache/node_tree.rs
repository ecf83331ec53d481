//! The node order of a cycle (upstream `nodeTree`): nodes are grouped by
//! zone and listed round-robin across zones, so that when only a share of
//! the nodes is evaluated (`percentageOfNodesToScore`), every zone gets
//! its turn.

use k8s_openapi::api::core::v1::Node;

use crate::framework::NodeInfo;
use crate::framework::node_selector::node_labels;

/// Upstream `GetZoneKey`: `region:\x00:zone`, or "" when neither is set.
pub fn zone_key(node: &Node) -> String {
    let labels = node_labels(node);
    let get = |stable: &str, beta: &str| {
        labels
            .get(stable)
            .or_else(|| labels.get(beta))
            .cloned()
            .unwrap_or_default()
    };
    let region = get(
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/region",
    );
    let zone = get(
        "topology.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/zone",
    );
    if region.is_empty() && zone.is_empty() {
        return String::new();
    }
    format!("{region}:\x00:{zone}")
}

/// The slots of the present nodes: zones in order of first appearance,
/// nodes round-robin across them.
pub fn zone_interleaved(slots: &[NodeInfo]) -> Vec<usize> {
    let mut zones: Vec<(String, Vec<usize>)> = Vec::new();
    for (at, info) in slots.iter().enumerate() {
        if !info.present {
            continue;
        }
        let key = zone_key(&info.node);
        match zones.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(at),
            None => zones.push((key, vec![at])),
        }
    }
    let total: usize = zones.iter().map(|(_, m)| m.len()).sum();
    let mut order = Vec::with_capacity(total);
    let mut round = 0;
    while order.len() < total {
        for (_, members) in &zones {
            if let Some(&at) = members.get(round) {
                order.push(at);
            }
        }
        round += 1;
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn interleaves_zones() {
        let info = |name: &str, zone: Option<&str>| {
            let labels = zone.map_or(json!({}), |z| json!({"topology.kubernetes.io/zone": z}));
            NodeInfo::new(Arc::new(
                serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))
                    .unwrap(),
            ))
        };
        let mut slots = vec![
            info("a1", Some("a")),
            info("a2", Some("a")),
            info("a3", Some("a")),
            info("b1", Some("b")),
            info("n1", None),
            NodeInfo::default(),
        ];
        slots[5].present = false;
        let order = zone_interleaved(&slots);
        let names: Vec<&str> = order.iter().map(|&i| slots[i].name.as_str()).collect();
        assert_eq!(names, ["a1", "b1", "n1", "a2", "a3"]);
        assert_eq!(zone_key(&slots[0].node), ":\u{0}:a");
    }
}
