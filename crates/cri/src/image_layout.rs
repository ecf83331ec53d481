//! OCI image layouts, built in memory and written as a tarball that
//! `ctr images import` (and `docker load`, `skopeo`) accept.
//!
//! ```text
//! oci-layout                     {"imageLayoutVersion":"1.0.0"}
//! index.json                     -> manifest (with the image name annotations)
//! blobs/sha256/<manifest>        -> config + layers
//! blobs/sha256/<config>
//! blobs/sha256/<layer>...        uncompressed tar layers
//! ```
//!
//! Everything is deterministic (fixed timestamps, owners and order), so
//! building the same image twice gives the same digests and a re-import is a
//! no-op for containerd.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::Path;

use serde_json::json;
use sha2::{Digest, Sha256};

const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MEDIA_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// One filesystem layer: a tar of files, directories and symlinks.
pub struct Layer {
    builder: tar::Builder<Vec<u8>>,
    dirs: BTreeSet<String>,
    entries: BTreeSet<String>,
}

impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layer")
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl Default for Layer {
    fn default() -> Self {
        Self::new()
    }
}

fn clean(path: &str) -> String {
    path.trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

impl Layer {
    /// An empty layer.
    pub fn new() -> Self {
        Self {
            builder: tar::Builder::new(Vec::new()),
            dirs: BTreeSet::new(),
            entries: BTreeSet::new(),
        }
    }

    /// Adds directory `path` (and its missing parents, 0755) with `mode`.
    pub fn dir(&mut self, path: &str, mode: u32) -> io::Result<&mut Self> {
        let path = clean(path);
        if path.is_empty() || self.dirs.contains(&path) {
            return Ok(self);
        }
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent, 0o755)?;
        }
        let mut h = header(tar::EntryType::Directory, mode, 0);
        self.builder
            .append_data(&mut h, format!("{path}/"), io::empty())?;
        self.dirs.insert(path.clone());
        self.entries.insert(path);
        Ok(self)
    }

    fn parent_of(&mut self, path: &str) -> io::Result<()> {
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent, 0o755)?;
        }
        Ok(())
    }

    /// Adds a regular file with `contents` (parents created). A path added
    /// twice keeps the first entry.
    pub fn file(&mut self, path: &str, mode: u32, contents: &[u8]) -> io::Result<&mut Self> {
        let path = clean(path);
        if !self.entries.insert(path.clone()) {
            return Ok(self);
        }
        self.parent_of(&path)?;
        let mut h = header(tar::EntryType::Regular, mode, contents.len() as u64);
        self.builder.append_data(&mut h, &path, contents)?;
        Ok(self)
    }

    /// Adds a copy of the host file `source` (following symlinks) at `path`,
    /// keeping its permission bits.
    pub fn host_file(&mut self, path: &str, source: &Path) -> io::Result<&mut Self> {
        use std::os::unix::fs::PermissionsExt;
        let contents = std::fs::read(source)
            .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", source.display())))?;
        let mode = std::fs::metadata(source)?.permissions().mode() & 0o7777;
        self.file(path, mode, &contents)
    }

    /// Adds a symbolic link `path` -> `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> io::Result<&mut Self> {
        let path = clean(path);
        if !self.entries.insert(path.clone()) {
            return Ok(self);
        }
        self.parent_of(&path)?;
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        self.builder.append_link(&mut h, &path, target)?;
        Ok(self)
    }

    /// Whether `path` was added.
    pub fn contains(&self, path: &str) -> bool {
        self.entries.contains(&clean(path))
    }

    /// The layer's tar bytes.
    pub fn finish(self) -> io::Result<Vec<u8>> {
        self.builder.into_inner()
    }
}

/// The runtime part of an image config (`config` in the OCI image config).
#[derive(Clone, Debug, Default)]
pub struct ImageConfig {
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `Env` (`NAME=value`).
    pub env: Vec<String>,
    /// `WorkingDir`.
    pub working_dir: String,
    /// `ExposedPorts` (`8080/tcp`).
    pub exposed_ports: Vec<String>,
    /// `StopSignal` (`SIGTERM` when empty).
    pub stop_signal: String,
}

/// A single-platform (linux/amd64 or the build host's) image.
#[derive(Clone, Debug)]
pub struct OciImage {
    /// Full reference the image is imported as (`docker.io/library/busybox:latest`).
    pub name: String,
    /// Runtime configuration.
    pub config: ImageConfig,
    /// Layer tarballs, bottom first.
    pub layers: Vec<Vec<u8>>,
}

/// What [`OciImage::write_layout_tar`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenImage {
    /// The manifest digest (`sha256:...`).
    pub manifest_digest: String,
    /// The config digest, which is the image id containerd reports.
    pub config_digest: String,
}

/// The OCI architecture name of the build host.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

fn to_json(value: &serde_json::Value) -> Vec<u8> {
    // Serialising a Value cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

impl OciImage {
    /// The image config blob.
    fn config_json(&self) -> Vec<u8> {
        let diff_ids: Vec<String> = self.layers.iter().map(|l| sha256_digest(l)).collect();
        let mut config = serde_json::Map::new();
        if !self.config.entrypoint.is_empty() {
            config.insert("Entrypoint".into(), json!(self.config.entrypoint));
        }
        if !self.config.cmd.is_empty() {
            config.insert("Cmd".into(), json!(self.config.cmd));
        }
        if !self.config.env.is_empty() {
            config.insert("Env".into(), json!(self.config.env));
        }
        if !self.config.working_dir.is_empty() {
            config.insert("WorkingDir".into(), json!(self.config.working_dir));
        }
        if !self.config.exposed_ports.is_empty() {
            let ports: serde_json::Map<String, serde_json::Value> = self
                .config
                .exposed_ports
                .iter()
                .map(|p| (p.clone(), json!({})))
                .collect();
            config.insert("ExposedPorts".into(), serde_json::Value::Object(ports));
        }
        if !self.config.stop_signal.is_empty() {
            config.insert("StopSignal".into(), json!(self.config.stop_signal));
        }
        let history: Vec<serde_json::Value> = self
            .layers
            .iter()
            .map(
                |_| json!({"created": "1970-01-01T00:00:00Z", "created_by": "corten images build"}),
            )
            .collect();
        to_json(&json!({
            "created": "1970-01-01T00:00:00Z",
            "architecture": host_architecture(),
            "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        }))
    }

    /// Writes the image as an OCI image-layout tarball to `out`.
    pub fn write_layout_tar(&self, out: impl Write) -> io::Result<WrittenImage> {
        let config = self.config_json();
        let config_digest = sha256_digest(&config);
        let layers: Vec<serde_json::Value> = self
            .layers
            .iter()
            .map(|l| json!({"mediaType": MEDIA_LAYER, "digest": sha256_digest(l), "size": l.len()}))
            .collect();
        let manifest = to_json(&json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": layers,
        }));
        let manifest_digest = sha256_digest(&manifest);
        let tag = self
            .name
            .rsplit_once(':')
            .filter(|(_, tag)| !tag.contains('/'))
            .map_or("latest", |(_, tag)| tag);
        let index = to_json(&json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_INDEX,
            "manifests": [{
                "mediaType": MEDIA_MANIFEST,
                "digest": manifest_digest,
                "size": manifest.len(),
                "platform": {"architecture": host_architecture(), "os": "linux"},
                "annotations": {
                    "io.containerd.image.name": self.name,
                    "org.opencontainers.image.ref.name": tag,
                },
            }],
        }));

        let mut tar = tar::Builder::new(out);
        let mut add = |path: &str, data: &[u8]| -> io::Result<()> {
            let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64);
            tar.append_data(&mut h, path, data)
        };
        add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        add("index.json", &index)?;
        let mut written = BTreeSet::new();
        let blobs = std::iter::once(&manifest)
            .chain(std::iter::once(&config))
            .chain(self.layers.iter());
        for blob in blobs {
            let digest = sha256_digest(blob);
            if written.insert(digest.clone()) {
                let hex = digest.trim_start_matches("sha256:");
                add(&format!("blobs/sha256/{hex}"), blob)?;
            }
        }
        tar.into_inner()?.flush()?;
        Ok(WrittenImage {
            manifest_digest,
            config_digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(tar_bytes: &[u8]) -> Vec<(String, tar::EntryType, Vec<u8>, Option<String>)> {
        let mut archive = tar::Archive::new(tar_bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = e.path().unwrap().display().to_string();
                let kind = e.header().entry_type();
                let link = e.link_name().unwrap().map(|l| l.display().to_string());
                let mut data = Vec::new();
                io::Read::read_to_end(&mut e, &mut data).unwrap();
                (path, kind, data, link)
            })
            .collect()
    }

    #[test]
    fn layer_has_parents_files_and_links() {
        let mut layer = Layer::new();
        layer.file("/bin/busybox", 0o755, b"elf").unwrap();
        layer.symlink("/bin/sh", "busybox").unwrap();
        layer.symlink("/usr/bin/wget", "/bin/busybox").unwrap();
        layer.dir("/tmp", 0o1777).unwrap();
        layer.file("/bin/busybox", 0o755, b"again").unwrap();
        assert!(layer.contains("bin/sh"));
        let bytes = layer.finish().unwrap();
        let got = entries(&bytes);
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "bin/",
                "bin/busybox",
                "bin/sh",
                "usr/",
                "usr/bin/",
                "usr/bin/wget",
                "tmp/"
            ]
        );
        assert_eq!(got[1].2, b"elf");
        assert_eq!(got[2].1, tar::EntryType::Symlink);
        assert_eq!(got[2].3.as_deref(), Some("busybox"));
    }

    #[test]
    fn layout_is_deterministic_and_complete() {
        let build = || {
            let mut layer = Layer::new();
            layer.file("hello", 0o644, b"world").unwrap();
            let image = OciImage {
                name: "docker.io/library/hello:1.0".into(),
                config: ImageConfig {
                    cmd: vec!["/hello".into()],
                    ..Default::default()
                },
                layers: vec![layer.finish().unwrap()],
            };
            let mut out = Vec::new();
            let written = image.write_layout_tar(&mut out).unwrap();
            (out, written)
        };
        let (a, written_a) = build();
        let (b, written_b) = build();
        assert_eq!(a, b);
        assert_eq!(written_a, written_b);
        let got = entries(&a);
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names[..2], ["oci-layout", "index.json"]);
        assert_eq!(names.len(), 5);
        let index: serde_json::Value = serde_json::from_slice(&got[1].2).unwrap();
        let manifest = &index["manifests"][0];
        assert_eq!(manifest["digest"], written_a.manifest_digest.as_str());
        assert_eq!(
            manifest["annotations"]["io.containerd.image.name"],
            "docker.io/library/hello:1.0"
        );
        assert_eq!(
            manifest["annotations"]["org.opencontainers.image.ref.name"],
            "1.0"
        );
        for (path, _, data, _) in &got[2..] {
            let hex = path.trim_start_matches("blobs/sha256/");
            assert_eq!(sha256_digest(data), format!("sha256:{hex}"));
        }
    }
}
