//! Running the `tern` release binary as a child process, and reading its resource use from `/proc`.
//!
//! Readiness is observed, never slept on: [`TernProcess::wait_ready`] polls `GET /_cluster/health`
//! over a fresh TCP connection every `poll` interval (2 ms by default) until the first `200`. The
//! child's stdout (JSON log lines) is drained by a thread into a log file, which also timestamps the
//! `"message":"started"` line. Resource figures come from `/proc/<pid>`: `VmRSS`/`VmHWM` from
//! `status`, CPU time from `stat`, and per-thread CPU (grouped by thread name) from `task/*/stat`,
//! which is how the reports attribute server CPU to HTTP workers, the blocking pool, tantivy's
//! indexing and merge threads and the write-ahead log without a profiler.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Clock ticks per second for `/proc/*/stat` times.
fn clk_tck() -> f64 {
    static TCK: OnceLock<f64> = OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// A free TCP port on 127.0.0.1 (bound and released; a race with another process is unlikely).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// utime + stime of `/proc/<pid>/stat` or `/proc/<pid>/task/<tid>/stat`, in seconds, with the
/// thread name (`comm`).
fn stat_cpu(path: &Path) -> Option<(String, f64)> {
    let s = std::fs::read_to_string(path).ok()?;
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s[open + 1..close].to_string();
    let rest: Vec<&str> = s[close + 2..].split_whitespace().collect();
    // Fields after `comm`: state(3) ... utime(14) stime(15), i.e. indices 11 and 12 here.
    let utime: f64 = rest.get(11)?.parse().ok()?;
    let stime: f64 = rest.get(12)?.parse().ok()?;
    Some((comm, (utime + stime) / clk_tck()))
}

/// CPU seconds all processes of the machine have used since boot (`/proc/stat`, busy time only:
/// user, nice, system, irq, softirq, steal). The difference with the processes a benchmark knows
/// about is the foreign load (other users of the machine) during a measurement.
pub fn machine_busy_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = s.lines().next() else { return f64::NAN };
    let v: Vec<f64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    if v.len() < 8 {
        return f64::NAN;
    }
    // user nice system idle iowait irq softirq steal
    (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / clk_tck()
}

/// Total CPU seconds (user + system) used by process `pid` so far, dead threads included.
pub fn process_cpu_secs(pid: u32) -> f64 {
    stat_cpu(Path::new(&format!("/proc/{pid}/stat"))).map(|(_, c)| c).unwrap_or(f64::NAN)
}

/// Samples the CPU time of every thread of a process every `interval`, so the CPU of threads that
/// exit before the end (tantivy recreates its indexing threads at every commit; tokio retires idle
/// blocking threads) is still attributed, up to the last sample. Thread names are grouped with their
/// digits stripped; tokio threads are split into the runtime's async workers (the first `nproc`
/// tokio threads by thread id, spawned eagerly when the runtime is built) and the blocking pool
/// (where tern applies raft entries, refreshes and searches).
pub struct ThreadSampler {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<BTreeMap<u32, (String, f64)>>>,
    pid: u32,
    cpu0: f64,
}

fn sample_threads(pid: u32, into: &mut BTreeMap<u32, (String, f64)>) {
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    for e in rd.flatten() {
        let Some(tid) = e.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else { continue };
        if let Some((comm, cpu)) = stat_cpu(&e.path().join("stat")) {
            into.insert(tid, (comm, cpu));
        }
    }
}

impl ThreadSampler {
    pub fn start(pid: u32, interval: Duration) -> ThreadSampler {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let mut first = BTreeMap::new();
        sample_threads(pid, &mut first);
        let handle = std::thread::spawn(move || {
            let mut seen = first.clone();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(interval);
                sample_threads(pid, &mut seen);
            }
            sample_threads(pid, &mut seen);
            // Subtract what each thread had used before the sampler started.
            for (tid, (_, cpu)) in seen.iter_mut() {
                if let Some((_, before)) = first.get(tid) {
                    *cpu -= before;
                }
            }
            seen
        });
        ThreadSampler { stop, handle: Some(handle), pid, cpu0: process_cpu_secs(pid) }
    }

    /// Stops sampling; CPU seconds by thread group over the sampled period, plus
    /// `(unattributed)`: process CPU of threads that exited between samples.
    pub fn finish(mut self) -> BTreeMap<String, f64> {
        let total = process_cpu_secs(self.pid) - self.cpu0;
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let seen = self.handle.take().and_then(|h| h.join().ok()).unwrap_or_default();
        let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let mut tokio_seen = 0;
        let mut out: BTreeMap<String, f64> = BTreeMap::new();
        for (comm, cpu) in seen.values() {
            let mut name: String = comm.chars().filter(|c| !c.is_ascii_digit()).collect();
            if name.starts_with("tokio-r") {
                tokio_seen += 1;
                name = if tokio_seen <= workers { "tokio async workers".into() } else { "tokio blocking pool".into() };
            }
            *out.entry(name).or_insert(0.0) += cpu;
        }
        let attributed: f64 = out.values().sum();
        out.insert("(unattributed)".into(), (total - attributed).max(0.0));
        out.retain(|_, v| *v >= 0.005);
        out
    }
}

/// `VmRSS` and `VmHWM` of `/proc/<pid>/status`, in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = s.lines().find(|l| l.starts_with(name)).with_context(|| format!("no {name} in status"))?;
        Ok(line.split_whitespace().nth(1).context("bad status line")?.parse()?)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// `RssAnon` and `RssFile` of `/proc/<pid>/status`, in KiB: heap vs mapped files (tantivy mmaps its
/// segments, so file pages of the index count in VmRSS but are reclaimable page cache).
pub fn rss_parts_kib(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("RssAnon:"), field("RssFile:"))
}

/// Apparent size (sum of file lengths) and allocated size (512-byte blocks) of a directory tree.
pub fn dir_size(p: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut apparent = 0;
    let mut allocated = 0;
    let Ok(rd) = std::fs::read_dir(p) else {
        return (0, 0);
    };
    for e in rd.flatten() {
        let Ok(md) = e.metadata() else { continue };
        if md.is_dir() {
            let (a, b) = dir_size(&e.path());
            apparent += a;
            allocated += b;
        } else {
            apparent += md.len();
            allocated += md.blocks() * 512;
        }
    }
    (apparent, allocated)
}

/// Apparent size of each immediate subdirectory (and loose file) of `p`, largest first.
pub fn dir_breakdown(p: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let size =
                if e.path().is_dir() { dir_size(&e.path()).0 } else { e.metadata().map(|m| m.len()).unwrap_or(0) };
            out.push((e.file_name().to_string_lossy().to_string(), size));
        }
    }
    out.sort_by_key(|e| std::cmp::Reverse(e.1));
    out
}

/// What readiness polling saw.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ready {
    /// The path polled (`/_cluster/health`, or `/` where only serving matters).
    pub path: String,
    /// From spawn to the first HTTP answer of any status (tern serves only once the node started).
    pub to_first_answer_ms: f64,
    /// HTTP status of that first answer.
    pub first_status: u16,
    /// Its body, shortened (kept when it is not a 200, to report what tern said).
    pub first_body: String,
    /// From spawn to the first `200`, when one was required and came.
    pub to_200_ms: Option<f64>,
    /// From spawn to the `"message":"started"` log line, when it was seen by then.
    pub to_started_log_ms: Option<f64>,
    /// `status` of the health response, when the answer has one.
    pub health_status: String,
    pub polls: u64,
}

pub struct TernProcess {
    child: Child,
    pub pid: u32,
    pub port: u16,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    spawned_at: Instant,
    started_line: Arc<Mutex<Option<Instant>>>,
    drain: Option<std::thread::JoinHandle<()>>,
}

/// One `GET <path>` on a fresh connection: `(status code, body)`.
fn get_once(addr: &SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.set_nodelay(true).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let code: u16 = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((code, body))
}

impl TernProcess {
    /// Spawns `bin` with `path.data = data_dir` on a free port; the clock for readiness starts here.
    pub fn spawn(bin: &Path, data_dir: &Path, log_path: &Path) -> anyhow::Result<TernProcess> {
        Self::spawn_with(bin, data_dir, log_path, &[])
    }

    /// [`Self::spawn`] with more `-E key=value` settings (e.g. `cluster.name` of one of two clusters).
    pub fn spawn_with(bin: &Path, data_dir: &Path, log_path: &Path, extra: &[String]) -> anyhow::Result<TernProcess> {
        let port = free_port()?;
        let log = File::create(log_path).with_context(|| format!("cannot create {}", log_path.display()))?;
        let stderr = log.try_clone()?;
        let spawned_at = Instant::now();
        let mut child = Command::new(bin)
            .arg("-E")
            .arg(format!("http.port={port}"))
            .arg("-E")
            .arg(format!("path.data={}", data_dir.display()))
            .args(extra.iter().flat_map(|e| ["-E", e.as_str()]))
            .current_dir(data_dir.parent().unwrap_or(Path::new("/tmp")))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .with_context(|| format!("cannot spawn {}", bin.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().context("no stdout")?;
        let started_line = Arc::new(Mutex::new(None));
        let seen = started_line.clone();
        let drain = std::thread::spawn(move || {
            let mut log = log;
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                if line.contains("\"message\":\"started\"") {
                    let mut s = seen.lock().expect("lock");
                    if s.is_none() {
                        *s = Some(Instant::now());
                    }
                }
                let _ = log.write_all(line.as_bytes());
                line.clear();
            }
        });
        Ok(TernProcess {
            child,
            pid,
            port,
            data_dir: data_dir.to_path_buf(),
            log_path: log_path.to_path_buf(),
            spawned_at,
            started_line,
            drain: Some(drain),
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Polls `GET <path>` every `poll` on fresh connections. Returns at the first `200`, or, when
    /// `require_200` is false, at the first answer of any status (or fails when the process exits
    /// or `timeout` passes).
    pub fn wait_ready(
        &mut self,
        path: &str,
        require_200: bool,
        poll: Duration,
        timeout: Duration,
    ) -> anyhow::Result<Ready> {
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        let mut polls = 0;
        let mut first: Option<(f64, u16, String)> = None;
        loop {
            polls += 1;
            if let Some((code, body)) = get_once(&addr, path) {
                let at = ms(self.spawned_at.elapsed());
                let first = first.get_or_insert_with(|| (at, code, body.chars().take(300).collect()));
                if code == 200 || !require_200 {
                    let started = *self.started_line.lock().expect("lock");
                    let health_status = body
                        .find("\"status\":\"")
                        .map(|i| body[i + 10..].chars().take_while(|&c| c != '"').collect())
                        .unwrap_or_default();
                    return Ok(Ready {
                        path: path.to_string(),
                        to_first_answer_ms: first.0,
                        first_status: first.1,
                        first_body: if first.1 == 200 { String::new() } else { first.2.clone() },
                        to_200_ms: (code == 200).then_some(at),
                        to_started_log_ms: started.map(|t| ms(t - self.spawned_at)),
                        health_status,
                        polls,
                    });
                }
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("tern exited before it was ready ({status}); log tail:\n{}", self.log_tail(20));
            }
            if self.spawned_at.elapsed() > timeout {
                let seen = first
                    .map(|(at, code, body)| format!("first answer after {at:.1} ms: {code} {body}"))
                    .unwrap_or_else(|| "no HTTP answer".into());
                bail!("GET {path} never answered 200 within {timeout:?} ({seen}); log tail:\n{}", self.log_tail(20));
            }
            std::thread::sleep(poll);
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Whether the process is still running (an exit is reported with the log tail).
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("tern exited unexpectedly ({status}); log tail:\n{}", self.log_tail(30));
        }
        Ok(())
    }

    pub fn rss_kib(&self) -> anyhow::Result<(u64, u64)> {
        rss_kib(self.pid)
    }

    pub fn cpu_secs(&self) -> f64 {
        process_cpu_secs(self.pid)
    }

    /// Waits until the server uses less than `max_cpu_share` of one core over 1 s windows (merges
    /// done), at most `timeout`. Returns the seconds waited.
    pub fn wait_quiet(&self, max_cpu_share: f64, timeout: Duration) -> f64 {
        let started = Instant::now();
        let mut last = self.cpu_secs();
        while started.elapsed() < timeout {
            std::thread::sleep(Duration::from_secs(1));
            let now = self.cpu_secs();
            if now - last < max_cpu_share {
                break;
            }
            last = now;
        }
        started.elapsed().as_secs_f64()
    }

    /// Graceful stop: SIGTERM (tern flushes its shards), then SIGKILL after `grace`.
    /// Returns the time the process took to exit.
    pub fn stop(mut self, grace: Duration) -> anyhow::Result<f64> {
        let started = Instant::now();
        let _ = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status();
        loop {
            if self.child.try_wait()?.is_some() {
                break;
            }
            if started.elapsed() > grace {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("tern did not stop within {grace:?} after SIGTERM; killed. log tail:\n{}", self.log_tail(10));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Some(d) = self.drain.take() {
            let _ = d.join();
        }
        Ok(started.elapsed().as_secs_f64())
    }
}

impl Drop for TernProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
