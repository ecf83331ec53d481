//! Completion indexes of Indexed Jobs: the index annotation of a pod and
//! the compressed interval lists of `status.completedIndexes` and
//! `status.failedIndexes` (`"1,3-5,7"`), upstream's `orderedIntervals`.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::Pod;

/// The annotation (and, since PodIndexLabel, label) carrying a pod's index.
pub const COMPLETION_INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";
/// The failures of the pod's index before this pod (backoffLimitPerIndex).
pub const INDEX_FAILURE_COUNT_ANNOTATION: &str = "batch.kubernetes.io/job-index-failure-count";
/// The failures ignored by the pod failure policy before this pod.
pub const INDEX_IGNORED_FAILURE_COUNT_ANNOTATION: &str =
    "batch.kubernetes.io/job-index-ignored-failure-count";
/// The environment variable holding the index in every container.
pub const COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// The pod's completion index, if it has a valid one.
pub fn completion_index(pod: &Pod) -> Option<usize> {
    let value = pod
        .metadata
        .annotations
        .as_ref()?
        .get(COMPLETION_INDEX_ANNOTATION)?;
    parse_index(value)
}

/// A non-negative decimal without sign or leading `+`.
fn parse_index(value: &str) -> Option<usize> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

fn annotation_count(pod: &Pod, key: &str) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .and_then(|v| v.parse::<i32>().ok())
        .filter(|v| *v >= 0)
        .unwrap_or(0)
}

/// `batch.kubernetes.io/job-index-failure-count` (0 when absent or bad).
pub fn index_failure_count(pod: &Pod) -> i32 {
    annotation_count(pod, INDEX_FAILURE_COUNT_ANNOTATION)
}

/// `batch.kubernetes.io/job-index-ignored-failure-count`.
pub fn index_ignored_failure_count(pod: &Pod) -> i32 {
    annotation_count(pod, INDEX_IGNORED_FAILURE_COUNT_ANNOTATION)
}

/// Upstream `podGenerateNameWithIndex`: `<job>-<index>-`, the job name
/// shortened so a generated name still fits 63 characters.
pub fn generate_name_with_index(job_name: &str, index: usize) -> String {
    const MAX_GENERATED_NAME_LENGTH: usize = 63 - 5;
    let suffix = format!("-{index}-");
    if job_name.len() + suffix.len() > MAX_GENERATED_NAME_LENGTH {
        let keep = MAX_GENERATED_NAME_LENGTH.saturating_sub(suffix.len());
        let cut = (0..=keep)
            .rev()
            .find(|i| job_name.is_char_boundary(*i))
            .unwrap_or(0);
        format!("{}{suffix}", &job_name[..cut])
    } else {
        format!("{job_name}{suffix}")
    }
}

/// Sorted, disjoint, non-adjacent closed intervals of indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Intervals(Vec<(usize, usize)>);

impl Intervals {
    /// Upstream `parseIndexesFromString`: `"0,2-4"`; parts that do not
    /// parse or reach `completions` are skipped (as upstream, which logs).
    pub fn parse(s: &str, completions: usize) -> Self {
        let mut indexes = Vec::new();
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (first, last) = match part.split_once('-') {
                Some((a, b)) => (parse_index(a), parse_index(b)),
                None => (parse_index(part), parse_index(part)),
            };
            let (Some(first), Some(last)) = (first, last) else {
                continue;
            };
            if first > last || first >= completions {
                continue;
            }
            indexes.push((first, last.min(completions.saturating_sub(1))));
        }
        let mut out = Intervals::default();
        for (a, b) in indexes {
            out.add_range(a, b);
        }
        out
    }

    fn add_range(&mut self, first: usize, last: usize) {
        let mut merged = Vec::with_capacity(self.0.len() + 1);
        let (mut a, mut b) = (first, last);
        for &(x, y) in &self.0 {
            if y + 1 < a || b + 1 < x {
                merged.push((x, y));
            } else {
                a = a.min(x);
                b = b.max(y);
            }
        }
        merged.push((a, b));
        merged.sort_unstable();
        self.0 = merged;
    }

    /// These intervals plus `indexes` (upstream `withOrderedIndexes`).
    pub fn with_indexes(&self, indexes: impl IntoIterator<Item = usize>) -> Self {
        let mut out = self.clone();
        for ix in indexes {
            out.add_range(ix, ix);
        }
        out
    }

    /// Whether `ix` is in one of the intervals.
    pub fn has(&self, ix: usize) -> bool {
        self.0.iter().any(|&(a, b)| a <= ix && ix <= b)
    }

    /// How many indexes the intervals hold.
    pub fn total(&self) -> usize {
        self.0.iter().map(|&(a, b)| b - a + 1).sum()
    }

    /// Whether no index is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Intervals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(a, b)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match b - a {
                0 => write!(f, "{a}")?,
                // Upstream writes two adjacent indexes as "a,b".
                1 => write!(f, "{a},{b}")?,
                _ => write!(f, "{a}-{b}")?,
            }
        }
        Ok(())
    }
}

/// Upstream `firstPendingIndexes`: the first `count` indexes below
/// `completions` that are not succeeded, failed, or taken by `busy`.
pub fn first_pending_indexes(
    count: usize,
    completions: usize,
    succeeded: &Intervals,
    failed: Option<&Intervals>,
    busy: &BTreeMap<usize, usize>,
) -> Vec<usize> {
    (0..completions)
        .filter(|ix| {
            !succeeded.has(*ix) && !failed.is_some_and(|f| f.has(*ix)) && !busy.contains_key(ix)
        })
        .take(count)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_merge_and_print_like_upstream() {
        let i = Intervals::parse("0,2-4,7", 10);
        assert_eq!(i.to_string(), "0,2-4,7");
        assert_eq!(i.total(), 5);
        assert!(i.has(3) && !i.has(5));
        let j = i.with_indexes([1, 5, 6]);
        assert_eq!(j.to_string(), "0-7");
        assert_eq!(Intervals::parse("3,4", 10).to_string(), "3,4");
        assert_eq!(Intervals::parse("1,x,-2,5-3,12", 10).to_string(), "1");
        assert_eq!(Intervals::parse("8-20", 10).to_string(), "8,9");
        assert_eq!(Intervals::default().with_indexes([4, 2]).to_string(), "2,4");
        assert!(Intervals::parse("", 3).is_empty());
    }

    #[test]
    fn pending_indexes_skip_done_and_busy_ones() {
        let succeeded = Intervals::parse("0,2", 6);
        let failed = Intervals::parse("4", 6);
        let busy = BTreeMap::from([(1, 1)]);
        assert_eq!(
            first_pending_indexes(5, 6, &succeeded, Some(&failed), &busy),
            [3, 5]
        );
        assert_eq!(first_pending_indexes(1, 6, &succeeded, None, &busy), [3]);
    }

    #[test]
    fn generate_names_fit() {
        assert_eq!(generate_name_with_index("pi", 3), "pi-3-");
        let long = "a".repeat(70);
        let name = generate_name_with_index(&long, 12);
        assert_eq!(name.len(), 58);
        assert!(name.ends_with("-12-"));
    }
}
