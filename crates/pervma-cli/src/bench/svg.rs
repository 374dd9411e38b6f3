//! `--svg FILE`: the scaling chart (lookup cost per thread against thread
//! count, one panel per VMA count) and the ratio chart (every row's cost
//! relative to the first strategy of its group, on a log scale), in a
//! small hand-written SVG.

use super::report::Table;
use std::fmt::Write as _;

const COLORS: [&str; 9] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#17becf",
];

/// Escapes text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An SVG document under construction.
struct Svg {
    body: String,
}

impl Svg {
    fn text(&mut self, x: f64, y: f64, anchor: &str, size: u32, s: &str) {
        let _ = writeln!(
            self.body,
            r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" font-size="{size}">{}</text>"#,
            esc(s)
        );
    }

    fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), color: &str, width: f64) {
        let _ = writeln!(
            self.body,
            r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{color}" stroke-width="{width}"/>"#
        );
    }

    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, color: &str) {
        let _ = writeln!(
            self.body,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{color}"/>"#
        );
    }
}

/// The strategies of `tables`, in first-seen order, for a stable legend.
fn strategies(tables: &[Table]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for r in tables.iter().flat_map(|t| &t.rows) {
        if !names.contains(&r.strategy) {
            names.push(r.strategy.clone());
        }
    }
    names
}

fn value<'a>(group: &'a [(&'static str, String)], key: &str) -> Option<&'a str> {
    group
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.as_str())
}

/// Draws the scaling panels at `top`; returns the height used.
fn scaling(svg: &mut Svg, lookup: &Table, names: &[String], top: f64) -> f64 {
    let mut ns: Vec<String> = Vec::new();
    let mut threads: Vec<u64> = Vec::new();
    for r in &lookup.rows {
        let n = value(&r.group, "vmas").unwrap_or("?").to_string();
        if !ns.contains(&n) {
            ns.push(n);
        }
        let t = r.summary.threads as u64;
        if !threads.contains(&t) {
            threads.push(t);
        }
    }
    threads.sort_unstable();
    let (pw, ph, gap) = (300.0, 220.0, 60.0);
    svg.text(
        20.0,
        top + 20.0,
        "start",
        16,
        "lookup: per-thread ns/op against reader threads",
    );
    for (p, n) in ns.iter().enumerate() {
        let x0 = 70.0 + p as f64 * (pw + gap);
        let y0 = top + 50.0;
        let rows: Vec<_> = lookup
            .rows
            .iter()
            .filter(|r| value(&r.group, "vmas") == Some(n))
            .collect();
        let ymax = rows.iter().map(|r| r.summary.ns.median).fold(1.0, f64::max) * 1.1;
        let xs = |t: u64| {
            let i = threads.iter().position(|&x| x == t).unwrap_or(0) as f64;
            x0 + 20.0 + i * (pw - 40.0) / (threads.len().max(2) - 1) as f64
        };
        let ys = |v: f64| y0 + ph - v / ymax * ph;
        svg.line((x0, y0), (x0, y0 + ph), "#000", 1.0);
        svg.line((x0, y0 + ph), (x0 + pw, y0 + ph), "#000", 1.0);
        svg.text(x0 + pw / 2.0, y0 - 8.0, "middle", 13, &format!("{n} VMAs"));
        for k in 0..=4 {
            let v = ymax * k as f64 / 4.0;
            svg.text(x0 - 5.0, ys(v) + 4.0, "end", 10, &format!("{v:.0}"));
        }
        for &t in &threads {
            svg.text(xs(t), y0 + ph + 15.0, "middle", 10, &format!("{t} thr"));
        }
        for (c, name) in names.iter().enumerate() {
            let color = COLORS[c % COLORS.len()];
            let pts: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| &r.strategy == name)
                .map(|r| (xs(r.summary.threads as u64), ys(r.summary.ns.median)))
                .collect();
            for w in pts.windows(2) {
                svg.line(w[0], w[1], color, 2.0);
            }
            for (x, y) in &pts {
                let _ = writeln!(
                    svg.body,
                    r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{color}"/>"#
                );
            }
        }
    }
    for (c, name) in names.iter().enumerate() {
        let y = top + 50.0 + ph + 35.0 + (c / 4) as f64 * 16.0;
        let x = 70.0 + (c % 4) as f64 * 200.0;
        svg.rect(x, y - 9.0, 10.0, 10.0, COLORS[c % COLORS.len()]);
        svg.text(x + 14.0, y, "start", 11, name);
    }
    50.0 + ph + 35.0 + names.len().div_ceil(4) as f64 * 16.0 + 20.0
}

/// Draws the ratio bars at `top`; returns the height used.
fn ratios(svg: &mut Svg, tables: &[Table], names: &[String], top: f64) -> f64 {
    let (label_w, bar_w, bar_h) = (430.0, 420.0, 12.0);
    let x1 = 20.0 + label_w + bar_w / 2.0; // where 1.0x is
                                           // log2 scale: +-4 doublings across the half widths.
    let xr = |r: f64| x1 + r.clamp(1.0 / 16.0, 16.0).log2() / 4.0 * (bar_w / 2.0);
    svg.text(
        20.0,
        top + 20.0,
        "start",
        16,
        "cost relative to the first strategy of each group (log scale)",
    );
    let mut y = top + 40.0;
    for k in [-4i32, -2, -1, 0, 1, 2, 4] {
        let r = 2f64.powi(k);
        svg.text(xr(r), y, "middle", 10, &format!("{r}x"));
    }
    y += 8.0;
    let rows_top = y;
    for t in tables {
        for r in &t.rows {
            let group: Vec<String> = r.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let label = format!("{} {} · {}", t.workload, group.join(" "), r.strategy);
            svg.text(20.0 + label_w - 6.0, y + bar_h - 2.0, "end", 10, &label);
            let c = names.iter().position(|n| *n == r.strategy).unwrap_or(0);
            let (a, b) = (xr(1.0), xr(r.ratio));
            svg.rect(
                a.min(b),
                y + 1.0,
                (b - a).abs().max(1.0),
                bar_h - 2.0,
                COLORS[c % COLORS.len()],
            );
            svg.text(
                a.max(b) + 4.0,
                y + bar_h - 2.0,
                "start",
                9,
                &format!("{:.2}x", r.ratio),
            );
            y += bar_h;
        }
        y += 6.0;
    }
    svg.line((x1, rows_top), (x1, y), "#000", 1.0);
    y - top + 10.0
}

/// The whole chart file.
pub(crate) fn render(tables: &[Table]) -> String {
    let names = strategies(tables);
    let mut svg = Svg {
        body: String::new(),
    };
    let mut top = 10.0;
    if let Some(lookup) = tables.iter().find(|t| t.workload == "lookup") {
        top += scaling(&mut svg, lookup, &names, top);
    }
    top += ratios(&mut svg, tables, &names, top);
    let width = 1100.0;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{top:.0}\" \
         viewBox=\"0 0 {width} {top:.0}\" font-family=\"sans-serif\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{}</svg>\n",
        svg.body
    )
}
