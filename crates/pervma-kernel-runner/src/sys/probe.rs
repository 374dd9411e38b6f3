//! `touch`: a one-byte load or store that may fault, and survives it.
//!
//! A `touch` is a real user access, so the kernel takes a real page fault:
//! it allocates the anon_vma, breaks COW, hits `SIGBUS` past the end of a
//! file. The runner must report `segv` or `bus` and go on, without
//! `setjmp`/`longjmp` (which Rust cannot use soundly).
//!
//! The accesses are two tiny assembly functions whose one memory access sits
//! at a known label:
//!
//! ```text
//! pervma_probe_read:          pervma_probe_write:
//!     xor eax, eax                xor eax, eax
//! pervma_probe_read_insn:     pervma_probe_write_insn:
//!     movzx ecx, byte [rdi]       mov byte [rdi], 0
//! pervma_probe_read_resume:   pervma_probe_write_resume:
//!     ret                         ret
//! ```
//!
//! They return 0 in `eax`. `SIGSEGV` and `SIGBUS` handlers
//! (`SA_SIGINFO`) look at the interrupted `rip`: if the kernel raised the
//! signal (`si_code > 0`) at exactly one of the two access instructions, the
//! handler writes the signal number to `rax`, sets `rip` to the matching
//! resume label, and returns; `sigreturn` then resumes the probe at its
//! `ret`, which returns the signal number. Any other `SIGSEGV` or `SIGBUS`
//! (a real bug, or one sent with `kill`) resets the default action and
//! re-raises, so the process dies of it as it would have without us.
//!
//! Protection keys: a touch that faults because of its key's rights
//! (`SEGV_PKUERR`) is handled like any other fault, and leaves the rights
//! as they were. On x86 the kernel saves the interrupted PKRU with the rest
//! of the XSAVE state in the signal frame (`copy_fpstate_to_sigframe` and
//! `update_pkru_in_sigframe`, `arch/x86/kernel/fpu/signal.c`) and runs the
//! handler with the default PKRU (`fpu__clear_user_states`:
//! `init_pkru_value`, only key 0 accessible); `sigreturn` restores the
//! saved state, PKRU included (`fpu__restore_sig`). The handler returns by `sigreturn` and never touches the
//! saved FPU state, so the probe resumes with exactly the PKRU it faulted
//! with. (A `siglongjmp` out of the handler would keep the handler's
//! default PKRU, which is why the spec warns about it.) The handler itself
//! only touches its stack and the `ucontext_t`, which carry key 0, which
//! the default PKRU allows.
//!
//! The store writes 0, which is what every page of the runner's files and
//! anonymous memory holds anyway; what matters is that it is a write access,
//! so the kernel handles a write fault.
//!
//! Only x86_64 has the probes; elsewhere the runner exits with status 77.

use std::arch::{asm, global_asm};
use std::io;
use std::mem::MaybeUninit;
use std::sync::Once;

use libc::{c_int, c_void, siginfo_t, ucontext_t};

global_asm!(
    ".pushsection .text",
    ".p2align 4",
    ".globl pervma_probe_read",
    ".hidden pervma_probe_read",
    ".type pervma_probe_read, @function",
    "pervma_probe_read:",
    "    xor eax, eax",
    ".globl pervma_probe_read_insn",
    ".hidden pervma_probe_read_insn",
    "pervma_probe_read_insn:",
    "    movzx ecx, byte ptr [rdi]",
    ".globl pervma_probe_read_resume",
    ".hidden pervma_probe_read_resume",
    "pervma_probe_read_resume:",
    "    ret",
    ".size pervma_probe_read, . - pervma_probe_read",
    "",
    ".p2align 4",
    ".globl pervma_probe_write",
    ".hidden pervma_probe_write",
    ".type pervma_probe_write, @function",
    "pervma_probe_write:",
    "    xor eax, eax",
    ".globl pervma_probe_write_insn",
    ".hidden pervma_probe_write_insn",
    "pervma_probe_write_insn:",
    "    mov byte ptr [rdi], 0",
    ".globl pervma_probe_write_resume",
    ".hidden pervma_probe_write_resume",
    "pervma_probe_write_resume:",
    "    ret",
    ".size pervma_probe_write, . - pervma_probe_write",
    ".popsection",
);

extern "C" {
    /// Loads the byte at `addr`; 0, or the signal number if it faulted.
    fn pervma_probe_read(addr: *const u8) -> u32;
    /// Stores 0 to the byte at `addr`; 0, or the signal number if it faulted.
    fn pervma_probe_write(addr: *mut u8) -> u32;
}

/// `[(access instruction, resume label)]` of the read and the write probe.
fn probe_sites() -> [(usize, usize); 2] {
    let (read_insn, read_resume, write_insn, write_resume): (usize, usize, usize, usize);
    // SAFETY: `lea` only computes the labels' addresses: it reads and writes
    // no memory, touches no stack and leaves the flags alone.
    unsafe {
        asm!(
            "lea {0}, [rip + pervma_probe_read_insn]",
            "lea {1}, [rip + pervma_probe_read_resume]",
            "lea {2}, [rip + pervma_probe_write_insn]",
            "lea {3}, [rip + pervma_probe_write_resume]",
            out(reg) read_insn,
            out(reg) read_resume,
            out(reg) write_insn,
            out(reg) write_resume,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    [(read_insn, read_resume), (write_insn, write_resume)]
}

/// What a touch did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Touched {
    /// No fault, or a fault the kernel resolved.
    Ok,
    /// `SIGSEGV`.
    Segv,
    /// `SIGBUS`.
    Bus,
}

/// The fault handlers are installed: touches may fault.
///
/// # Invariants
///
/// While a `Probe` exists, `SIGSEGV` and `SIGBUS` are handled by
/// [`on_fault`] (nothing in this program installs other handlers).
#[derive(Debug)]
pub(crate) struct Probe {
    _private: (),
}

impl Probe {
    /// Installs the `SIGSEGV` and `SIGBUS` handlers (once per process).
    pub(crate) fn install() -> io::Result<Probe> {
        static INSTALL: Once = Once::new();
        let mut result = Ok(());
        INSTALL.call_once(|| {
            result = install_handler(libc::SIGSEGV).and_then(|()| install_handler(libc::SIGBUS));
        });
        result?;
        // INVARIANT: both handlers were installed (now or by an earlier call).
        Ok(Probe { _private: () })
    }

    /// Loads (`write` false) or stores 0 to (`write` true) the byte at `addr`
    /// and says whether that raised a signal.
    ///
    /// # Safety
    ///
    /// `addr` must not be memory that the program uses other than through
    /// [`crate::sys`]: a store would overwrite it. Unmapped, inaccessible,
    /// non-canonical and kernel addresses are fine: they fault.
    pub(crate) unsafe fn touch(&self, addr: u64, write: bool) -> Touched {
        let addr = addr as usize as *mut u8;
        let signal = if write {
            // SAFETY: the caller promises the byte is not the program's; the
            // handler (installed, by the type's invariant) turns a fault at
            // the store into a return of the signal number.
            unsafe { pervma_probe_write(addr) }
        } else {
            // SAFETY: a load changes nothing; the handler turns a fault into
            // a return of the signal number.
            unsafe { pervma_probe_read(addr) }
        };
        match signal as c_int {
            0 => Touched::Ok,
            libc::SIGSEGV => Touched::Segv,
            libc::SIGBUS => Touched::Bus,
            other => unreachable!("the probe returned signal {other}"),
        }
    }
}

fn install_handler(signal: c_int) -> io::Result<()> {
    let handler: extern "C" fn(c_int, *mut siginfo_t, *mut c_void) = on_fault;
    // SAFETY: an all-zero sigaction is a valid value (no handler, no flags,
    // empty mask); the fields that matter are set below.
    let mut action: libc::sigaction = unsafe { MaybeUninit::zeroed().assume_init() };
    action.sa_sigaction = handler as usize;
    // SA_ONSTACK: run on the alternate stack std sets up for the main thread
    // (if any), so a real stack overflow still dies cleanly of SIGSEGV.
    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    // SAFETY: `action` is initialized; sigaction only reads it, and the
    // old-action pointer may be null.
    let ret = unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The `SIGSEGV`/`SIGBUS` handler (see the module docs). Async-signal-safe:
/// it reads and writes the interrupted context and calls only `sigaction`
/// and `raise`.
extern "C" fn on_fault(signal: c_int, info: *mut siginfo_t, context: *mut c_void) {
    // SAFETY: for an SA_SIGINFO handler the kernel passes a valid siginfo_t
    // and the interrupted thread's ucontext_t, which nothing else accesses
    // while the handler runs; writes to it take effect at sigreturn.
    let (code, context) = unsafe { ((*info).si_code, &mut *context.cast::<ucontext_t>()) };
    let registers = &mut context.uc_mcontext.gregs;
    let rip = registers[libc::REG_RIP as usize] as usize;
    // si_code > 0: raised by the kernel for a fault (SEGV_MAPERR,
    // SEGV_ACCERR, BUS_ADRERR, ..., or SI_KERNEL for a general protection
    // fault on a non-canonical address), not sent by kill or raise.
    if code > 0 {
        for (insn, resume) in probe_sites() {
            if rip == insn {
                registers[libc::REG_RAX as usize] = i64::from(signal);
                registers[libc::REG_RIP as usize] = resume as i64;
                return;
            }
        }
    }
    // Not a probe's fault: die of it with the default action.
    // SAFETY: an all-zero sigaction with sa_sigaction = SIG_DFL restores the
    // default action; sigaction and raise are async-signal-safe. The raised
    // signal is blocked until the handler returns, then kills the process
    // (and a fault would re-fault with the default action anyway).
    unsafe {
        let mut default: libc::sigaction = MaybeUninit::zeroed().assume_init();
        default.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(signal, &default, std::ptr::null_mut());
        libc::raise(signal);
    }
}
