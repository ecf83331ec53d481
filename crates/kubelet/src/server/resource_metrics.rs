//! `/metrics/resource`: the resource usage metrics metrics-server and
//! Prometheus scrape from upstream's kubelet, with upstream's names, help
//! texts and labels, from the same sources as `/stats/summary` (the
//! machine for the node, CRI container stats for containers). Pod values
//! are the sums of their containers'. Samples carry the time of their
//! measurement (milliseconds), as upstream's.

use std::collections::BTreeMap;
use std::fmt::Write;

use corten_cri::api;

use crate::kubelet::Kubelet;
use crate::node::machine::MachineUsage;
use crate::pod::labels;

/// One metric family being written.
struct Family<'a> {
    name: &'a str,
    kind: &'a str,
    help: &'a str,
    samples: Vec<(String, f64, Option<i64>)>,
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn container_labels(container: &str, namespace: &str, pod: &str) -> String {
    format!(
        "{{container=\"{}\",namespace=\"{}\",pod=\"{}\"}}",
        escape(container),
        escape(namespace),
        escape(pod)
    )
}

fn pod_labels(namespace: &str, pod: &str) -> String {
    format!(
        "{{namespace=\"{}\",pod=\"{}\"}}",
        escape(namespace),
        escape(pod)
    )
}

fn millis(nanos: i64) -> Option<i64> {
    (nanos > 0).then_some(nanos / 1_000_000)
}

/// Usage of the node: cumulative CPU seconds and the memory working set.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeUsage {
    /// CPU time of the whole machine, in core-seconds.
    pub cpu_seconds: Option<f64>,
    /// Memory working set in bytes.
    pub memory_working_set: u64,
    /// When it was measured (ms since the epoch).
    pub timestamp_ms: i64,
}

/// Renders the Prometheus text of `/metrics/resource` from the node usage
/// and the CRI container stats (`None`: they could not be read).
pub fn render(node: &NodeUsage, containers: Option<&[api::ContainerStats]>) -> String {
    let mut node_cpu = Family {
        name: "node_cpu_usage_seconds_total",
        kind: "counter",
        help: "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
        samples: Vec::new(),
    };
    if let Some(cpu) = node.cpu_seconds {
        node_cpu
            .samples
            .push((String::new(), cpu, Some(node.timestamp_ms)));
    }
    let node_memory = Family {
        name: "node_memory_working_set_bytes",
        kind: "gauge",
        help: "[STABLE] Current working set of the node in bytes",
        samples: vec![(
            String::new(),
            node.memory_working_set as f64,
            Some(node.timestamp_ms),
        )],
    };
    let mut container_cpu = Family {
        name: "container_cpu_usage_seconds_total",
        kind: "counter",
        help: "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
        samples: Vec::new(),
    };
    let mut container_memory = Family {
        name: "container_memory_working_set_bytes",
        kind: "gauge",
        help: "[STABLE] Current working set of the container in bytes",
        samples: Vec::new(),
    };
    // (namespace, pod) -> (cpu seconds, memory bytes, latest timestamp)
    let mut pods: BTreeMap<(String, String), (f64, f64, Option<i64>)> = BTreeMap::new();
    for stat in containers.unwrap_or_default() {
        let Some(attributes) = &stat.attributes else {
            continue;
        };
        let get = |k: &str| attributes.labels.get(k).cloned().unwrap_or_default();
        let (container, namespace, pod) = (
            get(labels::CONTAINER_NAME),
            get(labels::POD_NAMESPACE),
            get(labels::POD_NAME),
        );
        let labels = container_labels(&container, &namespace, &pod);
        let entry = pods
            .entry((namespace.clone(), pod.clone()))
            .or_insert((0.0, 0.0, None));
        if let Some(cpu) = &stat.cpu
            && let Some(usage) = &cpu.usage_core_nano_seconds
        {
            let seconds = usage.value as f64 / 1e9;
            let at = millis(cpu.timestamp);
            container_cpu.samples.push((labels.clone(), seconds, at));
            entry.0 += seconds;
            entry.2 = entry.2.max(at);
        }
        if let Some(memory) = &stat.memory
            && let Some(working_set) = &memory.working_set_bytes
        {
            let at = millis(memory.timestamp);
            container_memory
                .samples
                .push((labels, working_set.value as f64, at));
            entry.1 += working_set.value as f64;
            entry.2 = entry.2.max(at);
        }
    }
    let mut pod_cpu = Family {
        name: "pod_cpu_usage_seconds_total",
        kind: "counter",
        help: "[STABLE] Cumulative cpu time consumed by the pod in core-seconds",
        samples: Vec::new(),
    };
    let mut pod_memory = Family {
        name: "pod_memory_working_set_bytes",
        kind: "gauge",
        help: "[STABLE] Current working set of the pod in bytes",
        samples: Vec::new(),
    };
    for ((namespace, pod), (cpu, memory, at)) in &pods {
        let labels = pod_labels(namespace, pod);
        pod_cpu.samples.push((labels.clone(), *cpu, *at));
        pod_memory.samples.push((labels, *memory, *at));
    }
    let error = if containers.is_some() { 0.0 } else { 1.0 };
    let scrape_error = Family {
        name: "resource_scrape_error",
        kind: "gauge",
        help: "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise",
        samples: vec![(String::new(), error, None)],
    };
    // The ALPHA name older scrapers still read.
    let old_scrape_error = Family {
        name: "scrape_error",
        kind: "gauge",
        help: "[ALPHA] (Deprecated since 1.29.0) 1 if there was an error while getting container metrics, 0 otherwise",
        samples: vec![(String::new(), error, None)],
    };
    let mut out = String::new();
    for family in [
        container_cpu,
        container_memory,
        node_cpu,
        node_memory,
        pod_cpu,
        pod_memory,
        scrape_error,
        old_scrape_error,
    ] {
        if family.samples.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind);
        for (labels, value, at) in family.samples {
            match at {
                Some(at) => {
                    let _ = writeln!(out, "{}{labels} {value} {at}", family.name);
                }
                None => {
                    let _ = writeln!(out, "{}{labels} {value}", family.name);
                }
            }
        }
    }
    out
}

/// `/metrics/resource` of `kubelet` now.
pub async fn resource_metrics(kubelet: &Kubelet) -> String {
    let usage = MachineUsage::read(&kubelet.config.root_dir);
    let node = NodeUsage {
        cpu_seconds: super::stats::node_cpu_seconds(),
        memory_working_set: kubelet
            .machine
            .memory_bytes
            .saturating_sub(usage.memory_available),
        timestamp_ms: jiff::Timestamp::now().as_millisecond(),
    };
    let stats = kubelet.runtime.list_container_stats(None).await;
    if let Err(err) = &stats {
        tracing::warn!(error = %err, "reading container stats for /metrics/resource");
    }
    render(&node, stats.as_deref().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(pod: &str, container: &str, cpu_ns: u64, memory: u64) -> api::ContainerStats {
        api::ContainerStats {
            attributes: Some(api::ContainerAttributes {
                labels: [
                    (labels::POD_NAME.to_string(), pod.to_string()),
                    (labels::POD_NAMESPACE.to_string(), "default".to_string()),
                    (labels::CONTAINER_NAME.to_string(), container.to_string()),
                ]
                .into(),
                ..Default::default()
            }),
            cpu: Some(api::CpuUsage {
                timestamp: 2_000_000_000,
                usage_core_nano_seconds: Some(api::UInt64Value { value: cpu_ns }),
                ..Default::default()
            }),
            memory: Some(api::MemoryUsage {
                timestamp: 2_000_000_000,
                working_set_bytes: Some(api::UInt64Value { value: memory }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn upstream_names_labels_and_pod_sums() {
        let node = NodeUsage {
            cpu_seconds: Some(10.0),
            memory_working_set: 1000,
            timestamp_ms: 2000,
        };
        let stats = [
            stat("web", "a", 1_500_000_000, 100),
            stat("web", "b", 500_000_000, 50),
        ];
        let text = render(&node, Some(&stats));
        for line in [
            "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds",
            "# TYPE container_cpu_usage_seconds_total counter",
            "container_cpu_usage_seconds_total{container=\"a\",namespace=\"default\",pod=\"web\"} 1.5 2000",
            "container_memory_working_set_bytes{container=\"b\",namespace=\"default\",pod=\"web\"} 50 2000",
            "node_cpu_usage_seconds_total 10 2000",
            "# TYPE node_memory_working_set_bytes gauge",
            "node_memory_working_set_bytes 1000 2000",
            "pod_cpu_usage_seconds_total{namespace=\"default\",pod=\"web\"} 2 2000",
            "pod_memory_working_set_bytes{namespace=\"default\",pod=\"web\"} 150 2000",
            "resource_scrape_error 0",
            "scrape_error 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn a_failed_stats_call_is_a_scrape_error() {
        let text = render(&NodeUsage::default(), None);
        assert!(text.contains("\nresource_scrape_error 1\n"), "{text}");
        assert!(!text.contains("container_cpu"), "{text}");
        assert!(text.contains("node_memory_working_set_bytes 0"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(
            container_labels("a\"b", "n\\s", "p\nq"),
            "{container=\"a\\\"b\",namespace=\"n\\\\s\",pod=\"p\\nq\"}"
        );
    }
}
