//! Which objects a LIST or WATCH wants.

use std::sync::Arc;

use corten_apimachinery::fields::FieldSelector;
use corten_apimachinery::labels::Selector;
use serde_json::Value;

use crate::cache::CachedObject;

/// Extracts the per-kind selectable fields (e.g. `spec.nodeName`,
/// `status.phase` for pods) from an object. `metadata.name` and
/// `metadata.namespace` are always available and need not be returned.
pub type AttrsFn = Arc<dyn Fn(&Value) -> Vec<(String, String)> + Send + Sync>;

/// Rewrites an object read from etcd before the cache keeps it: what a
/// decoder does on every read (upstream's custom resource storage codec
/// prunes and defaults by the CRD's current schema), so objects written
/// before a schema change read like objects written after it.
pub type TransformFn = Arc<dyn Fn(&mut Value) + Send + Sync>;

/// A label and field selector, evaluated against cached objects.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Label selector (empty = everything).
    pub labels: Selector,
    /// Field selector (empty = everything).
    pub fields: FieldSelector,
}

impl Filter {
    /// True if the filter selects everything.
    pub fn is_everything(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    /// Whether `obj` passes both selectors.
    pub fn matches(&self, obj: &CachedObject) -> bool {
        if !self.labels.is_empty() && !self.labels.matches(&obj.labels) {
            return false;
        }
        if self.fields.is_empty() {
            return true;
        }
        self.fields
            .matches(&|f: &str| obj.field(f).map(str::to_string))
    }
}
