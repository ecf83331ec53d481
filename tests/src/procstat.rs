//! What the benchmarks read about a process from `/proc`: its resident
//! memory and the CPU time it has used.

/// Resident set size in KiB (0 if unknown).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// User + system CPU time so far, in seconds (0 if unknown).
pub fn cpu_seconds(pid: u32) -> f64 {
    // Fields after the parenthesized command name; utime and stime are the
    // 14th and 15th fields of the line, in clock ticks (100 per second on
    // Linux unless the kernel says otherwise).
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => (u + s) as f64 / 100.0,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(rss_kib(me) > 0);
        assert!(cpu_seconds(me) >= 0.0);
        assert_eq!(rss_kib(u32::MAX), 0);
    }
}
