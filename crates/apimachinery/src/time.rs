//! metav1.Time (RFC 3339, seconds) and metav1.MicroTime (microseconds) values.

use jiff::Timestamp;

/// Now, formatted as metav1.Time: `2006-01-02T15:04:05Z`.
pub fn now_rfc3339() -> String {
    format_time(Timestamp::now())
}

/// Now, formatted as metav1.MicroTime: `2006-01-02T15:04:05.000000Z`.
pub fn now_micro() -> String {
    format_micro(Timestamp::now())
}

/// Formats a timestamp as metav1.Time (whole seconds, UTC).
pub fn format_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Formats a timestamp as metav1.MicroTime (microseconds, UTC).
pub fn format_micro(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

/// Parses an RFC 3339 timestamp (either precision).
pub fn parse(s: &str) -> Option<Timestamp> {
    s.parse::<Timestamp>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t: Timestamp = "2024-05-06T07:08:09.123456789Z".parse().unwrap();
        assert_eq!(format_time(t), "2024-05-06T07:08:09Z");
        assert_eq!(format_micro(t), "2024-05-06T07:08:09.123456Z");
        assert_eq!(
            parse("2024-05-06T07:08:09Z").unwrap().as_second(),
            t.as_second()
        );
        assert!(parse("yesterday").is_none());
    }
}
