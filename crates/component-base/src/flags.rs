//! Flag policy shared by every daemon.
//!
//! Corten keeps upstream's flag names. A flag that upstream has but Corten does
//! not implement yet must fail loudly, never be silently ignored, and with a
//! message that says so (rather than clap's generic "unexpected argument").
//! Flags unknown to upstream are left for clap to reject.
//!
//! ```
//! use corten_component_base::flags::check_unsupported_flags;
//! use corten_component_base::upstream_flags::KUBE_APISERVER_UPSTREAM_FLAGS;
//!
//! let args: Vec<String> = ["kube-apiserver", "--etcd-servers=http://127.0.0.1:2379", "--audit-log-path=/tmp/a"]
//!     .iter().map(|s| s.to_string()).collect();
//! let err = check_unsupported_flags(&args, &["etcd-servers"], KUBE_APISERVER_UPSTREAM_FLAGS, "kube-apiserver")
//!     .unwrap_err();
//! assert_eq!(err, "flag --audit-log-path is an upstream kube-apiserver flag that Corten does not implement yet");
//! ```

pub use crate::upstream_flags::{
    KUBE_APISERVER_UPSTREAM_FLAGS, KUBE_CONTROLLER_MANAGER_UPSTREAM_FLAGS,
    KUBE_PROXY_UPSTREAM_FLAGS, KUBE_SCHEDULER_UPSTREAM_FLAGS, KUBELET_UPSTREAM_FLAGS,
};

/// Exit code for invalid flags or configuration (BSD `EX_USAGE`).
pub const EXIT_USAGE: i32 = 64;

/// Returns an error for the first argument that is a known upstream flag of
/// `component` (in `upstream`) but not in `implemented`.
///
/// Recognises `--name` and `--name=value`; stops at a bare `--`. Flag names in
/// the lists may be given with or without the leading `--`. Like upstream's
/// flag parser, `_` and `-` are interchangeable (`--log_dir` is `--log-dir`).
/// `--help` always counts as implemented (clap provides it). Single-dash
/// arguments and positional arguments are ignored.
pub fn check_unsupported_flags(
    args: &[String],
    implemented: &[&str],
    upstream: &[&str],
    component: &str,
) -> Result<(), String> {
    for arg in args {
        if arg == "--" {
            break;
        }
        let Some(body) = arg.strip_prefix("--") else {
            continue;
        };
        let name = body.split_once('=').map_or(body, |(name, _)| name);
        if name.is_empty() {
            continue;
        }
        let wanted = normalize(name);
        if wanted == "help" {
            continue;
        }
        let is = |list: &[&str]| list.iter().any(|flag| normalize(flag) == wanted);
        if is(upstream) && !is(implemented) {
            return Err(format!(
                "flag --{name} is an upstream {component} flag that Corten does not implement yet"
            ));
        }
    }
    Ok(())
}

/// The long flag names (without `--`) a clap command accepts, including
/// aliases, `help` and (if the command has a version) `version`. Feed it to
/// [`check_unsupported_flags`] so the implemented list never drifts from the
/// parser.
pub fn long_flag_names(cmd: &clap::Command) -> Vec<String> {
    let mut names = vec!["help".to_string()];
    if cmd.get_version().is_some() || cmd.get_long_version().is_some() {
        names.push("version".to_string());
    }
    for arg in cmd.get_arguments() {
        if let Some(long) = arg.get_long() {
            names.push(long.to_string());
        }
        if let Some(aliases) = arg.get_all_aliases() {
            names.extend(aliases.into_iter().map(str::to_string));
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Runs [`check_unsupported_flags`] on the process arguments and, on error,
/// prints `Error: <message>` to stderr and exits with [`EXIT_USAGE`]. Call it
/// first thing in `main`, before clap parses.
pub fn exit_on_unsupported_flags(cmd: &clap::Command, upstream: &[&str], component: &str) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let implemented = long_flag_names(cmd);
    let implemented: Vec<&str> = implemented.iter().map(String::as_str).collect();
    if let Err(message) = check_unsupported_flags(&args, &implemented, upstream, component) {
        eprintln!("Error: {message}");
        std::process::exit(EXIT_USAGE);
    }
}

fn normalize(flag: &str) -> String {
    flag.trim_start_matches('-').replace('_', "-")
}

/// The apiserver URL of a `--master` flag, read as client-go does: a value
/// without a scheme is `https://<value>`; it must name a host.
pub fn parse_master(master: &str) -> Result<http::Uri, String> {
    let full = if master.contains("://") {
        master.to_string()
    } else {
        format!("https://{master}")
    };
    let bad = |why: &str| {
        format!(
            "invalid --master {master:?}: {why} (expected a URL such as https://127.0.0.1:6443)"
        )
    };
    let uri: http::Uri = full.parse().map_err(|e| bad(&format!("{e}")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("the scheme must be http or https")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    #[test]
    fn master_urls_are_read_like_client_go() {
        use super::parse_master;
        assert_eq!(
            parse_master("10.0.0.1:6443").unwrap().to_string(),
            "https://10.0.0.1:6443/"
        );
        assert_eq!(
            parse_master("http://localhost:8080").unwrap().to_string(),
            "http://localhost:8080/"
        );
        for bad in ["", "ftp://host", "https://", "a b"] {
            let err = parse_master(bad).unwrap_err();
            assert!(err.starts_with("invalid --master"), "{bad}: {err}");
        }
    }

    use super::*;
    use clap::{CommandFactory, Parser};

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn implemented_and_unknown_flags_pass() {
        let implemented = ["etcd-servers", "secure-port"];
        let ok = args(&[
            "kube-apiserver",
            "--etcd-servers=http://127.0.0.1:2379",
            "--secure-port",
            "6443",
            "--not-an-upstream-flag",
            "-v=3",
            "--help",
        ]);
        assert_eq!(
            check_unsupported_flags(
                &ok,
                &implemented,
                KUBE_APISERVER_UPSTREAM_FLAGS,
                "kube-apiserver"
            ),
            Ok(())
        );
    }

    #[test]
    fn unimplemented_upstream_flag_is_rejected_with_upstream_message() {
        for arg in ["--audit-log-path=/var/log/audit", "--audit-log-path"] {
            let err = check_unsupported_flags(
                &args(&["kube-apiserver", arg]),
                &["etcd-servers"],
                KUBE_APISERVER_UPSTREAM_FLAGS,
                "kube-apiserver",
            )
            .unwrap_err();
            assert_eq!(
                err,
                "flag --audit-log-path is an upstream kube-apiserver flag that Corten does not implement yet"
            );
        }
    }

    #[test]
    fn underscores_and_dashes_are_the_same_flag() {
        let err = check_unsupported_flags(
            &args(&["--log_dir=/tmp"]),
            &[],
            KUBE_PROXY_UPSTREAM_FLAGS,
            "kube-proxy",
        )
        .unwrap_err();
        assert!(
            err.starts_with("flag --log_dir is an upstream kube-proxy flag"),
            "{err}"
        );
        assert_eq!(
            check_unsupported_flags(
                &args(&["--log_dir=/tmp"]),
                &["--log-dir"],
                KUBE_PROXY_UPSTREAM_FLAGS,
                "kube-proxy"
            ),
            Ok(())
        );
    }

    #[test]
    fn arguments_after_double_dash_are_not_flags() {
        assert_eq!(
            check_unsupported_flags(
                &args(&["--", "--audit-log-path=x"]),
                &[],
                KUBE_APISERVER_UPSTREAM_FLAGS,
                "kube-apiserver"
            ),
            Ok(())
        );
    }

    #[test]
    fn flag_lists_look_like_upstream() {
        let lists: [(&str, &[&str]); 5] = [
            ("kube-apiserver", KUBE_APISERVER_UPSTREAM_FLAGS),
            ("kube-scheduler", KUBE_SCHEDULER_UPSTREAM_FLAGS),
            (
                "kube-controller-manager",
                KUBE_CONTROLLER_MANAGER_UPSTREAM_FLAGS,
            ),
            ("kubelet", KUBELET_UPSTREAM_FLAGS),
            ("kube-proxy", KUBE_PROXY_UPSTREAM_FLAGS),
        ];
        for (component, list) in lists {
            assert!(list.len() > 50, "{component} has only {} flags", list.len());
            for flag in list {
                assert!(!flag.starts_with('-'), "{component}: {flag}");
                assert!(
                    flag.chars().all(|c| c.is_ascii_lowercase()
                        || c.is_ascii_digit()
                        || c == '-'
                        || c == '_'),
                    "{component}: {flag}"
                );
            }
            let mut sorted = list.to_vec();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), list.len(), "{component} has duplicates");
            for common in ["help", "v", "feature-gates", "logging-format"] {
                assert!(list.contains(&common), "{component} lacks {common}");
            }
        }
        for flag in [
            "etcd-servers",
            "secure-port",
            "service-cluster-ip-range",
            "tls-cert-file",
            "authorization-mode",
            "enable-admission-plugins",
        ] {
            assert!(KUBE_APISERVER_UPSTREAM_FLAGS.contains(&flag), "{flag}");
        }
        assert!(KUBE_CONTROLLER_MANAGER_UPSTREAM_FLAGS.contains(&"controllers"));
        assert!(KUBE_SCHEDULER_UPSTREAM_FLAGS.contains(&"leader-elect"));
        assert!(KUBELET_UPSTREAM_FLAGS.contains(&"container-runtime-endpoint"));
        assert!(KUBE_PROXY_UPSTREAM_FLAGS.contains(&"proxy-mode"));
    }

    #[derive(Parser)]
    #[command(version = "1")]
    struct Demo {
        #[arg(long = "secure-port")]
        _secure_port: Option<u16>,
        #[arg(long = "kubeconfig", alias = "kube-config")]
        _kubeconfig: Option<String>,
        #[command(flatten)]
        _logging: crate::logging::LoggingOptions,
    }

    #[test]
    fn long_flag_names_come_from_clap() {
        let names = long_flag_names(&Demo::command());
        for name in [
            "help",
            "version",
            "secure-port",
            "kubeconfig",
            "kube-config",
            "logging-format",
            "v",
        ] {
            assert!(
                names.iter().any(|n| n == name),
                "{name} missing from {names:?}"
            );
        }
    }
}
