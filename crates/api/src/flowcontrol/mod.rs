//! flowcontrol.apiserver.k8s.io/v1: FlowSchema and
//! PriorityLevelConfiguration (API Priority and Fairness).
//!
//! The strategies follow upstream's registry (cluster-scoped, status
//! subresource, generation tracked on spec changes) and its validation
//! package; `bootstrap` holds the mandatory and suggested configuration
//! objects every apiserver keeps in place.

pub mod bootstrap;
mod flow_schema;
mod priority_level;
#[cfg(test)]
mod tests;

pub use flow_schema::{FLOW_SCHEMA_STRATEGY, FlowSchemaRules};
pub use priority_level::{PRIORITY_LEVEL_STRATEGY, PriorityLevelRules};

/// The API group.
pub const GROUP: &str = "flowcontrol.apiserver.k8s.io";

/// The annotation that says whether the apiserver keeps the spec of a
/// bootstrap object up to date (`"true"`) or leaves it to the user.
pub const AUTO_UPDATE_ANNOTATION: &str = "apf.kubernetes.io/autoupdate-spec";

/// Verbs a policy rule may name besides `*`.
const SUPPORTED_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "proxy",
    "update",
    "watch",
];

/// Status conditions: each needs a type, and types are unique.
fn validate_condition_types<'a>(
    types: impl Iterator<Item = Option<&'a str>>,
) -> corten_apimachinery::ErrorList {
    use corten_apimachinery::{FieldError, Path};
    let mut errs = Vec::new();
    let cp = Path::new("status").child("conditions");
    let mut seen = std::collections::HashSet::new();
    for (i, t) in types.enumerate() {
        let t = t.unwrap_or_default();
        let tp = cp.index(i).child("type");
        if !seen.insert(t) {
            errs.push(FieldError::duplicate(&tp, t));
        }
        if t.is_empty() {
            errs.push(FieldError::required(&tp, "must not be empty"));
        }
    }
    errs
}

fn has_wildcard(list: &[String]) -> bool {
    list.iter().any(|s| s == "*")
}
