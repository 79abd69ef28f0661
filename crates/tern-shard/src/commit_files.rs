//! A shard's last commit as a set of immutable files, so that another copy can become identical to
//! it by copying only the files it lacks.
//!
//! tantivy never changes a file after writing it: a segment's files are named after the segment's
//! uuid (deletes add a `{uuid}.{opstamp}.del` file), and a commit is `meta.json`, which lists the
//! segments. Two copies that hold the same file name hold the same bytes, so "what is missing" is a set
//! difference on names, and the copy needs no knowledge of documents. This is how ES peer recovery
//! phase 1 and file-based cross-cluster sync work, and it serves both here.
//!
//! The source side **pins** a commit ([`PinnedCommit`]): it holds the commit's segment metas, which
//! tantivy's garbage collector treats as alive, so merges on the source can go on while a copy is in
//! flight without deleting the files being read. The target side stages the files elsewhere, then
//! [`install_commit`] moves them in and switches `meta.json` with one atomic rename.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tantivy::IndexMeta;
use tern_common::{ErrorKind, EsError};

/// tantivy's commit point.
pub const META_FILE: &str = "meta.json";
/// tantivy's list of files it may garbage-collect.
const MANAGED_FILE: &str = ".managed.json";

/// One immutable file of a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitFile {
    pub name: String,
    pub length: u64,
    /// CRC-32 (IEEE) of the whole file, checked by the target after the last chunk.
    pub crc32: u32,
}

/// What a copy needs to reproduce a commit: its files and its commit point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitManifest {
    /// tantivy's commit opstamp: grows with every commit of the source copy.
    pub generation: u64,
    pub max_seq_no: i64,
    pub num_docs: u64,
    /// Sorted by name.
    pub files: Vec<CommitFile>,
    /// The commit point (tantivy's `meta.json`) the files belong to.
    pub meta: String,
}

impl CommitManifest {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.length).sum()
    }

    pub fn file(&self, name: &str) -> Option<&CommitFile> {
        self.files.binary_search_by(|f| f.name.as_str().cmp(name)).ok().map(|i| &self.files[i])
    }

    pub fn file_names(&self) -> BTreeSet<String> {
        self.files.iter().map(|f| f.name.clone()).collect()
    }
}

/// Whole-file checksums by `(name, length)`: files never change, so each is read once per process
/// however many commits and copies it appears in.
#[derive(Default)]
pub(crate) struct ChecksumCache {
    by_name: Mutex<HashMap<String, (u64, u32)>>,
}

impl ChecksumCache {
    fn get_or_compute(&self, dir: &Path, name: &str, length: u64) -> Result<u32, EsError> {
        if let Some((len, crc)) = self.by_name.lock().get(name)
            && *len == length
        {
            return Ok(*crc);
        }
        let crc = file_crc32(&dir.join(name))?;
        let mut cache = self.by_name.lock();
        // Bounded by the files a shard ever had; forget the lot when it grows past any plausible commit.
        if cache.len() > 100_000 {
            cache.clear();
        }
        cache.insert(name.to_string(), (length, crc));
        Ok(crc)
    }
}

/// A commit held alive for copying: while this value exists, tantivy keeps its files.
pub struct PinnedCommit {
    /// Holding the tracked segment metas is what protects the files from garbage collection.
    _meta: IndexMeta,
    dir: PathBuf,
    manifest: CommitManifest,
}

impl PinnedCommit {
    pub(crate) fn new(meta: IndexMeta, dir: &Path, num_docs: u64, checksums: &ChecksumCache) -> Result<Self, EsError> {
        let max_seq_no = meta
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
            .and_then(|p| p.get("max_seq_no").and_then(|v| v.as_i64()))
            .unwrap_or(-1);
        let mut files = Vec::new();
        for path in meta.list_segment_files() {
            let name = path.to_string_lossy().into_owned();
            let length = match std::fs::metadata(dir.join(&path)) {
                Ok(m) => m.len(),
                // The list holds every component a segment may have; one it did not need has no file.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&name, e)),
            };
            let crc32 = checksums.get_or_compute(dir, &name, length)?;
            files.push(CommitFile { name, length, crc32 });
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        files.dedup_by(|a, b| a.name == b.name);
        let meta_json = serde_json::to_string(&meta).map_err(|e| EsError::internal(e.to_string()))?;
        let manifest = CommitManifest { generation: meta.opstamp, max_seq_no, num_docs, files, meta: meta_json };
        Ok(PinnedCommit { _meta: meta, dir: dir.to_path_buf(), manifest })
    }

    pub fn manifest(&self) -> &CommitManifest {
        &self.manifest
    }

    /// Up to `max_len` bytes of `name` from `offset`. Only files of this commit can be read, so a
    /// request can never reach anything else on disk.
    pub fn read_chunk(&self, name: &str, offset: u64, max_len: usize) -> Result<Vec<u8>, EsError> {
        let file = self.manifest.file(name).ok_or_else(|| {
            EsError::new(
                ErrorKind::ResourceNotFound,
                format!("file [{name}] is not part of commit [{}]", self.manifest.generation),
            )
        })?;
        if offset > file.length {
            return Err(EsError::illegal_argument(format!(
                "offset [{offset}] is past the end of file [{name}] of length [{}]",
                file.length
            )));
        }
        let len = max_len.min((file.length - offset) as usize);
        let mut f = File::open(self.dir.join(name)).map_err(|e| io_err(name, e))?;
        f.seek(SeekFrom::Start(offset)).map_err(|e| io_err(name, e))?;
        let mut buf = vec![0u8; len];
        f.read_exact(&mut buf).map_err(|e| io_err(name, e))?;
        Ok(buf)
    }
}

fn io_err(name: &str, e: std::io::Error) -> EsError {
    EsError::internal(format!("cannot read commit file [{name}]: {e}"))
}

/// CRC-32 of a whole file, streamed.
pub fn file_crc32(path: &Path) -> Result<u32, EsError> {
    let name = path.display().to_string();
    let mut f = File::open(path).map_err(|e| io_err(&name, e))?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = f.read(&mut buf).map_err(|e| io_err(&name, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize())
}

/// Makes the (released) shard in `shard_dir` hold exactly the commit of `manifest`.
///
/// Every file of the manifest must be either already in `shard_dir` (same name, same length) or
/// verified in `staged_dir`. Files are moved in, then `meta.json` is replaced by one atomic rename:
/// a crash before it leaves the old commit intact, a crash after it leaves the new one. The commit
/// payload keeps the source's sequence numbers and mapping but takes `local_marker`, the raft
/// position of *this* copy's own log. Files no longer referenced are removed last.
pub fn install_commit(
    shard_dir: &Path,
    staged_dir: &Path,
    manifest: &CommitManifest,
    local_marker: Option<String>,
) -> Result<(), EsError> {
    let fail = |what: &str, e: std::io::Error| EsError::internal(format!("installing commit: {what}: {e}"));
    std::fs::create_dir_all(shard_dir).map_err(|e| fail("create shard dir", e))?;
    for f in &manifest.files {
        let target = shard_dir.join(&f.name);
        if std::fs::metadata(&target).map(|m| m.len() == f.length).unwrap_or(false) {
            continue;
        }
        let staged = staged_dir.join(&f.name);
        let len = std::fs::metadata(&staged).map_err(|e| fail(&format!("staged file [{}]", f.name), e))?.len();
        if len != f.length {
            return Err(EsError::internal(format!(
                "installing commit: staged file [{}] has {len} bytes, expected {}",
                f.name, f.length
            )));
        }
        std::fs::rename(&staged, &target).map_err(|e| fail(&format!("move [{}]", f.name), e))?;
    }
    // tantivy may collect only what it manages: the union keeps the old commit collectable if we stop
    // before the switch, and the new one after.
    let mut managed: BTreeSet<String> = read_managed(shard_dir);
    managed.extend(manifest.files.iter().map(|f| f.name.clone()));
    write_atomic(shard_dir, MANAGED_FILE, &managed_json(&managed)).map_err(|e| fail("managed list", e))?;

    let mut meta: serde_json::Value =
        serde_json::from_str(&manifest.meta).map_err(|e| EsError::internal(format!("bad commit point: {e}")))?;
    let mut payload: serde_json::Value = meta
        .get("payload")
        .and_then(|p| p.as_str())
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_else(|| serde_json::json!({}));
    if let Some(obj) = payload.as_object_mut() {
        obj.insert("marker".into(), local_marker.map(serde_json::Value::String).unwrap_or(serde_json::Value::Null));
    }
    meta["payload"] = serde_json::Value::String(payload.to_string());
    write_atomic(shard_dir, META_FILE, meta.to_string().as_bytes()).map_err(|e| fail("commit point", e))?;

    let keep = manifest.file_names();
    write_atomic(shard_dir, MANAGED_FILE, &managed_json(&keep)).map_err(|e| fail("managed list", e))?;
    for entry in std::fs::read_dir(shard_dir).map_err(|e| fail("list shard dir", e))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if keep.contains(&name) || name == META_FILE || name.starts_with('.') || !entry.path().is_file() {
            continue;
        }
        if let Err(e) = std::fs::remove_file(entry.path()) {
            tracing::warn!(file = %name, error = %e, "removing a file of the replaced commit failed");
        }
    }
    Ok(())
}

fn read_managed(dir: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(dir.join(MANAGED_FILE)).ok().and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default()
}

fn managed_json(names: &BTreeSet<String>) -> Vec<u8> {
    let mut v = serde_json::to_vec(names).unwrap_or_else(|_| b"[]".to_vec());
    v.push(b'\n');
    v
}

/// Write to a temporary name, fsync, rename over `name`, fsync the directory.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{name}.tern-tmp"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}
