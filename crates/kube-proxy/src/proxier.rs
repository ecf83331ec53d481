//! The proxier interface and its nftables and iptables implementations.
//!
//! A [`Proxier`] turns a [`ProxyState`] into kernel rules. Both real
//! backends compute the whole ruleset (see [`crate::nftables`] and
//! [`crate::iptables`]) but, like upstream, write only what changed since
//! the last successful sync (a *partial* sync); a *full* sync rewrites
//! everything on the first sync, after a failure, when our rules went
//! missing, and every [`FULL_SYNC_PERIOD`]. Either is one atomic transaction
//! through a [`CommandRunner`]; if it fails nothing changes and the next
//! sync is a full one. [`FakeProxier`] records states for tests of the sync
//! loop.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::conntrack;
use crate::iptables;
use crate::metrics;
use crate::model::{Changes, IpFamily, ProxyState};
use crate::nftables::{self, transaction};
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
    /// Makes the kernel rules match `state`, comparing every Service with
    /// what the previous sync wrote.
    fn sync(&mut self, state: &ProxyState) -> Result<(), SyncError> {
        self.sync_changes(state, &Changes::All)
    }
    /// Makes the kernel rules match `state`, given that only the Services
    /// in `changes` differ from the state of the previous successful sync
    /// (the sync loop knows from the change tracker): a partial sync then
    /// looks at those alone.
    fn sync_changes(&mut self, state: &ProxyState, changes: &Changes) -> Result<(), SyncError>;
    /// Removes every rule and chain this proxier created.
    fn cleanup(&mut self) -> Result<(), SyncError>;
}

/// How often a full sync runs although partial syncs succeed (upstream's
/// `FullSyncPeriod`): it repairs rules someone else changed.
pub const FULL_SYNC_PERIOD: Duration = Duration::from_secs(3600);

/// Shared by both real backends.
struct Common<R> {
    runner: R,
    config: RuleConfig,
    families: Vec<IpFamily>,
    /// The last state applied successfully (for conntrack cleanup).
    applied: Option<ProxyState>,
    /// When the last full sync succeeded; `None`: the next sync is full.
    last_full: Option<Instant>,
}

impl<R: CommandRunner> Common<R> {
    fn new(runner: R, config: RuleConfig, families: Vec<IpFamily>) -> Self {
        Common {
            runner,
            config,
            families,
            applied: None,
            last_full: None,
        }
    }

    fn full_sync_due(&self) -> bool {
        self.last_full
            .is_none_or(|at| at.elapsed() >= FULL_SYNC_PERIOD)
    }

    /// Bookkeeping of a successful sync that started at `started`.
    fn synced(&mut self, state: &ProxyState, changes: &Changes, full: bool, started: Instant) {
        let elapsed = started.elapsed().as_secs_f64();
        if full {
            self.last_full = Some(started);
            metrics::SYNC_FULL_DURATION.observe(elapsed);
        } else {
            metrics::SYNC_PARTIAL_DURATION.observe(elapsed);
        }
        self.after_success(state, changes);
    }

    /// Deletes stale UDP conntrack entries and remembers `state`. With a
    /// list of changed Services only those are compared and copied.
    fn after_success(&mut self, state: &ProxyState, changes: &Changes) {
        let deletions = match (&mut self.applied, changes) {
            (Some(applied), Changes::Services(keys)) => {
                let mut old = ProxyState {
                    node: applied.node.clone(),
                    ..ProxyState::default()
                };
                let mut new = ProxyState {
                    node: state.node.clone(),
                    ..ProxyState::default()
                };
                for key in keys {
                    let names: Vec<_> = applied.ports_of(key).map(|(n, _)| n.clone()).collect();
                    for name in names {
                        if let Some(port) = applied.services.remove(&name) {
                            old.services.insert(name.clone(), port);
                        }
                        if let Some(eps) = applied.endpoints.remove(&name) {
                            old.endpoints.insert(name, eps);
                        }
                    }
                    for (name, port) in state.ports_of(key) {
                        new.services.insert(name.clone(), port.clone());
                        let eps = state.endpoints_of(name).to_vec();
                        new.endpoints.insert(name.clone(), eps);
                    }
                }
                applied
                    .services
                    .extend(new.services.iter().map(|(n, p)| (n.clone(), p.clone())));
                applied
                    .endpoints
                    .extend(new.endpoints.iter().map(|(n, e)| (n.clone(), e.clone())));
                applied.node = state.node.clone();
                conntrack::stale_udp_deletions(&old, &new)
            }
            (applied, _) => {
                let deletions = applied
                    .as_ref()
                    .map(|old| conntrack::stale_udp_deletions(old, state))
                    .unwrap_or_default();
                *applied = Some(state.clone());
                deletions
            }
        };
        if !deletions.is_empty() {
            conntrack::run_deletions(&self.runner, &deletions);
        }
    }
}

/// The nftables backend.
pub struct NftablesProxier<R> {
    common: Common<R>,
    /// What the last successful sync wrote, per family.
    written: BTreeMap<IpFamily, nftables::Ruleset>,
}

impl<R: CommandRunner> NftablesProxier<R> {
    /// A proxier programming `families` through `runner`.
    pub fn new(runner: R, config: RuleConfig, families: Vec<IpFamily>) -> Self {
        NftablesProxier {
            common: Common::new(runner, config, families),
            written: BTreeMap::new(),
        }
    }

    /// The runner (tests inspect fakes through it).
    pub fn runner(&self) -> &R {
        &self.common.runner
    }

    /// What the last successful sync wrote for `family` (tests compare it
    /// with a ruleset rendered from scratch).
    pub fn written(&self, family: IpFamily) -> Option<&nftables::Ruleset> {
        self.written.get(&family)
    }

    /// Whether our table exists (someone may have run `nft flush ruleset`).
    /// Asks for one small set: nft answers that without reading the whole
    /// ruleset, unlike `list tables`, which takes half a second at 2,000
    /// Services.
    fn table_present(&self, family: IpFamily) -> bool {
        let fam = nftables::family_keyword(family);
        let args = ["list", "set", fam, nftables::TABLE, "cluster-ips"];
        self.common.runner.run("nft", &args, None).is_ok()
    }

    /// The chains, sets and maps our table has now (a full sync deletes
    /// those it no longer needs). Listed kind by kind: `nft list table`
    /// prints every rule and takes 13 s at 10,000 Services, the three
    /// listings together about one.
    fn existing(&self, family: IpFamily) -> nftables::Existing {
        let fam = nftables::family_keyword(family);
        let mut existing = nftables::Existing::default();
        for kind in ["chains", "sets", "maps"] {
            // A missing table simply means nothing to delete.
            if let Ok(listing) = self.common.runner.run("nft", &["list", kind, fam], None) {
                existing.extend(nftables::Existing::parse(&listing));
            }
        }
        existing
    }

    /// Writes `state`, fully or only what changed (only looking at the
    /// Services in `changes`); returns whether it wrote fully in some
    /// family.
    fn write(
        &mut self,
        state: &ProxyState,
        full: bool,
        changes: &Changes,
    ) -> Result<bool, SyncError> {
        let mut wrote_fully = false;
        for family in self.common.families.clone() {
            let config = &self.common.config;
            let (next, delta) = match self.written.remove(&family) {
                Some(mut prev) if !full => {
                    let script = match changes {
                        // O(changed Services): the rest of `prev` stays.
                        Changes::Services(keys) if prev.node == state.node => {
                            let parts = nftables::update_services(&mut prev, state, config, keys);
                            transaction::partial_services(&prev, &parts)
                        }
                        _ => {
                            let next =
                                nftables::ruleset_reusing(state, config, family, Some(&prev));
                            let script = transaction::partial(&prev, &next);
                            prev = next;
                            script
                        }
                    };
                    (prev, Some(script))
                }
                prev => (
                    nftables::ruleset_reusing(state, config, family, prev.as_ref()),
                    None,
                ),
            };
            let script = match delta {
                // A non-empty partial transaction fails by itself when the
                // table went missing; an empty one needs a look.
                Some(delta) if !delta.is_empty() || self.table_present(family) => delta,
                _ => {
                    wrote_fully = true;
                    transaction::full(&next, &self.existing(family))
                }
            };
            if !script.is_empty() {
                self.common
                    .runner
                    .run("nft", &["-f", "-"], Some(&script))
                    .map_err(|source| SyncError::Apply { family, source })?;
            }
            self.written.insert(family, next);
        }
        Ok(wrote_fully)
    }
}

impl<R: CommandRunner> Proxier for NftablesProxier<R> {
    fn sync_changes(&mut self, state: &ProxyState, changes: &Changes) -> Result<(), SyncError> {
        let started = Instant::now();
        let due = self.common.full_sync_due()
            || self
                .common
                .families
                .iter()
                .any(|f| !self.written.contains_key(f));
        let result = match self.write(state, due, changes) {
            Err(err) if !due => {
                // The kernel holds something else than we think (our table
                // was flushed or changed): rewrite it whole right away.
                tracing::warn!(error = %err, "partial nftables sync failed; doing a full sync");
                self.written.clear();
                self.write(state, true, &Changes::All)
            }
            other => other,
        };
        match result {
            Ok(wrote_fully) => {
                self.common
                    .synced(state, changes, due || wrote_fully, started);
                Ok(())
            }
            Err(err) => {
                self.written.clear();
                self.common.last_full = None;
                Err(err)
            }
        }
    }

    fn cleanup(&mut self) -> Result<(), SyncError> {
        self.written.clear();
        self.common.last_full = None;
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
    /// The per-Service chains the last successful sync wrote, per family.
    written: BTreeMap<IpFamily, iptables::Written>,
}

impl<R: CommandRunner> IptablesProxier<R> {
    /// A proxier programming `families` through `runner`.
    pub fn new(runner: R, config: RuleConfig, families: Vec<IpFamily>) -> Self {
        IptablesProxier {
            common: Common::new(runner, config, families),
            written: BTreeMap::new(),
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

    /// Whether our rules are still there: `KUBE-MARK-MASQ` holds its one
    /// rule unless someone flushed or deleted our chains.
    fn rules_present(&self, family: IpFamily) -> bool {
        let (tool, _, _) = Self::tools(family);
        let mark = self.common.config.mark();
        let args = [
            "-w",
            "-t",
            "nat",
            "-C",
            "KUBE-MARK-MASQ",
            "-j",
            "MARK",
            "--or-mark",
            &mark,
        ];
        self.common.runner.run(tool, &args, None).is_ok()
    }

    fn write(&mut self, state: &ProxyState, full: bool) -> Result<(), SyncError> {
        for family in self.common.families.clone() {
            let (tool, _, restore) = Self::tools(family);
            let rules = iptables::ruleset(state, &self.common.config, family);
            let input = match self.written.get(&family) {
                Some(prev) if !full => iptables::partial(prev, &rules),
                _ => iptables::full(&rules, &self.existing(family)),
            };
            self.common
                .runner
                .run(restore, &["-w", "--noflush", "--counters"], Some(&input))
                .map_err(|source| SyncError::Apply { family, source })?;
            self.written.insert(family, rules.written());
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
        Ok(())
    }
}

impl<R: CommandRunner> Proxier for IptablesProxier<R> {
    // The ruleset is computed whole (KUBE-SERVICES and the other fixed
    // chains are rewritten every sync, as upstream); `changes` only narrows
    // the conntrack cleanup.
    fn sync_changes(&mut self, state: &ProxyState, changes: &Changes) -> Result<(), SyncError> {
        let started = Instant::now();
        let full = self.common.full_sync_due()
            || self
                .common
                .families
                .iter()
                .any(|f| !self.written.contains_key(f) || !self.rules_present(*f));
        if let Err(err) = self.write(state, full) {
            self.written.clear();
            self.common.last_full = None;
            return Err(err);
        }
        self.common.synced(state, changes, full, started);
        Ok(())
    }

    fn cleanup(&mut self) -> Result<(), SyncError> {
        self.written.clear();
        self.common.last_full = None;
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
    fn sync_changes(&mut self, state: &ProxyState, _changes: &Changes) -> Result<(), SyncError> {
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
