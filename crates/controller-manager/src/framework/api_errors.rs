//! Classifying API errors like upstream's `apierrors` package does.

/// The `reason` of the status cause the apiserver attaches when content is
/// created in a namespace that is being deleted.
pub const NAMESPACE_TERMINATING_CAUSE: &str = "NamespaceTerminating";

fn status(err: &kube::Error) -> Option<&kube::core::Status> {
    match err {
        kube::Error::Api(status) => Some(status),
        _ => None,
    }
}

/// 404 NotFound.
pub fn is_not_found(err: &kube::Error) -> bool {
    status(err).is_some_and(|s| s.code == 404 || s.reason == "NotFound")
}

/// 409 AlreadyExists.
pub fn is_already_exists(err: &kube::Error) -> bool {
    status(err).is_some_and(|s| s.reason == "AlreadyExists")
}

/// 409 Conflict (stale resourceVersion).
pub fn is_conflict(err: &kube::Error) -> bool {
    status(err)
        .is_some_and(|s| s.reason == "Conflict" || (s.code == 409 && s.reason != "AlreadyExists"))
}

/// 405 MethodNotAllowed (the verb is not supported by the resource).
pub fn is_method_not_supported(err: &kube::Error) -> bool {
    status(err).is_some_and(|s| s.code == 405 || s.reason == "MethodNotAllowed")
}

/// Whether the error's status details carry a cause with this reason
/// (upstream `HasStatusCause`).
pub fn has_status_cause(err: &kube::Error, cause: &str) -> bool {
    status(err)
        .and_then(|s| s.details.as_ref())
        .is_some_and(|d| d.causes.iter().any(|c| c.reason == cause))
}

/// The HTTP code of an API error, if the server answered.
pub fn status_code(err: &kube::Error) -> Option<u16> {
    status(err).map(|s| s.code).filter(|c| *c != 0)
}

/// The message to show for an error: the server's message when it answered.
pub fn message(err: &kube::Error) -> String {
    match status(err) {
        Some(s) if !s.message.is_empty() => s.message.clone(),
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;
    use kube::core::response::{StatusCause, StatusDetails};

    fn api(code: u16, reason: &str) -> kube::Error {
        kube::Error::Api(Status::failure("boom", reason).with_code(code).boxed())
    }

    #[test]
    fn classifies_like_apierrors() {
        assert!(is_not_found(&api(404, "NotFound")));
        assert!(is_already_exists(&api(409, "AlreadyExists")));
        assert!(!is_conflict(&api(409, "AlreadyExists")));
        assert!(is_conflict(&api(409, "Conflict")));
        assert!(is_method_not_supported(&api(405, "MethodNotAllowed")));
        assert_eq!(status_code(&api(422, "Invalid")), Some(422));
        assert_eq!(message(&api(422, "Invalid")), "boom");
        let terminating = kube::Error::Api(
            Status::failure("namespace x is being terminated", "Forbidden")
                .with_code(403)
                .with_details(StatusDetails {
                    causes: vec![StatusCause {
                        reason: NAMESPACE_TERMINATING_CAUSE.into(),
                        message: "namespace x is being terminated".into(),
                        field: String::new(),
                    }],
                    name: "x".into(),
                    group: String::new(),
                    kind: "namespaces".into(),
                    uid: String::new(),
                    retry_after_seconds: 0,
                })
                .boxed(),
        );
        assert!(has_status_cause(&terminating, NAMESPACE_TERMINATING_CAUSE));
        assert!(!has_status_cause(
            &api(403, "Forbidden"),
            NAMESPACE_TERMINATING_CAUSE
        ));
    }
}
