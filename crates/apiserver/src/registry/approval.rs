//! `certificatesigningrequests/approval` (PUT, what `kubectl certificate
//! approve|deny` sends): only the Approved/Denied conditions change; the
//! strategy's `prepare_for_subresource_update("approval")` keeps the rest
//! from the stored object and `validate_subresource_update` checks it.

use corten_apimachinery::{GroupKind, StatusError, meta};
use corten_storage::{KeyValue, UpdateDecision};
use serde_json::Value;

use super::keys::object_key;
use super::store::{StepError, decode_stored, encode_for_storage, finish_update};
use super::{Registry, Resource, convert};

/// Writes an approval update of CSR `name`; returns the stored object in
/// the served version.
pub async fn update(
    reg: &Registry,
    res: &Resource,
    name: &str,
    body: Value,
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
    let key = object_key(res.def, None, name);
    let strategy = res.storage_def.strategy;
    let mut result = None;
    let outcome = reg
        .store
        .guaranteed_update(
            &key,
            None,
            |kv: &KeyValue| -> Result<UpdateDecision, StepError> {
                let old = decode_stored(kv)?;
                if let Some(rv) = meta::resource_version(&body)
                    && Some(rv) != meta::resource_version(&old)
                {
                    return Err(StatusError::conflict_modified(&gr, name).into());
                }
                let mut new = body.clone();
                strategy.prepare_for_subresource_update("approval", &mut new, &old);
                let errs = strategy.validate_subresource_update("approval", &new, &old);
                if !errs.is_empty() {
                    return Err(StatusError::invalid(&gk, name, &errs).into());
                }
                if new == old {
                    result = Some(new);
                    return Ok(UpdateDecision::Unchanged);
                }
                let bytes = encode_for_storage(&new)?;
                result = Some(new);
                Ok(UpdateDecision::Write(bytes))
            },
        )
        .await
        .map_err(|e| e.into_status(&gr, name))?;
    Ok(finish_update(res, outcome, result)?.object)
}
