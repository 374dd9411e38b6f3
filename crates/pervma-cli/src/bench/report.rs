//! Tables of figures: one per workload, rows grouped by their parameters,
//! each row's cost as a ratio to the first row of its group.

use super::measure::Summary;
use std::fmt::Write as _;

/// One strategy's figure in one configuration.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub(crate) strategy: String,
    /// The configuration, e.g. `[("vmas", "1000"), ("threads", "2")]`;
    /// rows with equal groups are compared with each other.
    pub(crate) group: Vec<(&'static str, String)>,
    pub(crate) summary: Summary,
    /// This row's median cost over the median cost of its group's first
    /// row.
    pub(crate) ratio: f64,
    /// Workload-specific figures (latency percentiles, kept throughput).
    pub(crate) extra: Vec<(&'static str, f64)>,
}

/// The figures of one workload.
#[derive(Clone, Debug)]
pub(crate) struct Table {
    pub(crate) workload: &'static str,
    pub(crate) title: String,
    /// What one operation is ("op", "line", "fault").
    pub(crate) unit: &'static str,
    pub(crate) rows: Vec<Row>,
}

/// Builds a row group from `name = value` pairs.
macro_rules! group {
    ($($k:ident = $v:expr),* $(,)?) => {
        vec![$((stringify!($k), $v.to_string())),*]
    };
}
pub(crate) use group;

impl Table {
    pub(crate) fn new(
        workload: &'static str,
        title: impl Into<String>,
        unit: &'static str,
    ) -> Self {
        Table {
            workload,
            title: title.into(),
            unit,
            rows: Vec::new(),
        }
    }

    /// Adds a row; its ratio is relative to the first row of its group.
    pub(crate) fn push(
        &mut self,
        strategy: &str,
        group: Vec<(&'static str, String)>,
        summary: Summary,
        extra: Vec<(&'static str, f64)>,
    ) {
        let first = self
            .rows
            .iter()
            .find(|r| r.group == group)
            .map_or(summary.ns.median, |r| r.summary.ns.median);
        self.rows.push(Row {
            strategy: strategy.to_string(),
            group,
            ratio: summary.ns.median / first,
            summary,
            extra,
        });
    }

    /// The row of `strategy` whose group has every `name = value` of
    /// `group`.
    pub(crate) fn find(&self, strategy: &str, group: &[(&str, &str)]) -> Option<&Row> {
        self.rows.iter().find(|r| {
            r.strategy == strategy
                && group
                    .iter()
                    .all(|(k, v)| r.group.iter().any(|(rk, rv)| rk == k && rv == v))
        })
    }

    /// The table as text, groups separated by blank lines.
    pub(crate) fn render(&self) -> String {
        let mut extras: Vec<&'static str> = Vec::new();
        for r in &self.rows {
            for (k, _) in &r.extra {
                if !extras.contains(k) {
                    extras.push(k);
                }
            }
        }
        let mut header: Vec<String> = Vec::new();
        if let Some(r) = self.rows.first() {
            header.extend(r.group.iter().map(|(k, _)| k.to_string()));
        }
        header.push("strategy".into());
        header.push("ops/s".into());
        header.push(format!("ns/{}", self.unit));
        header.extend(["min", "max", "ratio", "cpu%"].map(String::from));
        header.extend(extras.iter().map(|e| e.to_string()));

        let mut lines: Vec<Option<Vec<String>>> = Vec::new();
        let mut last_group = None;
        for r in &self.rows {
            if last_group.is_some() && last_group != Some(&r.group) {
                lines.push(None);
            }
            last_group = Some(&r.group);
            let mut cells: Vec<String> = r.group.iter().map(|(_, v)| v.clone()).collect();
            cells.push(r.strategy.clone());
            cells.push(si(r.summary.ops_per_sec));
            cells.push(ns(r.summary.ns.median));
            cells.push(ns(r.summary.ns.min));
            cells.push(ns(r.summary.ns.max));
            cells.push(format!("{:.2}x", r.ratio));
            cells.push(
                r.summary
                    .on_cpu
                    .map_or("-".into(), |c| format!("{:.0}", c * 100.0)),
            );
            for e in &extras {
                cells.push(match r.extra.iter().find(|(k, _)| k == e) {
                    Some((k, v)) => extra(k, *v),
                    None => String::new(),
                });
            }
            lines.push(Some(cells));
        }
        let mut widths: Vec<usize> = header.iter().map(String::len).collect();
        for cells in lines.iter().flatten() {
            for (w, c) in widths.iter_mut().zip(cells) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        let _ = writeln!(out, "== {}: {}", self.workload, self.title);
        let first_number = header.len() - extras.len() - 6;
        let fmt_line = |out: &mut String, cells: &[String]| {
            for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
                if i >= first_number {
                    let _ = write!(out, "{c:>w$}  ");
                } else {
                    let _ = write!(out, "{c:<w$}  ");
                }
            }
            let trimmed = out.trim_end().len();
            out.truncate(trimmed);
            out.push('\n');
        };
        fmt_line(&mut out, &header);
        for l in &lines {
            match l {
                Some(cells) => fmt_line(&mut out, cells),
                None => out.push('\n'),
            }
        }
        out
    }
}

/// `12.3M`, `456k`.
pub(crate) fn si(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{:.2}G", v / 1e9),
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

/// Nanoseconds with a precision that suits their size.
pub(crate) fn ns(v: f64) -> String {
    if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// An extra figure: fractions as percentages, ratios with `x`, times in
/// ns.
fn extra(name: &str, v: f64) -> String {
    if name.ends_with('%') {
        format!("{v:.2}")
    } else if name.starts_with("kept") {
        format!("{v:.2}x")
    } else if name.ends_with("/s") {
        si(v)
    } else {
        ns(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_to_the_first_row_of_the_group() {
        let s = |ns: f64| Summary::from_reps(vec![ns; 5], 1, &[]);
        let mut t = Table::new("w", "test", "op");
        t.push("a", group![n = 1], s(10.0), vec![]);
        t.push("b", group![n = 1], s(15.0), vec![("kept", 0.9)]);
        t.push("b", group![n = 2], s(30.0), vec![]);
        assert_eq!(t.rows[1].ratio, 1.5);
        assert_eq!(t.rows[2].ratio, 1.0);
        assert_eq!(t.find("b", &[("n", "1")]).unwrap().summary.ns.median, 15.0);
        let text = t.render();
        assert!(text.contains("1.50x") && text.contains("0.90x"), "{text}");
    }
}
