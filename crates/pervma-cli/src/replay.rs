//! `pervma replay SCRIPT`: an mmscript on a pervma address space.
//!
//! The model side of the differential test: the same script, run by
//! `pervma-kernel-runner` against the live kernel, must print the same
//! bytes. The window sits at the same absolute address as the kernel
//! runner's ([`mmscript::window::BASE`]), so THP alignment and anonymous
//! pgoffs agree, and script addresses map to absolute ones the same way.
//!
//! [`Model::with_mm`] runs scripts on an address space of the caller's
//! (one with a [`Backend`](pervma::Backend), say) with the window
//! wherever that space has room for it.

use mmscript::REJECTED_START;
use mmscript::{Backing, ForkSide, Kind, MapsLine, Op, Outcome, Runner, SmapsFlags, WINDOW_SIZE};
use pervma::Advice;
use pervma::{
    Access, Errno, FaultError, File, FileMappings, MapFlags, MlockFlags, MlockallFlags, Mm,
    MmConfig, MremapFlags, PkeyRights, Prot, VmFlags, Vma,
};
use std::collections::HashMap;
use std::sync::Arc;

/// The size of every script file (MMSCRIPT.md: 1 GiB of zeroes).
const FILE_SIZE: u64 = 1 << 30;

/// A pervma address space that runs mmscript operations.
pub struct Model {
    mm: Mm<()>,
    /// The absolute address of script address 0.
    base: u64,
    files: HashMap<String, Arc<File>>,
    /// The other processes of the script: the parents that `fork child`
    /// left waiting and the children that `fork parent` left alone. They
    /// do nothing, but they keep their pages, which stay shared
    /// copy-on-write with this space's as after a real fork.
    others: Vec<Mm<()>>,
    /// `--smaps`: `maps` lines carry `Rss`, `Anonymous`, `Locked` (smaps.rs).
    pub smaps: bool,
}

impl Model {
    /// A new address space with `config`, the window at
    /// [`mmscript::window::BASE`] as the kernel runner's.
    pub fn new(config: MmConfig) -> Self {
        Model::with_mm(Mm::with_config(config), mmscript::window::BASE)
    }

    /// Runs scripts on `mm` with the window at `base` (aligned to at
    /// least 1 GiB, as MMSCRIPT.md asks, so that THP alignment agrees).
    pub fn with_mm(mm: Mm<()>, base: u64) -> Self {
        debug_assert!(base % (1 << 30) == 0, "the window is 1 GiB-aligned");
        Model {
            mm,
            base,
            files: HashMap::new(),
            others: Vec::new(),
            smaps: false,
        }
    }

    /// The address space the scripts run on (after `fork child`, the
    /// child's).
    pub fn mm(&self) -> &Mm<()> {
        &self.mm
    }

    /// The absolute address of script address `addr`: an offset in the
    /// window below 2^47, unchanged above (as [`mmscript::window::absolute`]).
    pub fn absolute(&self, addr: u64) -> u64 {
        if addr >= REJECTED_START {
            addr
        } else {
            self.base + addr
        }
    }

    /// The script address of absolute address `addr` (wrapping).
    pub fn relative(&self, addr: u64) -> u64 {
        addr.wrapping_sub(self.base)
    }

    fn file(&mut self, name: &str) -> Arc<File> {
        self.files
            .entry(name.to_owned())
            .or_insert_with(|| File::new(name, FILE_SIZE))
            .clone()
    }
}

fn prot(p: &mmscript::Prot) -> Prot {
    let mut prot = Prot::NONE;
    prot.set(Prot::READ, p.read);
    prot.set(Prot::WRITE, p.write);
    prot.set(Prot::EXEC, p.exec);
    prot
}

fn outcome<T>(result: Result<T, Errno>, ok: impl FnOnce(T) -> Outcome) -> Outcome {
    match result {
        Ok(v) => ok(v),
        Err(e) => Outcome::Err(mmscript::Errno::new(e.raw())),
    }
}

impl Runner for Model {
    fn run_op(&mut self, op: &Op) -> Outcome {
        match op {
            Op::Mmap {
                addr,
                len,
                prot: p,
                kind,
                flags,
            } => {
                let mut f = if kind.is_shared() {
                    MapFlags::SHARED
                } else {
                    MapFlags::PRIVATE
                };
                for (on, flag) in [
                    (flags.fixed, MapFlags::FIXED),
                    (flags.noreplace, MapFlags::FIXED_NOREPLACE),
                    (flags.noreserve, MapFlags::NORESERVE),
                    (flags.populate, MapFlags::POPULATE),
                    (flags.locked, MapFlags::LOCKED),
                    (flags.growsdown, MapFlags::GROWSDOWN),
                    (flags.stack, MapFlags::STACK),
                ] {
                    f.set(flag, on);
                }
                let file = match kind {
                    Kind::PrivateFile { name, offset } | Kind::SharedFile { name, offset } => {
                        Some((self.file(name), *offset))
                    }
                    Kind::PrivateAnon | Kind::SharedAnon => None,
                };
                let result = self
                    .mm
                    .mmap(self.absolute(*addr), *len, prot(p), f, file, ());
                outcome(result.map_err(|e| e.errno), |a| {
                    Outcome::OkAddr(self.relative(a))
                })
            }
            Op::Munmap { addr, len } => {
                outcome(self.mm.munmap(self.absolute(*addr), *len), |()| Outcome::Ok)
            }
            Op::Touch { addr, write } => {
                let access = if *write { Access::Write } else { Access::Read };
                match self.mm.handle_fault(self.absolute(*addr), access) {
                    Ok(()) => Outcome::Ok,
                    Err(FaultError::MapErr | FaultError::AccErr | FaultError::PkuErr) => {
                        Outcome::Segv
                    }
                    Err(FaultError::Bus) => Outcome::Bus,
                    // Only a backend runs out of memory; the kernel's
                    // answer would be the OOM killer, which no script
                    // records: say what happened instead.
                    Err(FaultError::Oom) => Outcome::Err(mmscript::Errno::ENOMEM),
                }
            }
            Op::Mprotect { addr, len, prot: p } => outcome(
                self.mm.mprotect(self.absolute(*addr), *len, prot(p)),
                |()| Outcome::Ok,
            ),
            Op::Madvise { addr, len, advice } => {
                let advice = advice_of(*advice);
                outcome(self.mm.madvise(self.absolute(*addr), *len, advice), |()| {
                    Outcome::Ok
                })
            }
            Op::Mlock { addr, len, onfault } => {
                let flags = if *onfault {
                    MlockFlags::ONFAULT
                } else {
                    MlockFlags::empty()
                };
                outcome(self.mm.mlock2(self.absolute(*addr), *len, flags), |()| {
                    Outcome::Ok
                })
            }
            Op::Mlockall { flags } => {
                let flags = MlockallFlags::from_bits_retain(flags.bits() as u32);
                outcome(self.mm.mlockall(flags), |()| Outcome::Ok)
            }
            Op::Munlockall => outcome(self.mm.munlockall(), |()| Outcome::Ok),
            Op::Truncate { name, size } => {
                let file = self.file(name);
                let mm: &dyn FileMappings = &self.mm;
                outcome(file.truncate(*size, &[mm]), |()| Outcome::Ok)
            }
            Op::Munlock { addr, len } => {
                outcome(self.mm.munlock(self.absolute(*addr), *len), |()| {
                    Outcome::Ok
                })
            }
            Op::Mseal { addr, len } => {
                outcome(self.mm.mseal(self.absolute(*addr), *len, 0), |()| {
                    Outcome::Ok
                })
            }
            Op::Mremap {
                old_addr,
                old_len,
                new_len,
                flags,
            } => {
                let mut f = MremapFlags::empty();
                f.set(MremapFlags::MAYMOVE, flags.maymove_flag());
                f.set(MremapFlags::FIXED, flags.fixed.is_some());
                f.set(MremapFlags::DONTUNMAP, flags.dontunmap);
                // Without `fixed` the new-address argument is 0, not the
                // window's base.
                let new_addr = flags.fixed.map_or(0, |a| self.absolute(a));
                let result =
                    self.mm
                        .mremap(self.absolute(*old_addr), *old_len, *new_len, f, new_addr);
                outcome(result, |a| Outcome::OkAddr(self.relative(a)))
            }
            Op::PkeyAlloc { rights } => {
                let rights = PkeyRights::from_bits_retain(rights.bits());
                outcome(self.mm.pkey_alloc(0, rights), |key| {
                    Outcome::OkKey(key as i32)
                })
            }
            Op::PkeyFree { key } => outcome(self.mm.pkey_free(*key), |()| Outcome::Ok),
            Op::PkeyMprotect {
                addr,
                len,
                prot: p,
                pkey,
            } => outcome(
                self.mm
                    .pkey_mprotect(self.absolute(*addr), *len, prot(p), *pkey),
                |()| Outcome::Ok,
            ),
            Op::Fork { side } => match self.mm.fork() {
                Ok(child) => {
                    match side {
                        ForkSide::Child => {
                            let parent = std::mem::replace(&mut self.mm, child);
                            self.others.push(parent);
                        }
                        ForkSide::Parent => self.others.push(child),
                    }
                    Outcome::Ok
                }
                Err(e) => Outcome::Err(mmscript::Errno::new(e.raw())),
            },
            Op::Maps => unreachable!("the driver calls Runner::maps for `maps`"),
        }
    }

    fn maps(&mut self) -> Vec<MapsLine> {
        let base = self.base;
        let mmap = self.mm.mmap_read_lock();
        // The forks' spaces: their mappings of a file share its pages.
        let others: Vec<_> = match self.smaps {
            true => self.others.iter().map(|mm| mm.mmap_read_lock()).collect(),
            false => Vec::new(),
        };
        let others: Vec<&pervma::MmapLocked<'_, ()>> = others.iter().map(|g| &**g).collect();
        mmap.vmas_from(self.absolute(0))
            .take_while(|v| v.start() < self.absolute(WINDOW_SIZE))
            .map(|v| {
                let line = maps_line(v, base);
                if self.smaps {
                    crate::smaps::with_memory(line, &mmap, v, &others)
                } else {
                    line
                }
            })
            .collect()
    }
}

/// The pervma advice for an mmscript advice word: both have Linux's
/// `MADV_*` values, and pervma knows every word mmscript has.
fn advice_of(advice: mmscript::Advice) -> Advice {
    Advice::from_raw(advice.raw()).expect("pervma models every mmscript advice")
}

/// The `/proc/self/smaps` view of one VMA, in mmscript's terms.
fn maps_line(vma: &Vma<()>, base: u64) -> MapsLine {
    let flags = vma.flags();
    let backing = match vma.file() {
        None => Backing::Anon,
        Some(f) if f.is_shmem() => Backing::Shmem,
        Some(f) => Backing::File(f.name().to_owned()),
    };
    MapsLine {
        start: vma.start().wrapping_sub(base),
        end: vma.end().wrapping_sub(base),
        prot: mmscript::Prot {
            read: flags.contains(VmFlags::READ),
            write: flags.contains(VmFlags::WRITE),
            exec: flags.contains(VmFlags::EXEC),
        },
        shared: flags.contains(VmFlags::MAYSHARE),
        offset_bytes: if vma.file().is_some() {
            vma.pgoff() << 12
        } else {
            0
        },
        backing,
        flags: smaps_flags(flags),
        memory: None,
    }
}

/// `show_smap_vma_flags` (pervma's [`VmFlags::smaps_mnemonics`]),
/// restricted to the flags mmscript prints.
fn smaps_flags(flags: VmFlags) -> SmapsFlags {
    flags
        .smaps_mnemonics()
        .filter_map(SmapsFlags::from_name)
        .fold(SmapsFlags::empty(), |out, flag| out | flag)
}
