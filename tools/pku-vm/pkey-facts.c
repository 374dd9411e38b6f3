/* pkey-facts: what Linux does with x86 protection keys, observed.
 *
 * Run it on a machine with PKU (tools/pku-vm/run.sh) and on one without, and
 * compare.  Every question runs in a child process forked from a parent that
 * never touched a protection key, so each starts from a fresh key state
 * (fork copies it).  All mappings are in a fixed window at 0x200000000000;
 * addresses are printed relative to it.  A touch that faults is caught in a
 * SIGSEGV/SIGBUS handler that skips the faulting 2-byte instruction and
 * returns through sigreturn, so PKRU is restored by the kernel.
 *
 *   gcc -O1 -Wall -o pkey-facts pkey-facts.c && ./pkey-facts [SECTION...]
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#define BASE 0x200000000000UL
#define WIN 0x2000000000UL
#define PG 4096UL
#define A(off) ((void *)(BASE + (off)))

static int has_ospke;

/* ---- results ------------------------------------------------------------ */
static const char *ename(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}
/* Print "LABEL: ok" / "ok N" / "err ENAME" for a syscall result. */
static long show(const char *label, long r, int with_value)
{
    int e = errno;
    if (r == -1)
        printf("  %s: err %s\n", label, ename(e));
    else if (with_value)
        printf("  %s: ok %ld\n", label, r);
    else
        printf("  %s: ok\n", label);
    errno = e;
    return r;
}
#define SHOW(label, expr) show(label, (long)(expr), 0)
#define SHOWV(label, expr) show(label, (long)(expr), 1)

static long pkey_alloc_(unsigned long flags, unsigned long rights)
{
    return syscall(SYS_pkey_alloc, flags, rights);
}
static long pkey_free_(long k) { return syscall(SYS_pkey_free, k); }
static long pkey_mprotect_(unsigned long off, unsigned long len, unsigned long prot, long k)
{
    return syscall(SYS_pkey_mprotect, BASE + off, len, prot, k);
}
static long mapx(unsigned long off, unsigned long len, int prot, int flags)
{
    void *p = mmap(A(off), len, prot, flags | MAP_FIXED_NOREPLACE, -1, 0);
    return p == MAP_FAILED ? -1 : (long)((unsigned long)p - BASE);
}
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)
static long map_anon(unsigned long off, unsigned long len, int prot)
{
    return mapx(off, len, prot, ANON);
}

static unsigned rdpkru(void)
{
    unsigned eax, edx;
    if (!has_ospke)
        return 0;
    __asm__ volatile(".byte 0x0f,0x01,0xee" : "=a"(eax), "=d"(edx) : "c"(0));
    return eax;
}
static void show_pkru(void)
{
    if (has_ospke)
        printf("  PKRU=0x%08x\n", rdpkru());
}

/* ---- touches ------------------------------------------------------------ */
/* touch_r/touch_w: one 2-byte load/store (8a 07 / 88 07) at a known label. */
__asm__(".text\n"
        ".globl touch_r\n touch_r:\n xor %eax,%eax\n"
        ".globl touch_r_insn\n touch_r_insn:\n .byte 0x8a,0x07\n ret\n"
        ".globl touch_w\n touch_w:\n mov %esi,%eax\n"
        ".globl touch_w_insn\n touch_w_insn:\n .byte 0x88,0x07\n ret\n");
extern char touch_r_insn[], touch_w_insn[];
int touch_r(volatile void *p);
void touch_w(volatile void *p, int v);

static volatile int f_sig, f_code, f_pkey;
static volatile unsigned long f_addr;

static void handler(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    greg_t rip = uc->uc_mcontext.gregs[REG_RIP];
    if (rip == (greg_t)touch_r_insn || rip == (greg_t)touch_w_insn) {
        f_sig = sig;
        f_code = si->si_code;
        f_pkey = (sig == SIGSEGV && si->si_code == SEGV_PKUERR) ? (int)si->si_pkey : -1;
        f_addr = (unsigned long)si->si_addr;
        uc->uc_mcontext.gregs[REG_RIP] += 2;
        return;
    }
    signal(sig, SIG_DFL); /* not ours: die of it */
}

/* Touch the byte at window offset off; print and return "ok"/"segv"/"bus". */
static const char *touch(const char *label, unsigned long off, char rw)
{
    static char buf[64];
    f_sig = 0;
    if (rw == 'r')
        touch_r(A(off));
    else
        touch_w(A(off), 1);
    if (!f_sig)
        snprintf(buf, sizeof buf, "ok");
    else
        snprintf(buf, sizeof buf, "%s si_code=%d%s si_pkey=%d",
                 f_sig == SIGSEGV ? "segv" : "bus", f_code,
                 f_sig == SIGSEGV && f_code == SEGV_PKUERR ? "(SEGV_PKUERR)"
                 : f_sig == SIGSEGV && f_code == SEGV_ACCERR ? "(SEGV_ACCERR)"
                 : f_sig == SIGSEGV && f_code == SEGV_MAPERR ? "(SEGV_MAPERR)" : "",
                 f_pkey);
    printf("  touch %s 0x%lx %c: %s\n", label, off, rw, buf);
    return buf;
}

/* ---- smaps -------------------------------------------------------------- */
static void smaps(const char *label)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char *line = NULL;
    size_t cap = 0;
    int in = 0, any = 0;
    char head[128] = "", rss[32] = "", key[32] = "", locked[32] = "";
    printf("  smaps %s:\n", label);
    if (!f) {
        perror("smaps");
        return;
    }
    while (getline(&line, &cap, f) > 0) {
        unsigned long s, e;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) == 3 && strchr(line, ' ') &&
            line[strspn(line, "0123456789abcdef")] == '-') {
            in = e > BASE && s < BASE + WIN;
            if (in)
                snprintf(head, sizeof head, "0x%lx-0x%lx %s", s - BASE, e - BASE, perms);
            rss[0] = key[0] = locked[0] = 0;
            continue;
        }
        if (!in)
            continue;
        if (!strncmp(line, "Rss:", 4))
            sscanf(line + 4, " %31s", rss);
        else if (!strncmp(line, "Locked:", 7))
            sscanf(line + 7, " %31s", locked);
        else if (!strncmp(line, "ProtectionKey:", 14))
            sscanf(line + 14, " %31s", key);
        else if (!strncmp(line, "VmFlags:", 8)) {
            char *fl = line + 8;
            fl += strspn(fl, " ");
            fl[strcspn(fl, "\n")] = 0;
            printf("    %s key=%s rss=%skB locked=%skB flags=[%s]\n", head,
                   key[0] ? key : "(no ProtectionKey line)", rss, locked, fl);
            any = 1;
        }
    }
    if (!any)
        printf("    (nothing in the window)\n");
    free(line);
    fclose(f);
}

static void reset(void) { munmap(A(0), WIN); }

/* ---- the questions ------------------------------------------------------ */
static void q_a(void)
{
    printf(" a1: fresh process, mmap(PROT_EXEC, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED)\n");
    show_pkru();
    void *p = mmap(A(0), 2 * PG, PROT_EXEC, ANON | MAP_FIXED, -1, 0);
    printf("  mmap --x: %s\n", p == MAP_FAILED ? ename(errno) : "ok");
    show_pkru();
    smaps("after mmap --x");
    touch("--x", 0, 'r');
    touch("--x", 0, 'w');
    smaps("after the touches");
    SHOWV("pkey_alloc(0,0) after it", pkey_alloc_(0, 0));
    show_pkru();
}

static void q_a2(void)
{
    printf(" a2: fresh process, two pkey_alloc(0,0) first, then mmap --x\n");
    SHOWV("pkey_alloc #1", pkey_alloc_(0, 0));
    SHOWV("pkey_alloc #2", pkey_alloc_(0, 0));
    show_pkru();
    SHOWV("mmap --x", map_anon(0, 2 * PG, PROT_EXEC));
    smaps("after mmap --x");
    show_pkru();
    SHOWV("pkey_alloc #3", pkey_alloc_(0, 0));
    touch("--x", 0, 'r');
}

static void q_b(void)
{
    printf(" b1: --x VMA mprotect to r-x and back\n");
    SHOWV("mmap --x", map_anon(0, 2 * PG, PROT_EXEC));
    smaps("--x");
    SHOW("mprotect r-x", mprotect(A(0), 2 * PG, PROT_READ | PROT_EXEC));
    smaps("after r-x");
    touch("r-x", 0, 'r');
    SHOW("mprotect --x", mprotect(A(0), 2 * PG, PROT_EXEC));
    smaps("after --x again");
    SHOW("mprotect rw-", mprotect(A(0), 2 * PG, PROT_READ | PROT_WRITE));
    smaps("after rw-");
    SHOW("mprotect ---", mprotect(A(0), 2 * PG, PROT_NONE));
    SHOW("mprotect --x", mprotect(A(0), 2 * PG, PROT_EXEC));
    SHOW("mprotect -wx", mprotect(A(0), 2 * PG, PROT_WRITE | PROT_EXEC));
    smaps("after --- then --x then -wx");
    reset();

    printf(" b2: rw- VMA with user key k\n");
    long k = SHOWV("k = pkey_alloc(0,0)", pkey_alloc_(0, 0));
    SHOWV("mmap rw-", map_anon(0, 2 * PG, PROT_READ | PROT_WRITE));
    SHOW("pkey_mprotect rw- k", pkey_mprotect_(0, 2 * PG, PROT_READ | PROT_WRITE, k));
    smaps("rw- k");
    SHOW("mprotect r--", mprotect(A(0), 2 * PG, PROT_READ));
    smaps("after mprotect r--");
    SHOW("mprotect --x", mprotect(A(0), 2 * PG, PROT_EXEC));
    smaps("after mprotect --x");
    SHOW("mprotect r-x", mprotect(A(0), 2 * PG, PROT_READ | PROT_EXEC));
    smaps("after mprotect r-x (from --x with exec-only key)");
    SHOW("pkey_mprotect --x k", pkey_mprotect_(0, 2 * PG, PROT_EXEC, k));
    smaps("after pkey_mprotect --x k");
    touch("--x k", 0, 'r');
    SHOW("mprotect r-x", mprotect(A(0), 2 * PG, PROT_READ | PROT_EXEC));
    smaps("after mprotect r-x (from --x with key k)");
    SHOW("pkey_mprotect(PROT_EXEC, -1)", pkey_mprotect_(0, 2 * PG, PROT_EXEC, -1));
    smaps("after pkey_mprotect --x -1");
    reset();

    printf(" b3: an r-- VMA that got the exec-only key... can it? (mprotect --x then pkey_mprotect r-- -1)\n");
    SHOWV("mmap --x", map_anon(0, 2 * PG, PROT_EXEC));
    SHOW("pkey_mprotect r-- -1", pkey_mprotect_(0, 2 * PG, PROT_READ, -1));
    smaps("after");
    SHOW("mprotect --x first page", mprotect(A(0), PG, PROT_EXEC));
    SHOW("mprotect r-- -> rw- second page", mprotect(A(PG), PG, PROT_READ | PROT_WRITE));
    smaps("after");
}

static void q_c(void)
{
    printf(" c1: adjacent anonymous VMAs, equal flags, different keys\n");
    long k = SHOWV("k = pkey_alloc(0,0)", pkey_alloc_(0, 0));
    SHOWV("mmap rw- 4 pages", map_anon(0, 4 * PG, PROT_READ | PROT_WRITE));
    SHOW("pkey_mprotect first 2 pages k", pkey_mprotect_(0, 2 * PG, PROT_READ | PROT_WRITE, k));
    smaps("after");
    SHOWV("mmap rw- 2 pages right after (fresh, key 0)", map_anon(4 * PG, 2 * PG, PROT_READ | PROT_WRITE));
    smaps("after the mmap next to the key-0 VMA");
    SHOW("pkey_mprotect pages 2-3 k", pkey_mprotect_(2 * PG, 2 * PG, PROT_READ | PROT_WRITE, k));
    smaps("after giving pages 2-3 key k too");
    SHOW("pkey_mprotect pages 4-5 0", pkey_mprotect_(4 * PG, 2 * PG, PROT_READ | PROT_WRITE, 0));
    smaps("after pkey_mprotect of the key-0 VMA with key 0");
    SHOW("pkey_mprotect pages 4-5 k", pkey_mprotect_(4 * PG, 2 * PG, PROT_READ | PROT_WRITE, k));
    smaps("after pkey_mprotect of the key-0 VMA with key k");
    reset();

    printf(" c2: split of a keyed VMA by mprotect of its middle\n");
    SHOWV("mmap rw- 3 pages", map_anon(0, 3 * PG, PROT_READ | PROT_WRITE));
    SHOW("pkey_mprotect all k", pkey_mprotect_(0, 3 * PG, PROT_READ | PROT_WRITE, k));
    SHOW("mprotect middle r--", mprotect(A(PG), PG, PROT_READ));
    smaps("after");
    SHOW("mprotect middle rw- again", mprotect(A(PG), PG, PROT_READ | PROT_WRITE));
    smaps("after (merged back?)");
    SHOW("mprotect middle --x", mprotect(A(PG), PG, PROT_EXEC));
    smaps("after mprotect middle --x");
    reset();

    printf(" c3: mprotect r-- over two VMAs with keys k and 0\n");
    SHOWV("mmap rw- 4 pages", map_anon(0, 4 * PG, PROT_READ | PROT_WRITE));
    SHOW("pkey_mprotect first 2 pages k", pkey_mprotect_(0, 2 * PG, PROT_READ | PROT_WRITE, k));
    SHOW("mprotect all 4 r--", mprotect(A(0), 4 * PG, PROT_READ));
    smaps("after");
    SHOW("mprotect all 4 --x", mprotect(A(0), 4 * PG, PROT_EXEC));
    smaps("after mprotect --x of both");
    SHOW("mprotect all 4 r--", mprotect(A(0), 4 * PG, PROT_READ));
    smaps("after mprotect r-- of both");
    reset();

    printf(" c4: keyed VMA and munmap of its middle; mremap grow in place next to a different key\n");
    SHOWV("mmap rw- 3 pages", map_anon(0, 3 * PG, PROT_READ | PROT_WRITE));
    SHOW("pkey_mprotect all k", pkey_mprotect_(0, 3 * PG, PROT_READ | PROT_WRITE, k));
    SHOW("munmap middle", munmap(A(PG), PG));
    smaps("after");
    void *r = mremap(A(0), PG, 2 * PG, 0);
    printf("  mremap grow first piece in place: %s\n", r == MAP_FAILED ? ename(errno) : "ok");
    smaps("after (grown part key?)");
}

static void q_d(void)
{
    printf(" d1: mlock of a --x VMA\n");
    SHOWV("mmap --x 4 pages", map_anon(0, 4 * PG, PROT_EXEC));
    SHOW("mlock", mlock(A(0), 4 * PG));
    smaps("after mlock");
    SHOW("munlock", munlock(A(0), 4 * PG));
    SHOW("mlock2 onfault", syscall(SYS_mlock2, BASE, 4 * PG, 1 /* MLOCK_ONFAULT */));
    smaps("after mlock2 onfault");
    reset();

    printf(" d2: mmap(PROT_EXEC, MAP_POPULATE)\n");
    SHOWV("mmap --x populate", mapx(0, 4 * PG, PROT_EXEC, ANON | MAP_POPULATE));
    smaps("after");
    reset();
    printf(" d3: mmap(PROT_EXEC, MAP_LOCKED)\n");
    SHOWV("mmap --x locked", mapx(0, 4 * PG, PROT_EXEC, ANON | MAP_LOCKED));
    smaps("after");
    reset();
    printf(" d4: mmap(r-x, MAP_POPULATE) for comparison, then mprotect --x, then mlock\n");
    SHOWV("mmap r-x populate", mapx(0, 4 * PG, PROT_READ | PROT_EXEC, ANON | MAP_POPULATE));
    smaps("after");
    SHOW("mprotect --x", mprotect(A(0), 4 * PG, PROT_EXEC));
    SHOW("mlock", mlock(A(0), 4 * PG));
    smaps("after");
    reset();
    printf(" d5: madvise populate_read / populate_write on --x\n");
    SHOWV("mmap --x", map_anon(0, 4 * PG, PROT_EXEC));
    SHOW("madvise POPULATE_READ", madvise(A(0), 4 * PG, 22));
    SHOW("madvise POPULATE_WRITE", madvise(A(0), 4 * PG, 23));
    smaps("after");
    reset();
    printf(" d6: mlock of a --x VMA between two rw- VMAs (is the error after the first?)\n");
    SHOWV("mmap rw- 2", map_anon(0, 2 * PG, PROT_READ | PROT_WRITE));
    SHOWV("mmap --x 2", map_anon(2 * PG, 2 * PG, PROT_EXEC));
    SHOWV("mmap rw- 2", map_anon(4 * PG, 2 * PG, PROT_READ | PROT_WRITE));
    SHOW("mlock all 6", mlock(A(0), 6 * PG));
    smaps("after");
    reset();
    printf(" d7: mlockall(MCL_CURRENT) with a --x VMA, and shared --x\n");
    SHOWV("mmap --x 2", map_anon(0, 2 * PG, PROT_EXEC));
    SHOWV("mmap shared --x 2", mapx(4 * PG, 2 * PG, PROT_EXEC, MAP_SHARED | MAP_ANONYMOUS));
    SHOW("mlock shared --x", mlock(A(4 * PG), 2 * PG));
    SHOW("mlockall current", mlockall(MCL_CURRENT));
    smaps("after");
    munlockall();
}

static void q_e(void)
{
    printf(" e1: pkey_free\n");
    SHOWV("mmap --x (takes the exec-only key)", map_anon(0, PG, PROT_EXEC));
    smaps("exec-only key");
    long k = SHOWV("k = pkey_alloc(0,0)", pkey_alloc_(0, 0));
    show_pkru();
    SHOW("pkey_free(exec-only key 1)", pkey_free_(1));
    SHOW("pkey_free(0)", pkey_free_(0));
    SHOW("pkey_free(-1)", pkey_free_(-1));
    SHOW("pkey_free(16)", pkey_free_(16));
    SHOW("pkey_free(15) never allocated", pkey_free_(15));
    SHOW("pkey_free(k)", pkey_free_(k));
    SHOW("pkey_free(k) again", pkey_free_(k));
    show_pkru();
    SHOWV("pkey_alloc after that", pkey_alloc_(0, 0));

    printf(" e2: pkey_mprotect\n");
    SHOWV("mmap rw- 2", map_anon(PG * 4, 2 * PG, PROT_READ | PROT_WRITE));
    SHOW("pkey_mprotect(exec-only key 1)", pkey_mprotect_(4 * PG, 2 * PG, PROT_READ, 1));
    SHOW("pkey_mprotect(--x, exec-only key 1)", pkey_mprotect_(4 * PG, 2 * PG, PROT_EXEC, 1));
    SHOW("pkey_mprotect(key 0)", pkey_mprotect_(4 * PG, 2 * PG, PROT_READ, 0));
    smaps("after key 0");
    SHOW("pkey_mprotect(key 14 unallocated)", pkey_mprotect_(4 * PG, 2 * PG, PROT_READ, 14));
    SHOW("pkey_mprotect(key 16)", pkey_mprotect_(4 * PG, 2 * PG, PROT_READ, 16));
    SHOW("pkey_mprotect(key -2)", pkey_mprotect_(4 * PG, 2 * PG, PROT_READ, -2));
    SHOW("pkey_mprotect(key -1, rw-)", pkey_mprotect_(4 * PG, 2 * PG, PROT_READ | PROT_WRITE, -1));
    SHOW("pkey_mprotect(key -1, --x)", pkey_mprotect_(4 * PG, 2 * PG, PROT_EXEC, -1));
    smaps("after -1 --x");
    SHOW("pkey_mprotect(key 14, len 0)", pkey_mprotect_(4 * PG, 0, PROT_READ, 14));
    SHOW("pkey_mprotect(key 16, len 0)", pkey_mprotect_(4 * PG, 0, PROT_READ, 16));
    SHOW("pkey_mprotect(key 14, start+1)", pkey_mprotect_(4 * PG + 1, PG, PROT_READ, 14));
    SHOW("pkey_mprotect(key 14, start+1, len 0)", pkey_mprotect_(4 * PG + 1, 0, PROT_READ, 14));
    SHOW("pkey_mprotect(key 14, unmapped range)", pkey_mprotect_(100 * PG, PG, PROT_READ, 14));
    SHOW("pkey_mprotect(key 0, unmapped range)", pkey_mprotect_(100 * PG, PG, PROT_READ, 0));
    SHOW("pkey_mprotect(key 14, len overflow)", syscall(SYS_pkey_mprotect, BASE, -PG, PROT_READ, 14));
    SHOW("pkey_mprotect(key 14, bad prot 0x10)", pkey_mprotect_(4 * PG, PG, 0x10, 14));
    SHOW("pkey_mprotect(key 0, bad prot 0x10)", pkey_mprotect_(4 * PG, PG, 0x10, 0));
    SHOW("pkey_mprotect(key 14, PROT_GROWSDOWN on non-growsdown)", pkey_mprotect_(4 * PG, PG, PROT_READ | PROT_GROWSDOWN, 14));
    SHOW("pkey_mprotect(key 0, PROT_GROWSDOWN on non-growsdown)", pkey_mprotect_(4 * PG, PG, PROT_READ | PROT_GROWSDOWN, 0));
    reset();

    printf(" e3: free the exec-only key, re-allocate it as a user key, then mmap --x again\n");
    SHOWV("mmap --x", map_anon(0, PG, PROT_EXEC));
    SHOW("pkey_free(1)", pkey_free_(1));
    long k2 = SHOWV("pkey_alloc(0,0)", pkey_alloc_(0, 0));
    show_pkru();
    SHOWV("mmap rw-", map_anon(4 * PG, PG, PROT_READ | PROT_WRITE));
    SHOW("pkey_mprotect rw- with that key", pkey_mprotect_(4 * PG, PG, PROT_READ | PROT_WRITE, k2));
    touch("rw- key", 4 * PG, 'w');
    SHOWV("mmap --x again", map_anon(8 * PG, PG, PROT_EXEC));
    show_pkru();
    smaps("after");
    touch("rw- key", 4 * PG, 'r');
}

static void q_f(void)
{
    static const struct { const char *name; unsigned rights; } rs[] = {
        {"PKEY_DISABLE_ACCESS", PKEY_DISABLE_ACCESS},
        {"PKEY_DISABLE_WRITE", PKEY_DISABLE_WRITE},
        {"0", 0},
        {"PKEY_DISABLE_ACCESS|PKEY_DISABLE_WRITE", 3},
    };
    for (unsigned i = 0; i < sizeof rs / sizeof rs[0]; i++) {
        printf(" f%u: key with rights %s on rw- private; page 0 faulted in before, pages 1 (read first) and 2 (write first) never\n", i + 1, rs[i].name);
        long k = SHOWV("k = pkey_alloc", pkey_alloc_(0, rs[i].rights));
        show_pkru();
        SHOWV("mmap rw- 4 pages", map_anon(0, 4 * PG, PROT_READ | PROT_WRITE));
        touch("before key", 0, 'w');
        SHOW("pkey_mprotect rw- k", pkey_mprotect_(0, 4 * PG, PROT_READ | PROT_WRITE, k));
        touch("present page", 0, 'r');
        touch("present page", 0, 'w');
        touch("never-faulted page", PG, 'r');
        touch("never-faulted page", PG, 'w');
        touch("never-faulted page", 2 * PG, 'w');
        touch("never-faulted page", 2 * PG, 'r');
        smaps("after");
        show_pkru();
        reset();
        pkey_free_(k);
    }
    printf(" f5: same on shared-anon with PKEY_DISABLE_WRITE\n");
    long k = SHOWV("k = pkey_alloc", pkey_alloc_(0, PKEY_DISABLE_WRITE));
    SHOWV("mmap rw- shared 4 pages", mapx(0, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS));
    touch("before key", 0, 'w');
    SHOW("pkey_mprotect rw- k", pkey_mprotect_(0, 4 * PG, PROT_READ | PROT_WRITE, k));
    touch("present page", 0, 'r');
    touch("present page", 0, 'w');
    touch("never-faulted page", PG, 'r');
    touch("never-faulted page", PG, 'w');
    touch("never-faulted page", 2 * PG, 'w');
    smaps("after");
    reset();
    printf(" f6: read-only (r--) VMA with a PKEY_DISABLE_ACCESS key: write gives which si_code?\n");
    long k2 = SHOWV("k = pkey_alloc", pkey_alloc_(0, PKEY_DISABLE_ACCESS));
    SHOWV("mmap r--", map_anon(0, PG, PROT_READ));
    SHOW("pkey_mprotect r-- k", pkey_mprotect_(0, PG, PROT_READ, k2));
    touch("r-- noaccess", 0, 'w');
    touch("r-- noaccess", 0, 'r');
}

static void q_g(void)
{
    struct { const char *name; unsigned rights; int flags; } cs[] = {
        {"private, PKEY_DISABLE_ACCESS", PKEY_DISABLE_ACCESS, ANON},
        {"private, PKEY_DISABLE_WRITE", PKEY_DISABLE_WRITE, ANON},
        {"shared-anon, PKEY_DISABLE_WRITE", PKEY_DISABLE_WRITE, MAP_SHARED | MAP_ANONYMOUS},
        {"shared-anon, PKEY_DISABLE_ACCESS", PKEY_DISABLE_ACCESS, MAP_SHARED | MAP_ANONYMOUS},
        {"private, rights 0", 0, ANON},
    };
    for (unsigned i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        printf(" g%u: mlock of rw- %s\n", i + 1, cs[i].name);
        long k = SHOWV("k = pkey_alloc", pkey_alloc_(0, cs[i].rights));
        SHOWV("mmap rw- 4 pages", mapx(0, 4 * PG, PROT_READ | PROT_WRITE, cs[i].flags));
        SHOW("pkey_mprotect rw- k", pkey_mprotect_(0, 4 * PG, PROT_READ | PROT_WRITE, k));
        SHOW("mlock", mlock(A(0), 4 * PG));
        smaps("after mlock");
        SHOW("munlock", munlock(A(0), 4 * PG));
        SHOW("madvise POPULATE_READ", madvise(A(0), 4 * PG, 22));
        SHOW("madvise POPULATE_WRITE", madvise(A(0), 4 * PG, 23));
        smaps("after populate_read/write");
        reset();
        printf(" g%u': the same key, mmap MAP_POPULATE then MAP_LOCKED can't carry a key; mprotect r-- then mlock\n", i + 1);
        SHOWV("mmap rw- 4 pages", mapx(0, 4 * PG, PROT_READ | PROT_WRITE, cs[i].flags));
        SHOW("pkey_mprotect r-- k", pkey_mprotect_(0, 4 * PG, PROT_READ, k));
        SHOW("mlock", mlock(A(0), 4 * PG));
        smaps("after mlock of r-- k");
        reset();
        pkey_free_(k);
    }
}

static void q_h(void)
{
    printf(" h1: pkey_alloc until it fails (fresh process)\n");
    printf("  got:");
    long r;
    while ((r = pkey_alloc_(0, 0)) >= 0)
        printf(" %ld", r);
    printf(" then err %s\n", ename(errno));
    show_pkru();
    SHOWV("mmap --x when all keys are taken", map_anon(0, PG, PROT_EXEC));
    smaps("after");
    touch("--x", 0, 'r');
}
static void q_h2(void)
{
    printf(" h2: mmap --x first (exec-only key), then pkey_alloc until it fails\n");
    SHOWV("mmap --x", map_anon(0, PG, PROT_EXEC));
    printf("  got:");
    long r;
    while ((r = pkey_alloc_(0, 0)) >= 0)
        printf(" %ld", r);
    printf(" then err %s\n", ename(errno));
    printf(" h3: flags and rights\n");
    SHOWV("pkey_alloc(1, 0)", pkey_alloc_(1, 0));
    SHOWV("pkey_alloc(0, 4)", pkey_alloc_(0, 4));
    SHOWV("pkey_alloc(0, 3)", pkey_alloc_(0, 3));
    SHOWV("pkey_alloc(0, -1)", pkey_alloc_(0, -1));
    SHOWV("pkey_alloc(1, 4)", pkey_alloc_(1, 4));
    printf(" h4: reuse\n");
    SHOW("pkey_free(5)", pkey_free_(5));
    SHOW("pkey_free(3)", pkey_free_(3));
    SHOW("pkey_free(9)", pkey_free_(9));
    SHOWV("pkey_alloc", pkey_alloc_(0, 0));
    SHOWV("pkey_alloc", pkey_alloc_(0, 0));
    SHOWV("pkey_alloc", pkey_alloc_(0, 0));
    SHOWV("pkey_alloc", pkey_alloc_(0, 0));
}
static void q_h5(void)
{
    printf(" h5: fresh, pkey_alloc(0,4) and pkey_alloc(1,0) first: do they consume a key?\n");
    SHOWV("pkey_alloc(0, 4)", pkey_alloc_(0, 4));
    SHOWV("pkey_alloc(1, 0)", pkey_alloc_(1, 0));
    SHOWV("pkey_alloc(0, 0)", pkey_alloc_(0, 0));
}

static void q_i(void)
{
    printf(" i1: pkey_free of a key still in use\n");
    long k = SHOWV("k = pkey_alloc(0, PKEY_DISABLE_WRITE)", pkey_alloc_(0, PKEY_DISABLE_WRITE));
    SHOWV("mmap rw- 2", map_anon(0, 2 * PG, PROT_READ | PROT_WRITE));
    SHOW("pkey_mprotect rw- k", pkey_mprotect_(0, 2 * PG, PROT_READ | PROT_WRITE, k));
    SHOW("pkey_free(k)", pkey_free_(k));
    smaps("after pkey_free");
    show_pkru();
    touch("freed key", 0, 'w');
    SHOW("pkey_mprotect rw- k", pkey_mprotect_(0, 2 * PG, PROT_READ | PROT_WRITE, k));
    SHOW("mprotect r-- first page", mprotect(A(0), PG, PROT_READ));
    smaps("after mprotect r-- of the first page");
    long k2 = SHOWV("pkey_alloc(0,0) again", pkey_alloc_(0, 0));
    show_pkru();
    touch("re-allocated key", PG, 'w');
    smaps("after");
    (void)k2;
}

static void q_j(void)
{
    printf(" j1: (meant for a machine without PKU; runs everywhere) fresh process\n");
    SHOWV("pkey_alloc(0,0) #1", pkey_alloc_(0, 0));
    SHOWV("pkey_alloc(0,0) #2", pkey_alloc_(0, 0));
    SHOWV("pkey_alloc(0,PKEY_DISABLE_ACCESS)", pkey_alloc_(0, PKEY_DISABLE_ACCESS));
    SHOWV("pkey_alloc(1,0)", pkey_alloc_(1, 0));
    SHOWV("pkey_alloc(0,4)", pkey_alloc_(0, 4));
    SHOW("pkey_free(0)", pkey_free_(0));
    SHOW("pkey_free(1)", pkey_free_(1));
    SHOW("pkey_free(-1)", pkey_free_(-1));
    SHOWV("mmap rw- 2", map_anon(0, 2 * PG, PROT_READ | PROT_WRITE));
    SHOW("pkey_mprotect key 0", pkey_mprotect_(0, 2 * PG, PROT_READ, 0));
    SHOW("pkey_mprotect key 1", pkey_mprotect_(0, 2 * PG, PROT_READ, 1));
    SHOW("pkey_mprotect key 15", pkey_mprotect_(0, 2 * PG, PROT_READ, 15));
    SHOW("pkey_mprotect key 16", pkey_mprotect_(0, 2 * PG, PROT_READ, 16));
    SHOW("pkey_mprotect key -1", pkey_mprotect_(0, 2 * PG, PROT_READ | PROT_WRITE, -1));
    SHOW("pkey_mprotect key 1, len 0", pkey_mprotect_(0, 0, PROT_READ, 1));
    SHOWV("mmap --x 2", map_anon(4 * PG, 2 * PG, PROT_EXEC));
    smaps("after");
    touch("--x", 4 * PG, 'r');
    smaps("after touch");
}


static void sub(const char *what, void (*fn)(void))
{
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        fn();
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    if (WIFSIGNALED(st))
        printf("  (%s: the process was killed by signal %d)\n", what, WTERMSIG(st));
}
static void j2a(void)
{
    SHOW("pkey_free(0)", pkey_free_(0));
    show_pkru();
    SHOWV("pkey_alloc(0,0)", pkey_alloc_(0, 0));
    show_pkru();
    SHOWV("pkey_alloc(0,0)", pkey_alloc_(0, 0));
    SHOWV("mmap rw-", map_anon(0, PG, PROT_READ | PROT_WRITE));
    SHOW("pkey_mprotect key 0", pkey_mprotect_(0, PG, PROT_READ | PROT_WRITE, 0));
    SHOWV("mmap --x", map_anon(4 * PG, PG, PROT_EXEC));
    smaps("after");
}
static void j2b(void)
{
    SHOW("pkey_free(0)", pkey_free_(0));
    printf("  now mmap --x (the exec-only key would be 0) ...\n");
    fflush(stdout);
    long r = map_anon(4 * PG, PG, PROT_EXEC);
    printf("  mmap --x: %ld\n", r);
    show_pkru();
    smaps("after");
}
static void j2c(void)
{
    SHOW("pkey_free(0)", pkey_free_(0));
    SHOWV("pkey_alloc(0, PKEY_DISABLE_WRITE)", pkey_alloc_(0, PKEY_DISABLE_WRITE));
    printf("  (survived)\n");
    show_pkru();
}
static void q_j2(void)
{
    printf(" j2a: pkey_free(0) then pkey_alloc\n");
    sub("j2a", j2a);
    printf(" j2b: pkey_free(0) then mmap --x\n");
    sub("j2b", j2b);
    printf(" j2c: pkey_free(0) then pkey_alloc(0, PKEY_DISABLE_WRITE)\n");
    sub("j2c", j2c);
}

static void q_k(void)
{
    printf(" k1: mremap of an exec-only VMA\n");
    SHOWV("mmap --x 2", map_anon(0, 2 * PG, PROT_EXEC));
    void *r = mremap(A(0), 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, A(16 * PG));
    printf("  mremap fixed to 0x%lx: %s\n", 16 * PG, r == MAP_FAILED ? ename(errno) : "ok");
    smaps("after");
    r = mremap(A(16 * PG), 2 * PG, 4 * PG, 0);
    printf("  mremap grow in place to 4 pages: %s\n", r == MAP_FAILED ? ename(errno) : "ok");
    smaps("after grow");
    reset();
    printf(" k1b: mremap of a keyed rw- VMA\n");
    long k = SHOWV("k = pkey_alloc", pkey_alloc_(0, 0));
    SHOWV("mmap rw- 2", map_anon(0, 2 * PG, PROT_READ | PROT_WRITE));
    SHOW("pkey_mprotect k", pkey_mprotect_(0, 2 * PG, PROT_READ | PROT_WRITE, k));
    touch("", 0, 'w');
    r = mremap(A(0), 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, A(16 * PG));
    printf("  mremap fixed to 0x%lx: %s\n", 16 * PG, r == MAP_FAILED ? ename(errno) : "ok");
    smaps("after");
    reset();
    printf(" k2: --x VMA next to r-x VMA, then mprotect r-x -> --x\n");
    SHOWV("mmap --x 2 at 0", map_anon(0, 2 * PG, PROT_EXEC));
    SHOWV("mmap r-x 2 at 2 pages", map_anon(2 * PG, 2 * PG, PROT_READ | PROT_EXEC));
    smaps("before");
    SHOW("mprotect the r-x one --x", mprotect(A(2 * PG), 2 * PG, PROT_EXEC));
    smaps("after");
    SHOWV("mmap --x 2 at 4 pages (fresh mmap next to --x)", map_anon(4 * PG, 2 * PG, PROT_EXEC));
    smaps("after");
}

static void q_l(void)
{
    int fd = memfd_create("pkeyfacts", 0);
    if (fd < 0 || ftruncate(fd, 1 << 20)) {
        perror("memfd");
        return;
    }
    printf(" l1: MAP_SHARED memfd with PROT_EXEC only\n");
    void *p = mmap(A(0), 2 * PG, PROT_EXEC, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
    printf("  mmap shared-file --x: %s\n", p == MAP_FAILED ? ename(errno) : "ok");
    p = mmap(A(4 * PG), 2 * PG, PROT_EXEC, MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, 0);
    printf("  mmap private-file --x: %s\n", p == MAP_FAILED ? ename(errno) : "ok");
    p = mmap(A(8 * PG), 2 * PG, PROT_EXEC | PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    printf("  mmap anon r-x: %s\n", p == MAP_FAILED ? ename(errno) : "ok");
    p = mmap(A(12 * PG), 2 * PG, PROT_EXEC, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    printf("  mmap shared-anon --x: %s\n", p == MAP_FAILED ? ename(errno) : "ok");
    p = mmap(A(16 * PG), 2 * PG, PROT_EXEC | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    printf("  mmap anon -wx: %s\n", p == MAP_FAILED ? ename(errno) : "ok");
    smaps("after");
    touch("shared-file --x", 0, 'r');
    touch("private-file --x", 4 * PG, 'r');
    touch("-wx", 16 * PG, 'r');
    touch("-wx", 16 * PG, 'w');
    smaps("after touches");
}

static void q_m(void)
{
    printf(" m1: exec-only key and fork: does the child's mmap --x get the same key; PKRU in the child\n");
    SHOWV("mmap --x", map_anon(0, PG, PROT_EXEC));
    show_pkru();
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        show_pkru();
        SHOWV("child mmap --x", map_anon(4 * PG, PG, PROT_EXEC));
        SHOWV("child pkey_alloc", pkey_alloc_(0, 0));
        smaps("child");
        touch("child --x", 0, 'r');
        fflush(stdout);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    printf(" m2: a kernel read of --x memory (write(2) from it)\n");
    int fd = memfd_create("sink", 0);
    SHOW("write(memfd, --x page, 16)", write(fd, A(0), 16));
    SHOW("write(memfd, r-x page, 16)", (map_anon(8 * PG, PG, PROT_READ | PROT_EXEC), write(fd, A(8 * PG), 16)));
}

/* ---- driver ------------------------------------------------------------- */
static const struct { const char *name; void (*fn)(void); } sections[] = {
    {"a", q_a}, {"a2", q_a2}, {"b", q_b}, {"c", q_c}, {"d", q_d}, {"e", q_e},
    {"f", q_f}, {"g", q_g}, {"h", q_h}, {"h2", q_h2}, {"h5", q_h5}, {"i", q_i},
    {"j", q_j}, {"j2", q_j2}, {"k", q_k}, {"l", q_l}, {"m", q_m},
};

int main(int argc, char **argv)
{
    unsigned a, b, c, d;
    struct utsname u;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d))
        has_ospke = (c >> 4) & 1;
    uname(&u);
    printf("kernel %s %s; cpuid OSPKE %d\n", u.release, u.version, has_ospke);
    struct sigaction sa = {0};
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    /* The window must be free. */
    if (mmap(A(0), WIN, PROT_NONE, ANON | MAP_FIXED_NOREPLACE | MAP_NORESERVE, -1, 0) == MAP_FAILED) {
        printf("window not free: %s\n", ename(errno));
        return 1;
    }
    munmap(A(0), WIN);
    for (unsigned i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        int want = argc < 2;
        for (int j = 1; j < argc; j++)
            want |= !strcmp(argv[j], sections[i].name);
        if (!want)
            continue;
        printf("== %s\n", sections[i].name);
        fflush(stdout);
        pid_t p = fork();
        if (p == 0) {
            sections[i].fn();
            fflush(stdout);
            _exit(0);
        }
        int st;
        waitpid(p, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st))
            printf("  !! section %s ended with status 0x%x\n", sections[i].name, st);
    }
    return 0;
}
