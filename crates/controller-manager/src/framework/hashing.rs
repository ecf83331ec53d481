//! Hashes that name things: the `pod-template-hash` of a Deployment's
//! ReplicaSets and the hash of a ControllerRevision, and the template
//! comparison that goes with them.
//!
//! Both hashes are FNV-1 family 32-bit hashes printed in decimal and then
//! mapped onto upstream's "safe" alphabet (no vowels, no `0`, `1`, `3`), so
//! they look like upstream's (`web-7d4b9c8f6`).
//!
//! - [`controller_revision_hash`] is exactly upstream's
//!   `HashControllerRevision` (FNV-1 over the revision's raw JSON, then the
//!   collision count in decimal).
//! - [`pod_template_hash`] follows upstream's `ComputeHash` (FNV-1a over the
//!   template, then the collision count as 8 little-endian bytes), but
//!   hashes the template's canonical JSON where upstream hashes a Go
//!   pretty-print of its structs; the values therefore differ from
//!   upstream's for the same template. Nothing depends on the exact value:
//!   a ReplicaSet is matched to its Deployment by template equality
//!   ([`templates_equal_ignoring_hash`]), the hash only keeps names and
//!   selectors apart.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

/// The label (and selector key) Deployments add to their ReplicaSets and
/// pods (`apps.DefaultDeploymentUniqueLabelKey`).
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// Upstream `rand.SafeEncodeString`'s alphabet.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

const FNV32_OFFSET: u32 = 0x811c_9dc5;
const FNV32_PRIME: u32 = 0x0100_0193;

/// FNV-1a, 32 bits (Go's `fnv.New32a`).
#[derive(Debug, Clone, Copy)]
pub struct Fnv32a(u32);

impl Default for Fnv32a {
    fn default() -> Self {
        Self(FNV32_OFFSET)
    }
}

impl Fnv32a {
    /// Adds `bytes` to the hash.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u32::from(*b);
            self.0 = self.0.wrapping_mul(FNV32_PRIME);
        }
    }

    /// The hash so far.
    pub fn sum32(&self) -> u32 {
        self.0
    }
}

/// FNV-1, 32 bits (Go's `fnv.New32`).
#[derive(Debug, Clone, Copy)]
pub struct Fnv32(u32);

impl Default for Fnv32 {
    fn default() -> Self {
        Self(FNV32_OFFSET)
    }
}

impl Fnv32 {
    /// Adds `bytes` to the hash.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.wrapping_mul(FNV32_PRIME);
            self.0 ^= u32::from(*b);
        }
    }

    /// The hash so far.
    pub fn sum32(&self) -> u32 {
        self.0
    }
}

/// Upstream `rand.SafeEncodeString`: each byte mapped onto an alphabet
/// without vowels or easily confused digits.
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| char::from(SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()]))
        .collect()
}

/// The `pod-template-hash` of a Deployment's template (see the module
/// documentation) with its `status.collisionCount`.
pub fn pod_template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut hasher = Fnv32a::default();
    let canonical = semantic_form(serde_json::to_value(template).unwrap_or(Value::Null));
    hasher.write(canonical.to_string().as_bytes());
    if let Some(count) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&u32::from_ne_bytes(count.to_ne_bytes()).to_le_bytes());
        hasher.write(&bytes);
    }
    safe_encode(&hasher.sum32().to_string())
}

/// Upstream `HashControllerRevision`: FNV-1 over the revision's raw data,
/// then the collision count (`probe`) in decimal.
pub fn controller_revision_hash(raw_data: &[u8], probe: Option<i32>) -> String {
    let mut hasher = Fnv32::default();
    hasher.write(raw_data);
    if let Some(probe) = probe {
        hasher.write(probe.to_string().as_bytes());
    }
    safe_encode(&hasher.sum32().to_string())
}

/// Upstream `EqualIgnoreHash`: the templates are semantically equal once
/// the `pod-template-hash` label is removed from both.
pub fn templates_equal_ignoring_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let form = |t: &PodTemplateSpec| {
        let mut t = t.clone();
        if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.remove(POD_TEMPLATE_HASH_LABEL);
        }
        semantic_form(serde_json::to_value(&t).unwrap_or(Value::Null))
    };
    form(a) == form(b)
}

/// The JSON with nulls, empty objects and empty arrays removed
/// (`apiequality.Semantic` treats nil and empty alike).
pub fn semantic_form(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, semantic_form(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(semantic_form).collect()),
        other => other,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_go() {
        // Go: fnv.New32a().Write([]byte("hello")).Sum32() == 1335831723
        let mut a = Fnv32a::default();
        a.write(b"hello");
        assert_eq!(a.sum32(), 1_335_831_723);
        // Go: fnv.New32().Write([]byte("hello")).Sum32() == 3069866343
        let mut b = Fnv32::default();
        b.write(b"hello");
        assert_eq!(b.sum32(), 3_069_866_343);
    }

    #[test]
    fn safe_encoding_uses_upstreams_alphabet() {
        // '0'..'9' are bytes 48..57: 48 % 27 = 21 -> '4'.
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
        assert_eq!(safe_encode(""), "");
    }

    fn template(image: &str, extra_label: Option<(&str, &str)>) -> PodTemplateSpec {
        let mut labels = serde_json::json!({"app": "web"});
        if let Some((k, v)) = extra_label {
            labels[k] = Value::from(v);
        }
        serde_json::from_value(serde_json::json!({
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "c", "image": image}]}
        }))
        .unwrap()
    }

    #[test]
    fn template_hash_depends_on_template_and_collisions() {
        let a = pod_template_hash(&template("nginx:1", None), None);
        assert_eq!(a, pod_template_hash(&template("nginx:1", None), None));
        assert_ne!(a, pod_template_hash(&template("nginx:2", None), None));
        assert_ne!(a, pod_template_hash(&template("nginx:1", None), Some(1)));
        assert!(a.len() <= 10 && a.bytes().all(|b| SAFE_ALPHABET.contains(&b)));
    }

    #[test]
    fn equality_ignores_the_hash_label_and_empty_fields() {
        let plain = template("nginx:1", None);
        let hashed = template("nginx:1", Some((POD_TEMPLATE_HASH_LABEL, "abc")));
        assert!(templates_equal_ignoring_hash(&plain, &hashed));
        assert!(!templates_equal_ignoring_hash(
            &plain,
            &template("nginx:2", None)
        ));
        let mut with_empty = plain.clone();
        with_empty.metadata.as_mut().unwrap().annotations = Some(Default::default());
        assert!(templates_equal_ignoring_hash(&plain, &with_empty));
        assert!(!templates_equal_ignoring_hash(
            &plain,
            &template("nginx:1", Some(("tier", "fe")))
        ));
    }

    #[test]
    fn controller_revision_hash_is_stable() {
        let h = controller_revision_hash(br#"{"spec":{}}"#, None);
        assert_eq!(h, controller_revision_hash(br#"{"spec":{}}"#, None));
        assert_ne!(h, controller_revision_hash(br#"{"spec":{}}"#, Some(1)));
    }
}
