//! The backend contract, checked against pervma's own memory.
//!
//! Two address spaces run the same random operations: one with the
//! default memory (pervma's page table holds the bytes), one with a
//! [`Mirror`] backend that keeps its own pages as a kernel's page tables
//! would, knowing only what the `Backend` calls tell it. After every
//! operation both give the same results and the same maps, the mirror maps
//! exactly the pages pervma's VMAs cover with the VMAs' permissions, and
//! every read gives the same bytes. A call the mirror cannot make sense of
//! (a read of a page no fault installed, a store to a read-only one, a
//! flag change of unmapped memory) is a contract violation and fails the
//! test.

use pervma::{
    Access, Backend, Errno, File, Install, MapFlags, Mapping, Mm, MmConfig, MremapFlags, PageGone,
    Prot, VmFlags,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

const P: u64 = 4096;
const PB: usize = P as usize;
/// The window the operations address: 2 MiB aligned (THP), small enough
/// that operations meet each other's ranges often.
const BASE: u64 = 0x4000_0000;
const PAGES: u64 = 96;

type Bytes = Box<[u8; PB]>;

#[derive(Clone, Debug)]
enum Frame {
    Zero,
    Private(Bytes),
    File,
}

#[derive(Clone, Debug)]
struct PageState {
    prot: Prot,
    shared: bool,
    /// (file id, page index) for file and shmem mappings.
    file: Option<(u64, u64)>,
    frame: Option<Frame>,
}

#[derive(Default)]
struct MirrorState {
    pages: BTreeMap<u64, PageState>,
    files: HashMap<(u64, u64), Bytes>,
    violations: Vec<String>,
}

/// A backend with pages of its own, driven only by `Backend` calls.
#[derive(Default)]
struct Mirror(Mutex<MirrorState>);

impl MirrorState {
    fn fresh(m: &Mapping<'_>, a: u64) -> PageState {
        PageState {
            prot: m.prot(),
            shared: m.flags.contains(VmFlags::MAYSHARE),
            file: m.file.map(|f| (f.id(), m.page_index(a))),
            frame: None,
        }
    }

    /// What a user copy's [`Mapping`] must say: it is the VMA around the
    /// copy, allows the access, and maps there what the mirror has.
    fn check_copy(&mut self, m: &Mapping<'_>, addr: u64, len: usize, write: bool) {
        let page = addr & !(P - 1);
        let want = Self::fresh(m, page);
        let allowed = if write {
            m.prot().contains(Prot::WRITE)
        } else {
            m.prot() != Prot::NONE
        };
        let agrees = self
            .pages
            .get(&page)
            .is_some_and(|p| p.file == want.file && p.prot == want.prot);
        if !(m.start <= addr && addr + len as u64 <= m.end && allowed && agrees) {
            let had = self.pages.get(&page).map(|p| (p.prot, p.file));
            self.violations.push(format!(
                "copy at {addr:#x} (write: {write}) with {:#x}-{:#x} {:?} {:?}, mirror has {had:?}",
                m.start,
                m.end,
                m.prot(),
                want.file
            ));
        }
    }

    fn file_bytes(&self, key: (u64, u64)) -> Bytes {
        self.files
            .get(&key)
            .cloned()
            .unwrap_or_else(|| Box::new([0; PB]))
    }
}

fn pages(start: u64, end: u64) -> impl Iterator<Item = u64> {
    (start..end).step_by(PB)
}

impl Backend for Mirror {
    fn map(&self, m: &Mapping<'_>) -> Result<(), Errno> {
        let mut s = self.0.lock().unwrap();
        for a in pages(m.start, m.end) {
            if s.pages.contains_key(&a) {
                s.violations.push(format!("map over mapped page {a:#x}"));
            }
            s.pages.insert(a, MirrorState::fresh(m, a));
        }
        Ok(())
    }

    fn unmap(&self, start: u64, end: u64) {
        let mut s = self.0.lock().unwrap();
        let gone: Vec<u64> = s.pages.range(start..end).map(|(&a, _)| a).collect();
        for a in gone {
            s.pages.remove(&a);
        }
    }

    fn change_flags(&self, m: &Mapping<'_>, _old: VmFlags) -> Result<(), Errno> {
        let mut s = self.0.lock().unwrap();
        for a in pages(m.start, m.end) {
            match s.pages.get_mut(&a) {
                Some(p) => p.prot = m.prot(),
                None => s
                    .violations
                    .push(format!("change_flags of unmapped {a:#x}")),
            }
        }
        Ok(())
    }

    fn move_range(
        &self,
        from: u64,
        len: u64,
        to: &Mapping<'_>,
        keep_source: bool,
    ) -> Result<(), Errno> {
        let mut s = self.0.lock().unwrap();
        let unmapped: Vec<u64> = s.pages.range(to.start..to.end).map(|(&a, _)| a).collect();
        let mut moved = Vec::new();
        for a in pages(from, from + len) {
            match s.pages.get_mut(&a) {
                Some(p) if keep_source => moved.push((a, p.clone())),
                Some(_) => moved.push((a, s.pages.remove(&a).unwrap())),
                None => s.violations.push(format!("move of unmapped {a:#x}")),
            }
            if keep_source {
                if let Some(p) = s.pages.get_mut(&a) {
                    p.frame = None;
                }
            }
        }
        for a in unmapped {
            s.pages.remove(&a);
        }
        for a in pages(to.start, to.end) {
            s.pages.insert(a, MirrorState::fresh(to, a));
        }
        for (a, p) in moved {
            let dst = to.start + (a - from);
            s.pages.get_mut(&dst).unwrap().frame = p.frame;
        }
        Ok(())
    }

    fn discard(&self, m: &Mapping<'_>, lazy: bool) {
        let mut s = self.0.lock().unwrap();
        for a in pages(m.start, m.end) {
            match s.pages.get_mut(&a) {
                // MADV_FREE keeps pages until reclaim, which never comes
                // here; pervma's own memory does the same.
                Some(p) if !lazy => p.frame = None,
                Some(_) => {}
                None => s.violations.push(format!("discard of unmapped {a:#x}")),
            }
        }
    }

    fn install(
        &self,
        m: &Mapping<'_>,
        addr: u64,
        _access: Access,
        what: Install,
    ) -> Result<(), Errno> {
        let mut s = self.0.lock().unwrap();
        let targets: Vec<u64> = match what {
            Install::Anon { huge: true } => {
                let block = addr & !(2 * 1024 * 1024 - 1);
                pages(block.max(m.start), (block + 2 * 1024 * 1024).min(m.end)).collect()
            }
            _ => vec![addr & !(P - 1)],
        };
        for a in targets {
            let Some(file) = s.pages.get(&a).map(|p| p.file) else {
                s.violations
                    .push(format!("install {what:?} at unmapped {a:#x}"));
                continue;
            };
            let copy = match (what, file) {
                (Install::CowPage, Some(key)) => Some(s.file_bytes(key)),
                _ => None,
            };
            let p = s.pages.get_mut(&a).unwrap();
            let frame = &mut p.frame;
            match what {
                Install::ZeroPage if frame.is_none() => *frame = Some(Frame::Zero),
                Install::FilePage if frame.is_none() => *frame = Some(Frame::File),
                Install::Anon { .. } if !matches!(frame, Some(Frame::Private(_))) => {
                    *frame = Some(Frame::Private(Box::new([0; PB])))
                }
                Install::CowPage if !matches!(frame, Some(Frame::Private(_))) => {
                    *frame = Some(Frame::Private(copy.unwrap_or_else(|| Box::new([0; PB]))))
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn read(&self, m: &Mapping<'_>, addr: u64, buf: &mut [u8]) -> Result<(), PageGone> {
        let mut s = self.0.lock().unwrap();
        s.check_copy(m, addr, buf.len(), false);
        let page = addr & !(P - 1);
        let off = (addr - page) as usize;
        let bytes = match s.pages.get(&page).map(|p| (p.frame.clone(), p.file)) {
            Some((Some(Frame::Zero), _)) => Box::new([0; PB]),
            Some((Some(Frame::Private(b)), _)) => b,
            Some((Some(Frame::File), Some(key))) => s.file_bytes(key),
            other => {
                s.violations.push(format!("read of {addr:#x}: {other:?}"));
                return Ok(());
            }
        };
        buf.copy_from_slice(&bytes[off..off + buf.len()]);
        Ok(())
    }

    fn write(&self, m: &Mapping<'_>, addr: u64, data: &[u8]) -> Result<(), PageGone> {
        let mut s = self.0.lock().unwrap();
        s.check_copy(m, addr, data.len(), true);
        let page = addr & !(P - 1);
        let off = (addr - page) as usize;
        let Some(p) = s.pages.get_mut(&page) else {
            s.violations.push(format!("write to unmapped {addr:#x}"));
            return Ok(());
        };
        if !p.prot.contains(Prot::WRITE) {
            s.violations.push(format!("write to read-only {addr:#x}"));
            return Ok(());
        }
        match (&mut p.frame, p.file, p.shared) {
            (Some(Frame::Private(b)), ..) => b[off..off + data.len()].copy_from_slice(data),
            (Some(Frame::File), Some(key), true) => {
                let mut bytes = s.file_bytes(key);
                bytes[off..off + data.len()].copy_from_slice(data);
                s.files.insert(key, bytes);
            }
            other => {
                let other = format!("{other:?}");
                s.violations.push(format!("write to {addr:#x}: {other}"));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
enum Kind {
    Anon,
    SharedAnon,
    File {
        file: usize,
        page: u64,
        shared: bool,
    },
}

#[derive(Clone, Debug)]
enum Op {
    Mmap {
        page: u64,
        pages: u64,
        prot: u32,
        kind: Kind,
    },
    Munmap {
        page: u64,
        pages: u64,
    },
    Mprotect {
        page: u64,
        pages: u64,
        prot: u32,
    },
    Mremap {
        page: u64,
        old: u64,
        new: u64,
        flags: u32,
        to: u64,
    },
    DontNeed {
        page: u64,
        pages: u64,
    },
    Mlock {
        page: u64,
        pages: u64,
    },
    Write {
        page: u64,
        off: u64,
        len: u64,
        byte: u8,
    },
    Read {
        page: u64,
        off: u64,
        len: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let page = 0..PAGES;
    let pages = prop_oneof![4 => 1u64..8, 2 => 8u64..32, 1 => Just(512u64)];
    let prot = 0u32..8;
    let kind = prop_oneof![
        3 => Just(Kind::Anon),
        1 => Just(Kind::SharedAnon),
        2 => (0usize..2, 0u64..16, any::<bool>())
            .prop_map(|(file, page, shared)| Kind::File { file, page, shared }),
    ];
    prop_oneof![
        4 => (page.clone(), pages.clone(), prot.clone(), kind)
            .prop_map(|(page, pages, prot, kind)| Op::Mmap { page, pages, prot, kind }),
        2 => (page.clone(), pages.clone()).prop_map(|(page, pages)| Op::Munmap { page, pages }),
        2 => (page.clone(), pages.clone(), prot)
            .prop_map(|(page, pages, prot)| Op::Mprotect { page, pages, prot }),
        2 => (page.clone(), pages.clone(), pages.clone(), 0u32..8, page.clone())
            .prop_map(|(page, old, new, flags, to)| Op::Mremap { page, old, new, flags, to }),
        1 => (page.clone(), pages.clone()).prop_map(|(page, pages)| Op::DontNeed { page, pages }),
        1 => (page.clone(), pages.clone()).prop_map(|(page, pages)| Op::Mlock { page, pages }),
        4 => (page.clone(), 0u64..P, 1u64..3 * P, any::<u8>())
            .prop_map(|(page, off, len, byte)| Op::Write { page, off, len, byte }),
        4 => (page, 0u64..P, 1u64..3 * P).prop_map(|(page, off, len)| Op::Read { page, off, len }),
    ]
}

fn addr(page: u64) -> u64 {
    BASE + page * P
}

/// One operation on one space, its result as text.
fn apply(mm: &Mm<()>, files: &[Arc<File>], op: &Op) -> String {
    match op {
        Op::Mmap {
            page,
            pages,
            prot,
            kind,
        } => {
            let prot = Prot::from_bits_truncate(*prot);
            let (flags, file) = match kind {
                Kind::Anon => (MapFlags::PRIVATE | MapFlags::ANONYMOUS, None),
                Kind::SharedAnon => (MapFlags::SHARED | MapFlags::ANONYMOUS, None),
                Kind::File { file, page, shared } => (
                    if *shared {
                        MapFlags::SHARED
                    } else {
                        MapFlags::PRIVATE
                    },
                    Some((files[*file].clone(), page * P)),
                ),
            };
            let r = mm.mmap(
                addr(*page),
                pages * P,
                prot,
                flags | MapFlags::FIXED,
                file,
                (),
            );
            format!("{:?}", r.map_err(|e| e.errno))
        }
        Op::Munmap { page, pages } => format!("{:?}", mm.munmap(addr(*page), pages * P)),
        Op::Mprotect { page, pages, prot } => format!(
            "{:?}",
            mm.mprotect(addr(*page), pages * P, Prot::from_bits_truncate(*prot))
        ),
        Op::Mremap {
            page,
            old,
            new,
            flags,
            to,
        } => {
            let mut f = MremapFlags::empty();
            if flags & 1 != 0 {
                f |= MremapFlags::MAYMOVE;
            }
            if flags & 2 != 0 {
                f |= MremapFlags::MAYMOVE | MremapFlags::FIXED;
            }
            if flags & 4 != 0 {
                f |= MremapFlags::MAYMOVE | MremapFlags::DONTUNMAP;
            }
            let new = if f.contains(MremapFlags::DONTUNMAP) {
                *old
            } else {
                *new
            };
            let r = mm.mremap(addr(*page), old * P, new * P, f, addr(*to));
            // Where an unfixed move lands is the same in both spaces.
            format!("{r:?}")
        }
        Op::DontNeed { page, pages } => format!(
            "{:?}",
            mm.madvise(addr(*page), pages * P, pervma::Advice::DontNeed)
        ),
        Op::Mlock { page, pages } => format!("{:?}", mm.mlock(addr(*page), pages * P)),
        Op::Write {
            page,
            off,
            len,
            byte,
        } => {
            let data: Vec<u8> = (0..*len).map(|i| byte.wrapping_add(i as u8)).collect();
            format!("{:?}", mm.access_write(addr(*page) + off, &data))
        }
        Op::Read { page, off, len } => {
            let mut buf = vec![0xAA; *len as usize];
            let r = mm.access_read(addr(*page) + off, &mut buf);
            let sum: u64 = buf.iter().map(|&b| b as u64).sum();
            format!("{r:?} {sum} {:?}", &buf[..buf.len().min(16)])
        }
    }
}

/// The mirror maps exactly pervma's VMAs' pages, with their permissions.
fn check_mirror(mm: &Mm<()>, mirror: &Mirror) -> Result<(), String> {
    let s = mirror.0.lock().unwrap();
    if let Some(v) = s.violations.first() {
        return Err(format!("contract violation: {v}"));
    }
    let guard = mm.mmap_read_lock();
    let mut expected = 0;
    for vma in guard.vmas() {
        for a in pages(vma.start(), vma.end()) {
            expected += 1;
            match s.pages.get(&a) {
                Some(p) if p.prot == vma.flags().prot() => {}
                other => return Err(format!("{a:#x}: VMA {:?}, mirror {other:?}", vma.flags())),
            }
        }
    }
    if expected != s.pages.len() {
        return Err(format!(
            "mirror maps {} pages, VMAs cover {expected}",
            s.pages.len()
        ));
    }
    Ok(())
}

/// `/proc/pid/maps` without inode numbers (each space's shared anonymous
/// mappings get shmem objects of their own).
fn maps(mm: &Mm<()>) -> Vec<String> {
    mm.maps()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            format!("{} {} {} {}", f[0], f[1], f[2], f.get(5).unwrap_or(&""))
        })
        .collect()
}

fn config() -> MmConfig {
    let mut config = MmConfig::default();
    config.task_size = 1 << 32;
    config.mmap_base = 1 << 31;
    config
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn a_backend_sees_what_pervma_memory_holds(ops in prop::collection::vec(op(), 1..120)) {
        let files: Vec<Arc<File>> = (0..2).map(|i| File::new(format!("f{i}"), 12 * P)).collect();
        let software: Mm<()> = Mm::with_config(config());
        let mirror = Arc::new(Mirror::default());
        let backed: Mm<()> = Mm::with_backend(config(), mirror.clone());
        for (i, op) in ops.iter().enumerate() {
            let want = apply(&software, &files, op);
            let got = apply(&backed, &files, op);
            prop_assert_eq!(&got, &want, "op {} {:?}", i, op);
            prop_assert_eq!(maps(&backed), maps(&software), "op {} {:?}", i, op);
            if let Err(e) = check_mirror(&backed, &mirror) {
                prop_assert!(false, "op {} {:?}: {}", i, op, e);
            }
        }
        drop(backed);
        prop_assert!(mirror.0.lock().unwrap().pages.is_empty(), "dropping the Mm unmaps everything");
    }
}
