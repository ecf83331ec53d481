//! Writes of the `scale` subresource (PUT, PATCH and server-side apply of
//! an autoscaling/v1 `Scale`) as a [`Change`] of the parent object, for
//! built-in scalable resources and custom resources whose CRD version
//! declares the subresource. Admission sees the old and new `Scale`; the
//! admitted replicas are written into the parent.
//!
//! Apply tracks ownership the way upstream's ScaleHandler does: the
//! parent's managedFields entries that own the replicas field become
//! `Scale` entries (apiVersion autoscaling/v1) owning `.spec.replicas`,
//! the configuration is applied to the `Scale` (conflicts are 409s naming
//! those managers), and the result maps back onto the parent: managers
//! that still own `.spec.replicas` keep their entries, those that lost it
//! lose the replicas field, and a new owner gets an entry with just it.

use bytes::Bytes;
use corten_apimachinery::managedfields::{
    Entry, ManagerId, Managers, Operation, Path, PathElement, Set, managers,
};
use corten_apimachinery::{GroupResource, StatusError, meta};
use serde_json::Value;

use super::Resource;
use super::apply::{self, apply_error};
use super::change::Change;
use super::managed::{now, schema_of};
use super::patch::apply_patch;
use super::store::WriteOptions;
use super::subresources::checked_scale_request;
use crate::crd::custom::CustomResource;
use crate::repeated_keys::RepeatedKey;
use crate::wire::InputFormat;

const SCALE_API_VERSION: &str = "autoscaling/v1";

/// How a resource maps onto its `Scale`.
#[derive(Clone, Copy)]
pub enum Shape<'a> {
    /// A built-in kind (its storage resource name): `spec.replicas`.
    Builtin(&'static str),
    /// A custom resource: the CRD's `specReplicasPath` and friends.
    Custom(&'a CustomResource),
}

impl<'a> Shape<'a> {
    /// The shape of `res`.
    pub fn of(res: &'a Resource) -> Self {
        match &res.custom {
            Some(c) => Shape::Custom(c),
            None => Shape::Builtin(res.def.storage_resource),
        }
    }

    /// The `Scale` of an object (served version).
    pub fn view(&self, obj: &Value) -> Value {
        match self {
            Shape::Builtin(sr) => super::subresources::scale_of(obj, sr),
            Shape::Custom(c) => crate::crd::scale::scale_of(c, obj),
        }
    }

    fn set_replicas(&self, obj: &mut Value, replicas: i64) -> Result<(), StatusError> {
        match self {
            Shape::Builtin(_) => {
                let spec = obj
                    .as_object_mut()
                    .map(|m| m.entry("spec").or_insert_with(|| serde_json::json!({})))
                    .and_then(Value::as_object_mut)
                    .ok_or_else(|| StatusError::internal("the object has no spec"))?;
                spec.insert("replicas".into(), Value::from(replicas));
                Ok(())
            }
            Shape::Custom(c) => {
                if c.schema.set_spec_replicas(obj, replicas) {
                    Ok(())
                } else {
                    Err(StatusError::internal(
                        "the object has no place for the scale subresource's specReplicasPath",
                    ))
                }
            }
        }
    }

    /// The replicas field of the parent, as a managedFields path.
    fn replicas_path(&self) -> Path {
        let dotted = match self {
            Shape::Builtin(_) => ".spec.replicas",
            Shape::Custom(c) => c
                .schema
                .scale()
                .map(|s| s.spec_replicas_path.as_str())
                .unwrap_or(".spec.replicas"),
        };
        dotted
            .split('.')
            .filter(|s| !s.is_empty())
            .map(|s| PathElement::Field(s.to_string()))
            .collect()
    }
}

/// How a `/scale` write arrives.
pub enum ScaleChange {
    /// PUT of a whole Scale.
    Replace(Value),
    /// PATCH of the Scale view (JSON, merge or strategic merge).
    Patch(Bytes, InputFormat),
    /// Server-side apply of a Scale configuration, with the keys it
    /// repeats.
    Apply(Value, Vec<RepeatedKey>),
}

impl ScaleChange {
    /// Reads a PATCH body: an apply configuration is decoded and checked
    /// here (400 for the wrong kind or version, as upstream).
    pub fn patch(body: Bytes, input: InputFormat) -> Result<Self, StatusError> {
        if input != InputFormat::ApplyPatch {
            return Ok(ScaleChange::Patch(body, input));
        }
        let (config, repeated) = apply::decode_apply_body(&body)?;
        apply::check_apply_type(&config, "autoscaling", "v1", "Scale")?;
        let schema = schema_of("autoscaling", "v1", "Scale");
        apply::check_typed(&schema, &config, "autoscaling", "v1", "Scale")?;
        Ok(ScaleChange::Apply(config, repeated))
    }

    /// Whether this is an apply (whose write keeps the managedFields it
    /// computed).
    pub fn is_apply(&self) -> bool {
        matches!(self, ScaleChange::Apply(..))
    }
}

/// A write of `name`'s `/scale`.
pub struct ScaleWrite<'a> {
    /// The parent resource.
    pub res: &'a Resource,
    /// The parent's name.
    pub name: &'a str,
    /// What the request asks.
    pub change: ScaleChange,
    /// The request's options (manager, force, field validation).
    pub opts: &'a WriteOptions,
}

impl ScaleWrite<'_> {
    fn gr(&self) -> GroupResource {
        self.res.group_resource()
    }

    /// Applies `config` to the current Scale; the result carries the
    /// Scale's managedFields for [`Change::object_to_write`].
    fn apply(&self, current: &Value, scale: &Value, config: &Value) -> Result<Value, StatusError> {
        if let Some(n) = meta::name(config)
            && n != self.name
        {
            return Err(StatusError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({})",
                self.name
            )));
        }
        let schema = schema_of("autoscaling", "v1", "Scale");
        let shape = Shape::of(self.res);
        let parent = Managers::decode(current).unwrap_or_default();
        let owners = to_scale(&parent, &shape.replicas_path());
        let me = ManagerId {
            manager: self.opts.manager(),
            operation: Operation::Apply,
            api_version: SCALE_API_VERSION.into(),
            subresource: "scale".into(),
        };
        let ignored = managers::reset_fields("scale", true);
        let (mut merged, owners) = managers::apply(
            &schema,
            scale,
            config,
            owners,
            &me,
            self.opts.force,
            &ignored,
            &now(),
        )
        .map_err(apply_error)?;
        meta::set(&mut merged, "managedFields", owners.encode());
        Ok(merged)
    }
}

impl Change for ScaleWrite<'_> {
    fn admission_objects(&self, current: &Value) -> Result<(Value, Value), StatusError> {
        let old = Shape::of(self.res).view(current);
        let new = match &self.change {
            ScaleChange::Replace(v) => v.clone(),
            ScaleChange::Patch(p, f) => apply_patch(self.res, self.name, &old, p, *f)?,
            ScaleChange::Apply(config, repeated) => {
                let applied = self.apply(current, &old, config)?;
                apply::judge_repeated_keys(repeated, self.opts)?;
                applied
            }
        };
        Ok((old, new))
    }

    fn object_to_write(&self, current: &Value, admitted: Value) -> Result<Value, StatusError> {
        let replicas = checked_scale_request(&self.gr(), self.name, &admitted, current)?;
        let shape = Shape::of(self.res);
        let mut new = current.clone();
        shape.set_replicas(&mut new, replicas)?;
        if self.change.is_apply() {
            let owners = Managers::decode(&admitted).map_err(StatusError::bad_request)?;
            let parent = Managers::decode(current).unwrap_or_default();
            let merged = to_parent(
                parent,
                owners,
                &shape.replicas_path(),
                &self.res.def.api_version(),
                &now(),
            );
            let encoded = merged.encode();
            if encoded.as_array().is_some_and(Vec::is_empty) {
                meta::remove(&mut new, "managedFields");
            } else {
                meta::set(&mut new, "managedFields", encoded);
            }
        }
        Ok(new)
    }
}

fn replicas_in_scale() -> Path {
    vec![
        PathElement::Field("spec".into()),
        PathElement::Field("replicas".into()),
    ]
}

/// The `Scale` managers: every parent entry owning the replicas field,
/// owning `.spec.replicas` of the Scale (upstream ToSubresource).
pub fn to_scale(parent: &Managers, replicas: &[PathElement]) -> Managers {
    let mut fields = Set::new();
    fields.insert(&replicas_in_scale());
    Managers {
        entries: parent
            .entries
            .iter()
            .filter(|e| e.fields.has(replicas))
            .map(|e| Entry {
                id: ManagerId {
                    api_version: SCALE_API_VERSION.into(),
                    ..e.id.clone()
                },
                time: e.time.clone(),
                fields: fields.clone(),
            })
            .collect(),
    }
}

/// Whether two entries are one manager across the parent and the Scale
/// (whose entries carry autoscaling/v1 as their apiVersion).
fn same_manager(a: &ManagerId, b: &ManagerId) -> bool {
    a.manager == b.manager && a.operation == b.operation && a.subresource == b.subresource
}

/// The parent's managers after a write of its Scale (upstream ToParent):
/// owners of `.spec.replicas` in `scale` own the parent's replicas field,
/// every other parent entry loses it.
pub fn to_parent(
    parent: Managers,
    scale: Managers,
    replicas: &[PathElement],
    parent_api_version: &str,
    now: &str,
) -> Managers {
    let mut only_replicas = Set::new();
    only_replicas.insert(replicas);
    let mut owners: Vec<Entry> = scale
        .entries
        .into_iter()
        .filter(|e| e.fields.has(&replicas_in_scale()))
        .collect();
    let mut out = Managers::default();
    for mut e in parent.entries {
        if !e.fields.has(replicas) {
            out.entries.push(e);
            continue;
        }
        match owners.iter().position(|o| same_manager(&o.id, &e.id)) {
            Some(i) => {
                owners.remove(i);
                out.entries.push(e);
            }
            None => {
                e.fields = e.fields.difference(&only_replicas);
                if !e.fields.is_empty() {
                    out.entries.push(e);
                }
            }
        }
    }
    for o in owners {
        out.entries.push(Entry {
            id: ManagerId {
                api_version: parent_api_version.to_string(),
                ..o.id
            },
            time: o.time.or_else(|| Some(now.to_string())),
            fields: only_replicas.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> Path {
        s.split('.')
            .map(|p| PathElement::Field(p.to_string()))
            .collect()
    }

    fn entry(manager: &str, op: Operation, sub: &str, paths: &[&str]) -> Entry {
        let mut fields = Set::new();
        for p in paths {
            fields.insert(&path(p));
        }
        Entry {
            id: ManagerId {
                manager: manager.into(),
                operation: op,
                api_version: "apps/v1".into(),
                subresource: sub.into(),
            },
            time: Some("2026-01-01T00:00:00Z".into()),
            fields,
        }
    }

    #[test]
    fn replicas_owners_move_between_parent_and_scale() {
        let parent = Managers {
            entries: vec![
                entry(
                    "kubectl",
                    Operation::Apply,
                    "",
                    &["spec.replicas", "spec.template"],
                ),
                entry("other", Operation::Update, "", &["metadata.labels"]),
            ],
        };
        let replicas = path("spec.replicas");
        let scale = to_scale(&parent, &replicas);
        assert_eq!(scale.entries.len(), 1);
        assert_eq!(scale.entries[0].id.manager, "kubectl");
        assert_eq!(scale.entries[0].id.api_version, "autoscaling/v1");
        assert!(scale.entries[0].fields.has(&replicas));

        // Another applier took .spec.replicas of the Scale.
        let mut taken = Set::new();
        taken.insert(&replicas);
        let after = Managers {
            entries: vec![Entry {
                id: ManagerId {
                    manager: "hpa".into(),
                    operation: Operation::Apply,
                    api_version: "autoscaling/v1".into(),
                    subresource: "scale".into(),
                },
                time: None,
                fields: taken,
            }],
        };
        let out = to_parent(parent.clone(), after, &replicas, "apps/v1", "now");
        assert_eq!(out.entries.len(), 3);
        let kubectl = &out.entries[0];
        assert!(!kubectl.fields.has(&replicas));
        assert!(kubectl.fields.has(&path("spec.template")));
        let hpa = out.entries.iter().find(|e| e.id.manager == "hpa").unwrap();
        assert_eq!(hpa.id.api_version, "apps/v1");
        assert_eq!(hpa.id.subresource, "scale");
        assert!(hpa.fields.has(&replicas));
        assert_eq!(hpa.time.as_deref(), Some("now"));

        // Nobody took it: the parent stays as it was.
        let same = to_parent(parent.clone(), scale, &replicas, "apps/v1", "now");
        assert_eq!(same, parent);
    }
}
