//! The live kernel as an mmscript [`Runner`].
//!
//! Each operation becomes the system call the spec names, through
//! [`Zone`], which makes the window's addresses absolute and results
//! relative again; `maps` reads `/proc/self/smaps`. This module only
//! translates words to flags: it has no `unsafe`.
//!
//! Files are memfds, one per `NAME`, created on first use, 1 GiB long, and
//! kept open for the whole run (so a name keeps naming the same object).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::process;

use libc::c_int;
use mmscript::{Advice, Errno, ForkSide, MapsLine, Op, Outcome, Prot, Runner, WINDOW_SIZE};

use crate::sys::{Forked, Touched, Zone};
use crate::{smaps, sys, window};

/// How long every file is: 1 GiB of zeroes.
const FILE_SIZE: u64 = 1 << 30;

/// The exit status for a failure of the environment (not of the script).
const EXIT_FAILURE: i32 = 1;

/// Runs operations as real system calls on this process.
pub(crate) struct KernelRunner {
    zone: Zone,
    files: HashMap<String, File>,
    /// The smaps mode: `maps` lines carry `Rss`, `Anonymous`, `Locked` (and
    /// `ProtectionKey` where Linux prints it).
    smaps: bool,
    /// The children that `fork parent` left alive, killed when the run
    /// ends.
    children: Vec<libc::pid_t>,
}

impl Drop for KernelRunner {
    /// The script ended: the children of `fork parent` go.
    fn drop(&mut self) {
        sys::kill_children(&self.children);
    }
}

impl KernelRunner {
    /// A runner in the zone; `smaps` selects the smaps mode.
    pub(crate) fn new(zone: Zone, smaps: bool) -> KernelRunner {
        KernelRunner {
            zone,
            files: HashMap::new(),
            smaps,
            children: Vec::new(),
        }
    }

    /// The descriptor of the file `name`, created on first use.
    fn file(&mut self, name: &str) -> c_int {
        if !self.files.contains_key(name) {
            match sys::memfd(name, FILE_SIZE) {
                Ok(file) => {
                    self.files.insert(name.to_owned(), file);
                }
                Err(error) => fail(&format!("cannot create the memfd {name:?}: {error}")),
            }
        }
        self.files[name].as_raw_fd()
    }
}

impl Runner for KernelRunner {
    fn run_op(&mut self, op: &Op) -> Outcome {
        // The parser already refused ranges outside the zone (and Zone would
        // panic on one); say so plainly if it ever happens.
        if let Err(message) = op.check_ranges() {
            fail(&format!("refusing to run `{op}`: {message}"));
        }
        let result = match op {
            Op::Mmap {
                addr,
                len,
                prot,
                kind,
                flags,
            } => {
                let mut bits = if kind.is_shared() {
                    libc::MAP_SHARED
                } else {
                    libc::MAP_PRIVATE
                };
                let (fd, offset) = match kind.file() {
                    Some((name, offset)) => (self.file(name), offset),
                    None => {
                        bits |= libc::MAP_ANONYMOUS;
                        (-1, 0)
                    }
                };
                for (on, bit) in [
                    (flags.fixed, libc::MAP_FIXED),
                    (flags.noreplace, libc::MAP_FIXED_NOREPLACE),
                    (flags.noreserve, libc::MAP_NORESERVE),
                    (flags.populate, libc::MAP_POPULATE),
                    (flags.locked, libc::MAP_LOCKED),
                    (flags.growsdown, libc::MAP_GROWSDOWN),
                    (flags.stack, libc::MAP_STACK),
                ] {
                    if on {
                        bits |= bit;
                    }
                }
                let prot = prot_bits(*prot);
                self.zone
                    .mmap(*addr, *len, prot, bits, fd, offset)
                    .map(Outcome::OkAddr)
            }
            Op::Munmap { addr, len } => self.zone.munmap(*addr, *len).map(|()| Outcome::Ok),
            Op::Mprotect { addr, len, prot } => self
                .zone
                .mprotect(*addr, *len, prot_bits(*prot))
                .map(|()| Outcome::Ok),
            Op::Mremap {
                old_addr,
                old_len,
                new_len,
                flags,
            } => {
                let mut bits = 0;
                if flags.maymove_flag() {
                    bits |= libc::MREMAP_MAYMOVE;
                }
                if flags.fixed.is_some() {
                    bits |= libc::MREMAP_FIXED;
                }
                if flags.dontunmap {
                    bits |= libc::MREMAP_DONTUNMAP;
                }
                self.zone
                    .mremap(*old_addr, *old_len, *new_len, bits, flags.fixed)
                    .map(Outcome::OkAddr)
            }
            Op::Madvise { addr, len, advice } => self
                .zone
                .madvise(*addr, *len, advice_bits(*advice))
                .map(|()| Outcome::Ok),
            Op::Mlock {
                addr,
                len,
                onfault: false,
            } => self.zone.mlock(*addr, *len).map(|()| Outcome::Ok),
            Op::Mlock {
                addr,
                len,
                onfault: true,
            } => self
                .zone
                .mlock2(*addr, *len, libc::MLOCK_ONFAULT as c_int)
                .map(|()| Outcome::Ok),
            Op::Mlockall { flags } => self.zone.mlockall(flags.bits()).map(|()| Outcome::Ok),
            Op::Munlockall => self.zone.munlockall().map(|()| Outcome::Ok),
            Op::Truncate { name, size } => {
                let fd = self.file(name);
                sys::ftruncate(fd, *size).map(|()| Outcome::Ok)
            }
            Op::Munlock { addr, len } => self.zone.munlock(*addr, *len).map(|()| Outcome::Ok),
            Op::Mseal { addr, len } => self.zone.mseal(*addr, *len).map(|()| Outcome::Ok),
            Op::Touch { addr, write } => Ok(match self.zone.touch(*addr, *write) {
                Touched::Ok => Outcome::Ok,
                Touched::Segv => Outcome::Segv,
                Touched::Bus => Outcome::Bus,
            }),
            Op::PkeyAlloc { rights } => self.zone.pkey_alloc(rights.bits()).map(Outcome::OkKey),
            Op::PkeyFree { key } => self.zone.pkey_free(*key).map(|()| Outcome::Ok),
            Op::PkeyMprotect {
                addr,
                len,
                prot,
                pkey,
            } => self
                .zone
                .pkey_mprotect(*addr, *len, prot_bits(*prot), *pkey)
                .map(|()| Outcome::Ok),
            Op::Fork { side } => {
                // Everything printed so far goes out once, not once per
                // process: the buffer is copied by fork.
                if let Err(error) = io::stdout().flush() {
                    fail(&format!("cannot flush standard output: {error}"));
                }
                let parent = process::id() as libc::pid_t;
                match (sys::fork(), side) {
                    (Err(errno), _) => Err(errno),
                    (Ok(Forked::Child), ForkSide::Child) => {
                        // The parent's children are its own to kill.
                        self.children.clear();
                        Ok(Outcome::Ok)
                    }
                    (Ok(Forked::Child), ForkSide::Parent) => sys::idle_until_killed(parent),
                    (Ok(Forked::Parent(pid)), ForkSide::Child) => {
                        sys::wait_and_exit(pid, &self.children)
                    }
                    (Ok(Forked::Parent(pid)), ForkSide::Parent) => {
                        self.children.push(pid);
                        Ok(Outcome::Ok)
                    }
                }
            }
            Op::Maps => unreachable!("the driver asks maps() for Op::Maps"),
        };
        result.unwrap_or_else(|errno: Errno| Outcome::Err(errno))
    }

    fn maps(&mut self) -> Vec<MapsLine> {
        let text = std::fs::read_to_string("/proc/self/smaps")
            .unwrap_or_else(|error| fail(&format!("cannot read /proc/self/smaps: {error}")));
        let parse = if self.smaps {
            smaps::window_smaps
        } else {
            smaps::window_maps
        };
        parse(&text, window::BASE, WINDOW_SIZE).unwrap_or_else(|error| fail(&error))
    }
}

/// `PROT_*` bits.
fn prot_bits(prot: Prot) -> c_int {
    let mut bits = libc::PROT_NONE;
    if prot.read {
        bits |= libc::PROT_READ;
    }
    if prot.write {
        bits |= libc::PROT_WRITE;
    }
    if prot.exec {
        bits |= libc::PROT_EXEC;
    }
    bits
}

/// `MADV_*` values (mmscript has Linux's numbers).
fn advice_bits(advice: Advice) -> c_int {
    advice.raw()
}

/// Stops the run because the environment failed (not the script). Lines
/// already printed stay printed: stdout is line-buffered.
fn fail(message: &str) -> ! {
    eprintln!("pervma-kernel-runner: {message}");
    process::exit(EXIT_FAILURE)
}
