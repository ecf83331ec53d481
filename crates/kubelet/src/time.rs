//! Timestamps as the API stores them: whole seconds (`metav1.Time`
//! serialises without fractions), so a status computed twice compares equal.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Now, truncated to seconds.
pub fn now() -> Time {
    from_nanos(corten_cri::now_nanos()).unwrap_or(Time(jiff::Timestamp::UNIX_EPOCH))
}

/// A CRI timestamp (nanoseconds since the epoch) truncated to seconds;
/// `None` for 0 (unset).
pub fn from_nanos(nanos: i64) -> Option<Time> {
    if nanos <= 0 {
        return None;
    }
    jiff::Timestamp::from_second(nanos / 1_000_000_000)
        .ok()
        .map(Time)
}

/// Seconds since `time` (negative if in the future).
pub fn seconds_since(time: &Time) -> i64 {
    jiff::Timestamp::now().as_second() - time.0.as_second()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates() {
        assert_eq!(from_nanos(0), None);
        let t = from_nanos(1_700_000_000_999_999_999).unwrap();
        assert_eq!(t.0.as_second(), 1_700_000_000);
        assert_eq!(t.0.subsec_nanosecond(), 0);
        assert!(seconds_since(&now()) >= 0);
    }
}
