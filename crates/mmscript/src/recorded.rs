//! The corpus's recorded outputs, for a host with or without protection
//! keys.
//!
//! A script's `NAME.out` is what Linux printed for it on a host without
//! protection keys, and `NAME.smaps.out` the same in the smaps mode. Where
//! keys change the output (execute-only memory, `pkey_*` operations),
//! `NAME.pku.out` and `NAME.pku.smaps.out` hold what a host with them
//! prints. Elsewhere the two hosts print the same, except that the smaps
//! mode there shows every VMA's key, 0 in a script that never gives one
//! ([`Memory::pkey`](crate::Memory)).

use std::io;
use std::path::Path;

use crate::MapsLine;

/// What Linux prints for the script at `script` (`NAME.mms`), in the
/// smaps mode or not, on a host with protection keys (`pku`) or without.
///
/// # Errors
///
/// The script has no recorded output for that mode.
pub fn recorded_output(script: &Path, smaps: bool, pku: bool) -> io::Result<String> {
    let mode = if smaps { "smaps.out" } else { "out" };
    if pku {
        let keyed = script.with_extension(format!("pku.{mode}"));
        if keyed.exists() {
            return std::fs::read_to_string(keyed);
        }
    }
    let plain = std::fs::read_to_string(script.with_extension(mode))?;
    Ok(if pku && smaps {
        with_key_zero(&plain)
    } else {
        plain
    })
}

/// `output` with `pkey=0` on every `maps` line that carries smaps figures.
fn with_key_zero(output: &str) -> String {
    let mut out = String::with_capacity(output.len());
    for line in output.lines() {
        match line.parse::<MapsLine>() {
            Ok(mut maps) if maps.memory.is_some_and(|m| m.pkey.is_none()) => {
                if let Some(memory) = &mut maps.memory {
                    memory.pkey = Some(0);
                }
                out.push_str(&maps.to_string());
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_key_zero;

    #[test]
    fn smaps_lines_get_key_zero_and_nothing_else_changes() {
        let plain = "ok 0x1000\n0x1000-0x2000 rw-p 00000000 anon rd wr mr mw me ac rss=4 anon=4 locked=0\nend\n";
        assert_eq!(
            with_key_zero(plain),
            "ok 0x1000\n0x1000-0x2000 rw-p 00000000 anon rd wr mr mw me ac rss=4 anon=4 locked=0 pkey=0\nend\n"
        );
        let no_figures = "0x1000-0x2000 rw-p 00000000 anon rd wr mr mw me ac\nend\n";
        assert_eq!(with_key_zero(no_figures), no_figures);
    }
}
