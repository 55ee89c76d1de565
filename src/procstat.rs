//! The process's own CPU time and peak resident memory, read from /proc (Linux).
//! Reported when the daemon stops and used by the polling benchmark.

/// Resource usage of this process so far; `None` where /proc is not available.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessUsage {
    pub cpu_seconds: Option<f64>,
    pub peak_rss_mb: Option<f64>,
}

impl ProcessUsage {
    pub fn read() -> ProcessUsage {
        ProcessUsage {
            cpu_seconds: cpu_seconds(),
            peak_rss_mb: peak_rss_mb(),
        }
    }
}

/// utime + stime from /proc/self/stat, in clock ticks of 1/100 s (USER_HZ is 100 on
/// every Linux architecture Rust targets).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may contain spaces; fields after its ')' are fixed.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')' field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// VmHWM (peak resident set) from /proc/self/status.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn reads_own_usage() {
        // Burn a little CPU so the figure is not trivially zero on a fast machine.
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        let u = ProcessUsage::read();
        assert!(u.cpu_seconds.is_some_and(|c| c >= 0.0));
        assert!(u.peak_rss_mb.is_some_and(|m| m > 1.0));
    }
}
