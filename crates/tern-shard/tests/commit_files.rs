//! A copy that installs another copy's pinned commit holds the same documents, versions and seq_nos,
//! and a later round copies only the files it lacks, even while the source merges; a running copy
//! can install its raft leader's snapshot commit in place (peer recovery) and carry on from it.

use std::path::Path;

use serde_json::json;
use tern_mapping::Mapping;
use tern_shard::commit_files::{CommitManifest, PinnedCommit, Staging, files_to_fetch, install_commit};
use tern_shard::ops::{DocOp, DocOpKind, ShardCommand, WriteCondition};
use tern_shard::{ShardEngine, ShardIdent, ShardOptions};

fn open(path: &Path, name: &str) -> ShardEngine {
    ShardEngine::open(ShardOptions {
        ident: ShardIdent { index: name.into(), index_uuid: format!("{name}-uuid"), shard: 0 },
        path: Some(path.to_path_buf()),
        mapping: Mapping::parse(&json!({})).unwrap(),
        analysis: None,
        writer_memory_bytes: 15 << 20,
    })
    .unwrap()
}

fn op(id: &str, kind: DocOpKind) -> DocOp {
    DocOp { id: id.into(), routing: None, kind, cond: WriteCondition::default(), auto_id: false }
}

fn write(engine: &ShardEngine, raft_index: &mut u64, ops: Vec<DocOp>) {
    *raft_index += 1;
    engine.apply(&ShardCommand::Ops { now_millis: 1, ops }, 1, format!("1-{raft_index}"));
    engine.refresh().unwrap();
}

/// What a follower does: fetch the missing files into staging, verify, install.
fn copy_missing(pinned: &PinnedCommit, have: &std::collections::BTreeSet<String>, staged: &Path) -> (usize, u64) {
    std::fs::create_dir_all(staged).unwrap();
    let manifest: &CommitManifest = pinned.manifest();
    let (mut files, mut bytes) = (0, 0);
    for f in &manifest.files {
        if have.contains(&f.name) {
            continue;
        }
        let mut data = Vec::new();
        let mut offset = 0u64;
        loop {
            let chunk = pinned.read_chunk(&f.name, offset, 4096).unwrap();
            if chunk.is_empty() {
                break;
            }
            offset += chunk.len() as u64;
            data.extend_from_slice(&chunk);
        }
        assert_eq!(crc32fast::hash(&data), f.crc32, "checksum of {}", f.name);
        std::fs::write(staged.join(&f.name), &data).unwrap();
        files += 1;
        bytes += data.len() as u64;
    }
    (files, bytes)
}

fn ids_and_versions(engine: &ShardEngine, ids: &[&str]) -> Vec<Option<(i64, i64, Vec<u8>)>> {
    ids.iter().map(|id| engine.get(id).map(|d| (d.seq_no, d.version, d.source.to_vec()))).collect()
}

#[test]
fn installed_commit_reproduces_the_source_and_later_rounds_copy_only_new_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (src_dir, dst_dir, staged) = (tmp.path().join("src"), tmp.path().join("dst"), tmp.path().join("staged"));
    let source = open(&src_dir, "src");
    // Without merges the second round's commit shares most files with the first.
    source.set_merges_enabled(false);
    let mut raft = 0;
    for i in 0..50 {
        let body = format!(r#"{{"n":{i},"text":"hello world {i}"}}"#);
        write(
            &source,
            &mut raft,
            vec![op(&format!("d{i}"), DocOpKind::Index { source: body.into_bytes(), create: false })],
        );
    }
    let target = open(&dst_dir, "dst");
    target.apply(&ShardCommand::Ops { now_millis: 1, ops: vec![] }, 1, "7-3".into());
    target.release().unwrap();
    let marker = target.committed_marker();
    drop(target);

    let pinned = source.pin_commit().unwrap();
    assert!(pinned.manifest().files.len() > 1);
    let (files, bytes) = copy_missing(&pinned, &Default::default(), &staged);
    assert_eq!(files, pinned.manifest().files.len());
    assert_eq!(bytes, pinned.manifest().total_bytes());
    install_commit(&dst_dir, &staged, pinned.manifest(), marker.clone()).unwrap();
    drop(pinned);

    let target = open(&dst_dir, "dst");
    // A copy that mirrors another's files must not merge on its own (`index.merge.enabled: false`).
    target.set_merges_enabled(false);
    let ids: Vec<String> = (0..50).map(|i| format!("d{i}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(ids_and_versions(&target, &ids), ids_and_versions(&source, &ids));
    assert_eq!(target.max_seq_no(), source.max_seq_no());
    assert_eq!(target.committed_marker(), marker, "the copy keeps its own raft position");
    assert_eq!(target.doc_count(), 50);

    // Updates and deletes that keep the count the same still change the file set.
    write(&source, &mut raft, vec![op("d1", DocOpKind::Delete)]);
    write(&source, &mut raft, vec![op("d2", DocOpKind::Index { source: br#"{"n":-2}"#.to_vec(), create: false })]);
    write(&source, &mut raft, vec![op("d99", DocOpKind::Index { source: br#"{"n":99}"#.to_vec(), create: false })]);
    let pinned = source.pin_commit().unwrap();
    let have = target.committed_files().unwrap();
    assert_ne!(have, pinned.manifest().file_names());
    target.release().unwrap();
    let marker = target.committed_marker();
    drop(target);
    let _ = std::fs::remove_dir_all(&staged);
    let (files, _) = copy_missing(&pinned, &have, &staged);
    let shared = have.intersection(&pinned.manifest().file_names()).count();
    assert!(shared > 0);
    assert_eq!(files, pinned.manifest().files.len() - shared, "only files the copy lacks are copied");
    install_commit(&dst_dir, &staged, pinned.manifest(), marker).unwrap();
    let target = open(&dst_dir, "dst");
    assert_eq!(target.committed_files().unwrap(), pinned.manifest().file_names());
    let ids = ["d1", "d2", "d99", "d3"];
    assert_eq!(ids_and_versions(&target, &ids), ids_and_versions(&source, &ids));
    assert!(target.get("d1").is_none());
    assert_eq!(target.doc_count(), 50);
}

#[test]
fn a_pinned_commit_survives_merges_on_the_source() {
    let tmp = tempfile::tempdir().unwrap();
    let source = open(tmp.path(), "src");
    let mut raft = 0;
    for i in 0..20 {
        write(
            &source,
            &mut raft,
            vec![op(&format!("d{i}"), DocOpKind::Index { source: br#"{"a":1}"#.to_vec(), create: false })],
        );
    }
    let pinned = source.pin_commit().unwrap();
    // More commits let the merge policy merge the pinned segments away; then wait for the merges.
    for i in 20..60 {
        write(
            &source,
            &mut raft,
            vec![op(&format!("d{i}"), DocOpKind::Index { source: br#"{"a":1}"#.to_vec(), create: false })],
        );
    }
    source.release().unwrap();
    for f in &pinned.manifest().files {
        let data = pinned.read_chunk(&f.name, 0, f.length as usize).unwrap();
        assert_eq!(crc32fast::hash(&data), f.crc32, "{} still readable and intact", f.name);
    }
    assert!(pinned.read_chunk("../../etc/passwd", 0, 10).is_err(), "only files of the commit are served");
}

/// Peer recovery: a running copy that fell behind (and wrote things of its own that were never
/// committed by the group) installs the leader's snapshot commit in place, with the leader's raft
/// position, and keeps applying after it.
#[test]
fn a_running_copy_installs_the_leaders_snapshot_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let (leader_dir, copy_dir, staging_dir) = (tmp.path().join("l"), tmp.path().join("c"), tmp.path().join("s"));
    let leader = open(&leader_dir, "idx");
    let copy = open(&copy_dir, "idx");
    let mut raft = 0;
    for i in 0..30 {
        let doc =
            || op(&format!("d{i}"), DocOpKind::Index { source: format!(r#"{{"n":{i}}}"#).into_bytes(), create: false });
        write(&leader, &mut raft, vec![doc()]);
        if i < 10 {
            let mut copy_raft = raft - 1;
            write(&copy, &mut copy_raft, vec![doc()]);
        }
    }
    // Something only the copy has, uncommitted: the install must drop it.
    copy.apply(
        &ShardCommand::Ops {
            now_millis: 1,
            ops: vec![op("stray", DocOpKind::Index { source: b"{}".to_vec(), create: false })],
        },
        1,
        "1-999".into(),
    );
    let held = leader.flush_and_hold().unwrap().expect("an on-disk shard holds its snapshot commit");
    let pinned = leader.pin_held(&held).unwrap();
    assert_eq!(held.marker(), pinned.manifest().marker());
    let marker = pinned.manifest().marker();
    assert_eq!(marker.as_deref(), Some("1-30"));
    assert_eq!(leader.committed_marker(), marker, "the pinned commit is the snapshot just made");

    let needed = files_to_fetch(&copy_dir, &copy.committed_files().unwrap(), pinned.manifest());
    assert_eq!(needed.len(), pinned.manifest().files.len(), "each copy writes its own segments");
    let staging = Staging::open(&staging_dir, &needed).unwrap();
    let (chunks, _) = staging.missing_chunks(&needed, 1000);
    for (name, offset, len) in chunks {
        staging.write_chunk(&name, offset, &pinned.read_chunk(&name, offset, len as usize).unwrap()).unwrap();
    }
    staging.verify(&needed).unwrap();
    let searcher_before = copy.searcher();
    copy.install_commit(&staging_dir, pinned.manifest(), marker.clone()).unwrap();

    assert_eq!(copy.committed_marker(), marker, "the copy resumes at the leader's raft position");
    assert_eq!(copy.applied_marker(), marker);
    assert!(copy.get("stray").is_none());
    let ids: Vec<String> = (0..30).map(|i| format!("d{i}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(ids_and_versions(&copy, &ids), ids_and_versions(&leader, &ids));
    assert_eq!(copy.max_seq_no(), leader.max_seq_no());
    assert_eq!(copy.doc_count(), 30, "searches see the new commit at once");
    assert_eq!(searcher_before.num_docs(), 10, "a search that started before still sees the old commit whole");
    drop(searcher_before);

    // Both carry on with the same next entry and stay identical.
    let next = || vec![op("d5", DocOpKind::Index { source: br#"{"n":-5}"#.to_vec(), create: false })];
    let mut copy_raft = raft;
    write(&leader, &mut raft, next());
    write(&copy, &mut copy_raft, next());
    assert_eq!(ids_and_versions(&copy, &["d5"]), ids_and_versions(&leader, &["d5"]));
    copy.flush().unwrap();
    copy.release().unwrap();
    drop(copy);
    let reopened = open(&copy_dir, "idx");
    assert_eq!(reopened.committed_marker().as_deref(), Some("1-31"));
    assert_eq!(reopened.doc_count(), 30);
}
