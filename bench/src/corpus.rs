//! The shared deterministic corpus: documents, mapping and named queries from `gen.py`.
//!
//! Documents are generated once per benchmark run as NDJSON (line *i* is the source of `_id` `"i"`)
//! and kept in memory, so generation never overlaps a timed phase. Bulk bodies are prebuilt for the
//! same reason: the client only copies bytes onto the socket while tern is being measured.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::ValueEnum;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    Logs,
    Articles,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Logs => "logs",
            Shape::Articles => "articles",
        }
    }
}

/// A named `_search` body from `gen.py --queries`.
#[derive(Debug, Clone)]
pub struct NamedQuery {
    pub name: String,
    pub body: Value,
}

pub struct Corpus {
    pub shape: Shape,
    /// One JSON source per document; index = `_id`.
    pub docs: Vec<Vec<u8>>,
    /// The `mappings` object (`{"properties": ...}`).
    pub mappings: Value,
    pub source_bytes: usize,
    pub generate_secs: f64,
}

fn run_gen(generator: &Path, args: &[&str]) -> anyhow::Result<Vec<u8>> {
    let out = Command::new("python3")
        .arg(generator)
        .args(args)
        .output()
        .with_context(|| format!("cannot run python3 {} {}", generator.display(), args.join(" ")))?;
    if !out.status.success() {
        bail!("gen.py {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    Ok(out.stdout)
}

impl Corpus {
    pub fn generate(generator: &Path, shape: Shape, docs: usize) -> anyhow::Result<Corpus> {
        let started = Instant::now();
        let n = docs.to_string();
        let raw = run_gen(generator, &["--shape", shape.name(), "--docs", &n, "--format", "ndjson"])?;
        let docs: Vec<Vec<u8>> = raw.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
        let source_bytes = docs.iter().map(Vec::len).sum();
        let mapping: Value = serde_json::from_slice(&run_gen(generator, &["--mapping", shape.name()])?)?;
        let mappings = mapping.get("mappings").cloned().context("gen.py --mapping has no `mappings`")?;
        Ok(Corpus { shape, docs, mappings, source_bytes, generate_secs: started.elapsed().as_secs_f64() })
    }

    /// `_bulk` bodies of `batch` index operations each, for `POST /{index}/_bulk`.
    pub fn bulk_bodies(&self, batch: usize) -> Vec<Bytes> {
        self.docs
            .chunks(batch.max(1))
            .enumerate()
            .map(|(c, chunk)| {
                let mut body = Vec::with_capacity(chunk.iter().map(|d| d.len() + 40).sum());
                for (i, doc) in chunk.iter().enumerate() {
                    let id = c * batch + i;
                    body.extend_from_slice(format!("{{\"index\":{{\"_id\":\"{id}\"}}}}\n").as_bytes());
                    body.extend_from_slice(doc);
                    body.push(b'\n');
                }
                Bytes::from(body)
            })
            .collect()
    }
}

pub fn queries(generator: &Path, shape: Shape) -> anyhow::Result<Vec<NamedQuery>> {
    let v: Value = serde_json::from_slice(&run_gen(generator, &["--queries", shape.name()])?)?;
    let arr = v.as_array().context("gen.py --queries did not print an array")?;
    arr.iter()
        .map(|q| {
            Ok(NamedQuery {
                name: q.get("name").and_then(Value::as_str).context("query without name")?.to_string(),
                body: q.get("body").cloned().context("query without body")?,
            })
        })
        .collect()
}
