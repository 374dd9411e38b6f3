//! `/proc/pid/maps` and `PROCMAP_QUERY`, read one VMA at a time under
//! per-VMA locks instead of `mmap_lock`.
//!
//! Linux: fs/proc/task_mmu.c (`show_map_vma`, `get_vma_name`,
//! `do_procmap_query`), include/uapi/linux/fs.h (`struct procmap_query`).
//!
//! - [`maps`](self::maps): [`MapsLine`] (one line: a snapshot of a VMA's
//!   fields, `Display`s as the kernel prints it), [`MapsLines`] (the
//!   streaming reader), [`Mm::maps`](crate::Mm::maps).
//! - [`query`](self::query): [`Mm::procmap_query`](crate::Mm::procmap_query).
//!
//! Both are built on [`Mm::lock_next_vma`](crate::Mm::lock_next_vma) and
//! hold at most one VMA read lock at a time, never across items, and
//! `mmap_lock` only inside its fallback.

#![deny(unsafe_code)]

pub(crate) mod maps;
pub(crate) mod query;

pub use maps::{MapsLine, MapsLines};
pub use query::{ProcmapQuery, ProcmapQueryFlags};
