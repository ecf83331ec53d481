//! Which endpoints receive which traffic, decided as upstream's
//! `CategorizeEndpoints` (pkg/proxy/topology.go in 1.33):
//!
//! - Cluster traffic goes to ready endpoints; when every ready endpoint
//!   carries zone hints (`hints.forZones`, set by the EndpointSlice
//!   controller for `service.kubernetes.io/topology-mode: Auto` and
//!   `trafficDistribution: PreferClose`) and at least one is hinted for this
//!   node's zone, only to those. Without ready endpoints, to the
//!   serving-and-terminating ones (so rolling updates do not drop traffic).
//! - Local traffic (a Local traffic policy) goes to this node's ready
//!   endpoints, else to its serving-and-terminating ones; zones do not
//!   matter there.
//!
//! As in upstream 1.33 (ServiceTrafficDistribution is GA), the proxy does not
//! look at the Service's annotation or `trafficDistribution`: the hints
//! alone decide, and their absence on any ready endpoint turns topology off.

use crate::model::Endpoint;

/// The endpoints of one Service port (one family) by category.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointSets {
    /// Endpoints for traffic under the Cluster policy.
    pub cluster: Vec<Endpoint>,
    /// Endpoints on this node (for Local policies).
    pub local: Vec<Endpoint>,
}

/// Whether zone hints apply: every ready endpoint has one and at least one
/// is for `zone` (a node without a zone label never matches).
pub fn uses_zone_hints(endpoints: &[Endpoint], zone: &str) -> bool {
    let mut ready = endpoints.iter().filter(|ep| ep.ready).peekable();
    if ready.peek().is_none() || zone.is_empty() {
        return false;
    }
    let mut for_zone = false;
    for ep in ready {
        if ep.zone_hints.is_empty() {
            return false;
        }
        for_zone |= ep.zone_hints.iter().any(|z| z == zone);
    }
    for_zone
}

fn serving_terminating<'a>(
    endpoints: impl Iterator<Item = &'a Endpoint>,
) -> impl Iterator<Item = &'a Endpoint> {
    endpoints.filter(|ep| ep.serving && ep.terminating)
}

impl EndpointSets {
    /// Categorizes `endpoints` (deduplicated and sorted) for a node in
    /// `zone` ("" when the node has no zone label).
    pub fn categorize(endpoints: &[Endpoint], zone: &str) -> EndpointSets {
        let topology = uses_zone_hints(endpoints, zone);
        let mut cluster: Vec<Endpoint> = endpoints
            .iter()
            .filter(|ep| ep.ready && (!topology || ep.zone_hints.iter().any(|z| z == zone)))
            .cloned()
            .collect();
        if cluster.is_empty() {
            cluster = serving_terminating(endpoints.iter()).cloned().collect();
        }
        let local_eps = || endpoints.iter().filter(|ep| ep.local);
        let mut local: Vec<Endpoint> = local_eps().filter(|ep| ep.ready).cloned().collect();
        if local.is_empty() {
            local = serving_terminating(local_eps()).cloned().collect();
        }
        EndpointSets { cluster, local }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(ip: &str, ready: bool, serving: bool, terminating: bool, local: bool) -> Endpoint {
        Endpoint {
            ip: ip.parse().unwrap(),
            port: 80,
            ready,
            serving,
            terminating,
            local,
            zone_hints: Vec::new(),
        }
    }

    fn hinted(ip: &str, ready: bool, zones: &[&str]) -> Endpoint {
        let mut e = ep(ip, ready, ready, false, false);
        e.zone_hints = zones.iter().map(|z| z.to_string()).collect();
        e
    }

    #[test]
    fn categorize_prefers_ready_and_falls_back_to_serving_terminating() {
        let eps = vec![
            ep("10.0.0.1", true, true, false, false),
            ep("10.0.0.2", false, true, true, true),
            ep("10.0.0.3", false, false, false, true),
        ];
        let sets = EndpointSets::categorize(&eps, "");
        assert_eq!(sets.cluster, vec![eps[0].clone()]);
        // No ready local endpoint: the terminating-but-serving one is used.
        assert_eq!(sets.local, vec![eps[1].clone()]);

        let none_ready = vec![eps[2].clone()];
        assert_eq!(
            EndpointSets::categorize(&none_ready, ""),
            EndpointSets::default()
        );
    }

    #[test]
    fn zone_hints_pick_the_nodes_zone() {
        let eps = vec![
            hinted("10.0.0.1", true, &["zone-a"]),
            hinted("10.0.0.2", true, &["zone-b"]),
            hinted("10.0.0.3", true, &["zone-a", "zone-c"]),
        ];
        let sets = EndpointSets::categorize(&eps, "zone-a");
        assert_eq!(sets.cluster, vec![eps[0].clone(), eps[2].clone()]);
        let sets = EndpointSets::categorize(&eps, "zone-b");
        assert_eq!(sets.cluster, vec![eps[1].clone()]);
    }

    #[test]
    fn zone_hints_fall_back_to_every_endpoint() {
        let eps = vec![
            hinted("10.0.0.1", true, &["zone-a"]),
            hinted("10.0.0.2", true, &["zone-b"]),
        ];
        // No endpoint for this zone, or no zone label: all of them.
        assert_eq!(EndpointSets::categorize(&eps, "zone-x").cluster.len(), 2);
        assert_eq!(EndpointSets::categorize(&eps, "").cluster.len(), 2);
        // One ready endpoint without hints turns topology off.
        let mut partial = eps.clone();
        partial.push(hinted("10.0.0.3", true, &[]));
        assert_eq!(
            EndpointSets::categorize(&partial, "zone-a").cluster.len(),
            3
        );
        // An unready endpoint without hints does not.
        let mut unready = eps.clone();
        unready.push(hinted("10.0.0.4", false, &[]));
        assert_eq!(
            EndpointSets::categorize(&unready, "zone-a").cluster,
            vec![eps[0].clone()]
        );
    }

    #[test]
    fn zone_hints_do_not_limit_local_endpoints() {
        let mut here = hinted("10.0.0.1", true, &["zone-b"]);
        here.local = true;
        let eps = vec![here.clone(), hinted("10.0.0.2", true, &["zone-a"])];
        let sets = EndpointSets::categorize(&eps, "zone-a");
        assert_eq!(sets.cluster, vec![eps[1].clone()]);
        assert_eq!(sets.local, vec![here]);
    }
}
