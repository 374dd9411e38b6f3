//! Synchronisation primitives: the raw core under the safe API.
//!
//! Everything here is small, `unsafe` where it must be, and documented with
//! the exact contract the layers above rely on. All atomics come from
//! [`prim`], which switches to loom under `--cfg loom`.

pub(crate) mod lockdep;
pub(crate) mod percpu;
pub(crate) mod prim;
pub(crate) mod rcu;
pub(crate) mod rcu_arc;
pub(crate) mod rcu_done;
pub(crate) mod read_bias;
pub(crate) mod rwsem;
pub(crate) mod seq;
pub(crate) mod vma_lock;
pub(crate) mod wait;
