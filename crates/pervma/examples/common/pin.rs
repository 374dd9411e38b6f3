//! Pinning a probe's threads to CPUs (shared with `#[path]`): left alone,
//! the scheduler sometimes keeps two fresh threads on one CPU of this
//! 2-vCPU machine, where they take turns and never contend.

/// Pins the calling thread to CPU `cpu` (modulo the CPUs available).
pub(crate) fn pin_to_cpu(cpu: usize) {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and
    // sched_setaffinity get a pointer to it and its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % n, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
