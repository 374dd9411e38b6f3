#!/usr/bin/env bash
# Run a host program inside a QEMU (TCG) guest whose CPU has x86 protection
# keys (PKU/OSPKE), and print what it printed.  Developer tool, not run by CI.
#
#   tools/pku-vm/run.sh [OPTIONS] BINARY [ARGS...] < STDIN
#
# Single mode (default): BINARY runs once in the guest with ARGS, the host's
# standard input as its standard input; its stdout is printed on stdout, its
# stderr on stderr, and run.sh exits with its exit status.
#
# Batch mode (--each DIR OUTDIR): BINARY runs once per file DIR/*.EXT (EXT
# from --ext, default mms) with that file as standard input; its stdout goes
# to OUTDIR/NAME.SUFFIX (--suffix, default pku.out) and its stderr, when not
# empty, to OUTDIR/NAME.SUFFIX.err; an exit status other than 0 is written to
# OUTDIR/NAME.SUFFIX.rc.  One boot for all of them.
#
# Options:
#   --file HOST[:GUEST]  also put HOST into the guest (default /data/BASENAME);
#                        shared libraries it needs (ldd) come along.
#   --each DIR OUTDIR    batch mode, see above.
#   --ext EXT            batch mode: which files of DIR (default mms).
#   --suffix SUFFIX      batch mode: output file suffix (default pku.out).
#   --cpu MODEL          QEMU -cpu value (default max,-la57: PKU, and 4-level
#                        paging like the host, so 2^47 is the user address limit).
#   --timeout SECONDS    kill QEMU after this long (default 900).
#   --append TEXT        extra kernel command-line words.
#   --keep               keep the work directory (printed on stderr).
#   --no-install         do not apt-get install missing packages.
#   --console            copy the guest's whole serial console to stderr.
#   --allow-no-pku       do not fail when the guest lacks pku/ospke.
#
# Environment: PKU_VM_KERNEL, PKU_VM_BUSYBOX override the kernel image and the
# static busybox.  The guest is Debian bookworm's kernel (6.1), 2 GiB, 1 vCPU,
# transparent_hugepage=madvise, vm.overcommit_memory 0 (the default), and the
# program runs as root (so RLIMIT_MEMLOCK does not limit mlock).
set -euo pipefail

die() { echo "pku-vm: $*" >&2; exit 125; }

cpu=max,-la57
timeout_s=900
append_extra=
keep=0
install=1
console=0
allow_no_pku=0
each_dir=
each_out=
ext=mms
suffix=pku.out
files=()
while [ $# -gt 0 ]; do
    case "$1" in
        --file) files+=("$2"); shift 2 ;;
        --each) each_dir=$2; each_out=$3; shift 3 ;;
        --ext) ext=$2; shift 2 ;;
        --suffix) suffix=$2; shift 2 ;;
        --cpu) cpu=$2; shift 2 ;;
        --timeout) timeout_s=$2; shift 2 ;;
        --append) append_extra=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        --no-install) install=0; shift ;;
        --console) console=1; shift ;;
        --allow-no-pku) allow_no_pku=1; shift ;;
        --) shift; break ;;
        -*) die "unknown option $1" ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || die "usage: $0 [OPTIONS] BINARY [ARGS...] < STDIN"
binary=$(readlink -f "$1"); shift
[ -x "$binary" ] || die "$binary is not an executable file"

# --- (a) what the rig needs -------------------------------------------------
find_kernel() {
    if [ -n "${PKU_VM_KERNEL:-}" ]; then echo "$PKU_VM_KERNEL"; return; fi
    ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1
}
need_install=()
command -v qemu-system-x86_64 >/dev/null || need_install+=(qemu-system-x86)
# `grep -x` without -q reads the whole list: with -q, grep may exit
# first, busybox dies of SIGPIPE and pipefail calls the check failed.
[ -x "${PKU_VM_BUSYBOX:-/bin/busybox}" ] && "${PKU_VM_BUSYBOX:-/bin/busybox}" --list 2>/dev/null | grep -x base64 >/dev/null \
    || need_install+=(busybox-static)
command -v cpio >/dev/null || need_install+=(cpio)
[ -n "$(find_kernel)" ] || need_install+=(linux-image-cloud-amd64)
if [ ${#need_install[@]} -gt 0 ]; then
    [ $install = 1 ] || die "missing: ${need_install[*]} (and --no-install given)"
    echo "pku-vm: installing ${need_install[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${need_install[@]}" >&2
fi
kernel=$(find_kernel)
[ -r "$kernel" ] || die "no kernel image (install linux-image-cloud-amd64 or set PKU_VM_KERNEL)"
busybox=${PKU_VM_BUSYBOX:-/bin/busybox}
config=/boot/config-${kernel#*/vmlinuz-}
if [ -r "$config" ] && ! grep -q '^CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS=y' "$config"; then
    die "$kernel is built without CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS"
fi

# --- (b) the initramfs ------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/pku-vm.XXXXXX")
if [ $keep = 1 ]; then echo "pku-vm: work directory $work" >&2
else trap 'rm -rf "$work"' EXIT; fi
root=$work/root
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,data,out,in,lib64,usr/lib,etc}

copy_with_libs() {  # HOSTPATH GUESTPATH
    local src=$1 dst=$2
    mkdir -p "$root$(dirname "$dst")"
    cp -L "$src" "$root$dst"
    # Shared libraries (ldd lists the dynamic loader too).  Static binaries
    # and non-ELF files have none.
    local lib
    while read -r lib; do
        [ -n "$lib" ] && [ -e "$lib" ] || continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done < <(ldd "$src" 2>/dev/null | grep -oE '(/[^ ]+)' | sort -u)
}

cp "$busybox" "$root/bin/busybox"
copy_with_libs "$binary" /prog/"$(basename "$binary")"
guest_bin=/prog/$(basename "$binary")
for f in "${files[@]+"${files[@]}"}"; do
    host=${f%%:*}; guest=${f#*:}
    [ "$guest" = "$f" ] && guest=/data/$(basename "$host")
    copy_with_libs "$host" "$guest"
done

mode=single
if [ -n "$each_dir" ]; then
    mode=each
    shopt -s nullglob
    inputs=("$each_dir"/*."$ext")
    shopt -u nullglob
    [ ${#inputs[@]} -gt 0 ] || die "no $each_dir/*.$ext"
    cp "${inputs[@]}" "$root/in/"
else
    if [ -t 0 ]; then : > "$root/in/stdin"; else cat > "$root/in/stdin"; fi
fi

# Arguments, one per line, base64 so that any byte survives.
: > "$root/args"
for a in "$@"; do printf '%s' "$a" | base64 -w0 >> "$root/args"; echo >> "$root/args"; done

cat > "$root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
echo
echo "@@PKUVM-UNAME \$(uname -r) \$(uname -v)@@"
echo "@@PKUVM-FLAGS \$(grep -m1 '^flags' /proc/cpuinfo)@@"
echo "@@PKUVM-THP \$(cat /sys/kernel/mm/transparent_hugepage/enabled)@@"
echo "@@PKUVM-OVERCOMMIT \$(cat /proc/sys/vm/overcommit_memory)@@"
if grep -qw ospke /proc/cpuinfo && grep -qw pku /proc/cpuinfo; then
    echo "@@PKUVM-PKU yes@@"
else
    echo "@@PKUVM-PKU no@@"
fi
set --
while read -r a; do set -- "\$@" "\$(echo "\$a" | base64 -d)"; done < /args
cd /tmp
if [ $mode = single ]; then
    $guest_bin "\$@" < /in/stdin > /out/stdout 2> /out/stderr
    echo \$? > /out/rc
else
    for f in /in/*.$ext; do
        n=\$(basename "\$f" .$ext)
        $guest_bin "\$@" < "\$f" > "/out/\$n.$suffix" 2> "/out/\$n.$suffix.err"
        rc=\$?
        [ -s "/out/\$n.$suffix.err" ] || rm -f "/out/\$n.$suffix.err"
        [ \$rc = 0 ] || echo \$rc > "/out/\$n.$suffix.rc"
    done
fi
echo "@@PKUVM-BEGIN@@"
cd /out && tar cf - . | gzip -c | base64
echo "@@PKUVM-END@@"
sync
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initramfs.gz"

# --- (c) boot ---------------------------------------------------------------
append="console=ttyS0 quiet loglevel=1 panic=-1 transparent_hugepage=madvise rdinit=/init $append_extra"
set +e
timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 \
    -accel tcg -cpu "$cpu" -smp 1 -m 2G -nographic -no-reboot \
    -kernel "$kernel" -initrd "$work/initramfs.gz" -append "$append" \
    -nic none < /dev/null > "$work/console" 2>&1
qrc=$?
set -e
tr -d '\r' < "$work/console" > "$work/console.txt"
[ $console = 1 ] && cat "$work/console.txt" >&2
[ $qrc = 124 ] || [ $qrc = 137 ] && { tail -n 30 "$work/console.txt" >&2; die "QEMU timed out after ${timeout_s}s"; }

# --- (d) the output ---------------------------------------------------------
field() { sed -n "s/^.*@@PKUVM-$1 \(.*\)@@.*$/\1/p" "$work/console.txt" | head -n 1; }
pku=$(field PKU)
[ -n "$pku" ] || { tail -n 40 "$work/console.txt" >&2; die "the guest did not start /init (QEMU exit $qrc)"; }
echo "pku-vm: guest kernel $(field UNAME); cpu $cpu; pku+ospke: $pku" >&2
if [ "$pku" != yes ] && [ $allow_no_pku = 0 ]; then
    echo "pku-vm: guest $(field FLAGS)" >&2
    die "the guest CPU has no pku/ospke (try --cpu max,+pku, or --allow-no-pku)"
fi
grep -q '^@@PKUVM-END@@$' "$work/console.txt" || { tail -n 40 "$work/console.txt" >&2; die "no end marker in the guest's output"; }
mkdir -p "$work/out"
sed -n '/^@@PKUVM-BEGIN@@$/,/^@@PKUVM-END@@$/p' "$work/console.txt" | sed '1d;$d' \
    | base64 -d | gunzip -c | tar xf - -C "$work/out"
if [ $mode = single ]; then
    cat "$work/out/stdout"
    cat "$work/out/stderr" >&2
    exit "$(cat "$work/out/rc")"
else
    mkdir -p "$each_out"
    cp "$work/out/"* "$each_out/" 2>/dev/null || true
    echo "pku-vm: $(ls "$work/out" | grep -c "\.$suffix\$") outputs in $each_out" >&2
fi
