//! The command line of `pervma bench`.

use super::registry;
use clap::builder::PossibleValuesParser;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// `pervma bench`: every figure measured in one run, as ratios to the
/// first strategy of each group.
#[derive(Args, Debug, Clone)]
pub(crate) struct BenchArgs {
    /// Workloads to run, comma-separated (default: all but `restore`,
    /// which runs only when named).
    #[arg(long, value_delimiter = ',', value_parser = PossibleValuesParser::new(registry::names()))]
    pub(crate) workload: Vec<String>,

    /// Reader thread counts, comma-separated (default: 1,2 for lookup, 1
    /// for the others). Applies to `lookup` and `churn`.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) threads: Vec<u32>,

    /// VMA counts, comma-separated (default per workload: lookup
    /// 10,1000,30000; churn and helper 1000; write and maps 1000,30000;
    /// helper uses the first).
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u64).range(1..=30_000))]
    pub(crate) vmas: Vec<u64>,

    /// Time per repetition, e.g. 100ms, 2s, 500us (quick mode: 5ms).
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    pub(crate) duration: Duration,

    /// Timed repetitions per figure (after one warm-up); the median is
    /// reported with the minimum and maximum.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(5..=1000))]
    pub(crate) reps: u32,

    /// Write every figure, with the machine's description, as JSON.
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,

    /// Draw the scaling and ratio charts as SVG.
    #[arg(long, value_name = "FILE")]
    pub(crate) svg: Option<PathBuf>,
}

impl BenchArgs {
    /// The thread counts to run, or `default` when none were given.
    pub(crate) fn threads_or(&self, default: &[u32]) -> Vec<usize> {
        let t = if self.threads.is_empty() {
            default
        } else {
            &self.threads
        };
        t.iter().map(|&t| t as usize).collect()
    }

    /// The VMA counts to run, or `default` when none were given.
    pub(crate) fn vmas_or(&self, default: &[u64]) -> Vec<u64> {
        if self.vmas.is_empty() {
            default.to_vec()
        } else {
            self.vmas.clone()
        }
    }

    /// Whether `name` was selected (by default, those in the default
    /// suite).
    pub(crate) fn selects(&self, name: &str, in_default_suite: bool) -> bool {
        if self.workload.is_empty() {
            in_default_suite
        } else {
            self.workload.iter().any(|w| w == name)
        }
    }
}

/// `100ms`, `2s`, `500us`, `1m`; a bare number is milliseconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (examples: 100ms, 2s, 500us)"))?;
    let scale = match unit {
        "" | "ms" => 1e-3,
        "s" => 1.0,
        "us" | "µs" => 1e-6,
        "m" | "min" => 60.0,
        _ => return Err(format!("unknown unit {unit:?} (use us, ms, s or m)")),
    };
    let d = Duration::from_secs_f64(value * scale);
    if d < Duration::from_millis(1) || d > Duration::from_secs(60) {
        return Err(format!("{s} is out of range (1ms to 60s per repetition)"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20ms"), Ok(Duration::from_millis(20)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1500us"), Ok(Duration::from_micros(1500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_millis(7)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("0ms").is_err());
        assert!(parse_duration("2h").is_err());
    }
}
