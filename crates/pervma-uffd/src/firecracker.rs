//! Firecracker's page-fault handler protocol: serving a microVM's guest
//! memory from its snapshot's memory file.
//!
//! Firecracker: docs/snapshotting/handling-page-faults-on-snapshot-resume.md,
//! src/firecracker/examples/uffd/uffd_utils.rs (`GuestRegionUffdMapping`).
//!
//! On snapshot resume with a `Uffd` memory backend, Firecracker maps the
//! guest memory (private anonymous), registers it with a userfaultfd
//! (MISSING; `UFFD_FEATURE_EVENT_REMOVE` when a balloon may give memory
//! back), connects to the handler's Unix socket and sends one message: a
//! JSON array of the guest regions, with the userfaultfd as `SCM_RIGHTS`.
//! Each region says where it lives in the VMM
//! (`base_host_virt_addr`, `size`) and where its contents are in the
//! memory file (`offset`), and its `page_size`.
//!
//! [`serve`] describes each region in an `Mm` as a private mapping of the
//! memory file at its offset, and starts a [`Pager`] on it with the
//! non-cooperative events applied: a balloon's `REMOVE` turns the range
//! into anonymous memory in the `Mm`, so later faults there get zeroes
//! (the guest gave those pages back; the snapshot's bytes are stale).
//! A fault outside every region is poisoned (`SIGBUS` in the VMM) rather
//! than left to loop.

#![deny(unsafe_code)]

use crate::contents::FileContents;
use crate::pager::{Pager, PagerConfig, Unmapped};
use crate::sys;
use crate::uffd::{features, Uffd, PAGE};
use pervma::{File, MapFlags, Mm, Prot};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

/// One guest memory region (Firecracker's `GuestRegionUffdMapping`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct GuestRegion {
    /// Where the region is mapped in the VMM.
    pub base_host_virt_addr: u64,
    /// Its length in bytes.
    pub size: u64,
    /// Where its contents start in the memory file.
    pub offset: u64,
    /// Its page size (4096; huge pages are not served here).
    pub page_size: u64,
}

fn field(v: &serde_json::Value, name: &str) -> Result<u64, String> {
    v.get(name)
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| format!("region {v}: no unsigned integer `{name}`"))
}

/// Parses the JSON array Firecracker sends.
///
/// # Errors
///
/// Malformed JSON, a missing or non-integer field.
pub fn parse_regions(json: &str) -> Result<Vec<GuestRegion>, String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("regions: {e}"))?;
    let array = value.as_array().ok_or("regions: not a JSON array")?;
    array
        .iter()
        .map(|v| {
            Ok(GuestRegion {
                base_host_virt_addr: field(v, "base_host_virt_addr")?,
                size: field(v, "size")?,
                offset: field(v, "offset")?,
                page_size: field(v, "page_size")?,
            })
        })
        .collect()
}

/// The JSON array for `regions`, as Firecracker writes it.
pub fn regions_json(regions: &[GuestRegion]) -> String {
    let array: Vec<serde_json::Value> = regions
        .iter()
        .map(|r| {
            serde_json::json!({
                "base_host_virt_addr": r.base_host_virt_addr,
                "size": r.size,
                "offset": r.offset,
                "page_size": r.page_size,
            })
        })
        .collect();
    serde_json::Value::Array(array).to_string()
}

/// Receives the VMM's message: the regions and the userfaultfd.
///
/// # Errors
///
/// A socket error, a message without a descriptor or with bad JSON
/// (`InvalidData`).
pub fn receive(stream: &UnixStream) -> io::Result<(Vec<GuestRegion>, OwnedFd)> {
    let mut buf = vec![0u8; 64 << 10];
    let (n, fd) = sys::recv_with_fd(stream.as_raw_fd(), &mut buf)?;
    let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    let fd = fd.ok_or_else(|| bad("the message carried no userfaultfd".into()))?;
    let json = std::str::from_utf8(&buf[..n]).map_err(|e| bad(format!("regions: {e}")))?;
    Ok((parse_regions(json).map_err(bad)?, fd))
}

/// Sends `regions` and `uffd` as Firecracker does (the VMM's side; for
/// tests and benchmarks that play the VMM).
///
/// # Errors
///
/// The socket's.
pub fn send(stream: &UnixStream, regions: &[GuestRegion], uffd: BorrowedFd<'_>) -> io::Result<()> {
    let json = regions_json(regions);
    sys::send_with_fd(stream.as_raw_fd(), json.as_bytes(), uffd.as_raw_fd()).map(drop)
}

/// Serves `regions` of the VMM behind `uffd` from `mem_file`: an `Mm`
/// with each region a private mapping of the file at its offset, and a
/// [`Pager`] with `config` (whose `unmapped` and `apply_events` are set
/// here: poison, and apply).
///
/// # Errors
///
/// `InvalidInput` for a region that is not page-aligned, has a page size
/// other than 4096, reaches past the end of the file or overlaps another;
/// the pager's errors.
pub fn serve(
    regions: &[GuestRegion],
    uffd: OwnedFd,
    mem_file: &std::fs::File,
    config: PagerConfig,
) -> io::Result<Pager<()>> {
    let bad = |m: String| io::Error::new(io::ErrorKind::InvalidInput, m);
    let len = mem_file.metadata()?.len();
    let file = File::new_read_only("memory", len);
    let contents = FileContents::new().with_file(&file, mem_file)?;
    let mm: Mm<()> = Mm::new();
    for r in regions {
        if r.page_size != PAGE {
            return Err(bad(format!(
                "region {r:?}: page size {} (only {PAGE} is served)",
                r.page_size
            )));
        }
        if (r.base_host_virt_addr | r.size | r.offset) % PAGE != 0 || r.size == 0 {
            return Err(bad(format!("region {r:?}: not page-aligned")));
        }
        if r.offset.checked_add(r.size).is_none_or(|end| end > len) {
            return Err(bad(format!(
                "region {r:?}: past the end of the memory file ({len} bytes)"
            )));
        }
        if mm
            .mmap_read_lock()
            .find_vma_intersection(r.base_host_virt_addr, r.base_host_virt_addr + r.size)
            .is_some()
        {
            return Err(bad(format!("region {r:?}: overlaps another")));
        }
        let rw = Prot::READ | Prot::WRITE;
        let flags = MapFlags::PRIVATE | MapFlags::FIXED;
        mm.mmap(
            r.base_host_virt_addr,
            r.size,
            rw,
            flags,
            Some((file.clone(), r.offset)),
            (),
        )
        .map_err(|e| bad(format!("region {r:?}: {}", e.errno)))?;
    }
    let uffd = Uffd::from_fd(uffd, features::EVENT_REMOVE)?;
    let config = PagerConfig {
        unmapped: Unmapped::Poison,
        apply_events: true,
        ..config
    };
    Pager::start(Arc::new(mm), Arc::new(uffd), Arc::new(contents), config)
}
