//! Probes and lifecycle hooks (upstream `validateProbe`,
//! `validateLifecycle`, `validateHandler`).

use corten_apimachinery::names::{is_valid_port_name, is_valid_port_num};
use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::core::v1::{Container, HTTPGetAction, LifecycleHandler, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::field_rules::{opt, shown, validate_nonnegative};

fn validate_port_num_or_name(port: &IntOrString, path: &Path) -> ErrorList {
    match port {
        IntOrString::Int(n) => is_valid_port_num(i64::from(*n))
            .into_iter()
            .map(|msg| FieldError::invalid(path, *n, &msg))
            .collect(),
        IntOrString::String(s) => is_valid_port_name(s)
            .into_iter()
            .map(|msg| FieldError::invalid(path, s.as_str(), &msg))
            .collect(),
    }
}

fn validate_http_get(h: &HTTPGetAction, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if opt(&h.path).is_empty() {
        errs.push(FieldError::required(&path.child("path"), ""));
    }
    errs.extend(validate_port_num_or_name(&h.port, &path.child("port")));
    let scheme = opt(&h.scheme);
    if scheme != "HTTP" && scheme != "HTTPS" {
        errs.push(FieldError::not_supported(
            &path.child("scheme"),
            scheme,
            &["HTTP", "HTTPS"],
        ));
    }
    for header in h.http_headers.iter().flatten() {
        let valid = !header.name.is_empty()
            && header
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !valid {
            errs.push(FieldError::invalid(
                &path.child("httpHeaders"),
                header.name.as_str(),
                "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')",
            ));
        }
    }
    errs
}

/// The handler shapes shared by probes and lifecycle hooks.
struct Handler<'a> {
    exec: Option<&'a k8s_openapi::api::core::v1::ExecAction>,
    http_get: Option<&'a HTTPGetAction>,
    tcp_socket: Option<&'a k8s_openapi::api::core::v1::TCPSocketAction>,
    grpc: Option<&'a k8s_openapi::api::core::v1::GRPCAction>,
    sleep: Option<&'a k8s_openapi::api::core::v1::SleepAction>,
}

fn validate_handler(h: &Handler<'_>, grace: Option<i64>, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let mut n = 0;
    let mut one =
        |present: bool, name: &str, errs: &mut ErrorList, v: &dyn Fn(&Path) -> ErrorList| {
            if !present {
                return;
            }
            if n > 0 {
                errs.push(FieldError::forbidden(
                    &path.child(name),
                    "may not specify more than 1 handler type",
                ));
            } else {
                n += 1;
                errs.extend(v(&path.child(name)));
            }
        };
    one(h.exec.is_some(), "exec", &mut errs, &|p| {
        if h.exec
            .is_some_and(|e| e.command.as_ref().is_none_or(Vec::is_empty))
        {
            vec![FieldError::required(&p.child("command"), "")]
        } else {
            Vec::new()
        }
    });
    one(h.http_get.is_some(), "httpGet", &mut errs, &|p| {
        h.http_get
            .map(|g| validate_http_get(g, p))
            .unwrap_or_default()
    });
    one(h.tcp_socket.is_some(), "tcpSocket", &mut errs, &|p| {
        h.tcp_socket
            .map(|t| validate_port_num_or_name(&t.port, &p.child("port")))
            .unwrap_or_default()
    });
    one(h.grpc.is_some(), "grpc", &mut errs, &|p| {
        h.grpc
            .map(|g| validate_port_num_or_name(&IntOrString::Int(g.port), &p.child("port")))
            .unwrap_or_default()
    });
    one(h.sleep.is_some(), "sleep", &mut errs, &|p| {
        let (Some(s), Some(grace)) = (h.sleep, grace) else {
            return Vec::new();
        };
        if s.seconds < 0 || s.seconds > grace {
            let msg = format!(
                "must be non-negative and less than terminationGracePeriodSeconds ({grace})"
            );
            vec![FieldError::invalid(p, s.seconds, &msg)]
        } else {
            Vec::new()
        }
    });
    if n == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
    errs
}

fn lifecycle_handler(h: &LifecycleHandler) -> Handler<'_> {
    Handler {
        exec: h.exec.as_ref(),
        http_get: h.http_get.as_ref(),
        tcp_socket: h.tcp_socket.as_ref(),
        grpc: None,
        sleep: h.sleep.as_ref(),
    }
}

fn validate_lifecycle(c: &Container, grace: Option<i64>, path: &Path) -> ErrorList {
    let mut errs = Vec::new();
    if let Some(l) = c.lifecycle.as_ref() {
        if let Some(h) = l.post_start.as_ref() {
            errs.extend(validate_handler(
                &lifecycle_handler(h),
                grace,
                &path.child("postStart"),
            ));
        }
        if let Some(h) = l.pre_stop.as_ref() {
            errs.extend(validate_handler(
                &lifecycle_handler(h),
                grace,
                &path.child("preStop"),
            ));
        }
    }
    errs
}

#[derive(Clone, Copy, PartialEq)]
enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

fn validate_probe(
    p: Option<&Probe>,
    kind: ProbeKind,
    grace: Option<i64>,
    path: &Path,
) -> ErrorList {
    let Some(p) = p else {
        return Vec::new();
    };
    let handler = Handler {
        exec: p.exec.as_ref(),
        http_get: p.http_get.as_ref(),
        tcp_socket: p.tcp_socket.as_ref(),
        grpc: p.grpc.as_ref(),
        sleep: None,
    };
    let mut errs = validate_handler(&handler, grace, path);
    for (v, name) in [
        (p.initial_delay_seconds, "initialDelaySeconds"),
        (p.timeout_seconds, "timeoutSeconds"),
        (p.period_seconds, "periodSeconds"),
        (p.success_threshold, "successThreshold"),
        (p.failure_threshold, "failureThreshold"),
    ] {
        errs.extend(validate_nonnegative(
            i64::from(v.unwrap_or(0)),
            &path.child(name),
        ));
    }
    if let Some(t) = p.termination_grace_period_seconds.filter(|t| *t <= 0) {
        errs.push(FieldError::invalid(
            &path.child("terminationGracePeriodSeconds"),
            t,
            "must be greater than 0",
        ));
    }
    let success = p.success_threshold.unwrap_or(0);
    match kind {
        ProbeKind::Liveness | ProbeKind::Startup if success != 1 => {
            errs.push(FieldError::invalid(
                &path.child("successThreshold"),
                success,
                "must be 1",
            ));
        }
        ProbeKind::Readiness if p.termination_grace_period_seconds.is_some() => {
            errs.push(FieldError::invalid(
                &path.child("terminationGracePeriodSeconds"),
                shown(&p.termination_grace_period_seconds),
                "must not be set for readinessProbes",
            ));
        }
        _ => {}
    }
    errs
}

pub(crate) fn validate_probes_and_lifecycle(
    c: &Container,
    grace: Option<i64>,
    path: &Path,
) -> ErrorList {
    let mut errs = validate_lifecycle(c, grace, &path.child("lifecycle"));
    errs.extend(validate_probe(
        c.liveness_probe.as_ref(),
        ProbeKind::Liveness,
        grace,
        &path.child("livenessProbe"),
    ));
    errs.extend(validate_probe(
        c.readiness_probe.as_ref(),
        ProbeKind::Readiness,
        grace,
        &path.child("readinessProbe"),
    ));
    errs.extend(validate_probe(
        c.startup_probe.as_ref(),
        ProbeKind::Startup,
        grace,
        &path.child("startupProbe"),
    ));
    errs
}
