//! Turns the desired endpoints and the existing slices into creates,
//! updates and deletes with as little churn as upstream's reconciler:
//!
//! 1. per group (address type + ports), every existing slice keeps the
//!    endpoints still desired (refreshed if they changed) and drops the
//!    others; a slice left empty is deleted;
//! 2. new endpoints first fill the slices already being updated (fullest
//!    first), then, if what is left fits, the fullest unchanged slice with
//!    room; the rest go into new slices of at most `max` endpoints;
//! 3. slices of groups no longer desired are deleted; a Service without
//!    endpoints keeps one empty placeholder slice;
//! 4. a create paired with a delete of the same address type becomes an
//!    update of the deleted slice (one write instead of two).
//!
//! Metadata (labels, owner) comes from a [`SliceTemplate`]; a slice whose
//! metadata drifted is updated even if its endpoints did not change.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::desired::{DesiredGroup, GroupKey, endpoint_id};

/// What a sync writes.
#[derive(Debug, Default)]
pub struct Plan {
    /// New slices (named by `generateName`).
    pub create: Vec<EndpointSlice>,
    /// Changed slices (with their `resourceVersion`).
    pub update: Vec<EndpointSlice>,
    /// Slices to remove.
    pub delete: Vec<EndpointSlice>,
}

impl Plan {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// The metadata every slice of one owner carries.
#[derive(Debug, Clone)]
pub struct SliceTemplate {
    /// The owner's namespace.
    pub namespace: String,
    /// `generateName` of new slices (`<service>-`).
    pub generate_name: String,
    /// The complete label set.
    pub labels: BTreeMap<String, String>,
    /// The controller reference to the owner.
    pub owner: OwnerReference,
}

impl SliceTemplate {
    /// An empty slice of `key`'s address type and ports.
    pub fn new_slice(&self, key: &GroupKey) -> EndpointSlice {
        let ports: Vec<_> = key.ports.iter().map(|p| p.to_endpoint_port()).collect();
        EndpointSlice {
            metadata: ObjectMeta {
                generate_name: Some(self.generate_name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(self.labels.clone()),
                owner_references: Some(vec![self.owner.clone()]),
                ..ObjectMeta::default()
            },
            address_type: key.address_type.clone(),
            endpoints: Vec::new(),
            ports: (!ports.is_empty()).then_some(ports),
        }
    }

    /// Whether the slice's labels or controller reference differ.
    pub fn needs_meta_update(&self, slice: &EndpointSlice) -> bool {
        let labels = slice.metadata.labels.clone().unwrap_or_default();
        let owned = slice
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.controller == Some(true) && o.uid == self.owner.uid);
        labels != self.labels || !owned
    }

    /// Sets the labels and the controller reference.
    pub fn apply_meta(&self, slice: &mut EndpointSlice) {
        slice.metadata.labels = Some(self.labels.clone());
        let mut owners: Vec<OwnerReference> = slice
            .metadata
            .owner_references
            .take()
            .unwrap_or_default()
            .into_iter()
            .filter(|o| o.controller != Some(true) && o.uid != self.owner.uid)
            .collect();
        owners.insert(0, self.owner.clone());
        slice.metadata.owner_references = Some(owners);
    }
}

/// Plans the writes that turn `existing` into `desired` (empty groups are
/// never desired). `placeholder_type` is the address type of the empty
/// slice kept when nothing is desired (`None`: keep no slice at all).
pub fn plan(
    existing: &[EndpointSlice],
    desired: &BTreeMap<GroupKey, DesiredGroup>,
    placeholder_type: Option<&str>,
    max: usize,
    template: &SliceTemplate,
) -> Plan {
    let max = max.max(1);
    let mut by_group: BTreeMap<GroupKey, Vec<EndpointSlice>> = BTreeMap::new();
    for slice in existing {
        by_group
            .entry(GroupKey::of_slice(slice))
            .or_default()
            .push(slice.clone());
    }
    let mut plan = Plan::default();
    for (key, group) in desired {
        let slices = by_group.remove(key).unwrap_or_default();
        plan_group(key, slices, group, max, template, &mut plan);
    }
    plan.delete.extend(by_group.into_values().flatten());

    if let Some(placeholder_type) = placeholder_type
        && existing.len() == plan.delete.len()
        && plan.create.is_empty()
    {
        let placeholder = template.new_slice(&GroupKey {
            address_type: placeholder_type.to_string(),
            ports: Vec::new(),
        });
        let keep = plan.delete.len() == 1
            && plan.delete[0].endpoints.is_empty()
            && plan.delete[0].ports.as_ref().is_none_or(Vec::is_empty)
            && plan.delete[0].address_type == placeholder_type;
        if keep {
            let mut slice = plan.delete.remove(0);
            if template.needs_meta_update(&slice) {
                template.apply_meta(&mut slice);
                plan.update.push(slice);
            }
        } else {
            plan.create.push(placeholder);
        }
    }
    reuse_deleted_slices(&mut plan, template);
    plan
}

fn plan_group(
    key: &GroupKey,
    slices: Vec<EndpointSlice>,
    group: &DesiredGroup,
    max: usize,
    template: &SliceTemplate,
    plan: &mut Plan,
) {
    let mut remaining = group.clone();
    let mut to_update = Vec::new();
    let mut unchanged = Vec::new();
    for mut slice in slices {
        let mut changed = false;
        let mut kept = Vec::with_capacity(slice.endpoints.len());
        for endpoint in std::mem::take(&mut slice.endpoints) {
            match remaining.remove(endpoint_id(&endpoint)) {
                Some(want) => {
                    changed |= want != endpoint;
                    kept.push(want);
                }
                // Gone, or a duplicate of one already placed.
                None => changed = true,
            }
        }
        slice.endpoints = kept;
        if slice.endpoints.is_empty() {
            plan.delete.push(slice);
        } else if changed || template.needs_meta_update(&slice) {
            to_update.push(slice);
        } else {
            unchanged.push(slice);
        }
    }

    let mut remaining: Vec<Endpoint> = remaining.into_values().collect();
    remaining.reverse(); // pop() hands them out in address order
    to_update.sort_by_key(|s| std::cmp::Reverse(s.endpoints.len()));
    for slice in &mut to_update {
        while slice.endpoints.len() < max {
            let Some(endpoint) = remaining.pop() else {
                break;
            };
            slice.endpoints.push(endpoint);
        }
    }
    if !remaining.is_empty() && remaining.len() < max {
        let fullest_with_room = unchanged
            .iter()
            .enumerate()
            .filter(|(_, s)| s.endpoints.len() + remaining.len() <= max)
            .max_by_key(|(_, s)| s.endpoints.len())
            .map(|(i, _)| i);
        if let Some(i) = fullest_with_room {
            let mut slice = unchanged.swap_remove(i);
            while let Some(endpoint) = remaining.pop() {
                slice.endpoints.push(endpoint);
            }
            to_update.push(slice);
        }
    }
    while !remaining.is_empty() {
        let mut slice = template.new_slice(key);
        while slice.endpoints.len() < max {
            let Some(endpoint) = remaining.pop() else {
                break;
            };
            slice.endpoints.push(endpoint);
        }
        plan.create.push(slice);
    }
    for slice in &mut to_update {
        template.apply_meta(slice);
    }
    plan.update.extend(to_update);
}

/// Step 4: a slice about to be deleted takes the place of a new one of the
/// same address type.
fn reuse_deleted_slices(plan: &mut Plan, template: &SliceTemplate) {
    let mut reused = HashSet::new();
    let mut create = Vec::new();
    for new in std::mem::take(&mut plan.create) {
        let reusable = plan
            .delete
            .iter()
            .enumerate()
            .find(|(i, old)| !reused.contains(i) && old.address_type == new.address_type);
        match reusable {
            Some((i, old)) => {
                reused.insert(i);
                let mut slice = old.clone();
                slice.endpoints = new.endpoints;
                slice.ports = new.ports;
                template.apply_meta(&mut slice);
                plan.update.push(slice);
            }
            None => create.push(new),
        }
    }
    plan.create = create;
    plan.delete = std::mem::take(&mut plan.delete)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !reused.contains(i))
        .map(|(_, s)| s)
        .collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::endpointslice::desired::PortKey;
    use k8s_openapi::api::discovery::v1::EndpointConditions;

    fn template() -> SliceTemplate {
        SliceTemplate {
            namespace: "ns".into(),
            generate_name: "web-".into(),
            labels: BTreeMap::from([("kubernetes.io/service-name".into(), "web".into())]),
            owner: OwnerReference {
                api_version: "v1".into(),
                kind: "Service".into(),
                name: "web".into(),
                uid: "svc-uid".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            },
        }
    }

    fn key() -> GroupKey {
        GroupKey {
            address_type: "IPv4".into(),
            ports: vec![PortKey {
                name: "http".into(),
                port: 8080,
                protocol: "TCP".into(),
                app_protocol: None,
            }],
        }
    }

    fn endpoint(i: usize, ready: bool) -> Endpoint {
        Endpoint {
            addresses: vec![format!("10.0.{}.{}", i / 250, i % 250 + 1)],
            conditions: Some(EndpointConditions {
                ready: Some(ready),
                serving: Some(ready),
                terminating: Some(false),
            }),
            ..Endpoint::default()
        }
    }

    fn group(range: std::ops::Range<usize>) -> DesiredGroup {
        range
            .map(|i| {
                let e = endpoint(i, true);
                (e.addresses[0].clone(), e)
            })
            .collect()
    }

    /// Applies a plan the way the API would, naming new slices.
    fn apply(existing: Vec<EndpointSlice>, plan: Plan) -> Vec<EndpointSlice> {
        let deleted: HashSet<_> = plan
            .delete
            .iter()
            .map(|s| s.metadata.name.clone())
            .collect();
        let updated: BTreeMap<_, _> = plan
            .update
            .into_iter()
            .map(|s| (s.metadata.name.clone(), s))
            .collect();
        let mut out: Vec<EndpointSlice> = existing
            .into_iter()
            .filter(|s| !deleted.contains(&s.metadata.name))
            .map(|s| updated.get(&s.metadata.name).cloned().unwrap_or(s))
            .collect();
        let base = out.len();
        for (i, mut s) in plan.create.into_iter().enumerate() {
            s.metadata.name = Some(format!("web-{}", base + i));
            out.push(s);
        }
        out
    }

    fn desired(g: DesiredGroup) -> BTreeMap<GroupKey, DesiredGroup> {
        BTreeMap::from([(key(), g)])
    }

    #[test]
    fn splits_into_slices_of_at_most_max() {
        let p = plan(&[], &desired(group(0..250)), Some("IPv4"), 100, &template());
        let sizes: Vec<usize> = p.create.iter().map(|s| s.endpoints.len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        let s = &p.create[0];
        assert_eq!(s.metadata.generate_name.as_deref(), Some("web-"));
        assert_eq!(s.ports.as_ref().unwrap()[0].port, Some(8080));
        assert_eq!(
            s.metadata.owner_references.as_ref().unwrap()[0].uid,
            "svc-uid"
        );
    }

    #[test]
    fn steady_state_writes_nothing() {
        let slices = apply(
            vec![],
            plan(&[], &desired(group(0..150)), Some("IPv4"), 100, &template()),
        );
        let p = plan(
            &slices,
            &desired(group(0..150)),
            Some("IPv4"),
            100,
            &template(),
        );
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn one_pod_change_touches_one_slice() {
        let slices = apply(
            vec![],
            plan(&[], &desired(group(0..150)), Some("IPv4"), 100, &template()),
        );
        let mut g = group(0..150);
        let changed = endpoint(120, false);
        g.insert(changed.addresses[0].clone(), changed.clone());
        let p = plan(&slices, &desired(g), Some("IPv4"), 100, &template());
        assert!(p.create.is_empty() && p.delete.is_empty());
        assert_eq!(p.update.len(), 1);
        assert!(p.update[0].endpoints.contains(&changed));
    }

    #[test]
    fn new_endpoints_fill_existing_room_before_new_slices() {
        let slices = apply(
            vec![],
            plan(&[], &desired(group(0..150)), Some("IPv4"), 100, &template()),
        );
        // 10 removed from the full slice, 20 added: they refill it, then
        // the rest joins the half-full one.
        let mut g = group(10..150);
        g.extend(group(200..220));
        let p = plan(&slices, &desired(g), Some("IPv4"), 100, &template());
        assert!(p.create.is_empty(), "{p:?}");
        let after = apply(slices, p);
        let mut sizes: Vec<usize> = after.iter().map(|s| s.endpoints.len()).collect();
        sizes.sort();
        assert_eq!(sizes, [60, 100]);
        let total: HashSet<_> = after
            .iter()
            .flat_map(|s| s.endpoints.iter())
            .map(|e| e.addresses[0].clone())
            .collect();
        assert_eq!(total.len(), 160);
    }

    #[test]
    fn no_endpoints_leave_one_placeholder() {
        let slices = apply(
            vec![],
            plan(&[], &desired(group(0..150)), Some("IPv4"), 100, &template()),
        );
        let p = plan(&slices, &BTreeMap::new(), Some("IPv4"), 100, &template());
        // One slice is reused as the placeholder, the other deleted.
        assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (0, 1, 1));
        assert!(p.update[0].endpoints.is_empty() && p.update[0].ports.is_none());
        let after = apply(slices, p);
        assert!(plan(&after, &BTreeMap::new(), Some("IPv4"), 100, &template()).is_empty());
        let fresh = plan(&[], &BTreeMap::new(), Some("IPv6"), 100, &template());
        assert_eq!(fresh.create.len(), 1);
        assert_eq!(fresh.create[0].address_type, "IPv6");
    }

    #[test]
    fn drifted_labels_are_restored() {
        let mut slices = apply(
            vec![],
            plan(&[], &desired(group(0..5)), Some("IPv4"), 100, &template()),
        );
        slices[0].metadata.labels = Some(BTreeMap::new());
        let p = plan(
            &slices,
            &desired(group(0..5)),
            Some("IPv4"),
            100,
            &template(),
        );
        assert_eq!(p.update.len(), 1);
        assert_eq!(
            p.update[0].metadata.labels.as_ref(),
            Some(&template().labels)
        );
    }

    #[test]
    fn duplicated_endpoints_are_removed() {
        let mut slices = apply(
            vec![],
            plan(&[], &desired(group(0..3)), Some("IPv4"), 100, &template()),
        );
        let mut copy = slices[0].clone();
        copy.metadata.name = Some("web-dup".into());
        slices.push(copy);
        let p = plan(
            &slices,
            &desired(group(0..3)),
            Some("IPv4"),
            100,
            &template(),
        );
        assert_eq!(p.delete.len(), 1);
        assert!(p.update.is_empty() && p.create.is_empty());
    }
}
