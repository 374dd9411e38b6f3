//! The driver that both sides share.
//!
//! A side (the model, the live kernel) implements [`Runner`]: it performs
//! one operation and says what happened, and it lists its VMAs. The driver
//! does everything else: the order, the printing, and stopping at the first
//! malformed line. Keeping that here means the two outputs can only differ
//! where the two address spaces do.

use std::io::{self, Write};

use crate::{lines, MapsLine, Op, Outcome, ParseError, Script};

/// One side of the differential test: an address space that scripts run on.
pub trait Runner {
    /// Performs `op` and returns its result line. Never called with
    /// [`Op::Maps`]: the driver asks [`Runner::maps`] instead.
    fn run_op(&mut self, op: &Op) -> Outcome;

    /// The VMAs that intersect the window, lowest first, each with its full
    /// extent (a VMA may extend past the window's end).
    fn maps(&mut self) -> Vec<MapsLine>;
}

impl<R: Runner + ?Sized> Runner for &mut R {
    fn run_op(&mut self, op: &Op) -> Outcome {
        (**self).run_op(op)
    }

    fn maps(&mut self) -> Vec<MapsLine> {
        (**self).maps()
    }
}

/// Prints a `maps` block: one line per VMA, then `end`.
pub fn write_maps<W: Write + ?Sized>(out: &mut W, maps: &[MapsLine]) -> io::Result<()> {
    for line in maps {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "end")
}

/// Runs one operation and prints its result line (or block, for `maps`).
pub fn run_op<R, W>(op: &Op, runner: &mut R, out: &mut W) -> io::Result<()>
where
    R: Runner + ?Sized,
    W: Write + ?Sized,
{
    match op {
        Op::Maps => write_maps(out, &runner.maps()),
        op => writeln!(out, "{}", runner.run_op(op)),
    }
}

/// Runs every operation of a parsed script in order, printing as it goes.
pub fn run_script<R, W>(script: &Script, runner: &mut R, out: &mut W) -> io::Result<()>
where
    R: Runner + ?Sized,
    W: Write + ?Sized,
{
    for op in script.iter() {
        run_op(op, runner, out)?;
    }
    out.flush()
}

/// Why [`replay`] stopped early.
#[derive(Debug)]
pub enum ReplayError {
    /// A malformed line: the lines above it ran, it and the rest did not.
    Parse(ParseError),
    /// Writing the output failed.
    Io(io::Error),
}

impl core::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ReplayError::Parse(error) => error.fmt(f),
            ReplayError::Io(error) => write!(f, "writing the output: {error}"),
        }
    }
}

impl std::error::Error for ReplayError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReplayError::Parse(error) => Some(error),
            ReplayError::Io(error) => Some(error),
        }
    }
}

impl From<io::Error> for ReplayError {
    fn from(error: io::Error) -> ReplayError {
        ReplayError::Io(error)
    }
}

/// Replays script text as the spec says: each line runs and prints before
/// the next is read, and the first malformed line prints nothing and stops
/// the run with [`ReplayError::Parse`] (which the caller writes to standard
/// error, exiting non-zero). The output is flushed either way.
pub fn replay<R, W>(text: &str, runner: &mut R, out: &mut W) -> Result<(), ReplayError>
where
    R: Runner + ?Sized,
    W: Write + ?Sized,
{
    for item in lines(text) {
        match item {
            Ok((_, op)) => run_op(&op, runner, out)?,
            Err(error) => {
                out.flush()?;
                return Err(ReplayError::Parse(error));
            }
        }
    }
    out.flush()?;
    Ok(())
}
