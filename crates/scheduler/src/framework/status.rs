//! The result of running a plugin at an extension point (upstream's
//! `framework.Status`): a code, the reasons behind it and the plugin that
//! produced it.
//!
//! Success is by far the most common status and costs nothing: it is a
//! `None` inside. Reasons are `Cow<'static, str>` so the usual fixed
//! messages ("Insufficient cpu") never allocate.

use std::borrow::Cow;
use std::fmt;

/// What a plugin decided (upstream's `framework.Code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// The plugin ran and the pod may go on.
    Success,
    /// An internal error, not a scheduling decision.
    Error,
    /// The pod does not fit now; preemption may help.
    Unschedulable,
    /// The pod does not fit and preemption cannot change that.
    UnschedulableAndUnresolvable,
    /// A permit plugin wants the pod to wait.
    Wait,
    /// The plugin has nothing to do for this pod: its later extension
    /// points are skipped for this cycle.
    Skip,
    /// The pod waits for something outside the scheduler (not an error,
    /// not a resource shortage).
    Pending,
}

impl Code {
    /// Upstream's name for the code (used in metrics labels).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Success => "Success",
            Code::Error => "Error",
            Code::Unschedulable => "Unschedulable",
            Code::UnschedulableAndUnresolvable => "UnschedulableAndUnresolvable",
            Code::Wait => "Wait",
            Code::Skip => "Skip",
            Code::Pending => "Pending",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    code: Code,
    reasons: Vec<Cow<'static, str>>,
    plugin: &'static str,
}

/// A plugin's verdict. `Status::default()` is success.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status(Option<Box<Inner>>);

impl Status {
    /// Success, with no reasons.
    pub const fn success() -> Self {
        Status(None)
    }

    /// A status with `code` and one reason.
    pub fn new(code: Code, reason: impl Into<Cow<'static, str>>) -> Self {
        Self::with_reasons(code, vec![reason.into()])
    }

    /// A status with `code` and several reasons (possibly none).
    pub fn with_reasons(code: Code, reasons: Vec<Cow<'static, str>>) -> Self {
        if code == Code::Success && reasons.is_empty() {
            return Status(None);
        }
        Status(Some(Box::new(Inner {
            code,
            reasons,
            plugin: "",
        })))
    }

    /// `Unschedulable` with one reason.
    pub fn unschedulable(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Code::Unschedulable, reason)
    }

    /// `UnschedulableAndUnresolvable` with one reason.
    pub fn unresolvable(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Code::UnschedulableAndUnresolvable, reason)
    }

    /// `Error` with a message.
    pub fn error(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Code::Error, message)
    }

    /// `Skip`, with no reasons.
    pub fn skip() -> Self {
        Self::with_reasons(Code::Skip, Vec::new())
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.0.as_ref().map_or(Code::Success, |inner| inner.code)
    }

    /// Whether the code is `Success`.
    pub fn is_success(&self) -> bool {
        self.code() == Code::Success
    }

    /// Whether the code is `Skip`.
    pub fn is_skip(&self) -> bool {
        self.code() == Code::Skip
    }

    /// Whether the pod was rejected (Unschedulable, UnschedulableAndUnresolvable
    /// or Pending), as opposed to an error.
    pub fn is_rejected(&self) -> bool {
        matches!(
            self.code(),
            Code::Unschedulable | Code::UnschedulableAndUnresolvable | Code::Pending
        )
    }

    /// The reasons, in order.
    pub fn reasons(&self) -> &[Cow<'static, str>] {
        self.0
            .as_ref()
            .map_or(&[], |inner| inner.reasons.as_slice())
    }

    /// The reasons joined by ", " (upstream `Status.Message()`).
    pub fn message(&self) -> String {
        self.reasons().join(", ")
    }

    /// The plugin that produced this status ("" when unknown).
    pub fn plugin(&self) -> &'static str {
        self.0.as_ref().map_or("", |inner| inner.plugin)
    }

    /// Records the plugin that produced this status (no-op on success).
    pub fn with_plugin(mut self, plugin: &'static str) -> Self {
        if let Some(inner) = self.0.as_mut() {
            inner.plugin = plugin;
        }
        self
    }

    /// Replaces the code, keeping reasons and plugin.
    pub fn with_code(self, code: Code) -> Self {
        let (reasons, plugin) = match self.0 {
            Some(inner) => (inner.reasons, inner.plugin),
            None => (Vec::new(), ""),
        };
        Status::with_reasons(code, reasons).with_plugin(plugin)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = self.message();
        if message.is_empty() {
            f.write_str(self.code().as_str())
        } else {
            write!(f, "{}: {message}", self.code().as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_is_free_and_default() {
        assert_eq!(Status::default(), Status::success());
        assert!(Status::success().is_success());
        assert_eq!(std::mem::size_of::<Status>(), std::mem::size_of::<usize>());
        assert_eq!(Status::success().with_plugin("X").plugin(), "");
    }

    #[test]
    fn messages_join_reasons() {
        let status = Status::with_reasons(
            Code::Unschedulable,
            vec!["Insufficient cpu".into(), "Insufficient memory".into()],
        )
        .with_plugin("NodeResourcesFit");
        assert_eq!(status.message(), "Insufficient cpu, Insufficient memory");
        assert_eq!(status.plugin(), "NodeResourcesFit");
        assert!(status.is_rejected());
        let unresolvable = status.with_code(Code::UnschedulableAndUnresolvable);
        assert_eq!(unresolvable.plugin(), "NodeResourcesFit");
        assert_eq!(unresolvable.reasons().len(), 2);
        assert!(!Status::error("boom").is_rejected());
        assert!(Status::skip().is_skip());
    }
}
