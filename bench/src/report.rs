//! Markdown rendering and the machine description that heads every report.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::new();
    s.push_str(&format!("| {} |\n", headers.join(" | ")));
    s.push_str(&format!("|{}\n", headers.iter().map(|_| "---|").collect::<String>()));
    for r in rows {
        s.push_str(&format!("| {} |\n", r.join(" | ")));
    }
    s
}

/// A float with `d` decimals, `-` for NaN.
pub fn f(x: f64, d: usize) -> String {
    if x.is_nan() { "-".to_string() } else { format!("{x:.d$}") }
}

/// Thousands separators for integers.
pub fn int(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn mib(bytes: u64) -> String {
    f(bytes as f64 / (1024.0 * 1024.0), 1)
}

fn cmd_out(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn meminfo_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// The machine and the binary under test.
pub fn machine(tern_bin: &Path) -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    // The checkout this harness was built in (the binary may be a frozen copy elsewhere).
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf);
    let (head, dirty) = match &repo {
        Some(r) => {
            let r = r.to_string_lossy().to_string();
            let head = cmd_out("git", &["-C", &r, "rev-parse", "--short", "HEAD"]);
            let dirty = !cmd_out("git", &["-C", &r, "status", "--porcelain", "--untracked-files=no"]).is_empty();
            (head, dirty)
        }
        None => (String::new(), false),
    };
    let bin_md = std::fs::metadata(tern_bin).ok();
    json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": cpu,
        "mem_total_mib": meminfo_kib("MemTotal:") / 1024,
        "kernel": cmd_out("uname", &["-r"]),
        "loadavg_at_start": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        "tern_bin": tern_bin.display().to_string(),
        "tern_bin_bytes": bin_md.as_ref().map(|m| m.len()),
        "tern_bin_modified": bin_md.and_then(|m| m.modified().ok()).map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339()),
        "git_head": head,
        "git_dirty_tracked": dirty,
    })
}

pub fn machine_md(m: &Value) -> String {
    format!(
        "Machine: {} x {} ({} MiB RAM), kernel {}, load at start {}; tern binary {} (git {}{}, built {}).\n",
        m["nproc"],
        m["cpu"].as_str().unwrap_or(""),
        m["mem_total_mib"],
        m["kernel"].as_str().unwrap_or(""),
        m["loadavg_at_start"].as_str().unwrap_or(""),
        m["tern_bin"].as_str().unwrap_or(""),
        m["git_head"].as_str().unwrap_or(""),
        if m["git_dirty_tracked"].as_bool() == Some(true) { " + uncommitted changes" } else { "" },
        m["tern_bin_modified"].as_str().unwrap_or("?"),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::int(1234567), "1,234,567");
        assert_eq!(super::int(12), "12");
        assert_eq!(super::f(f64::NAN, 1), "-");
        assert!(super::table(&["a", "b"], &[vec!["1".into(), "2".into()]]).contains("| 1 | 2 |"));
    }
}
