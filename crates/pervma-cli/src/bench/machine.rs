//! What machine the figures came from: CPU model and cores from
//! /proc/cpuinfo, the kernel from /proc/sys/kernel (what `uname -srv`
//! prints), read without system calls of our own.

use serde_json::{json, Value};

/// The machine's description.
#[derive(Clone, Debug)]
pub(crate) struct Machine {
    pub(crate) cpu_model: String,
    /// Logical CPUs listed in /proc/cpuinfo.
    pub(crate) cpus: usize,
    /// CPUs this process may run on.
    pub(crate) available: usize,
    pub(crate) kernel: String,
    pub(crate) arch: &'static str,
    pub(crate) load_average: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

impl Machine {
    pub(crate) fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| {
            cpuinfo.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == name).then(|| v.trim().to_string())
            })
        };
        let cpu_model = field("model name")
            .or_else(|| field("Model"))
            .or_else(|| field("cpu model"))
            .unwrap_or_else(|| "unknown".to_string());
        let cpus = cpuinfo
            .lines()
            .filter(|l| l.split(':').next().map(str::trim) == Some("processor"))
            .count();
        let kernel = format!(
            "{} {} {}",
            read("/proc/sys/kernel/ostype"),
            read("/proc/sys/kernel/osrelease"),
            read("/proc/sys/kernel/version")
        );
        Machine {
            cpu_model,
            cpus,
            available: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel,
            arch: std::env::consts::ARCH,
            load_average: read("/proc/loadavg"),
        }
    }

    pub(crate) fn json(&self) -> Value {
        json!({
            "cpu_model": self.cpu_model,
            "cpus": self.cpus,
            "available_parallelism": self.available,
            "kernel": self.kernel,
            "arch": self.arch,
            "load_average_at_start": self.load_average,
        })
    }

    /// One line for the text report.
    pub(crate) fn line(&self) -> String {
        format!(
            "{} ({} CPUs, {} available), {}, {}; load average at start {}",
            self.cpu_model, self.cpus, self.available, self.arch, self.kernel, self.load_average
        )
    }
}
