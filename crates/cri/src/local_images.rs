//! The images a machine without a registry needs, built from local files:
//!
//! | image | contents |
//! | --- | --- |
//! | `registry.k8s.io/pause:3.10` | busybox + `/pause`, a shell loop that exits 0 on SIGTERM/SIGINT (the sandbox container) |
//! | `docker.io/library/busybox:latest` | `/bin/busybox` (busybox-static) and a symlink per applet; `Cmd ["sh"]` |
//! | `corten.local/testserver:latest` | busybox + `/testserver` (Corten's HTTP test server) and the shared libraries it needs |
//! | `corten.local/testserver:1.0` | the same image under a pinned tag, whose default `imagePullPolicy` is `IfNotPresent` (so `kubectl create deployment --image=...` works without a registry) |
//!
//! The three share the busybox layer, so containerd stores it once.
//! [`build_all`] writes one OCI layout tarball per image and [`import`] loads
//! a tarball into containerd's `k8s.io` namespace with `ctr`, where the CRI
//! plugin sees it.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::image_layout::{ImageConfig, Layer, OciImage};

/// The sandbox image pods run in (upstream 1.33's default).
pub const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";
/// busybox, as pods usually reference it (`busybox`, `busybox:latest`).
pub const BUSYBOX_IMAGE: &str = "docker.io/library/busybox:latest";
/// Corten's HTTP test server.
pub const TESTSERVER_IMAGE: &str = "corten.local/testserver:latest";
/// The test server under a pinned tag: pods get `imagePullPolicy:
/// IfNotPresent` by default, so kubectl's generators work without a registry.
pub const TESTSERVER_PINNED_IMAGE: &str = "corten.local/testserver:1.0";
/// Where Debian's `busybox-static` installs busybox.
pub const DEFAULT_BUSYBOX: &str = "/usr/bin/busybox";
/// The containerd namespace the CRI plugin uses.
pub const CRI_NAMESPACE: &str = "k8s.io";

const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The sandbox's init process: sleep until asked to stop, then exit 0.
/// A trapped signal interrupts `wait`, so SIGTERM ends it at once even as PID 1.
const PAUSE_SCRIPT: &str = "#!/bin/sh\n\
# Corten's pause: the pod sandbox's init. Exits 0 on SIGTERM or SIGINT.\n\
trap 'exit 0' TERM INT\n\
while :; do\n  sleep 3600 &\n  wait $!\ndone\n";

/// Where the inputs of the images are on this machine.
#[derive(Clone, Debug)]
pub struct Sources {
    /// A statically linked busybox (`/usr/bin/busybox` from busybox-static).
    pub busybox: PathBuf,
    /// The `corten-testserver` binary; `None` skips the test server image.
    pub testserver: Option<PathBuf>,
}

/// One image written by [`build_all`].
#[derive(Clone, Debug)]
pub struct BuiltImage {
    /// Full image reference.
    pub name: String,
    /// The OCI layout tarball.
    pub path: PathBuf,
    /// The image id (config digest) containerd will report.
    pub id: String,
}

/// Applet paths busybox provides (`bin/sh`, `usr/bin/wget`, ...).
fn applets(busybox: &Path) -> io::Result<Vec<String>> {
    let output = Command::new(busybox)
        .arg("--list-full")
        .output()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("running {} --list-full: {e}", busybox.display()),
            )
        })?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "{} --list-full failed ({}); is it busybox?",
            busybox.display(),
            output.status
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains(".."))
        .map(str::to_string)
        .collect())
}

/// The shared base layer: busybox with every applet linked, plus the few
/// files most images have (`/etc/passwd`, `/etc/group`, `/tmp`).
pub fn busybox_layer(busybox: &Path) -> io::Result<Vec<u8>> {
    let mut layer = Layer::new();
    layer.host_file("bin/busybox", busybox)?;
    for applet in applets(busybox)? {
        if applet != "bin/busybox" {
            layer.symlink(&applet, "/bin/busybox")?;
        }
    }
    layer.file(
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
    )?;
    layer.file("etc/group", 0o644, b"root:x:0:\nnogroup:x:65534:\n")?;
    layer.dir("tmp", 0o1777)?;
    layer.dir("root", 0o700)?;
    layer.dir("home", 0o755)?;
    layer.dir("var/tmp", 0o1777)?;
    layer.finish()
}

/// Shared libraries (and the dynamic loader) `binary` needs, from `ldd`.
/// Empty for a static binary.
pub fn shared_libraries(binary: &Path) -> io::Result<Vec<PathBuf>> {
    let output = Command::new("ldd").arg(binary).output()?;
    if !output.status.success() {
        // "not a dynamic executable": nothing to copy.
        return Ok(Vec::new());
    }
    let mut libs = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let line = line.trim();
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
        // "/lib64/ld-linux-x86-64.so.2 (0x...)"; vdso has no path.
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.trim(),
            None => line,
        };
        let path = path.split_whitespace().next().unwrap_or("");
        if path.starts_with('/') {
            libs.push(PathBuf::from(path));
        }
    }
    Ok(libs)
}

fn image(name: &str, config: ImageConfig, layers: Vec<Vec<u8>>) -> OciImage {
    OciImage {
        name: name.to_string(),
        config,
        layers,
    }
}

/// `registry.k8s.io/pause:3.10`.
pub fn pause_image(base: &[u8]) -> io::Result<OciImage> {
    let mut layer = Layer::new();
    layer.file("pause", 0o755, PAUSE_SCRIPT.as_bytes())?;
    Ok(image(
        PAUSE_IMAGE,
        ImageConfig {
            entrypoint: vec!["/pause".into()],
            env: vec![PATH_ENV.into()],
            working_dir: "/".into(),
            ..Default::default()
        },
        vec![base.to_vec(), layer.finish()?],
    ))
}

/// `docker.io/library/busybox:latest`.
pub fn busybox_image(base: &[u8]) -> OciImage {
    image(
        BUSYBOX_IMAGE,
        ImageConfig {
            cmd: vec!["sh".into()],
            env: vec![PATH_ENV.into()],
            ..Default::default()
        },
        vec![base.to_vec()],
    )
}

/// `corten.local/testserver:latest` from the `corten-testserver` binary.
pub fn testserver_image(base: &[u8], testserver: &Path) -> io::Result<OciImage> {
    let mut layer = Layer::new();
    layer.host_file("testserver", testserver)?;
    for lib in shared_libraries(testserver)? {
        let path = lib.display().to_string();
        layer.host_file(&path, &lib)?;
    }
    Ok(image(
        TESTSERVER_IMAGE,
        ImageConfig {
            entrypoint: vec!["/testserver".into()],
            env: vec![PATH_ENV.into()],
            working_dir: "/".into(),
            exposed_ports: vec!["8080/tcp".into()],
            ..Default::default()
        },
        vec![base.to_vec(), layer.finish()?],
    ))
}

/// File name for an image's tarball: `registry.k8s.io/pause:3.10` -> `pause-3.10.oci.tar`.
pub fn tarball_name(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    format!("{}.oci.tar", last.replace(':', "-"))
}

/// Builds every image into `out_dir` (created if missing).
pub fn build_all(sources: &Sources, out_dir: &Path) -> io::Result<Vec<BuiltImage>> {
    std::fs::create_dir_all(out_dir)?;
    let base = busybox_layer(&sources.busybox)?;
    let mut images = vec![pause_image(&base)?, busybox_image(&base)];
    if let Some(testserver) = &sources.testserver {
        let latest = testserver_image(&base, testserver)?;
        let mut pinned = latest.clone();
        pinned.name = TESTSERVER_PINNED_IMAGE.into();
        images.push(latest);
        images.push(pinned);
    }
    let mut built = Vec::new();
    for image in images {
        let path = out_dir.join(tarball_name(&image.name));
        let tmp = path.with_extension("tmp");
        let file = std::fs::File::create(&tmp)?;
        let written = image.write_layout_tar(io::BufWriter::new(file))?;
        std::fs::rename(&tmp, &path)?;
        built.push(BuiltImage {
            name: image.name.clone(),
            path,
            id: written.config_digest,
        });
    }
    Ok(built)
}

/// Imports an OCI layout tarball into containerd (`ctr -n k8s.io images import`),
/// unpacking it for the default snapshotter.
pub fn import(ctr: &Path, containerd_address: &Path, tarball: &Path) -> io::Result<()> {
    let output = Command::new(ctr)
        .arg("--address")
        .arg(containerd_address)
        .args(["--namespace", CRI_NAMESPACE, "images", "import"])
        .arg(tarball)
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("running {}: {e}", ctr.display())))?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "ctr images import {} failed ({}): {}{}",
            tarball.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim(),
            String::from_utf8_lossy(&output.stdout).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(tarball_name(PAUSE_IMAGE), "pause-3.10.oci.tar");
        assert_eq!(tarball_name(BUSYBOX_IMAGE), "busybox-latest.oci.tar");
        assert_eq!(tarball_name(TESTSERVER_IMAGE), "testserver-latest.oci.tar");
    }

    #[test]
    fn ldd_of_a_static_binary_is_empty() {
        let busybox = Path::new(DEFAULT_BUSYBOX);
        if !busybox.exists() {
            eprintln!("skipping: {DEFAULT_BUSYBOX} missing (apt-get install busybox-static)");
            return;
        }
        assert!(shared_libraries(busybox).unwrap().is_empty());
        let ls = shared_libraries(Path::new("/bin/ls")).unwrap();
        assert!(ls.iter().any(|l| l.ends_with("libc.so.6")), "{ls:?}");
    }

    #[test]
    fn builds_pause_and_busybox() {
        let busybox = Path::new(DEFAULT_BUSYBOX);
        if !busybox.exists() {
            eprintln!("skipping: {DEFAULT_BUSYBOX} missing (apt-get install busybox-static)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let built = build_all(
            &Sources {
                busybox: busybox.to_path_buf(),
                testserver: None,
            },
            dir.path(),
        )
        .unwrap();
        let names: Vec<&str> = built.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, [PAUSE_IMAGE, BUSYBOX_IMAGE]);
        for image in &built {
            assert!(image.path.is_file());
            assert!(image.id.starts_with("sha256:"));
        }
    }
}
