//! `pods/ephemeralcontainers` (what `kubectl debug` patches): GET returns
//! the pod; PUT and PATCH change nothing but `spec.ephemeralContainers`.
//! The pod strategy's `prepare_for_subresource_update("ephemeralcontainers")`
//! keeps everything else from the stored pod and
//! `validate_subresource_update` allows only additions, as upstream.

use corten_apimachinery::{GroupKind, StatusError, meta};
use corten_storage::{KeyValue, UpdateDecision};
use serde_json::Value;

use super::keys::object_key;
use super::store::{decode_stored, encode_for_storage, update_computed};
use super::{Registry, Resource, convert};
use crate::wire::InputFormat;

/// The subresource's name.
pub const SUBRESOURCE: &str = "ephemeralcontainers";

/// What the request asks for.
pub enum Change<'a> {
    /// PUT: the whole pod.
    Replace(Value),
    /// PATCH: a patch document of the given type.
    Patch(&'a [u8], InputFormat),
}

/// Writes an ephemeral-containers update of pod `ns/name` (nothing when
/// `dry_run`); returns the resulting pod in the served version.
pub async fn update(
    reg: &Registry,
    res: &Resource,
    ns: &str,
    name: &str,
    change: Change<'_>,
    dry_run: bool,
) -> Result<Value, StatusError> {
    let gr = res.group_resource();
    let gk = GroupKind::new(res.def.group, res.def.kind);
    let body = match &change {
        Change::Replace(body) => {
            if meta::name(body).is_some_and(|n| n != name) {
                return Err(StatusError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    meta::name(body).unwrap_or_default()
                )));
            }
            Some(convert::to_storage(res, body.clone())?)
        }
        Change::Patch(..) => None,
    };
    let key = object_key(res.def, Some(ns), name);
    let strategy = res.storage_def.strategy;
    let compute = |kv: &KeyValue| -> Result<(UpdateDecision, Value), StatusError> {
        let old = decode_stored(kv)?;
        let mut new = match (&body, &change) {
            (Some(body), _) => {
                if let Some(rv) = meta::resource_version(body)
                    && Some(rv) != meta::resource_version(&old)
                {
                    return Err(StatusError::conflict_modified(&gr, name));
                }
                body.clone()
            }
            (None, Change::Patch(patch, format)) => {
                let served = convert::from_storage(res, old.clone())?;
                let patched = super::patch::apply_patch(res, name, &served, patch, *format)?;
                convert::to_storage(res, patched)?
            }
            (None, Change::Replace(_)) => unreachable!("a replacement always has a body"),
        };
        new = strategy
            .canonicalize(new)
            .map_err(StatusError::bad_request)?;
        strategy.prepare_for_subresource_update(SUBRESOURCE, &mut new, &old);
        let errs = strategy.validate_subresource_update(SUBRESOURCE, &new, &old);
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
