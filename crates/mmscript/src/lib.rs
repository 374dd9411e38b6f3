//! mmscript v1: scripts of address-space operations, and their output.
//!
//! `pervma` reimplements Linux's address-space management, and the only
//! honest judge of "Linux-exact" is Linux. An mmscript is a line-oriented
//! list of memory-map operations (`mmap`, `munmap`, `mprotect`, `mremap`,
//! `madvise`, `mlock`, `munlock`, a one-byte `touch`, and `maps`, and from
//! v1.1 `mseal`, the protection-key calls `pkey_alloc`, `pkey_free` and
//! `pkey_mprotect`, `fork`, `mlock ... onfault`, `mlockall`, `munlockall`
//! and `truncate`) whose addresses are offsets in a 64 GiB window. The
//! same script is replayed twice:
//!
//! - on the model, by `pervma replay`;
//! - on the live kernel, by `pervma-kernel-runner`, which issues the real
//!   system calls in a window of its own process and reads the VMAs back
//!   from `/proc/self/smaps`.
//!
//! Both print one result line per operation and a block of VMAs per `maps`,
//! and a byte-for-byte diff of the two outputs is the differential test. The
//! format is specified in `MMSCRIPT.md`; this crate is the one place that
//! implements it, so the two sides cannot drift apart:
//!
//! - [`parse`], [`parse_prefix`] and [`lines`] turn text into typed
//!   [`Op`]s, with a [`ParseError`] that names the line;
//! - [`Outcome`] and [`MapsLine`] print exactly the result lines and the
//!   lines of a `maps` block (and parse them back);
//! - [`Runner`] is what a side implements, and [`replay`] /
//!   [`run_script`] are the shared driver;
//! - [`generate`] writes seeded random scripts for soak tests.
//!
//! # Protection keys
//!
//! `pkey_alloc [noaccess|nowrite]` ([`Op::PkeyAlloc`], [`PkeyRights`])
//! prints the new key as `ok N` ([`Outcome::OkKey`]); `pkey_free N`
//! ([`Op::PkeyFree`]) and `pkey_mprotect ADDR LEN PROT PKEY`
//! ([`Op::PkeyMprotect`], `PKEY` decimal or `default` for
//! [`DEFAULT_PKEY`]) print `ok` or `err ERRNO`. What they do depends on
//! the host CPU: where it has no protection keys, `pkey_alloc` fails and
//! execute-only (`--x`) memory stays readable; where it has them, `--x`
//! memory gets the execute-only key and a read of it faults.
//!
//! # Fork
//!
//! `fork child` and `fork parent` ([`Op::Fork`], [`ForkSide`]) call
//! `fork(2)` and print `ok` once, in the process that carries on with the
//! script: with `child`, the child (the parent waits for it, prints
//! nothing more and exits with its status); with `parent`, the parent (the
//! child keeps its copy of the address space, untouched, until the script
//! ends, so copy-on-write and `anon_vma` sharing are as after a real
//! fork). From `fork child` on, `maps` shows the child's space: no `dc`
//! VMAs, no `lo`/`lf`, `wf` VMAs without their pages, VMAs with
//! anonymous pages that no longer merge with VMAs that do not share them.
//! In the smaps mode, `Locked` counts a page that parent and child share
//! half. If `fork` fails, nothing forked and the line is `err ERRNO`.
//! [`generate`] forks rarely, continuing in either process.
//!
//! # Locking, truncation and stacks (v1.1)
//!
//! - `mlock ADDR LEN onfault` ([`Op::Mlock`] with `onfault`) is
//!   `mlock2(ADDR, LEN, MLOCK_ONFAULT)`: `VM_LOCKED | VM_LOCKONFAULT`
//!   (flag `lf` in a `maps` line), nothing populated.
//! - `mlockall WORDS` ([`Op::Mlockall`], [`MlockallFlags`]): one word of
//!   `current`, `future` and `onfault` joined with `|`
//!   (`mlockall current|future`); `onfault` alone is passed on, and Linux
//!   says `EINVAL`. `munlockall` ([`Op::Munlockall`]). Both act on the
//!   whole address space: a kernel runner's own mappings are locked too,
//!   which changes none of its memory.
//! - `truncate NAME SIZE` ([`Op::Truncate`]): `ftruncate` of the script's
//!   file `NAME` (created first if no `mmap` named it yet); `SIZE` is the
//!   kernel's signed `off_t`, so 2^63 and above is `EINVAL`. A `touch`
//!   past the end of a file is `bus`.
//! - `mmap` options `growsdown` (`MAP_GROWSDOWN`, flag `gd`) and `stack`
//!   (`MAP_STACK`, which Linux 6.7+ makes `VM_NOHUGEPAGE`, flag `nh`)
//!   ([`MmapFlags`]). A `touch` below a `gd` VMA grows it down to the
//!   touched page, as a stack grows, within `RLIMIT_STACK` (a kernel runner
//!   pins it to 8 MiB) and not within `stack_guard_gap` (256 pages) above
//!   the mapping below it.
//!
//! # Sealing and the v1.1 advice
//!
//! `mseal ADDR LEN` ([`Op::Mseal`]) is `mseal(ADDR, LEN, 0)`; sealed VMAs
//! show `sl` in a `maps` block. `madvise` takes the v1.1 words `willneed
//! cold pageout populate_read populate_write remove dontdump dodump
//! dontneed_locked guard_install guard_remove mergeable unmergeable
//! collapse` too ([`Advice`], with Linux's numbers in [`Advice::raw`]);
//! `dontdump` shows as `dd`, `mergeable` as `mg`. The flag set of a
//! `maps` line is `rd wr ex sh mr mw me ms gd lo dc wf ac nr hg nh sr rr
//! dd mg lf sl` ([`SmapsFlags::NAMES`]).
//!
//! # Malformed scripts
//!
//! The spec says a malformed line prints nothing, names itself on standard
//! error and stops the run, *after* every line above it has run. [`replay`]
//! does exactly that: it parses one line, runs it, prints its result, and
//! only then looks at the next line, returning the [`ParseError`] of the
//! first bad line. Callers that want the operations first can use
//! [`parse_prefix`], which returns the well-formed prefix together with the
//! error.
//!
//! # Limits that depend on the machine or the process
//!
//! Two system-wide limits make a call fail where the script alone does
//! not say so, and a model must be told them to agree with the kernel:
//!
//! - `vm.overcommit_memory` with RAM and swap: under `OVERCOMMIT_GUESS` (0)
//!   a single charge of accountable memory larger than RAM + swap is
//!   `ENOMEM` (`mmap`, `mprotect`, `mremap`). `pervma replay` reads them
//!   from the machine it runs on, as the runner's kernel does.
//! - `vm.max_map_count`: the kernel counts every VMA of the runner, not
//!   only the script's, so a script that reaches the limit fails there
//!   as many VMAs earlier as the runner has outside its window. This is a
//!   known difference of the two sides, not of the format: such scripts
//!   are compared with the model's limit lowered by that count
//!   (`pervma-kernel-runner --own-vmas SCRIPT` prints it, `pervma replay
//!   --max-map-count N` takes the lowered limit).
//!
//! # Example
//!
//! ```
//! use mmscript::{replay, MapsLine, Op, Outcome, Runner};
//!
//! /// A runner that accepts every operation and has no mappings.
//! struct Nothing;
//!
//! impl Runner for Nothing {
//!     fn run_op(&mut self, op: &Op) -> Outcome {
//!         match op {
//!             Op::Mmap { addr, .. } => Outcome::OkAddr(*addr),
//!             _ => Outcome::Ok,
//!         }
//!     }
//!     fn maps(&mut self) -> Vec<MapsLine> {
//!         Vec::new()
//!     }
//! }
//!
//! let mut out = Vec::new();
//! let text = "mmap 0x1000 0x2000 rw- private-anon fixed\nmaps\nmunmap 0x1000\nmaps\n";
//! let err = replay(text, &mut Nothing, &mut out).unwrap_err();
//! // The first two lines ran; the malformed third line stopped the run.
//! assert_eq!(String::from_utf8(out).unwrap(), "ok 0x1000\nend\n");
//! assert_eq!(
//!     err.to_string(),
//!     "line 3: munmap: expected 2 arguments (ADDR LEN), got 1"
//! );
//! ```
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod errno;
mod generate;
mod maps;
mod op;
mod outcome;
mod parse;
mod recorded;
mod run;
pub mod window;
mod words;

pub use errno::Errno;
pub use generate::generate;
pub use maps::{Backing, MapsLine, Memory, SmapsFlags};
pub use op::{range_allowed, Op};
pub use outcome::Outcome;
pub use parse::{lines, parse, parse_line, parse_prefix, Lines, ParseError, Script};
pub use recorded::recorded_output;
pub use run::{replay, run_op, run_script, write_maps, ReplayError, Runner};
pub use words::{
    Advice, ForkSide, Kind, MlockallFlags, MmapFlags, MremapFlags, PkeyRights, Prot, DEFAULT_PKEY,
};

/// The page size that scripts assume (x86_64 and most arm64 kernels).
pub const PAGE_SIZE: u64 = 4096;

/// The size of the window that addresses are relative to: 64 GiB.
///
/// A `maps` block lists the mappings that intersect `[0, WINDOW_SIZE)`.
pub const WINDOW_SIZE: u64 = 0x10_0000_0000;

/// The window and a spill zone of the same size above it: 128 GiB.
///
/// Every range a script names lies in `[0, ZONE_SIZE)`, except ranges that
/// Linux rejects wherever the window is (see [`range_allowed`]). A kernel
/// runner checks that this much address space is free at its window base.
pub const ZONE_SIZE: u64 = 0x20_0000_0000;

/// Ranges starting at or above this address (2^47, the end of a 4-level
/// x86_64 user address space) are rejected by Linux wherever the window is.
pub const REJECTED_START: u64 = 1 << 47;
