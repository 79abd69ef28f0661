//! Raft groups whose members live on several nodes, over the real transport on loopback sockets:
//! election, replication, failover (timed), restart, partitions, membership changes, many groups over
//! one transport, and the snapshot path. Every wait is on observable state (raft metrics, handler
//! counters), bounded in time.

mod cluster;

use std::collections::BTreeSet;
use std::future::Future;
use std::time::{Duration, Instant};

use cluster::{Cluster, TestHandler};
use tern_raft::{Bootstrap, GroupError, GroupRole, GroupSettings};

const GROUP: u64 = 7;
const WAIT: Duration = Duration::from_secs(10);

async fn bounded<F: Future>(what: &str, limit: Duration, f: F) -> F::Output {
    tokio::time::timeout(limit, f).await.unwrap_or_else(|_| panic!("{what}: did not finish within {limit:?}"))
}

/// Proposes `payloads` on `leader` and returns the index of the last one.
async fn propose_all(cluster: &Cluster, leader: u64, group: u64, payloads: &[String]) -> u64 {
    let mut last = 0;
    for p in payloads {
        let committed = cluster.group(leader, group).propose_entry(p.clone().into_bytes()).await.expect("propose");
        assert_eq!(committed.reply, [b"ok:".as_slice(), p.as_bytes()].concat());
        last = committed.position.index;
    }
    last
}

fn payloads(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Kills the leader, waits for the survivors to elect another one, returns (new leader, time).
async fn fail_over(cluster: &mut Cluster, group: u64, leader: u64) -> (u64, Duration) {
    let started = Instant::now();
    cluster.kill(leader).await;
    let survivors = cluster.up_nodes();
    let new_leader = cluster.wait_leader(group, &survivors, WAIT).await;
    let took = started.elapsed();
    assert_ne!(new_leader, leader);
    (new_leader, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_replicate_fail_over_and_rejoin() {
    bounded("three-node failover test", Duration::from_secs(90), async {
        let mut cluster = Cluster::new(3, GroupSettings::default()).await;
        let started = Instant::now();
        cluster.start_group(GROUP, &[1, 2, 3]).await;
        let leader = cluster.wait_leader(GROUP, &[1, 2, 3], WAIT).await;
        println!("initial election: node {leader} leads after {:?}", started.elapsed());

        // Replication: every node applies every proposal, in the same order.
        let first = payloads("a", 20);
        let last = propose_all(&cluster, leader, GROUP, &first).await;
        cluster.wait_applied(GROUP, &[1, 2, 3], last, WAIT).await;
        for n in [1, 2, 3] {
            assert_eq!(
                cluster.handler(n, GROUP).payloads(),
                first.iter().map(|p| p.as_bytes().to_vec()).collect::<Vec<_>>()
            );
        }
        // A follower refuses proposals and names the leader.
        let follower = [1, 2, 3].into_iter().find(|n| *n != leader).expect("a follower");
        match cluster.group(follower, GROUP).propose(b"x".to_vec()).await {
            Err(GroupError::NotLeader { leader: Some(l), .. }) => assert_eq!(l, leader),
            other => panic!("a follower accepted or failed oddly: {other:?}"),
        }
        assert_eq!(cluster.group(follower, GROUP).current_leader_addr(), Some(cluster.addr(leader)));

        // Failover 1: the leader dies.
        let term_before = cluster.group(follower, GROUP).current_term();
        let (leader2, took1) = fail_over(&mut cluster, GROUP, leader).await;
        println!("failover 1: node {leader} killed, node {leader2} leads after {took1:?}");
        assert!(cluster.group(leader2, GROUP).current_term() > term_before);
        let second = payloads("b", 5);
        let last = propose_all(&cluster, leader2, GROUP, &second).await;
        let survivors = cluster.up_nodes();
        cluster.wait_applied(GROUP, &survivors, last, WAIT).await;

        // The dead node comes back on its address and log and catches up.
        cluster.restart(leader, &[GROUP]).await;
        cluster.wait_applied(GROUP, &[leader], last, WAIT).await;
        assert_eq!(cluster.wait_leader(GROUP, &[1, 2, 3], WAIT).await, leader2);
        let all: Vec<Vec<u8>> = first.iter().chain(&second).map(|p| p.as_bytes().to_vec()).collect();
        assert_eq!(cluster.handler(leader, GROUP).payloads(), all);

        // Failover 2: the new leader dies; the restarted node can be elected again.
        let (leader3, took2) = fail_over(&mut cluster, GROUP, leader2).await;
        println!("failover 2: node {leader2} killed, node {leader3} leads after {took2:?}");
        let third = payloads("c", 5);
        let last = propose_all(&cluster, leader3, GROUP, &third).await;
        let survivors = cluster.up_nodes();
        cluster.wait_applied(GROUP, &survivors, last, WAIT).await;
        for n in survivors {
            assert_eq!(cluster.handler(n, GROUP).payloads().len(), 30);
        }
        for took in [took1, took2] {
            assert!(took < Duration::from_secs(3), "failover took {took:?}");
        }
        cluster.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_leader_cannot_commit_while_the_majority_can() {
    bounded("partition test", Duration::from_secs(90), async {
        let mut cluster = Cluster::new(3, GroupSettings::default()).await;
        cluster.start_group(GROUP, &[1, 2, 3]).await;
        let old = cluster.wait_leader(GROUP, &[1, 2, 3], WAIT).await;
        let before = propose_all(&cluster, old, GROUP, &payloads("before", 3)).await;
        cluster.wait_applied(GROUP, &[1, 2, 3], before, WAIT).await;
        let majority: Vec<u64> = [1, 2, 3].into_iter().filter(|n| *n != old).collect();

        // Cut the leader off. It still believes it leads, so it takes the proposal into its log,
        // but cannot commit it.
        let partitioned_at = Instant::now();
        cluster.filter.isolate(&cluster.addr(old));
        let stuck = {
            let group = cluster.group(old, GROUP);
            let fut = group.propose(b"minority-1".to_vec());
            // Drive it concurrently with the rest of the test.
            tokio::time::timeout(WAIT * 2, fut)
        };
        let (stuck_result, new) = tokio::join!(stuck, async {
            let new = cluster.wait_leader(GROUP, &majority, WAIT).await;
            let took = partitioned_at.elapsed();
            println!("partition: node {old} cut off, node {new} leads the majority after {took:?}");
            assert!(took < Duration::from_secs(3), "majority failover took {took:?}");

            // The majority commits.
            let last = propose_all(&cluster, new, GROUP, &payloads("majority", 5)).await;
            cluster.wait_applied(GROUP, &majority, last, WAIT).await;

            // The old leader's lease has run out: a new proposal there fails fast.
            let started = Instant::now();
            match cluster.group(old, GROUP).propose(b"minority-2".to_vec()).await {
                Err(GroupError::NotLeader { .. }) => {}
                other => panic!("the cut-off leader did not refuse: {other:?}"),
            }
            println!("cut-off leader refused a proposal in {:?}", started.elapsed());
            assert_eq!(cluster.group(old, GROUP).metrics().applied_index(), before, "the minority applied something");

            // Heal: the old leader learns the new term, drops its uncommitted entry, catches up.
            cluster.filter.clear();
            cluster.wait_applied(GROUP, &[old], last, WAIT).await;
            assert_eq!(cluster.wait_leader(GROUP, &[1, 2, 3], WAIT).await, new);
            new
        });
        match stuck_result.expect("the stuck proposal resolves once the partition heals") {
            Err(e @ (GroupError::Discarded { .. } | GroupError::NotLeader { .. })) => {
                println!("the cut-off leader's pending proposal failed: {e}");
            }
            other => panic!("the minority's proposal did not fail: {other:?}"),
        }
        // The deposed leader now forwards to the new one.
        match cluster.group(old, GROUP).propose(b"late".to_vec()).await {
            Err(GroupError::NotLeader { leader: Some(l), .. }) => assert_eq!(l, new),
            other => panic!("the deposed leader did not forward: {other:?}"),
        }
        let expected: Vec<Vec<u8>> =
            payloads("before", 3).into_iter().chain(payloads("majority", 5)).map(String::into_bytes).collect();
        for n in [1, 2, 3] {
            assert_eq!(cluster.handler(n, GROUP).payloads(), expected, "node {n}");
        }
        assert!(cluster.filter.dropped() > 0);
        cluster.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learners_join_become_voters_over_one_shared_transport() {
    bounded("membership test", Duration::from_secs(90), async {
        let mut cluster = Cluster::new(3, GroupSettings::default()).await;
        let groups = [10u64, 11, 12];
        for g in groups {
            cluster.start_group(g, &[1]).await;
            assert_eq!(cluster.wait_leader(g, &[1], WAIT).await, 1);
            propose_all(&cluster, 1, g, &payloads(&format!("g{g}-early"), 5)).await;
            for n in [2, 3] {
                cluster.start_on(n, g, Bootstrap::Join, None).await;
            }
        }
        for g in groups {
            let group = cluster.group(1, g);
            group.add_learner(2, &cluster.addr(2), true).await.expect("add learner 2");
            group.add_learner(3, &cluster.addr(3), true).await.expect("add learner 3");
            let m = group.metrics();
            assert_eq!(m.membership.learners, BTreeSet::from([2, 3]));
            assert_eq!(m.membership.voters, BTreeSet::from([1]));
            assert_eq!(cluster.group(2, g).metrics().role, GroupRole::Learner);
            // Changing membership needs the leader.
            assert!(matches!(
                cluster.group(2, g).change_membership(BTreeSet::from([1, 2, 3]), false).await,
                Err(GroupError::NotLeader { .. })
            ));
            group.change_membership(BTreeSet::from([1, 2, 3]), false).await.expect("change membership");
            let m = group.metrics();
            assert_eq!(m.membership.voters, BTreeSet::from([1, 2, 3]));
            assert!(m.membership.learners.is_empty() && !m.membership.joint);
            assert_eq!(m.membership.nodes.get(&3), Some(&cluster.addr(3)));
            let last = propose_all(&cluster, 1, g, &payloads(&format!("g{g}-late"), 5)).await;
            cluster.wait_applied(g, &[1, 2, 3], last, WAIT).await;
            for n in [2, 3] {
                assert_eq!(cluster.handler(n, g).payloads(), cluster.handler(1, g).payloads());
                assert_eq!(cluster.group(n, g).metrics().role, GroupRole::Follower);
            }
        }
        // Leadership moves on request.
        cluster.group(1, 11).transfer_leader(2).await.expect("transfer");
        let deadline = Instant::now() + WAIT;
        while cluster.wait_leader(11, &[1, 2, 3], WAIT).await != 2 {
            assert!(Instant::now() < deadline, "leadership of group 11 did not move to node 2");
            let _ = cluster.group(2, 11).wait_for(Duration::from_millis(200), "lead", |m| m.is_leader()).await;
        }
        propose_all(&cluster, 2, 11, &payloads("after-transfer", 2)).await;

        // Every group of a node goes through its one transport and one connection pool per peer.
        for n in [1, 2, 3] {
            assert_eq!(cluster.node(n).transport().registry().groups(), groups.to_vec());
            let stats = cluster.node(n).server().stats();
            println!("node {n} transport: {stats:?}");
            assert!(stats.requests > 3 * stats.connections_accepted, "connections are not reused: {stats:?}");
        }
        cluster.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_flow_to_followers_that_can_install_them_and_are_refused_cleanly_otherwise() {
    bounded("snapshot test", Duration::from_secs(90), async {
        let settings =
            GroupSettings { snapshot_every_logs: 10, logs_kept_after_snapshot: 0, ..GroupSettings::default() };
        let mut cluster = Cluster::new(3, settings).await;
        cluster.start_group(GROUP, &[1]).await;
        cluster.wait_leader(GROUP, &[1], WAIT).await;
        let last = propose_all(&cluster, 1, GROUP, &payloads("x", 30)).await;
        // The snapshot policy fired and the log behind it is gone: a newcomer needs a snapshot.
        let m = cluster
            .group(1, GROUP)
            .wait_for(WAIT, "a purge", |m| m.purged.is_some_and(|p| p.index >= 10))
            .await
            .expect("purged");
        let snapshot_at = m.snapshot.expect("a snapshot").index;

        // Node 2 cannot install snapshots: it refuses each offer, stays a healthy, empty learner,
        // and the leader keeps working.
        cluster.start_on(2, GROUP, Bootstrap::Join, Some(TestHandler::default())).await;
        cluster.group(1, GROUP).add_learner(2, &cluster.addr(2), false).await.expect("add learner 2");
        let refusing = cluster.handler(2, GROUP);
        let deadline = Instant::now() + WAIT;
        while refusing.snapshot_offers.load(std::sync::atomic::Ordering::SeqCst) < 2 {
            assert!(Instant::now() < deadline, "node 2 was never offered a snapshot (twice)");
            let _ = cluster.group(2, GROUP).wait_for(Duration::from_millis(50), "never", |_| false).await;
        }
        let m2 = cluster.group(2, GROUP).metrics();
        assert_eq!(m2.role, GroupRole::Learner);
        assert!(m2.last_applied.is_none() && refusing.installed.lock().is_empty(), "{m2:?}");
        let more = propose_all(&cluster, 1, GROUP, &payloads("y", 2)).await;
        assert!(more > last);

        // Node 3 can: the snapshot (its marker) arrives, is installed, and the log follows it.
        cluster.start_on(3, GROUP, Bootstrap::Join, Some(TestHandler::installing())).await;
        cluster.group(1, GROUP).add_learner(3, &cluster.addr(3), true).await.expect("add learner 3 (blocking)");
        // (A blocking add returns once the learner is within openraft's replication lag threshold,
        // not once it has applied everything.)
        cluster.wait_applied(GROUP, &[3], more, WAIT).await;
        let installing = cluster.handler(3, GROUP);
        let installed = installing.installed.lock().clone();
        assert_eq!(installed.len(), 1, "{installed:?}");
        // The installed snapshot is the leader's: its marker names the entry it covers, and that is
        // where node 3's log starts.
        let marker = installed[0].marker.clone().expect("a marker");
        let covered = cluster.group(3, GROUP).metrics().snapshot.expect("node 3 has a snapshot").index;
        println!("node 3 installed a snapshot covering index {covered}: marker {marker}");
        assert!(covered >= snapshot_at, "{covered} < {snapshot_at}");
        assert!(marker.contains(&format!("\"index\":{covered}")), "{marker}");
        let last = propose_all(&cluster, 1, GROUP, &payloads("z", 3)).await;
        cluster.wait_applied(GROUP, &[3], last, WAIT).await;
        let tail = installing.payloads();
        assert_eq!(
            tail[tail.len() - 3..],
            payloads("z", 3).into_iter().map(String::into_bytes).collect::<Vec<_>>()[..]
        );
        assert!(cluster.group(3, GROUP).metrics().snapshot.is_some());
        cluster.shutdown().await;
    })
    .await;
}
