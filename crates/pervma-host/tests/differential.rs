//! pervma's VMAs against the host kernel's own, operation by operation.
//!
//! Random mmscripts ([`mmscript::generate`]) run on a pervma address
//! space whose memory is a [`HostMemory`] reservation (through
//! `pervma_cli::replay::Model`, the code `pervma replay` runs). Every
//! backend call lands on the host, so after each operation the host's
//! `/proc/self/maps`, inside the reservation and without its `PROT_NONE`
//! pieces, must list exactly pervma's VMAs (`Mm::maps_lines`): the same
//! ranges, split and merged in the same places, with the same
//! permissions. A difference means the backend mirrored an operation
//! wrongly, or pervma decided something the host kernel does not.
//!
//! Data goes both ways too: after a `touch` that pervma served, bytes
//! stored through the host pointer read back through `Mm::access_read`,
//! and bytes stored with `Mm::access_write` read back through the host
//! pointer.

use mmscript::{MlockallFlags, MmapFlags, Op, Outcome, Runner};
use pervma::{Arch, Mm, MmConfig, VmFlags};
use pervma_cli::replay::Model;
use pervma_host::{HostMemory, RESERVATION_NAME};
use std::sync::Arc;
use std::time::Instant;

/// The guest space: the script window at 1 GiB (aligned, as mmscript
/// wants) and room above it for what scripts reach (their first 64 MiB
/// and a few pages past it).
const GUEST_SIZE: u64 = 2 << 30;
/// The script window's guest address.
const WINDOW: u64 = 1 << 30;
/// Operations per script: long enough for splits, merges and moves to
/// pile up, short enough that a failure's prefix is readable.
const OPS_PER_SCRIPT: usize = 400;

/// One VMA as both sides print it: guest range and `rwxp`/`rwxs`.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Line {
    start: u64,
    end: u64,
    perms: String,
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#x}-{:#x} {}", self.start, self.end, self.perms)
    }
}

/// The host's VMAs inside the reservation, less its pieces, in guest
/// addresses.
fn host_lines(host: &HostMemory) -> Vec<Line> {
    let base = host.base() as u64;
    let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    maps.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (start, end) = words.next()?.split_once('-')?;
            let start = u64::from_str_radix(start, 16).ok()?;
            let end = u64::from_str_radix(end, 16).ok()?;
            if start < base || end > base + host.size() || line.contains(RESERVATION_NAME) {
                return None;
            }
            Some(Line {
                start: start - base,
                end: end - base,
                perms: words.next()?.to_owned(),
            })
        })
        .collect()
}

/// pervma's VMAs, as `/proc/self/maps` would print them.
fn model_lines(mm: &Mm<()>) -> Vec<Line> {
    mm.maps_lines()
        .map(|l| {
            let f = l.flags();
            let bit = |flag, c| if f.contains(flag) { c } else { '-' };
            let perms = [
                bit(VmFlags::READ, 'r'),
                bit(VmFlags::WRITE, 'w'),
                bit(VmFlags::EXEC, 'x'),
                if f.contains(VmFlags::MAYSHARE) {
                    's'
                } else {
                    'p'
                },
            ];
            Line {
                start: l.start(),
                end: l.end(),
                perms: perms.iter().collect(),
            }
        })
        .collect()
}

/// A failure report: the script up to the operation, both maps.
fn report(script: &[Op], what: &str, host: &[Line], model: &[Line]) -> String {
    let mut text = format!("{what}\n# the script so far (window at guest {WINDOW:#x}):\n");
    for op in script {
        text += &format!("{op}\n");
    }
    text += "# only on the host:\n";
    for l in host.iter().filter(|l| !model.contains(l)) {
        text += &format!("{l}\n");
    }
    text += "# only in pervma:\n";
    for l in model.iter().filter(|l| !host.contains(l)) {
        text += &format!("{l}\n");
    }
    text += "# host /proc/self/maps (guest addresses):\n";
    for l in host {
        text += &format!("{l}\n");
    }
    text += "# pervma maps_lines:\n";
    for l in model {
        text += &format!("{l}\n");
    }
    text
}

/// A small xorshift for data patterns (the scripts have their own RNG).
fn pattern(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Data both ways at the page of `addr` (guest), which pervma just
/// faulted for `write` (or for reading).
fn check_data(
    model: &Model,
    host: &HostMemory,
    addr: u64,
    write: bool,
    seed: u64,
) -> Result<(), String> {
    let mm = model.mm();
    let page = addr & !0xfff;
    if write {
        // A guest store through the host's mapping...
        let off = seed % (4096 - 24);
        let bytes = pattern(seed, 24);
        for (i, b) in bytes.iter().enumerate() {
            // SAFETY: pervma just served a write fault on this page: the
            // host maps it writable, and this thread is the only one.
            unsafe { host.host_ptr(page + off + i as u64).write_volatile(*b) };
        }
        let mut back = vec![0; bytes.len()];
        mm.access_read(page + off, &mut back)
            .map_err(|e| format!("access_read after a host store: {e:?}"))?;
        if back != bytes {
            return Err(format!(
                "a host store at {:#x} reads back through access_read as {back:02x?}, not {bytes:02x?}",
                page + off
            ));
        }
        // ...and a kernel-style store, read by the guest.
        let off = (seed >> 16) % (4096 - 24);
        let bytes = pattern(seed ^ 0x5555, 24);
        mm.access_write(page + off, &bytes)
            .map_err(|e| format!("access_write after a write fault: {e:?}"))?;
        let back: Vec<u8> = (0..bytes.len() as u64)
            // SAFETY: as above.
            .map(|i| unsafe { host.host_ptr(page + off + i).read_volatile() })
            .collect();
        if back != bytes {
            return Err(format!(
                "access_write at {:#x} reads back through the host as {back:02x?}, not {bytes:02x?}",
                page + off
            ));
        }
    } else {
        let mut through_mm = vec![0; 4096];
        mm.access_read(page, &mut through_mm)
            .map_err(|e| format!("access_read after a read fault: {e:?}"))?;
        let through_host: Vec<u8> = (0..4096)
            // SAFETY: pervma just served a read fault on this page: the
            // host maps it with an access a load passes (x86 reads what
            // it may write or execute), and this thread is the only one.
            .map(|i| unsafe { host.host_ptr(page + i).read_volatile() })
            .collect();
        if through_host != through_mm {
            return Err(format!(
                "the page at {page:#x} differs between access_read and the host"
            ));
        }
    }
    Ok(())
}

/// Runs `script` on a fresh guest space: `Err` with a report at the
/// first difference; `seed` seeds the data patterns and names the script.
fn run_script(seed: u64, script: &[Op]) -> Result<(), String> {
    let host = HostMemory::new(GUEST_SIZE).expect("reserve the guest space");
    // No protection keys: the host ignores pervma's (see the crate docs),
    // so VMAs that differ only by key would differ.
    let config = MmConfig::new(GUEST_SIZE, 0x10000, GUEST_SIZE, 65530).with_arch(Arch::X86_64);
    let mm: Mm<()> = Mm::with_backend(config, host.clone());
    let mut model = Model::with_mm(mm, WINDOW);
    assert_eq!(host_lines(&host), [], "a fresh reservation maps nothing");
    for (i, op) in script.iter().enumerate() {
        let outcome = match op {
            Op::Maps => None,
            op => Some(model.run_op(op)),
        };
        let (h, m) = (host_lines(&host), model_lines(model.mm()));
        if h != m {
            let what = format!("seed {seed}: the maps differ after `{op}` ({outcome:?})");
            return Err(report(&script[..=i], &what, &h, &m));
        }
        if let (Op::Touch { addr, write }, Some(Outcome::Ok)) = (op, &outcome) {
            let addr = model.absolute(*addr);
            if let Err(e) = check_data(&model, &host, addr, *write, seed << 20 | i as u64) {
                let what = format!("seed {seed}: data after `{op}`: {e}");
                return Err(report(&script[..=i], &what, &h, &m));
            }
        }
    }
    if host.lost_calls() != 0 {
        return Err(format!("seed {seed}: host calls failed unseen"));
    }
    drop(model);
    assert_eq!(Arc::strong_count(&host), 1, "the Mm let its backend go");
    Ok(())
}

/// The script of `seed`, less what the host cannot mirror. Its `fork`s: a `HostMemory` is one
/// reservation of this process and cannot copy itself into another
/// address space (its `Backend::fork` refuses, so the model would print
/// `err EOPNOTSUPP` and go on as if nothing forked, which the host's maps
/// agree with but which tests nothing), and the host kernel's own fork
/// of the reservation would be another process, whose maps this test
/// cannot read op by op. `pervma replay` and the kernel runner compare
/// `fork` (crates/pervma-cli/tests/differential.rs).
///
/// `VM_LOCKONFAULT`
/// (`mlock ... onfault`, and `onfault` in `mlockall`). The host locks
/// every locked VMA on fault (see the crate docs: a plain host `mlock`
/// would populate where Linux does not), so a range locked with `mlock`
/// next to one locked on fault is two VMAs for pervma and one for the
/// host. `mlockall onfault` alone (`EINVAL`, changing nothing) goes too.
///
/// Stacks lose `growsdown`: a stack's growth reaches the host as a new
/// host mapping below it ([`Backend::grow_down`](pervma::Backend)), which
/// merges with the host's stack VMA only when its page offset continues
/// the stack's; after a faulted stack moved (`mremap` keeps its pgoff),
/// pervma's VMA continues its own pgoff (`expand_downwards`) and the host
/// has two VMAs. Making the host's own stack grow instead needs a real
/// access below it, which the host would refuse (or kill the test for)
/// by the test process's own `RLIMIT_STACK`.
///
/// Also gone:
/// - `mseal`: sealed host memory inside the reservation could never be
///   unmapped again, not even when the `HostMemory` is dropped;
/// - `madvise remove`: the host punches no hole in its copy of the file
///   (`Backend::discard` only drops the host's mapping of the pages), so
///   the bytes read afterwards would differ from pervma's zeroes.
fn script_of(seed: u64) -> Vec<Op> {
    let script = mmscript::parse(&mmscript::generate(seed, OPS_PER_SCRIPT)).expect("parse");
    script
        .iter()
        .filter_map(|op| match op {
            Op::Fork { .. } | Op::Mlock { onfault: true, .. } | Op::Mseal { .. } => None,
            Op::Madvise {
                advice: mmscript::Advice::Remove,
                ..
            } => None,
            Op::Mmap {
                addr,
                len,
                prot,
                kind,
                flags,
            } if flags.growsdown => Some(Op::Mmap {
                addr: *addr,
                len: *len,
                prot: *prot,
                kind: kind.clone(),
                flags: MmapFlags {
                    growsdown: false,
                    ..*flags
                },
            }),
            Op::Mlockall { flags } if flags.onfault => {
                let flags = MlockallFlags {
                    onfault: false,
                    ..*flags
                };
                (flags.current || flags.future).then_some(Op::Mlockall { flags })
            }
            op => Some(op.clone()),
        })
        .collect()
}

/// A shortest failing script found by dropping operations (chunks, then
/// single ones) while it still fails.
fn minimize(seed: u64, mut script: Vec<Op>) -> Vec<Op> {
    let mut chunk = script.len() / 2;
    while chunk > 0 {
        let mut i = 0;
        while i < script.len() {
            let mut shorter = script.clone();
            shorter.drain(i..(i + chunk).min(script.len()));
            if run_script(seed, &shorter).is_err() {
                script = shorter;
            } else {
                i += chunk;
            }
        }
        chunk /= 2;
    }
    script
}

/// Runs `count` scripts from `first_seed`; returns the operations run.
/// A failure is minimized first when `PERVMA_HOST_MINIMIZE` is set.
fn run_scripts(first_seed: u64, count: u64) -> usize {
    let mut ops = 0;
    for seed in first_seed..first_seed + count {
        let script = script_of(seed);
        if let Err(report) = run_script(seed, &script) {
            if std::env::var("PERVMA_HOST_MINIMIZE").is_ok() {
                let small = minimize(seed, script);
                panic!("{}", run_script(seed, &small).unwrap_err());
            }
            panic!("{report}");
        }
        ops += script.len();
    }
    ops
}

/// Scripts per test: `PERVMA_HOST_SCRIPTS` (a soak), else 20: 8,020
/// operations per test, the two tests together 12 s in a debug build on
/// an idle 2-vCPU machine, 20 s on a loaded one (load average 5).
fn scripts() -> u64 {
    std::env::var("PERVMA_HOST_SCRIPTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20)
}

// Two tests, so the two vCPUs of a CI machine share the work.

#[test]
fn random_scripts_agree_with_the_host_kernel_a() {
    let start = Instant::now();
    let ops = run_scripts(1, scripts());
    eprintln!("{ops} operations in {:?}", start.elapsed());
}

#[test]
fn random_scripts_agree_with_the_host_kernel_b() {
    let start = Instant::now();
    let ops = run_scripts(1_000_001, scripts());
    eprintln!("{ops} operations in {:?}", start.elapsed());
}
