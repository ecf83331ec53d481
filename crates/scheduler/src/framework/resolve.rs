//! Resolving a profile's plugin configuration (upstream's plugin set
//! merging and MultiPoint expansion) into plugin names per extension point.

use std::collections::HashMap;

use super::ExtensionPoints;
use crate::config::Profile;
use crate::config::plugins::{Plugins, merged_plugins};
use crate::plugins::descriptor;

/// A profile after plugin merging and MultiPoint expansion.
#[derive(Debug, Clone)]
pub struct ResolvedProfile {
    /// `schedulerName`.
    pub scheduler_name: String,
    /// The profile's `percentageOfNodesToScore`.
    pub percentage_of_nodes_to_score: Option<i32>,
    /// Plugin names per extension point (configuration names), in order.
    pub points: Vec<(&'static str, Vec<String>)>,
    /// Score weights.
    pub weights: HashMap<String, i64>,
    /// Plugin args by plugin name.
    pub args: HashMap<String, serde_json::Value>,
}

impl ResolvedProfile {
    /// The plugins at `point` (`filter`, `score`, ...).
    pub fn plugins_at(&self, point: &str) -> &[String] {
        self.points
            .iter()
            .find(|(p, _)| *p == point)
            .map_or(&[], |(_, names)| names.as_slice())
    }
}

/// Expands a profile's plugin configuration like upstream: explicit
/// per-point plugins that re-configure a MultiPoint plugin come first, then
/// MultiPoint plugins implementing the point, then other explicit ones.
pub fn resolve_profile(profile: &Profile) -> Result<ResolvedProfile, Vec<String>> {
    let merged = merged_plugins(profile.plugins.as_ref());
    let mut errors = Vec::new();
    for point in Plugins::POINTS {
        let Some(set) = merged.point(point) else {
            continue;
        };
        for (j, p) in set.enabled.iter().enumerate() {
            if descriptor(&p.name).is_none() {
                errors.push(format!(
                    "{point}.enabled[{j}].name: Invalid value: {:?}: plugin does not exist",
                    p.name
                ));
            }
            if p.weight.is_some_and(|w| w < 0) {
                errors.push(format!(
                    "{point}.enabled[{j}].weight: Invalid value: {:?}: must not be negative",
                    p.weight
                ));
            }
        }
    }
    let mut points = Vec::new();
    for (bit, point) in ExtensionPoints::ALL {
        let Some(set) = merged.point(point) else {
            continue;
        };
        let mut explicit: Vec<String> = Vec::new();
        for (j, p) in set.enabled.iter().enumerate() {
            let Some(d) = descriptor(&p.name) else {
                continue;
            };
            if !d.points.contains(bit) {
                errors.push(format!("{point}.enabled[{j}]: Invalid value: {:?}: plugin does not extend {point} plugin", p.name));
                continue;
            }
            if explicit.contains(&p.name) {
                errors.push(format!(
                    "{point}.enabled[{j}]: Duplicate value: {:?}",
                    p.name
                ));
                continue;
            }
            explicit.push(p.name.clone());
        }
        let disabled: Vec<&str> = set.disabled.iter().map(|p| p.name.as_str()).collect();
        if disabled.contains(&"*") {
            points.push((point, explicit));
            continue;
        }
        let mut multi: Vec<String> = Vec::new();
        let mut overrides: Vec<String> = Vec::new();
        for p in &merged.multi_point.enabled {
            let Some(d) = descriptor(&p.name) else {
                continue;
            };
            if !d.points.contains(bit) || disabled.contains(&p.name.as_str()) {
                continue;
            }
            if explicit.contains(&p.name) {
                overrides.push(p.name.clone());
                continue;
            }
            if multi.contains(&p.name) {
                errors.push(format!(
                    "multiPoint: Invalid value: {:?}: plugin already registered as {point}",
                    p.name
                ));
                continue;
            }
            multi.push(p.name.clone());
        }
        let mut names: Vec<String> = explicit
            .iter()
            .filter(|n| overrides.contains(n))
            .cloned()
            .collect();
        names.extend(multi);
        names.extend(explicit.into_iter().filter(|n| !overrides.contains(n)));
        points.push((point, names));
    }
    let mut weights = HashMap::new();
    for p in merged
        .multi_point
        .enabled
        .iter()
        .chain(merged.score.enabled.iter())
    {
        weights.insert(p.name.clone(), i64::from(p.weight.unwrap_or(0)));
    }
    for w in weights.values_mut() {
        if *w == 0 {
            *w = 1;
        }
    }
    let resolved = ResolvedProfile {
        scheduler_name: profile.scheduler_name.clone(),
        percentage_of_nodes_to_score: profile.percentage_of_nodes_to_score,
        points,
        weights,
        args: profile
            .plugin_config
            .iter()
            .filter_map(|pc| pc.args.clone().map(|a| (pc.name.clone(), a)))
            .collect(),
    };
    match resolved.plugins_at("queueSort").len() {
        0 => errors.push("queueSort: Invalid value: []: no queue sort plugin is enabled".into()),
        1 => {}
        _ => errors
            .push("queueSort: Invalid value: only one queue sort plugin can be enabled".into()),
    }
    if resolved.plugins_at("bind").is_empty() {
        errors.push("bind: Invalid value: []: at least one bind plugin is needed".into());
    }
    if errors.is_empty() {
        Ok(resolved)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::plugins::{PluginRef, PluginSet};

    fn profile(plugins: Plugins) -> Profile {
        Profile {
            scheduler_name: "s".into(),
            plugins: Some(plugins),
            ..Profile::default()
        }
    }

    fn named(names: &[&str]) -> Vec<PluginRef> {
        names
            .iter()
            .map(|n| PluginRef {
                name: n.to_string(),
                weight: None,
            })
            .collect()
    }

    #[test]
    fn default_profile_expands_like_upstream() {
        let resolved = resolve_profile(&Profile::default()).unwrap();
        assert_eq!(
            resolved.plugins_at("filter"),
            [
                "NodeUnschedulable",
                "NodeName",
                "TaintToleration",
                "NodeAffinity",
                "NodePorts",
                "NodeResourcesFit",
                "VolumeRestrictions",
                "NodeVolumeLimits",
                "VolumeBinding",
                "VolumeZone",
                "PodTopologySpread",
                "InterPodAffinity"
            ]
        );
        assert_eq!(
            resolved.plugins_at("score"),
            [
                "TaintToleration",
                "NodeAffinity",
                "NodeResourcesFit",
                "PodTopologySpread",
                "InterPodAffinity",
                "NodeResourcesBalancedAllocation",
                "ImageLocality"
            ]
        );
        assert_eq!(resolved.plugins_at("queueSort"), ["PrioritySort"]);
        assert_eq!(resolved.plugins_at("bind"), ["DefaultBinder"]);
        assert_eq!(resolved.plugins_at("postFilter"), ["DefaultPreemption"]);
        assert_eq!(
            resolved.plugins_at("preEnqueue"),
            ["SchedulingGates", "DefaultPreemption"]
        );
        assert_eq!(resolved.weights["TaintToleration"], 3);
        assert_eq!(resolved.weights["ImageLocality"], 1);
    }

    #[test]
    fn explicit_points_override_and_disable() {
        let plugins = Plugins {
            score: PluginSet {
                enabled: vec![PluginRef {
                    name: "ImageLocality".into(),
                    weight: Some(7),
                }],
                disabled: named(&["NodeResourcesBalancedAllocation"]),
            },
            filter: PluginSet {
                enabled: Vec::new(),
                disabled: named(&["*"]),
            },
            ..Plugins::default()
        };
        let resolved = resolve_profile(&profile(plugins)).unwrap();
        assert!(resolved.plugins_at("filter").is_empty());
        let score = resolved.plugins_at("score");
        assert_eq!(score[0], "ImageLocality");
        assert!(!score.iter().any(|s| s == "NodeResourcesBalancedAllocation"));
        assert_eq!(resolved.weights["ImageLocality"], 7);
    }

    #[test]
    fn bad_plugin_sets_are_reported() {
        let plugins = Plugins {
            bind: PluginSet {
                enabled: Vec::new(),
                disabled: named(&["*"]),
            },
            ..Plugins::default()
        };
        let errors = resolve_profile(&profile(plugins)).unwrap_err();
        assert!(errors[0].contains("at least one bind plugin"), "{errors:?}");
    }
}
