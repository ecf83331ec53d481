//! Custom resources as they are read from etcd. Upstream's storage codec
//! decodes every stored custom resource through the CRD's current schema
//! of the version it is stored in: unknown fields are pruned, then the
//! schema's defaults are applied. A default (or a field removal) added to a
//! CRD later therefore shows on GET, LIST and WATCH of objects written
//! before it, without rewriting them.
//!
//! Here the watch cache of a CRD (restarted whenever the CRD's spec
//! changes) runs [`StoredDecoder`] on every object it takes from etcd, so
//! LIST and WATCH (and GET from the cache) cost nothing extra per read;
//! reads straight from etcd (GET without a resourceVersion) run it
//! through [`on_read`].

use std::collections::HashMap;
use std::sync::Arc;

use corten_apiextensions::CustomResourceSchema;
use corten_storage::TransformFn;
use serde_json::Value;

use crate::registry::Resource;

/// The schemas of every version of a CRD, by `apiVersion`.
pub struct StoredDecoder {
    schemas: HashMap<String, CustomResourceSchema>,
}

impl StoredDecoder {
    /// The decoder of a CRD (with its served names in `spec.names`).
    pub fn new(crd: &Value) -> Result<StoredDecoder, String> {
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or("");
        let mut schemas = HashMap::new();
        for v in crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.get("name").and_then(Value::as_str))
        {
            let schema = CustomResourceSchema::new(crd, v).map_err(|e| e.to_string())?;
            schemas.insert(format!("{group}/{v}"), schema);
        }
        Ok(StoredDecoder { schemas })
    }

    /// Prunes and defaults a stored object by the schema of the version it
    /// is stored in (upstream `schemaCoercingDecoder` followed by the
    /// structural defaulter). Objects of a version the CRD no longer
    /// lists are left as stored.
    pub fn decode(&self, obj: &mut Value) {
        let Some(schema) = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .and_then(|av| self.schemas.get(av))
        else {
            return;
        };
        schema.prune(obj);
        schema.default(obj);
    }

    /// The decoder as the watch cache's transform.
    pub fn transform(self: &Arc<Self>) -> TransformFn {
        let this = self.clone();
        Arc::new(move |obj: &mut Value| this.decode(obj))
    }
}

/// Decodes an object of `res` read straight from etcd (storage version)
/// as the watch cache does; built-in resources are left alone.
pub fn on_read(res: &Resource, obj: &mut Value) {
    if let Some(c) = &res.custom {
        c.decoder.decode(obj);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd(with_default: bool) -> Value {
        let mut size = json!({"type": "integer"});
        if with_default {
            size["default"] = json!(3);
        }
        json!({"metadata": {"name": "things.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "things", "kind": "Thing"},
                "versions": [
                    {"name": "v1", "served": true, "storage": true,
                     "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": {"size": size}}}}}},
                    {"name": "v2", "served": true, "storage": false,
                     "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": {
                            "count": {"type": "integer", "default": 9}}}}}}}]}})
    }

    #[test]
    fn stored_objects_get_the_current_schema_of_their_version() {
        let stored = json!({"apiVersion": "example.com/v1", "kind": "Thing",
            "metadata": {"name": "a"}, "spec": {"gone": true}});
        // Before the default exists: only pruning.
        let mut obj = stored.clone();
        StoredDecoder::new(&crd(false)).unwrap().decode(&mut obj);
        assert_eq!(obj["spec"], json!({}));
        // After: the default shows, by the stored version's schema (v2's
        // default is not v1's).
        let mut obj = stored.clone();
        StoredDecoder::new(&crd(true)).unwrap().decode(&mut obj);
        assert_eq!(obj["spec"], json!({"size": 3}));
        assert_eq!(obj["metadata"]["name"], "a");
        let mut v2 = json!({"apiVersion": "example.com/v2", "kind": "Thing",
            "metadata": {"name": "b"}, "spec": {}});
        StoredDecoder::new(&crd(true)).unwrap().decode(&mut v2);
        assert_eq!(v2["spec"], json!({"count": 9}));
        // Unknown versions are left as stored.
        let mut old = json!({"apiVersion": "example.com/v0", "spec": {"gone": 1}});
        StoredDecoder::new(&crd(true)).unwrap().decode(&mut old);
        assert_eq!(old["spec"], json!({"gone": 1}));
    }
}
