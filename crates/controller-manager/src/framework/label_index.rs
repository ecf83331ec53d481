//! An informer index by label (namespace, key and value), so a controller
//! finds the objects its selector matches without looking at every object
//! of the namespace (upstream lists the namespace and filters; with
//! thousands of pods per namespace that is a scan per sync or per event).
//!
//! Every object is filed once per label as `namespace/key=value` (a
//! namespace never contains `/`, so the value is unambiguous). A selector
//! is answered from the smallest bucket among its `In` requirements (each
//! value of one requirement is a bucket; their union holds every match),
//! then filtered by the whole selector. A selector with no `In`
//! requirement (only `Exists`, `NotIn`, `DoesNotExist`, or `{}`) falls
//! back to the namespace index.

use std::collections::HashSet;
use std::sync::Arc;

use kube::ResourceExt;

use super::informer::{Informer, InformerResource};
use super::selector::Selector;

/// Name of the informer index by label.
pub const LABEL_INDEX: &str = "labels";

fn index_value(namespace: &str, key: &str, value: &str) -> String {
    format!("{namespace}/{key}={value}")
}

/// Adds [`LABEL_INDEX`] to a shared informer (once).
pub fn add_label_index<K: InformerResource>(informer: &Informer<K>) {
    informer.add_index(LABEL_INDEX, |obj: &K| {
        let namespace = obj.namespace().unwrap_or_default();
        obj.labels()
            .iter()
            .map(|(key, value)| index_value(&namespace, key, value))
            .collect()
    });
}

/// The cached objects of `namespace` that `selector` matches (upstream
/// `lister.Pods(namespace).List(selector)`). Needs [`add_label_index`].
pub fn select<K: InformerResource>(
    informer: &Informer<K>,
    namespace: &str,
    selector: &Selector,
) -> Vec<Arc<K>> {
    if matches!(selector, Selector::Nothing) {
        return Vec::new();
    }
    let candidates = match narrowest_requirement(informer, namespace, selector) {
        Some(values) => {
            // One object has one value per key, so the buckets of one
            // requirement never share an object.
            values
                .iter()
                .flat_map(|v| informer.by_index(LABEL_INDEX, v))
                .collect()
        }
        None => informer.list_namespace(namespace),
    };
    candidates
        .into_iter()
        .filter(|obj| obj.namespace().unwrap_or_default() == namespace)
        .filter(|obj| selector.matches(obj.meta().labels.as_ref()))
        .collect()
}

/// The index values of the `In` requirement with the fewest objects.
fn narrowest_requirement<K: InformerResource>(
    informer: &Informer<K>,
    namespace: &str,
    selector: &Selector,
) -> Option<Vec<String>> {
    selector
        .required_values()
        .map(|(key, values)| {
            let distinct: HashSet<&String> = values.iter().collect();
            let values: Vec<String> = distinct
                .into_iter()
                .map(|v| index_value(namespace, key, v))
                .collect();
            let count: usize = values
                .iter()
                .map(|v| informer.count_by_index(LABEL_INDEX, v))
                .sum();
            (count, values)
        })
        .min_by_key(|(count, _)| *count)
        .map(|(_, values)| values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::informer::TestFeed;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use serde_json::json;

    fn pod(namespace: &str, name: &str, labels: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"namespace": namespace, "name": name, "labels": labels}
        }))
        .unwrap()
    }

    fn selector(value: serde_json::Value) -> Selector {
        let s: LabelSelector = serde_json::from_value(value).unwrap();
        Selector::from_label_selector(Some(&s)).unwrap()
    }

    fn names(pods: Vec<Arc<Pod>>) -> Vec<String> {
        let mut names: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
        names.sort();
        names
    }

    fn feed() -> TestFeed<Pod> {
        let mut feed = TestFeed::new();
        add_label_index(&feed.informer);
        feed.apply(pod("a", "web-1", json!({"app": "web", "tier": "fe"})));
        feed.apply(pod("a", "web-2", json!({"app": "web", "tier": "be"})));
        feed.apply(pod("a", "db-1", json!({"app": "db"})));
        feed.apply(pod("b", "web-1", json!({"app": "web", "tier": "fe"})));
        feed.apply(pod("a", "bare", json!({})));
        feed
    }

    #[test]
    fn selects_by_labels_within_the_namespace() {
        let feed = feed();
        let informer = &feed.informer;
        let web = selector(json!({"matchLabels": {"app": "web"}}));
        assert_eq!(names(select(informer, "a", &web)), ["web-1", "web-2"]);
        assert_eq!(names(select(informer, "b", &web)), ["web-1"]);
        let fe = selector(json!({"matchLabels": {"app": "web", "tier": "fe"}}));
        assert_eq!(names(select(informer, "a", &fe)), ["web-1"]);
        let any_tier = selector(json!({"matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["fe", "be", "fe"]}
        ]}));
        assert_eq!(names(select(informer, "a", &any_tier)), ["web-1", "web-2"]);
        assert!(select(informer, "c", &web).is_empty());
        assert!(select(informer, "a", &Selector::Nothing).is_empty());
    }

    #[test]
    fn selectors_without_equality_fall_back_to_the_namespace() {
        let feed = feed();
        let informer = &feed.informer;
        let everything = selector(json!({}));
        assert_eq!(
            names(select(informer, "a", &everything)),
            ["bare", "db-1", "web-1", "web-2"]
        );
        let no_tier = selector(json!({"matchExpressions": [
            {"key": "tier", "operator": "DoesNotExist"}
        ]}));
        assert_eq!(names(select(informer, "a", &no_tier)), ["bare", "db-1"]);
        let not_db = selector(json!({"matchExpressions": [
            {"key": "app", "operator": "NotIn", "values": ["db"]},
            {"key": "app", "operator": "Exists"}
        ]}));
        assert_eq!(names(select(informer, "a", &not_db)), ["web-1", "web-2"]);
    }

    #[test]
    fn relabelled_and_deleted_objects_move() {
        let mut feed = feed();
        let web = selector(json!({"matchLabels": {"app": "web"}}));
        feed.apply(pod("a", "web-2", json!({"app": "api"})));
        assert_eq!(names(select(&feed.informer, "a", &web)), ["web-1"]);
        feed.apply(pod("a", "db-1", json!({"app": "web", "tier": "fe"})));
        assert_eq!(names(select(&feed.informer, "a", &web)), ["db-1", "web-1"]);
        feed.delete(pod("a", "web-1", json!({"app": "web", "tier": "fe"})));
        assert_eq!(names(select(&feed.informer, "a", &web)), ["db-1"]);
        assert_eq!(feed.informer.count_by_index(LABEL_INDEX, "a/tier=fe"), 1);
        assert_eq!(feed.informer.count_by_index(LABEL_INDEX, "a/app=api"), 1);
    }

    #[test]
    fn the_narrowest_requirement_is_used() {
        let mut feed = TestFeed::new();
        add_label_index(&feed.informer);
        for i in 0..50 {
            feed.apply(pod(
                "a",
                &format!("p{i}"),
                json!({"team": "x", "app": format!("a{i}")}),
            ));
        }
        let s = selector(json!({"matchLabels": {"team": "x", "app": "a7"}}));
        assert_eq!(
            narrowest_requirement(&feed.informer, "a", &s),
            Some(vec!["a/app=a7".to_string()])
        );
        assert_eq!(names(select(&feed.informer, "a", &s)), ["p7"]);
    }
}
