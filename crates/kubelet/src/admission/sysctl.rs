//! The sysctl admit handler (upstream's `pkg/kubelet/sysctl`): a pod may
//! set, in `spec.securityContext.sysctls`, the safe sysctls (namespaced
//! and isolated from other pods) and those the node allows with
//! `allowedUnsafeSysctls` (`--allowed-unsafe-sysctls`, names or patterns
//! ending in `*`). Anything else, or a network sysctl in a pod on the
//! host network (an IPC one with `hostIPC`), is rejected with reason
//! `SysctlForbidden`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

use super::Rejection;

/// The reason of a rejection.
pub const FORBIDDEN_REASON: &str = "SysctlForbidden";

/// Safe in every release (upstream's legacy list).
const LEGACY_SAFE: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

/// Safe from the kernel version that namespaced them.
const NEWER_SAFE: &[(&str, (u32, u32))] = &[
    ("net.ipv4.ip_local_reserved_ports", (3, 16)),
    ("net.ipv4.tcp_rmem", (4, 15)),
    ("net.ipv4.tcp_wmem", (4, 15)),
];

/// The kernel namespace a sysctl lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Namespace {
    Ipc,
    Net,
}

impl Namespace {
    /// Upstream's names (`"%q not allowed with host %s enabled"`).
    fn as_str(self) -> &'static str {
        match self {
            Namespace::Ipc => "IPC",
            Namespace::Net => "Net",
        }
    }
}

/// Sysctls known to be namespaced (upstream's `nameToNamespace`).
const IPC_NAMES: &[&str] = &[
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
    "kernel.shm",
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.msg",
];

fn namespace_of(name: &str) -> Option<Namespace> {
    if IPC_NAMES.contains(&name) {
        return Some(Namespace::Ipc);
    }
    if name.starts_with("net.") {
        return Some(Namespace::Net);
    }
    if name.starts_with("fs.mqueue.") {
        return Some(Namespace::Ipc);
    }
    None
}

/// `net/ipv4/conf/eth0.100/rp_filter` -> `net.ipv4.conf.eth0/100.rp_filter`:
/// a name whose first separator is `/` uses `/` and `.` the other way round.
pub fn normalize(name: &str) -> String {
    match name.find(['.', '/']) {
        Some(i) if name.as_bytes()[i] == b'/' => name
            .chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect(),
        _ => name.to_string(),
    }
}

/// Whether `pattern` is a sysctl name or a pattern ending in `*`
/// (upstream's `IsValidSysctlPattern`: dot- or slash-separated segments of
/// lowercase letters, digits, `_` and `-`, at most 253 characters).
fn valid_pattern(pattern: &str) -> bool {
    if pattern.is_empty() || pattern.len() > 253 {
        return false;
    }
    let body = pattern.strip_suffix('*').unwrap_or(pattern);
    let body = body
        .strip_suffix(['.', '/'])
        .filter(|_| pattern.ends_with('*'))
        .unwrap_or(body);
    !body.is_empty()
        && body.split(['.', '/']).all(|segment| {
            segment.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && segment.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && segment
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        })
}

/// The node's allowlist: safe sysctls plus `allowedUnsafeSysctls`.
#[derive(Clone, Debug, Default)]
pub struct Allowlist {
    names: BTreeMap<String, Namespace>,
    prefixes: BTreeMap<String, Namespace>,
}

/// The safe sysctls for kernel `release` (`uname -r`, e.g. `6.1.0-13-amd64`).
pub fn safe_sysctls(release: &str) -> Vec<&'static str> {
    let mut numbers = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    let version = numbers.next().zip(numbers.next());
    let mut safe = LEGACY_SAFE.to_vec();
    if let Some(version) = version {
        safe.extend(
            NEWER_SAFE
                .iter()
                .filter(|(_, since)| version >= *since)
                .map(|(name, _)| *name),
        );
    }
    safe
}

impl Allowlist {
    /// The safe sysctls of this kernel plus `unsafe_allowed`; `Err` is
    /// upstream's message for a pattern that is malformed or not known to
    /// be namespaced.
    pub fn new(kernel_release: &str, unsafe_allowed: &[String]) -> Result<Self, String> {
        let mut list = Self::default();
        let safe = safe_sysctls(kernel_release);
        for pattern in safe
            .into_iter()
            .map(str::to_string)
            .chain(unsafe_allowed.iter().cloned())
        {
            if !valid_pattern(&pattern) {
                return Err(format!(
                    "sysctl {pattern:?} must have at most 253 characters and match regex ([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?(\\*)?"
                ));
            }
            let normalized = normalize(&pattern);
            let (name, prefixed) = match normalized.find('*') {
                Some(star) => (normalized[..star].to_string(), true),
                None => (normalized, false),
            };
            let Some(namespace) = namespace_of(&name) else {
                return Err(format!(
                    "the sysctls {name:?} are not known to be namespaced"
                ));
            };
            if prefixed {
                list.prefixes.insert(name, namespace);
            } else {
                list.names.insert(name, namespace);
            }
        }
        Ok(list)
    }

    fn validate(&self, sysctl: &str, host_network: bool, host_ipc: bool) -> Result<(), String> {
        let sysctl = normalize(sysctl);
        let namespace = self.names.get(&sysctl).copied().or_else(|| {
            self.prefixes
                .iter()
                .find(|(prefix, _)| sysctl.starts_with(prefix.as_str()))
                .map(|(_, ns)| *ns)
        });
        match namespace {
            None => Err(format!("{sysctl:?} not allowlisted")),
            Some(ns @ Namespace::Ipc) if host_ipc => Err(format!(
                "{sysctl:?} not allowed with host {} enabled",
                ns.as_str()
            )),
            Some(ns @ Namespace::Net) if host_network => Err(format!(
                "{sysctl:?} not allowed with host {} enabled",
                ns.as_str()
            )),
            Some(_) => Ok(()),
        }
    }

    /// Admits `pod` when all its sysctls are allowed.
    pub fn admit(&self, pod: &Pod) -> Result<(), Rejection> {
        let Some(spec) = &pod.spec else {
            return Ok(());
        };
        let sysctls = spec
            .security_context
            .as_ref()
            .and_then(|sc| sc.sysctls.as_ref());
        for sysctl in sysctls.into_iter().flatten() {
            self.validate(
                &sysctl.name,
                spec.host_network.unwrap_or(false),
                spec.host_ipc.unwrap_or(false),
            )
            .map_err(|err| Rejection::new(FORBIDDEN_REASON, format!("forbidden sysctl: {err}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(sysctls: &[&str], host_network: bool, host_ipc: bool) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {
                "hostNetwork": host_network,
                "hostIPC": host_ipc,
                "securityContext": {"sysctls": sysctls.iter().map(|n| serde_json::json!({"name": n, "value": "1"})).collect::<Vec<_>>()},
                "containers": [{"name": "c"}],
            },
        }))
        .unwrap()
    }

    fn message(list: &Allowlist, p: &Pod) -> String {
        let rejection = list.admit(p).unwrap_err();
        assert_eq!(rejection.reason, "SysctlForbidden");
        rejection.message
    }

    #[test]
    fn the_safe_set_depends_on_the_kernel() {
        let new = safe_sysctls("6.1.0-13-amd64");
        assert_eq!(new.len(), 12);
        assert!(new.contains(&"net.ipv4.tcp_rmem"));
        let old = safe_sysctls("4.9.0");
        assert!(old.contains(&"net.ipv4.ip_local_reserved_ports"));
        assert!(!old.contains(&"net.ipv4.tcp_wmem"));
        assert_eq!(safe_sysctls("garbage").len(), 9);
    }

    #[test]
    fn safe_sysctls_are_admitted_others_are_forbidden() {
        let list = Allowlist::new("6.1.0", &[]).unwrap();
        assert!(
            list.admit(&pod(
                &[
                    "kernel.shm_rmid_forced",
                    "net.ipv4.tcp_syncookies",
                    "net/ipv4/ip_local_port_range"
                ],
                false,
                false
            ))
            .is_ok()
        );
        assert!(list.admit(&pod(&[], false, false)).is_ok());
        assert_eq!(
            message(&list, &pod(&["net.core.somaxconn"], false, false)),
            "forbidden sysctl: \"net.core.somaxconn\" not allowlisted"
        );
        assert_eq!(
            message(&list, &pod(&["kernel.msgmax"], false, false)),
            "forbidden sysctl: \"kernel.msgmax\" not allowlisted"
        );
        // Namespaced rules: the host's network or IPC namespace is off limits.
        assert_eq!(
            message(&list, &pod(&["net.ipv4.tcp_syncookies"], true, false)),
            "forbidden sysctl: \"net.ipv4.tcp_syncookies\" not allowed with host Net enabled"
        );
        assert_eq!(
            message(&list, &pod(&["kernel.shm_rmid_forced"], false, true)),
            "forbidden sysctl: \"kernel.shm_rmid_forced\" not allowed with host IPC enabled"
        );
        assert!(
            list.admit(&pod(&["kernel.shm_rmid_forced"], true, false))
                .is_ok()
        );
    }

    #[test]
    fn allowed_unsafe_sysctls_with_patterns() {
        let list = Allowlist::new(
            "6.1.0",
            &[
                "net.core.*".to_string(),
                "kernel.msgmax".to_string(),
                "fs.mqueue.*".into(),
            ],
        )
        .unwrap();
        assert!(
            list.admit(&pod(
                &["net.core.somaxconn", "kernel.msgmax", "fs.mqueue.msg_max"],
                false,
                false
            ))
            .is_ok()
        );
        assert_eq!(
            message(&list, &pod(&["net.core.somaxconn"], true, false)),
            "forbidden sysctl: \"net.core.somaxconn\" not allowed with host Net enabled"
        );
        assert_eq!(
            message(&list, &pod(&["kernel.msgmnb"], false, false)),
            "forbidden sysctl: \"kernel.msgmnb\" not allowlisted"
        );
        assert_eq!(
            Allowlist::new("6.1.0", &["vm.swappiness".into()]).unwrap_err(),
            "the sysctls \"vm.swappiness\" are not known to be namespaced"
        );
        assert!(
            Allowlist::new("6.1.0", &["Net.Core".into()])
                .unwrap_err()
                .starts_with("sysctl \"Net.Core\" must have at most 253 characters")
        );
        assert!(Allowlist::new("6.1.0", &["kernel.shm*".into(), "net.*".into()]).is_ok());
    }

    #[test]
    fn names_with_slashes_are_normalized() {
        assert_eq!(
            normalize("net/ipv4/conf/eth0.100/rp_filter"),
            "net.ipv4.conf.eth0/100.rp_filter"
        );
        assert_eq!(
            normalize("net.ipv4.conf.eth0/100.rp_filter"),
            "net.ipv4.conf.eth0/100.rp_filter"
        );
    }
}
