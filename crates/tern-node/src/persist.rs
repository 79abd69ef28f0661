//! Small durable files of a node: its identity and the cluster metadata.
//!
//! Both are rewritten whole with the classic atomic sequence (write a temp file, fsync it, rename over
//! the old one, fsync the directory), so a crash leaves either the old or the new version, never a
//! torn one.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Serialize, de::DeserializeOwned};
use tern_common::EsError;

pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// A JSON document kept in one file; `None` path keeps it in memory only (ephemeral nodes).
#[derive(Debug, Clone)]
pub struct JsonFile {
    path: Option<PathBuf>,
}

impl JsonFile {
    pub fn new(path: Option<PathBuf>) -> Self {
        JsonFile { path }
    }

    pub fn load<T: DeserializeOwned>(&self) -> Result<Option<T>, EsError> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| EsError::internal(format!("corrupt state file [{}]: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(EsError::internal(format!("cannot read [{}]: {e}", path.display()))),
        }
    }

    pub fn store<T: Serialize>(&self, value: &T) -> Result<(), EsError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let bytes = serde_json::to_vec(value).map_err(|e| EsError::internal(e.to_string()))?;
        write_atomic(path, &bytes).map_err(|e| EsError::internal(format!("cannot write [{}]: {e}", path.display())))
    }
}
