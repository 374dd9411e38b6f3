//! `File::truncate` and the `mlock2`/`mlockall` family through the public
//! API: what a truncation takes from every mapping of the file (shared
//! pages, private copies), the notifiers and the backend it tells, the
//! zeroes a regrown file reads; `mlockall`'s errnos and `def_flags`.

use pervma::{
    Access, Backend, Errno, FaultError, File, FileMappings, MapFlags, Mapping, MlockFlags,
    MlockallFlags, Mm, MmConfig, MmuNotifier, MmuNotifierEvent, MmuNotifierRange, PageGone, Prot,
    VmFlags, PAGE_SIZE,
};
use std::sync::{Arc, Mutex};

const RW: Prot = Prot::READ.union(Prot::WRITE);
const P: u64 = PAGE_SIZE;

#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl MmuNotifier for Log {
    fn invalidate_range_start(&self, range: &MmuNotifierRange) {
        if range.event == MmuNotifierEvent::Discard {
            let mut log = self.0.lock().unwrap();
            log.push(format!("discard {:#x}-{:#x}", range.start, range.end));
        }
    }
}

#[test]
fn truncation_zaps_every_mapping_past_the_end_and_keeps_the_vmas() {
    let mm: Mm<()> = Mm::new();
    let log = Arc::new(Log::default());
    mm.mmu_notifier_register(log.clone());
    let file = File::new("data", 8 * P);
    let fixed = MapFlags::FIXED;
    let shared = mm
        .mmap(
            0x10_0000,
            8 * P,
            RW,
            MapFlags::SHARED | fixed,
            Some((file.clone(), 0)),
            (),
        )
        .unwrap();
    let private = mm
        .mmap(
            0x20_0000,
            8 * P,
            RW,
            MapFlags::PRIVATE | fixed,
            Some((file.clone(), 0)),
            (),
        )
        .unwrap();
    mm.access_write(shared + 2 * P - 4, b"tail").unwrap();
    mm.access_write(shared + 5 * P, b"gone").unwrap();
    mm.access_write(private + 6 * P, b"copy").unwrap();

    let mms: [&dyn FileMappings; 1] = [&mm];
    file.truncate(2 * P - 2, &mms).unwrap();
    assert_eq!(file.size(), 2 * P - 2);
    // The page holding the end stays; past it, SIGBUS in both mappings.
    assert_eq!(mm.handle_fault(shared + P, Access::Read), Ok(()));
    for addr in [shared + 2 * P, shared + 5 * P, private + 6 * P] {
        assert_eq!(mm.handle_fault(addr, Access::Read), Err(FaultError::Bus));
    }
    // The bytes past the end of the last page read as zeroes.
    let mut buf = [0xff; 4];
    assert_eq!(file.read_at(2 * P - 4, &mut buf), Ok(2));
    assert_eq!(&buf[..2], b"ta");
    let seen = log.0.lock().unwrap().clone();
    assert_eq!(
        seen,
        ["discard 0x102000-0x108000", "discard 0x202000-0x208000"]
    );

    // Grown back: the old pages read as zeroes, the private copy is gone.
    file.truncate(8 * P, &mms).unwrap();
    let mut page = [0xff; 4];
    mm.access_read(shared + 5 * P, &mut page).unwrap();
    assert_eq!(page, [0; 4]);
    mm.access_read(private + 6 * P, &mut page).unwrap();
    assert_eq!(page, [0; 4]);
    assert_eq!(mm.maps_lines().count(), 2);
}

#[test]
fn truncation_refuses_what_linux_refuses() {
    let mm: Mm<()> = Mm::new();
    let mms: [&dyn FileMappings; 1] = [&mm];
    let file = File::new("data", P);
    assert_eq!(file.truncate(1 << 63, &mms), Err(Errno::EINVAL));
    assert_eq!(file.truncate(u64::MAX, &mms), Err(Errno::EINVAL));
    assert_eq!(file.truncate(i64::MAX as u64, &mms), Ok(()));
    let read_only = File::new_read_only("ro", P);
    assert_eq!(read_only.truncate(0, &mms), Err(Errno::EINVAL));
    assert_eq!(read_only.size(), P);
}

/// A backend that logs the calls a truncation makes.
#[derive(Default)]
struct Calls(Mutex<Vec<String>>);

impl Backend for Calls {
    fn discard(&self, m: &Mapping<'_>, lazy: bool) {
        let mut log = self.0.lock().unwrap();
        log.push(format!("discard {:#x}-{:#x} {lazy}", m.start, m.end));
    }
    fn truncate(&self, file: &File, size: u64) {
        let mut log = self.0.lock().unwrap();
        log.push(format!("truncate {} {size:#x}", file.name()));
    }
    fn read(&self, _: &Mapping<'_>, _: u64, buf: &mut [u8]) -> Result<(), PageGone> {
        buf.fill(0);
        Ok(())
    }
    fn write(&self, _: &Mapping<'_>, _: u64, _: &[u8]) -> Result<(), PageGone> {
        Ok(())
    }
}

#[test]
fn the_backend_hears_of_the_zap_and_the_new_size() {
    let calls = Arc::new(Calls::default());
    let mm: Mm<()> = Mm::with_backend(MmConfig::default(), calls.clone());
    let file = File::new("data", 4 * P);
    let flags = MapFlags::SHARED | MapFlags::FIXED | MapFlags::LOCKED;
    mm.mmap(0x10_0000, 4 * P, RW, flags, Some((file.clone(), 0)), ())
        .unwrap();
    let mms: [&dyn FileMappings; 1] = [&mm];
    file.truncate(P, &mms).unwrap();
    file.truncate(3 * P, &mms).unwrap();
    assert_eq!(
        *calls.0.lock().unwrap(),
        [
            "discard 0x101000-0x104000 false",
            "truncate data 0x1000",
            "truncate data 0x3000"
        ]
    );
}

#[test]
fn mlockall_flags_and_def_flags() {
    let mm: Mm<()> = Mm::new();
    for bad in [0, 4, 8, 1 | 8] {
        let flags = MlockallFlags::from_bits_retain(bad);
        assert_eq!(mm.mlockall(flags), Err(Errno::EINVAL), "{bad:#x}");
    }
    assert_eq!(
        mm.mlock2(0x10_0000, P, MlockFlags::from_bits_retain(2)),
        Err(Errno::EINVAL)
    );
    mm.mlockall(MlockallFlags::FUTURE | MlockallFlags::ONFAULT)
        .unwrap();
    assert_eq!(mm.def_flags(), VmFlags::LOCKED | VmFlags::LOCKONFAULT);
    let at = mm
        .mmap(
            0x10_0000,
            2 * P,
            RW,
            MapFlags::PRIVATE | MapFlags::FIXED,
            None,
            (),
        )
        .unwrap();
    let flags = mm.maps_lines().next().unwrap().flags();
    assert!(flags.contains(VmFlags::LOCKED | VmFlags::LOCKONFAULT));
    {
        let mmap = mm.mmap_read_lock();
        let vma = mmap.vma_lookup(at).unwrap();
        assert_eq!(
            mm.vma_resident(vma).rss,
            0,
            "locked on fault: nothing populated"
        );
    }
    mm.mlockall(MlockallFlags::CURRENT).unwrap();
    assert_eq!(mm.def_flags(), VmFlags::empty());
    let flags = mm.maps_lines().next().unwrap().flags();
    assert!(flags.contains(VmFlags::LOCKED) && !flags.contains(VmFlags::LOCKONFAULT));
    mm.munlockall().unwrap();
    assert!(!mm
        .maps_lines()
        .next()
        .unwrap()
        .flags()
        .contains(VmFlags::LOCKED));
}

#[test]
fn prot_growsdown_reaches_down_to_the_start_of_the_stack() {
    let mm: Mm<()> = Mm::new();
    let flags = MapFlags::PRIVATE | MapFlags::FIXED;
    mm.mmap(0x10_0000, 4 * P, RW, flags | MapFlags::GROWSDOWN, None, ())
        .unwrap();
    mm.mmap(0x20_0000, 4 * P, RW, flags, None, ()).unwrap();
    // Below the stack: the fault grows it first.
    assert_eq!(mm.handle_fault(0x10_0000 - 2 * P, Access::Write), Ok(()));
    let stack = Prot::READ | Prot::GROWSDOWN;
    assert_eq!(mm.mprotect(0x10_2000, P, stack), Ok(()));
    let lines: Vec<_> = mm
        .maps_lines()
        .map(|l| (l.start(), l.end(), l.flags().prot()))
        .collect();
    assert_eq!(lines[0], (0x10_0000 - 2 * P, 0x10_3000, Prot::READ));
    assert_eq!(lines[1], (0x10_3000, 0x10_4000, RW));
    assert_eq!(mm.mprotect(0x20_1000, P, stack), Err(Errno::EINVAL));
    assert_eq!(
        mm.mprotect(0x20_1000, P, Prot::READ | Prot::GROWSUP),
        Err(Errno::EINVAL)
    );
}
