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
    host.write(0x11008, b"moved");
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
    host.read(0x41008, &mut buf);
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
    host.write(0x10010, b"shared");
    let mut buf = [0; 6];
    host.install(&b, 0x30000, Access::Read, Install::FilePage)
        .unwrap();
    host.read(0x30010, &mut buf);
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
