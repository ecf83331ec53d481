//! Custom resources written and read through a served version that is
//! not the storage version, as upstream's storage codec and per-version
//! strategies handle them:
//!
//! - [`prepare_served`]: a write is pruned, defaulted and validated in the
//!   version it comes in, then converted;
//! - [`ViaStrategy`]: the storage-side strategy of such writes (metadata
//!   only, storage defaults);
//! - [`CustomConversion`]: the conversion to and from the storage version
//!   (`conversion: None` or the CRD's webhook), with upstream's schema
//!   coercion after converting, one ConversionReview for many objects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use corten_api::{Conversion, ResourceDef, Strategy};
use corten_apiextensions::CustomResourceSchema;
use corten_apimachinery::ErrorList;
use serde_json::Value;

use super::custom::{CustomResourceStrategy, Interned, check_object};
use super::webhook::WebhookClient;
use crate::registry::Resource;

/// The storage-side strategy of writes through a served version that is
/// not the storage version. Like upstream, where a custom resource is
/// decoded, defaulted and validated in the version of the request and only
/// then converted for storage, the object reaching this strategy was
/// defaulted, pruned and validated in the served version
/// ([`prepare_served`]) and converted: it is neither defaulted nor
/// validated again by the storage version's schema. Only `metadata`,
/// which the store fills in, is validated here; status and generation
/// follow the served version's subresources. The storage version's
/// defaults are applied as it is stored: upstream applies them whenever
/// the object is read from etcd, which comes to the same for readers
/// without defaulting every read of the storage version.
pub struct ViaStrategy {
    served: &'static CustomResourceStrategy,
    storage: &'static CustomResourceStrategy,
}

impl ViaStrategy {
    /// The strategy of writes through `served` stored as `storage`.
    pub(super) fn new(
        served: &'static CustomResourceStrategy,
        storage: &'static CustomResourceStrategy,
    ) -> Self {
        ViaStrategy { served, storage }
    }
}

impl Strategy for ViaStrategy {
    fn canonicalize(&self, mut obj: Value) -> Result<Value, String> {
        check_object(&obj)?;
        self.storage.schema().default(&mut obj);
        Ok(obj)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        self.served.prepare_for_create(obj);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        self.served.prepare_for_update(new, old);
    }

    fn validate(&self, obj: &Value) -> ErrorList {
        self.served.schema().validate_metadata(obj, None)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ErrorList {
        self.served.schema().validate_metadata(new, Some(old))
    }

    fn field_labels(&self) -> &'static [&'static str] {
        self.storage.field_labels()
    }

    fn field_attrs(&self, obj: &Value) -> Vec<(String, String)> {
        self.storage.field_attrs(obj)
    }
}

/// Whether writes to `res` are prepared in its served version before
/// conversion ([`prepare_served`]): custom resources of a non-storage
/// version.
pub fn writes_in_served_version(res: &Resource) -> bool {
    res.custom.is_some() && !res.is_storage_version()
}

/// A write through a served version that is not the storage version, in
/// that version, as upstream's decoder and the version's strategy see it:
/// unknown fields are pruned (and reported per `fieldValidation`), the
/// version's defaults applied, and the object prepared as the store will
/// (status and generation) is validated against the version's schema and
/// CEL rules, transition rules seeing `old` (the stored object in this
/// version; `None` on create). Returns the object to convert and store.
pub fn prepare_served(
    res: &Resource,
    obj: Value,
    old: Option<&Value>,
    target: corten_api::UpdateTarget,
    opts: &crate::registry::store::WriteOptions,
) -> Result<Value, corten_apimachinery::StatusError> {
    let Some(custom) = res
        .custom
        .as_ref()
        .filter(|_| writes_in_served_version(res))
    else {
        return Ok(obj);
    };
    let mut obj = obj;
    let schema = &custom.schema;
    if let Err(e) = check_object(&obj) {
        return Err(corten_apimachinery::StatusError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: {e}",
            kind = res.def.kind,
            v = res.def.version
        )));
    }
    let dropped = schema.prune(&mut obj);
    crate::registry::store::check_dropped_fields(res, dropped, opts)?;
    schema.default(&mut obj);
    let strategy = res.def.strategy;
    let mut candidate = obj.clone();
    match (old, target) {
        (None, _) => strategy.prepare_for_create(&mut candidate),
        (Some(old), corten_api::UpdateTarget::Main) => {
            strategy.prepare_for_update(&mut candidate, old)
        }
        (Some(old), corten_api::UpdateTarget::Status) => {
            strategy.prepare_for_status_update(&mut candidate, old)
        }
    }
    // Transition rules see the stored object as this version's decoder
    // reads it (its defaults applied).
    let old_decoded = old.map(|o| super::custom::decoded_old(schema, o));
    let errs = schema.validate_content(&candidate, old_decoded.as_ref());
    if !errs.is_empty() {
        let name = corten_apimachinery::meta::name(&obj)
            .or_else(|| old.and_then(corten_apimachinery::meta::name))
            .unwrap_or_default()
            .to_string();
        return Err(corten_apimachinery::StatusError::invalid(
            &crate::registry::store::group_kind(res),
            &name,
            &errs,
        ));
    }
    Ok(obj)
}

/// [`prepare_served`] for an update: the stored object (`hint`, else read
/// from etcd) is read in the served version first. A missing object is
/// left to the store to report.
pub async fn prepare_served_update(
    reg: &crate::registry::Registry,
    res: &Resource,
    key: &str,
    hint: Option<&corten_storage::KeyValue>,
    body: Value,
    target: corten_api::UpdateTarget,
    opts: &crate::registry::store::WriteOptions,
) -> Result<Value, corten_apimachinery::StatusError> {
    if !writes_in_served_version(res) {
        return Ok(body);
    }
    let kv = match hint {
        Some(kv) => Some(kv.clone()),
        None => reg
            .store
            .get(key)
            .await
            .map_err(|e| crate::registry::store::storage_error(e, &res.group_resource(), ""))?,
    };
    let Some(kv) = kv else {
        return Ok(body);
    };
    let old =
        crate::registry::convert::from_storage(res, crate::registry::store::decode_stored(&kv)?)?;
    prepare_served(res, body, Some(&old), target, opts)
}

/// Conversion from a served version to the storage version and back, as
/// upstream's storage codec does it: a stored object is defaulted by the
/// storage version's schema, converted (`conversion: None` only rewrites
/// `apiVersion`, the store does that; `conversion: Webhook` asks the CRD's
/// webhook), then pruned by the served version's schema; an object
/// written in the served version is converted, then pruned by the storage
/// version's schema. Field selectors are limited to the served version's
/// `selectableFields`.
pub struct CustomConversion {
    labels: &'static [&'static str],
    served: String,
    storage: String,
    webhook: RwLock<Option<Arc<WebhookClient>>>,
    /// The served version's strategy (its schema prunes converted objects).
    served_strategy: &'static CustomResourceStrategy,
    /// The storage version's schema.
    storage_schema: RwLock<Arc<CustomResourceSchema>>,
}

impl CustomConversion {
    /// The conversion between the served `served` and the storage
    /// `storage` apiVersions.
    pub(super) fn new(
        labels: &'static [&'static str],
        served: String,
        storage: String,
        webhook: Option<Arc<WebhookClient>>,
        served_strategy: &'static CustomResourceStrategy,
        storage_schema: Arc<CustomResourceSchema>,
    ) -> Self {
        CustomConversion {
            labels,
            served,
            storage,
            webhook: RwLock::new(webhook),
            served_strategy,
            storage_schema: RwLock::new(storage_schema),
        }
    }

    fn webhook(&self) -> Option<Arc<WebhookClient>> {
        match self.webhook.read() {
            Ok(w) => w.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub(super) fn set_webhook(&self, w: Option<Arc<WebhookClient>>) {
        match self.webhook.write() {
            Ok(mut g) => *g = w,
            Err(p) => *p.into_inner() = w,
        }
    }

    fn storage_schema(&self) -> Arc<CustomResourceSchema> {
        match self.storage_schema.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub(super) fn set_storage_schema(&self, schema: Arc<CustomResourceSchema>) {
        match self.storage_schema.write() {
            Ok(mut g) => *g = schema,
            Err(p) => *p.into_inner() = schema,
        }
    }

    /// Whether converting needs a webhook call.
    pub fn uses_webhook(&self) -> bool {
        self.webhook().is_some()
    }

    /// The served version's `apiVersion`, set on converted objects, and
    /// pruning by its schema (upstream `schemaCoercingConverter`).
    fn finish_served(&self, mut obj: Value) -> Value {
        if let Some(m) = obj.as_object_mut() {
            m.insert("apiVersion".into(), Value::String(self.served.clone()));
        }
        self.served_strategy.schema().prune(&mut obj);
        obj
    }

    /// Stored objects in the served version, converted together: one
    /// ConversionReview for all of them with a webhook (upstream converts
    /// the objects of a list in one request).
    pub async fn from_storage_many(&self, objs: Vec<Value>) -> Result<Vec<Value>, String> {
        let storage = self.storage_schema();
        let mut objs = objs;
        for o in &mut objs {
            storage.default(o);
        }
        let converted = match self.webhook() {
            Some(w) => w.convert_many(objs, &self.served).await?,
            None => objs,
        };
        Ok(converted
            .into_iter()
            .map(|o| self.finish_served(o))
            .collect())
    }
}

impl Conversion for CustomConversion {
    fn to_storage(&self, obj: Value) -> Result<Value, String> {
        if !obj.is_object() {
            return Err("the object must be a JSON object".into());
        }
        let mut out = match self.webhook() {
            Some(w) => w.convert_blocking(&obj, &self.storage)?,
            None => obj,
        };
        if let Some(m) = out.as_object_mut() {
            m.insert("apiVersion".into(), Value::String(self.storage.clone()));
        }
        self.storage_schema().prune(&mut out);
        Ok(out)
    }

    fn from_storage(&self, mut obj: Value) -> Result<Value, String> {
        self.storage_schema().default(&mut obj);
        let out = match self.webhook() {
            Some(w) => w.convert_blocking(&obj, &self.served)?,
            None => obj,
        };
        Ok(self.finish_served(out))
    }

    fn field_label_to_storage(&self, label: &str) -> Option<String> {
        (label.starts_with("metadata.") || self.labels.contains(&label)).then(|| label.to_string())
    }
}

/// The storage definition writes through a non-storage `served` version
/// use: the storage version's, with a [`ViaStrategy`]. Interned like the
/// definitions themselves.
pub(super) fn intern_via(served: Interned, storage: Interned) -> &'static ResourceDef {
    type Key = (usize, usize);
    static VIA: Mutex<Option<HashMap<Key, &'static ResourceDef>>> = Mutex::new(None);
    let mut guard = VIA.lock().unwrap_or_else(|p| p.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    // Interned definitions live forever: their addresses are their identity.
    let key = (
        served.def as *const ResourceDef as usize,
        storage.def as *const ResourceDef as usize,
    );
    if let Some(d) = map.get(&key) {
        return d;
    }
    let strategy: &'static ViaStrategy = Box::leak(Box::new(ViaStrategy::new(
        served.strategy,
        storage.strategy,
    )));
    let def: &'static ResourceDef = Box::leak(Box::new(ResourceDef {
        strategy,
        conversion: None,
        ..*storage.def
    }));
    map.insert(key, def);
    def
}
