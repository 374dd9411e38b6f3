//! # pervma-uffd: serving real page faults through per-VMA locks
//!
//! TODO docs
#![cfg(target_os = "linux")]
#![warn(missing_docs, unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod contents;
pub mod firecracker;

mod own;
mod pager;
pub mod sys;
mod uffd;

pub use contents::{Contents, Fault, FileContents, Resolve};
pub use own::OwnMemory;
pub use pager::{Pager, PagerConfig, Stats, Unmapped, Wait};
pub use uffd::{features, Event, Events, Mode, OpenOptions, Uffd, PAGE};
