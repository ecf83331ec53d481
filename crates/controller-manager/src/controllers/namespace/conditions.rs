//! The `NamespaceDeletion*` status conditions, with upstream's types,
//! reasons and messages (`namespaceConditionUpdater`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NamespaceCondition, NamespaceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// Discovery of the namespaced resources failed for some groups.
pub const DELETION_DISCOVERY_FAILURE: &str = "NamespaceDeletionDiscoveryFailure";
/// A group version from discovery did not parse.
pub const DELETION_GV_PARSING_FAILURE: &str = "NamespaceDeletionGroupVersionParsingFailure";
/// Deleting the content of some resource types failed.
pub const DELETION_CONTENT_FAILURE: &str = "NamespaceDeletionContentFailure";
/// Objects are still there (finalizers, graceful termination).
pub const CONTENT_REMAINING: &str = "NamespaceContentRemaining";
/// Remaining objects carry finalizers.
pub const FINALIZERS_REMAINING: &str = "NamespaceFinalizersRemaining";

/// The condition types the namespace controller maintains, in upstream order.
pub const CONDITION_TYPES: [&str; 5] = [
    DELETION_DISCOVERY_FAILURE,
    DELETION_GV_PARSING_FAILURE,
    DELETION_CONTENT_FAILURE,
    CONTENT_REMAINING,
    FINALIZERS_REMAINING,
];

fn ok_reason(type_: &str) -> &'static str {
    match type_ {
        DELETION_DISCOVERY_FAILURE => "ResourcesDiscovered",
        DELETION_GV_PARSING_FAILURE => "ParsedGroupVersions",
        DELETION_CONTENT_FAILURE => "ContentDeleted",
        CONTENT_REMAINING => "ContentRemoved",
        _ => "ContentHasNoFinalizers",
    }
}

fn ok_message(type_: &str) -> &'static str {
    match type_ {
        DELETION_DISCOVERY_FAILURE => "All resources successfully discovered",
        DELETION_GV_PARSING_FAILURE => "All legacy kube types successfully parsed",
        DELETION_CONTENT_FAILURE => {
            "All content successfully deleted, may be waiting on finalization"
        }
        CONTENT_REMAINING => "All content successfully removed",
        _ => "All content-preserving finalizers finished",
    }
}

/// Collects what went wrong during one deletion pass.
#[derive(Debug, Default)]
pub struct ConditionUpdater {
    new_conditions: Vec<NamespaceCondition>,
    delete_content_errors: Vec<String>,
}

fn failing(type_: &str, reason: &str, message: String) -> NamespaceCondition {
    NamespaceCondition {
        type_: type_.to_string(),
        status: "True".to_string(),
        last_transition_time: Some(Time(Timestamp::now())),
        reason: Some(reason.to_string()),
        message: Some(message),
    }
}

impl ConditionUpdater {
    /// Discovery failed for some groups (`message` is the discovery error).
    pub fn discovery_failed(&mut self, failed_groups: usize, message: &str) {
        self.new_conditions.push(failing(
            DELETION_DISCOVERY_FAILURE,
            "DiscoveryFailed",
            format!("Discovery failed for some groups, {failed_groups} failing: {message}"),
        ));
    }

    /// Discovery failed entirely.
    pub fn discovery_error(&mut self, message: &str) {
        self.new_conditions.push(failing(
            DELETION_DISCOVERY_FAILURE,
            "DiscoveryFailed",
            message.to_string(),
        ));
    }

    /// Some group versions did not parse.
    pub fn group_version_error(&mut self, message: &str) {
        self.new_conditions.push(failing(
            DELETION_GV_PARSING_FAILURE,
            "GroupVersionParsingFailed",
            message.to_string(),
        ));
    }

    /// Deleting one resource type's content failed.
    pub fn delete_content_error(&mut self, message: String) {
        self.delete_content_errors.push(message);
    }

    /// Totals of what remains: per `resource.group` and per finalizer.
    pub fn content_totals(
        &mut self,
        remaining: &BTreeMap<String, usize>,
        finalizers: &BTreeMap<String, usize>,
    ) {
        let resources: Vec<String> = remaining
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(gr, n)| format!("{gr} has {n} resource instances"))
            .collect();
        if !resources.is_empty() {
            self.new_conditions.push(failing(
                CONTENT_REMAINING,
                "SomeResourcesRemain",
                format!("Some resources are remaining: {}", resources.join(", ")),
            ));
        }
        let by_finalizer: Vec<String> = finalizers
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect();
        if !by_finalizer.is_empty() {
            self.new_conditions.push(failing(
                FINALIZERS_REMAINING,
                "SomeFinalizersRemain",
                format!(
                    "Some content in the namespace has finalizers remaining: {}",
                    by_finalizer.join(", ")
                ),
            ));
        }
    }

    /// Applies the conditions to `status`; returns whether it changed.
    pub fn update(mut self, status: &mut NamespaceStatus) -> bool {
        if !self.delete_content_errors.is_empty() {
            let mut messages = std::mem::take(&mut self.delete_content_errors);
            messages.sort();
            let count = messages.len();
            self.new_conditions.push(failing(
                DELETION_CONTENT_FAILURE,
                "ContentDeletionFailed",
                format!(
                    "Failed to delete all resource types, {count} remaining: {}",
                    messages.join(", ")
                ),
            ));
        }
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        let mut changed = false;
        for type_ in CONDITION_TYPES {
            let wanted = self
                .new_conditions
                .iter()
                .find(|c| c.type_ == type_)
                .cloned()
                .unwrap_or_else(|| NamespaceCondition {
                    type_: type_.to_string(),
                    status: "False".to_string(),
                    last_transition_time: Some(Time(Timestamp::now())),
                    reason: Some(ok_reason(type_).to_string()),
                    message: Some(ok_message(type_).to_string()),
                });
            match conditions.iter_mut().find(|c| c.type_ == type_) {
                None => {
                    conditions.push(wanted);
                    changed = true;
                }
                Some(old) => {
                    if old.status != wanted.status
                        || old.message != wanted.message
                        || old.reason != wanted.reason
                    {
                        if old.status != wanted.status {
                            old.last_transition_time = Some(Time(Timestamp::now()));
                        }
                        old.status = wanted.status;
                        old.reason = wanted.reason;
                        old.message = wanted.message;
                        changed = true;
                    }
                }
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(status: &'a NamespaceStatus, type_: &str) -> &'a NamespaceCondition {
        status
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == type_)
            .unwrap()
    }

    #[test]
    fn all_good_sets_the_ok_variants_once() {
        let mut status = NamespaceStatus::default();
        assert!(ConditionUpdater::default().update(&mut status));
        assert_eq!(status.conditions.as_ref().unwrap().len(), 5);
        let c = find(&status, CONTENT_REMAINING);
        assert_eq!(c.status, "False");
        assert_eq!(c.reason.as_deref(), Some("ContentRemoved"));
        assert_eq!(
            c.message.as_deref(),
            Some("All content successfully removed")
        );
        assert!(!ConditionUpdater::default().update(&mut status));
    }

    #[test]
    fn remaining_content_and_errors_are_reported() {
        let mut status = NamespaceStatus::default();
        let mut updater = ConditionUpdater::default();
        updater.content_totals(
            &BTreeMap::from([
                ("configmaps.".to_string(), 2),
                ("deployments.apps".to_string(), 1),
            ]),
            &BTreeMap::from([("example.com/block".to_string(), 3)]),
        );
        updater.delete_content_error("b failed".into());
        updater.delete_content_error("a failed".into());
        updater.discovery_failed(
            1,
            "unable to retrieve the complete list of server APIs: x/v1: boom",
        );
        assert!(updater.update(&mut status));
        let c = find(&status, CONTENT_REMAINING);
        assert_eq!(c.status, "True");
        assert_eq!(c.reason.as_deref(), Some("SomeResourcesRemain"));
        assert_eq!(
            c.message.as_deref(),
            Some(
                "Some resources are remaining: configmaps. has 2 resource instances, deployments.apps has 1 resource instances"
            )
        );
        let c = find(&status, FINALIZERS_REMAINING);
        assert_eq!(
            c.message.as_deref(),
            Some(
                "Some content in the namespace has finalizers remaining: example.com/block in 3 resource instances"
            )
        );
        let c = find(&status, DELETION_CONTENT_FAILURE);
        assert_eq!(
            c.message.as_deref(),
            Some("Failed to delete all resource types, 2 remaining: a failed, b failed")
        );
        let c = find(&status, DELETION_DISCOVERY_FAILURE);
        assert_eq!(
            c.message.as_deref(),
            Some(
                "Discovery failed for some groups, 1 failing: unable to retrieve the complete list of server APIs: x/v1: boom"
            )
        );
        // Back to healthy flips them to False.
        assert!(ConditionUpdater::default().update(&mut status));
        assert_eq!(find(&status, CONTENT_REMAINING).status, "False");
    }
}
