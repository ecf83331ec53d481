//! PrioritySort: the queue order (higher `spec.priority` first, then the
//! earlier enqueue time). The scheduling queue applies the order itself;
//! the plugin exists so configurations can name it.

use std::time::Instant;

use crate::framework::{ExtensionPoints, Plugin};

/// Plugin name.
pub const NAME: &str = "PrioritySort";

/// The PrioritySort plugin.
#[derive(Debug, Default)]
pub struct PrioritySort;

impl Plugin for PrioritySort {
    fn name(&self) -> &'static str {
        NAME
    }

    fn extension_points(&self) -> ExtensionPoints {
        ExtensionPoints::QUEUE_SORT
    }
}

/// Upstream `PrioritySort.Less`: whether (priority `a`, enqueued at
/// `a_time`) goes before (`b`, `b_time`).
pub fn less(a: i32, a_time: Instant, b: i32, b_time: Instant) -> bool {
    a > b || (a == b && a_time < b_time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn higher_priority_then_older_first() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        assert!(less(10, t1, 5, t0));
        assert!(!less(5, t0, 10, t1));
        assert!(less(5, t0, 5, t1));
        assert!(!less(5, t1, 5, t0));
    }
}
