//! The control plane beside a test node (kube-scheduler and
//! kube-controller-manager with their own identities, as `corten up` runs
//! them) and kubectl helpers.

use clap::Parser;

use crate::harness::Node;

/// The control-plane daemons started next to the node.
pub struct ControlPlane {
    scheduler: Option<corten_scheduler::app::SchedulerProcess>,
    controller_manager: Option<corten_controller_manager::app::ControllerManager>,
}

impl ControlPlane {
    /// Starts both; `controllers` is the `--controllers` list.
    pub async fn start(node: &Node, controllers: &str) -> ControlPlane {
        // The scheduler runs as system:kube-scheduler (its RBAC role), like
        // `corten up` runs it.
        let scheduler_kubeconfig = node
            .cluster
            .user_kubeconfig("system:kube-scheduler", &[])
            .expect("scheduler kubeconfig");
        let scheduler = corten_scheduler::options::Options::try_parse_from([
            "kube-scheduler".to_string(),
            format!("--kubeconfig={}", scheduler_kubeconfig.display()),
            "--leader-elect=false".into(),
            "--secure-port=0".into(),
        ])
        .expect("scheduler flags")
        .complete()
        .expect("scheduler config");
        let scheduler = corten_scheduler::app::start(scheduler)
            .await
            .expect("scheduler");
        // The controller-manager runs as system:kube-controller-manager and
        // each controller as its ServiceAccount, like `corten up` (kubeadm).
        let kcm_kubeconfig = node
            .cluster
            .user_kubeconfig("system:kube-controller-manager", &[])
            .expect("controller-manager kubeconfig");
        let kcm = corten_controller_manager::options::Options::try_parse_from([
            "kube-controller-manager".to_string(),
            format!("--kubeconfig={}", kcm_kubeconfig.display()),
            "--use-service-account-credentials=true".into(),
            "--leader-elect=false".into(),
            "--secure-port=0".into(),
            format!("--controllers={controllers}"),
        ])
        .expect("controller-manager flags")
        .complete()
        .expect("controller-manager config");
        let controller_manager = corten_controller_manager::app::start(kcm)
            .await
            .expect("controller-manager");
        ControlPlane {
            scheduler: Some(scheduler),
            controller_manager: Some(controller_manager),
        }
    }

    /// Stops both.
    pub async fn stop(mut self) {
        if let Some(s) = self.scheduler.take() {
            let _ = s.shutdown().await;
        }
        if let Some(c) = self.controller_manager.take() {
            let _ = c.shutdown().await;
        }
    }
}

/// Runs kubectl; (success, stdout, stderr).
pub async fn kubectl(node: &Node, args: &[&str]) -> (bool, String, String) {
    let out = node.cluster.kubectl(args).await.expect("kubectl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs kubectl and asserts success; stdout.
pub async fn kubectl_ok(node: &Node, args: &[&str]) -> String {
    let (ok, stdout, stderr) = kubectl(node, args).await;
    assert!(ok, "kubectl {args:?} failed:\n{stdout}\n{stderr}");
    stdout
}
