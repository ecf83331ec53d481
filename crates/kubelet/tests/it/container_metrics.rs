//! `/metrics/cadvisor` of a real container: the series upstream's kubelet
//! serves, with cAdvisor's names and the kubelet's labels, read from the
//! container's cgroups and its pod's network namespace.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::harness::{Node, can_run, container, http_get, phase};

const TIMEOUT: Duration = Duration::from_secs(60);

/// One sample of the exposition text.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let (name, rest) = match line.find('{') {
                Some(brace) => (&line[..brace], &line[brace..]),
                None => line.split_once(' ').expect("sample"),
            };
            let (labels, value) = if let Some(rest) = rest.strip_prefix('{') {
                let end = rest.rfind('}').expect("labels end");
                let labels = rest[..end]
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once("=\"").expect("label");
                        (k.to_string(), v.trim_end_matches('"').to_string())
                    })
                    .collect();
                (labels, rest[end + 1..].trim())
            } else {
                (BTreeMap::new(), rest.trim())
            };
            let value = value
                .split_whitespace()
                .next()
                .expect("value")
                .parse()
                .expect("number");
            Sample {
                name: name.to_string(),
                labels,
                value,
            }
        })
        .collect()
}

fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    samples.iter().find(|s| {
        s.name == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    })
}

#[tokio::test]
async fn cadvisor_metrics_of_a_running_container() {
    if !can_run() {
        return;
    }
    let test = async {
        let node = Node::start("node-cadvisor", |_| {}).await;
        node.create_pod(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: metered}
spec:
  containers:
  - name: server
    image: corten.local/testserver:latest
    imagePullPolicy: IfNotPresent
    resources:
      requests: {cpu: 100m, memory: 32Mi}
      limits: {cpu: 500m, memory: 64Mi}
"#,
        )
        .await;
        let pod = node
            .wait_pod("metered", "Running with an IP", TIMEOUT, |p| {
                phase(p) == "Running" && p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some()
            })
            .await;
        let ip = pod.status.as_ref().unwrap().pod_ip.clone().unwrap();
        let uid = pod.metadata.uid.clone().unwrap();
        let id = container(&pod, "server")
            .unwrap()
            .container_id
            .clone()
            .unwrap()
            .trim_start_matches("containerd://")
            .to_string();
        // Traffic into the pod's network namespace.
        for _ in 0..3 {
            http_get(&ip, 8080, "/").await.expect("pod reachable");
        }

        let (code, body) = node.kubelet_get("/metrics/cadvisor").await;
        assert_eq!(code, 200, "{body}");
        let samples = parse(&body);
        let server = [
            ("container", "server"),
            ("pod", "metered"),
            ("namespace", "default"),
            ("name", id.as_str()),
            ("image", "corten.local/testserver:latest"),
        ];
        let series = find(&samples, "container_start_time_seconds", &server)
            .unwrap_or_else(|| panic!("no series of the container in\n{body}"));
        let cgroup = &series.labels["id"];
        assert!(
            cgroup.ends_with(&format!("/kubepods/burstable/pod{uid}/{id}")),
            "{cgroup}"
        );
        let now = jiff::Timestamp::now().as_second() as f64;
        assert!(
            series.value > now - 300.0 && series.value <= now + 1.0,
            "{series:?}"
        );
        for name in [
            "container_cpu_usage_seconds_total",
            "container_cpu_user_seconds_total",
            "container_cpu_system_seconds_total",
            "container_memory_working_set_bytes",
            "container_memory_rss",
            "container_memory_usage_bytes",
            "container_memory_cache",
            "container_fs_usage_bytes",
            "container_last_seen",
            "container_spec_memory_limit_bytes",
            "container_spec_cpu_shares",
            "container_spec_cpu_quota",
            "container_spec_cpu_period",
        ] {
            let sample = find(&samples, name, &server)
                .unwrap_or_else(|| panic!("{name} of the container missing in\n{body}"));
            assert!(sample.value >= 0.0, "{sample:?}");
        }
        let value = |name: &str| find(&samples, name, &server).unwrap().value;
        assert_eq!(
            value("container_spec_memory_limit_bytes"),
            64.0 * 1024.0 * 1024.0
        );
        assert_eq!(value("container_spec_cpu_quota"), 50_000.0);
        assert_eq!(value("container_spec_cpu_period"), 100_000.0);
        assert_eq!(value("container_spec_cpu_shares"), 102.0);
        assert!(value("container_memory_usage_bytes") > 0.0);
        assert!(
            value("container_memory_working_set_bytes") <= value("container_memory_usage_bytes")
        );
        assert_eq!(
            find(&samples, "container_cpu_usage_seconds_total", &server)
                .unwrap()
                .labels["cpu"],
            "total"
        );
        assert!(
            find(&samples, "container_fs_usage_bytes", &server)
                .unwrap()
                .labels["device"]
                .len()
                > 1
        );

        // The pod's cgroup: no container, no image, no name.
        let pod_series = [
            ("container", ""),
            ("name", ""),
            ("image", ""),
            ("pod", "metered"),
            ("namespace", "default"),
        ];
        let pod_memory = find(&samples, "container_memory_working_set_bytes", &pod_series)
            .unwrap_or_else(|| panic!("no pod-level series in\n{body}"));
        assert!(
            pod_memory.labels["id"].ends_with(&format!("/kubepods/burstable/pod{uid}")),
            "{pod_memory:?}"
        );
        assert!(pod_memory.value > 0.0);
        assert!(find(&samples, "container_cpu_usage_seconds_total", &pod_series).is_some());
        assert!(find(&samples, "container_spec_memory_limit_bytes", &pod_series).is_some());

        // Network: on the sandbox (the pause container), eth0 of the pod.
        let received = find(
            &samples,
            "container_network_receive_bytes_total",
            &[("pod", "metered"), ("interface", "eth0"), ("container", "")],
        )
        .unwrap_or_else(|| panic!("no pod network series in\n{body}"));
        assert!(received.value > 0.0, "{received:?}");
        assert!(received.labels["image"].contains("pause"), "{received:?}");
        assert!(
            find(
                &samples,
                "container_network_transmit_bytes_total",
                &[("pod", "metered"), ("interface", "eth0")],
            )
            .is_some_and(|s| s.value > 0.0)
        );
        // Containers do not repeat their pod's network counters.
        assert!(find(&samples, "container_network_receive_bytes_total", &server).is_none());

        // The machine.
        let cores = find(&samples, "machine_cpu_cores", &[]).expect("machine_cpu_cores");
        assert!(cores.value >= 1.0 && cores.labels.contains_key("boot_id"));
        assert!(find(&samples, "machine_memory_bytes", &[]).is_some_and(|s| s.value > 0.0));
        assert_eq!(
            find(&samples, "container_scrape_error", &[]).map(|s| s.value),
            Some(0.0)
        );

        // Authorized like /metrics: nodes/metrics.
        let (cert, key) = node
            .cluster
            .client_cert_files("nobody", &["some-group"])
            .unwrap();
        let (code, body) = node
            .kubelet_get_as(
                "/metrics/cadvisor",
                &[
                    "--cert",
                    cert.to_str().unwrap(),
                    "--key",
                    key.to_str().unwrap(),
                ],
            )
            .await;
        assert_eq!(code, 403);
        assert!(body.contains("subresource=metrics"), "{body}");
        node.shutdown().await;
    };
    tokio::time::timeout(Duration::from_secs(240), test)
        .await
        .expect("test timed out");
}
