//! The proxier interface and its nftables and iptables implementations.
//!
//! A [`Proxier`] turns a [`ProxyState`] into kernel rules. Both real
//! backends render the full ruleset (see [`crate::nftables`] and
//! [`crate::iptables`]) and hand it to the kernel in one atomic transaction
//! through a [`CommandRunner`]; if the transaction fails nothing changes and
//! the sync is retried. [`FakeProxier`] records states for tests of the sync
//! loop.

use std::sync::{Arc, Mutex};

use crate::conntrack;
use crate::iptables;
use crate::model::{IpFamily, ProxyState};
use crate::nftables;
use crate::plan::RuleConfig;
use crate::runner::{CommandRunner, RunError};

/// Which backend (`--proxy-mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProxyMode {
    /// nftables (`nft -f -`).
    Nftables,
    /// iptables (`iptables-restore --noflush`).
    Iptables,
}

impl ProxyMode {
    /// The mode as upstream prints it (`/proxyMode`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyMode::Nftables => "nftables",
            ProxyMode::Iptables => "iptables",
        }
    }
}

/// A failed sync.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A netfilter tool failed (nothing was applied for that family).
    #[error("applying {family:?} rules: {source}")]
    Apply {
        /// The family whose transaction failed.
        family: IpFamily,
        /// Why.
        source: RunError,
    },
}

/// Programs service rules.
pub trait Proxier: Send {
    /// Makes the kernel rules match `state` (a full sync).
    fn sync(&mut self, state: &ProxyState) -> Result<(), SyncError>;
    /// Removes every rule and chain this proxier created.
    fn cleanup(&mut self) -> Result<(), SyncError>;
}

/// Shared by both real backends.
struct Common<R> {
    runner: R,
    config: RuleConfig,
    families: Vec<IpFamily>,
    /// The last state applied successfully (for conntrack cleanup).
    applied: Option<ProxyState>,
}

impl<R: CommandRunner> Common<R> {
    fn after_success(&mut self, state: &ProxyState) {
        if let Some(old) = &self.applied {
            let deletions = conntrack::stale_udp_deletions(old, state);
            if !deletions.is_empty() {
                conntrack::run_deletions(&self.runner, &deletions);
            }
        }
        self.applied = Some(state.clone());
    }
}

/// The nftables backend.
pub struct NftablesProxier<R> {
    common: Common<R>,
}

impl<R: CommandRunner> NftablesProxier<R> {
    /// A proxier programming `families` through `runner`.
    pub fn new(runner: R, config: RuleConfig, families: Vec<IpFamily>) -> Self {
        NftablesProxier {
            common: Common {
                runner,
                config,
                families,
                applied: None,
            },
        }
    }

    /// The runner (tests inspect fakes through it).
    pub fn runner(&self) -> &R {
        &self.common.runner
    }
}

impl<R: CommandRunner> Proxier for NftablesProxier<R> {
    fn sync(&mut self, state: &ProxyState) -> Result<(), SyncError> {
        for family in self.common.families.clone() {
            let fam = nftables::family_keyword(family);
            // A missing table simply means nothing to delete.
            let existing = self
                .common
                .runner
                .run("nft", &["list", "table", fam, nftables::TABLE], None)
                .map(|listing| nftables::Existing::parse(&listing))
                .unwrap_or_default();
            let script = nftables::render(state, &self.common.config, family, &existing);
            self.common
                .runner
                .run("nft", &["-f", "-"], Some(&script))
                .map_err(|source| SyncError::Apply { family, source })?;
        }
        self.common.after_success(state);
        Ok(())
    }

    fn cleanup(&mut self) -> Result<(), SyncError> {
        for family in self.common.families.clone() {
            self.common
                .runner
                .run("nft", &["-f", "-"], Some(&nftables::render_cleanup(family)))
                .map_err(|source| SyncError::Apply { family, source })?;
        }
        self.common.applied = None;
        Ok(())
    }
}

/// The iptables backend.
pub struct IptablesProxier<R> {
    common: Common<R>,
}

impl<R: CommandRunner> IptablesProxier<R> {
    /// A proxier programming `families` through `runner`.
    pub fn new(runner: R, config: RuleConfig, families: Vec<IpFamily>) -> Self {
        IptablesProxier {
            common: Common {
                runner,
                config,
                families,
                applied: None,
            },
        }
    }

    /// The runner.
    pub fn runner(&self) -> &R {
        &self.common.runner
    }

    fn tools(family: IpFamily) -> (&'static str, &'static str, &'static str) {
        match family {
            IpFamily::V4 => ("iptables", "iptables-save", "iptables-restore"),
            IpFamily::V6 => ("ip6tables", "ip6tables-save", "ip6tables-restore"),
        }
    }

    fn existing(&self, family: IpFamily) -> std::collections::BTreeSet<String> {
        let (_, save, _) = Self::tools(family);
        self.common
            .runner
            .run(save, &["-t", "nat"], None)
            .map(|out| iptables::existing_chains(&out))
            .unwrap_or_default()
    }
}

impl<R: CommandRunner> Proxier for IptablesProxier<R> {
    fn sync(&mut self, state: &ProxyState) -> Result<(), SyncError> {
        for family in self.common.families.clone() {
            let (tool, _, restore) = Self::tools(family);
            let existing = self.existing(family);
            let input = iptables::render(state, &self.common.config, family, &existing);
            self.common
                .runner
                .run(restore, &["-w", "--noflush", "--counters"], Some(&input))
                .map_err(|source| SyncError::Apply { family, source })?;
            // The chains exist now; make sure the built-in chains jump in.
            for (table, chain, rule) in iptables::JUMPS {
                let mut check = vec!["-w", "-t", table, "-C", chain];
                check.extend_from_slice(rule);
                if self.common.runner.run(tool, &check, None).is_ok() {
                    continue;
                }
                let mut insert = vec!["-w", "-t", table, "-I", chain];
                insert.extend_from_slice(rule);
                self.common
                    .runner
                    .run(tool, &insert, None)
                    .map_err(|source| SyncError::Apply { family, source })?;
            }
        }
        self.common.after_success(state);
        Ok(())
    }

    fn cleanup(&mut self) -> Result<(), SyncError> {
        for family in self.common.families.clone() {
            let (tool, _, restore) = Self::tools(family);
            for (table, chain, rule) in iptables::JUMPS {
                let mut delete = vec!["-w", "-t", table, "-D", chain];
                delete.extend_from_slice(rule);
                // Absent jumps are fine.
                let _ = self.common.runner.run(tool, &delete, None);
            }
            let existing = self.existing(family);
            self.common
                .runner
                .run(
                    restore,
                    &["-w", "--noflush"],
                    Some(&iptables::render_cleanup(&existing)),
                )
                .map_err(|source| SyncError::Apply { family, source })?;
        }
        self.common.applied = None;
        Ok(())
    }
}

/// Records every synced state; can be told to fail.
#[derive(Clone, Default)]
pub struct FakeProxier {
    /// States synced so far.
    pub synced: Arc<Mutex<Vec<ProxyState>>>,
    /// When true, syncs fail.
    pub fail: Arc<std::sync::atomic::AtomicBool>,
}

impl Proxier for FakeProxier {
    fn sync(&mut self, state: &ProxyState) -> Result<(), SyncError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(SyncError::Apply {
                family: IpFamily::V4,
                source: RunError::Failed {
                    program: "fake".into(),
                    code: Some(1),
                    stderr: "told to fail".into(),
                },
            });
        }
        if let Ok(mut synced) = self.synced.lock() {
            synced.push(state.clone());
        }
        Ok(())
    }

    fn cleanup(&mut self) -> Result<(), SyncError> {
        Ok(())
    }
}
