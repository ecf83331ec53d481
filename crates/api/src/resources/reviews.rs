//! Strategies of the create-only review kinds (authentication.k8s.io and
//! authorization.k8s.io): decode into the typed form and validate the
//! request the way upstream's `ValidateSubjectAccessReviewSpec` does. The
//! apiserver answers them from memory; nothing is stored.

use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::authentication::v1::{SelfSubjectReview, TokenReview};
use k8s_openapi::api::authorization::v1::{
    LocalSubjectAccessReview, SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview,
};
use serde_json::Value;

use crate::strategy::Strategy;

/// Which review, for its validation rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// No spec rules.
    Nothing,
    /// Resource or non-resource attributes, and a subject.
    Subject,
    /// Resource or non-resource attributes only (the subject is the caller).
    Attributes,
}

/// The strategy of one review kind.
pub struct ReviewStrategy<T> {
    check: Check,
    _kind: std::marker::PhantomData<fn() -> T>,
}

impl<T> ReviewStrategy<T> {
    const fn new(check: Check) -> Self {
        ReviewStrategy {
            check,
            _kind: std::marker::PhantomData,
        }
    }
}

/// TokenReview.
pub static TOKEN_REVIEW_STRATEGY: ReviewStrategy<TokenReview> = ReviewStrategy::new(Check::Nothing);
/// SelfSubjectReview.
pub static SELF_SUBJECT_REVIEW_STRATEGY: ReviewStrategy<SelfSubjectReview> =
    ReviewStrategy::new(Check::Nothing);
/// SubjectAccessReview.
pub static SUBJECT_ACCESS_REVIEW_STRATEGY: ReviewStrategy<SubjectAccessReview> =
    ReviewStrategy::new(Check::Subject);
/// LocalSubjectAccessReview.
pub static LOCAL_SUBJECT_ACCESS_REVIEW_STRATEGY: ReviewStrategy<LocalSubjectAccessReview> =
    ReviewStrategy::new(Check::Subject);
/// SelfSubjectAccessReview.
pub static SELF_SUBJECT_ACCESS_REVIEW_STRATEGY: ReviewStrategy<SelfSubjectAccessReview> =
    ReviewStrategy::new(Check::Attributes);
/// SelfSubjectRulesReview.
pub static SELF_SUBJECT_RULES_REVIEW_STRATEGY: ReviewStrategy<SelfSubjectRulesReview> =
    ReviewStrategy::new(Check::Nothing);

fn present(spec: &Value, key: &str) -> bool {
    spec.get(key).is_some_and(|v| !v.is_null())
}

/// Upstream's spec checks of the access reviews.
fn validate_spec(obj: &Value, check: Check) -> ErrorList {
    let mut errs = Vec::new();
    if check == Check::Nothing {
        return errs;
    }
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let p = Path::new("spec");
    let (res, non) = (
        present(&spec, "resourceAttributes"),
        present(&spec, "nonResourceAttributes"),
    );
    if res && non {
        errs.push(FieldError::invalid(
            &p.child("nonResourceAttributes"),
            spec["nonResourceAttributes"].clone(),
            "cannot be specified in combination with resourceAttributes",
        ));
    }
    if !res && !non {
        errs.push(FieldError::invalid(
            &p.child("resourceAttributes"),
            Value::Null,
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ));
    }
    if check == Check::Subject {
        let user = spec.get("user").and_then(Value::as_str).unwrap_or("");
        let groups = spec
            .get("groups")
            .and_then(Value::as_array)
            .is_some_and(|g| !g.is_empty());
        if user.is_empty() && !groups {
            errs.push(FieldError::invalid(
                &p.child("user"),
                Value::String(String::new()),
                "at least one of user or group must be specified",
            ));
        }
    }
    errs
}

impl<T> Strategy for ReviewStrategy<T>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    fn canonicalize(&self, obj: Value) -> Result<Value, String> {
        crate::typed::round_trip::<T>(obj)
    }

    fn validate(&self, obj: &Value) -> ErrorList {
        validate_spec(obj, self.check)
    }

    fn validate_update(&self, new: &Value, _old: &Value) -> ErrorList {
        self.validate(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn access_reviews_need_attributes_and_a_subject() {
        let s = &SUBJECT_ACCESS_REVIEW_STRATEGY;
        let ok = json!({"spec": {"user": "a", "resourceAttributes": {"verb": "get"}}});
        assert!(s.validate(&ok).is_empty());
        assert_eq!(
            s.validate(&json!({"spec": {"resourceAttributes": {}}}))
                .len(),
            1
        );
        assert_eq!(s.validate(&json!({"spec": {"user": "a"}})).len(), 1);
        let both =
            json!({"spec": {"user": "a", "resourceAttributes": {}, "nonResourceAttributes": {}}});
        assert_eq!(s.validate(&both).len(), 1);
        let own = &SELF_SUBJECT_ACCESS_REVIEW_STRATEGY;
        assert!(
            own.validate(&json!({"spec": {"nonResourceAttributes": {"path": "/", "verb": "get"}}}))
                .is_empty()
        );
        assert!(
            TOKEN_REVIEW_STRATEGY
                .canonicalize(json!({"spec": {"token": 5}}))
                .is_err()
        );
    }
}
