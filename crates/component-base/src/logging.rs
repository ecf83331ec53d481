//! Logging flags and the tracing subscriber behind them.
//!
//! Upstream daemons log through klog and take `--logging-format` (text or json)
//! and `-v/--v` (verbosity 0..10). We keep those flags and map verbosity onto
//! tracing levels:
//!
//! | `-v` | our crates | dependencies |
//! | --- | --- | --- |
//! | 0-1 | info | info |
//! | 2-3 | debug | info |
//! | 4-5 | trace | info |
//! | 6-7 | trace | debug |
//! | 8+  | trace | trace |
//!
//! `RUST_LOG`, when set, overrides the mapping entirely (tracing's usual
//! `target=level` directives).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use tracing_subscriber::EnvFilter;

/// Targets (crate names as tracing sees them) that belong to Corten.
///
/// Directive targets match by prefix, so `corten` covers every `corten_*` crate.
const OUR_TARGETS: &[&str] = &[
    "corten",
    "kube_apiserver",
    "kube_scheduler",
    "kube_controller_manager",
    "kubelet",
    "kube_proxy",
    "apiserver_bench",
];

/// Set once this module has installed the global subscriber.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Log output format, upstream's `--logging-format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The logging flags shared by every daemon; `#[command(flatten)]` it into the
/// daemon's options.
#[derive(clap::Args, Clone, Debug)]
pub struct LoggingOptions {
    /// Sets the log format. Permitted formats: "text", "json".
    #[arg(long = "logging-format", value_enum, default_value_t = LogFormat::Text)]
    pub logging_format: LogFormat,

    /// number for the log level verbosity
    #[arg(short = 'v', long = "v", value_name = "int", default_value_t = 0)]
    pub verbosity: u32,
}

impl Default for LoggingOptions {
    fn default() -> Self {
        Self {
            logging_format: LogFormat::Text,
            verbosity: 0,
        }
    }
}

impl LoggingOptions {
    /// Installs the global tracing subscriber, writing to stderr.
    ///
    /// Only the first call installs anything; later calls return `Ok(())`. Fails
    /// when `RUST_LOG` holds invalid directives or when another subscriber was
    /// installed by someone else.
    pub fn init(&self, component: &'static str) -> anyhow::Result<()> {
        if INSTALLED.load(Ordering::SeqCst) {
            return Ok(());
        }
        let rust_log = std::env::var("RUST_LOG").ok();
        let directives = filter_directives(self.verbosity, rust_log.as_deref());
        let filter = EnvFilter::try_new(&directives).with_context(|| {
            format!("invalid log filter {directives:?} (check the RUST_LOG environment variable)")
        })?;
        let builder = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(filter);
        let installed = match self.logging_format {
            LogFormat::Text => builder
                .with_ansi(std::io::stderr().is_terminal())
                .try_init(),
            LogFormat::Json => builder.json().try_init(),
        };
        installed
            .map_err(|err| anyhow::anyhow!("installing the {component} log subscriber: {err}"))?;
        INSTALLED.store(true, Ordering::SeqCst);
        tracing::debug!(
            component,
            format = ?self.logging_format,
            verbosity = self.verbosity,
            "logging initialised"
        );
        Ok(())
    }
}

/// The tracing filter directives for a klog verbosity, unless `rust_log`
/// (the value of `RUST_LOG`) is set and non-empty, which wins.
pub fn filter_directives(verbosity: u32, rust_log: Option<&str>) -> String {
    if let Some(value) = rust_log.map(str::trim).filter(|v| !v.is_empty()) {
        return value.to_string();
    }
    let (ours, deps) = match verbosity {
        0..=1 => return "info".to_string(),
        2..=3 => ("debug", "info"),
        4..=5 => ("trace", "info"),
        6..=7 => ("trace", "debug"),
        _ => ("trace", "trace"),
    };
    let mut directives = deps.to_string();
    for target in OUR_TARGETS {
        directives.push(',');
        directives.push_str(target);
        directives.push('=');
        directives.push_str(ours);
    }
    directives
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        logging: LoggingOptions,
    }

    #[test]
    fn low_verbosity_is_info_everywhere() {
        assert_eq!(filter_directives(0, None), "info");
        assert_eq!(filter_directives(1, None), "info");
    }

    #[test]
    fn verbosity_two_and_three_debug_our_crates_only() {
        for v in [2, 3] {
            let d = filter_directives(v, None);
            assert!(d.starts_with("info,"), "{d}");
            assert!(d.contains("corten=debug"), "{d}");
            assert!(d.contains("kube_apiserver=debug"), "{d}");
            assert!(!d.contains("trace"), "{d}");
        }
    }

    #[test]
    fn high_verbosity_traces() {
        let d = filter_directives(4, None);
        assert!(d.starts_with("info,") && d.contains("corten=trace"), "{d}");
        let d = filter_directives(6, None);
        assert!(
            d.starts_with("debug,") && d.contains("kubelet=trace"),
            "{d}"
        );
        let d = filter_directives(10, None);
        assert!(d.starts_with("trace,"), "{d}");
        // Every produced filter must parse.
        for v in 0..=12 {
            EnvFilter::try_new(filter_directives(v, None)).unwrap();
        }
    }

    #[test]
    fn rust_log_overrides_verbosity() {
        assert_eq!(
            filter_directives(5, Some("warn,hyper=debug")),
            "warn,hyper=debug"
        );
        // Empty RUST_LOG means "not set".
        assert_eq!(filter_directives(0, Some("  ")), "info");
    }

    #[test]
    fn flags_parse_like_upstream() {
        let cli = Cli::try_parse_from(["x", "--logging-format=json", "--v=3"]).unwrap();
        assert_eq!(cli.logging.logging_format, LogFormat::Json);
        assert_eq!(cli.logging.verbosity, 3);
        let cli = Cli::try_parse_from(["x", "-v", "4"]).unwrap();
        assert_eq!(cli.logging.verbosity, 4);
        let cli = Cli::try_parse_from(["x", "-v=2"]).unwrap();
        assert_eq!(cli.logging.verbosity, 2);
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.logging.logging_format, LogFormat::Text);
        assert_eq!(cli.logging.verbosity, 0);
        assert!(Cli::try_parse_from(["x", "--logging-format=xml"]).is_err());
    }
}
