//! `CpuLatency`: the request holds while the value lives (the kernel's
//! aggregate, read back from the device, is 0) and goes with it.

use pervma_uffd::CpuLatency;
use std::io::Read;

/// The kernel's current CPU latency limit (`cpu_latency_qos_limit`), in
/// microseconds. Opening the device adds a request at the default value,
/// which lowers nothing.
fn limit() -> std::io::Result<i32> {
    let mut f = std::fs::File::open("/dev/cpu_dma_latency")?;
    let mut b = [0u8; 4];
    f.read_exact(&mut b)?;
    Ok(i32::from_ne_bytes(b))
}

#[test]
fn request_holds_while_alive_and_goes_with_it() {
    let before = match limit() {
        Ok(v) => v,
        Err(e) => return eprintln!("skipped: /dev/cpu_dma_latency: {e}"),
    };
    let held = match CpuLatency::request(0) {
        Ok(h) => h,
        Err(e) => return eprintln!("skipped: {e}"),
    };
    assert_eq!(held.us(), 0);
    assert_eq!(limit().unwrap(), 0, "the request lowers the limit to 0");
    drop(held);
    // Another process may hold its own request; ours is gone either way.
    let after = limit().unwrap();
    assert!(
        after == before || after > 0,
        "the limit stays at 0 after the request was dropped ({before} before)"
    );
}
