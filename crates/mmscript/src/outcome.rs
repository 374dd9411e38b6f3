//! The result line of one operation.
//!
//! `ok`, `ok 0xADDR` (for `mmap` and `mremap`, the address relative to the
//! window), `ok N` (for `pkey_alloc`, the key in decimal), `err ERRNO`, and
//! for `touch` also `segv` or `bus`. An address always has its `0x` and a
//! key never has one, so `ok 0x10` and `ok 16` cannot be confused.

use core::fmt;
use core::str::FromStr;

use crate::Errno;

/// What one operation did, printed as its result line.
///
/// ```
/// use mmscript::{Errno, Outcome};
///
/// assert_eq!(Outcome::OkAddr(0x100000).to_string(), "ok 0x100000");
/// assert_eq!(Outcome::OkAddr(0).to_string(), "ok 0x0");
/// assert_eq!(Outcome::OkKey(3).to_string(), "ok 3");
/// assert_eq!("ok 0".parse::<Outcome>(), Ok(Outcome::OkKey(0)));
/// assert_eq!("ok 0x0".parse::<Outcome>(), Ok(Outcome::OkAddr(0)));
/// assert_eq!(Outcome::Err(Errno::EEXIST).to_string(), "err EEXIST");
/// assert_eq!("segv".parse::<Outcome>(), Ok(Outcome::Segv));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// `ok`: the call succeeded (or the touch did not fault).
    Ok,
    /// `ok 0xADDR`: `mmap` or `mremap` returned this address, relative to
    /// the window.
    OkAddr(u64),
    /// `ok N`: `pkey_alloc` returned this key (decimal, no `0x`).
    OkKey(i32),
    /// `err ERRNO`: the call failed with this errno.
    Err(Errno),
    /// `segv`: the touch raised `SIGSEGV`.
    Segv,
    /// `bus`: the touch raised `SIGBUS`.
    Bus,
}

impl From<Errno> for Outcome {
    fn from(errno: Errno) -> Outcome {
        Outcome::Err(errno)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::OkAddr(addr) => write!(f, "ok {addr:#x}"),
            Outcome::OkKey(key) => write!(f, "ok {key}"),
            Outcome::Err(errno) => write!(f, "err {errno}"),
            Outcome::Segv => f.write_str("segv"),
            Outcome::Bus => f.write_str("bus"),
        }
    }
}

/// Parses the result line [`Display`](fmt::Display) prints (and nothing
/// else: `ok 0x00`, `ok 03` or `err E22` are not what a runner prints).
impl FromStr for Outcome {
    type Err = String;

    fn from_str(line: &str) -> Result<Outcome, String> {
        let bad = || format!("not a result line: {line:?}");
        match line {
            "ok" => return Ok(Outcome::Ok),
            "segv" => return Ok(Outcome::Segv),
            "bus" => return Ok(Outcome::Bus),
            _ => {}
        }
        if let Some(value) = line.strip_prefix("ok ") {
            if value.starts_with("0x") {
                return crate::maps::parse_canonical_hex(value)
                    .map(Outcome::OkAddr)
                    .ok_or_else(bad);
            }
            return parse_canonical_key(value)
                .map(Outcome::OkKey)
                .ok_or_else(bad);
        }
        if let Some(name) = line.strip_prefix("err ") {
            return Errno::from_name(name).map(Outcome::Err).ok_or_else(bad);
        }
        Err(bad())
    }
}

/// A decimal `i32` as `Display` prints it: no `+`, no leading zeroes, no
/// `-0`.
fn parse_canonical_key(word: &str) -> Option<i32> {
    let digits = word.strip_prefix('-').unwrap_or(word);
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && word != "-0";
    canonical.then(|| word.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for outcome in [
            Outcome::Ok,
            Outcome::OkAddr(0),
            Outcome::OkAddr(0x7000_0000_1000),
            Outcome::OkAddr(u64::MAX),
            Outcome::OkKey(0),
            Outcome::OkKey(1),
            Outcome::OkKey(15),
            Outcome::OkKey(-1),
            Outcome::OkKey(i32::MAX),
            Outcome::OkKey(i32::MIN),
            Outcome::Err(Errno::ENOMEM),
            Outcome::Err(Errno::new(999)),
            Outcome::Segv,
            Outcome::Bus,
        ] {
            assert_eq!(outcome.to_string().parse::<Outcome>(), Ok(outcome));
        }
    }

    #[test]
    fn keys_and_addresses_do_not_collide() {
        assert_eq!("ok 16".parse::<Outcome>(), Ok(Outcome::OkKey(16)));
        assert_eq!("ok 0x16".parse::<Outcome>(), Ok(Outcome::OkAddr(0x16)));
        assert_eq!("ok 0".parse::<Outcome>(), Ok(Outcome::OkKey(0)));
        assert_eq!("ok 0x0".parse::<Outcome>(), Ok(Outcome::OkAddr(0)));
        assert_ne!(
            Outcome::OkKey(0).to_string(),
            Outcome::OkAddr(0).to_string()
        );
    }

    #[test]
    fn rejects_non_canonical_lines() {
        for line in [
            "",
            "ok ",
            "ok 0x",
            "ok 0x01",
            "ok 0xA",
            "ok 016",
            "ok +1",
            "ok -0",
            "ok -",
            "ok --1",
            "ok 1 ",
            "ok 2147483648",
            "ok -2147483649",
            "ok 0X1",
            "err",
            "err E22",
            "OK",
            "ok  0x1",
            "ok  1",
        ] {
            assert!(line.parse::<Outcome>().is_err(), "{line:?}");
        }
    }
}
