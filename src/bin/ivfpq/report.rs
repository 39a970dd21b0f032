//! Result rows: an aligned table, or the `key=value` form of the FAISS and hnswlib
//! harness (`docs/benchmarks.md`), plus JSON lines.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

/// One printed value.
#[derive(Clone)]
pub enum Val {
    Int(u64),
    Float(f64),
    Str(String),
}

/// Python's `{:.4g}`: four significant digits, trailing zeros dropped.
pub fn g4(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let exp = v.abs().log10().floor() as i32;
    if !(-4..4).contains(&exp) {
        let s = format!("{:.3e}", v);
        let (mant, e) = s.split_once('e').unwrap_or((&s, "0"));
        let mant = trim(mant);
        let e: i32 = e.parse().unwrap_or(0);
        return format!("{mant}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    trim(&format!("{:.*}", (3 - exp).max(0) as usize, v)).to_string()
}

fn trim(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// `bench`'s rows as they come: a table on stdout (or `key=value` lines), and JSON lines
/// appended to a file if given.
pub struct Rows<'a> {
    table: bool,
    json: Option<&'a Path>,
    started: bool,
}

/// The table's columns: key, title, width.
const COLUMNS: [(&str, &str, usize); 8] = [
    ("engine", "engine", 16),
    ("nprobe", "nprobe", 6),
    ("refine", "refine", 7),
    ("probe_ratio", "ratio", 5),
    ("recall", "recall", 7),
    ("qps", "QPS", 9),
    ("probes_per_query", "probes", 7),
    ("exact_per_query", "exact", 7),
];

impl<'a> Rows<'a> {
    /// Rows as a table (`table`) or as `key=value` lines; each also to `json`.
    pub fn new(table: bool, json: Option<&'a Path>) -> Self {
        Rows {
            table,
            json,
            started: false,
        }
    }

    /// A `#` comment line before the rows.
    pub fn header(&mut self, text: &str) -> std::io::Result<()> {
        outln!("# {text}")
    }

    /// One row.
    pub fn row(&mut self, row: &[(&str, Val)]) -> std::io::Result<()> {
        if !self.table {
            return emit(row, self.json);
        }
        if !self.started {
            self.started = true;
            outln!(
                "# recall: recall@10 against the exact neighbours. QPS: the whole query batch on \
                 all threads. probes, exact: lists scanned and exact distances computed a query."
            )?;
            let titles: Vec<String> = COLUMNS
                .iter()
                .map(|&(_, t, w)| format!("{t:>w$}"))
                .collect();
            outln!("{}", titles.join(" "))?;
        }
        let cells: Vec<String> = COLUMNS
            .iter()
            .map(|&(key, _, w)| {
                let v = row.iter().find(|(k, _)| *k == key).map(|(_, v)| v);
                let text = match v {
                    Some(Val::Int(i)) => i.to_string(),
                    Some(Val::Float(f)) if key == "recall" => format!("{f:.4}"),
                    Some(Val::Float(f)) if key == "qps" => format!("{f:.0}"),
                    Some(Val::Float(f)) => format!("{f:.1}"),
                    Some(Val::Str(s)) => s.clone(),
                    None => "-".into(),
                };
                format!("{text:>w$}")
            })
            .collect();
        outln!("{}", cells.join(" "))?;
        append_json(row, self.json)
    }
}

/// Prints a row and appends it to `json` if given.
fn emit(row: &[(&str, Val)], json: Option<&Path>) -> std::io::Result<()> {
    let line: Vec<String> = row
        .iter()
        .map(|(k, v)| match v {
            Val::Int(i) => format!("{k}={i}"),
            Val::Float(f) => format!("{k}={}", g4(*f)),
            Val::Str(s) => format!("{k}={s}"),
        })
        .collect();
    outln!("{}", line.join("  "))?;
    append_json(row, json)
}

/// Appends `row` to `json` as one JSON object, if given.
fn append_json(row: &[(&str, Val)], json: Option<&Path>) -> std::io::Result<()> {
    if let Some(path) = json {
        let obj: serde_json::Map<String, serde_json::Value> = row
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Val::Int(i) => serde_json::json!(i),
                    Val::Float(f) => serde_json::json!(f),
                    Val::Str(s) => serde_json::json!(s),
                };
                (k.to_string(), v)
            })
            .collect();
        let mut f = OpenOptions::new().create(true).append(true).open(path)?;
        writeln!(f, "{}", serde_json::Value::Object(obj))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::g4;

    #[test]
    fn formats_like_python_g() {
        assert_eq!(g4(0.94567), "0.9457");
        assert_eq!(g4(1234.5), "1234");
        assert_eq!(g4(12345.0), "1.234e+04");
        assert_eq!(g4(0.5), "0.5");
        assert_eq!(g4(3.0), "3");
    }
}
