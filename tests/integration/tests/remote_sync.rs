//! Cross-cluster sync between two real `tern` processes: a leader cluster and a follower cluster.
//!
//! What is promised: the follower converges to the leader's documents (same ids, sources, versions
//! and seq_nos) within `sync_interval` plus copy time, updates and deletes that keep the count the
//! same included; follower indices refuse writes until `stop_remote_sync`; patterns follow existing
//! and new indices; the throttle holds; a copy interrupted by `kill -9` resumes; a leader outage is
//! reported and survived; switchover and sync back work with the same index names.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_integration_tests::{HttpClient, TestProcess, Value, free_port, json, wait_until};

const CONVERGE: Duration = Duration::from_secs(40);

struct Cluster {
    process: TestProcess,
    port: u16,
}

impl Cluster {
    fn start(name: &str) -> Cluster {
        let port = free_port();
        let process = TestProcess::start(&[
            &format!("http.port={port}"),
            &format!("cluster.name={name}"),
            &format!("node.name={name}-1"),
        ]);
        Cluster { process, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl std::ops::Deref for Cluster {
    type Target = HttpClient;
    fn deref(&self) -> &HttpClient {
        self.process.client()
    }
}

/// Configures `leader` as remote `name` on `follower`. The first seed is a dead address, so every
/// test also exercises failover between seeds.
fn connect(follower: &HttpClient, name: &str, leader: &Cluster) {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let v = follower.put_ok(
        "/_cluster/settings",
        json!({"persistent": {"cluster": {"remote.rest": {name: {"seeds": [dead, leader.url()], "username": "elastic", "password": "s3cret"}}}}}),
    );
    assert_eq!(v["acknowledged"], true, "{v}");
    assert_eq!(v["persistent"]["cluster"]["remote"]["rest"][name]["password"], "*****", "{v}");
}

/// `_id -> (_version, _seq_no, _source)` of every document, as search sees it.
fn docs(c: &HttpClient, index: &str) -> BTreeMap<String, (i64, i64, Value)> {
    let (status, v) =
        c.post(&format!("/{index}/_search"), json!({"size": 10000, "version": true, "seq_no_primary_term": true}));
    if status != 200 {
        return BTreeMap::new();
    }
    v["hits"]["hits"]
        .as_array()
        .map(|hits| {
            hits.iter()
                .map(|h| {
                    let id = h["_id"].as_str().unwrap_or_default().to_string();
                    (
                        id,
                        (
                            h["_version"].as_i64().unwrap_or(-1),
                            h["_seq_no"].as_i64().unwrap_or(-1),
                            h["_source"].clone(),
                        ),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn wait_converged(leader: &HttpClient, li: &str, follower: &HttpClient, fi: &str) -> Duration {
    let started = Instant::now();
    leader.refresh(li);
    let want = docs(leader, li);
    assert!(!want.is_empty() || li.is_empty(), "leader has documents");
    wait_until(CONVERGE, &format!("follower [{fi}] to match leader [{li}]"), |last| {
        let have = docs(follower, fi);
        if have == want {
            return Some(());
        }
        *last = format!("leader {} docs, follower {} docs", want.len(), have.len());
        None
    });
    started.elapsed()
}

fn index_docs(c: &HttpClient, index: &str, from: usize, n: usize) {
    let mut lines = Vec::new();
    for i in from..from + n {
        lines.push(json!({"index": {"_index": index, "_id": format!("d{i}")}}));
        lines.push(json!({"n": i, "title": format!("document number {i}"), "tag": format!("t{}", i % 7)}));
    }
    for chunk in lines.chunks(2000) {
        c.bulk_ok("/_bulk", chunk);
    }
}

fn shard_stats(c: &HttpClient, index: &str) -> Vec<Value> {
    let v = c.get_ok(&format!("/{index}/sync_stats"));
    let shards = v["indices"][index]["shards"].as_object().cloned().unwrap_or_default();
    shards.values().flat_map(|copies| copies.as_array().cloned().unwrap_or_default()).collect()
}

fn total(stats: &[Value], key: &str) -> u64 {
    stats.iter().map(|s| s[key].as_u64().unwrap_or(0)).sum()
}

#[test]
fn follower_converges_is_read_only_and_becomes_writable_on_stop() {
    let leader = Cluster::start("leader");
    let follower = Cluster::start("follower");
    connect(&follower, "leader1", &leader);
    let info = follower.get_ok("/_remote/rest/info");
    assert_eq!(info["leader1"]["connected"], true, "{info}");
    assert_eq!(info["leader1"]["cluster_name"], "leader", "{info}");
    let settings = follower.get_ok("/_cluster/settings");
    assert_eq!(settings["persistent"]["cluster"]["remote"]["rest"]["leader1"]["password"], "*****", "{settings}");

    leader.put_ok("/data1", json!({"settings": {"number_of_shards": 2, "number_of_replicas": 0}, "mappings": {"properties": {"title": {"type": "text"}}}}));
    index_docs(&leader, "data1", 0, 300);
    let v = follower.put_ok(
        "/start_remote_sync",
        json!({"remote_cluster": "leader1", "remote_index": "data1", "local_index": "data1_follower", "settings": {"index.remote_sync.sync_interval": "1s"}}),
    );
    assert_eq!(v["acknowledged"], true);
    wait_converged(&leader, "data1", &follower, "data1_follower");
    let fsettings = follower.get_ok("/data1_follower/_settings?flat_settings=true");
    assert_eq!(fsettings["data1_follower"]["settings"]["index.number_of_shards"], "2");
    let mapping = follower.get_ok("/data1_follower/_mapping");
    assert_eq!(mapping["data1_follower"]["mappings"]["properties"]["title"]["type"], "text");
    // Search on the follower works like on the leader, text analysis included.
    let hits = follower.post_ok("/data1_follower/_search", json!({"query": {"match": {"title": "number 42"}}}));
    assert_eq!(hits["hits"]["hits"][0]["_id"], "d42", "{hits}");

    // Updates and deletes that keep the document count the same still propagate.
    let mut lines = Vec::new();
    for i in 0..20 {
        lines.push(json!({"index": {"_index": "data1", "_id": format!("d{i}")}}));
        lines.push(json!({"n": -(i as i64), "title": "updated"}));
    }
    lines.push(json!({"delete": {"_index": "data1", "_id": "d100"}}));
    lines.push(json!({"index": {"_index": "data1", "_id": "new1"}}));
    lines.push(json!({"n": 1000, "title": "replaces d100"}));
    leader.bulk_ok("/_bulk", &lines);
    assert_eq!(leader.count("data1"), 300);
    wait_converged(&leader, "data1", &follower, "data1_follower");

    // Read-only while synced.
    let (status, err) = follower.put("/data1_follower/_doc/x", json!({"a": 1}));
    assert_eq!(status, 403, "{err}");
    assert_eq!(err["error"]["type"], "cluster_block_exception", "{err}");

    // sync_stats: the seed's fields per copy, plus state and lag.
    let stats = shard_stats(&follower, "data1_follower");
    assert_eq!(stats.len(), 2);
    for s in &stats {
        for key in [
            "primary",
            "total_synced_times",
            "total_empty_times",
            "total_synced_files",
            "total_synced_bytes",
            "total_paused_nanos",
            "total_paused_times",
            "state",
            "last_error",
            "last_sync_at",
            "lag_millis",
        ] {
            assert!(s.get(key).is_some(), "missing {key} in {s}");
        }
        for key in ["files_count", "finished_files_count", "bytes", "finished_bytes"] {
            assert!(s["current"].get(key).is_some(), "missing current.{key} in {s}");
        }
        assert_eq!(s["state"], "following", "{s}");
    }
    assert!(total(&stats, "total_synced_files") > 0);
    assert!(total(&stats, "total_synced_bytes") > 0);
    // Idle rounds find nothing to copy.
    let before = total(&stats, "total_empty_times");
    wait_until(Duration::from_secs(10), "an empty round", |_| {
        (total(&shard_stats(&follower, "data1_follower"), "total_empty_times") > before).then_some(())
    });

    // Stop: the index becomes writable and no longer follows.
    let v = follower.put_ok("/data1_follower/stop_remote_sync", json!({}));
    assert_eq!(v["acknowledged"], true);
    let (status, v) = follower.put("/data1_follower/_doc/x?refresh=true", json!({"a": 1}));
    assert_eq!(status, 201, "{v}");
    index_docs(&leader, "data1", 1000, 5);
    leader.refresh("data1");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(follower.count("data1_follower"), 301, "no more syncing after stop");
}

#[test]
fn bad_input_gets_clear_es_errors() {
    let leader = Cluster::start("leader");
    let follower = Cluster::start("follower");
    leader.put_ok("/src", json!({"settings": {"number_of_shards": 1}}));
    let (status, v) = follower
        .put("/start_remote_sync", json!({"remote_cluster": "nope", "remote_index": "src", "local_index": "dst"}));
    assert_eq!((status, v["error"]["type"].as_str()), (404, Some("no_such_remote_cluster_exception")), "{v}");
    connect(&follower, "leader1", &leader);
    let (status, v) = follower.put(
        "/start_remote_sync",
        json!({"remote_cluster": "leader1", "remote_index": "src", "local_index": "dst", "settings": {"number_of_shards": 3}}),
    );
    assert_eq!(status, 400, "{v}");
    assert!(v["error"]["reason"].as_str().unwrap_or_default().contains("index.number_of_shards"), "{v}");
    let (status, v) = follower
        .put("/start_remote_sync", json!({"remote_cluster": "leader1", "remote_index": "src", "local_index": "Bad"}));
    assert_eq!((status, v["error"]["type"].as_str()), (400, Some("invalid_index_name_exception")), "{v}");
    let (status, v) = follower.put(
        "/start_remote_sync",
        json!({"remote_cluster": "leader1", "remote_index": "missing", "local_index": "dst"}),
    );
    assert_eq!((status, v["error"]["type"].as_str()), (404, Some("index_not_found_exception")), "{v}");
    let (status, v) = follower.put("/start_remote_sync", json!({"remote_cluster": "leader1", "remote_index": "src"}));
    assert_eq!((status, v["error"]["type"].as_str()), (400, Some("action_request_validation_exception")), "{v}");
    let (status, v) = follower.put(
        "/start_remote_sync",
        json!({"remote_cluster": "leader1", "remote_index": "src", "local_index": "dst", "extra": 1}),
    );
    assert_eq!((status, v["error"]["type"].as_str()), (400, Some("x_content_parse_exception")), "{v}");
    let (status, v) = follower.put("/auto_sync/pattern/p1", json!({"remote_cluster": "leader1", "remote_index_patterns": "log*", "local_index_pattern": "{{remote_index}}-SYNC"}));
    assert_eq!(status, 400, "{v}");
    let (status, v) = follower.put(
        "/auto_sync/pattern/p1",
        json!({"remote_cluster": "nope", "remote_index_patterns": "log*", "local_index_pattern": "{{remote_index}}"}),
    );
    assert_eq!(status, 404, "{v}");
    let (status, v) = follower.get("/auto_sync/pattern/none", ());
    assert_eq!((status, v["error"]["type"].as_str()), (404, Some("resource_not_found_exception")), "{v}");
    let (status, v) = follower.put("/remote_sync_cluster_settings_check/_doc/1", json!({}));
    assert_eq!(status, 201, "{v}");
    let (status, v) = follower.put("/remote_sync_cluster_settings_check/stop_remote_sync", json!({}));
    assert_eq!(status, 400, "a plain index is not a follower: {v}");
    let (status, v) =
        follower.put("/_cluster/settings", json!({"persistent": {"remote_sync.max_concurrent_file_chunks": 500}}));
    assert_eq!(status, 400, "{v}");
    let (status, v) =
        follower.put("/_cluster/settings", json!({"persistent": {"cluster.remote.rest.x.seeds": ["not a url"]}}));
    assert_eq!((status, v["error"]["type"].as_str()), (400, Some("illegal_argument_exception")), "{v}");
    let (status, v) = follower.put("/_cluster/settings", json!({"persistent": {"cluster.remote.rest.x.bogus": "1"}}));
    assert_eq!(status, 400, "{v}");
    // The node is fine after all of it.
    assert_eq!(follower.get("/", ()).0, 200);
}

#[test]
fn auto_sync_patterns_and_metadata_sync() {
    let leader = Cluster::start("leader");
    let follower = Cluster::start("follower");
    connect(&follower, "leader1", &leader);
    leader.put_ok(
        "/log1",
        json!({"settings": {"number_of_shards": 1, "number_of_replicas": 0}, "aliases": {"logs-read": {}}}),
    );
    index_docs(&leader, "log1", 0, 50);
    leader.put_ok("/other", json!({}));
    let v = follower.put_ok(
        "/auto_sync/pattern/pattern1",
        json!({"remote_cluster": "leader1", "remote_index_patterns": "log*", "local_index_pattern": "{{remote_index}}-sync",
               "apply_exist_index": true, "settings_sync_enable": true, "alias_sync_enable": true, "state_sync_enable": true,
               "settings": {"index.remote_sync.sync_interval": "1s"}}),
    );
    assert_eq!(v["acknowledged"], true);
    let patterns = follower.get_ok("/auto_sync/pattern");
    assert_eq!(patterns["patterns"][0]["name"], "pattern1", "{patterns}");
    assert_eq!(patterns["patterns"][0]["pattern"]["remote_index_patterns"], json!(["log*"]), "{patterns}");
    assert_eq!(patterns["patterns"][0]["pattern"]["local_index_pattern"], "{{remote_index}}-sync");
    let one = follower.get_ok("/auto_sync/pattern/pattern1");
    assert_eq!(one["patterns"].as_array().map(Vec::len), Some(1));
    let (status, _) = follower.put(
        "/auto_sync/pattern/pattern1",
        json!({"remote_cluster": "leader1", "remote_index_patterns": "x*", "local_index_pattern": "{{remote_index}}"}),
    );
    assert_eq!(status, 400, "a pattern cannot be modified");

    // Existing index.
    wait_converged(&leader, "log1", &follower, "log1-sync");
    // New index.
    leader.put_ok("/log2", json!({"settings": {"number_of_shards": 1}}));
    index_docs(&leader, "log2", 0, 10);
    wait_converged(&leader, "log2", &follower, "log2-sync");
    assert_eq!(follower.get("/other-sync", ()).0, 404, "non-matching indices are not synced");
    let stats = follower.get_ok("/auto_sync/stats");
    assert!(stats["success_count"].as_u64().unwrap_or(0) >= 2, "{stats}");

    // Settings, aliases and state follow the leader.
    leader.put_ok("/log1/_settings", json!({"index": {"max_result_window": 5000}}));
    leader.post_ok("/_aliases", json!({"actions": [{"add": {"index": "log1", "alias": "logs-all"}}, {"remove": {"index": "log1", "alias": "logs-read"}}]}));
    wait_until(CONVERGE, "settings and aliases to sync", |last| {
        let s = follower.get_ok("/log1-sync/_settings?flat_settings=true");
        let a = follower.get_ok("/log1-sync/_alias");
        *last = format!("{s} {a}");
        let ok = s["log1-sync"]["settings"]["index.max_result_window"] == "5000"
            && a["log1-sync"]["aliases"].get("logs-all").is_some()
            && a["log1-sync"]["aliases"].get("logs-read").is_none();
        ok.then_some(())
    });
    leader.post_ok("/log1/_close", json!({}));
    wait_until(CONVERGE, "the follower index to close", |last| {
        let v = follower.get_ok("/_cat/indices/log1-sync?format=json&h=status");
        *last = v.to_string();
        (v[0]["status"] == "close").then_some(())
    });
    leader.post_ok("/log1/_open", json!({}));
    wait_until(CONVERGE, "the follower index to open", |_| {
        let v = follower.get_ok("/_cat/indices/log1-sync?format=json&h=status");
        (v[0]["status"] == "open").then_some(())
    });

    // Deleting the pattern stops new tasks only.
    assert_eq!(follower.delete("/auto_sync/pattern/pattern1", ()).0, 200);
    leader.put_ok("/log3", json!({}));
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(follower.get("/log3-sync", ()).0, 404);
    index_docs(&leader, "log2", 100, 5);
    wait_converged(&leader, "log2", &follower, "log2-sync");
    let v = follower.put_ok("/log*/stop_remote_sync", json!({}));
    assert_eq!(v["acknowledged"], true);
    let (status, _) = follower.put("/log2-sync/_doc/1", json!({"a": 1}));
    assert_eq!(status, 201);
}

/// One leader index of a few MB, copied at 1 MB/s: the rate holds within 10%, and a follower killed
/// mid-copy resumes with what it had staged instead of starting over, while the leader keeps
/// writing during the copy. Merges are held off on the leader until the resume is checked: a merge
/// that rewrites the staged segment legitimately restarts its copy (the pinned commit surviving
/// merges is `commit_files.rs`'s `a_pinned_commit_survives_merges_on_the_source`); then the
/// leader merges again while the follower keeps syncing.
#[test]
fn throttled_copy_resumes_after_kill_and_survives_leader_merges() {
    let leader = Cluster::start("leader");
    let mut follower = Cluster::start("follower");
    connect(&follower, "leader1", &leader);
    leader.put_ok(
        "/big",
        json!({"settings": {"number_of_shards": 1, "number_of_replicas": 0, "index.merge.enabled": false}}),
    );
    // High-entropy text, so the commit stays several MB after tantivy's compression.
    let mut seed: u64 = 0x2545F4914F6CDD1D;
    let mut word = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        format!("{:x}", seed & 0xffff_ffff_ffff)
    };
    let mut lines = Vec::new();
    for i in 0..16000 {
        let body: Vec<String> = (0..30).map(|_| word()).collect();
        lines.push(json!({"index": {"_index": "big", "_id": format!("b{i}")}}));
        lines.push(json!({"n": i, "body": body.join(" ")}));
    }
    for chunk in lines.chunks(4000) {
        leader.bulk_ok("/_bulk", chunk);
    }
    leader.post_ok("/big/_flush", json!({}));
    follower.put_ok("/_cluster/settings", json!({"persistent": {"remote_sync.max_bytes_per_sec": "1mb", "remote_sync.chunk_size": "1mb", "remote_sync.max_concurrent_file_chunks": 4}}));
    follower.put_ok("/start_remote_sync", json!({"remote_cluster": "leader1", "remote_index": "big", "local_index": "big", "settings": {"index.remote_sync.sync_interval": "1s"}}));
    // The leader writes and commits while the copy of its pinned commit is in flight.
    for round in 0..8 {
        index_docs(&leader, "big", 200_000 + round * 10, 10);
        leader.refresh("big");
    }

    // Kill the follower once part of the commit is staged.
    let (staged, total_bytes) = wait_until(Duration::from_secs(30), "part of the copy to be staged", |last| {
        let s = shard_stats(&follower, "big");
        let (done, all) =
            (s[0]["current"]["finished_bytes"].as_u64().unwrap_or(0), s[0]["current"]["bytes"].as_u64().unwrap_or(0));
        *last = s[0].to_string();
        (all > 0 && done >= 2 << 20).then_some((done, all))
    });
    assert!(total_bytes > 3 << 20, "the index is big enough to measure ({total_bytes} bytes)");
    follower.process.kill9();
    // The leader keeps writing while the follower is down.
    for round in 0..5 {
        index_docs(&leader, "big", 100_000 + round * 10, 10);
        leader.refresh("big");
    }
    follower.process.restart();
    // Counters are per process: after the restart only what was missing is fetched.
    let resumed_at = Instant::now();
    let (t0, resumed) = wait_until(Duration::from_secs(60), "the copy to resume and finish", |last| {
        let s = shard_stats(&follower, "big");
        *last = s.first().map(|s| s.to_string()).unwrap_or_default();
        let s = s.first()?;
        (s["total_synced_bytes"].as_u64().unwrap_or(0) > 0).then(|| (resumed_at.elapsed(), s.clone()))
    });
    let fetched = resumed["total_synced_bytes"].as_u64().unwrap();
    assert!(
        fetched + staged / 2 <= total_bytes + (1 << 20),
        "resumed: fetched {fetched} of {total_bytes} after {staged} were staged"
    );
    assert!(resumed["total_paused_times"].as_u64().unwrap_or(0) > 0, "the throttle paused: {resumed}");
    let rate = fetched as f64 / t0.as_secs_f64();
    assert!(rate <= 1.1 * 1048576.0, "throttle exceeded: {rate:.0} B/s");
    wait_converged(&leader, "big", &follower, "big");
    // Merges on the leader (new files replacing old ones) while the follower keeps syncing.
    leader.put_ok("/big/_settings", json!({"index.merge.enabled": true}));
    for round in 0..10 {
        index_docs(&leader, "big", 300_000 + round * 10, 10);
        leader.refresh("big");
    }
    wait_converged(&leader, "big", &follower, "big");

    // Throttle precision on a clean copy: the bytes that landed after the first chunk, over the time
    // from the first chunk to the last (steady state: earlier reservations on the node's pacing
    // clock, e.g. of the cancelled round above, do not count).
    follower.put_ok("/big/stop_remote_sync", json!({}));
    follower.delete("/big", ());
    follower.put_ok("/start_remote_sync", json!({"remote_cluster": "leader1", "remote_index": "big", "local_index": "big2", "settings": {"index.remote_sync.sync_interval": "1s"}}));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut first: Option<(Instant, u64)> = None;
    let (elapsed, bytes) = loop {
        assert!(Instant::now() < deadline, "the throttled copy did not finish");
        let s = shard_stats(&follower, "big2");
        let (done, all) = s
            .first()
            .map(|s| {
                (s["current"]["finished_bytes"].as_u64().unwrap_or(0), s["current"]["bytes"].as_u64().unwrap_or(0))
            })
            .unwrap_or((0, 0));
        if done > 0 && first.is_none() {
            first = Some((Instant::now(), done));
        }
        if let Some((t, at_first)) = first
            && all > 0
            && done >= all
        {
            break (t.elapsed(), all - at_first);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let rate = bytes as f64 / elapsed.as_secs_f64();
    println!("throttled copy: {bytes} bytes in {elapsed:?} = {rate:.0} B/s (limit 1048576)");
    assert!((0.9 * 1048576.0..=1.1 * 1048576.0).contains(&rate), "rate {rate:.0} B/s not within 10% of 1mb/s");
}

/// A TLS-terminating proxy on loopback in front of `target_port`, with a fresh self-signed
/// certificate (made by the `openssl` CLI) for `127.0.0.1`.
struct TlsProxy {
    port: u16,
    ca: PathBuf,
    _dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

fn tls_proxy(target_port: u16) -> TlsProxy {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let openssl = |args: &[&str]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run openssl");
        assert!(status.success(), "openssl {args:?} failed");
    };
    // A CA, and a server certificate for 127.0.0.1 signed by it.
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=tern-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
    ]);
    std::fs::write(
        p("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ]);
    let (cert, key) = (p("cert.pem"), p("key.pem"));
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(&cert).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(&key).unwrap();
    let config = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0))).unwrap();
    let port = listener.local_addr().unwrap().port();
    runtime.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut upstream) = tokio::net::TcpStream::connect(("127.0.0.1", target_port)).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    });
    TlsProxy { port, ca: p("ca.pem"), _dir: dir, _runtime: runtime }
}

#[test]
fn https_seeds_with_a_trusted_ca() {
    let leader = Cluster::start("leader");
    let follower = Cluster::start("follower");
    let proxy = tls_proxy(leader.port);
    leader.put_ok("/secure", json!({"settings": {"number_of_shards": 1}}));
    index_docs(&leader, "secure", 0, 20);
    // Without the CA the handshake fails and the remote shows as not connected.
    follower.put_ok(
        "/_cluster/settings",
        json!({"persistent": {"cluster.remote.rest.tls.seeds": [format!("https://127.0.0.1:{}", proxy.port)]}}),
    );
    let info = follower.get_ok("/_remote/rest/info");
    assert_eq!(info["tls"]["connected"], false, "{info}");
    follower.put_ok(
        "/_cluster/settings",
        json!({"persistent": {"cluster.remote.rest.tls.ssl.certificate_authorities": proxy.ca.display().to_string()}}),
    );
    let info = follower.get_ok("/_remote/rest/info");
    assert_eq!(info["tls"]["connected"], true, "{info}");
    follower.put_ok("/start_remote_sync", json!({"remote_cluster": "tls", "remote_index": "secure", "local_index": "secure", "settings": {"index.remote_sync.sync_interval": "1s"}}));
    wait_converged(&leader, "secure", &follower, "secure");
}

#[test]
fn leader_outage_then_switchover_and_reverse_sync() {
    let mut leader = Cluster::start("leader");
    let follower = Cluster::start("follower");
    connect(&follower, "leader1", &leader);
    leader.put_ok("/orders", json!({"settings": {"number_of_shards": 2, "number_of_replicas": 0}}));
    index_docs(&leader, "orders", 0, 100);
    follower.put_ok(
        "/auto_sync/pattern/all",
        json!({"remote_cluster": "leader1", "remote_index_patterns": ["orders*"], "local_index_pattern": "{{remote_index}}",
               "settings": {"index.remote_sync.sync_interval": "1s"}}),
    );
    wait_converged(&leader, "orders", &follower, "orders");

    // Leader down: the follower keeps serving reads and reports the error.
    leader.process.kill9();
    wait_until(Duration::from_secs(15), "the outage to show in sync_stats", |last| {
        let s = shard_stats(&follower, "orders");
        *last = s.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" ");
        s.iter().all(|s| s["state"] == "failing" && s["last_error"].is_string()).then_some(())
    });
    assert_eq!(follower.count("orders"), 100);
    let info = follower.get_ok("/_remote/rest/info");
    assert_eq!(info["leader1"]["connected"], false, "{info}");
    assert!(info["leader1"]["last_error"].is_string(), "{info}");

    // Leader back: sync resumes.
    leader.process.restart();
    index_docs(&leader, "orders", 100, 20);
    wait_converged(&leader, "orders", &follower, "orders");

    // Switchover (the seed's runbook): delete patterns, stop sync, write to the former follower.
    leader.process.kill9();
    assert_eq!(follower.delete("/auto_sync/pattern/all", ()).0, 200);
    follower.put_ok("/*/stop_remote_sync", json!({}));
    index_docs(&follower, "orders", 500, 30);
    follower.refresh("orders");
    assert_eq!(follower.count("orders"), 150);

    // The old leader returns and syncs back from the new leader, same index names.
    leader.process.restart();
    connect(&leader, "leader2", &follower);
    leader.put_ok(
        "/start_remote_sync",
        json!({"remote_cluster": "leader2", "remote_index": "orders", "local_index": "orders",
               "settings": {"index.remote_sync.sync_interval": "1s"}}),
    );
    wait_converged(&follower, "orders", &leader, "orders");
    let stats = shard_stats(&leader, "orders");
    let copied = total(&stats, "total_synced_files");
    let (status, _) = leader.put("/orders/_doc/z", json!({"a": 1}));
    assert_eq!(status, 403, "the old leader is a read-only follower now");
    println!("sync back copied {copied} files");
}

/// `_id -> (_version, _seq_no, _source)` of one shard copy: shard `shard` as the node behind `c`
/// holds it (`preference=_shards:N|_only_local`), or `None` when it holds no copy.
fn copy_docs(c: &HttpClient, index: &str, shard: u32) -> Option<BTreeMap<String, (i64, i64, Value)>> {
    let (status, v) = c.post(
        &format!("/{index}/_search?preference=_shards:{shard}|_only_local"),
        json!({"size": 10000, "version": true, "seq_no_primary_term": true}),
    );
    if status != 200 || v["_shards"]["successful"] != 1 {
        return None;
    }
    Some(
        v["hits"]["hits"]
            .as_array()?
            .iter()
            .map(|h| {
                let n = |k: &str| h[k].as_i64().unwrap_or(-1);
                (h["_id"].as_str().unwrap_or_default().to_string(), (n("_version"), n("_seq_no"), h["_source"].clone()))
            })
            .collect(),
    )
}

/// A follower cluster of three nodes: every copy of every follower shard (one replica, so two
/// copies on different nodes) converges to the leader's shard, every node serves the index, writes
/// are refused through any node, and a pattern starts following a new leader index once.
#[test]
fn a_multi_node_follower_syncs_every_copy() {
    use tern_integration_tests::{CLUSTER_TIMEOUT, TestCluster};
    let leader = Cluster::start("lead-multi");
    leader.put_ok("/events", json!({"settings": {"number_of_shards": 2, "number_of_replicas": 0}}));
    index_docs(&leader, "events", 0, 200);
    let followers = TestCluster::start(3, &[]);
    followers.wait_formed(CLUSTER_TIMEOUT);
    connect(followers.node(0).client(), "leader1", &leader);
    let v = followers.node(1).put_ok(
        "/start_remote_sync",
        json!({"remote_cluster": "leader1", "remote_index": "events", "local_index": "events",
               "settings": {"index.remote_sync.sync_interval": "1s", "index.number_of_replicas": 1}}),
    );
    assert_eq!(v["acknowledged"], true, "{v}");
    for i in 0..3 {
        wait_converged(&leader, "events", followers.node(i).client(), "events");
    }
    // Updates and deletes that keep the count reach every copy.
    for id in 0..20 {
        leader.put_ok(&format!("/events/_doc/d{id}"), json!({"n": id, "updated": true}));
    }
    leader.delete("/events/_doc/d150", ());
    leader.put_ok("/events/_doc/new", json!({"n": -1}));
    leader.refresh("events");
    for shard in 0..2u32 {
        let want = copy_docs(&leader, "events", shard).expect("the leader's shard");
        let mut holders = 0;
        wait_until(CONVERGE, &format!("every copy of follower shard {shard} to match the leader"), |last| {
            holders = 0;
            for i in 0..3 {
                let c = followers.node(i).client();
                c.refresh("events");
                if let Some(have) = copy_docs(c, "events", shard) {
                    holders += 1;
                    if have != want {
                        *last = format!("node-{}: {} docs vs {}", i + 1, have.len(), want.len());
                        return None;
                    }
                }
            }
            (holders == 2).then_some(())
        });
    }
    // Read-only through every node, copy or not.
    for i in 0..3 {
        let (status, body) = followers.node(i).put("/events/_doc/x", json!({"n": 0}));
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["type"], "cluster_block_exception", "{body}");
    }
    let stats = followers.node(2).get_ok("/events/sync_stats");
    println!("sync_stats on node-3: {stats}");
    // A pattern on a multi-node follower follows a new leader index, once.
    followers.node(2).put_ok(
        "/auto_sync/pattern/multi",
        json!({"remote_cluster": "leader1", "remote_index_patterns": "metrics*", "local_index_pattern": "{{remote_index}}",
               "settings": {"index.remote_sync.sync_interval": "1s"}}),
    );
    leader.put_ok("/metrics-1", json!({"settings": {"number_of_shards": 1}}));
    index_docs(&leader, "metrics-1", 0, 30);
    for i in 0..3 {
        wait_converged(&leader, "metrics-1", followers.node(i).client(), "metrics-1");
    }
    let (_, cat) = followers.node(0).get("/_cat/indices/metrics*?format=json&h=index", ());
    assert_eq!(cat.as_array().map(Vec::len), Some(1), "{cat}");
}
