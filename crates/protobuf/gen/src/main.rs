//! Generates `crates/protobuf/src/schema_generated.rs`: the protobuf field table of every
//! Kubernetes message, with upstream JSON names.
//!
//! Inputs (both pinned by the Corten workspace's Cargo.lock, located with `cargo metadata`):
//! - k8s-pb: prost-generated structs carrying field numbers and wire types;
//! - k8s-openapi (module `v1_33`): serde impls carrying the exact JSON property names.
//!
//! Usage: `cargo run --manifest-path crates/protobuf/gen/Cargo.toml -- [OUTPUT]`, run from the
//! workspace root. Warnings about unmatched names go to stderr.

mod emit;
mod resolve;
mod sources;

use std::path::PathBuf;

fn main() {
    let gen_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let crate_dir = gen_dir.parent().expect("crates/protobuf").to_path_buf();
    let workspace = crate_dir
        .parent()
        .and_then(|p| p.parent())
        .expect("workspace root")
        .join("Cargo.toml");
    let output = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir.join("src/schema_generated.rs"));

    let dirs = sources::locate(&workspace);
    let openapi = sources::parse_openapi(&dirs.k8s_openapi);
    let (messages, resources) = sources::parse_k8s_pb(&dirs.k8s_pb);
    let model = resolve::build(messages, &resources, &openapi);
    for w in &model.warnings {
        eprintln!("warning: {w}");
    }
    let header = format!(
        "k8s-pb {} and k8s-openapi {} ({})",
        dirs.k8s_pb_version,
        dirs.k8s_openapi_version,
        sources::OPENAPI_VERSION_MODULE
    );
    std::fs::write(&output, emit::render(&model, &header)).expect("write output");
    eprintln!(
        "wrote {} ({} messages, {} kinds)",
        output.display(),
        model.messages.len(),
        model.kinds.len()
    );
}
