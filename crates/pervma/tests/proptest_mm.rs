//! A state machine: random mmap/munmap sequences on `Mm` and on a naive
//! model (a sorted `Vec` of ranges), compared after every step: results,
//! errno, the VMA list, lookups, `find_vma`, `find_vma_prev`, and the
//! addresses hinted mappings get (which exercises the gap search).

use pervma::{Errno, MapFlags, Mm, MmConfig, Prot};
use proptest::prelude::*;

const P: u64 = 4096;
const TASK: u64 = 1 << 30;
const MIN: u64 = 0x10000;
const BASE: u64 = 1 << 29;
const HUGE: u64 = 2 << 20;

#[derive(Clone, Debug)]
enum Op {
    Fixed { page: u64, pages: u64, id: u32 },
    NoReplace { page: u64, pages: u64, id: u32 },
    Hint { page: u64, pages: u64, id: u32 },
    Munmap { page: u64, pages: u64 },
}

/// The window the ops address: near mmap_base so hinted and fixed
/// mappings interact, plus the low end.
fn addr_of(page: u64) -> u64 {
    if page < 64 {
        page * P // includes addresses below mmap_min_addr
    } else {
        BASE - 2048 * P + (page - 64) * P
    }
}

fn op() -> impl Strategy<Value = Op> {
    let page = 0u64..2200;
    let pages = prop_oneof![1u64..8, 8u64..64, Just(512u64), Just(1024u64)];
    prop_oneof![
        3 => (page.clone(), pages.clone(), any::<u32>()).prop_map(|(page, pages, id)| Op::Fixed { page, pages, id }),
        1 => (page.clone(), pages.clone(), any::<u32>()).prop_map(|(page, pages, id)| Op::NoReplace { page, pages, id }),
        2 => (page.clone(), pages.clone(), any::<u32>()).prop_map(|(page, pages, id)| Op::Hint { page, pages, id }),
        3 => (page, pages).prop_map(|(page, pages)| Op::Munmap { page, pages }),
    ]
}

/// (start, end, payload, pgoff), sorted and non-overlapping.
#[derive(Default, Clone)]
struct Model(Vec<(u64, u64, u32, u64)>);

impl Model {
    fn unmap(&mut self, s: u64, e: u64) {
        let mut out = Vec::new();
        for &(vs, ve, id, pg) in &self.0 {
            if ve <= s || e <= vs {
                out.push((vs, ve, id, pg));
                continue;
            }
            if vs < s {
                out.push((vs, s, id, pg));
            }
            if e < ve {
                out.push((e, ve, id, pg + (e - vs) / P));
            }
        }
        self.0 = out;
    }

    fn map(&mut self, s: u64, e: u64, id: u32) {
        self.unmap(s, e);
        self.0.push((s, e, id, s / P));
        self.0.sort();
    }

    fn overlaps(&self, s: u64, e: u64) -> bool {
        self.0.iter().any(|&(vs, ve, ..)| vs < e && s < ve)
    }

    fn free(&self, a: u64, len: u64) -> bool {
        (TASK - P) - len >= a && !self.overlaps(a, a + len)
    }

    /// The highest (or lowest) aligned free start in [low, high).
    fn search(&self, low: u64, high: u64, len: u64, align: u64, top_down: bool) -> Option<u64> {
        let mut bounds = vec![0];
        for &(vs, ve, ..) in &self.0 {
            bounds.push(vs);
            bounds.push(ve);
        }
        bounds.push(TASK + P);
        let mut best: Option<u64> = None;
        for gap in bounds.chunks(2) {
            let (gs, ge) = (gap[0].max(low), gap[1].min(high));
            if ge < gs || ge - gs < len {
                continue;
            }
            let cand = if top_down {
                (ge - len) & !(align - 1)
            } else {
                (gs + align - 1) & !(align - 1)
            };
            if cand < gs || cand + len > ge {
                continue;
            }
            best = Some(match best {
                None => cand,
                Some(b) if top_down => b.max(cand),
                Some(b) => b.min(cand),
            });
        }
        best
    }

    fn mmap(&mut self, op: &Op, count_limit: usize) -> Result<u64, Errno> {
        let (page, pages, id, kind) = match *op {
            Op::Fixed { page, pages, id } => (page, pages, id, 0),
            Op::NoReplace { page, pages, id } => (page, pages, id, 1),
            Op::Hint { page, pages, id } => (page, pages, id, 2),
            Op::Munmap { .. } => unreachable!(),
        };
        let (addr, len) = (addr_of(page), pages * P);
        if self.0.len() > count_limit {
            return Err(Errno::ENOMEM);
        }
        let addr = if kind == 2 {
            let hint = if addr != 0 && addr < MIN { MIN } else { addr };
            if hint != 0 && self.free(hint, len) {
                hint
            } else {
                let align = if len % HUGE == 0 && hint == 0 {
                    HUGE
                } else {
                    P
                };
                let low = MIN.max(P);
                self.search(low, BASE, len, align, true)
                    .or_else(|| {
                        self.search(((TASK - P) / 3) & !(P - 1), TASK - P, len, align, false)
                    })
                    .ok_or(Errno::ENOMEM)?
            }
        } else {
            addr
        };
        if addr > (TASK - P) - len {
            return Err(Errno::ENOMEM);
        }
        if addr < MIN {
            return Err(Errno::EPERM);
        }
        if kind == 1 && self.overlaps(addr, addr + len) {
            return Err(Errno::EEXIST);
        }
        self.map(addr, addr + len, id);
        Ok(addr)
    }
}

fn snapshot(mm: &Mm<u32>) -> Vec<(u64, u64, u32, u64)> {
    let g = mm.mmap_read_lock();
    g.vmas()
        .map(|v| (v.start(), v.end(), *v.payload(), v.pgoff()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    #[test]
    fn mm_matches_naive_model(ops in proptest::collection::vec(op(), 1..80), probes in proptest::collection::vec(0u64..2300, 16)) {
        let config = MmConfig::new(TASK - P, MIN, BASE, 65530);
        let mm: Mm<u32> = Mm::with_config(config);
        let mut model = Model::default();
        for op in &ops {
            let (got, want) = match op {
                Op::Munmap { page, pages } => {
                    let (s, len) = (addr_of(*page), pages * P);
                    let want = (s + len <= TASK - P).then(|| { model.unmap(s, s + len); 0 }).ok_or(Errno::EINVAL);
                    (mm.munmap(s, len).map(|_| 0), want)
                }
                Op::Fixed { page, pages, id } => {
                    let r = mm.mmap(addr_of(*page), pages * P, Prot::READ, MapFlags::PRIVATE | MapFlags::FIXED, None, *id);
                    (r.map_err(|e| e.errno), model.mmap(op, 65530))
                }
                Op::NoReplace { page, pages, id } => {
                    let r = mm.mmap(addr_of(*page), pages * P, Prot::READ, MapFlags::PRIVATE | MapFlags::FIXED_NOREPLACE, None, *id);
                    (r.map_err(|e| e.errno), model.mmap(op, 65530))
                }
                Op::Hint { page, pages, id } => {
                    let r = mm.mmap(addr_of(*page), pages * P, Prot::READ, MapFlags::PRIVATE, None, *id);
                    (r.map_err(|e| e.errno), model.mmap(op, 65530))
                }
            };
            prop_assert_eq!(got, want, "{:?}", op);
            prop_assert_eq!(snapshot(&mm), model.0.clone(), "after {:?}", op);
            prop_assert_eq!(mm.map_count(), model.0.len());
        }
        let g = mm.mmap_read_lock();
        for &p in &probes {
            let a = addr_of(p) + 123;
            let covering = model.0.iter().find(|v| v.0 <= a && a < v.1).map(|v| v.0);
            let next = model.0.iter().find(|v| v.1 > a).map(|v| v.0);
            let prev = model.0.iter().rev().find(|v| v.1 <= a).map(|v| v.0);
            prop_assert_eq!(g.vma_lookup(a).map(|v| v.start()), covering);
            prop_assert_eq!(g.find_vma(a).map(|v| v.start()), next);
            prop_assert_eq!(g.find_vma_prev(a).map(|v| v.start()), prev);
        }
        drop(g);
        for &p in &probes {
            let a = addr_of(p);
            let covering = model.0.iter().find(|v| v.0 <= a && a < v.1).map(|v| (v.0, v.2));
            prop_assert_eq!(mm.lock_vma(a).map(|v| (v.start(), *v.payload())), covering);
        }
    }
}
