//! The overcommit policy: whether a charge of accountable memory fits.
//!
//! Linux charges private writable memory (`VM_ACCOUNT`) and shared
//! anonymous memory (shmem without `VM_NORESERVE`) against the commit
//! limit when it is mapped, made writable or grown, through
//! `security_vm_enough_memory_mm`. With `vm.overcommit_memory` 0
//! (`OVERCOMMIT_GUESS`, the usual setting) `__vm_enough_memory` refuses
//! only a single charge larger than all of RAM and swap; with 1
//! (`OVERCOMMIT_ALWAYS`) it never refuses. pervma models both; 2
//! (`OVERCOMMIT_NEVER`, a limit on the sum of all charges of the
//! machine) is not modelled.
//!
//! The charges pervma makes, each one call, in the place Linux makes it:
//!
//! | call | charge | Linux |
//! | --- | --- | --- |
//! | `mmap`, private writable, no `MAP_NORESERVE` | its pages, less the `VM_ACCOUNT` pages a `MAP_FIXED` mapping replaces | mm/vma.c `__mmap_setup` (`accountable_mapping`) |
//! | `mmap`, shared anonymous, no `MAP_NORESERVE` | its pages | mm/shmem.c `shmem_zero_setup` (`shmem_acct_size`) |
//! | `mprotect` making a VMA piece writable that was neither writable nor accounted (nor shared, nor `VM_NORESERVE`) | the piece's pages | mm/mprotect.c `mprotect_fixup` |
//! | `mremap` of a `VM_ACCOUNT` VMA, growing in place or moving | the growth (the amount it shrinks by, for a fixed shrink-and-move), or the new length with `MREMAP_DONTUNMAP` | mm/mremap.c `vrm_calc_charge` |
//!
//! Linux: mm/util.c (`__vm_enough_memory`), security/commoncap.c
//! (`cap_vm_enough_memory`), Documentation/mm/overcommit-accounting.rst.

#![deny(unsafe_code)]

use crate::errno::Errno;

/// `vm.overcommit_memory`: how an [`Mm`](crate::Mm) judges a charge of
/// accountable memory (see [`MmConfig::with_overcommit`]).
///
/// The default is [`Overcommit::Always`], so that a model's answers never
/// depend on the machine it runs on.
///
/// [`MmConfig::with_overcommit`]: crate::MmConfig::with_overcommit
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Overcommit {
    /// `OVERCOMMIT_ALWAYS` (1): every charge fits.
    #[default]
    Always,
    /// `OVERCOMMIT_GUESS` (0): a single charge of more than `total_pages`
    /// pages fails with `ENOMEM`.
    Guess {
        /// `totalram_pages() + total_swap_pages`: `MemTotal` plus
        /// `SwapTotal` of `/proc/meminfo`, in 4 KiB pages.
        total_pages: u64,
    },
}

impl Overcommit {
    /// `security_vm_enough_memory_mm(mm, pages)` (`__vm_enough_memory`):
    /// whether `pages` more pages may be committed.
    ///
    /// # Errors
    ///
    /// `ENOMEM` when the policy refuses the charge.
    #[doc(alias = "__vm_enough_memory")]
    #[doc(alias = "security_vm_enough_memory_mm")]
    pub fn vm_enough_memory(self, pages: u64) -> Result<(), Errno> {
        match self {
            Overcommit::Always => Ok(()),
            Overcommit::Guess { total_pages } if pages > total_pages => {
                Err(Errno::ENOMEM
                    .because("overcommit: one charge above RAM + swap (OVERCOMMIT_GUESS)"))
            }
            Overcommit::Guess { .. } => Ok(()),
        }
    }

    /// The policy that Linux's `/proc` files describe:
    /// `overcommit_memory` is the text of `/proc/sys/vm/overcommit_memory`
    /// and `meminfo` that of `/proc/meminfo` (`MemTotal + SwapTotal` is
    /// the limit of `OVERCOMMIT_GUESS`). A program reads the two files of
    /// its machine and passes them here, as `pervma replay` does.
    ///
    /// ```
    /// use pervma::Overcommit;
    /// let meminfo = "MemTotal:       24684084 kB\nMemFree: 1 kB\nSwapTotal:             0 kB\n";
    /// assert_eq!(
    ///     Overcommit::from_proc("0\n", meminfo),
    ///     Ok(Overcommit::Guess { total_pages: 24684084 / 4 })
    /// );
    /// assert_eq!(Overcommit::from_proc("1\n", ""), Ok(Overcommit::Always));
    /// assert!(Overcommit::from_proc("2\n", meminfo).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// A message when the policy is `OVERCOMMIT_NEVER` (2), which pervma
    /// does not model, or the text is not what Linux prints.
    pub fn from_proc(overcommit_memory: &str, meminfo: &str) -> Result<Overcommit, &'static str> {
        match overcommit_memory.trim() {
            "0" => {
                let kib = |key: &str| {
                    meminfo
                        .lines()
                        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                        .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
                };
                match (kib("MemTotal"), kib("SwapTotal")) {
                    // Both are page counts printed in KiB (4 KiB pages).
                    (Some(ram), Some(swap)) => Ok(Overcommit::Guess {
                        total_pages: (ram + swap) / 4,
                    }),
                    _ => Err("meminfo: no MemTotal or SwapTotal in kB"),
                }
            }
            "1" => Ok(Overcommit::Always),
            "2" => Err("vm.overcommit_memory is 2 (OVERCOMMIT_NEVER), which pervma does not model"),
            _ => Err("vm.overcommit_memory: not 0, 1 or 2"),
        }
    }
}
