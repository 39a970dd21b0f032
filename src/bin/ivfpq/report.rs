//! Result rows in the `key=value` form of shared/bench/peers.py, plus JSON lines.

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

/// Prints a row and appends it to `json` if given.
pub fn emit(row: &[(&str, Val)], json: Option<&Path>) -> std::io::Result<()> {
    let line: Vec<String> = row
        .iter()
        .map(|(k, v)| match v {
            Val::Int(i) => format!("{k}={i}"),
            Val::Float(f) => format!("{k}={}", g4(*f)),
            Val::Str(s) => format!("{k}={s}"),
        })
        .collect();
    println!("{}", line.join("  "));
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
