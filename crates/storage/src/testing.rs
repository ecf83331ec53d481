//! A real etcd for tests: [`EtcdServer::start`] runs `/usr/bin/etcd` (or
//! `$CORTEN_ETCD_BIN`) on free loopback ports with a fresh data directory
//! (on tmpfs when `/dev/shm` exists) and waits until it answers. Dropping
//! the handle kills etcd and removes the directory, also when the test
//! fails. When `setpriv` is available etcd additionally gets SIGKILL if
//! the thread that started it dies, so a killed test process leaves no
//! etcd behind.
//!
//! Available in this crate's tests and, with the `testing` feature, to
//! other crates' tests.

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::etcd::EtcdStore;

const DEFAULT_ETCD: &str = "/usr/bin/etcd";
const SETPRIV: &str = "/usr/bin/setpriv";
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running etcd owned by a test.
#[derive(Debug)]
pub struct EtcdServer {
    child: Option<Child>,
    dir: PathBuf,
    client_port: u16,
    peer_port: u16,
}

impl EtcdServer {
    /// Starts etcd and waits until it serves requests. Retries with other
    /// ports if a port was taken in the meantime.
    pub async fn start() -> io::Result<EtcdServer> {
        let mut last_error = io::Error::other("etcd did not start");
        for _ in 0..5 {
            let (client_port, peer_port) = free_ports()?;
            let dir = unique_dir()?;
            let mut server = EtcdServer {
                child: None,
                dir,
                client_port,
                peer_port,
            };
            match server.spawn_and_wait().await {
                Ok(()) => return Ok(server),
                // `server` is dropped here: process killed, dir removed.
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// The client URL, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// The client URLs (one).
    pub fn endpoints(&self) -> Vec<String> {
        vec![self.endpoint()]
    }

    /// The process id of the running etcd (for CPU and memory readings).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The directory holding etcd's data and log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A store on this etcd with the given key prefix.
    pub async fn store(&self, prefix: &str) -> crate::Result<EtcdStore> {
        EtcdStore::connect(&self.endpoints(), prefix).await
    }

    /// Kills etcd (SIGKILL) but keeps its data, e.g. to test reconnects.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills etcd if it runs and starts it again on the same ports and
    /// data.
    pub async fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.spawn_and_wait().await
    }

    async fn spawn_and_wait(&mut self) -> io::Result<()> {
        let etcd = std::env::var("CORTEN_ETCD_BIN").unwrap_or_else(|_| DEFAULT_ETCD.into());
        let client = self.endpoint();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("etcd.log"))?;
        let mut cmd = if Path::new(SETPRIV).exists() {
            let mut c = Command::new(SETPRIV);
            c.args(["--pdeathsig", "KILL", "--", &etcd]);
            c
        } else {
            Command::new(&etcd)
        };
        cmd.arg("--name")
            .arg("test")
            .arg("--data-dir")
            .arg(self.dir.join("data"))
            .arg("--listen-client-urls")
            .arg(&client)
            .arg("--advertise-client-urls")
            .arg(&client)
            .arg("--listen-peer-urls")
            .arg(&peer)
            .arg("--initial-advertise-peer-urls")
            .arg(&peer)
            .arg("--initial-cluster")
            .arg(format!("test={peer}"))
            .arg("--logger")
            .arg("zap")
            .arg("--log-level")
            .arg("warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        self.child = Some(cmd.spawn()?);

        let deadline = Instant::now() + READY_TIMEOUT;
        let mut store: Option<EtcdStore> = None;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                return Err(io::Error::other(format!(
                    "etcd exited with {status}: {}",
                    self.log_tail()
                )));
            }
            if store.is_none() {
                store = EtcdStore::connect(&self.endpoints(), "/ready").await.ok();
            }
            if let Some(s) = &store
                && s.healthy().await
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                let tail = self.log_tail();
                self.kill();
                return Err(io::Error::other(format!(
                    "etcd did not become ready: {tail}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("etcd.log")).unwrap_or_default();
        let start = log.len().saturating_sub(2_000);
        log.get(start..).unwrap_or_default().to_string()
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Two distinct free loopback ports.
fn free_ports() -> io::Result<(u16, u16)> {
    let a = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let b = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

/// A new empty directory for one etcd, on tmpfs if possible.
fn unique_dir() -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = base.join(format!(
        "corten-etcd-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
