//! Plugin sets per extension point, the default set of the 1.33 default
//! profile, and upstream's merge of a profile's custom sets into it.

use serde::{Deserialize, Serialize};

/// A plugin named in a set, with its score weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginRef {
    /// The plugin name (`*` disables every default plugin of the point).
    pub name: String,
    /// Score weight (Score and MultiPoint only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
}

impl PluginRef {
    fn named(name: &str, weight: Option<i32>) -> Self {
        PluginRef {
            name: name.to_string(),
            weight,
        }
    }
}

/// The plugins enabled and disabled at one extension point.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginSet {
    /// Enabled, in order.
    #[serde(default)]
    pub enabled: Vec<PluginRef>,
    /// Disabled (defaults only).
    #[serde(default)]
    pub disabled: Vec<PluginRef>,
}

/// A profile's plugin sets.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Plugins {
    /// PreEnqueue
    #[serde(default)]
    pub pre_enqueue: PluginSet,
    /// QueueSort
    #[serde(default)]
    pub queue_sort: PluginSet,
    /// PreFilter
    #[serde(default)]
    pub pre_filter: PluginSet,
    /// Filter
    #[serde(default)]
    pub filter: PluginSet,
    /// PostFilter
    #[serde(default)]
    pub post_filter: PluginSet,
    /// PreScore
    #[serde(default)]
    pub pre_score: PluginSet,
    /// Score
    #[serde(default)]
    pub score: PluginSet,
    /// Reserve
    #[serde(default)]
    pub reserve: PluginSet,
    /// Permit
    #[serde(default)]
    pub permit: PluginSet,
    /// PreBind
    #[serde(default)]
    pub pre_bind: PluginSet,
    /// Bind
    #[serde(default)]
    pub bind: PluginSet,
    /// PostBind
    #[serde(default)]
    pub post_bind: PluginSet,
    /// Enables a plugin at every extension point it implements.
    #[serde(default)]
    pub multi_point: PluginSet,
}

impl Plugins {
    /// The set of an extension point by its configuration name
    /// (`filter`, `multiPoint`, ...).
    pub fn point(&self, name: &str) -> Option<&PluginSet> {
        Some(match name {
            "preEnqueue" => &self.pre_enqueue,
            "queueSort" => &self.queue_sort,
            "preFilter" => &self.pre_filter,
            "filter" => &self.filter,
            "postFilter" => &self.post_filter,
            "preScore" => &self.pre_score,
            "score" => &self.score,
            "reserve" => &self.reserve,
            "permit" => &self.permit,
            "preBind" => &self.pre_bind,
            "bind" => &self.bind,
            "postBind" => &self.post_bind,
            "multiPoint" => &self.multi_point,
            _ => return None,
        })
    }

    fn point_mut(&mut self, name: &str) -> Option<&mut PluginSet> {
        Some(match name {
            "preEnqueue" => &mut self.pre_enqueue,
            "queueSort" => &mut self.queue_sort,
            "preFilter" => &mut self.pre_filter,
            "filter" => &mut self.filter,
            "postFilter" => &mut self.post_filter,
            "preScore" => &mut self.pre_score,
            "score" => &mut self.score,
            "reserve" => &mut self.reserve,
            "permit" => &mut self.permit,
            "preBind" => &mut self.pre_bind,
            "bind" => &mut self.bind,
            "postBind" => &mut self.post_bind,
            "multiPoint" => &mut self.multi_point,
            _ => return None,
        })
    }

    /// Every extension point name, `multiPoint` last.
    pub const POINTS: [&'static str; 13] = [
        "preEnqueue",
        "queueSort",
        "preFilter",
        "filter",
        "postFilter",
        "preScore",
        "score",
        "reserve",
        "permit",
        "preBind",
        "bind",
        "postBind",
        "multiPoint",
    ];
}

/// The default profile's plugins (upstream `getDefaultPlugins`, 1.33):
/// all enabled through MultiPoint, with the default score weights.
pub fn default_plugins() -> Plugins {
    let enabled = [
        ("SchedulingGates", None),
        ("PrioritySort", None),
        ("NodeUnschedulable", None),
        ("NodeName", None),
        ("TaintToleration", Some(3)),
        ("NodeAffinity", Some(2)),
        ("NodePorts", None),
        ("NodeResourcesFit", Some(1)),
        ("VolumeRestrictions", None),
        ("NodeVolumeLimits", None),
        ("VolumeBinding", None),
        ("VolumeZone", None),
        ("PodTopologySpread", Some(2)),
        ("InterPodAffinity", Some(2)),
        ("DefaultPreemption", None),
        ("NodeResourcesBalancedAllocation", Some(1)),
        ("ImageLocality", Some(1)),
        ("DefaultBinder", None),
    ]
    .into_iter()
    .map(|(name, weight)| PluginRef::named(name, weight))
    .collect();
    Plugins {
        multi_point: PluginSet {
            enabled,
            disabled: Vec::new(),
        },
        ..Plugins::default()
    }
}

/// Merges a custom set into a default one (upstream `mergePluginSet`):
/// `*` in `disabled` drops every default; a default the custom set
/// re-enables is replaced in place (keeping its position); other custom
/// plugins are appended.
pub fn merge_plugin_set(default: &PluginSet, custom: &PluginSet) -> PluginSet {
    let mut disabled: Vec<PluginRef> = custom
        .disabled
        .iter()
        .map(|p| PluginRef::named(&p.name, None))
        .collect();
    disabled.extend(
        default
            .disabled
            .iter()
            .map(|p| PluginRef::named(&p.name, None)),
    );
    let is_disabled = |name: &str| disabled.iter().any(|d| d.name == name);
    let mut enabled = Vec::new();
    let mut replaced = vec![false; custom.enabled.len()];
    if !is_disabled("*") {
        for plugin in &default.enabled {
            if is_disabled(&plugin.name) {
                continue;
            }
            match custom.enabled.iter().position(|c| c.name == plugin.name) {
                Some(at) => {
                    replaced[at] = true;
                    enabled.push(custom.enabled[at].clone());
                }
                None => enabled.push(plugin.clone()),
            }
        }
    }
    for (at, plugin) in custom.enabled.iter().enumerate() {
        if !replaced[at] {
            enabled.push(plugin.clone());
        }
    }
    PluginSet { enabled, disabled }
}

/// A profile's effective plugin sets: the defaults merged with `custom`.
pub fn merged_plugins(custom: Option<&Plugins>) -> Plugins {
    let defaults = default_plugins();
    let Some(custom) = custom else {
        return defaults;
    };
    let mut merged = Plugins::default();
    for point in Plugins::POINTS {
        if let (Some(default), Some(custom), Some(slot)) = (
            defaults.point(point),
            custom.point(point),
            merged.point_mut(point),
        ) {
            *slot = merge_plugin_set(default, custom);
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(enabled: &[(&str, Option<i32>)], disabled: &[&str]) -> PluginSet {
        PluginSet {
            enabled: enabled
                .iter()
                .map(|(n, w)| PluginRef::named(n, *w))
                .collect(),
            disabled: disabled.iter().map(|n| PluginRef::named(n, None)).collect(),
        }
    }

    fn names(set: &PluginSet) -> Vec<&str> {
        set.enabled.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn merge_replaces_in_place_and_appends() {
        let default = set(&[("A", Some(1)), ("B", Some(1)), ("C", None)], &[]);
        let custom = set(&[("D", None), ("B", Some(5))], &["C"]);
        let merged = merge_plugin_set(&default, &custom);
        assert_eq!(names(&merged), ["A", "B", "D"]);
        assert_eq!(merged.enabled[1].weight, Some(5));
        let all_off = merge_plugin_set(&default, &set(&[("Z", None)], &["*"]));
        assert_eq!(names(&all_off), ["Z"]);
        assert!(all_off.disabled.iter().any(|p| p.name == "*"));
    }

    #[test]
    fn defaults_have_upstream_weights() {
        let plugins = merged_plugins(None);
        let weight = |n: &str| {
            plugins
                .multi_point
                .enabled
                .iter()
                .find(|p| p.name == n)
                .and_then(|p| p.weight)
        };
        assert_eq!(weight("TaintToleration"), Some(3));
        assert_eq!(weight("NodeAffinity"), Some(2));
        assert_eq!(weight("PodTopologySpread"), Some(2));
        assert_eq!(weight("InterPodAffinity"), Some(2));
        assert_eq!(weight("NodeResourcesFit"), Some(1));
        assert_eq!(plugins.multi_point.enabled.len(), 18);
        let custom = Plugins {
            score: set(&[], &["ImageLocality"]),
            ..Plugins::default()
        };
        let merged = merged_plugins(Some(&custom));
        assert_eq!(merged.score.disabled[0].name, "ImageLocality");
        assert_eq!(merged.multi_point.enabled.len(), 18);
    }
}
