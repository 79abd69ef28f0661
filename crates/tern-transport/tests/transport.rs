//! The transport over real loopback sockets: round trips, typed errors, connection reuse, the fault
//! filter (drop and delay on both legs, switched at runtime), timeouts, dead peers and shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tern_transport::{
    ClientOptions, FaultFilter, HandlerError, HandlerErrorKind, HandlerFuture, InboundRequest, ServerOptions,
    ServiceHandler, TransportClient, TransportError, TransportServer,
};

/// Answers `echo` with `group:method:from:body`, `fail` with a typed error, `slow` after 300 ms,
/// `panic` by panicking; counts the requests it saw.
#[derive(Default)]
struct Echo {
    calls: AtomicU64,
}

impl ServiceHandler for Echo {
    fn handle(&self, req: InboundRequest) -> HandlerFuture {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            match req.method.as_str() {
                "echo" => {
                    let mut out =
                        format!("{}:{}:{}:", req.group, req.method, req.from.unwrap_or_default()).into_bytes();
                    out.extend_from_slice(&req.body);
                    Ok(Bytes::from(out))
                }
                "fail" => Err(HandlerError::unavailable("not now")),
                "slow" => {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok(Bytes::from_static(b"late"))
                }
                "panic" => panic!("handler panics on purpose"),
                other => Err(HandlerError::bad_request(format!("no method {other}"))),
            }
        })
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Ping {
    n: u64,
    text: String,
}

/// Doubles `n` of a postcard [`Ping`].
struct Doubler;

impl ServiceHandler for Doubler {
    fn handle(&self, req: InboundRequest) -> HandlerFuture {
        Box::pin(async move {
            let ping: Ping = postcard::from_bytes(&req.body).map_err(|e| HandlerError::bad_request(e.to_string()))?;
            let pong = Ping { n: ping.n * 2, text: ping.text };
            Ok(Bytes::from(postcard::to_stdvec(&pong).map_err(|e| HandlerError::internal(e.to_string()))?))
        })
    }
}

async fn server() -> (TransportServer, String, Arc<Echo>) {
    let server = TransportServer::bind("127.0.0.1:0", ServerOptions::default()).await.expect("bind");
    let addr = server.local_addr().to_string();
    let echo = Arc::new(Echo::default());
    server.register("echo", echo.clone());
    server.register("double", Arc::new(Doubler));
    (server, addr, echo)
}

fn client(local: &str, filter: &FaultFilter) -> TransportClient {
    TransportClient::with_fault_filter(local, ClientOptions::default(), filter.clone()).expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_typed_errors_and_connection_reuse() {
    let (server, addr, echo) = tokio::time::timeout(Duration::from_secs(5), server()).await.expect("bound in time");
    let client = client("127.0.0.1:1", &FaultFilter::new());
    let run = async {
        let answer = client.call(&addr, "echo", 42, "echo", b"hello".to_vec(), None).await.expect("echo");
        assert_eq!(&answer[..], b"42:echo:127.0.0.1:1:hello");

        let pong: Ping = client
            .call_typed(&addr, "double", 7, "x", &Ping { n: 21, text: "t".into() }, None)
            .await
            .expect("typed call");
        assert_eq!(pong, Ping { n: 42, text: "t".into() });

        // Typed refusals travel back as such.
        let err = client.call(&addr, "echo", 1, "fail", Vec::new(), None).await.expect_err("fail");
        assert_eq!(err.remote().map(|e| e.kind), Some(HandlerErrorKind::Unavailable), "{err}");
        assert!(!err.is_unreachable());
        let err = client.call(&addr, "nope", 1, "echo", Vec::new(), None).await.expect_err("unknown service");
        assert_eq!(err.remote().map(|e| e.kind), Some(HandlerErrorKind::UnknownService), "{err}");
        let err = client.call(&addr, "echo", 1, "other", Vec::new(), None).await.expect_err("unknown method");
        assert_eq!(err.remote().map(|e| e.kind), Some(HandlerErrorKind::BadRequest), "{err}");
        let err = client.call(&addr, "echo", 1, "panic", Vec::new(), None).await.expect_err("panic");
        assert_eq!(err.remote().map(|e| e.kind), Some(HandlerErrorKind::Internal), "{err}");
        let err = client.call(&addr, "Bad Name", 1, "echo", Vec::new(), None).await.expect_err("bad name");
        assert!(matches!(err, TransportError::InvalidName(_)), "{err}");

        // Sequential calls reuse a keep-alive connection (a panicking handler does not close it). The
        // pool takes a connection back a moment after its answer is read, so a call that follows at
        // once may, rarely, open a second one.
        for i in 0..50u32 {
            client.call(&addr, "echo", 1, "echo", i.to_le_bytes().to_vec(), None).await.expect("echo");
        }
        let stats = server.stats();
        assert!(stats.connections_accepted <= 3, "{stats:?}");
        assert_eq!(stats.requests, 56, "{stats:?}");

        // Concurrent calls open more connections to the same peer, then reuse them.
        let calls = (0..8).map(|_| client.call(&addr, "echo", 1, "slow", Vec::new(), None));
        for r in futures::future::join_all(calls).await {
            assert_eq!(&r.expect("slow")[..], b"late");
        }
        let after_burst = server.stats().connections_accepted;
        assert!(after_burst > 1, "concurrent calls share one HTTP/1.1 connection? {after_burst}");
        let calls = (0..8).map(|_| client.call(&addr, "echo", 1, "slow", Vec::new(), None));
        futures::future::join_all(calls).await.into_iter().for_each(|r| assert!(r.is_ok()));
        let after_second = server.stats().connections_accepted;
        assert!(after_second <= after_burst + 2, "pooled connections not reused: {after_burst} -> {after_second}");
        // echo, fail, other, panic; the loop; two bursts.
        assert_eq!(echo.calls.load(Ordering::SeqCst), 4 + 50 + 16);
    };
    tokio::time::timeout(Duration::from_secs(20), run).await.expect("test finished in time");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_filter_drops_and_delays_at_runtime() {
    let (server, b, echo) = server().await;
    let a = "127.0.0.1:9"; // the client's own address as seen by the filter
    let filter = FaultFilter::new();
    let client = client(a, &filter);
    let run = async {
        client.call(&b, "echo", 1, "echo", Vec::new(), None).await.expect("healthy");
        let seen = echo.calls.load(Ordering::SeqCst);

        // Request leg cut: the handler never sees the message.
        let rule = filter.drop_messages(Some(a), Some(&b));
        let started = Instant::now();
        let err = client.call(&b, "echo", 1, "echo", Vec::new(), None).await.expect_err("dropped");
        assert!(matches!(err, TransportError::Dropped { .. }) && err.is_unreachable(), "{err}");
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(echo.calls.load(Ordering::SeqCst), seen);
        assert!(filter.remove_rule(rule));

        // Response leg cut: the peer does the work, the caller never learns it.
        let rule = filter.drop_messages(Some(&b), Some(a));
        let err = client.call(&b, "echo", 1, "echo", Vec::new(), None).await.expect_err("answer dropped");
        assert!(matches!(err, TransportError::Dropped { .. }), "{err}");
        assert_eq!(echo.calls.load(Ordering::SeqCst), seen + 1);
        assert!(filter.remove_rule(rule));

        // A partition, then healing.
        filter.partition(&[a], &[&b]);
        assert!(client.call(&b, "echo", 1, "echo", Vec::new(), None).await.is_err());
        filter.clear();
        client.call(&b, "echo", 1, "echo", Vec::new(), None).await.expect("healed");
        assert_eq!(filter.dropped(), 3);

        // Delay on each leg adds up; a delay beyond the deadline is a timeout.
        filter.delay_messages(Some(a), Some(&b), Duration::from_millis(150));
        filter.delay_messages(Some(&b), Some(a), Duration::from_millis(100));
        let started = Instant::now();
        client.call(&b, "echo", 1, "echo", Vec::new(), None).await.expect("delayed");
        let took = started.elapsed();
        println!("round trip with 150 ms + 100 ms injected delay: {took:?}");
        assert!(took >= Duration::from_millis(250), "{took:?}");
        let err = client
            .call(&b, "echo", 1, "echo", Vec::new(), Some(Duration::from_millis(100)))
            .await
            .expect_err("timed out");
        assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
        assert!(filter.delayed() >= 3);
        filter.clear();
        let started = Instant::now();
        client.call(&b, "echo", 1, "echo", Vec::new(), None).await.expect("fast again");
        assert!(started.elapsed() < Duration::from_millis(100));

        // Handler slower than the deadline: a timeout too.
        let err = client
            .call(&b, "echo", 1, "slow", Vec::new(), Some(Duration::from_millis(50)))
            .await
            .expect_err("slow handler");
        assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
    };
    tokio::time::timeout(Duration::from_secs(20), run).await.expect("test finished in time");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_peers_shutdown_rebind_and_body_limit() {
    let run = async {
        let (server, addr, _echo) = server().await;
        let client = client("127.0.0.1:9", &FaultFilter::new());
        client.call(&addr, "echo", 1, "echo", Vec::new(), None).await.expect("up");

        // Shutdown closes the pooled connection too: the next call finds nobody.
        server.shutdown().await;
        let started = Instant::now();
        let err = client.call(&addr, "echo", 1, "echo", Vec::new(), None).await.expect_err("down");
        assert!(matches!(err, TransportError::Unreachable { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2), "a refused connect is not a timeout");

        // The port can be bound again at once (a restarted node keeps its address).
        let again = TransportServer::bind(&addr, ServerOptions::default()).await.expect("rebind");
        again.register("echo", Arc::new(Echo::default()));
        client.call(&addr, "echo", 1, "echo", Vec::new(), None).await.expect("back up");

        // Over-large bodies are refused with a typed error.
        let small = TransportServer::bind("127.0.0.1:0", ServerOptions { max_body_bytes: 1024 }).await.expect("bind");
        small.register("echo", Arc::new(Echo::default()));
        let small_addr = small.local_addr().to_string();
        let err = client.call(&small_addr, "echo", 1, "echo", vec![0u8; 4096], None).await.expect_err("too large");
        assert_eq!(err.remote().map(|e| e.kind), Some(HandlerErrorKind::TooLarge), "{err}");
        client.call(&small_addr, "echo", 1, "echo", vec![0u8; 512], None).await.expect("small enough");
        again.shutdown().await;
        small.shutdown().await;
    };
    tokio::time::timeout(Duration::from_secs(20), run).await.expect("test finished in time");
}
