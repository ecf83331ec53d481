//! Upstream `ValidateKubeSchedulerConfiguration`: every error carries its
//! field path (`profiles[1].pluginConfig[0].args.scoringStrategy.type: ...`).

use super::KubeSchedulerConfiguration;
use crate::config::args::validate_plugin_args;
use crate::framework::profile::resolve_profile;

/// All problems with `config` (empty when valid).
pub fn validate(config: &KubeSchedulerConfiguration) -> Vec<String> {
    let mut errors = Vec::new();
    if config.parallelism <= 0 {
        errors.push(format!(
            "parallelism: Invalid value: {}: should be an integer value greater than zero",
            config.parallelism
        ));
    }
    if let Some(p) = config.percentage_of_nodes_to_score
        && !(0..=100).contains(&p)
    {
        errors.push(format!(
            "percentageOfNodesToScore: Invalid value: {p}: not in valid range [0-100]"
        ));
    }
    if config.pod_initial_backoff_seconds <= 0 {
        errors.push(format!(
            "podInitialBackoffSeconds: Invalid value: {}: must be greater than 0",
            config.pod_initial_backoff_seconds
        ));
    }
    if config.pod_max_backoff_seconds < config.pod_initial_backoff_seconds {
        errors.push(format!(
            "podMaxBackoffSeconds: Invalid value: {}: must be greater than or equal to PodInitialBackoffSeconds",
            config.pod_max_backoff_seconds
        ));
    }
    if !config.extenders.is_empty() {
        errors.push(
            "extenders: Forbidden: scheduler extenders are not supported by Corten yet".to_string(),
        );
    }
    let le = &config.leader_election;
    if le.leader_elect {
        let positive = |d: std::time::Duration, field: &str, errors: &mut Vec<String>| {
            if d.is_zero() {
                errors.push(format!(
                    "leaderElection.{field}: Invalid value: \"0s\": must be greater than zero"
                ));
            }
        };
        positive(le.lease_duration, "leaseDuration", &mut errors);
        positive(le.renew_deadline, "renewDeadline", &mut errors);
        positive(le.retry_period, "retryPeriod", &mut errors);
        if le.lease_duration <= le.renew_deadline {
            errors.push(format!(
                "leaderElection.leaseDuration: Invalid value: {:?}: LeaseDuration must be greater than RenewDeadline",
                crate::duration::format_duration(le.lease_duration)
            ));
        }
        if le.resource_lock != "leases" {
            errors.push(format!(
                "leaderElection.resourceLock: Unsupported value: {:?}: supported values: \"leases\"",
                le.resource_lock
            ));
        }
        if le.resource_name.is_empty() {
            errors.push(
                "leaderElection.resourceName: Invalid value: \"\": resourceName is required"
                    .to_string(),
            );
        }
        if le.resource_namespace.is_empty() {
            errors.push("leaderElection.resourceNamespace: Invalid value: \"\": resourceNamespace is required".to_string());
        }
    }
    if config.profiles.is_empty() {
        errors.push("profiles: Required value".to_string());
    }
    let mut names: Vec<&str> = Vec::new();
    let mut queue_sort: Option<(usize, Vec<String>)> = None;
    for (i, profile) in config.profiles.iter().enumerate() {
        let path = format!("profiles[{i}]");
        if profile.scheduler_name.is_empty() {
            errors.push(format!("{path}.schedulerName: Required value"));
        } else if names.contains(&profile.scheduler_name.as_str()) {
            errors.push(format!(
                "{path}.schedulerName: Duplicate value: {:?}",
                profile.scheduler_name
            ));
        }
        names.push(&profile.scheduler_name);
        if let Some(p) = profile.percentage_of_nodes_to_score
            && !(0..=100).contains(&p)
        {
            errors.push(format!(
                "{path}.percentageOfNodesToScore: Invalid value: {p}: not in valid range [0-100]"
            ));
        }
        let mut configured: Vec<&str> = Vec::new();
        for (j, pc) in profile.plugin_config.iter().enumerate() {
            let at = format!("{path}.pluginConfig[{j}]");
            if configured.contains(&pc.name.as_str()) {
                errors.push(format!("{at}: Duplicate value: {:?}", pc.name));
            }
            configured.push(&pc.name);
            if crate::plugins::descriptor(&pc.name).is_none() {
                errors.push(format!(
                    "{at}.name: Invalid value: {:?}: plugin does not exist",
                    pc.name
                ));
            }
            errors.extend(validate_plugin_args(
                &pc.name,
                pc.args.as_ref(),
                &format!("{at}.args"),
            ));
        }
        match resolve_profile(profile) {
            Ok(resolved) => {
                let sort = resolved.plugins_at("queueSort").to_vec();
                match &queue_sort {
                    None => queue_sort = Some((i, sort)),
                    Some((first, first_sort)) if *first_sort != sort => errors.push(format!(
                        "{path}.plugins.queueSort: Invalid value: {sort:?}: queueSort must be the same for all profiles (profiles[{first}] has {first_sort:?})"
                    )),
                    Some(_) => {}
                }
            }
            Err(problems) => {
                errors.extend(problems.into_iter().map(|p| format!("{path}.plugins: {p}")))
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(yaml: &str) -> Vec<String> {
        let text = format!(
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n{yaml}"
        );
        let config = KubeSchedulerConfiguration::parse(&text).unwrap();
        validate(&config)
    }

    #[test]
    fn top_level_rules() {
        assert!(errors("").is_empty());
        let e = errors(
            "parallelism: 0\npercentageOfNodesToScore: 101\npodInitialBackoffSeconds: 5\npodMaxBackoffSeconds: 2\n",
        );
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].starts_with("parallelism: Invalid value: 0"));
        let e = errors(
            "leaderElection:\n  leaseDuration: 5s\n  renewDeadline: 10s\n  resourceLock: endpoints\n",
        );
        assert_eq!(e.len(), 2, "{e:?}");
    }

    #[test]
    fn profile_rules() {
        let e = errors("profiles:\n- schedulerName: a\n- schedulerName: a\n- {}\n");
        assert!(
            e.iter()
                .any(|m| m == "profiles[1].schedulerName: Duplicate value: \"a\""),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|m| m == "profiles[2].schedulerName: Required value"),
            "{e:?}"
        );
        let e = errors(
            "profiles:\n- schedulerName: a\n  plugins:\n    filter:\n      enabled:\n      - name: NoSuchPlugin\n",
        );
        assert!(e[0].contains("NoSuchPlugin"), "{e:?}");
        let e = errors(
            "profiles:\n- schedulerName: a\n  plugins:\n    filter:\n      enabled:\n      - name: ImageLocality\n",
        );
        assert!(e[0].contains("does not extend filter"), "{e:?}");
        let e = errors(
            "profiles:\n- schedulerName: a\n  pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n        type: Bogus\n",
        );
        assert!(
            e[0].starts_with("profiles[0].pluginConfig[0].args.scoringStrategy.type"),
            "{e:?}"
        );
        let e = errors(
            "profiles:\n- schedulerName: a\n  plugins:\n    queueSort:\n      disabled:\n      - name: '*'\n",
        );
        assert!(e[0].contains("queue sort"), "{e:?}");
    }
}
