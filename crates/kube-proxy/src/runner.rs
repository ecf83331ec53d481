//! Running the netfilter tools (`nft`, `iptables-restore`, `conntrack`).
//!
//! The OS boundary of the proxy: backends only produce text and call a
//! [`CommandRunner`]. The real one runs the programs (optionally through a
//! prefix such as `ip netns exec <ns>`, which is how tests program a network
//! namespace of their own); [`FakeRunner`] records calls for unit tests.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The program could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// The program ran and exited unsuccessfully.
    #[error("{program} exited with {code:?}: {stderr}")]
    Failed {
        /// The program.
        program: String,
        /// Exit code (None when killed by a signal).
        code: Option<i32>,
        /// Its standard error.
        stderr: String,
    },
}

/// Runs a program with arguments and optional standard input; returns stdout.
pub trait CommandRunner: Send + Sync {
    /// Runs `program args...`, feeding `stdin`.
    fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, RunError>;
}

/// Runs the real programs, each behind `prefix` (e.g. `["ip", "netns",
/// "exec", "node1"]`), or directly when the prefix is empty.
#[derive(Clone, Debug, Default)]
pub struct ExecRunner {
    prefix: Vec<String>,
}

impl ExecRunner {
    /// A runner executing every command behind `prefix`.
    pub fn with_prefix(prefix: Vec<String>) -> ExecRunner {
        ExecRunner { prefix }
    }
}

impl CommandRunner for ExecRunner {
    fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, RunError> {
        let mut command = match self.prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(program);
                c
            }
            None => Command::new(program),
        };
        command
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawn_error = |source| RunError::Spawn {
            program: program.to_string(),
            source,
        };
        let mut child = command.spawn().map_err(spawn_error)?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A write error shows up as the program's failure below.
            let _ = pipe.write_all(input.as_bytes());
        }
        let output = child.wait_with_output().map_err(spawn_error)?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(RunError::Failed {
                program: program.to_string(),
                code: output.status.code(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            })
        }
    }
}

/// One recorded call of a [`FakeRunner`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The program.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// What was fed on stdin.
    pub stdin: Option<String>,
}

type Responder = Box<dyn Fn(&Call) -> Result<String, RunError> + Send + Sync>;

/// Records calls; answers with a configurable responder (default: success,
/// empty output).
#[derive(Clone)]
pub struct FakeRunner {
    calls: Arc<Mutex<Vec<Call>>>,
    responder: Arc<Responder>,
}

impl Default for FakeRunner {
    fn default() -> Self {
        FakeRunner::new(|_| Ok(String::new()))
    }
}

impl FakeRunner {
    /// A fake answering with `responder`.
    pub fn new(
        responder: impl Fn(&Call) -> Result<String, RunError> + Send + Sync + 'static,
    ) -> FakeRunner {
        FakeRunner {
            calls: Arc::new(Mutex::new(Vec::new())),
            responder: Arc::new(Box::new(responder)),
        }
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Forgets the recorded calls.
    pub fn clear(&self) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.clear();
        }
    }
}

impl CommandRunner for FakeRunner {
    fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, RunError> {
        let call = Call {
            program: program.to_string(),
            args: args.iter().map(|s| s.to_string()).collect(),
            stdin: stdin.map(str::to_string),
        };
        let result = (self.responder)(&call);
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
        result
    }
}
