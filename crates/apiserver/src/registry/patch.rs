//! PATCH: JSON patch and JSON merge patch applied to the stored object,
//! then the regular update pipeline.

use bytes::Bytes;
use corten_apimachinery::patch::{PatchError, apply_json_patch, apply_merge_patch};
use corten_apimachinery::{FieldError, Path, StatusError};
use corten_storage::{KeyValue, UpdateDecision};
use serde_json::Value;

use super::keys::{check_path_segment, object_key};
use super::store::{
    UpdateTarget, Updated, WriteOptions, decide_update, decode_stored, finish_update, group_kind,
    read_modify_write, storage_error,
};
use super::{Registry, Resource, convert};
use crate::wire::InputFormat;

/// Applies a patch document of the given type to `current` (served version).
pub fn apply_patch(
    res: &Resource,
    name: &str,
    current: &Value,
    patch: &[u8],
    format: InputFormat,
) -> Result<Value, StatusError> {
    let result = match format {
        InputFormat::JsonPatch => apply_json_patch(current, patch),
        InputFormat::MergePatch => apply_merge_patch(current, patch),
        InputFormat::StrategicMergePatch => {
            return strategic_merge(res, name, current, patch);
        }
        InputFormat::ApplyPatch => {
            return Err(StatusError::unsupported_media_type(
                "application/apply-patch+yaml",
            ));
        }
        InputFormat::Json | InputFormat::Yaml | InputFormat::Protobuf => {
            return Err(StatusError::unsupported_media_type(match format {
                InputFormat::Yaml => "application/yaml",
                InputFormat::Protobuf => corten_protobuf::PROTOBUF_MEDIA_TYPE,
                _ => "application/json",
            }));
        }
    };
    result.map_err(|e| match e {
        PatchError::Malformed(m) => StatusError::bad_request(m),
        PatchError::CannotApply(m) => StatusError::invalid(
            &group_kind(res),
            name,
            &vec![FieldError::invalid(
                &Path::new("patch"),
                String::from_utf8_lossy(patch).into_owned(),
                &m,
            )],
        ),
    })
}

/// Applies a strategic merge patch with the patch metadata (merge keys,
/// strategies) of the served kind. Kinds without such metadata do not
/// accept strategic merge patches (415), as upstream does for custom
/// resources.
fn strategic_merge(
    res: &Resource,
    name: &str,
    current: &Value,
    patch: &[u8],
) -> Result<Value, StatusError> {
    use corten_apimachinery::strategic::{SmpError, apply_strategic_merge_patch};
    let Some(meta) = corten_api::patch_meta::for_gvk(res.def.group, res.def.version, res.def.kind)
    else {
        return Err(StatusError::unsupported_media_type(
            "application/strategic-merge-patch+json",
        ));
    };
    let patch: Value = serde_json::from_slice(patch)
        .map_err(|e| StatusError::bad_request(format!("error decoding patch: {e}")))?;
    apply_strategic_merge_patch(current, &patch, meta).map_err(|e| match e {
        SmpError::BadRequest(m) => StatusError::bad_request(m),
        SmpError::Unprocessable(m) => StatusError::invalid(
            &group_kind(res),
            name,
            &vec![FieldError::invalid(
                &Path::new("patch"),
                String::from_utf8_lossy(&serde_json::to_vec(&patch).unwrap_or_default())
                    .into_owned(),
                &m,
            )],
        ),
        SmpError::Internal(m) | SmpError::Panic(m) => StatusError::internal(m),
    })
}

/// PATCH on an object or its status.
pub async fn patch(
    reg: &Registry,
    res: &Resource,
    url_ns: Option<&str>,
    name: &str,
    patch: Bytes,
    format: InputFormat,
    target: UpdateTarget,
    opts: &WriteOptions,
) -> Result<Updated, StatusError> {
    if format == InputFormat::ApplyPatch {
        return super::apply::apply(reg, res, url_ns, name, patch, target, opts).await;
    }
    check_path_segment(res.def.kind, "name", name)?;
    let gr = res.group_resource();
    let key = object_key(res.def, url_ns, name);
    let patched_value = |old: &Value| -> Result<(UpdateDecision, Value), StatusError> {
        let served = convert::from_storage(res, old.clone())?;
        let new = apply_patch(res, name, &served, &patch, format)?;
        if !new.is_object() {
            return Err(StatusError::bad_request(
                "the patch must produce a JSON object",
            ));
        }
        let new = convert::to_storage(res, new)?;
        decide_update(res, old, new, target, opts)
    };
    let patched = |kv: &KeyValue| -> Result<(UpdateDecision, Value), StatusError> {
        patched_value(&decode_stored(kv)?)
    };
    if opts.dry_run {
        let kv = reg
            .store
            .get(&key)
            .await
            .map_err(|e| storage_error(e, &gr, name))?
            .ok_or_else(|| StatusError::not_found(&gr, name))?;
        let (_, new) = patched(&kv)?;
        return Ok(Updated {
            object: convert::from_storage(res, new)?,
            created: false,
        });
    }
    let (outcome, result) = read_modify_write(reg, res, &key, opts, patched_value)
        .await
        .map_err(|e| e.into_status(&gr, name))?;
    finish_update(res, outcome, result)
}
