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
//! flight without deleting the files being read. The target side stages the files elsewhere
//! ([`Staging`]: chunked, each chunk checksummed and logged, so an interrupted copy resumes with what
//! it already has), then [`install_commit`] moves them in and switches `meta.json` with one atomic
//! rename. Remote sync (between clusters) and peer recovery (a raft snapshot install between copies
//! of one shard) are both built from these pieces.

use std::collections::{BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
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

    /// The raft position recorded in the commit point's payload (see `ShardEngine`'s commits).
    pub fn marker(&self) -> Option<String> {
        let meta: serde_json::Value = serde_json::from_str(&self.meta).ok()?;
        let payload: serde_json::Value = serde_json::from_str(meta.get("payload")?.as_str()?).ok()?;
        payload.get("marker")?.as_str().map(String::from)
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

/// A commit whose files tantivy keeps while this value exists, not read yet: what a raft snapshot
/// holds on every copy, cheaply. [`crate::ShardEngine::pin_held`] turns it into a [`PinnedCommit`]
/// (reading files for their checksums) once some copy actually needs it.
#[derive(Clone)]
pub struct HeldCommit {
    pub(crate) meta: IndexMeta,
}

impl HeldCommit {
    /// The raft position recorded in the commit's payload.
    pub fn marker(&self) -> Option<String> {
        let payload: serde_json::Value = serde_json::from_str(self.meta.payload.as_deref()?).ok()?;
        payload.get("marker")?.as_str().map(String::from)
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

/// CRC-32 (IEEE) of a chunk, as [`CommitFile::crc32`] is of a whole file.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
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

/// The files of `manifest` a copy must fetch: those it does not hold with the same name and length
/// (`have`: the names of its own last commit, whose files are in `shard_dir`).
pub fn files_to_fetch(shard_dir: &Path, have: &BTreeSet<String>, manifest: &CommitManifest) -> Vec<CommitFile> {
    manifest
        .files
        .iter()
        .filter(|f| {
            !have.contains(&f.name)
                || std::fs::metadata(shard_dir.join(&f.name)).map(|m| m.len() != f.length).unwrap_or(true)
        })
        .cloned()
        .collect()
}

/// Makes the (released) shard in `shard_dir` hold exactly the commit of `manifest`.
///
/// Every file of the manifest must be either already in `shard_dir` (same name, same length) or
/// verified in `staged_dir`. Files are moved in, then `meta.json` is replaced by one atomic rename:
/// a crash before it leaves the old commit intact, a crash after it leaves the new one. The commit
/// payload keeps the source's sequence numbers and mapping but takes `marker` as its raft position:
/// remote sync passes the position of *this* copy's own log (the source is another cluster's
/// shard), peer recovery the snapshot's (the source is this copy's own raft group, whose log then
/// resumes after it). Files no longer referenced are removed last.
pub fn install_commit(
    shard_dir: &Path,
    staged_dir: &Path,
    manifest: &CommitManifest,
    marker: Option<String>,
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
        obj.insert("marker".into(), marker.map(serde_json::Value::String).unwrap_or(serde_json::Value::Null));
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

/// The progress log of a staging directory: one `name offset length crc32` line per chunk written.
pub const PROGRESS_LOG: &str = "progress.log";

/// A directory where the files of a commit being copied land, chunk by chunk, before
/// [`install_commit`].
///
/// Every chunk written is appended to [`PROGRESS_LOG`] with its CRC-32, so after an interruption (a
/// crash, the source going away, a newer commit to copy) [`Staging::open`] keeps exactly the chunks
/// whose bytes still check out and the copy resumes with the rest. A file the new commit does not
/// need is dropped; files are immutable, so a staged chunk of a file that is still needed is still
/// valid whatever commit it was fetched for.
pub struct Staging {
    dir: PathBuf,
    /// Chunks already staged and verified, by file: `(offset, length)`.
    staged: HashMap<String, BTreeSet<(u64, u64)>>,
    log: Mutex<File>,
}

impl Staging {
    /// Prepares `dir` for `needed`: drops files it does not list, reads back the chunks an earlier
    /// attempt logged (keeping only those whose bytes still check out), and sizes every needed file.
    /// Blocking (reads staged bytes).
    pub fn open(dir: &Path, needed: &[CommitFile]) -> Result<Staging, EsError> {
        let io = |what: &str, e: std::io::Error| EsError::internal(format!("staging commit files: {what}: {e}"));
        std::fs::create_dir_all(dir).map_err(|e| io("create", e))?;
        let wanted: HashMap<&str, &CommitFile> = needed.iter().map(|f| (f.name.as_str(), f)).collect();
        for entry in std::fs::read_dir(dir).map_err(|e| io("list", e))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let keep = name == PROGRESS_LOG
                || wanted
                    .get(name.as_str())
                    .is_some_and(|f| entry.metadata().map(|m| m.len() == f.length).unwrap_or(false));
            if !keep {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let mut staged: HashMap<String, BTreeSet<(u64, u64)>> = HashMap::new();
        if let Ok(log) = File::open(dir.join(PROGRESS_LOG)) {
            for line in BufReader::new(log).lines().map_while(Result::ok) {
                let parts: Vec<&str> = line.split(' ').collect();
                let [name, offset, len, crc] = parts[..] else { continue };
                let (Ok(offset), Ok(len), Ok(crc)) = (offset.parse::<u64>(), len.parse::<u64>(), crc.parse::<u32>())
                else {
                    continue;
                };
                let within = |f: &&CommitFile| offset.checked_add(len).is_some_and(|end| end <= f.length);
                if !wanted.get(name).is_some_and(within) {
                    continue;
                }
                let Ok(f) = File::open(dir.join(name)) else { continue };
                let mut buf = vec![0u8; len as usize];
                if f.read_exact_at(&mut buf, offset).is_ok() && crc32fast::hash(&buf) == crc {
                    staged.entry(name.to_string()).or_default().insert((offset, len));
                }
            }
        }
        // Rewrite the log with what survived, then size every needed file (keeping staged bytes).
        let mut log = File::create(dir.join(PROGRESS_LOG)).map_err(|e| io("progress log", e))?;
        for (name, chunks) in &staged {
            let f = File::open(dir.join(name)).map_err(|e| io(name, e))?;
            for (offset, len) in chunks {
                let mut buf = vec![0u8; *len as usize];
                f.read_exact_at(&mut buf, *offset).map_err(|e| io(name, e))?;
                writeln!(log, "{name} {offset} {len} {}", crc32fast::hash(&buf)).map_err(|e| io("progress log", e))?;
            }
        }
        for f in needed {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dir.join(&f.name))
                .map_err(|e| io(&f.name, e))?;
            file.set_len(f.length).map_err(|e| io(&f.name, e))?;
        }
        let log = OpenOptions::new().append(true).open(dir.join(PROGRESS_LOG)).map_err(|e| io("progress log", e))?;
        Ok(Staging { dir: dir.to_path_buf(), staged, log: Mutex::new(log) })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the chunk `offset..offset + len` of `name` is already staged and verified.
    pub fn has_chunk(&self, name: &str, offset: u64, len: u64) -> bool {
        self.staged.get(name).is_some_and(|c| c.contains(&(offset, len)))
    }

    /// The chunks of `files` (cut every `chunk_size` bytes) still to fetch, as `(name, offset,
    /// length)`, and the bytes already staged.
    pub fn missing_chunks(&self, files: &[CommitFile], chunk_size: u64) -> (Vec<(String, u64, u64)>, u64) {
        let chunk_size = chunk_size.max(1);
        let mut jobs = Vec::new();
        let mut already = 0;
        for f in files {
            let mut offset = 0;
            while offset < f.length {
                let len = chunk_size.min(f.length - offset);
                if self.has_chunk(&f.name, offset, len) {
                    already += len;
                } else {
                    jobs.push((f.name.clone(), offset, len));
                }
                offset += len;
            }
        }
        (jobs, already)
    }

    /// Writes one fetched (and already checked) chunk and logs it. Blocking.
    pub fn write_chunk(&self, name: &str, offset: u64, bytes: &[u8]) -> Result<(), EsError> {
        let fail = |e: std::io::Error| EsError::internal(format!("writing staged chunk of [{name}]: {e}"));
        let f = OpenOptions::new().write(true).open(self.dir.join(name)).map_err(fail)?;
        f.write_all_at(bytes, offset).map_err(fail)?;
        writeln!(self.log.lock(), "{name} {offset} {} {}", bytes.len(), crc32fast::hash(bytes)).map_err(fail)
    }

    /// Checks every staged file of `files` against its whole-file CRC and makes it durable before it
    /// becomes part of a commit. A file that fails is removed, so the next attempt fetches it again.
    /// Blocking.
    pub fn verify(&self, files: &[CommitFile]) -> Result<(), EsError> {
        for f in files {
            let path = self.dir.join(&f.name);
            let crc = file_crc32(&path)?;
            if crc != f.crc32 {
                let _ = std::fs::remove_file(&path);
                return Err(EsError::internal(format!(
                    "staged file [{}] does not match the source's checksum ({crc} != {})",
                    f.name, f.crc32
                )));
            }
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| EsError::internal(format!("syncing staged file [{}]: {e}", f.name)))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, data: &[u8]) -> CommitFile {
        CommitFile { name: name.into(), length: data.len() as u64, crc32: crc32fast::hash(data) }
    }

    #[test]
    fn staging_keeps_only_verified_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let data = b"0123456789abcdef".to_vec();
        let f = file("seg.idx", &data);
        std::fs::write(dir.path().join("seg.idx"), [&data[..8], &[0u8; 8][..]].concat()).unwrap();
        std::fs::write(dir.path().join("stale.idx"), b"old").unwrap();
        let good = crc32fast::hash(&data[..8]);
        let bad = crc32fast::hash(b"whatever");
        std::fs::write(
            dir.path().join(PROGRESS_LOG),
            format!("seg.idx 0 8 {good}\nseg.idx 8 8 {bad}\nseg.idx 12 8 {good}\ngarbage\n"),
        )
        .unwrap();
        let staging = Staging::open(dir.path(), std::slice::from_ref(&f)).unwrap();
        assert!(staging.has_chunk("seg.idx", 0, 8));
        assert!(!staging.has_chunk("seg.idx", 8, 8), "a chunk whose bytes do not match its crc is fetched again");
        assert!(!dir.path().join("stale.idx").exists(), "files the commit no longer has are dropped");
        let log = std::fs::read_to_string(dir.path().join(PROGRESS_LOG)).unwrap();
        assert_eq!(log, format!("seg.idx 0 8 {good}\n"));
    }

    /// An interrupted copy resumes: the second attempt fetches only what the first did not stage,
    /// and the result verifies against the source's checksums.
    #[test]
    fn an_interrupted_copy_resumes_with_what_was_staged() {
        let dir = tempfile::tempdir().unwrap();
        let a: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let b: Vec<u8> = (0..3_000u32).map(|i| (i % 13) as u8).collect();
        let files = vec![file("a.idx", &a), file("b.store", &b)];
        let source = |name: &str| if name == "a.idx" { &a } else { &b };

        let first = Staging::open(dir.path(), &files).unwrap();
        let (jobs, already) = first.missing_chunks(&files, 4096);
        assert_eq!((jobs.len(), already), (4, 0), "{jobs:?}");
        // The first attempt stops after two chunks.
        for (name, offset, len) in jobs.iter().take(2) {
            first.write_chunk(name, *offset, &source(name)[*offset as usize..(*offset + *len) as usize]).unwrap();
        }
        drop(first);

        let second = Staging::open(dir.path(), &files).unwrap();
        let (jobs, already) = second.missing_chunks(&files, 4096);
        assert_eq!(already, 8192);
        assert_eq!(jobs, vec![("a.idx".to_string(), 8192, 1808), ("b.store".to_string(), 0, 3000)]);
        assert!(second.verify(&files).is_err(), "a file with chunks missing fails its checksum");
        // The file that failed was removed, so the next attempt fetches it whole.
        let third = Staging::open(dir.path(), &files).unwrap();
        let (jobs, already) = third.missing_chunks(&files, 4096);
        assert_eq!((jobs.len(), already), (4, 0), "{jobs:?}");
        for (name, offset, len) in &jobs {
            third.write_chunk(name, *offset, &source(name)[*offset as usize..(*offset + *len) as usize]).unwrap();
        }
        third.verify(&files).unwrap();
        assert_eq!(std::fs::read(dir.path().join("a.idx")).unwrap(), a);
        assert_eq!(std::fs::read(dir.path().join("b.store")).unwrap(), b);
    }
}
