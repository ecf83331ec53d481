//! Controller references: which controller owns an object, adoption of
//! orphans and release of objects that no longer match (upstream's
//! `ControllerRefManager`).
//!
//! An object belongs to the controller named by its one `ownerReferences`
//! entry with `controller: true`. When a controller syncs, it *claims* the
//! objects of its namespace:
//!
//! | object | selector matches | outcome |
//! | --- | --- | --- |
//! | owned by us | yes | kept |
//! | owned by us | no | released (our reference removed), unless we are being deleted |
//! | owned by another controller | - | ignored |
//! | orphan | yes | adopted (our controller reference added), unless either side is being deleted |
//! | orphan | no | ignored |
//!
//! Before the first adoption of a sync the controller is re-read from the
//! apiserver (not the cache): a controller that was just deleted, or
//! replaced by one with the same name, must not adopt anything.
//! Adoption and release are strategic merge patches that name the object's
//! UID, as upstream's, so they never touch a replacement object.

use std::fmt;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::api_errors;
use super::informer::{Informer, InformerResource};
use super::label_index;
use super::selector::Selector;

/// The controller side of a claim: who adopts.
#[derive(Debug, Clone)]
pub struct Owner {
    /// The controller's API resource (for the fresh read before adopting).
    pub resource: ApiResource,
    /// Its name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Its UID.
    pub uid: String,
    /// Whether it has a deletionTimestamp.
    pub deleting: bool,
    /// Finalizers its adoption adds and its release removes (upstream's
    /// `PodControllerRefManager` finalizers: the Job's tracking finalizer).
    pub finalizers: Vec<String>,
}

impl Owner {
    /// The owner description of `obj`.
    pub fn of<K: Resource<DynamicType = ()>>(obj: &K) -> Self {
        Self {
            resource: ApiResource::erase::<K>(&()),
            name: obj.name_any(),
            namespace: obj.namespace().unwrap_or_default(),
            uid: obj.uid().unwrap_or_default(),
            deleting: obj.meta().deletion_timestamp.is_some(),
            finalizers: Vec::new(),
        }
    }

    /// The same owner, adding `finalizers` to what it adopts and removing
    /// them from what it releases.
    pub fn with_finalizers(mut self, finalizers: &[&str]) -> Self {
        self.finalizers = finalizers.iter().map(|f| f.to_string()).collect();
        self
    }

    /// The reference its objects carry (upstream `NewControllerRef`:
    /// `controller` and `blockOwnerDeletion` true).
    pub fn controller_ref(&self) -> OwnerReference {
        OwnerReference {
            api_version: self.resource.api_version.clone(),
            kind: self.resource.kind.clone(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }
}

/// The `ownerReferences` entry with `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
}

/// What a claim does with one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimDecision {
    /// Ours and matching.
    Owned,
    /// An orphan that matches: adopt it.
    Adopt,
    /// Ours but no longer matching: release it.
    Release,
    /// Not ours, and not to be made ours.
    Ignore,
}

/// Upstream `ClaimObject`'s decision for an object with metadata `meta`
/// whose labels do (`matches`) or do not match the owner's selector.
pub fn claim_decision(owner: &Owner, meta: &ObjectMeta, matches: bool) -> ClaimDecision {
    if let Some(controller) = controller_of(meta) {
        if controller.uid != owner.uid {
            return ClaimDecision::Ignore;
        }
        if matches {
            return ClaimDecision::Owned;
        }
        return if owner.deleting {
            ClaimDecision::Ignore
        } else {
            ClaimDecision::Release
        };
    }
    if owner.deleting || !matches || meta.deletion_timestamp.is_some() {
        return ClaimDecision::Ignore;
    }
    if !owner.namespace.is_empty() && meta.namespace.as_deref() != Some(owner.namespace.as_str()) {
        return ClaimDecision::Ignore;
    }
    ClaimDecision::Adopt
}

/// Why claiming failed for some objects (the sync is retried).
#[derive(Debug)]
pub struct ClaimError(Vec<String>);

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() == 1 {
            f.write_str(&self.0[0])
        } else {
            write!(f, "[{}]", self.0.join(", "))
        }
    }
}

impl std::error::Error for ClaimError {}

/// Claims `objects` (all from the owner's namespace) for `owner`, patching
/// adoptions and releases through `api`; returns the objects that are the
/// owner's after the claim.
pub async fn claim<K>(
    client: &Client,
    api: &Api<K>,
    owner: &Owner,
    objects: Vec<Arc<K>>,
    matches: impl Fn(&K) -> bool,
) -> Result<Vec<Arc<K>>, ClaimError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + fmt::Debug,
{
    let mut claimed = Vec::new();
    let mut errors = Vec::new();
    let mut can_adopt: Option<Result<(), String>> = None;
    for obj in objects {
        match claim_decision(owner, obj.meta(), matches(&obj)) {
            ClaimDecision::Owned => claimed.push(obj),
            ClaimDecision::Ignore => {}
            ClaimDecision::Release => {
                if let Err(err) = release(api, owner, obj.meta()).await
                    && !api_errors::is_not_found(&err)
                {
                    errors.push(api_errors::message(&err));
                }
            }
            ClaimDecision::Adopt => {
                if can_adopt.is_none() {
                    can_adopt = Some(recheck_owner(client, owner).await);
                }
                if let Some(Err(reason)) = &can_adopt {
                    errors.push(format!(
                        "can't adopt {} {}/{} ({}): {reason}",
                        K::kind(&()),
                        obj.namespace().unwrap_or_default(),
                        obj.name_any(),
                        obj.uid().unwrap_or_default()
                    ));
                    continue;
                }
                match adopt(api, owner, obj.meta()).await {
                    Ok(adopted) => claimed.push(Arc::new(adopted)),
                    Err(err) if api_errors::is_not_found(&err) => {}
                    Err(err) => errors.push(api_errors::message(&err)),
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(claimed)
    } else {
        Err(ClaimError(errors))
    }
}

/// Upstream `RecheckDeletionTimestamp`: the owner as the apiserver has it
/// now must be the same object and not being deleted.
async fn recheck_owner(client: &Client, owner: &Owner) -> Result<(), String> {
    let api: Api<DynamicObject> = if owner.namespace.is_empty() {
        Api::all_with(client.clone(), &owner.resource)
    } else {
        Api::namespaced_with(client.clone(), &owner.namespace, &owner.resource)
    };
    let fresh = api
        .get_metadata(&owner.name)
        .await
        .map_err(|err| api_errors::message(&err))?;
    let uid = fresh.metadata.uid.unwrap_or_default();
    if uid != owner.uid {
        return Err(format!(
            "original {}/{} is gone: got uid {uid}, wanted {}",
            owner.namespace, owner.name, owner.uid
        ));
    }
    if fresh.metadata.deletion_timestamp.is_some() {
        return Err(format!(
            "{}/{} has just been deleted",
            owner.namespace, owner.name
        ));
    }
    Ok(())
}

/// Adds `owner`'s controller reference (and finalizers) to the object
/// (`meta`), naming its UID so a replacement object is never touched.
pub async fn adopt<K>(api: &Api<K>, owner: &Owner, meta: &ObjectMeta) -> Result<K, kube::Error>
where
    K: Clone + DeserializeOwned + fmt::Debug,
{
    api.patch(
        meta.name.as_deref().unwrap_or_default(),
        &PatchParams::default(),
        &Patch::Strategic(adopt_patch(owner, meta)),
    )
    .await
}

/// Removes `owner`'s reference from the object (`meta`), and the owner's
/// finalizers with it.
pub async fn release<K>(api: &Api<K>, owner: &Owner, meta: &ObjectMeta) -> Result<K, kube::Error>
where
    K: Clone + DeserializeOwned + fmt::Debug,
{
    api.patch(
        meta.name.as_deref().unwrap_or_default(),
        &PatchParams::default(),
        &Patch::Strategic(release_patch(owner, meta)),
    )
    .await
}

/// The strategic merge patch of [`adopt`] (upstream `ownerRefControllerPatch`):
/// finalizers are a merged list, so only ours are added.
pub fn adopt_patch(owner: &Owner, meta: &ObjectMeta) -> serde_json::Value {
    let mut patch = json!({
        "metadata": {
            "ownerReferences": [owner.controller_ref()],
            "uid": meta.uid,
        }
    });
    if !owner.finalizers.is_empty() {
        patch["metadata"]["finalizers"] = json!(owner.finalizers);
    }
    patch
}

/// The strategic merge patch of [`release`] (upstream
/// `GenerateDeleteOwnerRefStrategicMergeBytes`).
pub fn release_patch(owner: &Owner, meta: &ObjectMeta) -> serde_json::Value {
    let mut patch = json!({
        "metadata": {
            "ownerReferences": [{"$patch": "delete", "uid": owner.uid}],
            "uid": meta.uid,
        }
    });
    if !owner.finalizers.is_empty() {
        patch["metadata"]["$deleteFromPrimitiveList/finalizers"] = json!(owner.finalizers);
    }
    patch
}

/// Name of the informer index of objects by the UID of their controller
/// (upstream's `PodControllerUIDIndex`); orphans are filed under
/// [`orphan_index_key`] of their namespace.
pub const CONTROLLER_UID_INDEX: &str = "controllerUID";

/// The index value of the orphans of `namespace` (upstream
/// `OrphanPodIndexKeyForNamespace`).
pub fn orphan_index_key(namespace: &str) -> String {
    format!("_ORPHAN_POD/{namespace}")
}

/// Adds [`CONTROLLER_UID_INDEX`] to a shared informer (once).
pub fn add_controller_uid_index<K: InformerResource>(informer: &Informer<K>) {
    informer.add_index(CONTROLLER_UID_INDEX, |obj: &K| {
        vec![match controller_of(obj.meta()) {
            Some(reference) => reference.uid.clone(),
            None => orphan_index_key(&obj.namespace().unwrap_or_default()),
        }]
    });
}

/// The candidates of a claim by the controller with UID `owner_uid` in
/// `namespace`: the objects it controls plus the orphans of the namespace
/// (upstream `FilterPodsByOwner` with orphans). Objects controlled by
/// anybody else can never be claimed, so they are not even looked at.
/// Needs [`add_controller_uid_index`].
pub fn owned_and_orphans<K: InformerResource>(
    informer: &Informer<K>,
    owner_uid: &str,
    namespace: &str,
) -> Vec<Arc<K>> {
    let mut candidates = informer.by_index(CONTROLLER_UID_INDEX, owner_uid);
    candidates.retain(|obj| obj.meta().namespace.as_deref() == Some(namespace));
    candidates.extend(informer.by_index(CONTROLLER_UID_INDEX, &orphan_index_key(namespace)));
    candidates
}

/// Adds the indexes [`claim_candidates`] reads: [`CONTROLLER_UID_INDEX`]
/// and the label index.
pub fn add_claim_indexes<K: InformerResource>(informer: &Informer<K>) {
    add_controller_uid_index(informer);
    label_index::add_label_index(informer);
}

/// Orphan buckets up to this size are filtered directly; larger ones (a
/// namespace full of bare pods) are narrowed through the label index.
const SMALL_ORPHAN_BUCKET: usize = 64;

/// The candidates of a claim by the controller with UID `owner_uid` in
/// `namespace` whose selector is `selector`: the objects it controls (all
/// of them, so a relabelled one can be released) and the orphans the
/// selector matches (the only ones it could adopt). Neither the objects
/// of other controllers nor non-matching orphans are looked at. Needs
/// [`add_claim_indexes`].
pub fn claim_candidates<K: InformerResource>(
    informer: &Informer<K>,
    owner_uid: &str,
    namespace: &str,
    selector: &Selector,
) -> Vec<Arc<K>> {
    let mut candidates = informer.by_index(CONTROLLER_UID_INDEX, owner_uid);
    candidates.retain(|obj| obj.meta().namespace.as_deref() == Some(namespace));
    let orphan_key = orphan_index_key(namespace);
    let orphans = if informer.count_by_index(CONTROLLER_UID_INDEX, &orphan_key)
        <= SMALL_ORPHAN_BUCKET.max(candidates.len())
    {
        informer
            .by_index(CONTROLLER_UID_INDEX, &orphan_key)
            .into_iter()
            .filter(|obj| selector.matches(obj.meta().labels.as_ref()))
            .collect()
    } else {
        let mut matching = label_index::select(informer, namespace, selector);
        matching.retain(|obj| controller_of(obj.meta()).is_none());
        matching
    };
    candidates.extend(orphans);
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::informer::TestFeed;
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn owner(deleting: bool) -> Owner {
        let rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("ns".into()),
                uid: Some("rs-uid".into()),
                deletion_timestamp: deleting.then(|| Time(k8s_openapi::jiff::Timestamp::now())),
                ..ObjectMeta::default()
            },
            ..ReplicaSet::default()
        };
        Owner::of(&rs)
    }

    #[test]
    fn adoption_adds_and_release_removes_the_owners_finalizers() {
        let plain = owner(false);
        let pod = meta(None);
        assert!(
            adopt_patch(&plain, &pod)["metadata"]
                .get("finalizers")
                .is_none()
        );
        let tracking = owner(false).with_finalizers(&["batch.kubernetes.io/job-tracking"]);
        let adopt = adopt_patch(&tracking, &pod);
        assert_eq!(
            adopt["metadata"]["finalizers"],
            json!(["batch.kubernetes.io/job-tracking"])
        );
        assert_eq!(adopt["metadata"]["uid"], "pod-uid");
        assert_eq!(adopt["metadata"]["ownerReferences"][0]["uid"], "rs-uid");
        let release = release_patch(&tracking, &pod);
        assert_eq!(
            release["metadata"]["$deleteFromPrimitiveList/finalizers"],
            json!(["batch.kubernetes.io/job-tracking"])
        );
        assert_eq!(
            release["metadata"]["ownerReferences"],
            json!([{"$patch": "delete", "uid": "rs-uid"}])
        );
        assert!(
            release_patch(&plain, &pod)["metadata"]
                .get("$deleteFromPrimitiveList/finalizers")
                .is_none()
        );
    }

    fn meta(controller_uid: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            name: Some("p".into()),
            namespace: Some("ns".into()),
            uid: Some("pod-uid".into()),
            owner_references: controller_uid.map(|uid| {
                vec![OwnerReference {
                    uid: uid.into(),
                    controller: Some(true),
                    ..OwnerReference::default()
                }]
            }),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn controller_refs_look_like_upstreams() {
        let r = owner(false).controller_ref();
        assert_eq!(r.api_version, "apps/v1");
        assert_eq!(r.kind, "ReplicaSet");
        assert_eq!(
            (r.controller, r.block_owner_deletion),
            (Some(true), Some(true))
        );
    }

    #[test]
    fn decisions_follow_claim_object() {
        use ClaimDecision::*;
        let live = owner(false);
        let dying = owner(true);
        assert_eq!(claim_decision(&live, &meta(Some("rs-uid")), true), Owned);
        assert_eq!(claim_decision(&live, &meta(Some("rs-uid")), false), Release);
        assert_eq!(claim_decision(&dying, &meta(Some("rs-uid")), false), Ignore);
        assert_eq!(claim_decision(&live, &meta(Some("other")), true), Ignore);
        assert_eq!(claim_decision(&live, &meta(None), true), Adopt);
        assert_eq!(claim_decision(&live, &meta(None), false), Ignore);
        assert_eq!(claim_decision(&dying, &meta(None), true), Ignore);
        let mut deleting_pod = meta(None);
        deleting_pod.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
        assert_eq!(claim_decision(&live, &deleting_pod, true), Ignore);
        let mut elsewhere = meta(None);
        elsewhere.namespace = Some("other".into());
        assert_eq!(claim_decision(&live, &elsewhere, true), Ignore);
    }

    fn labelled_pod(name: &str, app: &str, controller_uid: Option<&str>) -> Pod {
        let mut meta = meta(controller_uid);
        meta.name = Some(name.into());
        meta.uid = Some(format!("{name}-uid"));
        meta.labels = Some([("app".to_string(), app.to_string())].into());
        Pod {
            metadata: meta,
            ..Pod::default()
        }
    }

    fn candidate_names(pods: Vec<Arc<Pod>>) -> Vec<String> {
        let mut names: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
        names.sort();
        names
    }

    #[test]
    fn claim_candidates_are_own_objects_and_matching_orphans() {
        let mut feed = TestFeed::<Pod>::new();
        add_claim_indexes(&feed.informer);
        feed.apply(labelled_pod("mine", "web", Some("rs-uid")));
        feed.apply(labelled_pod("mine-relabelled", "other", Some("rs-uid")));
        feed.apply(labelled_pod("theirs", "web", Some("other-uid")));
        feed.apply(labelled_pod("orphan", "web", None));
        feed.apply(labelled_pod("orphan-elsewhere", "db", None));
        let web = Selector::from_set(&[("app".to_string(), "web".to_string())].into());
        let expected = ["mine", "mine-relabelled", "orphan"];
        assert_eq!(
            candidate_names(claim_candidates(&feed.informer, "rs-uid", "ns", &web)),
            expected
        );
        // Many orphans: they are narrowed through the label index instead,
        // with the same answer.
        for i in 0..100 {
            feed.apply(labelled_pod(&format!("bare-{i}"), "db", None));
        }
        assert_eq!(
            candidate_names(claim_candidates(&feed.informer, "rs-uid", "ns", &web)),
            expected
        );
        assert!(claim_candidates(&feed.informer, "rs-uid", "other-ns", &web).is_empty());
    }
}
