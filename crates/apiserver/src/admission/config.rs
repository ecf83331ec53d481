//! `--admission-control-config-file`: upstream's `AdmissionConfiguration`
//! (`apiserver.config.k8s.io/v1`, also the older `v1alpha1` and
//! `apiserver.k8s.io/v1alpha1`), which gives plugins their configuration,
//! inline (`configuration`) or in a file of its own (`path`, relative to the
//! configuration file's directory).
//!
//! Each plugin reads its own entry; entries of plugins Corten does not
//! configure are accepted and ignored, as upstream ignores entries of
//! plugins that are not enabled.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

const API_VERSIONS: &[&str] = &[
    "apiserver.config.k8s.io/v1",
    "apiserver.config.k8s.io/v1alpha1",
    "apiserver.k8s.io/v1alpha1",
];

/// The plugins' configurations by plugin name.
#[derive(Debug, Clone, Default)]
pub struct AdmissionConfig {
    plugins: BTreeMap<String, Value>,
}

impl AdmissionConfig {
    /// Reads the configuration file and the plugin files it names.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!("reading --admission-control-config-file {}", path.display())
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, dir).with_context(|| format!("parsing {}", path.display()))
    }

    /// Parses configuration text; `path` entries are read relative to `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<Self> {
        let v = yaml_to_json(text)?;
        let api_version = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind != "AdmissionConfiguration" || !API_VERSIONS.contains(&api_version) {
            bail!(
                "unexpected apiVersion/kind {api_version:?}/{kind:?}: want kind AdmissionConfiguration in one of {}",
                API_VERSIONS.join(", ")
            );
        }
        let mut plugins = BTreeMap::new();
        let entries = match v.get("plugins") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(a)) => a.as_slice(),
            Some(_) => bail!("plugins: must be a list"),
        };
        for (i, entry) in entries.iter().enumerate() {
            let Some(name) = entry
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            else {
                bail!("plugins[{i}].name: Required value");
            };
            let conf = match (entry.get("configuration"), entry.get("path")) {
                (Some(c), _) if !c.is_null() => c.clone(),
                (_, Some(Value::String(p))) if !p.is_empty() => {
                    let file = dir.join(p);
                    let text = std::fs::read_to_string(&file).with_context(|| {
                        format!("plugins[{i}].path: reading {}", file.display())
                    })?;
                    yaml_to_json(&text)
                        .with_context(|| format!("plugins[{i}].path: {}", file.display()))?
                }
                _ => Value::Null,
            };
            if plugins.insert(name.to_string(), conf).is_some() {
                bail!("plugins[{i}].name: Duplicate value: {name:?}");
            }
        }
        Ok(AdmissionConfig { plugins })
    }

    /// The configuration given to `plugin`, if any.
    pub fn plugin(&self, plugin: &str) -> Option<&Value> {
        self.plugins.get(plugin).filter(|v| !v.is_null())
    }
}

fn yaml_to_json(text: &str) -> Result<Value> {
    let y: serde_yaml::Value = serde_yaml::from_str(text).context("not YAML or JSON")?;
    Ok(serde_json::to_value(y)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_path_configurations_are_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("psa.yaml"),
            "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\n",
        )
        .unwrap();
        let text = r#"
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  path: psa.yaml
- name: EventRateLimit
  configuration: {kind: Configuration}
"#;
        let c = AdmissionConfig::parse(text, dir.path()).unwrap();
        assert_eq!(
            c.plugin("PodSecurity").unwrap()["kind"],
            "PodSecurityConfiguration"
        );
        assert_eq!(c.plugin("EventRateLimit").unwrap()["kind"], "Configuration");
        assert!(c.plugin("LimitRanger").is_none());
    }

    #[test]
    fn bad_files_name_what_is_wrong() {
        let dir = Path::new("/nonexistent");
        let err = |t: &str| format!("{:#}", AdmissionConfig::parse(t, dir).unwrap_err());
        assert!(err("kind: Foo\napiVersion: v1\n").contains("want kind AdmissionConfiguration"));
        let base = "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\n";
        assert!(err(&format!("{base}plugins: {{}}\n")).contains("plugins: must be a list"));
        assert!(err(&format!("{base}plugins: [{{path: x}}]\n")).contains("plugins[0].name"));
        assert!(
            err(&format!("{base}plugins: [{{name: A, path: x.yaml}}]\n"))
                .contains("plugins[0].path: reading /nonexistent/x.yaml")
        );
        assert!(
            err(&format!(
                "{base}plugins: [{{name: A, configuration: {{}}}}, {{name: A, configuration: {{}}}}]\n"
            ))
            .contains("plugins[1].name: Duplicate value")
        );
    }
}
