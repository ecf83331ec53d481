//! A real containerd for tests: its own root, state, socket, CNI bridge and
//! pod subnet under a temporary directory, the local images imported, and
//! everything torn down afterwards (sandboxes stopped and removed, containerd
//! stopped, the bridge deleted), also when the test fails.
//!
//! Concurrent test processes get distinct bridges and subnets
//! (`10.X.Y.0/24`), reserved through lock files in `/tmp/corten-cni-subnets`.
//!
//! [`TestContainerd::start_in_netns`] runs containerd inside a network
//! namespace the test created (a simulated node): the CNI bridge and the
//! pods' veths then live there, not in the host's namespace.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::containerd::{CniNetwork, ContainerdConfig, write_cni_config};
use crate::local_images::{self, Sources};
use crate::remote::RemoteRuntime;
use crate::service::RuntimeService;

/// Where subnet reservations live.
const SUBNET_LOCK_DIR: &str = "/tmp/corten-cni-subnets";

/// Why a test containerd could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not running as root: containerd, runc, CNI and cgroups need it.
    #[error("the real-containerd tests need root (containerd, runc, CNI and cgroups)")]
    NotRoot,
    /// A required program is missing.
    #[error(
        "{0} not found; install it with `make deps` (Debian: containerd runc containernetworking-plugins busybox-static)"
    )]
    Missing(String),
    /// File system or process error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// containerd did not answer in time.
    #[error("containerd did not become ready: {0}\n--- containerd log ---\n{1}")]
    NotReady(String, String),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// Whether this process runs as root (containerd, runc, CNI and cgroups need it).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Whether this machine can run the real-containerd tests.
pub fn available() -> Result<(), Error> {
    if !is_root() {
        return Err(Error::NotRoot);
    }
    for program in [
        "/usr/bin/containerd",
        "/usr/bin/ctr",
        local_images::DEFAULT_BUSYBOX,
    ] {
        if !Path::new(program).exists() {
            return Err(Error::Missing(program.into()));
        }
    }
    if !Path::new("/usr/lib/cni/bridge").exists() {
        return Err(Error::Missing("/usr/lib/cni/bridge".into()));
    }
    if crate::testing::find("runc").is_none() {
        return Err(Error::Missing("runc".into()));
    }
    Ok(())
}

fn find(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/sbin".into(), "/usr/bin".into(), "/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A reserved `/24` and bridge name; released on drop.
#[derive(Debug)]
struct SubnetLease {
    lock: PathBuf,
    subnet: String,
    bridge: String,
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

impl SubnetLease {
    fn acquire() -> Result<Self, Error> {
        std::fs::create_dir_all(SUBNET_LOCK_DIR).map_err(io("creating the subnet lock dir"))?;
        let me = std::process::id();
        for n in 0..6400u32 {
            let index = (me.wrapping_mul(7919).wrapping_add(n)) % 6400;
            let (x, y) = (150 + index / 256, index % 256);
            let lock = Path::new(SUBNET_LOCK_DIR).join(format!("{x}.{y}"));
            let taken = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock);
            match taken {
                Ok(_) => {}
                Err(_) => {
                    // Stale lock of a dead process: take it over.
                    let owner = std::fs::read_to_string(&lock)
                        .ok()
                        .and_then(|s| s.trim().parse::<u32>().ok());
                    if owner.is_some_and(pid_alive) || owner.is_none() {
                        continue;
                    }
                }
            }
            std::fs::write(&lock, me.to_string()).map_err(io("writing the subnet lock"))?;
            return Ok(Self {
                lock,
                subnet: format!("10.{x}.{y}.0/24"),
                bridge: format!("ctst{x}x{y}"),
            });
        }
        Err(Error::Io {
            context: "reserving a test subnet".into(),
            source: std::io::Error::other("all test subnets are taken"),
        })
    }
}

impl Drop for SubnetLease {
    fn drop(&mut self) {
        // Deleting the bridge also drops its address and routes.
        let _ = Command::new("ip")
            .args(["link", "delete", &self.bridge])
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_file(&self.lock);
    }
}

/// A containerd run by a test.
#[derive(Debug)]
pub struct TestContainerd {
    /// Its configuration (socket, root, state, CNI dirs).
    pub config: ContainerdConfig,
    /// The pod subnet of its CNI bridge.
    pub subnet: String,
    /// The CNI bridge.
    pub bridge: String,
    /// A cgroup parent private to this instance (`/corten-test-<pid>-<n>`);
    /// pods should live below it. Removed from every hierarchy on shutdown.
    pub cgroup_root: String,
    dir: PathBuf,
    child: Option<Child>,
    lease: Option<SubnetLease>,
    _tempdir: Option<tempfile_guard::Guard>,
}

mod tempfile_guard {
    /// Removes a directory tree on drop.
    #[derive(Debug)]
    pub struct Guard(pub std::path::PathBuf);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl TestContainerd {
    /// Starts containerd in a fresh directory under `/tmp` and imports the
    /// local images (`testserver`: the `corten-testserver` binary, if any).
    pub async fn start(testserver: Option<&Path>) -> Result<Self, Error> {
        Self::start_in_netns(testserver, None).await
    }

    /// Like [`TestContainerd::start`], with containerd (and so the CNI
    /// plugins it runs) in the named network namespace (`ip netns add`).
    /// Only the network namespace is entered: mounts stay shared with the
    /// host, so the kubelet's volume mounts are visible to containers.
    pub async fn start_in_netns(
        testserver: Option<&Path>,
        netns: Option<&str>,
    ) -> Result<Self, Error> {
        available()?;
        let dir = std::env::temp_dir().join(format!(
            "corten-containerd-{}-{}",
            std::process::id(),
            crate::now_nanos() % 1_000_000_000
        ));
        std::fs::create_dir_all(&dir).map_err(io("creating the containerd dir"))?;
        let guard = tempfile_guard::Guard(dir.clone());
        let lease = SubnetLease::acquire()?;
        let config = ContainerdConfig::under(&dir);
        write_cni_config(
            &config.cni_conf_dir,
            &CniNetwork {
                name: "corten-test".into(),
                bridge: lease.bridge.clone(),
                subnet: lease.subnet.clone(),
                ip_masq: false,
                ipam_data_dir: Some(dir.join("ipam")),
            },
        )
        .map_err(io("writing the CNI config"))?;
        let config_file = dir.join("config.toml");
        std::fs::write(&config_file, config.render()).map_err(io("writing config.toml"))?;
        let log = std::fs::File::create(dir.join("containerd.log"))
            .map_err(io("creating containerd.log"))?;
        let log2 = log.try_clone().map_err(io("duplicating containerd.log"))?;
        let mut command = match netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{ns}"))
                    .arg("/usr/bin/containerd");
                c
            }
            None => Command::new("/usr/bin/containerd"),
        };
        // nsenter execs containerd (no --fork), so the child's pid is
        // containerd's.
        let child = command
            .args(config.args(&config_file))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(io("starting containerd"))?;
        let mut me = Self {
            cgroup_root: format!(
                "/corten-test-{}-{}",
                std::process::id(),
                crate::now_nanos() % 1_000_000
            ),
            subnet: lease.subnet.clone(),
            bridge: lease.bridge.clone(),
            config,
            dir,
            child: Some(child),
            lease: Some(lease),
            _tempdir: Some(guard),
        };
        me.wait_ready().await?;
        me.import_images(testserver)?;
        Ok(me)
    }

    /// `unix://<socket>`, for `--container-runtime-endpoint`.
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.config.address.display())
    }

    /// A CRI client for this containerd.
    pub fn runtime(&self) -> RemoteRuntime {
        // The endpoint is always a unix path here.
        RemoteRuntime::new(&self.endpoint(), Duration::from_secs(60))
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    /// containerd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    /// The directory holding everything of this instance.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    async fn wait_ready(&mut self) -> Result<(), Error> {
        let runtime = self.runtime();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(Error::NotReady(
                    format!("containerd exited: {status}"),
                    self.log(),
                ));
            }
            match tokio::time::timeout(Duration::from_secs(2), runtime.status()).await {
                Ok(Ok(status)) if status.conditions.iter().all(|c| c.status) => return Ok(()),
                Ok(Ok(status)) if Instant::now() > deadline => {
                    return Err(Error::NotReady(format!("{status:?}"), self.log()));
                }
                Ok(Err(err)) if Instant::now() > deadline => {
                    return Err(Error::NotReady(err.to_string(), self.log()));
                }
                Err(_) if Instant::now() > deadline => {
                    return Err(Error::NotReady("status timed out".into(), self.log()));
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    fn import_images(&self, testserver: Option<&Path>) -> Result<(), Error> {
        let images = self.dir.join("images");
        let built = local_images::build_all(
            &Sources {
                busybox: PathBuf::from(local_images::DEFAULT_BUSYBOX),
                testserver: testserver.map(Path::to_path_buf),
            },
            &images,
        )
        .map_err(io("building the local images"))?;
        for image in built {
            local_images::import(Path::new("/usr/bin/ctr"), &self.config.address, &image.path)
                .map_err(io(format!("importing {}", image.name)))?;
        }
        Ok(())
    }

    /// Stops and removes every sandbox (releasing pod IPs and netns), then
    /// stops containerd. Also done on drop; call it to see errors.
    pub async fn shutdown(mut self) {
        self.cleanup().await;
    }

    async fn cleanup(&mut self) {
        if self.child.is_none() {
            return;
        }
        let runtime = self.runtime();
        let remove_all = async {
            if let Ok(sandboxes) = runtime.list_pod_sandbox(None).await {
                for sandbox in sandboxes {
                    if let Err(err) = runtime.stop_pod_sandbox(&sandbox.id).await {
                        eprintln!("test containerd: stopping sandbox {}: {err}", sandbox.id);
                    }
                    let _ = runtime.remove_pod_sandbox(&sandbox.id).await;
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(60), remove_all)
            .await
            .is_err()
        {
            eprintln!("test containerd: removing sandboxes timed out");
        }
        self.stop_process();
    }

    fn stop_process(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        // Unmount whatever is left below our directory (deepest first).
        if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
            let prefix = self.dir.display().to_string();
            let mut points: Vec<&str> = mounts
                .lines()
                .filter_map(|l| l.split_whitespace().nth(1))
                .filter(|p| p.starts_with(&prefix))
                .collect();
            points.sort_by_key(|p| std::cmp::Reverse(p.len()));
            for point in points {
                let _ = Command::new("umount").args(["-l", point]).status();
            }
        }
        drop(self.lease.take());
        remove_cgroups(&self.cgroup_root);
    }
}

/// Removes the (empty) cgroup `root` and everything below it from every
/// cgroup v1 hierarchy and the v2 tree.
fn remove_cgroups(root: &str) {
    fn remove_tree(dir: &Path) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    remove_tree(&entry.path());
                }
            }
        }
        let _ = std::fs::remove_dir(dir);
    }
    let relative = root.trim_start_matches('/');
    if relative.is_empty() {
        return;
    }
    let base = Path::new("/sys/fs/cgroup");
    remove_tree(&base.join(relative));
    if let Ok(hierarchies) = std::fs::read_dir(base) {
        for hierarchy in hierarchies.flatten() {
            remove_tree(&hierarchy.path().join(relative));
        }
    }
}

impl Drop for TestContainerd {
    fn drop(&mut self) {
        if self.child.is_none() {
            return;
        }
        // Drop cannot await: clean up on a private runtime in another thread
        // (this may run inside a tokio runtime).
        let endpoint = self.endpoint();
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(runtime) = RemoteRuntime::new(&endpoint, Duration::from_secs(30)) else {
                    return;
                };
                let remove_all = async {
                    if let Ok(sandboxes) = runtime.list_pod_sandbox(None).await {
                        for sandbox in sandboxes {
                            let _ = runtime.stop_pod_sandbox(&sandbox.id).await;
                            let _ = runtime.remove_pod_sandbox(&sandbox.id).await;
                        }
                    }
                };
                let _ = tokio::time::timeout(Duration::from_secs(60), remove_all).await;
            });
        });
        let _ = cleanup.join();
        self.stop_process();
    }
}
