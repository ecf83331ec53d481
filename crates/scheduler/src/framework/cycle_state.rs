//! Per-cycle plugin state (upstream `framework.CycleState`), indexed by the
//! plugin's position in its profile.

use super::{StateBox, StateData};

/// The state of one scheduling cycle.
#[derive(Default)]
pub struct CycleState {
    pre_filter: Vec<Option<StateBox>>,
    pre_score: Vec<Option<StateBox>>,
    skip_filter: Vec<bool>,
    skip_score: Vec<bool>,
}

impl std::fmt::Debug for CycleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CycleState")
            .field("skip_filter", &self.skip_filter)
            .field("skip_score", &self.skip_score)
            .finish_non_exhaustive()
    }
}

impl Clone for CycleState {
    fn clone(&self) -> Self {
        let copy = |states: &Vec<Option<StateBox>>| {
            states
                .iter()
                .map(|s| s.as_ref().map(|s| StateData::clone_box(&**s)))
                .collect()
        };
        CycleState {
            pre_filter: copy(&self.pre_filter),
            pre_score: copy(&self.pre_score),
            skip_filter: self.skip_filter.clone(),
            skip_score: self.skip_score.clone(),
        }
    }
}

impl CycleState {
    /// State for a profile with `plugins` plugins.
    pub fn new(plugins: usize) -> Self {
        CycleState {
            pre_filter: (0..plugins).map(|_| None).collect(),
            pre_score: (0..plugins).map(|_| None).collect(),
            skip_filter: vec![false; plugins],
            skip_score: vec![false; plugins],
        }
    }

    /// The PreFilter state of plugin `index`.
    pub fn pre_filter(&self, index: usize) -> Option<&dyn StateData> {
        self.pre_filter.get(index).and_then(|s| s.as_deref())
    }

    /// Mutable PreFilter state of plugin `index`.
    pub fn pre_filter_mut(&mut self, index: usize) -> Option<&mut (dyn StateData + 'static)> {
        self.pre_filter
            .get_mut(index)
            .and_then(|s| s.as_deref_mut())
    }

    /// Stores the PreFilter state of plugin `index`.
    pub fn set_pre_filter(&mut self, index: usize, state: Option<StateBox>) {
        if let Some(slot) = self.pre_filter.get_mut(index) {
            *slot = state;
        }
    }

    /// The PreScore state of plugin `index`.
    pub fn pre_score(&self, index: usize) -> Option<&dyn StateData> {
        self.pre_score.get(index).and_then(|s| s.as_deref())
    }

    /// Stores the PreScore state of plugin `index`.
    pub fn set_pre_score(&mut self, index: usize, state: Option<StateBox>) {
        if let Some(slot) = self.pre_score.get_mut(index) {
            *slot = state;
        }
    }

    /// Whether plugin `index`'s Filter is skipped this cycle.
    pub fn skips_filter(&self, index: usize) -> bool {
        self.skip_filter.get(index).copied().unwrap_or(false)
    }

    /// Marks plugin `index`'s Filter as skipped.
    pub fn skip_filter(&mut self, index: usize) {
        if let Some(slot) = self.skip_filter.get_mut(index) {
            *slot = true;
        }
    }

    /// Whether plugin `index`'s Score is skipped this cycle.
    pub fn skips_score(&self, index: usize) -> bool {
        self.skip_score.get(index).copied().unwrap_or(false)
    }

    /// Marks plugin `index`'s Score as skipped.
    pub fn skip_score(&mut self, index: usize) {
        if let Some(slot) = self.skip_score.get_mut(index) {
            *slot = true;
        }
    }
}
