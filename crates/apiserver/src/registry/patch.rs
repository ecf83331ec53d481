//! PATCH: JSON patch, JSON merge patch and strategic merge patch applied
//! to the current object; the result goes through admission and the
//! regular update pipeline (`admission::admitted`).

use corten_apimachinery::patch::{PatchError, apply_json_patch, apply_merge_patch};
use corten_apimachinery::{FieldError, Path, StatusError};
use serde_json::Value;

use super::Resource;
use super::change::Change;
use super::store::group_kind;
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

/// A PATCH (JSON, merge or strategic merge) of an object or its status.
pub struct Patch<'a> {
    /// The resource patched.
    pub res: &'a Resource,
    /// The object's name.
    pub name: &'a str,
    /// The patch document.
    pub body: &'a [u8],
    /// Its type.
    pub format: InputFormat,
}

impl Change for Patch<'_> {
    fn admission_objects(&self, current: &Value) -> Result<(Value, Value), StatusError> {
        let new = apply_patch(self.res, self.name, current, self.body, self.format)?;
        if !new.is_object() {
            return Err(StatusError::bad_request(
                "the patch must produce a JSON object",
            ));
        }
        Ok((current.clone(), new))
    }
}
