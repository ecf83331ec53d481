//! Custom resources as registry [`Resource`]s: the strategy that runs a
//! CRD version's schema (defaulting, pruning, validation, CEL) and the
//! served definitions built from an established CRD (writes and reads
//! through other versions than the storage version are in `versions`).
//!
//! The generic store works on `&'static ResourceDef`s. A CRD's definitions
//! are therefore leaked, but interned by content: re-serving a CRD whose
//! names, scope and subresources did not change reuses the same
//! definitions, and only its schema (held behind a lock in the strategy)
//! is swapped. Memory grows only with distinct CRD shapes, not with
//! updates.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use corten_api::{Conversion, ResourceDef, Strategy, Subresource};
use corten_apiextensions::CustomResourceSchema;
use corten_apimachinery::ErrorList;
use corten_storage::WatchCache;
use serde_json::Value;

use super::versions::{CustomConversion, intern_via};
use super::webhook::WebhookClient;
use crate::printers::CustomColumns;
use crate::registry::Resource;

/// What the registry knows about one served version of a custom resource
/// beyond its [`ResourceDef`].
pub struct CustomResource {
    /// The served version's schema helpers (scale paths, columns, ...).
    pub schema: CustomResourceSchema,
    /// Parsed `additionalPrinterColumns`.
    pub columns: CustomColumns,
    /// Set once the CRD is being deleted: creates are refused.
    pub terminating: Arc<std::sync::atomic::AtomicBool>,
    /// The CRD's name (`<plural>.<group>`).
    pub crd_name: String,
    /// The schema server-side apply merges this version's objects by.
    pub apply_schema: Arc<corten_apimachinery::managedfields::Schema>,
    /// Every version of the CRD, for managedFields of other versions.
    pub versions: Arc<super::ownership::CrdVersions>,
    /// The conversion from and to the storage version (`None` for the
    /// storage version itself).
    pub conversion: Option<&'static CustomConversion>,
    /// How stored objects are decoded (the same the CRD's watch cache
    /// runs), for reads straight from etcd.
    pub decoder: Arc<super::decode::StoredDecoder>,
}

impl CustomResource {
    /// Whether the CRD is being deleted.
    pub fn is_terminating(&self) -> bool {
        self.terminating.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The strategy of one version of a custom resource.
pub struct CustomResourceStrategy {
    schema: RwLock<Arc<CustomResourceSchema>>,
    /// `selectableFields` of every version (labels without the leading dot).
    labels: &'static [&'static str],
}

impl CustomResourceStrategy {
    /// The version's current schema.
    pub(super) fn schema(&self) -> Arc<CustomResourceSchema> {
        match self.schema.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn set_schema(&self, schema: CustomResourceSchema) {
        match self.schema.write() {
            Ok(mut s) => *s = Arc::new(schema),
            Err(p) => *p.into_inner() = Arc::new(schema),
        }
    }
}

/// What upstream's decoder requires of any custom resource body: an
/// object whose `metadata`, if any, is an object.
pub(super) fn check_object(obj: &Value) -> Result<(), String> {
    let Some(map) = obj.as_object() else {
        return Err("the object must be a JSON object".into());
    };
    if let Some(m) = map.get("metadata")
        && !m.is_object()
        && !m.is_null()
    {
        return Err("metadata must be an object".into());
    }
    Ok(())
}

/// `old` as upstream's storage decoder hands it to the strategy: read
/// through the version's current schema (pruned, then defaulted). An
/// object stored before a default existed therefore shows the default, so
/// transition rules (`oldSelf`) and ratcheting compare like with like.
pub(super) fn decoded_old(schema: &CustomResourceSchema, old: &Value) -> Value {
    let mut decoded = old.clone();
    schema.prune(&mut decoded);
    schema.default(&mut decoded);
    decoded
}

/// Everything outside `metadata` (upstream `copyNonMetadata`).
fn non_metadata(obj: &Value) -> Vec<(&String, &Value)> {
    let mut out: Vec<(&String, &Value)> = obj
        .as_object()
        .map(|m| m.iter().filter(|(k, _)| *k != "metadata").collect())
        .unwrap_or_default();
    out.sort_by(|a, b| a.0.cmp(b.0));
    out
}

impl Strategy for CustomResourceStrategy {
    /// Upstream's decoder for custom resources: the body must be an object
    /// with an object `metadata`; schema defaults are applied, then fields
    /// the schema does not specify are pruned (the store reports them for
    /// `fieldValidation`).
    fn canonicalize(&self, mut obj: Value) -> Result<Value, String> {
        check_object(&obj)?;
        let schema = self.schema();
        schema.default(&mut obj);
        schema.prune(&mut obj);
        Ok(obj)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        let status = self.schema().has_status_subresource();
        if let Some(map) = obj.as_object_mut() {
            if status {
                map.remove("status");
            }
            if let Some(m) = map.get_mut("metadata").and_then(Value::as_object_mut) {
                m.insert("generation".into(), Value::from(1));
            }
        }
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        if self.schema().has_status_subresource()
            && let Some(map) = new.as_object_mut()
        {
            match old.get("status") {
                Some(s) => {
                    map.insert("status".into(), s.clone());
                }
                None => {
                    map.remove("status");
                }
            }
        }
        let old_gen = corten_apimachinery::meta::generation(old);
        // `old` is as stored; upstream reads it through the current schema
        // (pruned and defaulted), so a default the CRD gained since it was
        // written is no change.
        let changed = non_metadata(new) != non_metadata(old)
            && non_metadata(new) != non_metadata(&decoded_old(&self.schema(), old));
        let generation = if changed { old_gen + 1 } else { old_gen };
        corten_apimachinery::meta::set(new, "generation", Value::from(generation.max(1)));
    }

    fn validate(&self, obj: &Value) -> ErrorList {
        self.schema().validate_full(obj, None)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ErrorList {
        let schema = self.schema();
        schema.validate_full(new, Some(&decoded_old(&schema, old)))
    }

    fn field_labels(&self) -> &'static [&'static str] {
        self.labels
    }

    fn field_attrs(&self, obj: &Value) -> Vec<(String, String)> {
        self.schema()
            .selectable_field_values(obj)
            .into_iter()
            .filter(|(k, _)| k != "metadata.name" && k != "metadata.namespace")
            .collect()
    }
}

/// One interned definition and its strategy.
#[derive(Clone, Copy)]
pub(super) struct Interned {
    pub(super) def: &'static ResourceDef,
    pub(super) strategy: &'static CustomResourceStrategy,
    conversion: Option<&'static CustomConversion>,
}

static INTERNED: Mutex<Option<HashMap<String, Interned>>> = Mutex::new(None);

fn leak_str(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn leak_strs(v: &[String]) -> &'static [&'static str] {
    Box::leak(
        v.iter()
            .map(|s| leak_str(s))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    )
}

/// The names a CRD is served under (its `status.acceptedNames`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Names {
    /// Plural (the URL segment).
    pub plural: String,
    /// Singular.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// List kind.
    pub list_kind: String,
    /// Short names.
    pub short_names: Vec<String>,
    /// Categories.
    pub categories: Vec<String>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect()
}

impl Names {
    /// Reads `status.acceptedNames` (or `spec.names`) of a CRD.
    pub fn from_json(v: &Value) -> Names {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        Names {
            plural: s("plural"),
            singular: s("singular"),
            kind: s("kind"),
            list_kind: s("listKind"),
            short_names: strings(v.get("shortNames")),
            categories: strings(v.get("categories")),
        }
    }
}

/// The definitions and strategies of one CRD version, interned.
#[allow(clippy::too_many_arguments)]
fn intern(
    group: &str,
    version: &str,
    names: &Names,
    namespaced: bool,
    subresources: &[Subresource],
    storage_version: &str,
    union_labels: &[String],
    version_labels: &[String],
    schema: CustomResourceSchema,
    storage_schema: Arc<CustomResourceSchema>,
    webhook: Option<Arc<WebhookClient>>,
) -> Interned {
    let is_storage = version == storage_version;
    let key = serde_json::json!([
        group,
        version,
        names.plural,
        names.singular,
        names.kind,
        namespaced,
        names.short_names,
        names.categories,
        subresources.iter().map(|s| s.name()).collect::<Vec<_>>(),
        storage_version,
        union_labels,
        version_labels,
    ])
    .to_string();
    let mut guard = INTERNED.lock().unwrap_or_else(|p| p.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    if let Some(i) = map.get(&key) {
        i.strategy.set_schema(schema);
        if let Some(c) = i.conversion {
            c.set_webhook(webhook);
            c.set_storage_schema(storage_schema);
        }
        return *i;
    }
    let labels = if is_storage {
        leak_strs(union_labels)
    } else {
        leak_strs(version_labels)
    };
    let strategy: &'static CustomResourceStrategy = Box::leak(Box::new(CustomResourceStrategy {
        schema: RwLock::new(Arc::new(schema)),
        labels,
    }));
    let custom_conversion: Option<&'static CustomConversion> = if is_storage {
        None
    } else {
        Some(Box::leak(Box::new(CustomConversion::new(
            labels,
            format!("{group}/{version}"),
            format!("{group}/{storage_version}"),
            webhook,
            strategy,
            storage_schema,
        ))))
    };
    let conversion = custom_conversion.map(|c| c as &'static dyn Conversion);
    let plural = leak_str(&names.plural);
    let def: &'static ResourceDef = Box::leak(Box::new(ResourceDef {
        group: leak_str(group),
        version: leak_str(version),
        resource: plural,
        singular: leak_str(&names.singular),
        kind: leak_str(&names.kind),
        namespaced,
        short_names: leak_strs(&names.short_names),
        categories: leak_strs(&names.categories),
        subresources: Box::leak(subresources.to_vec().into_boxed_slice()),
        verbs: &[
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "create",
            "update",
            "watch",
        ],
        storage_resource: leak_str(&format!("{group}/{}", names.plural)),
        storage_group: leak_str(group),
        storage_version: leak_str(storage_version),
        strategy,
        conversion,
    }));
    let i = Interned {
        def,
        strategy,
        conversion: custom_conversion,
    };
    map.insert(key, i);
    i
}

/// A CRD's served resources: one [`Resource`] per served version (all
/// sharing `cache`), and the storage version's.
pub struct Built {
    /// Served versions in `spec.versions` order.
    pub served: Vec<Arc<Resource>>,
    /// The storage version's definition.
    pub storage_def: &'static ResourceDef,
}

/// The `selectableFields` of a version, without the leading dot.
fn version_labels(v: &Value) -> Vec<String> {
    v.get("selectableFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.get("jsonPath").and_then(Value::as_str))
        .map(|p| p.trim_start_matches('.').to_string())
        .collect()
}

/// The storage version of a CRD.
pub fn storage_version(crd: &Value) -> Option<String> {
    crd.pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .and_then(|v| v.get("name").and_then(Value::as_str))
        .map(String::from)
}

/// Every selectable field of every version (for the watch cache).
pub fn all_labels(crd: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for l in version_labels(v) {
            if !out.contains(&l) {
                out.push(l);
            }
        }
    }
    out
}

/// The CRD with its accepted names in `spec.names` (the schema helpers
/// read names from there).
pub fn served_crd(crd: &Value, names: &Names) -> Value {
    let mut served_crd = crd.clone();
    if let Some(n) = served_crd
        .pointer_mut("/spec/names")
        .and_then(Value::as_object_mut)
    {
        n.insert("plural".into(), Value::String(names.plural.clone()));
        n.insert("kind".into(), Value::String(names.kind.clone()));
        n.insert("listKind".into(), Value::String(names.list_kind.clone()));
    }
    served_crd
}

/// Builds the served resources of an established CRD under its accepted
/// names; `decoder` is the one its watch cache runs.
pub fn build(
    crd: &Value,
    names: &Names,
    cache: Arc<WatchCache>,
    terminating: Arc<std::sync::atomic::AtomicBool>,
    webhook: Option<Arc<WebhookClient>>,
    decoder: Arc<super::decode::StoredDecoder>,
) -> Result<Built, String> {
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or("");
    let crd_name = corten_apimachinery::meta::name(crd)
        .unwrap_or_default()
        .to_string();
    let namespaced = crd.pointer("/spec/scope").and_then(Value::as_str) != Some("Cluster");
    let storage = storage_version(crd).ok_or("the CRD has no storage version")?;
    let union = all_labels(crd);
    let served_crd = served_crd(crd, names);
    let storage_schema =
        Arc::new(CustomResourceSchema::new(&served_crd, &storage).map_err(|e| e.to_string())?);
    let versions = Arc::new(super::ownership::CrdVersions::new(
        &served_crd,
        webhook.clone(),
    ));
    let mut served = Vec::new();
    let mut storage_def = None;
    let mut storage_interned = None;
    let mut pending: Vec<(Interned, CustomResourceSchema, bool)> = Vec::new();
    for v in crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = v.get("name").and_then(Value::as_str).unwrap_or("");
        let schema = CustomResourceSchema::new(&served_crd, name).map_err(|e| e.to_string())?;
        let mut subs = Vec::new();
        if schema.has_status_subresource() {
            subs.push(Subresource::Status);
        }
        if schema.scale().is_some() {
            subs.push(Subresource::Scale);
        }
        let i = intern(
            group,
            name,
            names,
            namespaced,
            &subs,
            &storage,
            &union,
            &version_labels(v),
            schema.clone(),
            storage_schema.clone(),
            webhook.clone(),
        );
        if name == storage {
            storage_def = Some(i.def);
            storage_interned = Some(i);
        }
        let is_served = v.get("served").and_then(Value::as_bool) == Some(true);
        pending.push((i, schema, is_served));
    }
    let storage_def = storage_def.ok_or("the CRD's storage version is not defined")?;
    for (interned, schema, is_served) in pending {
        if !is_served {
            continue;
        }
        let def = interned.def;
        // Writes through another version are prepared in that version and
        // stored through the storage definition's via-strategy.
        let storage_def = match storage_interned {
            Some(st) if !std::ptr::eq(def, storage_def) => intern_via(interned, st),
            _ => storage_def,
        };
        let columns = CustomColumns::new(&schema.printer_columns());
        let apply_schema = versions
            .schema_of(&def.api_version())
            .unwrap_or_else(|| Arc::new(corten_apimachinery::managedfields::Schema::untyped()));
        served.push(Arc::new(Resource {
            def,
            storage_def,
            cache: cache.clone(),
            custom: Some(Arc::new(CustomResource {
                schema,
                columns,
                terminating: terminating.clone(),
                crd_name: crd_name.clone(),
                apply_schema,
                versions: versions.clone(),
                conversion: interned.conversion,
                decoder: decoder.clone(),
            })),
        }));
    }
    Ok(Built {
        served,
        storage_def,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd(status: bool) -> Value {
        let mut v = json!({"name": "v1", "served": true, "storage": true,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "properties": {"n": {"type": "integer", "default": 1}}},
                "status": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}}}});
        if status {
            v["subresources"] = json!({"status": {}});
        }
        json!({"metadata": {"name": "things.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "things", "kind": "Thing"}, "versions": [v]}})
    }

    fn strategy(status: bool) -> CustomResourceStrategy {
        CustomResourceStrategy {
            schema: RwLock::new(Arc::new(
                CustomResourceSchema::new(&crd(status), "v1").unwrap(),
            )),
            labels: &[],
        }
    }

    #[test]
    fn transition_rules_see_old_objects_with_current_defaults() {
        // `mode` gained a default and an immutability rule after `old` was
        // stored without it.
        let mut crd = crd(false);
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"] = json!({
            "type": "object",
            "x-kubernetes-validations": [{"rule": "self.mode == oldSelf.mode", "message": "mode is immutable"}],
            "properties": {"mode": {"type": "string", "default": "a"}, "n": {"type": "integer"}}});
        let s = CustomResourceStrategy {
            schema: RwLock::new(Arc::new(CustomResourceSchema::new(&crd, "v1").unwrap())),
            labels: &[],
        };
        let old = json!({"apiVersion": "example.com/v1", "kind": "Thing",
            "metadata": {"name": "a", "namespace": "default", "generation": 1,
                "resourceVersion": "5"}, "spec": {"n": 1}});
        let new = s
            .canonicalize(json!({"apiVersion": "example.com/v1", "kind": "Thing",
                "metadata": {"name": "a", "namespace": "default", "generation": 2,
                    "resourceVersion": "5"}, "spec": {"n": 2}}))
            .unwrap();
        assert_eq!(new["spec"]["mode"], "a");
        assert!(
            s.validate_update(&new, &old).is_empty(),
            "{:?}",
            s.validate_update(&new, &old)
        );
        // A real change still breaks the rule.
        let mut changed = new.clone();
        changed["spec"]["mode"] = json!("b");
        let errs = s.validate_update(&changed, &old);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].field, "spec");
    }

    #[test]
    fn canonicalize_defaults_then_prunes() {
        let s = strategy(false);
        let out = s
            .canonicalize(json!({"apiVersion": "example.com/v1", "kind": "Thing",
                "metadata": {"name": "a"}, "spec": {"x": 1}}))
            .unwrap();
        assert_eq!(out["spec"], json!({"n": 1}));
        assert!(s.canonicalize(json!([1])).is_err());
        assert!(s.canonicalize(json!({"metadata": 3})).is_err());
    }

    #[test]
    fn generation_and_status_follow_the_status_subresource() {
        let old = json!({"metadata": {"name": "a", "generation": 3}, "spec": {"n": 1}, "status": {"ok": true}});
        // With /status: the main resource keeps the stored status, and a
        // status-only difference does not bump the generation.
        let s = strategy(true);
        let mut new = json!({"metadata": {"name": "a"}, "spec": {"n": 1}, "status": {"ok": false}});
        s.prepare_for_update(&mut new, &old);
        assert_eq!(new["status"], json!({"ok": true}));
        assert_eq!(new["metadata"]["generation"], 3);
        let mut create = new.clone();
        s.prepare_for_create(&mut create);
        assert_eq!(create.get("status"), None);
        assert_eq!(create["metadata"]["generation"], 1);
        // Without it, status is part of the object: a change bumps it.
        let s = strategy(false);
        let mut new = json!({"metadata": {"name": "a"}, "spec": {"n": 1}, "status": {"ok": false}});
        s.prepare_for_update(&mut new, &old);
        assert_eq!(new["status"], json!({"ok": false}));
        assert_eq!(new["metadata"]["generation"], 4);
    }

    fn leaked(status: bool) -> &'static CustomResourceStrategy {
        Box::leak(Box::new(strategy(status)))
    }

    #[test]
    fn via_strategy_defaults_for_storage_and_validates_metadata_only() {
        let via = crate::crd::versions::ViaStrategy::new(leaked(true), leaked(false));
        // Stored with the storage version's defaults, nothing pruned (the
        // served version pruned before conversion).
        let out = via
            .canonicalize(json!({"metadata": {"name": "a"}, "spec": {"x": 1}}))
            .unwrap();
        assert_eq!(out["spec"], json!({"x": 1, "n": 1}));
        assert!(via.canonicalize(json!("x")).is_err());
        // The schema was checked in the served version: a wrong type is
        // not reported again, a bad name is.
        let wrong_type = json!({"apiVersion": "example.com/v1", "kind": "Thing",
            "metadata": {"name": "a", "namespace": "default"}, "spec": {"n": "one"}});
        assert!(via.validate(&wrong_type).is_empty());
        let mut bad_name = wrong_type.clone();
        bad_name["metadata"]["name"] = json!("Not_A_Name");
        let errs = via.validate(&bad_name);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].field, "metadata.name");
        // Status follows the served version's subresources.
        let mut created = json!({"metadata": {"name": "a"}, "status": {"ok": true}});
        via.prepare_for_create(&mut created);
        assert!(created.get("status").is_none());
    }
}
