//! The CPU features an address space behaves by.
//!
//! What Linux does with an address space depends, in a few places, on the
//! machine: on x86-64 with protection keys (`pku ospke` in
//! `/proc/cpuinfo`), `PROT_EXEC`-only memory gets the execute-only key and
//! cannot be read, and `pkey_alloc` works; without them `PROT_EXEC` memory
//! is readable and `pkey_alloc` fails. An emulator wants the semantics of
//! the machine it emulates, a differential test those of the machine it
//! runs on: [`Arch`] says which, in [`MmConfig`](crate::MmConfig).
//!
//! Linux: arch/x86/include/asm/pkeys.h (`arch_max_pkey`),
//! arch/x86/kernel/cpu/common.c (`setup_pku`).

#![deny(unsafe_code)]

/// The x86-64 features that change what an address space does.
///
/// [`Arch::default`] is [`Arch::X86_64`], without protection keys: the
/// same on every host and in `no_std` builds, and the rule most software
/// expects (`PROT_EXEC` memory readable). Use [`Arch::host`] (`std` on
/// Linux) for the machine the program runs on, or
/// [`Arch::X86_64_PKU`] to emulate one with protection keys.
///
/// ```
/// use pervma::{Arch, MmConfig};
/// let config = MmConfig::default().with_arch(Arch::X86_64_PKU);
/// assert!(config.arch.protection_keys);
/// assert!(!MmConfig::default().arch.protection_keys);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Arch {
    /// Memory protection keys (`X86_FEATURE_OSPKE`): 16 keys, key 0 the
    /// default; `pkey_alloc`, `pkey_free`, `pkey_mprotect`; execute-only
    /// memory.
    pub protection_keys: bool,
}

impl Arch {
    /// x86-64 without protection keys (AMD before Zen 3, most virtual
    /// machines, Intel before Skylake-SP).
    pub const X86_64: Arch = Arch {
        protection_keys: false,
    };

    /// x86-64 with protection keys enabled by the kernel (`pku ospke`).
    pub const X86_64_PKU: Arch = Arch {
        protection_keys: true,
    };

    /// The machine this program runs on: protection keys where the
    /// operating system enabled them (`CPUID.(EAX=7,ECX=0):ECX.OSPKE`,
    /// which reflects `CR4.PKE`; Linux shows it as `ospke` in
    /// `/proc/cpuinfo`). Works in every build, a kernel's included; on
    /// other architectures, [`Arch::X86_64`].
    pub fn host() -> Arch {
        Arch {
            protection_keys: host_ospke(),
        }
    }

    /// `arch_max_pkey`: how many keys there are (1, key 0 alone, without
    /// protection keys).
    pub(crate) const fn max_pkey(self) -> u32 {
        if self.protection_keys {
            16
        } else {
            1
        }
    }
}

/// `X86_FEATURE_OSPKE`: CPUID leaf 7, subleaf 0, ECX bit 4.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code, unused_unsafe)]
fn host_ospke() -> bool {
    // SAFETY: CPUID exists on every x86-64 CPU and leaf 7 may be queried
    // on any of them (a CPU without it answers zeroes). The intrinsic is
    // a safe function in newer Rust; `unused_unsafe` covers both.
    let leaf7 = unsafe { core::arch::x86_64::__cpuid_count(7, 0) };
    leaf7.ecx & (1 << 4) != 0
}

#[cfg(not(target_arch = "x86_64"))]
fn host_ospke() -> bool {
    false
}

#[cfg(all(test, feature = "std", target_os = "linux"))]
mod tests {
    use super::Arch;

    /// CPUID and the kernel's own account of the machine agree.
    #[test]
    fn host_agrees_with_proc_cpuinfo() {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
        let flags = cpuinfo.lines().find(|l| l.starts_with("flags")).unwrap();
        let ospke = flags.split_whitespace().any(|f| f == "ospke");
        assert_eq!(Arch::host().protection_keys, ospke);
    }
}
