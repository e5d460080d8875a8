//! Result tables rendered as markdown, CSV or aligned terminal text, and mean ± std formatting.

use serde::{Deserialize, Serialize};

/// A rectangular table of already-formatted cells; one value, three renderings, so `report.md`, the CSV
/// export and the terminal summary can never disagree.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// Shown above the table in markdown and on the terminal; not part of the CSV.
    pub title: Option<String>,
    /// Column names.
    pub headers: Vec<String>,
    /// Rows shorter than `headers` are padded with empty cells; longer ones widen the table.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with the given headers and no rows.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Table {
            title: None,
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Sets the title (builder style).
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Appends a row.
    pub fn push_row<S: Into<String>>(&mut self, row: impl IntoIterator<Item = S>) {
        self.rows.push(row.into_iter().map(Into::into).collect());
    }

    fn n_cols(&self) -> usize {
        self.rows
            .iter()
            .map(Vec::len)
            .chain(std::iter::once(self.headers.len()))
            .max()
            .unwrap_or(0)
    }

    /// Header and rows padded to the same number of columns.
    fn grid(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let n = self.n_cols();
        let pad = |r: &[String]| {
            let mut r = r.to_vec();
            r.resize(n, String::new());
            r
        };
        (
            pad(&self.headers),
            self.rows.iter().map(|r| pad(r)).collect(),
        )
    }

    /// Column widths in characters over header and rows (after `map` is applied to each cell).
    fn widths(headers: &[String], rows: &[Vec<String>]) -> Vec<usize> {
        let mut w: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for r in rows {
            for (wi, c) in w.iter_mut().zip(r) {
                *wi = (*wi).max(c.chars().count());
            }
        }
        w
    }

    /// Numeric-looking columns (every non-empty body cell starts like a number) are right-aligned.
    fn numeric_columns(rows: &[Vec<String>], n: usize) -> Vec<bool> {
        (0..n)
            .map(|j| {
                let mut any = false;
                let all = rows.iter().all(|r| {
                    let c = r[j].trim();
                    if c.is_empty() {
                        return true;
                    }
                    any = true;
                    looks_numeric(c)
                });
                any && all
            })
            .collect()
    }

    /// GitHub-flavoured markdown; `|` inside cells is escaped, numeric columns are right-aligned.
    pub fn to_markdown(&self) -> String {
        let esc = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        let (h, rows) = self.grid();
        let h: Vec<String> = h.iter().map(|c| esc(c)).collect();
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|r| r.iter().map(|c| esc(c)).collect())
            .collect();
        let numeric = Self::numeric_columns(&rows, h.len());
        let w: Vec<usize> = Self::widths(&h, &rows)
            .into_iter()
            .map(|w| w.max(3))
            .collect();
        let mut out = String::new();
        if let Some(t) = &self.title {
            out.push_str(&format!("**{}**\n\n", esc(t)));
        }
        let line = |cells: &[String]| {
            let parts: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(j, c)| pad(c, w[j], numeric[j]))
                .collect();
            format!("| {} |\n", parts.join(" | "))
        };
        out.push_str(&line(&h));
        let sep: Vec<String> = w
            .iter()
            .zip(&numeric)
            .map(|(&w, &num)| {
                if num {
                    format!("{}:", "-".repeat(w - 1))
                } else {
                    "-".repeat(w)
                }
            })
            .collect();
        out.push_str(&format!("| {} |\n", sep.join(" | ")));
        for r in &rows {
            out.push_str(&line(r));
        }
        out
    }

    /// RFC 4180 CSV (header line first, `\n` line ends); cells with `,`, `"` or line breaks are quoted.
    pub fn to_csv(&self) -> String {
        let quote = |s: &str| {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        let (h, rows) = self.grid();
        let mut out = String::new();
        for r in std::iter::once(&h).chain(&rows) {
            out.push_str(&r.iter().map(|c| quote(c)).collect::<Vec<_>>().join(","));
            out.push('\n');
        }
        out
    }

    /// Plain text with aligned columns (two spaces apart) and a rule under the header, for the terminal.
    pub fn to_terminal(&self) -> String {
        let (h, rows) = self.grid();
        let numeric = Self::numeric_columns(&rows, h.len());
        let w = Self::widths(&h, &rows);
        let line = |cells: &[String]| {
            let parts: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(j, c)| pad(c, w[j], numeric[j]))
                .collect();
            format!("{}\n", parts.join("  ").trim_end())
        };
        let mut out = String::new();
        if let Some(t) = &self.title {
            out.push_str(t);
            out.push('\n');
        }
        out.push_str(&line(&h));
        let rule: Vec<String> = w.iter().map(|&w| "─".repeat(w)).collect();
        out.push_str(&format!("{}\n", rule.join("  ")));
        for r in &rows {
            out.push_str(&line(r));
        }
        out
    }
}

fn looks_numeric(c: &str) -> bool {
    let c = c.strip_prefix(['-', '+', '−']).unwrap_or(c);
    c.starts_with(|ch: char| ch.is_ascii_digit())
        || c.starts_with('.') && c[1..].starts_with(|ch: char| ch.is_ascii_digit())
        || c == "nan"
        || c == "NaN"
        || c == "inf"
}

fn pad(s: &str, width: usize, right: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(s.chars().count()));
    if right {
        format!("{fill}{s}")
    } else {
        format!("{s}{fill}")
    }
}

/// Mean and population standard deviation (divide by n, numpy's `np.std` default, which the reference
/// evaluation scripts report over seeds). `(NaN, NaN)` for an empty slice; std is 0 for one value.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// `"71.3 ± 0.4"` with `decimals` digits; a single value prints without `± std`, none prints `"–"`.
pub fn fmt_mean_std(values: &[f64], decimals: usize) -> String {
    match values.len() {
        0 => "–".to_string(),
        1 => format!("{:.*}", decimals, values[0]),
        _ => {
            let (m, s) = mean_std(values);
            format!("{m:.decimals$} ± {s:.decimals$}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(["model", "L1", "L5"]).with_title("CoG top-1 (%)");
        t.push_row(["resnet50", "71.3 ± 0.4", "55.0 ± 1.2"]);
        t.push_row(["eff|lite0", "9.5", ""]);
        t
    }

    #[test]
    fn markdown_exact() {
        let expected = "**CoG top-1 (%)**\n\n\
| model      |         L1 |         L5 |\n\
| ---------- | ---------: | ---------: |\n\
| resnet50   | 71.3 ± 0.4 | 55.0 ± 1.2 |\n\
| eff\\|lite0 |        9.5 |            |\n";
        assert_eq!(sample().to_markdown(), expected);
    }

    #[test]
    fn csv_exact_and_quoted() {
        let mut t = Table::new(["a", "b"]);
        t.push_row(["x,y", "say \"hi\""]);
        t.push_row(["1"]);
        assert_eq!(t.to_csv(), "a,b\n\"x,y\",\"say \"\"hi\"\"\"\n1,\n");
    }

    #[test]
    fn terminal_exact() {
        let expected = "CoG top-1 (%)\n\
model              L1          L5\n\
─────────  ──────────  ──────────\n\
resnet50   71.3 ± 0.4  55.0 ± 1.2\n\
eff|lite0         9.5\n";
        assert_eq!(sample().to_terminal(), expected);
    }

    #[test]
    fn mean_std_matches_numpy() {
        // np.mean / np.std of [1, 2, 3, 4] = 2.5, 1.118033988749895
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        assert!((s - 1.118_033_988_749_895).abs() < 1e-15);
        assert!(mean_std(&[]).0.is_nan());
        assert_eq!(mean_std(&[7.0]), (7.0, 0.0));
    }

    #[test]
    fn fmt_mean_std_forms() {
        assert_eq!(fmt_mean_std(&[71.0, 71.6, 71.3], 1), "71.3 ± 0.2");
        assert_eq!(fmt_mean_std(&[9.54], 1), "9.5");
        assert_eq!(fmt_mean_std(&[], 1), "–");
    }

    #[test]
    fn json_roundtrip() {
        let t = sample();
        let back: Table = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
    }
}
