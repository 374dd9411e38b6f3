//! The smaps mode of `pervma replay --smaps` (for tests, not part of
//! mmscript v1): every `maps` line also carries the VMA's `Rss`,
//! `Anonymous` and `Locked` in kB, which the kernel runner reads from
//! `/proc/self/smaps` and the model takes from [`MmapLocked::vma_smaps`]
//! (`Locked` is a PSS there, as in Linux), and on hosts with protection
//! keys the VMA's `ProtectionKey`. The printing is
//! [`mmscript::MapsLine`]'s, shared with the kernel runner.

use mmscript::{MapsLine, Memory};
use pervma::{MmapLocked, Vma};

/// `line` for `vma`, with its smaps figures; `others` are the script's
/// other processes (forks), whose mappings of a file count in its pages'
/// mapcount.
pub(crate) fn with_memory(
    mut line: MapsLine,
    mmap: &MmapLocked<'_, ()>,
    vma: &Vma<()>,
    others: &[&MmapLocked<'_, ()>],
) -> MapsLine {
    let memory = mmap.vma_smaps_sharing(vma, others);
    line.memory = Some(Memory {
        rss_kb: memory.rss >> 10,
        anon_kb: memory.anonymous >> 10,
        locked_kb: memory.locked >> 10,
        // `ProtectionKey:`, which Linux prints only where there are keys.
        pkey: mmap
            .mm()
            .config()
            .arch
            .protection_keys
            .then(|| vma.flags().pkey()),
    });
    line
}
