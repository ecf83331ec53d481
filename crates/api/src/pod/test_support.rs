//! Drives strategies through the store's hook order in unit tests (and
//! checks on the way that their pipelines do exactly the same).

use serde_json::{Value, json};

use crate::pipeline::UpdateTarget;
use crate::strategy::Strategy;

/// The rendered errors of a list.
pub fn rendered(errs: &corten_apimachinery::ErrorList) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

/// create: canonicalize -> (store sets uid) -> prepare_for_create ->
/// default -> validate. Returns the stored object and the rendered errors.
pub fn create(s: &dyn Strategy, obj: Value) -> (Value, Vec<String>) {
    crate::pipeline::testing::assert_same_create(s, &obj);
    let mut v = s.canonicalize(obj).expect("canonicalize");
    corten_apimachinery::meta::set(&mut v, "uid", json!("uid-1"));
    corten_apimachinery::meta::set(&mut v, "resourceVersion", json!("1"));
    s.prepare_for_create(&mut v);
    s.default(&mut v);
    let errs = rendered(&s.validate(&v));
    (v, errs)
}

/// Like [`create`] but panics on validation errors.
pub fn create_ok(s: &dyn Strategy, obj: Value) -> Value {
    let (v, errs) = create(s, obj);
    assert!(errs.is_empty(), "unexpected errors: {errs:#?}");
    v
}

/// update: canonicalize -> prepare_for_update -> default -> validate_update.
pub fn update(s: &dyn Strategy, new: Value, old: &Value) -> (Value, Vec<String>) {
    crate::pipeline::testing::assert_same_update(s, &new, old, UpdateTarget::Main);
    let mut v = s.canonicalize(new).expect("canonicalize");
    s.prepare_for_update(&mut v, old);
    s.default(&mut v);
    let errs = rendered(&s.validate_update(&v, old));
    (v, errs)
}

/// status update: canonicalize -> prepare_for_status_update -> validate_status_update.
pub fn update_status(s: &dyn Strategy, new: Value, old: &Value) -> (Value, Vec<String>) {
    crate::pipeline::testing::assert_same_update(s, &new, old, UpdateTarget::Status);
    let mut v = s.canonicalize(new).expect("canonicalize");
    s.prepare_for_status_update(&mut v, old);
    let errs = rendered(&s.validate_status_update(&v, old));
    (v, errs)
}

/// Sets `value` at a JSON pointer whose parent exists (the last key may be new).
pub fn set(obj: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer
        .rsplit_once('/')
        .unwrap_or_else(|| panic!("bad pointer {pointer}"));
    let target = obj
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent}"));
    match target {
        Value::Object(m) => {
            m.insert(key.to_string(), value);
        }
        Value::Array(a) => {
            let i: usize = key
                .parse()
                .unwrap_or_else(|_| panic!("bad index in {pointer}"));
            a[i] = value;
        }
        _ => panic!("{parent} is not a container"),
    }
}

/// Asserts that `errs` contains exactly the error `expected`.
#[track_caller]
pub fn assert_has(errs: &[String], expected: &str) {
    assert!(
        errs.iter().any(|e| e == expected),
        "missing error\n  {expected}\nin\n  {}",
        errs.join("\n  ")
    );
}

/// Asserts that some error starts with `prefix`.
#[track_caller]
pub fn assert_has_prefix(errs: &[String], prefix: &str) {
    assert!(
        errs.iter().any(|e| e.starts_with(prefix)),
        "no error starting with\n  {prefix}\nin\n  {}",
        errs.join("\n  ")
    );
}
