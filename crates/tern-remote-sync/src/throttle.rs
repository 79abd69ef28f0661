//! The node-wide limits of `remote_sync.max_bytes_per_sec` and `remote_sync.max_concurrent_file_chunks`.
//!
//! Bytes are paced rather than bucketed: each chunk reserves the next `len / rate` seconds on one
//! shared clock and waits until they have passed. The long-run rate is then exactly the limit, with no burst
//! above it, and a wait is what `sync_stats` counts as a pause.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Semaphore;

pub struct Throttle {
    /// When the next byte may go, on the shared clock.
    next_free: Mutex<Instant>,
    chunks: Mutex<(usize, Arc<Semaphore>)>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle { next_free: Mutex::new(Instant::now()), chunks: Mutex::new((10, Arc::new(Semaphore::new(10)))) }
    }
}

impl Throttle {
    /// Waits until `bytes` may be transferred at `bytes_per_sec` (0 = unlimited); returns how long it
    /// waited, if it did.
    pub async fn acquire(&self, bytes: u64, bytes_per_sec: u64) -> Option<Duration> {
        if bytes_per_sec == 0 {
            return None;
        }
        let now = Instant::now();
        // The chunk is charged before it goes: it may leave once its own share of time has passed,
        // so no burst ever exceeds the rate (a first chunk for free would).
        let until = {
            let mut next = self.next_free.lock();
            let until = (*next).max(now) + Duration::from_secs_f64(bytes as f64 / bytes_per_sec as f64);
            *next = until;
            until
        };
        let wait = until.saturating_duration_since(now);
        if wait.is_zero() {
            return None;
        }
        tokio::time::sleep(wait).await;
        Some(wait)
    }

    /// The semaphore bounding chunks in flight on this node, re-made when the setting changes.
    pub fn chunk_permits(&self, max_concurrent: usize) -> Arc<Semaphore> {
        let mut g = self.chunks.lock();
        if g.0 != max_concurrent {
            *g = (max_concurrent, Arc::new(Semaphore::new(max_concurrent.max(1))));
        }
        g.1.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pacing_holds_the_rate() {
        let t = Throttle::default();
        let started = Instant::now();
        let mut paused = Duration::ZERO;
        // 10 chunks of 100 KB at 1 MB/s take one second.
        for _ in 0..10 {
            paused += t.acquire(100_000, 1_000_000).await.unwrap_or_default();
        }
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(990), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
        assert!(paused >= Duration::from_millis(900));
        assert!(t.acquire(1 << 30, 0).await.is_none(), "0 means unlimited");
    }
}
