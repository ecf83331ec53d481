//! The version every Corten binary reports.
//!
//! Corten implements the Kubernetes 1.33 API, so it reports itself as
//! `v1.33.0` with a `-corten.<crate version>` pre-release suffix: clients that
//! check version skew (kubectl, client-go, kube-rs) see a 1.33 server, and a
//! human can still tell Corten from upstream.

use serde::Serialize;

/// The upstream Kubernetes release whose API and behaviour Corten follows.
pub const KUBERNETES_VERSION: &str = "v1.33.0";

/// The version string reported as `gitVersion`, e.g. `v1.33.0-corten.0.1.0`.
pub const GIT_VERSION: &str = concat!("v1.33.0-corten.", env!("CARGO_PKG_VERSION"));

/// Major version of the Kubernetes API (`major` in `/version`).
pub const MAJOR: &str = "1";

/// Minor version of the Kubernetes API (`minor` in `/version`).
pub const MINOR: &str = "33";

/// Oldest minor version this release stays compatible with (`minCompatibilityMinor`).
pub const MIN_COMPATIBILITY_MINOR: &str = "32";

/// The body of `GET /version`, field for field as upstream's `version.Info`.
///
/// Serializes to the same JSON keys, in the same order, as the Go apiserver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// Major version, `"1"`.
    pub major: String,
    /// Minor version, `"33"`.
    pub minor: String,
    /// Major version that is emulated (same as `major`).
    pub emulation_major: String,
    /// Minor version that is emulated (same as `minor`).
    pub emulation_minor: String,
    /// Major version of the oldest compatible control plane.
    pub min_compatibility_major: String,
    /// Minor version of the oldest compatible control plane.
    pub min_compatibility_minor: String,
    /// Full version, [`GIT_VERSION`].
    pub git_version: String,
    /// Commit the binary was built from (`CORTEN_GIT_COMMIT` at build time) or `unknown`.
    pub git_commit: String,
    /// `clean` or `dirty` (`CORTEN_GIT_TREE_STATE` at build time) or `unknown`.
    pub git_tree_state: String,
    /// RFC 3339 build time (`CORTEN_BUILD_DATE` at build time) or the Unix epoch.
    pub build_date: String,
    /// The toolchain version; upstream reports Go, we report `rust<version>`.
    pub go_version: String,
    /// Always `rustc`.
    pub compiler: String,
    /// `<os>/<arch>` in Go's spelling, e.g. `linux/amd64`.
    pub platform: String,
}

/// The commit the binary was built from, or `unknown`.
pub fn git_commit() -> &'static str {
    non_empty(option_env!("CORTEN_GIT_COMMIT")).unwrap_or("unknown")
}

/// The state of the git tree at build time (`clean`/`dirty`), or `unknown`.
pub fn git_tree_state() -> &'static str {
    non_empty(option_env!("CORTEN_GIT_TREE_STATE")).unwrap_or("unknown")
}

/// The build date (RFC 3339), or the Unix epoch as upstream reports when unset.
pub fn build_date() -> &'static str {
    non_empty(option_env!("CORTEN_BUILD_DATE")).unwrap_or("1970-01-01T00:00:00Z")
}

/// The toolchain version in upstream's `goVersion` slot, e.g. `rust1.95.0`.
pub fn toolchain_version() -> String {
    format!("rust{}", env!("CORTEN_RUSTC_VERSION"))
}

/// The platform in Go's `GOOS/GOARCH` spelling, e.g. `linux/amd64`.
pub fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    format!("{}/{}", std::env::consts::OS, arch)
}

/// The version information of this binary.
pub fn info() -> VersionInfo {
    VersionInfo {
        major: MAJOR.to_string(),
        minor: MINOR.to_string(),
        emulation_major: MAJOR.to_string(),
        emulation_minor: MINOR.to_string(),
        min_compatibility_major: MAJOR.to_string(),
        min_compatibility_minor: MIN_COMPATIBILITY_MINOR.to_string(),
        git_version: GIT_VERSION.to_string(),
        git_commit: git_commit().to_string(),
        git_tree_state: git_tree_state().to_string(),
        build_date: build_date().to_string(),
        go_version: toolchain_version(),
        compiler: "rustc".to_string(),
        platform: platform(),
    }
}

/// The JSON body of `GET /version`, pretty-printed like upstream.
pub fn version_json() -> String {
    // Serializing a struct of strings cannot fail.
    serde_json::to_string_pretty(&info()).unwrap_or_default()
}

/// The text printed by `--version`: `Kubernetes v1.33.0-corten.0.1.0`.
pub fn version_line() -> String {
    format!("Kubernetes {GIT_VERSION}")
}

fn non_empty(value: Option<&'static str>) -> Option<&'static str> {
    value.filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_version_is_upstream_version_with_corten_suffix() {
        assert!(GIT_VERSION.starts_with(KUBERNETES_VERSION));
        assert_eq!(
            GIT_VERSION,
            format!("v1.33.0-corten.{}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn version_json_has_upstream_keys_in_order() {
        let json = version_json();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "major",
                "minor",
                "emulationMajor",
                "emulationMinor",
                "minCompatibilityMajor",
                "minCompatibilityMinor",
                "gitVersion",
                "gitCommit",
                "gitTreeState",
                "buildDate",
                "goVersion",
                "compiler",
                "platform"
            ]
        );
        assert_eq!(value["major"], "1");
        assert_eq!(value["minor"], "33");
        assert_eq!(value["gitVersion"], GIT_VERSION);
        assert_eq!(value["compiler"], "rustc");
        assert!(value["goVersion"].as_str().unwrap().starts_with("rust"));
        assert!(value["platform"].as_str().unwrap().contains('/'));
    }

    #[test]
    fn platform_uses_go_arch_names() {
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            assert_eq!(platform(), "linux/amd64");
        }
    }
}
