//! The workloads `pervma bench` knows. A workload is one file with a type
//! that implements [`Workload`], plus one line in [`WORKLOADS`].

use super::args::BenchArgs;
use super::measure::{Plan, Progress};
use super::report::Table;
use super::{churn, fault, helper, lookup, maps, uffd, uffd_restore, write};

/// What every workload gets: the command line, the timing plan and the
/// progress line.
pub(crate) struct Context<'a> {
    pub(crate) args: &'a BenchArgs,
    pub(crate) plan: Plan,
    pub(crate) progress: &'a Progress,
}

/// One workload: it builds its strategies, measures them and returns its
/// tables.
pub(crate) trait Workload: Sync {
    /// The name `--workload` selects it by.
    fn name(&self) -> &'static str;
    fn run(&self, cx: &Context<'_>) -> Vec<Table>;
    /// Whether the default suite (no `--workload`) runs it; the others
    /// run only when named, to keep the default suite under 90 s.
    fn in_default_suite(&self) -> bool {
        true
    }
}

/// Every workload, in the order they run and print.
pub(crate) static WORKLOADS: &[&dyn Workload] = &[
    &lookup::Lookup,
    &churn::Churn,
    &fault::Fault,
    &super::callers::Callers,
    &write::Write,
    &maps::Maps,
    &helper::Helper,
    &uffd::UffdWorkload,
    &uffd_restore::Restore,
];

/// The names, for the command line's possible values.
pub(crate) fn names() -> Vec<&'static str> {
    WORKLOADS.iter().map(|w| w.name()).collect()
}
