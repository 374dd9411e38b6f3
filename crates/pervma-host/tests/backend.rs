//! The backend's calls one by one, without an `Mm`: what the host's
//! `/proc/self/maps` shows after each.

use pervma::{Access, Backend, File, Install, Mapping, VmFlags};
use pervma_host::{HostMemory, RESERVATION_NAME};

const SIZE: u64 = 64 << 20;

/// The host's lines inside the reservation, in guest addresses:
/// `(start, end, perms, is a reservation piece)`.
fn lines(host: &HostMemory) -> Vec<(u64, u64, String, bool)> {
    let base = host.base() as u64;
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (s, e) = words.next()?.split_once('-')?;
            let (s, e) = (
                u64::from_str_radix(s, 16).ok()?,
                u64::from_str_radix(e, 16).ok()?,
            );
            (s >= base && e <= base + host.size()).then(|| {
                (
                    s - base,
                    e - base,
                    words.next().unwrap().to_owned(),
                    line.contains(RESERVATION_NAME),
                )
            })
        })
        .collect()
}

fn anon(start: u64, end: u64, flags: VmFlags) -> Mapping<'static> {
    Mapping {
        start,
        end,
        flags,
        pgoff: start >> 12,
        file: None,
    }
}

fn rw() -> VmFlags {
    VmFlags::READ
        | VmFlags::WRITE
        | VmFlags::MAYREAD
        | VmFlags::MAYWRITE
        | VmFlags::MAYEXEC
        | VmFlags::ACCOUNT
}

#[test]
fn the_reservation_is_one_aligned_piece_and_heals_after_unmap() {
    let host = HostMemory::new(SIZE).unwrap();
    assert_eq!(host.base() as u64 % (1 << 30), 0);
    assert_eq!(lines(&host), [(0, SIZE, "---p".into(), true)]);
    host.map(&anon(0x10000, 0x14000, rw())).unwrap();
    assert_eq!(
        lines(&host),
        [
            (0, 0x10000, "---p".into(), true),
            (0x10000, 0x14000, "rw-p".into(), false),
            (0x14000, SIZE, "---p".into(), true),
        ]
    );
    host.unmap(0x10000, 0x14000);
    assert_eq!(lines(&host), [(0, SIZE, "---p".into(), true)]);
    // Dropping it gives the address space back.
    let base = host.base() as u64;
    drop(host);
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let start = format!("{base:x}-");
    assert!(!maps.lines().any(|l| l.starts_with(&start)), "{maps}");
}

#[test]
fn flags_split_host_vmas_and_moves_keep_data() {
    let host = HostMemory::new(SIZE).unwrap();
    let m = anon(0x10000, 0x20000, rw());
    host.map(&m).unwrap();
    host.install(&m, 0x11000, Access::Write, Install::Anon { huge: false })
        .unwrap();
    host.write(&m, 0x11008, b"moved").unwrap();
    // mprotect and an advice on parts of it.
    let ro = anon(0x18000, 0x20000, rw() - VmFlags::WRITE);
    host.change_flags(&ro, rw()).unwrap();
    let dd = anon(0x10000, 0x12000, rw() | VmFlags::DONTDUMP);
    host.change_flags(&dd, rw()).unwrap();
    let rows: Vec<_> = lines(&host).into_iter().filter(|l| !l.3).collect();
    assert_eq!(
        rows,
        [
            (0x10000, 0x12000, "rw-p".into(), false),
            (0x12000, 0x18000, "rw-p".into(), false),
            (0x18000, 0x20000, "r--p".into(), false),
        ]
    );
    // mremap the first part elsewhere.
    let to = anon(0x40000, 0x42000, rw() | VmFlags::DONTDUMP);
    host.move_range(0x10000, 0x2000, &to, false).unwrap();
    let mut buf = [0; 5];
    host.read(&to, 0x41008, &mut buf).unwrap();
    assert_eq!(&buf, b"moved");
    let rows: Vec<_> = lines(&host).into_iter().filter(|l| !l.3).collect();
    assert_eq!(
        rows,
        [
            (0x12000, 0x18000, "rw-p".into(), false),
            (0x18000, 0x20000, "r--p".into(), false),
            (0x40000, 0x42000, "rw-p".into(), false),
        ]
    );
    assert_eq!(lines(&host)[0], (0, 0x12000, "---p".into(), true));
    assert_eq!(host.lost_calls(), 0);
}

#[test]
fn shared_file_pages_are_one_memfd() {
    let host = HostMemory::new(SIZE).unwrap();
    let file = File::new("data", 1 << 20);
    let shared = (rw() - VmFlags::ACCOUNT) | VmFlags::SHARED | VmFlags::MAYSHARE;
    let a = Mapping {
        start: 0x10000,
        end: 0x12000,
        flags: shared,
        pgoff: 0,
        file: Some(&file),
    };
    let b = Mapping {
        start: 0x30000,
        end: 0x32000,
        flags: shared,
        pgoff: 0,
        file: Some(&file),
    };
    host.map(&a).unwrap();
    host.map(&b).unwrap();
    host.install(&a, 0x10000, Access::Write, Install::FilePage)
        .unwrap();
    host.write(&a, 0x10010, b"shared").unwrap();
    let mut buf = [0; 6];
    host.install(&b, 0x30000, Access::Read, Install::FilePage)
        .unwrap();
    host.read(&b, 0x30010, &mut buf).unwrap();
    assert_eq!(&buf, b"shared");
    let rows: Vec<_> = lines(&host).into_iter().filter(|l| !l.3).collect();
    assert_eq!(
        rows,
        [
            (0x10000, 0x12000, "rw-s".into(), false),
            (0x30000, 0x32000, "rw-s".into(), false),
        ]
    );
}

/// Contents in a real file, which the host maps itself.
struct RealFile(std::fs::File);

impl pervma::FileContents for RealFile {
    fn read_page(&self, index: u64, buf: &mut [u8]) -> Result<(), pervma::Errno> {
        use std::os::unix::fs::FileExt;
        self.0
            .read_at(buf, index * 4096)
            .map(|_| ())
            .map_err(|_| pervma::Errno::EIO)
    }
    fn write_page(&self, index: u64, data: &[u8]) -> Result<(), pervma::Errno> {
        use std::os::unix::fs::FileExt;
        self.0
            .write_all_at(data, index * 4096)
            .map_err(|_| pervma::Errno::EIO)
    }
    fn raw_fd(&self) -> Option<i32> {
        use std::os::fd::AsRawFd;
        Some(self.0.as_raw_fd())
    }
}

#[test]
fn a_file_with_a_descriptor_is_mapped_from_it() {
    use pervma::{MapFlags, Mm, MmConfig, Prot};
    use std::os::unix::fs::FileExt;
    let path = std::env::temp_dir().join(format!("pervma-host-{}", std::process::id()));
    let real = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    real.set_len(8192).unwrap();
    real.write_all_at(b"hello", 0).unwrap();
    let contents = std::sync::Arc::new(RealFile(real.try_clone().unwrap()));
    let file = File::builder("real", 8192).contents(contents).build();

    let host = HostMemory::new(SIZE).unwrap();
    let mm: Mm<()> = Mm::with_backend(MmConfig::new(SIZE, 0x10000, SIZE, 65530), host.clone());
    let at = mm
        .mmap(
            0x10_0000,
            8192,
            Prot::READ | Prot::WRITE,
            MapFlags::SHARED | MapFlags::FIXED,
            Some((file, 0)),
            (),
        )
        .unwrap();
    let mut buf = [0; 5];
    mm.access_read(at, &mut buf).unwrap();
    assert_eq!(&buf, b"hello");
    // A store through the host mapping is a store to the file.
    mm.access_write(at + 4096, b"HELLO").unwrap();
    let mut back = [0; 5];
    real.read_exact_at(&mut back, 4096).unwrap();
    assert_eq!(&back, b"HELLO");
}

/// A user copy racing `MADV_GUARD_INSTALL` of its page through the `Mm`:
/// the host page becomes a guard while pervma's record still shows it
/// mapped, and a raw copy there would take a real `SIGSEGV` (the process
/// would die). The copy must end as the kernel's would: copied, or a
/// `SIGSEGV` fault in its error.
#[test]
fn user_copy_racing_guard_install_never_touches_the_guard() {
    use pervma::{Advice, FaultError, MapFlags, Mm, MmConfig, Prot};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
    let host = HostMemory::new(SIZE).unwrap();
    let mm: Mm<()> = Mm::with_backend(MmConfig::new(SIZE, 0x10000, SIZE, 65530), host.clone());
    let rw = Prot::READ | Prot::WRITE;
    let flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    let a = mm.mmap(0x100000, 4 * 4096, rw, flags, None, ()).unwrap();
    let page = a + 4096;
    let stop = AtomicBool::new(false);
    let (copied, faulted, guards) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    std::thread::scope(|t| {
        t.spawn(|| {
            let mut buf = [0u8; 64];
            while !stop.load(Relaxed) {
                let r = if copied.load(Relaxed) % 2 == 0 {
                    mm.access_write(page + 8, &[1; 64])
                } else {
                    mm.access_read(page + 8, &mut buf)
                };
                match r {
                    Ok(()) => copied.fetch_add(1, Relaxed),
                    Err(e) => {
                        assert!(
                            matches!(e.fault, FaultError::MapErr | FaultError::AccErr),
                            "{e}"
                        );
                        faulted.fetch_add(1, Relaxed)
                    }
                };
            }
        });
        t.spawn(|| {
            while !stop.load(Relaxed) {
                mm.madvise(page, 4096, Advice::GuardInstall).unwrap();
                mm.madvise(page, 4096, Advice::GuardRemove).unwrap();
                guards.fetch_add(1, Relaxed);
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(1500));
        stop.store(true, Relaxed);
    });
    eprintln!(
        "{} copies, {} faulted on the guard, {} guard cycles",
        copied.load(Relaxed),
        faulted.load(Relaxed),
        guards.load(Relaxed)
    );
    assert!(copied.load(Relaxed) > 0 && guards.load(Relaxed) > 0);
    assert_eq!(host.lost_calls(), 0);
}
