//! [`CpuLatency`]: asking the kernel to keep CPUs out of deep idle while
//! faults are being served.
//!
//! Linux: kernel/power/qos.c (`cpu_latency_qos`, the `/dev/cpu_dma_latency`
//! misc device), drivers/cpuidle/governors/haltpoll.c;
//! Documentation/power/pm_qos_interface.rst.
//!
//! A userfault is two wake-ups: the faulting thread wakes a handler (unless
//! one spins), and the handler's `UFFDIO_COPY` wakes the faulting thread,
//! which went to sleep in the kernel and whose CPU then went idle. Waking an
//! idle CPU costs an interrupt and, in a virtual machine whose idle vCPUs
//! halt, an exit to the hypervisor and a trip through the host's scheduler:
//! tens of microseconds, ten times a native page fault. A CPU latency
//! request of 0 us makes idle CPUs poll instead (the `POLL` idle state):
//! a wake-up is then a store the idle loop sees, at the price of CPUs that
//! burn cycles (and, in a VM, host CPU time) while idle.
//!
//! Measured (`pervma bench --workload uffd`, its `no-halt` rows, on a
//! 2-vCPU VM whose `guest_halt_poll_ns` is 0; BENCHMARKS.md): one faulting
//! thread and a spinning handler, 9.3 us per fault at p50 instead of
//! 24.1 us (the kernel's own fault: 2.1 us); a blocking handler 13.1 us
//! instead of 65 us; two faulting threads and one blocking handler 105.5k
//! faults/s instead of 36.7k.
//!
//! The request is system-wide and lasts while the [`CpuLatency`] lives
//! (the kernel drops it when the descriptor is closed, even if the process
//! dies). It is the same request `tuned`'s latency-performance profile and
//! real-time services make; take it only where serving faults fast is
//! worth idle CPUs that poll.

#![deny(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, Write};

/// The PM QoS device.
const DEVICE: &str = "/dev/cpu_dma_latency";

/// A held CPU latency request: see the [module docs](self).
#[derive(Debug)]
pub struct CpuLatency {
    /// Open while the request holds; closing it drops the request.
    _device: File,
    us: u32,
}

impl CpuLatency {
    /// Asks that every CPU wake within `us` microseconds (0: idle CPUs
    /// poll), until the value is dropped.
    ///
    /// # Errors
    ///
    /// When `/dev/cpu_dma_latency` cannot be opened for writing (it is
    /// root's by default: `EACCES`, with the device named in the message;
    /// `ENOENT` without `CONFIG_CPU_IDLE`'s PM QoS) or the request cannot be
    /// written.
    pub fn request(us: u32) -> io::Result<CpuLatency> {
        let named = |e: io::Error| io::Error::new(e.kind(), format!("{DEVICE}: {e}"));
        let mut device = OpenOptions::new().write(true).open(DEVICE).map_err(named)?;
        // The device takes a binary s32 (or an ASCII hex string).
        let value = i32::try_from(us).unwrap_or(i32::MAX);
        device.write_all(&value.to_ne_bytes()).map_err(named)?;
        Ok(CpuLatency {
            _device: device,
            us,
        })
    }

    /// The latency asked for, in microseconds.
    pub fn us(&self) -> u32 {
        self.us
    }
}
