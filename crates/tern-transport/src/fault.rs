//! The fault filter: drop or delay messages between given node addresses, switchable at runtime.
//!
//! A test shares one [`FaultFilter`] between the clients of all its nodes and flips rules while the
//! cluster runs: [`FaultFilter::partition`] cuts two sides apart, [`FaultFilter::isolate`] cuts one
//! node off, [`FaultFilter::delay_messages`] slows a link, [`FaultFilter::clear`] heals everything.
//! The client asks for a [`Verdict`] on the request leg (`local -> peer`) and on the response leg
//! (`peer -> local`) of every call; see the crate docs for why the sender decides both.
//!
//! Rules match exact `host:port` strings, the same strings nodes use as their transport address.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::RwLock;

/// What happens to a matching message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// The message is lost; the caller gets [`TransportError::Dropped`](crate::TransportError::Dropped).
    Drop,
    /// The message is held back this long before it goes on.
    Delay(Duration),
}

/// One rule: messages from `from` to `to` (`None` = any address) suffer `action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub from: Option<String>,
    pub to: Option<String>,
    pub action: FaultAction,
}

impl FaultRule {
    fn matches(&self, from: &str, to: &str) -> bool {
        self.from.as_deref().is_none_or(|f| f == from) && self.to.as_deref().is_none_or(|t| t == to)
    }
}

/// Identifies a rule added to a filter, to remove it later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(u64);

/// The filter's decision for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Deliver,
    /// Deliver after this delay (the longest of all matching delay rules).
    Delay(Duration),
    /// A matching drop rule wins over any delay.
    Drop,
}

#[derive(Default)]
struct Inner {
    rules: RwLock<Vec<(RuleId, FaultRule)>>,
    next_id: AtomicU64,
    dropped: AtomicU64,
    delayed: AtomicU64,
}

/// A shared, runtime-switchable set of drop/delay rules. Cloning shares the rules.
#[derive(Clone, Default)]
pub struct FaultFilter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for FaultFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultFilter").field("rules", &*self.inner.rules.read()).finish()
    }
}

impl FaultFilter {
    /// A filter with no rules: everything is delivered.
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_rule(&self, rule: FaultRule) -> RuleId {
        let id = RuleId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        tracing::info!(?rule, "fault filter: rule added");
        self.inner.rules.write().push((id, rule));
        id
    }

    /// Removes a rule; false if it was not there (already removed or cleared).
    pub fn remove_rule(&self, id: RuleId) -> bool {
        let mut rules = self.inner.rules.write();
        let before = rules.len();
        rules.retain(|(rid, _)| *rid != id);
        rules.len() != before
    }

    /// Removes every rule: the network is healed.
    pub fn clear(&self) {
        self.inner.rules.write().clear();
        tracing::info!("fault filter: all rules cleared");
    }

    /// Drops messages from `from` to `to` (`None` = any address).
    pub fn drop_messages(&self, from: Option<&str>, to: Option<&str>) -> RuleId {
        self.add_rule(FaultRule { from: from.map(str::to_owned), to: to.map(str::to_owned), action: FaultAction::Drop })
    }

    /// Delays messages from `from` to `to` (`None` = any address) by `delay`.
    pub fn delay_messages(&self, from: Option<&str>, to: Option<&str>, delay: Duration) -> RuleId {
        self.add_rule(FaultRule {
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
            action: FaultAction::Delay(delay),
        })
    }

    /// Cuts every link between a node of `side_a` and a node of `side_b`, both directions.
    pub fn partition(&self, side_a: &[&str], side_b: &[&str]) -> Vec<RuleId> {
        let mut ids = Vec::new();
        for a in side_a {
            for b in side_b {
                ids.push(self.drop_messages(Some(a), Some(b)));
                ids.push(self.drop_messages(Some(b), Some(a)));
            }
        }
        ids
    }

    /// Cuts `addr` off from everyone, both directions.
    pub fn isolate(&self, addr: &str) -> Vec<RuleId> {
        vec![self.drop_messages(Some(addr), None), self.drop_messages(None, Some(addr))]
    }

    /// The decision for one message from `from` to `to`; counts drops and delays.
    pub fn verdict(&self, from: &str, to: &str) -> Verdict {
        let rules = self.inner.rules.read();
        if rules.is_empty() {
            return Verdict::Deliver;
        }
        let mut delay: Option<Duration> = None;
        for (_, rule) in rules.iter().filter(|(_, r)| r.matches(from, to)) {
            match rule.action {
                FaultAction::Drop => {
                    self.inner.dropped.fetch_add(1, Ordering::Relaxed);
                    return Verdict::Drop;
                }
                FaultAction::Delay(d) => delay = Some(delay.map_or(d, |cur| cur.max(d))),
            }
        }
        match delay {
            Some(d) => {
                self.inner.delayed.fetch_add(1, Ordering::Relaxed);
                Verdict::Delay(d)
            }
            None => Verdict::Deliver,
        }
    }

    /// How many messages the filter has dropped so far.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// How many messages the filter has delayed so far.
    pub fn delayed(&self) -> u64 {
        self.inner.delayed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let f = FaultFilter::new();
        assert_eq!(f.verdict("a", "b"), Verdict::Deliver);
        let d = f.delay_messages(Some("a"), None, Duration::from_millis(10));
        f.delay_messages(None, Some("b"), Duration::from_millis(30));
        assert_eq!(f.verdict("a", "b"), Verdict::Delay(Duration::from_millis(30)));
        assert_eq!(f.verdict("a", "c"), Verdict::Delay(Duration::from_millis(10)));
        assert_eq!(f.verdict("c", "a"), Verdict::Deliver);
        let p = f.partition(&["a"], &["b", "c"]);
        assert_eq!(p.len(), 4);
        assert_eq!(f.verdict("a", "b"), Verdict::Drop);
        assert_eq!(f.verdict("c", "a"), Verdict::Drop);
        assert_eq!(f.verdict("b", "c"), Verdict::Deliver);
        for id in p {
            assert!(f.remove_rule(id));
        }
        assert!(f.remove_rule(d));
        assert!(!f.remove_rule(d));
        assert_eq!(f.verdict("a", "c"), Verdict::Deliver);
        assert_eq!(f.dropped(), 2);
        f.isolate("z");
        assert_eq!(f.verdict("z", "a"), Verdict::Drop);
        assert_eq!(f.verdict("a", "z"), Verdict::Drop);
        f.clear();
        assert_eq!(f.verdict("a", "z"), Verdict::Deliver);
    }
}
