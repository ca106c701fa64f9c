//! Terminal output helpers: aligned text tables, number formatting, progress bars that
//! show on a terminal and stay silent when output is piped.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// A plain text table: first column left-aligned, the others right-aligned.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Self { headers: headers.into_iter().map(Into::into).collect(), rows: Vec::new() }
    }

    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    pub fn render(&self) -> String {
        let n = self.headers.len();
        let mut w: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let line = |cells: &[String]| -> String {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate().take(n) {
                let pad = w[i] - c.chars().count();
                if i == 0 {
                    s.push_str(c);
                    s.push_str(&" ".repeat(pad));
                } else {
                    s.push_str("  ");
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                }
            }
            s.trim_end().to_string()
        };
        let mut out = line(&self.headers);
        out.push('\n');
        out.push_str(
            &w.iter().enumerate().map(|(i, &k)| if i == 0 { "-".repeat(k) } else { format!("  {}", "-".repeat(k)) }).collect::<String>(),
        );
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(r));
            out.push('\n');
        }
        out
    }
}

/// Write to standard output, returning errors (a closed pipe included) instead of panicking.
pub fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

pub fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.1}%", x * 100.0)).unwrap_or_else(|| "-".into())
}

pub fn minutes(secs: Option<f64>) -> String {
    secs.map(|s| format!("{:.1} min", s / 60.0)).unwrap_or_else(|| "-".into())
}

pub fn num(v: f64, decimals: usize) -> String {
    format!("{v:.decimals$}")
}

/// A byte-progress bar on stderr when it is a terminal; hidden otherwise or when `quiet`.
pub fn byte_progress(total: u64, quiet: bool) -> ProgressBar {
    progress(total, quiet, "{spinner} {msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {eta})")
}

/// A progress bar counting steps (e.g. simulated days), same visibility rules.
pub fn step_progress(total: u64, quiet: bool) -> ProgressBar {
    progress(total, quiet, "{spinner} {msg} [{bar:30}] {pos}/{len} ({eta})")
}

fn progress(total: u64, quiet: bool, template: &str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(template) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let mut t = Table::new(["store", "visits"]);
        t.row(["s1", "5"]);
        t.row(["store-22", "1234"]);
        assert_eq!(t.render(), "store     visits\n--------  ------\ns1             5\nstore-22    1234\n");
    }
}
