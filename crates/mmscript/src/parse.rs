//! Text to [`Op`]s.
//!
//! A script is read line by line: `#` starts a comment, blank lines are
//! skipped, and every other line is one operation whose words are
//! separated by spaces (tabs are accepted too). Numbers are decimal or
//! `0x` hexadecimal and must fit in 64 bits, except protection keys, which
//! are decimal, may be negative and must fit in an `i32` (the kernel's
//! `int`); `pkey_mprotect` also takes `default` for -1. A line is malformed if its
//! operation is unknown, it has the wrong number of words, a word is not
//! what its position wants, or one of its ranges leaves the window and its
//! spill zone (see [`range_allowed`](crate::range_allowed)).
//!
//! Line numbers count from 1 and include comments and blank lines, so an
//! error points at the line an editor shows.

use core::fmt;

use crate::{
    Advice, ForkSide, Kind, MlockallFlags, MmapFlags, MremapFlags, Op, PkeyRights, Prot,
    DEFAULT_PKEY,
};

/// A parsed script: its operations with their line numbers (from 1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Script {
    /// `(line number, operation)`, in order.
    pub ops: Vec<(usize, Op)>,
}

impl Script {
    /// The operations, without line numbers.
    pub fn iter(&self) -> impl Iterator<Item = &Op> {
        self.ops.iter().map(|(_, op)| op)
    }

    /// The number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether there are no operations.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// One line per operation, in canonical form (line numbers are not kept).
impl fmt::Display for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for op in self.iter() {
            writeln!(f, "{op}")?;
        }
        Ok(())
    }
}

/// A malformed line: its number and what is wrong with it.
///
/// Prints as `line 7: mmap: bad PROT "rwz": expected three characters
/// r/-, w/-, x/-`, the message a runner writes to standard error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    line: usize,
    message: String,
}

impl ParseError {
    /// An error at `line` (from 1).
    pub fn new(line: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line,
            message: message.into(),
        }
    }

    /// The line number, from 1.
    pub fn line(&self) -> usize {
        self.line
    }

    /// What is wrong, without the line number.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parses a whole script; the first malformed line is the error.
///
/// ```
/// let script = mmscript::parse("# one mapping\nmmap 0x1000 4096 rw- private-anon fixed\nmaps\n")?;
/// assert_eq!(script.ops.len(), 2);
/// assert_eq!(script.ops[1].0, 3);
/// # Ok::<(), mmscript::ParseError>(())
/// ```
pub fn parse(text: &str) -> Result<Script, ParseError> {
    match parse_prefix(text) {
        (script, None) => Ok(script),
        (_, Some(error)) => Err(error),
    }
}

/// Parses up to the first malformed line: the operations before it, and its
/// error if there is one. A runner that must run the well-formed prefix and
/// then stop (as the spec says) runs `.0` and then reports `.1`.
pub fn parse_prefix(text: &str) -> (Script, Option<ParseError>) {
    let mut script = Script::default();
    for item in lines(text) {
        match item {
            Ok(op) => script.ops.push(op),
            Err(error) => return (script, Some(error)),
        }
    }
    (script, None)
}

/// The operations of `text` one line at a time, for a runner that executes
/// each line before it reads the next. Yields `Ok((line, op))` per
/// operation; after the first `Err` it yields nothing.
pub fn lines(text: &str) -> Lines<'_> {
    Lines {
        inner: text.lines().enumerate(),
        failed: false,
    }
}

/// The iterator of [`lines`].
#[derive(Clone, Debug)]
pub struct Lines<'a> {
    inner: core::iter::Enumerate<core::str::Lines<'a>>,
    failed: bool,
}

impl Iterator for Lines<'_> {
    type Item = Result<(usize, Op), ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        for (index, text) in self.inner.by_ref() {
            let number = index + 1;
            match parse_line(text) {
                Ok(None) => continue,
                Ok(Some(op)) => return Some(Ok((number, op))),
                Err(message) => {
                    self.failed = true;
                    return Some(Err(ParseError::new(number, message)));
                }
            }
        }
        None
    }
}

impl core::iter::FusedIterator for Lines<'_> {}

/// Parses one line: `Ok(None)` for a blank or comment-only line, else the
/// operation, or the message of a [`ParseError`] (without the line number).
///
/// ```
/// use mmscript::{parse_line, Op};
///
/// assert_eq!(parse_line("  # nothing"), Ok(None));
/// assert_eq!(parse_line("touch 0x1000 w # store"), Ok(Some(Op::Touch { addr: 0x1000, write: true })));
/// assert_eq!(
///     parse_line("mprotect 0x1000 0x1000 rwz").unwrap_err(),
///     r#"mprotect: bad PROT "rwz": expected three characters r/-, w/-, x/-"#
/// );
/// ```
pub fn parse_line(line: &str) -> Result<Option<Op>, String> {
    let code = match line.find('#') {
        Some(hash) => &line[..hash],
        None => line,
    };
    let mut words = code.split_ascii_whitespace();
    let Some(name) = words.next() else {
        return Ok(None);
    };
    let args: Vec<&str> = words.collect();
    let op = parse_op(name, &args)?;
    op.check_ranges().map_err(|msg| format!("{name}: {msg}"))?;
    Ok(Some(op))
}

/// The words of one operation after its name.
struct Args<'a> {
    op: &'static str,
    usage: &'static str,
    words: &'a [&'a str],
}

impl<'a> Args<'a> {
    /// Checks the number of words: exactly `min` words, or at least `min`
    /// if `more` is allowed.
    fn new(
        op: &'static str,
        usage: &'static str,
        words: &'a [&'a str],
        min: usize,
        more: bool,
    ) -> Result<Args<'a>, String> {
        let ok = if more {
            words.len() >= min
        } else {
            words.len() == min
        };
        if !ok {
            let plural = if min == 1 { "" } else { "s" };
            let quantity = if more { "at least " } else { "" };
            return Err(if usage.is_empty() {
                format!("{op}: expected no arguments, got {}", words.len())
            } else {
                format!(
                    "{op}: expected {quantity}{min} argument{plural} ({usage}), got {}",
                    words.len()
                )
            });
        }
        Ok(Args { op, usage, words })
    }

    fn bad(&self, field: &str, word: &str, why: &str) -> String {
        format!("{}: bad {field} {word:?}: {why}", self.op)
    }

    fn number(&self, index: usize, field: &str) -> Result<u64, String> {
        let word = self.words[index];
        parse_number(word).map_err(|why| self.bad(field, word, why))
    }

    fn prot(&self, index: usize) -> Result<Prot, String> {
        let word = self.words[index];
        Prot::from_word(word)
            .ok_or_else(|| self.bad("PROT", word, "expected three characters r/-, w/-, x/-"))
    }

    fn kind(&self, index: usize) -> Result<Kind, String> {
        let word = self.words[index];
        let expected = "expected private-anon, shared-anon, private-file:NAME:OFF \
                        or shared-file:NAME:OFF";
        let (shared, file) = match word {
            "private-anon" => return Ok(Kind::PrivateAnon),
            "shared-anon" => return Ok(Kind::SharedAnon),
            _ => {
                if let Some(file) = word.strip_prefix("private-file:") {
                    (false, file)
                } else if let Some(file) = word.strip_prefix("shared-file:") {
                    (true, file)
                } else {
                    return Err(self.bad("KIND", word, expected));
                }
            }
        };
        let Some((name, offset)) = file.split_once(':') else {
            return Err(self.bad("KIND", word, "expected NAME:OFF after the kind"));
        };
        if !Kind::valid_file_name(name) {
            return Err(self.bad(
                "NAME",
                name,
                "expected [a-z0-9_]+ other than anon and shmem",
            ));
        }
        let offset = parse_number(offset).map_err(|why| self.bad("OFF", offset, why))?;
        let name = name.to_owned();
        Ok(if shared {
            Kind::SharedFile { name, offset }
        } else {
            Kind::PrivateFile { name, offset }
        })
    }

    /// A protection key: decimal `i32`, or `default` (-1) if `default` is
    /// allowed.
    fn key(&self, index: usize, default: bool) -> Result<i32, String> {
        let word = self.words[index];
        if default && word == "default" {
            return Ok(DEFAULT_PKEY);
        }
        parse_key(word).map_err(|why| {
            let why = if default && why == KEY_NOT_A_NUMBER {
                "expected a decimal number (optionally negative) or default"
            } else {
                why
            };
            self.bad("PKEY", word, why)
        })
    }

    fn duplicate(&self, word: &str) -> String {
        format!("{}: duplicate option {word:?} ({})", self.op, self.usage)
    }
}

/// Decimal, or `0x` and hexadecimal digits (either case); no sign, no `_`.
fn parse_number(word: &str) -> Result<u64, &'static str> {
    let (digits, radix) = match word.strip_prefix("0x") {
        Some(hex) => (hex, 16),
        None => (word, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err("expected a decimal number or 0x and hexadecimal digits");
    }
    u64::from_str_radix(digits, radix).map_err(|_| "does not fit in 64 bits")
}

/// Why [`parse_key`] refused a word that is not a decimal number.
const KEY_NOT_A_NUMBER: &str = "expected a decimal number, optionally negative";

/// Decimal digits with an optional leading `-` (no `+`, no `0x`), fitting
/// in an `i32`: a protection key as the kernel's `int` argument.
fn parse_key(word: &str) -> Result<i32, &'static str> {
    let digits = word.strip_prefix('-').unwrap_or(word);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(KEY_NOT_A_NUMBER);
    }
    word.parse()
        .map_err(|_| "does not fit in 32 bits (the kernel's int)")
}

fn parse_op(name: &str, words: &[&str]) -> Result<Op, String> {
    match name {
        "mmap" => {
            let args = Args::new("mmap", "ADDR LEN PROT KIND [OPT...]", words, 4, true)?;
            let addr = args.number(0, "ADDR")?;
            let len = args.number(1, "LEN")?;
            let prot = args.prot(2)?;
            let kind = args.kind(3)?;
            let mut flags = MmapFlags::default();
            for &word in &words[4..] {
                let flag = match word {
                    "fixed" => &mut flags.fixed,
                    "noreplace" => &mut flags.noreplace,
                    "noreserve" => &mut flags.noreserve,
                    "populate" => &mut flags.populate,
                    "locked" => &mut flags.locked,
                    "growsdown" => &mut flags.growsdown,
                    "stack" => &mut flags.stack,
                    _ => {
                        return Err(args.bad(
                            "OPT",
                            word,
                            "expected fixed, noreplace, noreserve, populate, locked, \
                             growsdown or stack",
                        ))
                    }
                };
                if *flag {
                    return Err(args.duplicate(word));
                }
                *flag = true;
            }
            Ok(Op::Mmap {
                addr,
                len,
                prot,
                kind,
                flags,
            })
        }
        "mlock" => {
            if words.len() == 3 {
                let args = Args::new("mlock", "ADDR LEN [onfault]", words, 3, false)?;
                if words[2] != "onfault" {
                    return Err(args.bad("option", words[2], "expected onfault"));
                }
                return Ok(Op::Mlock {
                    addr: args.number(0, "ADDR")?,
                    len: args.number(1, "LEN")?,
                    onfault: true,
                });
            }
            let args = Args::new("mlock", "ADDR LEN [onfault]", words, 2, false)?;
            Ok(Op::Mlock {
                addr: args.number(0, "ADDR")?,
                len: args.number(1, "LEN")?,
                onfault: false,
            })
        }
        "mlockall" => {
            let args = Args::new("mlockall", "current|future|onfault", words, 1, false)?;
            let flags = MlockallFlags::from_word(words[0])
                .map_err(|why| args.bad("flags", words[0], &why))?;
            Ok(Op::Mlockall { flags })
        }
        "munlockall" => {
            Args::new("munlockall", "", words, 0, false)?;
            Ok(Op::Munlockall)
        }
        "truncate" => {
            let args = Args::new("truncate", "NAME SIZE", words, 2, false)?;
            if !Kind::valid_file_name(words[0]) {
                return Err(args.bad(
                    "NAME",
                    words[0],
                    "expected [a-z0-9_]+ other than anon and shmem",
                ));
            }
            Ok(Op::Truncate {
                name: words[0].to_owned(),
                size: args.number(1, "SIZE")?,
            })
        }
        "munmap" | "munlock" | "mseal" => {
            let (op, make): (_, fn(u64, u64) -> Op) = match name {
                "munmap" => ("munmap", |addr, len| Op::Munmap { addr, len }),
                "mseal" => ("mseal", |addr, len| Op::Mseal { addr, len }),
                _ => ("munlock", |addr, len| Op::Munlock { addr, len }),
            };
            let args = Args::new(op, "ADDR LEN", words, 2, false)?;
            Ok(make(args.number(0, "ADDR")?, args.number(1, "LEN")?))
        }
        "mprotect" => {
            let args = Args::new("mprotect", "ADDR LEN PROT", words, 3, false)?;
            Ok(Op::Mprotect {
                addr: args.number(0, "ADDR")?,
                len: args.number(1, "LEN")?,
                prot: args.prot(2)?,
            })
        }
        "mremap" => {
            let usage = "OLD OLDLEN NEWLEN [maymove] [fixed NEW] [dontunmap]";
            let args = Args::new("mremap", usage, words, 3, true)?;
            let old_addr = args.number(0, "OLD")?;
            let old_len = args.number(1, "OLDLEN")?;
            let new_len = args.number(2, "NEWLEN")?;
            let mut flags = MremapFlags::default();
            let mut index = 3;
            while index < words.len() {
                let word = words[index];
                match word {
                    "maymove" if flags.maymove => return Err(args.duplicate(word)),
                    "maymove" => flags.maymove = true,
                    "dontunmap" if flags.dontunmap => return Err(args.duplicate(word)),
                    "dontunmap" => flags.dontunmap = true,
                    "fixed" if flags.fixed.is_some() => return Err(args.duplicate(word)),
                    "fixed" => {
                        index += 1;
                        if index == words.len() {
                            return Err("mremap: \"fixed\" needs an address: fixed NEW".into());
                        }
                        flags.fixed = Some(args.number(index, "NEW")?);
                    }
                    _ => {
                        return Err(args.bad(
                            "option",
                            word,
                            "expected maymove, fixed NEW or dontunmap",
                        ))
                    }
                }
                index += 1;
            }
            Ok(Op::Mremap {
                old_addr,
                old_len,
                new_len,
                flags,
            })
        }
        "madvise" => {
            let args = Args::new("madvise", "ADDR LEN ADVICE", words, 3, false)?;
            let addr = args.number(0, "ADDR")?;
            let len = args.number(1, "LEN")?;
            let advice = Advice::from_name(words[2]).ok_or_else(|| {
                let names: Vec<_> = Advice::ALL.iter().map(|a| a.name()).collect();
                args.bad(
                    "ADVICE",
                    words[2],
                    &format!("expected one of {}", names.join(" ")),
                )
            })?;
            Ok(Op::Madvise { addr, len, advice })
        }
        "touch" => {
            let args = Args::new("touch", "ADDR r|w", words, 2, false)?;
            let addr = args.number(0, "ADDR")?;
            let write = match words[1] {
                "r" => false,
                "w" => true,
                other => return Err(args.bad("access", other, "expected r or w")),
            };
            Ok(Op::Touch { addr, write })
        }
        "maps" => {
            Args::new("maps", "", words, 0, false)?;
            Ok(Op::Maps)
        }
        "pkey_alloc" => {
            let usage = "[noaccess|nowrite]";
            if words.len() > 1 {
                return Err(format!(
                    "pkey_alloc: expected at most 1 argument ({usage}), got {}",
                    words.len()
                ));
            }
            let args = Args::new("pkey_alloc", usage, words, 0, true)?;
            let rights = match words.first() {
                None => PkeyRights::None,
                Some(word) => PkeyRights::from_word(word)
                    .ok_or_else(|| args.bad("RIGHTS", word, "expected noaccess or nowrite"))?,
            };
            Ok(Op::PkeyAlloc { rights })
        }
        "pkey_free" => {
            let args = Args::new("pkey_free", "PKEY", words, 1, false)?;
            Ok(Op::PkeyFree {
                key: args.key(0, false)?,
            })
        }
        "pkey_mprotect" => {
            let args = Args::new("pkey_mprotect", "ADDR LEN PROT PKEY", words, 4, false)?;
            Ok(Op::PkeyMprotect {
                addr: args.number(0, "ADDR")?,
                len: args.number(1, "LEN")?,
                prot: args.prot(2)?,
                pkey: args.key(3, true)?,
            })
        }
        "fork" => {
            let args = Args::new("fork", "child|parent", words, 1, false)?;
            let side = ForkSide::from_word(words[0])
                .ok_or_else(|| args.bad("side", words[0], "expected child or parent"))?;
            Ok(Op::Fork { side })
        }
        _ => Err(format!(
            "unknown operation {name:?}: expected mmap, munmap, mprotect, mremap, \
             madvise, mlock, munlock, mlockall, munlockall, truncate, touch, maps, \
             mseal, pkey_alloc, pkey_free, pkey_mprotect or fork"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_number("0"), Ok(0));
        assert_eq!(parse_number("0x0"), Ok(0));
        assert_eq!(parse_number("4096"), Ok(4096));
        assert_eq!(parse_number("0xABCdef"), Ok(0xabcdef));
        assert_eq!(parse_number("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_number("0xffffffffffffffff"), Ok(u64::MAX));
        assert_eq!(parse_number("0x0000000000000000001"), Ok(1));
        for bad in [
            "", "0x", "+1", "-1", "1_000", "0X10", "0b1", "1e3", "0x-1", "0x+1", "１",
        ] {
            assert!(parse_number(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_number("18446744073709551616"),
            Err("does not fit in 64 bits")
        );
        assert_eq!(
            parse_number("0x10000000000000000"),
            Err("does not fit in 64 bits")
        );
    }

    #[test]
    fn keys() {
        assert_eq!(parse_key("0"), Ok(0));
        assert_eq!(parse_key("15"), Ok(15));
        assert_eq!(parse_key("-1"), Ok(-1));
        assert_eq!(parse_key("-0"), Ok(0));
        assert_eq!(parse_key("007"), Ok(7));
        assert_eq!(parse_key("2147483647"), Ok(i32::MAX));
        assert_eq!(parse_key("-2147483648"), Ok(i32::MIN));
        for bad in ["", "-", "+1", "0x1", "1_0", "--1", "1-", "default", "１"] {
            assert_eq!(parse_key(bad), Err(KEY_NOT_A_NUMBER), "{bad:?}");
        }
        for big in [
            "2147483648",
            "-2147483649",
            "4294967295",
            "99999999999999999999",
        ] {
            assert_eq!(
                parse_key(big),
                Err("does not fit in 32 bits (the kernel's int)"),
                "{big:?}"
            );
        }
    }
}
