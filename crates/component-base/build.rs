//! Records build metadata for `corten_component_base::version`.
//!
//! The git commit, tree state and build date are taken from the environment
//! (`CORTEN_GIT_COMMIT`, `CORTEN_GIT_TREE_STATE`, `CORTEN_BUILD_DATE`) rather than
//! from `git` itself: asking git would rebuild this crate, and every daemon that
//! depends on it, after each commit.
use std::process::Command;

fn main() {
    for var in [
        "CORTEN_GIT_COMMIT",
        "CORTEN_GIT_TREE_STATE",
        "CORTEN_BUILD_DATE",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=build.rs");

    // `rustc 1.95.0 (59807616e 2026-04-14)` -> `1.95.0`
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=CORTEN_RUSTC_VERSION={version}");
}
