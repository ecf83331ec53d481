//! Quality of service: the pod's QoS class, the CRI Linux resources of a
//! container (cpu shares/quota, memory limit, oom_score_adj) and the pod's
//! cgroup parent in the kubepods hierarchy, computed as upstream does.

use std::collections::BTreeMap;

use corten_apimachinery::quantity::Quantity as Parsed;
use corten_cri::api;
use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Upstream's QoS classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QosClass {
    /// Requests equal limits for cpu and memory in every container.
    Guaranteed,
    /// Anything in between.
    Burstable,
    /// No requests or limits at all.
    BestEffort,
}

impl QosClass {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            QosClass::Guaranteed => "Guaranteed",
            QosClass::Burstable => "Burstable",
            QosClass::BestEffort => "BestEffort",
        }
    }
}

const CPU_PERIOD: i64 = 100_000;
const MIN_SHARES: i64 = 2;
const MAX_SHARES: i64 = 262_144;
const MIN_QUOTA: i64 = 1000;

fn parse(q: &Quantity) -> Option<Parsed> {
    Parsed::parse(&q.0).ok()
}

fn get(map: Option<&BTreeMap<String, Quantity>>, name: &str) -> Option<Parsed> {
    map.and_then(|m| m.get(name)).and_then(parse)
}

/// A container's request for `name`, defaulted to its limit (API defaulting).
pub fn request(container: &Container, name: &str) -> Option<Parsed> {
    let resources = container.resources.as_ref()?;
    get(resources.requests.as_ref(), name).or_else(|| get(resources.limits.as_ref(), name))
}

/// A container's limit for `name`.
pub fn limit(container: &Container, name: &str) -> Option<Parsed> {
    get(container.resources.as_ref()?.limits.as_ref(), name)
}

fn all_containers(pod: &Pod) -> impl Iterator<Item = &Container> {
    pod.spec.iter().flat_map(|s| {
        s.init_containers
            .iter()
            .flatten()
            .chain(s.containers.iter())
    })
}

/// The pod's QoS class (upstream `GetPodQOS`).
pub fn qos_class(pod: &Pod) -> QosClass {
    let mut requests: BTreeMap<&str, i64> = BTreeMap::new();
    let mut limits: BTreeMap<&str, i64> = BTreeMap::new();
    let mut guaranteed = true;
    for container in all_containers(pod) {
        let mut limits_found = 0;
        for name in ["cpu", "memory"] {
            if let Some(q) = request(container, name)
                && !q.is_zero()
            {
                *requests.entry(name).or_default() += q.milli_value();
            }
            if let Some(q) = limit(container, name)
                && !q.is_zero()
            {
                limits_found += 1;
                *limits.entry(name).or_default() += q.milli_value();
            }
        }
        if limits_found < 2 {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return QosClass::BestEffort;
    }
    if guaranteed
        && requests.iter().all(|(k, v)| limits.get(k) == Some(v))
        && requests.len() == limits.len()
    {
        return QosClass::Guaranteed;
    }
    QosClass::Burstable
}

fn milli_cpu_to_shares(milli: i64) -> i64 {
    if milli == 0 {
        return MIN_SHARES;
    }
    (milli * 1024 / 1000).clamp(MIN_SHARES, MAX_SHARES)
}

fn milli_cpu_to_quota(milli: i64) -> i64 {
    if milli == 0 {
        return 0;
    }
    (milli * CPU_PERIOD / 1000).max(MIN_QUOTA)
}

/// Upstream's `GetContainerOOMScoreAdjust`.
pub fn oom_score_adj(qos: QosClass, container: &Container, memory_capacity: i64) -> i64 {
    match qos {
        QosClass::Guaranteed => -997,
        QosClass::BestEffort => 1000,
        QosClass::Burstable => {
            let request = request(container, "memory").map_or(0, |q| q.value());
            if memory_capacity <= 0 {
                return 999;
            }
            let adj = 1000 - (1000 * request) / memory_capacity;
            if adj < 3 {
                3
            } else if adj == 1000 {
                999
            } else {
                adj
            }
        }
    }
}

/// The CRI resources of a container.
pub fn linux_resources(
    pod: &Pod,
    container: &Container,
    memory_capacity: i64,
) -> api::LinuxContainerResources {
    let cpu_request = request(container, "cpu").map_or(0, |q| q.milli_value());
    let cpu_limit = limit(container, "cpu").map_or(0, |q| q.milli_value());
    let memory_limit = limit(container, "memory").map_or(0, |q| q.value());
    let shares = if cpu_request == 0 && cpu_limit != 0 {
        milli_cpu_to_shares(cpu_limit)
    } else {
        milli_cpu_to_shares(cpu_request)
    };
    let (period, quota) = if cpu_limit != 0 {
        (CPU_PERIOD, milli_cpu_to_quota(cpu_limit))
    } else {
        (0, 0)
    };
    api::LinuxContainerResources {
        cpu_period: period,
        cpu_quota: quota,
        cpu_shares: shares,
        memory_limit_in_bytes: memory_limit,
        oom_score_adj: oom_score_adj(qos_class(pod), container, memory_capacity),
        ..Default::default()
    }
}

/// The pod's cgroup parent for the cgroupfs driver:
/// `<root>/kubepods[/burstable|/besteffort]/pod<uid>`, or `<root>` without
/// per-QoS cgroups.
pub fn cgroup_parent(pod: &Pod, cgroup_root: &str, per_qos: bool) -> String {
    let root = cgroup_root.trim_end_matches('/');
    if !per_qos {
        return if root.is_empty() {
            "/".into()
        } else {
            root.to_string()
        };
    }
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let qos = match qos_class(pod) {
        QosClass::Guaranteed => String::new(),
        QosClass::Burstable => "/burstable".into(),
        QosClass::BestEffort => "/besteffort".into(),
    };
    format!("{root}/kubepods{qos}/pod{uid}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};

    fn container(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Container {
        let map = |pairs: &[(&str, &str)]| {
            (!pairs.is_empty()).then(|| {
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                    .collect()
            })
        };
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements {
                requests: map(requests),
                limits: map(limits),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pod(containers: Vec<Container>) -> Pod {
        Pod {
            metadata: kube::api::ObjectMeta {
                uid: Some("u1".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn classes() {
        assert_eq!(
            qos_class(&pod(vec![container(&[], &[])])),
            QosClass::BestEffort
        );
        let g = pod(vec![container(&[], &[("cpu", "500m"), ("memory", "64Mi")])]);
        assert_eq!(qos_class(&g), QosClass::Guaranteed);
        let b = pod(vec![container(
            &[("cpu", "100m")],
            &[("cpu", "500m"), ("memory", "64Mi")],
        )]);
        assert_eq!(qos_class(&b), QosClass::Burstable);
        assert_eq!(
            qos_class(&pod(vec![container(&[("memory", "1Mi")], &[])])),
            QosClass::Burstable
        );
        assert_eq!(cgroup_parent(&g, "/", true), "/kubepods/podu1");
        assert_eq!(
            cgroup_parent(&b, "/test-root", true),
            "/test-root/kubepods/burstable/podu1"
        );
        assert_eq!(cgroup_parent(&b, "/", false), "/");
    }

    #[test]
    fn cri_resources() {
        let c = container(
            &[("cpu", "250m"), ("memory", "1Gi")],
            &[("cpu", "500m"), ("memory", "2Gi")],
        );
        let p = pod(vec![c.clone()]);
        let r = linux_resources(&p, &c, 8 << 30);
        assert_eq!(r.cpu_shares, 256);
        assert_eq!((r.cpu_period, r.cpu_quota), (100_000, 50_000));
        assert_eq!(r.memory_limit_in_bytes, 2 << 30);
        assert_eq!(r.oom_score_adj, 1000 - 1000 / 8);
        let be = container(&[], &[]);
        let r = linux_resources(&pod(vec![be.clone()]), &be, 8 << 30);
        assert_eq!((r.cpu_shares, r.cpu_quota, r.oom_score_adj), (2, 0, 1000));
        let tiny = container(&[], &[("cpu", "1m"), ("memory", "1Mi")]);
        let r = linux_resources(&pod(vec![tiny.clone()]), &tiny, 8 << 30);
        assert_eq!(
            (r.cpu_shares, r.cpu_quota, r.oom_score_adj),
            (2, 1000, -997)
        );
    }
}
