//! Lifecycle hooks (postStart, preStop: exec, httpGet, sleep) and killing a
//! container gracefully: preStop within the grace period, then the runtime's
//! StopContainer (stop signal, SIGKILL after the remaining grace).

use std::sync::Arc;
use std::time::{Duration, Instant};

use corten_cri::Runtime;
use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod};

use crate::events::{EventRecorder, NORMAL, WARNING};
use crate::probe::check::{self, Outcome};

/// Upstream's floor for the time left after a preStop hook.
pub const MINIMUM_GRACE_SECONDS: i64 = 2;
/// Upstream's default `terminationGracePeriodSeconds`.
pub const DEFAULT_GRACE_SECONDS: i64 = 30;

/// Runs a hook handler against a container. `Err` carries upstream's message.
pub async fn run_handler(
    runtime: &Arc<dyn Runtime>,
    pod: &Pod,
    container: &Container,
    container_id: &str,
    handler: &LifecycleHandler,
    pod_ip: &str,
    timeout: Duration,
    network: check::Network,
) -> Result<(), String> {
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    if let Some(exec) = &handler.exec {
        let command = exec.command.clone().unwrap_or_default();
        let timeout = timeout.max(Duration::from_secs(1));
        let call = runtime.exec_sync(container_id, command.clone(), timeout);
        return match tokio::time::timeout(timeout + Duration::from_secs(5), call).await {
            Ok(Ok(r)) if r.exit_code == 0 => Ok(()),
            Ok(Ok(r)) => {
                let mut output = String::from_utf8_lossy(&r.stdout).into_owned();
                output.push_str(&String::from_utf8_lossy(&r.stderr));
                Err(format!(
                    "Exec lifecycle hook ({command:?}) for Container {:?} in Pod {pod_name:?} failed - error: command '{}' exited with {}: {output}, message: {output:?}",
                    container.name,
                    command.join(" "),
                    r.exit_code
                ))
            }
            Ok(Err(err)) => Err(format!(
                "Exec lifecycle hook ({command:?}) for Container {:?} in Pod {pod_name:?} failed - error: {}, message: \"\"",
                container.name,
                err.message()
            )),
            Err(_) => Err(format!(
                "Exec lifecycle hook ({command:?}) for Container {:?} in Pod {pod_name:?} timed out",
                container.name
            )),
        };
    }
    if let Some(http) = &handler.http_get {
        let probe = k8s_openapi::api::core::v1::Probe {
            http_get: Some(http.clone()),
            timeout_seconds: Some(i32::try_from(timeout.as_secs().max(1)).unwrap_or(i32::MAX)),
            ..Default::default()
        };
        // Hooks only fail when the request fails, not on the status code.
        return match check::run(runtime, &probe, container, container_id, pod_ip, network).await {
            Outcome::Success => Ok(()),
            Outcome::Failure(m) if m.starts_with("HTTP probe failed with statuscode") => Ok(()),
            Outcome::Failure(m) => Err(format!(
                "HTTP lifecycle hook ({}) for Container {:?} in Pod {pod_name:?} failed - error: {m}",
                http.path.clone().unwrap_or_default(),
                container.name
            )),
        };
    }
    if let Some(sleep) = &handler.sleep {
        let wanted = Duration::from_secs(u64::try_from(sleep.seconds.max(0)).unwrap_or(0));
        tokio::time::sleep(wanted.min(timeout)).await;
        return Ok(());
    }
    Err("invalid lifecycle handler".into())
}

/// The grace period to kill a container with (upstream `setTerminationGracePeriod`):
/// an explicit override, else the pod's deletion grace, else a probe's own
/// `terminationGracePeriodSeconds` when a probe failure is the reason, else
/// the pod's `terminationGracePeriodSeconds` (30).
pub fn grace_period(
    pod: &Pod,
    container: &Container,
    probe_kill: Option<crate::pod::actions::KillReason>,
    override_seconds: Option<i64>,
) -> i64 {
    if let Some(o) = override_seconds {
        return o.max(0);
    }
    if let Some(d) = pod.metadata.deletion_grace_period_seconds {
        return d.max(0);
    }
    use crate::pod::actions::KillReason;
    let probe_grace = match probe_kill {
        Some(KillReason::Liveness) => container
            .liveness_probe
            .as_ref()
            .and_then(|p| p.termination_grace_period_seconds),
        Some(KillReason::Startup) => container
            .startup_probe
            .as_ref()
            .and_then(|p| p.termination_grace_period_seconds),
        _ => None,
    };
    probe_grace
        .or_else(|| {
            pod.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
        })
        .unwrap_or(DEFAULT_GRACE_SECONDS)
        .max(0)
}

/// Kills a running container: Killing event, preStop hook within the grace
/// period, then StopContainer with what is left (at least 2s after a hook).
#[allow(clippy::too_many_arguments)]
pub async fn kill_container(
    runtime: &Arc<dyn Runtime>,
    recorder: &EventRecorder,
    pod: &Pod,
    container: Option<&Container>,
    init: bool,
    container_id: &str,
    name: &str,
    grace_seconds: i64,
    message: Option<&str>,
    pod_ip: &str,
    network: check::Network,
) -> corten_cri::Result<()> {
    let message = message
        .map(str::to_string)
        .unwrap_or_else(|| format!("Stopping container {name}"));
    recorder.pod(pod, Some((name, init)), NORMAL, "Killing", message);
    let mut grace = grace_seconds;
    let pre_stop = container
        .and_then(|c| c.lifecycle.as_ref())
        .and_then(|l| l.pre_stop.as_ref());
    if let (Some(handler), Some(spec)) = (pre_stop, container)
        && grace > 0
    {
        let started = Instant::now();
        let budget = Duration::from_secs(u64::try_from(grace).unwrap_or(0));
        let hook = run_handler(
            runtime,
            pod,
            spec,
            container_id,
            handler,
            pod_ip,
            budget,
            network,
        );
        match tokio::time::timeout(budget, hook).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::info!(container = name, error = %err, "preStop hook failed");
                recorder.pod(
                    pod,
                    Some((name, init)),
                    WARNING,
                    "FailedPreStopHook",
                    "PreStopHook failed",
                );
            }
            Err(_) => {
                tracing::info!(
                    container = name,
                    "preStop hook did not finish within the grace period"
                );
            }
        }
        let used = i64::try_from(started.elapsed().as_secs()).unwrap_or(i64::MAX);
        grace = (grace - used).max(MINIMUM_GRACE_SECONDS);
    }
    match runtime.stop_container(container_id, grace).await {
        Ok(()) => Ok(()),
        Err(err) if corten_cri::service::is_not_found(&err) => Ok(()),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::actions::KillReason;
    use k8s_openapi::api::core::v1::{PodSpec, Probe};

    #[test]
    fn grace_rules() {
        let mut pod = Pod {
            spec: Some(PodSpec {
                termination_grace_period_seconds: Some(10),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut c = Container::default();
        assert_eq!(grace_period(&pod, &c, None, None), 10);
        c.liveness_probe = Some(Probe {
            termination_grace_period_seconds: Some(3),
            ..Default::default()
        });
        assert_eq!(grace_period(&pod, &c, Some(KillReason::Liveness), None), 3);
        pod.metadata.deletion_grace_period_seconds = Some(5);
        assert_eq!(grace_period(&pod, &c, Some(KillReason::Liveness), None), 5);
        assert_eq!(grace_period(&pod, &c, None, Some(0)), 0);
        assert_eq!(
            grace_period(&Pod::default(), &Container::default(), None, None),
            30
        );
    }
}
