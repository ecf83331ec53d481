//! Subresources whose writes the kind's strategy shapes, sharing one
//! path: `certificatesigningrequests/approval` (what `kubectl certificate
//! approve|deny` sends: only the Approved/Denied conditions change) and
//! `pods/ephemeralcontainers` (what `kubectl debug` patches: only
//! additions to `spec.ephemeralContainers`) and `pods/resize` (what
//! `kubectl patch --subresource resize` sends: only the containers'
//! cpu/memory `resources` and `resizePolicy`). The handler runs admission on
//! the whole object first (a PATCH is applied to the current object, whose
//! resourceVersion then guards against a racing write); here the
//! strategy's `prepare_for_subresource_update(sub)` keeps everything else
//! from the stored object and `validate_subresource_update(sub)` checks
//! the change, as upstream's per-subresource strategies do.

use corten_apimachinery::{GroupKind, StatusError, meta};
use corten_storage::{KeyValue, UpdateDecision};
use serde_json::Value;

use super::keys::object_key;
use super::store::{decode_stored, encode_for_storage, update_computed};
use super::{Registry, Resource, convert};

/// The (group, resource, subresource) triples served here.
const SERVED: &[(&str, &str, &str)] = &[
    (
        "certificates.k8s.io",
        "certificatesigningrequests",
        "approval",
    ),
    ("", "pods", "ephemeralcontainers"),
    ("", "pods", "resize"),
];

/// Whether `sub` of this resource is written through [`update`].
pub fn serves(res: &Resource, sub: &str) -> bool {
    res.custom.is_none() && SERVED.contains(&(res.def.group, res.def.resource, sub))
}

/// Writes `body` through subresource `sub` of object `ns/name` (nothing
/// when `dry_run`); returns the resulting object in the served version.
pub async fn update(
    reg: &Registry,
    res: &Resource,
    ns: Option<&str>,
    name: &str,
    sub: &str,
    body: Value,
    dry_run: bool,
) -> Result<Value, StatusError> {
    let gr = res.group_resource();
    let gk = GroupKind::new(res.def.group, res.def.kind);
    if meta::name(&body).is_some_and(|n| n != name) {
        return Err(StatusError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            meta::name(&body).unwrap_or_default()
        )));
    }
    let body = convert::to_storage(res, body)?;
    let key = object_key(res.def, ns, name);
    let strategy = res.storage_def.strategy;
    let compute = |kv: &KeyValue| -> Result<(UpdateDecision, Value), StatusError> {
        let old = decode_stored(kv)?;
        if let Some(rv) = meta::resource_version(&body)
            && Some(rv) != meta::resource_version(&old)
        {
            return Err(StatusError::conflict_modified(&gr, name));
        }
        let mut new = strategy
            .canonicalize(body.clone())
            .map_err(StatusError::bad_request)?;
        strategy.prepare_for_subresource_update(sub, &mut new, &old);
        let errs = strategy.validate_subresource_update(sub, &new, &old);
        if !errs.is_empty() {
            return Err(StatusError::invalid(&gk, name, &errs));
        }
        if new == old {
            return Ok((UpdateDecision::Unchanged, new));
        }
        let bytes = encode_for_storage(&new)?;
        Ok((UpdateDecision::Write(bytes), new))
    };
    update_computed(reg, res, &key, name, dry_run, compute).await
}
