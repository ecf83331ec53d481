//! The topology manager's settings (`topologyManagerPolicy`,
//! `topologyManagerScope`, `topologyManagerPolicyOptions` and their flags),
//! validated with upstream's messages.
//!
//! Upstream's topology manager merges the NUMA hints of the CPU, memory
//! and device managers and, under `restricted` or `single-numa-node`,
//! rejects pods whose hints cannot be aligned. Corten has none of those
//! managers, so no resource ever offers a hint: the merged hint is "no
//! preference", which every policy admits. The settings are accepted and
//! checked so upstream configuration files work unchanged.

use std::collections::BTreeMap;

/// `topologyManagerPolicy` values.
pub const POLICIES: [&str; 4] = ["none", "best-effort", "restricted", "single-numa-node"];
/// `topologyManagerScope` values.
pub const SCOPES: [&str; 2] = ["container", "pod"];
/// The option preferring NUMA node sets with shorter distances (GA in 1.32).
pub const PREFER_CLOSEST_NUMA_NODES: &str = "prefer-closest-numa-nodes";
/// The option raising the 8 NUMA node limit (beta in 1.31, on by default).
pub const MAX_ALLOWABLE_NUMA_NODES: &str = "max-allowable-numa-nodes";
/// Upstream's NUMA node limit when `max-allowable-numa-nodes` is not set.
pub const DEFAULT_MAX_ALLOWABLE_NUMA_NODES: i64 = 8;

/// Go's `%q` of a string list: `["a" "b"]`.
fn quoted_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(" "))
}

/// Checks the policy and scope (upstream `ValidateKubeletConfiguration`).
pub fn validate(policy: &str, scope: &str) -> Result<(), String> {
    if !POLICIES.contains(&policy) {
        return Err(format!(
            "topologyManagerPolicy (--topology-manager-policy) {policy:?} must be one of: {}",
            quoted_list(&POLICIES)
        ));
    }
    if !SCOPES.contains(&scope) {
        return Err(format!(
            "topologyManagerScope (--topology-manager-scope) {scope:?} must be one of: {:?}, or {:?}",
            SCOPES[0], SCOPES[1]
        ));
    }
    Ok(())
}

/// Parsed policy options (upstream `PolicyOptions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyOptions {
    /// `prefer-closest-numa-nodes`.
    pub prefer_closest_numa: bool,
    /// `max-allowable-numa-nodes` (default 8).
    pub max_allowable_numa_nodes: i64,
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Parses the options (upstream `NewPolicyOptions`, which fails the
/// kubelet's start with these messages).
pub fn policy_options(options: &BTreeMap<String, String>) -> Result<PolicyOptions, String> {
    let mut out = PolicyOptions {
        prefer_closest_numa: false,
        max_allowable_numa_nodes: 0,
    };
    for (name, value) in options {
        match name.as_str() {
            PREFER_CLOSEST_NUMA_NODES => {
                out.prefer_closest_numa = parse_go_bool(value).ok_or_else(|| {
                    format!(
                        "bad value for option {name:?}: strconv.ParseBool: parsing {value:?}: invalid syntax"
                    )
                })?;
            }
            MAX_ALLOWABLE_NUMA_NODES => {
                out.max_allowable_numa_nodes = value.parse::<i64>().map_err(|e| {
                    let why = match e.kind() {
                        std::num::IntErrorKind::PosOverflow
                        | std::num::IntErrorKind::NegOverflow => "value out of range",
                        _ => "invalid syntax",
                    };
                    format!("bad value for option {name:?}: strconv.Atoi: parsing {value:?}: {why}")
                })?;
            }
            _ => return Err(format!("unknown Topology Manager Policy option: {name:?}")),
        }
    }
    if out.max_allowable_numa_nodes == 0 {
        out.max_allowable_numa_nodes = DEFAULT_MAX_ALLOWABLE_NUMA_NODES;
    }
    Ok(out)
}
