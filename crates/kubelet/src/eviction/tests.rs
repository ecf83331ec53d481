use std::collections::HashMap;
use std::sync::Mutex;

use super::observe::{ContainerUsage, PodUsage};
use super::threshold::{Observation, Observations, Value};
use super::*;

/// Signals and pod usage set by the test.
#[derive(Default)]
struct Scripted(Mutex<Stats>);

impl Scripted {
    fn set(&self, signal: Signal, available: i64, capacity: i64) {
        self.0.lock().unwrap().node.insert(
            signal,
            Observation {
                available,
                capacity,
            },
        );
    }
    fn pod(&self, uid: &str, memory: i64) {
        self.0.lock().unwrap().pods.insert(
            uid.to_string(),
            PodUsage {
                containers: [(
                    "app".to_string(),
                    ContainerUsage {
                        memory,
                        rootfs: 0,
                        rootfs_inodes: 0,
                    },
                )]
                .into(),
                ..Default::default()
            },
        );
    }
}

#[async_trait]
impl Observer for Scripted {
    async fn observe(&self) -> Stats {
        self.0.lock().unwrap().clone()
    }
}

/// What a disk reclaim frees: the observer, the signal and its new (available, capacity).
type Reclaim = (Arc<Scripted>, Signal, i64, i64);

#[derive(Default)]
struct Killer {
    pods: Mutex<Vec<Pod>>,
    evicted: Mutex<Vec<(String, i64, String)>>,
    reclaims: Mutex<u32>,
    /// What a disk reclaim frees: (signal, new available).
    reclaim_to: Mutex<Option<Reclaim>>,
}

#[async_trait]
impl PodKiller for Killer {
    fn active_pods(&self) -> Vec<Pod> {
        self.pods.lock().unwrap().clone()
    }
    async fn evict(&self, pod: &Pod, grace: i64, message: &str) {
        let name = pod.metadata.name.clone().unwrap();
        self.pods
            .lock()
            .unwrap()
            .retain(|p| p.metadata.name.as_deref() != Some(&name));
        self.evicted
            .lock()
            .unwrap()
            .push((name, grace, message.to_string()));
    }
    async fn cleaned_up(&self, _pod: &Pod) -> bool {
        true
    }
    async fn reclaim_disk(&self) {
        *self.reclaims.lock().unwrap() += 1;
        if let Some((observer, signal, available, capacity)) =
            self.reclaim_to.lock().unwrap().clone()
        {
            observer.set(signal, available, capacity);
        }
    }
}

fn pod(name: &str, priority: i32, memory_request: Option<&str>, grace: Option<i64>) -> Pod {
    let mut p: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": "default", "uid": name},
        "spec": {
            "priority": priority,
            "containers": [{
                "name": "app",
                "image": "busybox",
                "resources": memory_request.map_or_else(
                    || serde_json::json!({}),
                    |r| serde_json::json!({"requests": {"memory": r}})),
            }],
        },
    }))
    .unwrap();
    p.spec.as_mut().unwrap().termination_grace_period_seconds = grace;
    p
}

const MI: i64 = 1 << 20;
const GI: i64 = 1 << 30;

fn manager(yaml: &str, observer: Arc<Scripted>) -> EvictionManager {
    let (c, _) =
        crate::config::KubeletConfiguration::parse(yaml, std::path::Path::new("k")).unwrap();
    let c = c.defaulted();
    EvictionManager::new(
        threshold::from_config(&c).unwrap(),
        c.eviction_pressure_transition_period.unwrap(),
        i64::from(c.eviction_max_pod_grace_period.unwrap()),
        observer,
        EventRecorder::disabled(),
    )
}

fn healthy(observer: &Scripted) {
    observer.set(Signal::MemoryAvailable, 4 * GI, 8 * GI);
    observer.set(Signal::NodeFsAvailable, 50 * GI, 100 * GI);
    observer.set(Signal::NodeFsInodesFree, 500_000, 1_000_000);
    observer.set(Signal::ImageFsAvailable, 50 * GI, 100 * GI);
    observer.set(Signal::PidAvailable, 30_000, 32_768);
}

#[tokio::test]
async fn hard_memory_threshold_evicts_the_best_candidate_immediately() {
    let observer = Arc::new(Scripted::default());
    healthy(&observer);
    let m = manager("{}", observer.clone());
    let killer = Killer::default();
    *killer.pods.lock().unwrap() = vec![
        pod("within-request", 0, Some("1Gi"), None),
        pod("hog", 0, Some("100Mi"), Some(60)),
        pod("critical", 2_000_000_000, None, None),
    ];
    observer.pod("within-request", 500 * MI);
    observer.pod("hog", 300 * MI);
    observer.pod("critical", 2 * GI);
    let t0 = Instant::now();
    assert!(m.synchronize(&killer, t0).await.is_empty());
    assert!(m.conditions().is_empty());

    observer.set(Signal::MemoryAvailable, 50 * MI, 8 * GI);
    let evicted = m.synchronize(&killer, t0 + Duration::from_secs(10)).await;
    assert_eq!(evicted.len(), 1);
    assert!(m.under("MemoryPressure"));
    assert!(!m.under("DiskPressure"));
    let (name, grace, message) = killer.evicted.lock().unwrap()[0].clone();
    // The critical pod is skipped; the pod above its request goes first.
    assert_eq!(name, "hog");
    assert_eq!(grace, IMMEDIATE_GRACE_SECONDS);
    assert_eq!(
        message,
        "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. \
         Container app was using 300Mi, request is 100Mi, has larger consumption of memory. "
    );
    // Memory is not reclaimed at node level.
    assert_eq!(*killer.reclaims.lock().unwrap(), 0);

    // Recovered: the condition stays for the transition period (5m).
    observer.set(Signal::MemoryAvailable, 4 * GI, 8 * GI);
    assert!(
        m.synchronize(&killer, t0 + Duration::from_secs(20))
            .await
            .is_empty()
    );
    assert!(m.under("MemoryPressure"));
    m.synchronize(&killer, t0 + Duration::from_secs(10 + 299))
        .await;
    assert!(m.under("MemoryPressure"));
    m.synchronize(&killer, t0 + Duration::from_secs(10 + 300))
        .await;
    assert!(!m.under("MemoryPressure"));
}

#[tokio::test]
async fn soft_thresholds_wait_for_their_grace_period_and_cap_pod_grace() {
    let observer = Arc::new(Scripted::default());
    healthy(&observer);
    let m = manager(
        "evictionSoft: {memory.available: 1Gi}\n\
         evictionSoftGracePeriod: {memory.available: 1m}\n\
         evictionMaxPodGracePeriod: 20\n\
         evictionPressureTransitionPeriod: 30s\n",
        observer.clone(),
    );
    let killer = Killer::default();
    *killer.pods.lock().unwrap() = vec![pod("a", 0, None, Some(60)), pod("b", 0, None, Some(5))];
    observer.pod("a", 100 * MI);
    observer.pod("b", 200 * MI);
    observer.set(Signal::MemoryAvailable, 900 * MI, 8 * GI);
    let t0 = Instant::now();
    assert!(m.synchronize(&killer, t0).await.is_empty());
    // The condition is reported at once; eviction waits.
    assert!(m.under("MemoryPressure"));
    assert!(
        m.synchronize(&killer, t0 + Duration::from_secs(59))
            .await
            .is_empty()
    );
    let evicted = m.synchronize(&killer, t0 + Duration::from_secs(60)).await;
    assert_eq!(evicted[0].metadata.name.as_deref(), Some("b"));
    // min(evictionMaxPodGracePeriod, terminationGracePeriodSeconds).
    assert_eq!(killer.evicted.lock().unwrap()[0].1, 5);
    let evicted = m.synchronize(&killer, t0 + Duration::from_secs(70)).await;
    assert_eq!(evicted[0].metadata.name.as_deref(), Some("a"));
    assert_eq!(killer.evicted.lock().unwrap()[1].1, 20);
    // A blip below the threshold restarts the grace period.
    observer.set(Signal::MemoryAvailable, 2 * GI, 8 * GI);
    m.synchronize(&killer, t0 + Duration::from_secs(80)).await;
    *killer.pods.lock().unwrap() = vec![pod("c", 0, None, None)];
    observer.set(Signal::MemoryAvailable, 900 * MI, 8 * GI);
    assert!(
        m.synchronize(&killer, t0 + Duration::from_secs(90))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn disk_pressure_reclaims_images_and_containers_before_evicting() {
    let observer = Arc::new(Scripted::default());
    healthy(&observer);
    let m = manager(
        "evictionMinimumReclaim: {nodefs.available: 5Gi}\n",
        observer.clone(),
    );
    let killer = Killer::default();
    *killer.pods.lock().unwrap() = vec![pod("a", 0, None, None)];
    observer.pod("a", MI);
    // Below 10% of 100Gi; reclaiming frees enough.
    observer.set(Signal::NodeFsAvailable, 9 * GI, 100 * GI);
    *killer.reclaim_to.lock().unwrap() =
        Some((observer.clone(), Signal::NodeFsAvailable, 20 * GI, 100 * GI));
    let t0 = Instant::now();
    assert!(m.synchronize(&killer, t0).await.is_empty());
    assert_eq!(*killer.reclaims.lock().unwrap(), 1);
    assert!(m.under("DiskPressure"));
    assert!(killer.evicted.lock().unwrap().is_empty());

    // Reclaim frees too little: 10Gi is above the threshold but not above
    // threshold + minimum reclaim (15Gi), so a pod goes.
    observer.set(Signal::NodeFsAvailable, 9 * GI, 100 * GI);
    *killer.reclaim_to.lock().unwrap() =
        Some((observer.clone(), Signal::NodeFsAvailable, 11 * GI, 100 * GI));
    let evicted = m.synchronize(&killer, t0 + Duration::from_secs(10)).await;
    assert_eq!(evicted.len(), 1);
    let message = &killer.evicted.lock().unwrap()[0].2;
    assert!(
        message.starts_with(
            "The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 11Gi. "
        ),
        "{message}"
    );
}

#[tokio::test]
async fn pid_pressure_and_no_candidates() {
    let observer = Arc::new(Scripted::default());
    healthy(&observer);
    let m = manager("evictionHard: {pid.available: 10%}\n", observer.clone());
    let killer = Killer::default();
    observer.set(Signal::PidAvailable, 1000, 32_768);
    assert!(m.synchronize(&killer, Instant::now()).await.is_empty());
    assert_eq!(
        m.conditions().into_iter().collect::<Vec<_>>(),
        ["PIDPressure"]
    );
    // The default memory threshold was replaced (upstream does not merge defaults).
    observer.set(Signal::MemoryAvailable, MI, 8 * GI);
    m.synchronize(&killer, Instant::now()).await;
    assert!(!m.under("MemoryPressure"));
}

#[test]
fn threshold_values() {
    assert_eq!(Value::Percentage(0.1).amount(1000), 100);
    assert_eq!(Value::Quantity(5).amount(1000), 5);
    let _ = Observations::new();
    let _: HashMap<String, PodUsage> = HashMap::new();
}

#[tokio::test]
async fn admission_under_pressure_like_upstream() {
    let observer = Arc::new(Scripted::default());
    healthy(&observer);
    let m = manager("{}", observer.clone());
    let killer = Killer::default();
    let best_effort = pod("be", 0, None, None);
    let burstable = pod("bu", 0, Some("10Mi"), None);
    assert_eq!(m.admit(&best_effort), None);
    observer.set(Signal::MemoryAvailable, 50 * MI, 8 * GI);
    m.synchronize(&killer, Instant::now()).await;
    assert_eq!(
        m.admit(&best_effort).as_deref(),
        Some("The node had condition: [MemoryPressure]. ")
    );
    assert_eq!(m.admit(&burstable), None);
    let mut tolerating = best_effort.clone();
    tolerating.spec.as_mut().unwrap().tolerations = Some(vec![serde_json::from_value(
        serde_json::json!({"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"}),
    )
    .unwrap()]);
    assert_eq!(m.admit(&tolerating), None);
    let critical = pod("c", 2_000_000_000, None, None);
    assert_eq!(m.admit(&critical), None);
    // Disk pressure too: nothing but critical pods.
    observer.set(Signal::NodeFsAvailable, GI, 100 * GI);
    m.synchronize(&killer, Instant::now()).await;
    assert_eq!(
        m.admit(&burstable).as_deref(),
        Some("The node had condition: [MemoryPressure DiskPressure]. ")
    );
    assert_eq!(m.admit(&critical), None);
}
