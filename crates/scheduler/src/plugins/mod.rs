//! The in-tree plugins, registered by their upstream names.

pub mod default_binder;
pub mod defaultpreemption;
pub mod image_locality;
pub mod interpodaffinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_unschedulable;
pub mod noderesources;
pub mod podtopologyspread;
pub mod priority_sort;
pub mod scheduling_gates;
pub mod taint_toleration;
pub mod volume;

use std::sync::Arc;

use crate::framework::{ClusterApi, ExtensionPoints as P, Plugin};

/// What plugins get at construction.
#[derive(Clone)]
pub struct Handle {
    /// Where API writes go.
    pub api: Arc<dyn ClusterApi>,
    /// Moves pods back to the active queue (upstream `Handle.Activate`).
    pub activator: Activator,
}

impl Handle {
    /// A handle whose activations go nowhere (plugin unit tests).
    pub fn new(api: Arc<dyn ClusterApi>) -> Self {
        Handle {
            api,
            activator: Activator::default(),
        }
    }
}

/// Asks the scheduling loop, from any task, to retry pods now: they move
/// from the unschedulable pods or the backoff queue to the active queue
/// (through their PreEnqueue plugins).
#[derive(Debug, Clone, Default)]
pub struct Activator(Option<tokio::sync::mpsc::UnboundedSender<String>>);

impl Activator {
    /// Activations sent here arrive on `tx`'s receiver as pod UIDs.
    pub fn new(tx: tokio::sync::mpsc::UnboundedSender<String>) -> Self {
        Activator(Some(tx))
    }

    /// Asks for the pod with UID `uid` to be retried.
    pub fn activate(&self, uid: &str) {
        if let Some(tx) = &self.0 {
            // The loop is gone only at shutdown: nothing left to retry.
            let _ = tx.send(uid.to_string());
        }
    }
}

/// Builds a plugin from its args.
pub type Constructor = fn(Option<&serde_json::Value>, &Handle) -> Result<Arc<dyn Plugin>, String>;

/// A registered plugin.
pub struct PluginDescriptor {
    /// Upstream name.
    pub name: &'static str,
    /// The extension points it serves.
    pub points: P,
    /// Its constructor.
    pub build: Constructor,
}

fn no_args<T: Plugin + Default>(
    args: Option<&serde_json::Value>,
) -> Result<Arc<dyn Plugin>, String> {
    match args {
        Some(v)
            if v.as_object()
                .is_some_and(|o| o.keys().any(|k| k != "kind" && k != "apiVersion")) =>
        {
            Err(format!("plugin takes no arguments, got {v}"))
        }
        _ => Ok(Arc::new(T::default())),
    }
}

static REGISTRY: &[PluginDescriptor] = &[
    PluginDescriptor {
        name: priority_sort::NAME,
        points: P::QUEUE_SORT,
        build: |a, _| no_args::<priority_sort::PrioritySort>(a),
    },
    PluginDescriptor {
        name: scheduling_gates::NAME,
        points: P::PRE_ENQUEUE,
        build: |a, _| no_args::<scheduling_gates::SchedulingGates>(a),
    },
    PluginDescriptor {
        name: node_unschedulable::NAME,
        points: P::FILTER,
        build: |a, _| no_args::<node_unschedulable::NodeUnschedulable>(a),
    },
    PluginDescriptor {
        name: node_name::NAME,
        points: P::FILTER,
        build: |a, _| no_args::<node_name::NodeName>(a),
    },
    PluginDescriptor {
        name: taint_toleration::NAME,
        points: P::FILTER.or(P::PRE_SCORE).or(P::SCORE),
        build: |a, _| no_args::<taint_toleration::TaintToleration>(a),
    },
    PluginDescriptor {
        name: node_affinity::NAME,
        points: P::PRE_FILTER.or(P::FILTER).or(P::PRE_SCORE).or(P::SCORE),
        build: |a, _| Ok(Arc::new(node_affinity::NodeAffinity::new(a)?)),
    },
    PluginDescriptor {
        name: node_ports::NAME,
        points: P::PRE_FILTER.or(P::FILTER),
        build: |a, _| no_args::<node_ports::NodePorts>(a),
    },
    PluginDescriptor {
        name: noderesources::fit::NAME,
        points: P::PRE_FILTER.or(P::FILTER).or(P::PRE_SCORE).or(P::SCORE),
        build: |a, _| Ok(Arc::new(noderesources::Fit::new(a)?)),
    },
    PluginDescriptor {
        name: volume::restrictions::NAME,
        points: P::PRE_FILTER.or(P::FILTER),
        build: |a, _| no_args::<volume::restrictions::VolumeRestrictions>(a),
    },
    PluginDescriptor {
        name: volume::limits::NAME,
        points: P::PRE_FILTER.or(P::FILTER),
        build: |a, _| no_args::<volume::limits::NodeVolumeLimits>(a),
    },
    PluginDescriptor {
        name: volume::binding::NAME,
        points: P::PRE_FILTER.or(P::FILTER).or(P::RESERVE).or(P::PRE_BIND),
        build: |a, h| {
            Ok(Arc::new(volume::binding::VolumeBinding::new(
                a,
                h.api.clone(),
            )?))
        },
    },
    PluginDescriptor {
        name: volume::zone::NAME,
        points: P::PRE_FILTER.or(P::FILTER),
        build: |a, _| no_args::<volume::zone::VolumeZone>(a),
    },
    PluginDescriptor {
        name: podtopologyspread::NAME,
        points: P::PRE_FILTER.or(P::FILTER).or(P::PRE_SCORE).or(P::SCORE),
        build: |a, _| Ok(Arc::new(podtopologyspread::PodTopologySpread::new(a)?)),
    },
    PluginDescriptor {
        name: interpodaffinity::NAME,
        points: P::PRE_FILTER.or(P::FILTER).or(P::PRE_SCORE).or(P::SCORE),
        build: |a, _| Ok(Arc::new(interpodaffinity::InterPodAffinity::new(a)?)),
    },
    PluginDescriptor {
        name: defaultpreemption::NAME,
        points: P::PRE_ENQUEUE.or(P::POST_FILTER),
        build: |a, h| {
            Ok(Arc::new(defaultpreemption::DefaultPreemption::new(
                a,
                h.activator.clone(),
            )?))
        },
    },
    PluginDescriptor {
        name: noderesources::balanced_allocation::NAME,
        points: P::PRE_SCORE.or(P::SCORE),
        build: |a, _| Ok(Arc::new(noderesources::BalancedAllocation::new(a)?)),
    },
    PluginDescriptor {
        name: image_locality::NAME,
        points: P::PRE_SCORE.or(P::SCORE),
        build: |a, _| no_args::<image_locality::ImageLocality>(a),
    },
    PluginDescriptor {
        name: default_binder::NAME,
        points: P::BIND,
        build: |a, h| {
            no_args::<priority_sort::PrioritySort>(a)?;
            Ok(Arc::new(default_binder::DefaultBinder::new(h.api.clone())))
        },
    },
];

/// The registered plugin named `name`.
pub fn descriptor(name: &str) -> Option<&'static PluginDescriptor> {
    REGISTRY.iter().find(|d| d.name == name)
}

/// Every registered plugin.
pub fn registry() -> &'static [PluginDescriptor] {
    REGISTRY
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::FakeApi;

    #[test]
    fn every_plugin_builds_and_declares_its_points() {
        let handle = Handle::new(Arc::new(FakeApi::default()));
        for d in registry() {
            let plugin = (d.build)(None, &handle).unwrap_or_else(|e| panic!("{}: {e}", d.name));
            assert_eq!(plugin.name(), d.name);
            assert_eq!(plugin.extension_points(), d.points, "{}", d.name);
        }
        assert!(
            (descriptor("NodeName").unwrap().build)(Some(&serde_json::json!({"x": 1})), &handle)
                .is_err()
        );
    }
}
