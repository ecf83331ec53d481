//! Starting daemons detached from the launcher, and finding and stopping them
//! again through pid files.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A daemon to run: program and arguments, plus where its output and pid go.
#[derive(Clone, Debug)]
pub struct ProcessSpec {
    /// Component name (`etcd`, `kube-apiserver`).
    pub name: String,
    /// Executable.
    pub program: PathBuf,
    /// Arguments.
    pub args: Vec<String>,
    /// stdout and stderr are appended here.
    pub log_file: PathBuf,
    /// The pid is written here.
    pub pid_file: PathBuf,
    /// Working directory.
    pub working_dir: PathBuf,
}

/// Starts the process in its own process group (so a Ctrl-C in the
/// launcher's terminal does not reach it and it outlives the launcher),
/// stdin from /dev/null, output appended to the log file. Writes the pid file.
pub fn spawn_detached(spec: &ProcessSpec) -> anyhow::Result<Child> {
    let mut log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log_file)
        .with_context(|| format!("opening {}", spec.log_file.display()))?;
    writeln!(
        log,
        "==== corten: starting {} at {}: {} {}",
        spec.name,
        jiff::Timestamp::now(),
        spec.program.display(),
        spec.args.join(" ")
    )
    .with_context(|| format!("writing {}", spec.log_file.display()))?;
    let stderr = log
        .try_clone()
        .with_context(|| format!("duplicating {}", spec.log_file.display()))?;
    let child = Command::new(&spec.program)
        .args(&spec.args)
        .current_dir(&spec.working_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(stderr))
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {} ({})", spec.name, spec.program.display()))?;
    tracing::debug!(
        component = %spec.name,
        pid = child.id(),
        program = %spec.program.display(),
        args = ?spec.args,
        "started"
    );
    fs::write(&spec.pid_file, format!("{}\n", child.id()))
        .with_context(|| format!("writing {}", spec.pid_file.display()))?;
    Ok(child)
}

/// Reads a pid file; `None` if it is missing or does not hold a pid.
pub fn read_pid(pid_file: &Path) -> Option<i32> {
    fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|pid| *pid > 0)
}

/// Whether `pid` is alive and runs `program`, so a recycled pid is never
/// mistaken for our daemon. Compares file names with argv[0], or argv[1]
/// for programs that are interpreter scripts (`python3 kube-apiserver ...`).
/// Zombies (empty command line) count as not running.
pub fn is_running(pid: i32, program: &Path) -> bool {
    match kill(Pid::from_raw(pid), None) {
        Ok(()) | Err(Errno::EPERM) => {}
        Err(_) => return false,
    }
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let Some(wanted) = program.file_name() else {
        return false;
    };
    cmdline
        .split(|b| *b == 0)
        .take(2)
        .filter_map(|arg| std::str::from_utf8(arg).ok())
        .any(|arg| Path::new(arg).file_name() == Some(wanted))
}

/// The pid of the component if its pid file names a live process running
/// `program`.
pub fn running_pid(pid_file: &Path, program: &Path) -> Option<i32> {
    read_pid(pid_file).filter(|pid| is_running(*pid, program))
}

/// How [`stop`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopOutcome {
    /// Exited after SIGTERM.
    Terminated,
    /// Needed SIGKILL.
    Killed,
    /// Was not running.
    NotRunning,
}

/// Sends SIGTERM, waits up to `grace` for the process to exit, then sends
/// SIGKILL and waits a little more.
pub fn stop(pid: i32, program: &Path, grace: Duration) -> anyhow::Result<StopOutcome> {
    if !is_running(pid, program) {
        return Ok(StopOutcome::NotRunning);
    }
    let target = Pid::from_raw(pid);
    match kill(target, Signal::SIGTERM) {
        Ok(()) => {}
        Err(Errno::ESRCH) => return Ok(StopOutcome::NotRunning),
        Err(err) => bail!("sending SIGTERM to pid {pid}: {err}"),
    }
    if wait_for_exit(pid, program, grace) {
        return Ok(StopOutcome::Terminated);
    }
    match kill(target, Signal::SIGKILL) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(err) => bail!("sending SIGKILL to pid {pid}: {err}"),
    }
    if wait_for_exit(pid, program, Duration::from_secs(5)) {
        Ok(StopOutcome::Killed)
    } else {
        bail!("pid {pid} is still running after SIGKILL")
    }
}

fn wait_for_exit(pid: i32, program: &Path, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if !is_running(pid, program) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last `lines` lines of a log file (for error reports).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = fs::File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    // Only the end matters; skip most of a large file.
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(64 * 1024);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    let skip = all.len().saturating_sub(lines);
    all[skip..].join("\n")
}

/// Finds an executable: next to the running `corten` binary first, then on
/// `PATH`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(name)));
    if let Some(path) = beside.filter(|p| is_executable(p)) {
        return Some(path);
    }
    find_in_path(name)
}

/// Looks a program up on `PATH`.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_files_and_liveness() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("x.pid");
        assert_eq!(read_pid(&pid_file), None);
        fs::write(&pid_file, "garbage").unwrap();
        assert_eq!(read_pid(&pid_file), None);

        // This test process is alive, but it is not "etcd".
        let me = i32::try_from(std::process::id()).unwrap();
        fs::write(&pid_file, format!("{me}\n")).unwrap();
        assert_eq!(read_pid(&pid_file), Some(me));
        assert!(!is_running(me, Path::new("/usr/bin/etcd")));
        assert_eq!(running_pid(&pid_file, Path::new("/usr/bin/etcd")), None);
        let exe = std::env::current_exe().unwrap();
        assert!(is_running(me, &exe));
        // Pid far above pid_max.
        assert!(!is_running(i32::MAX - 1, &exe));
    }

    #[test]
    fn spawn_and_stop_a_sleeping_process() {
        let Some(sleep) = find_in_path("sleep") else {
            eprintln!("skipping: no sleep binary");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let spec = ProcessSpec {
            name: "sleeper".to_string(),
            program: sleep.clone(),
            args: vec!["30".to_string()],
            log_file: dir.path().join("sleeper.log"),
            pid_file: dir.path().join("sleeper.pid"),
            working_dir: dir.path().to_path_buf(),
        };
        let mut child = spawn_detached(&spec).unwrap();
        let pid = read_pid(&spec.pid_file).unwrap();
        assert_eq!(u32::try_from(pid).unwrap(), child.id());
        // Between fork and exec the child still shows our command line.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !is_running(pid, &sleep) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(is_running(pid, &sleep));
        // Reap from another thread so the exited child does not linger as a zombie.
        let reaper = std::thread::spawn(move || child.wait());
        assert_eq!(
            stop(pid, &sleep, Duration::from_secs(5)).unwrap(),
            StopOutcome::Terminated
        );
        reaper.join().unwrap().unwrap();
        assert!(!is_running(pid, &sleep));
        assert_eq!(
            stop(pid, &sleep, Duration::from_secs(1)).unwrap(),
            StopOutcome::NotRunning
        );
        assert!(log_tail(&spec.log_file, 5).contains("corten: starting sleeper"));
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("a.log");
        let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        fs::write(&log, text).unwrap();
        assert_eq!(log_tail(&log, 3), "line 98\nline 99\nline 100");
        assert!(log_tail(&dir.path().join("missing.log"), 3).contains("no log"));
    }
}
