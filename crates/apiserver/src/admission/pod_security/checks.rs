//! The Pod Security Standards checks (upstream `pod-security-admission`'s
//! `policy` package): the violations of a pod spec at a level, with
//! upstream's check names and messages, in upstream's order. Levels are
//! evaluated at "latest" whatever the version label says.

use serde_json::Value;

/// A Pod Security Standards level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// No restrictions.
    Privileged,
    /// Known privilege escalations prevented.
    Baseline,
    /// Hardened.
    Restricted,
}

impl Level {
    /// Parses a level label value.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "privileged" => Some(Level::Privileged),
            "baseline" => Some(Level::Baseline),
            "restricted" => Some(Level::Restricted),
            _ => None,
        }
    }

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

const BASELINE_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
const RESTRICTED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

fn names(list: &[String]) -> String {
    let quoted: Vec<String> = list.iter().map(|n| format!("{n:?}")).collect();
    quoted.join(", ")
}

fn containers_phrase(list: &[String]) -> String {
    if list.len() == 1 {
        format!("container {}", names(list))
    } else {
        format!("containers {}", names(list))
    }
}

/// Every container of a pod spec (init, regular, ephemeral).
fn containers(spec: &Value) -> Vec<&Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|k| spec.get(*k).and_then(Value::as_array).into_iter().flatten())
        .collect()
}

fn cname(c: &Value) -> String {
    c.get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// The violations of `spec` (a PodSpec) at `level`, in upstream's order.
pub fn check(spec: &Value, level: Level) -> Vec<String> {
    let mut out = Vec::new();
    if level == Level::Privileged {
        return out;
    }
    let restricted = level == Level::Restricted;
    let cs = containers(spec);
    let psc = spec.get("securityContext").cloned().unwrap_or(Value::Null);
    let csc = |c: &Value, p: &str| c.pointer(&format!("/securityContext{p}")).cloned();
    let select = |f: &dyn Fn(&Value) -> bool| -> Vec<String> {
        cs.iter().filter(|c| f(c)).map(|c| cname(c)).collect()
    };
    // allowPrivilegeEscalation
    if restricted {
        let bad = select(&|c| csc(c, "/allowPrivilegeEscalation") != Some(Value::Bool(false)));
        if !bad.is_empty() {
            out.push(format!(
                "allowPrivilegeEscalation != false ({} must set securityContext.allowPrivilegeEscalation=false)",
                containers_phrase(&bad)
            ));
        }
    }
    // capabilities_baseline
    let mut added = Vec::new();
    let bad = select(&|c| {
        csc(c, "/capabilities/add")
            .and_then(|a| a.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_str)
            .any(|cap| !BASELINE_CAPS.contains(&cap))
    });
    for c in &cs {
        for cap in csc(c, "/capabilities/add")
            .and_then(|a| a.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_str)
        {
            if !BASELINE_CAPS.contains(&cap) && !added.contains(&cap.to_string()) {
                added.push(cap.to_string());
            }
        }
    }
    if !bad.is_empty() {
        out.push(format!(
            "non-default capabilities ({} must not include {} in securityContext.capabilities.add)",
            containers_phrase(&bad),
            names(&added)
        ));
    }
    // capabilities_restricted
    if restricted {
        let no_drop_all = select(&|c| {
            !csc(c, "/capabilities/drop")
                .and_then(|a| a.as_array().cloned())
                .unwrap_or_default()
                .iter()
                .any(|d| d.as_str() == Some("ALL"))
        });
        if !no_drop_all.is_empty() {
            out.push(format!(
                "unrestricted capabilities ({} must set securityContext.capabilities.drop=[\"ALL\"])",
                containers_phrase(&no_drop_all)
            ));
        }
    }
    // hostNamespaces
    let host: Vec<String> = ["hostNetwork", "hostPID", "hostIPC"]
        .iter()
        .filter(|k| spec.get(**k).and_then(Value::as_bool) == Some(true))
        .map(|k| format!("{k}=true"))
        .collect();
    if !host.is_empty() {
        out.push(format!("host namespaces ({})", host.join(", ")));
    }
    // hostPathVolumes
    let volumes: Vec<&Value> = spec
        .get("volumes")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let vname = |v: &Value| {
        v.get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let host_paths: Vec<String> = volumes
        .iter()
        .filter(|v| v.get("hostPath").is_some())
        .map(|v| vname(v))
        .collect();
    if !host_paths.is_empty() {
        let noun = if host_paths.len() == 1 {
            "volume"
        } else {
            "volumes"
        };
        out.push(format!("hostPath volumes ({noun} {})", names(&host_paths)));
    }
    // hostPorts
    let mut ports = Vec::new();
    let with_ports = select(&|c| {
        c.get("ports").and_then(Value::as_array).is_some_and(|p| {
            p.iter()
                .any(|p| p.get("hostPort").and_then(Value::as_i64).unwrap_or(0) != 0)
        })
    });
    for c in &cs {
        for p in c
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(hp) = p
                .get("hostPort")
                .and_then(Value::as_i64)
                .filter(|p| *p != 0)
            {
                ports.push(hp.to_string());
            }
        }
    }
    if !with_ports.is_empty() {
        out.push(format!(
            "hostPort ({} uses {} {})",
            containers_phrase(&with_ports),
            if ports.len() == 1 {
                "hostPort"
            } else {
                "hostPorts"
            },
            ports.join(", ")
        ));
    }
    // privileged
    let privileged = select(&|c| csc(c, "/privileged") == Some(Value::Bool(true)));
    if !privileged.is_empty() {
        out.push(format!(
            "privileged ({} must not set securityContext.privileged=true)",
            containers_phrase(&privileged)
        ));
    }
    // procMount
    let proc_mount = select(&|c| {
        csc(c, "/procMount").is_some_and(|p| p.as_str().is_some_and(|p| p != "Default"))
    });
    if !proc_mount.is_empty() {
        out.push(format!(
            "procMount ({} must not set securityContext.procMount to \"Unmasked\")",
            containers_phrase(&proc_mount)
        ));
    }
    // restrictedVolumes
    if restricted {
        let mut bad = Vec::new();
        for v in &volumes {
            if let Some(obj) = v.as_object()
                && let Some(kind) = obj.keys().find(|k| k.as_str() != "name")
                && !RESTRICTED_VOLUMES.contains(&kind.as_str())
            {
                bad.push(format!(
                    "volume {:?} uses restricted volume type {kind:?}",
                    vname(v)
                ));
            }
        }
        if !bad.is_empty() {
            out.push(format!("restricted volume types ({})", bad.join(", ")));
        }
    }
    // runAsNonRoot
    if restricted {
        let pod_non_root = psc.get("runAsNonRoot").and_then(Value::as_bool);
        let bad = select(
            &|c| match csc(c, "/runAsNonRoot").and_then(|v| v.as_bool()) {
                Some(v) => !v,
                None => pod_non_root != Some(true),
            },
        );
        if pod_non_root == Some(false) || !bad.is_empty() {
            let who = if bad.is_empty() {
                "pod".to_string()
            } else {
                format!("pod or {}", containers_phrase(&bad))
            };
            out.push(format!(
                "runAsNonRoot != true ({who} must set securityContext.runAsNonRoot=true)"
            ));
        }
    }
    // runAsUser
    if restricted {
        let bad = select(&|c| csc(c, "/runAsUser").and_then(|v| v.as_i64()) == Some(0));
        if psc.get("runAsUser").and_then(Value::as_i64) == Some(0) || !bad.is_empty() {
            out.push("runAsUser=0 (pod and containers must not set runAsUser=0)".to_string());
        }
    }
    // seLinuxOptions
    let se_ok = |o: Option<Value>| {
        let Some(o) = o else { return true };
        let t = o.get("type").and_then(Value::as_str).unwrap_or("");
        let user_role = o.get("user").is_some() || o.get("role").is_some();
        !user_role
            && matches!(
                t,
                "" | "container_t" | "container_init_t" | "container_kvm_t" | "container_engine_t"
            )
    };
    if !se_ok(psc.get("seLinuxOptions").cloned())
        || cs.iter().any(|c| !se_ok(csc(c, "/seLinuxOptions")))
    {
        out.push("seLinuxOptions (pod or containers must not set forbidden securityContext.seLinuxOptions)".to_string());
    }
    // seccompProfile
    let pod_seccomp = psc
        .pointer("/seccompProfile/type")
        .and_then(Value::as_str)
        .map(str::to_string);
    let unconfined = |t: &Option<String>| t.as_deref() == Some("Unconfined");
    if !restricted {
        let bad = select(&|c| {
            unconfined(&csc(c, "/seccompProfile/type").and_then(|t| t.as_str().map(str::to_string)))
        });
        if unconfined(&pod_seccomp) || !bad.is_empty() {
            out.push("seccompProfile (pod or containers must not set securityContext.seccompProfile.type to \"Unconfined\")".to_string());
        }
    } else {
        let ok =
            |t: &Option<String>| matches!(t.as_deref(), Some("RuntimeDefault") | Some("Localhost"));
        let bad = select(&|c| {
            let t = csc(c, "/seccompProfile/type").and_then(|t| t.as_str().map(str::to_string));
            match t {
                Some(_) => !ok(&t),
                None => !ok(&pod_seccomp),
            }
        });
        if (pod_seccomp.is_some() && !ok(&pod_seccomp)) || !bad.is_empty() {
            let who = if bad.is_empty() {
                "pod".to_string()
            } else {
                format!("pod or {}", containers_phrase(&bad))
            };
            out.push(format!(
                "seccompProfile ({who} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"
            ));
        }
    }
    // sysctls
    let unsafe_sysctls: Vec<String> = psc
        .get("sysctls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .filter(|n| !SAFE_SYSCTLS.contains(n))
        .map(str::to_string)
        .collect();
    if !unsafe_sysctls.is_empty() {
        out.push(format!("forbidden sysctls ({})", unsafe_sysctls.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn restricted_messages_match_upstream() {
        let spec = json!({"containers": [{"name": "c", "image": "x"}]});
        assert!(check(&spec, Level::Baseline).is_empty());
        assert_eq!(
            check(&spec, Level::Restricted).join(", "),
            "allowPrivilegeEscalation != false (container \"c\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"c\" must set securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or container \"c\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \"c\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"
        );
        let good = json!({
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}],
        });
        assert!(check(&good, Level::Restricted).is_empty());
    }

    #[test]
    fn baseline_catches_host_access() {
        let spec = json!({
            "hostNetwork": true,
            "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
            "containers": [{"name": "c", "securityContext": {"privileged": true, "capabilities": {"add": ["NET_ADMIN"]}},
                            "ports": [{"containerPort": 80, "hostPort": 80}]}],
        });
        let v = check(&spec, Level::Baseline);
        assert_eq!(v.len(), 5, "{v:?}");
        assert!(v.contains(&"host namespaces (hostNetwork=true)".to_string()));
        assert!(
            v.contains(
                &"privileged (container \"c\" must not set securityContext.privileged=true)"
                    .to_string()
            )
        );
        assert!(v.contains(&"hostPath volumes (volume \"h\")".to_string()));
    }
}
