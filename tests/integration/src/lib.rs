//! Test fixtures for tern's end-to-end tests.
//!
//! Two ways to talk to a node over real HTTP:
//!
//! - [`TestApp`]: a node and its router running in this process, served on `127.0.0.1:0` by a
//!   background thread with its own tokio runtime. One instance is shared by every test of a test
//!   binary ([`TestApp::shared`]), so each test must work on its own indices: take names from
//!   [`TestApp::unique_index`] (the meilisearch server-fixture pattern). Starting a node costs far more
//!   than a test, and sharing one also shows whether a test's bad input harms the others.
//! - [`TestProcess`]: the real `tern` binary in a child process with its own data directory, for what
//!   only a process can show: `kill -9`, restarts on the same data, SIGTERM, startup settings. The
//!   binary is `$TERN_BIN`, else `target/debug/tern` of this workspace; the fixture does not build it.
//!
//! Every wait is on observable state (a log line, a closed pipe, an HTTP answer), never a blind sleep.
//! Requests are blocking (`reqwest::blocking`), so tests are plain `#[test]` functions and concurrency
//! in a test is plain threads.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use reqwest::header::HeaderMap;
pub use serde_json::{Value, json};

/// How long a node may take to print `"message":"started"`.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a SIGTERM'd node may take to exit.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Per-request timeout of the test client.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A request body.
#[derive(Debug, Clone, Default)]
pub enum Body {
    #[default]
    Empty,
    /// Sent as `application/json`.
    Json(Value),
    /// Bytes sent as they are, with a content type (or none).
    Raw { bytes: Vec<u8>, content_type: Option<String> },
}

impl Body {
    /// A JSON body given as text, sent byte for byte (for malformed JSON).
    pub fn json_text(text: impl Into<String>) -> Body {
        Body::Raw { bytes: text.into().into_bytes(), content_type: Some("application/json".into()) }
    }

    /// An NDJSON body (`_bulk`), sent byte for byte.
    pub fn ndjson(text: impl Into<String>) -> Body {
        Body::Raw { bytes: text.into().into_bytes(), content_type: Some("application/x-ndjson".into()) }
    }

    /// Bytes with an explicit content type.
    pub fn raw(bytes: impl Into<Vec<u8>>, content_type: &str) -> Body {
        Body::Raw { bytes: bytes.into(), content_type: Some(content_type.to_string()) }
    }

    /// An NDJSON bulk body built from JSON lines (each line followed by `\n`).
    pub fn bulk(lines: &[Value]) -> Body {
        let mut text = String::new();
        for l in lines {
            text.push_str(&l.to_string());
            text.push('\n');
        }
        Body::ndjson(text)
    }
}

impl From<Value> for Body {
    fn from(v: Value) -> Body {
        Body::Json(v)
    }
}

impl From<()> for Body {
    fn from(_: ()) -> Body {
        Body::Empty
    }
}

/// A response: status, headers, the raw text and the body as JSON (`Value::Null` when empty,
/// `Value::String` when it is not JSON).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `error.type` of an ES error body.
    pub fn error_type(&self) -> &str {
        self.json["error"]["type"].as_str().unwrap_or("")
    }

    /// `error.reason` of an ES error body.
    pub fn error_reason(&self) -> &str {
        self.json["error"]["reason"].as_str().unwrap_or("")
    }
}

/// A blocking HTTP client bound to one node's base URL.
#[derive(Debug, Clone)]
pub struct HttpClient {
    base: String,
    inner: reqwest::blocking::Client,
}

impl HttpClient {
    pub fn new(addr: SocketAddr) -> HttpClient {
        HttpClient::with_timeout(addr, REQUEST_TIMEOUT)
    }

    /// A client whose requests give up after `timeout`: for writers racing a partition, where a
    /// request to a cut-off node would otherwise hang for the whole [`REQUEST_TIMEOUT`].
    pub fn with_timeout(addr: SocketAddr, timeout: Duration) -> HttpClient {
        let inner = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(16)
            .build()
            .expect("build HTTP client");
        HttpClient { base: format!("http://{addr}"), inner }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends a request with extra headers and returns the whole response.
    pub fn send(&self, method: &str, path: &str, body: impl Into<Body>, headers: &[(&str, &str)]) -> Response {
        self.try_send(method, path, body, headers).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Self::send`], but a transport failure (connection refused or reset, timeout) is an
    /// `Err` instead of a panic: for requests racing a node that is being killed.
    pub fn try_send(
        &self,
        method: &str,
        path: &str,
        body: impl Into<Body>,
        headers: &[(&str, &str)],
    ) -> Result<Response, String> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid HTTP method");
        let url = format!("{}{}", self.base, path);
        let mut req = self.inner.request(method.clone(), &url);
        match body.into() {
            Body::Empty => {}
            Body::Json(v) => {
                req = req.header("content-type", "application/json").body(v.to_string());
            }
            Body::Raw { bytes, content_type } => {
                if let Some(ct) = content_type {
                    req = req.header("content-type", ct);
                }
                req = req.body(bytes);
            }
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().map_err(|e| format!("{method} {url} failed: {e}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().map_err(|e| format!("{method} {url}: reading the body failed: {e}"))?;
        let json = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()))
        };
        Ok(Response { status, headers, text, json })
    }

    /// Sends a request and returns `(status, body as JSON)`.
    pub fn request(&self, method: &str, path: &str, body: impl Into<Body>) -> (u16, Value) {
        let r = self.send(method, path, body, &[]);
        (r.status, r.json)
    }

    pub fn get(&self, path: &str, body: impl Into<Body>) -> (u16, Value) {
        self.request("GET", path, body)
    }

    pub fn put(&self, path: &str, body: impl Into<Body>) -> (u16, Value) {
        self.request("PUT", path, body)
    }

    pub fn post(&self, path: &str, body: impl Into<Body>) -> (u16, Value) {
        self.request("POST", path, body)
    }

    pub fn delete(&self, path: &str, body: impl Into<Body>) -> (u16, Value) {
        self.request("DELETE", path, body)
    }

    pub fn head(&self, path: &str, body: impl Into<Body>) -> (u16, Value) {
        self.request("HEAD", path, body)
    }

    /// `PUT` that must succeed (2xx); returns the body.
    pub fn put_ok(&self, path: &str, body: impl Into<Body>) -> Value {
        self.expect_ok("PUT", path, body)
    }

    /// `POST` that must succeed (2xx); returns the body.
    pub fn post_ok(&self, path: &str, body: impl Into<Body>) -> Value {
        self.expect_ok("POST", path, body)
    }

    /// `GET` that must succeed (2xx); returns the body.
    pub fn get_ok(&self, path: &str) -> Value {
        self.expect_ok("GET", path, ())
    }

    fn expect_ok(&self, method: &str, path: &str, body: impl Into<Body>) -> Value {
        let (status, v) = self.request(method, path, body);
        assert!((200..300).contains(&status), "{method} {path} answered {status}: {v}");
        v
    }

    /// `_refresh` on an index (must succeed).
    pub fn refresh(&self, index: &str) {
        self.post_ok(&format!("/{index}/_refresh"), ());
    }

    /// `_count` of an index (must succeed).
    pub fn count(&self, index: &str) -> u64 {
        let v = self.get_ok(&format!("/{index}/_count"));
        v["count"].as_u64().unwrap_or_else(|| panic!("no count in {v}"))
    }

    /// Indexes `lines` with `_bulk` and asserts that no item failed.
    pub fn bulk_ok(&self, path: &str, lines: &[Value]) -> Value {
        let (status, v) = self.post(path, Body::bulk(lines));
        assert_eq!(status, 200, "bulk answered {status}: {v}");
        assert_eq!(v["errors"], json!(false), "bulk had errors: {v}");
        v
    }
}

static INDEX_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// An index name no other test of this binary uses: `{prefix}-{n}`, lowercased.
pub fn unique_index(prefix: &str) -> String {
    let n = INDEX_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{n}", prefix.to_ascii_lowercase())
}

/// An in-process node served on `127.0.0.1:0`.
pub struct TestApp {
    client: HttpClient,
    pub addr: SocketAddr,
    pub node: Arc<tern_node::Node>,
    shutdown: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

static SHARED_APP: OnceLock<TestApp> = OnceLock::new();

impl TestApp {
    /// The test binary's shared ephemeral node, started on first use.
    pub fn shared() -> &'static TestApp {
        SHARED_APP.get_or_init(|| TestApp::start(&[]))
    }

    /// A private ephemeral node with extra settings (`-E` style pairs); it stops when dropped.
    pub fn start(settings: &[(&str, &str)]) -> TestApp {
        let mut pairs: Vec<(&str, &str)> = vec![("node.name", "tern-test"), ("cluster.name", "tern-test")];
        pairs.extend_from_slice(settings);
        let settings = tern_config::Settings::from_pairs(&pairs).expect("valid test settings");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(SocketAddr, Arc<tern_node::Node>), String>>();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tern-test-app".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(4)
                    .enable_all()
                    .build()
                    .expect("build test runtime");
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", 0)).await {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(format!("bind: {e}")));
                            return;
                        }
                    };
                    let addr = listener.local_addr().expect("local addr");
                    let opts = tern_node::NodeOptions { settings, ephemeral: true, http_address: addr.to_string() };
                    let node = match tern_node::Node::start(opts).await {
                        Ok(n) => n,
                        Err(e) => {
                            let _ = ready_tx.send(Err(format!("node start: {}", e.reason)));
                            return;
                        }
                    };
                    // The plugins the `tern` binary registers, so the in-process node serves the same API.
                    let plugins: Vec<Arc<dyn tern_rest::Plugin>> = vec![tern_remote_sync::RemoteSyncPlugin::new()];
                    let app = tern_rest::router(node.clone(), &plugins);
                    let _ = ready_tx.send(Ok((addr, node.clone())));
                    let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                        let _ = shutdown_rx.await;
                    });
                    if let Err(e) = serve.await {
                        eprintln!("test app server failed: {e}");
                    }
                    node.shutdown().await;
                });
            })
            .expect("spawn test app thread");
        let (addr, node) = ready_rx
            .recv_timeout(START_TIMEOUT)
            .expect("the in-process node did not start in time")
            .unwrap_or_else(|e| panic!("the in-process node failed to start: {e}"));
        TestApp {
            client: HttpClient::new(addr),
            addr,
            node,
            shutdown: Mutex::new(Some(shutdown_tx)),
            thread: Mutex::new(Some(thread)),
        }
    }

    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// See [`unique_index`].
    pub fn unique_index(&self, prefix: &str) -> String {
        unique_index(prefix)
    }
}

impl std::ops::Deref for TestApp {
    type Target = HttpClient;

    fn deref(&self) -> &HttpClient {
        &self.client
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

/// Output of one run of the child process, filled by reader threads.
#[derive(Default)]
struct Output {
    state: Mutex<OutputState>,
    changed: Condvar,
}

#[derive(Default)]
struct OutputState {
    text: String,
    /// `http.address` of the `"message":"started"` line, once seen.
    started: Option<SocketAddr>,
    /// Streams (stdout, stderr) that reached end of file.
    closed_streams: u8,
}

impl Output {
    fn lock(&self) -> std::sync::MutexGuard<'_, OutputState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn spawn_reader(self: &Arc<Self>, stream: impl Read + Send + 'static, name: &'static str) {
        let me = self.clone();
        std::thread::Builder::new()
            .name(format!("tern-{name}"))
            .spawn(move || {
                let mut reader = BufReader::new(stream);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match reader.read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let line = String::from_utf8_lossy(&buf);
                            let mut st = me.lock();
                            if st.started.is_none() {
                                st.started = started_address(&line);
                            }
                            st.text.push_str(&line);
                            if !line.ends_with('\n') {
                                st.text.push('\n');
                            }
                            drop(st);
                            me.changed.notify_all();
                        }
                    }
                }
                me.lock().closed_streams += 1;
                me.changed.notify_all();
            })
            .expect("spawn output reader");
    }

    /// Waits until `done` holds or `timeout` passes; returns whether it holds.
    fn wait_for(&self, timeout: Duration, done: impl Fn(&OutputState) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        loop {
            if done(&st) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self.changed.wait_timeout(st, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

/// The HTTP address in a `"message":"started"` JSON log line.
fn started_address(line: &str) -> Option<SocketAddr> {
    let v: Value = serde_json::from_str(line.trim()).ok()?;
    if v["message"] != "started" {
        return None;
    }
    v["http.address"].as_str()?.parse().ok()
}

/// The `tern` binary: `$TERN_BIN`, else `target/debug/tern` of this workspace.
pub fn tern_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("TERN_BIN") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/tern")
}

/// The real `tern` binary in a child process with its own data directory.
pub struct TestProcess {
    bin: PathBuf,
    /// The network namespace the process runs in (`ip netns exec`), if any.
    netns: Option<String>,
    data_dir: tempfile::TempDir,
    args: Vec<String>,
    child: Option<Child>,
    output: Arc<Output>,
    /// Logs of earlier runs (before restarts).
    history: String,
    client: HttpClient,
    /// The REST address of the current run.
    http_addr: SocketAddr,
    /// How long the last start took until `"message":"started"`.
    pub last_start: Duration,
}

impl TestProcess {
    /// Starts `tern` with a fresh data directory and the given `-E key=value` settings.
    pub fn start(settings: &[&str]) -> TestProcess {
        Self::start_in(None, settings)
    }

    /// [`Self::start`] inside network namespace `netns` (through `ip netns exec`, which execs the
    /// binary: the child's pid is tern's, so `kill9` and `terminate` reach it).
    pub fn start_in(netns: Option<String>, settings: &[&str]) -> TestProcess {
        let bin = tern_binary();
        assert!(
            bin.is_file(),
            "tern binary not found at [{}]: build it first with `cargo build -p tern-server`, or point TERN_BIN at it",
            bin.display()
        );
        let data_dir = tempfile::Builder::new().prefix("tern-it-").tempdir().expect("create data dir");
        let mut args: Vec<String> = vec![
            "-E".into(),
            "http.port=0".into(),
            "-E".into(),
            format!("path.data={}", data_dir.path().display()),
            "-E".into(),
            "node.name=tern-it".into(),
        ];
        for s in settings {
            args.push("-E".into());
            args.push((*s).to_string());
        }
        let placeholder: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let mut p = TestProcess {
            bin,
            netns,
            data_dir,
            args,
            child: None,
            output: Arc::new(Output::default()),
            history: String::new(),
            client: HttpClient::new(placeholder),
            http_addr: placeholder,
            last_start: Duration::ZERO,
        };
        p.spawn();
        p
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "the process is already running");
        let started = Instant::now();
        let mut command = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns.as_str()]).arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        let mut child = command
            .args(&self.args)
            .env("TERN_LOG", "info,openraft=warn,tantivy=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start [{}]: {e}", self.bin.display()));
        let output = Arc::new(Output::default());
        output.spawn_reader(child.stdout.take().expect("stdout"), "stdout");
        output.spawn_reader(child.stderr.take().expect("stderr"), "stderr");
        self.output = output;
        self.child = Some(child);
        // Started, or both pipes closed (the process died).
        self.output.wait_for(START_TIMEOUT, |st| st.started.is_some() || st.closed_streams == 2);
        let addr = self.output.lock().started;
        let Some(addr) = addr else {
            let status = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            panic!(
                "tern did not print \"message\":\"started\" within {START_TIMEOUT:?} (exit status: {status:?})\n--- logs ---\n{}",
                self.logs()
            );
        };
        self.last_start = started.elapsed();
        self.client = HttpClient::new(addr);
        self.http_addr = addr;
    }

    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// The REST address of the current run (it changes on restart: `http.port` is 0).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything the process printed on stdout and stderr, over all runs.
    pub fn logs(&self) -> String {
        format!("{}{}", self.history, self.output.lock().text)
    }

    /// Kills the process with SIGKILL and waits until it is gone.
    pub fn kill9(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        child.kill().expect("SIGKILL tern");
        child.wait().expect("wait for killed tern");
        self.finish_run("killed with SIGKILL");
    }

    /// Sends SIGTERM and waits for a graceful exit (panics if it takes longer than [`STOP_TIMEOUT`]
    /// or the exit status is not success).
    pub fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("run kill -TERM");
        assert!(status.success(), "kill -TERM failed");
        // The process closes its pipes when it exits.
        if !self.output.wait_for(STOP_TIMEOUT, |st| st.closed_streams == 2) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tern did not exit within {STOP_TIMEOUT:?} of SIGTERM\n--- logs ---\n{}", self.logs());
        }
        let exit = child.wait().expect("wait for tern");
        self.finish_run(&format!("terminated with SIGTERM: {exit}"));
        assert!(exit.success(), "tern exited with {exit} after SIGTERM\n--- logs ---\n{}", self.logs());
    }

    /// Starts the process again on the same data directory (after [`Self::kill9`] or
    /// [`Self::terminate`]; a running process is killed first).
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.kill9();
        }
        self.spawn();
    }

    fn finish_run(&mut self, how: &str) {
        // Let the readers drain what the process wrote before it died.
        self.output.wait_for(Duration::from_secs(5), |st| st.closed_streams == 2);
        let text = std::mem::take(&mut self.output.lock().text);
        self.history.push_str(&text);
        self.history.push_str(&format!("---- tern {how} ----\n"));
    }
}

impl std::ops::Deref for TestProcess {
    type Target = HttpClient;

    fn deref(&self) -> &HttpClient {
        &self.client
    }
}

impl Drop for TestProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- tern logs ({}) ---\n{}", self.data_dir.path().display(), self.logs());
        }
    }
}

/// A TCP port free on loopback right now, for a process that must keep its address across restarts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Polls `check` until it returns `Some`, or panics after `timeout` with `what` and the last state
/// `check` reported through `last`.
pub fn wait_until<T>(timeout: Duration, what: &str, mut check: impl FnMut(&mut String) -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        if let Some(v) = check(&mut last) {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last state: {last}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A cluster of real `tern` processes on loopback: each node has a fixed transport port (kept
/// across restarts, since raft memberships record addresses), every node lists every other as a
/// seed host, and all of them are initial master nodes (`node-1` bootstraps). Nodes can be killed
/// and restarted on their data directories. Waits are on observable state (`_cat/nodes`,
/// `_cat/master`), never on sleeps.
pub struct TestCluster {
    nodes: Vec<TestProcess>,
    alive: Vec<bool>,
    pub transport_ports: Vec<u16>,
    /// The network namespaces of a [`Self::start_partitionable`] cluster. Declared after `nodes`
    /// so the processes are killed before their namespaces are deleted.
    net: Option<NetLab>,
}

/// How long a cluster may take to form or to react to a node's loss or return.
pub const CLUSTER_TIMEOUT: Duration = Duration::from_secs(60);

impl TestCluster {
    /// Starts `n` nodes named `node-1`..`node-n` in cluster `tern-it-cluster`, with `extra`
    /// settings on each.
    pub fn start(n: usize, extra: &[&str]) -> TestCluster {
        Self::start_with(n, extra, &[])
    }

    /// Like [`Self::start`], but each node runs in its own network namespace, so a test can cut a
    /// node off the others at the network level ([`Self::cut`], [`Self::heal`]) while the test
    /// still reaches its REST port. `Err` says why that is impossible here (not root, no `ip`):
    /// the caller skips with that message. See [`NetLab`] for the topology.
    pub fn start_partitionable(n: usize, extra: &[&str]) -> Result<TestCluster, String> {
        NetLab::unavailable_reason().map_or(Ok(()), Err)?;
        let net = NetLab::create(n);
        let port = NetLab::TRANSPORT_PORT;
        let seeds: Vec<String> = (0..n).map(|i| format!("{}:{port}", net.cluster_ip(i))).collect();
        let nodes = (0..n)
            .map(|i| {
                let http = format!("http.host={}", net.client_ip(i));
                let mut settings: Vec<&str> = vec![&http];
                settings.extend_from_slice(extra);
                Self::spawn_node(Some(net.netns(i)), &net.cluster_ip(i), port, i, &seeds, n, &settings)
            })
            .collect();
        Ok(TestCluster { alive: vec![true; n], nodes, transport_ports: vec![port; n], net: Some(net) })
    }

    /// Like [`Self::start`], with `per_node[i]` added to node `i`'s settings after `extra` (so it
    /// wins): a cluster whose nodes differ, such as one master-only node among data nodes.
    pub fn start_with(n: usize, extra: &[&str], per_node: &[&[&str]]) -> TestCluster {
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let seeds: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let nodes = (0..n)
            .map(|i| {
                let mut settings: Vec<&str> = extra.to_vec();
                settings.extend_from_slice(per_node.get(i).copied().unwrap_or_default());
                Self::spawn_node(None, "127.0.0.1", ports[i], i, &seeds, n, &settings)
            })
            .collect();
        TestCluster { alive: vec![true; n], nodes, transport_ports: ports, net: None }
    }

    /// Starts one more node, `node-{n+1}`, seeded with the existing nodes; it is not an initial
    /// master node, so it joins the formed cluster (as a voter of the metadata group if
    /// master-eligible, else as a learner). Returns its index.
    pub fn add_node(&mut self, extra: &[&str]) -> usize {
        assert!(self.net.is_none(), "add_node is not supported on a partitionable cluster");
        let port = free_port();
        let i = self.nodes.len();
        let seeds: Vec<String> = self.transport_ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let node = Self::spawn_node(None, "127.0.0.1", port, i, &seeds, i, extra);
        self.nodes.push(node);
        self.alive.push(true);
        self.transport_ports.push(port);
        i
    }

    /// Node `node-{i+1}` with its transport on `host:port` (in network namespace `netns`, if
    /// any), seeded with `seeds`; the first `masters` nodes are the initial master nodes.
    fn spawn_node(
        netns: Option<String>,
        host: &str,
        port: u16,
        i: usize,
        seeds: &[String],
        masters: usize,
        extra: &[&str],
    ) -> TestProcess {
        let masters = (1..=masters).map(|m| format!("node-{m}")).collect::<Vec<_>>().join(",");
        let mut settings: Vec<String> = vec![
            format!("node.name=node-{}", i + 1),
            "cluster.name=tern-it-cluster".into(),
            format!("transport.host={host}"),
            format!("transport.port={port}"),
            format!("discovery.seed_hosts={}", seeds.join(",")),
            format!("cluster.initial_master_nodes={masters}"),
        ];
        settings.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = settings.iter().map(String::as_str).collect();
        TestProcess::start_in(netns, &refs)
    }

    /// Cuts node `i` off the other nodes at the network level (its link to the switch goes
    /// down: packets are dropped, not refused, as with a pulled cable). The test still reaches
    /// its REST port. Only on a [`Self::start_partitionable`] cluster.
    pub fn cut(&self, i: usize) {
        self.net.as_ref().expect("cut needs TestCluster::start_partitionable").set_link(i, false);
    }

    /// Reconnects node `i` after [`Self::cut`].
    pub fn heal(&self, i: usize) {
        self.net.as_ref().expect("heal needs TestCluster::start_partitionable").set_link(i, true);
    }

    /// Node `i` (0-based).
    pub fn node(&self, i: usize) -> &TestProcess {
        &self.nodes[i]
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The indexes of the running nodes.
    pub fn alive(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|i| self.alive[*i]).collect()
    }

    pub fn kill9(&mut self, i: usize) {
        self.nodes[i].kill9();
        self.alive[i] = false;
    }

    pub fn terminate(&mut self, i: usize) {
        self.nodes[i].terminate();
        self.alive[i] = false;
    }

    /// Starts a stopped node again on its data directory (same transport port).
    pub fn restart(&mut self, i: usize) {
        self.nodes[i].restart();
        self.alive[i] = true;
    }

    /// The node names `_cat/nodes` of node `i` lists, and the name it marks as master.
    pub fn cat_nodes(&self, i: usize) -> Option<(Vec<String>, Option<String>)> {
        let r =
            self.nodes[i].client().try_send("GET", "/_cat/nodes?format=json&h=name,master", Body::Empty, &[]).ok()?;
        if r.status != 200 {
            return None;
        }
        let rows = r.json.as_array()?;
        let mut names: Vec<String> = rows.iter().filter_map(|r| r["name"].as_str().map(String::from)).collect();
        names.sort();
        let masters: Vec<String> =
            rows.iter().filter(|r| r["master"] == "*").filter_map(|r| r["name"].as_str().map(String::from)).collect();
        Some((names, if masters.len() == 1 { masters.into_iter().next() } else { None }))
    }

    /// Waits until every running node lists exactly the running nodes and the same master;
    /// returns the master's name.
    pub fn wait_formed(&self, timeout: Duration) -> String {
        let alive = self.alive();
        let mut expected: Vec<String> = alive.iter().map(|i| format!("node-{}", i + 1)).collect();
        expected.sort();
        wait_until(timeout, "the cluster to form", |last| {
            let mut master = None;
            for &i in &alive {
                let Some((names, m)) = self.cat_nodes(i) else {
                    *last = format!("node-{} does not answer _cat/nodes", i + 1);
                    return None;
                };
                if names != expected || m.is_none() {
                    *last = format!("node-{} sees nodes {names:?}, master {m:?}", i + 1);
                    return None;
                }
                if master.is_some() && master != m {
                    *last = format!("masters differ: {master:?} vs {m:?}");
                    return None;
                }
                master = m;
            }
            master
        })
    }

    /// The index (0-based) of the node named `name`.
    pub fn index_of(&self, name: &str) -> usize {
        name.strip_prefix("node-").and_then(|n| n.parse::<usize>().ok()).map(|n| n - 1).expect("a node-N name")
    }
}

impl std::fmt::Debug for TestCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCluster")
            .field("transport_ports", &self.transport_ports)
            .field("alive", &self.alive)
            .field("net", &self.net)
            .finish()
    }
}

/// Network namespaces for a partitionable cluster: one per node, plus a "switch" namespace with
/// a bridge. Each node has two links:
///
/// - `c0`, its cluster link, a veth to a port of the switch's bridge (`10.A.B.{i+1}/24`): the
///   transport binds here and peers dial here. Taking the switch-side port down cuts the node
///   off every peer while its process keeps running, which is what a partition is.
/// - `h0`, its client link, a point-to-point veth to the test's (root) namespace
///   (`10.A.B+1.{4i+2}/30`): the REST port binds here, so the test talks to a cut-off node. No
///   namespace routes between the two subnets, so peers cannot reach each other through it.
///
/// The bridge lives in its own namespace so the host's firewall (Docker's `FORWARD DROP` with
/// `bridge-nf-call-iptables`) never sees the bridged traffic and nothing in the root namespace
/// but the client links changes. Dropping the lab deletes the client links and the namespaces.
pub struct NetLab {
    /// `tern-it-{pid}-{k}`: the prefix of every namespace of this lab.
    prefix: String,
    /// `10.A.B`: the cluster subnet; `10.A.B+1` holds the client links.
    subnet: (u8, u8),
    nodes: usize,
}

static NETLAB_COUNTER: AtomicUsize = AtomicUsize::new(0);

impl NetLab {
    /// Every node's transport port (each namespace has its own port space).
    pub const TRANSPORT_PORT: u16 = 9300;

    /// Why network namespaces cannot be used here, if they cannot.
    pub fn unavailable_reason() -> Option<String> {
        let uid =
            Command::new("id").arg("-u").output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        if uid.as_deref() != Some("0") {
            return Some(format!("network namespaces need root (uid is {})", uid.as_deref().unwrap_or("unknown")));
        }
        match Command::new("ip").args(["netns", "list"]).output() {
            Ok(o) if o.status.success() => None,
            Ok(o) => Some(format!("`ip netns list` failed: {}", String::from_utf8_lossy(&o.stderr).trim())),
            Err(e) => Some(format!("the `ip` command (iproute2) is not available: {e}")),
        }
    }

    /// Creates the namespaces and links for `n` nodes; panics with the failing command (root and
    /// `ip` are there, so a failure is a real problem, not a reason to skip).
    pub fn create(n: usize) -> NetLab {
        assert!(n <= 60, "a /24 and /30 links for at most 60 nodes");
        Self::remove_stale();
        let k = NETLAB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // A /24 pair no address of the root namespace uses (concurrent test binaries pick apart).
        let used = run_ip(&["-o", "addr", "show"]).unwrap_or_default();
        let subnet = (0..64u32)
            .map(|step| {
                let a = 128 + ((pid + step * 7) % 64) as u8;
                let b = ((k * 2 + 2 * step as usize) % 254) as u8;
                (a, b)
            })
            .find(|(a, b)| !used.contains(&format!(" 10.{a}.{}.", b + 1)))
            .expect("a free 10.x.y.0/24 subnet");
        let lab = NetLab { prefix: format!("tern-it-{pid}-{k}"), subnet, nodes: n };
        lab.setup().unwrap_or_else(|e| panic!("setting up network namespaces failed: {e}"));
        lab
    }

    fn setup(&self) -> Result<(), String> {
        let sw = self.switch();
        run_ip(&["netns", "add", &sw])?;
        run_ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"])?;
        run_ip(&["-n", &sw, "link", "set", "br0", "up"])?;
        for i in 0..self.nodes {
            let ns = self.netns(i);
            let port = format!("p{i}");
            let host_end = self.client_link(i);
            run_ip(&["netns", "add", &ns])?;
            run_ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            run_ip(&["-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", "c0", "netns", &ns])?;
            run_ip(&["-n", &sw, "link", "set", &port, "master", "br0"])?;
            run_ip(&["-n", &sw, "link", "set", &port, "up"])?;
            run_ip(&["-n", &ns, "addr", "add", &format!("{}/24", self.cluster_ip(i)), "dev", "c0"])?;
            run_ip(&["-n", &ns, "link", "set", "c0", "up"])?;
            run_ip(&["link", "add", &host_end, "type", "veth", "peer", "name", "h0", "netns", &ns])?;
            let (a, b) = self.subnet;
            let base = 4 * i as u32;
            run_ip(&["addr", "add", &format!("10.{a}.{}.{}/30", b + 1, base + 1), "dev", &host_end])?;
            run_ip(&["link", "set", &host_end, "up"])?;
            run_ip(&["-n", &ns, "addr", "add", &format!("{}/30", self.client_ip(i)), "dev", "h0"])?;
            run_ip(&["-n", &ns, "link", "set", "h0", "up"])?;
        }
        Ok(())
    }

    /// Namespaces of earlier test runs whose process is gone (a killed test binary never dropped
    /// its lab).
    fn remove_stale() {
        let list = run_ip(&["netns", "list"]).unwrap_or_default();
        for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
            let Some(pid) = name.strip_prefix("tern-it-").and_then(|r| r.split('-').next()) else { continue };
            if pid.parse::<u32>().is_ok() && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = run_ip(&["netns", "del", name]);
            }
        }
    }

    fn switch(&self) -> String {
        format!("{}-sw", self.prefix)
    }

    /// The network namespace of node `i`.
    pub fn netns(&self, i: usize) -> String {
        format!("{}-n{}", self.prefix, i + 1)
    }

    /// The root-namespace end of node `i`'s client link (at most 15 characters).
    fn client_link(&self, i: usize) -> String {
        let (a, b) = self.subnet;
        format!("tn{a}x{b}h{i}")
    }

    /// Node `i`'s address on the cluster network (transport).
    pub fn cluster_ip(&self, i: usize) -> String {
        let (a, b) = self.subnet;
        format!("10.{a}.{b}.{}", i + 1)
    }

    /// Node `i`'s address on its client link (REST).
    pub fn client_ip(&self, i: usize) -> String {
        let (a, b) = self.subnet;
        format!("10.{a}.{}.{}", b + 1, 4 * i + 2)
    }

    /// Brings node `i`'s switch port up or down.
    pub fn set_link(&self, i: usize, up: bool) {
        let port = format!("p{i}");
        run_ip(&["-n", &self.switch(), "link", "set", &port, if up { "up" } else { "down" }])
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

impl std::fmt::Debug for NetLab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetLab").field("prefix", &self.prefix).field("subnet", &self.subnet).finish()
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        for i in 0..self.nodes {
            // Deleting the root-namespace end removes the pair at once; a deleted namespace is
            // only torn down (with its links) once the kernel drops its last reference, which
            // closing sockets can hold for a while.
            let _ = run_ip(&["link", "del", &self.client_link(i)]);
            let _ = run_ip(&["netns", "del", &self.netns(i)]);
        }
        let _ = run_ip(&["netns", "del", &self.switch()]);
    }
}

/// Runs `ip args...`; its stdout, or an error quoting the command and its stderr.
fn run_ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!("ip {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
