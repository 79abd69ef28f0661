#!/usr/bin/env python3
"""Fault rounds on the docker compose cluster (docker/compose.yml), driven by docker/fault-rounds.sh.

Concurrent writers index fresh ids through whichever node answers and record every outcome. Each
round injects one fault on the node holding a primary, cycling `docker kill` + `docker start`,
`docker pause` / `docker unpause` and `docker network disconnect` / `connect`, holds it while
the writers go on, heals it, waits for green health, then checks with the writers held:

- every acknowledged write is present (lost writes must be 0);
- every copy of every shard holds the same ids, versions and seq_nos (divergent copies must be
  0), read per copy with `preference=_shards:N|_only_local` on the node holding it;
- a write that failed or got no answer may have been applied (as with an ES timeout), but then
  on every copy: the per-copy comparison covers it.

Failover time of a round: from the fault (the docker command returned) to the first
acknowledged probe: single-document writes routed to the shard whose primary the victim held,
sent every 100 ms through the other nodes, each on its own connection (so one stuck on the lost
primary does not hold back the next). Also reported: the bulk writers' first acknowledged write to
that shard sent after the fault, which includes their request timeout when a request hung. Prints a table and a summary; exits 1 on any lost
write, divergent copy or round that never turned green.

Standard library only: it runs wherever python3 and the docker CLI are.
"""

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time

INDEX = "faults"


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(*args, check=True):
    r = subprocess.run(args, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout.strip()


class Cluster:
    """The compose project's containers, reached by their address on the project network."""

    def __init__(self, project, services, network):
        self.project = project
        self.services = services
        self.network = network
        self.lock = threading.Lock()
        self.addrs = {}
        self.refresh_addrs()

    def container(self, service):
        return f"{self.project}_{service}_1"

    def refresh_addrs(self):
        """Re-reads container addresses: a restart or a reconnect may give a node a new one."""
        for s in self.services:
            out = sh("docker", "inspect", "-f",
                     "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}",
                     self.container(s), check=False)
            ip = None
            for part in out.split():
                k, _, v = part.partition("=")
                if k == self.network and v:
                    ip = v
            with self.lock:
                self.addrs[s] = ip

    def addr(self, service):
        with self.lock:
            return self.addrs.get(service)

    def request(self, service, method, path, body=None, timeout=10.0, ctype="application/json"):
        """(status, parsed body) or raises OSError/ValueError on no answer."""
        ip = self.addr(service)
        if not ip:
            raise OSError(f"{service} has no address")
        conn = http.client.HTTPConnection(ip, 9200, timeout=timeout)
        try:
            data = None
            headers = {}
            if body is not None:
                data = body if isinstance(body, (bytes, str)) else json.dumps(body)
                headers["content-type"] = ctype
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw.strip() else None)
        finally:
            conn.close()

    def try_request(self, service, method, path, body=None, timeout=10.0):
        try:
            return self.request(service, method, path, body, timeout)
        except (OSError, ValueError, http.client.HTTPException):
            return None, None


class Writer(threading.Thread):
    """Sends bulks of fresh ids through the nodes in turn; a failure moves it to the next node."""

    def __init__(self, cluster, k, bulk, interval, timeout, gate):
        super().__init__(daemon=True)
        self.c = cluster
        self.k = k
        self.bulk = bulk
        self.interval = interval
        self.timeout = timeout
        self.gate = gate  # set = writing allowed
        self.stop = False
        self.idle = threading.Event()
        self.lock = threading.Lock()
        self.acked = []  # (id, sent, acked_at)
        self.failed = []
        self.failure_kinds = {}
        self.n = 0

    def run(self):
        node = self.k % len(self.c.services)
        while not self.stop:
            if not self.gate.is_set():
                self.idle.set()
                self.gate.wait(1.0)
                continue
            self.idle.clear()
            ids = [f"w{self.k}-{self.n + j}" for j in range(self.bulk)]
            nums = [self.k * 1_000_000_000 + self.n + j for j in range(self.bulk)]
            self.n += self.bulk
            lines = []
            for i, n in zip(ids, nums):
                lines.append(json.dumps({"index": {"_index": INDEX, "_id": i}}))
                lines.append(json.dumps({"writer": self.k, "n": n}))
            body = "\n".join(lines) + "\n"
            service = self.c.services[node]
            sent = time.monotonic()
            try:
                status, resp = self.c.request(service, "POST", "/_bulk", body, self.timeout, "application/x-ndjson")
            except (OSError, ValueError, http.client.HTTPException) as e:
                status, resp = None, type(e).__name__
            now = time.monotonic()
            ok_any = False
            with self.lock:
                if status == 200 and isinstance(resp, dict):
                    items = resp.get("items") or []
                    for j, i in enumerate(ids):
                        item = items[j].get("index", {}) if j < len(items) else {}
                        if 200 <= item.get("status", 0) < 300:
                            self.acked.append((i, sent, now))
                            ok_any = True
                        else:
                            kind = (item.get("error") or {}).get("type", "no item")
                            self.failure_kinds[kind] = self.failure_kinds.get(kind, 0) + 1
                            self.failed.append(i)
                elif status is None:
                    kind = f"no answer ({resp})"
                    self.failure_kinds[kind] = self.failure_kinds.get(kind, 0) + len(ids)
                    self.failed.extend(ids)
                else:
                    err = resp.get("error", {}) if isinstance(resp, dict) else {}
                    kind = f"{status} {err.get('type', '') if isinstance(err, dict) else err}"
                    self.failure_kinds[kind] = self.failure_kinds.get(kind, 0) + len(ids)
                    self.failed.extend(ids)
            if not ok_any:
                node = (node + 1) % len(self.c.services)
                time.sleep(0.1)
            else:
                time.sleep(self.interval)
        self.idle.set()


class Prober(threading.Thread):
    """Measures failover: every `every` seconds a new single-document write to `shard` (routed
    there with `routing`), each on its own connection and thread, through a node other than the
    victim, until one is acknowledged. Independent requests, so a request stuck on the lost
    primary does not hold back the next one."""

    def __init__(self, cluster, rnd, victim, routing, every=0.1, timeout=15.0, budget=60.0):
        super().__init__(daemon=True)
        self.c = cluster
        self.rnd = rnd
        self.via = [s for s in cluster.services if s != victim]
        self.routing = routing
        self.every = every
        self.timeout = timeout
        self.budget = budget
        self.lock = threading.Lock()
        self.acked = []  # (id, sent, acked_at)
        self.failed = []
        self.first_ack = None

    def one(self, n, sent):
        i = f"probe-{self.rnd}-{n}"
        service = self.via[n % len(self.via)]
        try:
            status, _ = self.c.request(service, "PUT", f"/{INDEX}/_doc/{i}?routing={self.routing}",
                                      {"probe": self.rnd}, self.timeout)
        except (OSError, ValueError, http.client.HTTPException):
            status = None
        now = time.monotonic()
        with self.lock:
            if status in (200, 201):
                self.acked.append((i, sent, now))
                if self.first_ack is None or now < self.first_ack:
                    self.first_ack = now
            else:
                self.failed.append(i)

    def run(self):
        start = time.monotonic()
        threads = []
        n = 0
        while time.monotonic() - start < self.budget:
            with self.lock:
                if self.first_ack is not None:
                    break
            t = threading.Thread(target=self.one, args=(n, time.monotonic()), daemon=True)
            t.start()
            threads.append(t)
            n += 1
            time.sleep(self.every)
        for t in threads:
            t.join(self.timeout + 1)


def cat_shards(c, via):
    status, rows = c.try_request(via, "GET", f"/_cat/shards/{INDEX}?format=json&h=shard,prirep,state,node")
    return rows if status == 200 and isinstance(rows, list) else []


def healthy(c, via):
    status, h = c.try_request(via, "GET", f"/_cluster/health/{INDEX}", timeout=5)
    return status == 200 and h.get("status") == "green" and h.get("number_of_nodes") == len(c.services)


def wait_green(c, timeout):
    """Seconds until every node reports green with all nodes, or None."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        c.refresh_addrs()
        if all(healthy(c, s) for s in c.services):
            return time.monotonic() - start
        time.sleep(0.25)
    return None


def copy_contents(c, service, shard):
    """{id: (version, seq_no, primary_term)} of `service`'s own copy of `shard`."""
    c.try_request(service, "POST", f"/{INDEX}/_refresh", timeout=30)
    status, r = c.request(service, "POST", f"/{INDEX}/_search?preference=_shards:{shard}%7C_only_local",
                          {"size": 1_000_000, "_source": False, "version": True, "seq_no_primary_term": True,
                           "query": {"match_all": {}}}, timeout=120)
    if status != 200:
        raise RuntimeError(f"per-copy search of shard {shard} on {service}: {status} {r}")
    if r["_shards"]["total"] != 1:
        raise RuntimeError(f"per-copy search of shard {shard} on {service} hit {r['_shards']}")
    return {h["_id"]: (h.get("_version"), h.get("_seq_no"), h.get("_primary_term")) for h in r["hits"]["hits"]}


def check(c, shards, acked_ids, timeout):
    """(lost ids, divergent shard descriptions, {id: shard}). Copies may trail by a few applied
    entries, so a difference is retried until `timeout` before it counts."""
    start = time.monotonic()
    while True:
        divergent = []
        shard_of = {}
        rows = cat_shards(c, c.services[0]) or cat_shards(c, c.services[1])
        for shard in range(shards):
            holders = [r["node"] for r in rows if r["shard"] == str(shard) and r["state"] == "STARTED"]
            contents = {}
            for h in holders:
                try:
                    contents[h] = copy_contents(c, h, shard)
                except (OSError, RuntimeError, ValueError, http.client.HTTPException) as e:
                    divergent.append(f"shard {shard}: {h} unreadable: {e}")
            if len(holders) < 2:
                divergent.append(f"shard {shard}: started copies on {holders}")
            values = list(contents.values())
            for h, v in contents.items():
                if v != values[0]:
                    a, b = values[0], v
                    diff = [k for k in set(a) | set(b) if a.get(k) != b.get(k)]
                    divergent.append(f"shard {shard}: {h} differs from {list(contents)[0]} on {len(diff)} ids, "
                                     f"e.g. {sorted(diff)[:3]}")
            for i in (values[0] if values else {}):
                shard_of[i] = shard
        lost = [i for i in acked_ids if i not in shard_of]
        if (not lost and not divergent) or time.monotonic() - start > timeout:
            return lost, divergent, shard_of
        time.sleep(1.0)


def save_diagnostics(c, diag_dir, rnd):
    """Each node's view (_cat/nodes, _cat/shards, health, allocation explain) and log tail."""
    out = os.path.join(diag_dir, f"round-{rnd}")
    os.makedirs(out, exist_ok=True)
    for s in c.services:
        state = {}
        for path in ("/_cat/nodes?format=json", f"/_cat/shards/{INDEX}?format=json", "/_cluster/health",
                     "/_cluster/allocation/explain"):
            state[path] = c.try_request(s, "GET", path, timeout=5)
        with open(os.path.join(out, f"{s}-state.json"), "w") as fh:
            json.dump(state, fh, indent=1, default=str)
        logs = subprocess.run(["docker", "logs", "--tail", "5000", c.container(s)], capture_output=True, text=True)
        with open(os.path.join(out, f"{s}.log"), "w") as fh:
            fh.write(logs.stdout + logs.stderr)
    return out


def inject(c, fault, service):
    name = c.container(service)
    if fault == "kill":
        sh("docker", "kill", name)
    elif fault == "pause":
        sh("docker", "pause", name)
    elif fault == "disconnect":
        sh("docker", "network", "disconnect", c.network, name)


def heal(c, fault, service):
    name = c.container(service)
    if fault == "kill":
        sh("docker", "start", name)
    elif fault == "pause":
        sh("docker", "unpause", name)
    elif fault == "disconnect":
        # The service name is the alias peers dial (network.publish_host); compose set it at creation.
        sh("docker", "network", "connect", "--alias", service, c.network, name)
    c.refresh_addrs()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--project", default="tern-faults")
    ap.add_argument("--services", default="tern-1,tern-2,tern-3")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--faults", default="kill,pause,disconnect", help="cycled in this order")
    ap.add_argument("--hold", type=float, default=6.0, help="seconds a fault lasts")
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--bulk", type=int, default=10, help="docs per bulk request")
    ap.add_argument("--interval", type=float, default=0.05, help="pause between a writer's bulks (s)")
    ap.add_argument("--write-timeout", type=float, default=5.0)
    ap.add_argument("--shards", type=int, default=3)
    ap.add_argument("--replicas", type=int, default=1)
    ap.add_argument("--green-timeout", type=float, default=120.0)
    ap.add_argument("--check-timeout", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--diag-dir", default="/tmp/tern-fault-rounds",
                    help="where a round that does not turn green leaves the nodes' state and logs")
    a = ap.parse_args()
    random.seed(a.seed)
    services = a.services.split(",")
    c = Cluster(a.project, services, f"{a.project}_cluster")

    log("waiting for the cluster to form")
    start = time.monotonic()
    while True:
        c.refresh_addrs()
        st, h = c.try_request(services[0], "GET", "/_cluster/health", timeout=5)
        if st == 200 and h.get("number_of_nodes") == len(services):
            break
        if time.monotonic() - start > 180:
            sys.exit(f"the cluster did not form: {h}")
        time.sleep(0.5)
    st, r = c.try_request(services[0], "PUT", f"/{INDEX}", {
        "settings": {"number_of_shards": a.shards, "number_of_replicas": a.replicas,
                     "max_result_window": 1_000_000},
        "mappings": {"properties": {"writer": {"type": "integer"}, "n": {"type": "long"}}}})
    if st != 200:
        sys.exit(f"creating {INDEX} failed: {st} {r}")
    if wait_green(c, a.green_timeout) is None:
        sys.exit("the index never turned green")

    gate = threading.Event()
    gate.set()
    probes = []
    writers = [Writer(c, k, a.bulk, a.interval, a.write_timeout, gate) for k in range(a.writers)]
    for w in writers:
        w.start()

    def all_acked():
        out = []
        for w in writers + probes:
            with w.lock:
                out.extend(w.acked)
        return out

    # Routing values of each shard (ids known to live there), for the failover probes.
    time.sleep(2.0)
    gate.clear()
    for w in writers:
        w.idle.wait(a.write_timeout + 5)
    lost, divergent, shard_of = check(c, a.shards, [i for i, _, _ in all_acked()], a.check_timeout)
    if lost or divergent:
        sys.exit(f"the checks failed before any fault: lost {lost[:10]}, divergent {divergent}")
    routing = {}
    for i, sh_ in shard_of.items():
        routing.setdefault(sh_, i)
    if len(routing) != a.shards:
        sys.exit(f"no document on some shard after the warm-up writes: {sorted(routing)}")
    gate.set()

    faults = a.faults.split(",")
    rounds = []
    for rnd in range(a.rounds):
        fault = faults[rnd % len(faults)]
        shard = rnd % a.shards
        rows = []
        while not rows:
            rows = cat_shards(c, random.choice(services))
        primary = next((r["node"] for r in rows if r["shard"] == str(shard) and r["prirep"] == "p"), None)
        victim = primary or random.choice(services)
        time.sleep(1.0)  # writes flowing before the fault
        inject(c, fault, victim)
        # The clock starts once the docker command returned: the fault is in effect from here on
        # (a write sent before may still have been answered by the victim).
        t0 = time.monotonic()
        prober = Prober(c, rnd + 1, victim, routing[shard])
        prober.start()
        probes.append(prober)
        time.sleep(a.hold)
        heal(c, fault, victim)
        healed = time.monotonic()
        green = wait_green(c, a.green_timeout)
        if green is None:
            # Another fault on a cluster that has not recovered tests nothing but the first
            # failure: stop here, keeping what the nodes said and logged for diagnosis.
            prober.join()
            where = save_diagnostics(c, a.diag_dir, rnd + 1)
            rounds.append({"round": rnd + 1, "fault": fault, "victim": victim, "shard": shard,
                           "victim_was_primary": bool(primary), "failover_s": None,
                           "writers_first_ack_s": None, "green_after_heal_s": None,
                           "acked_total": len(all_acked()), "lost": None, "divergent": None,
                           "problems": [f"not green {a.green_timeout:.0f} s after healing; diagnostics in {where}"],
                           "hold_s": healed - t0})
            log(f"round {rnd + 1:2}: {fault:10} {victim} (primary of shard {shard}): NOT GREEN "
                f"{a.green_timeout:.0f} s after healing; stopping; diagnostics in {where}")
            break
        time.sleep(1.0)  # writes flowing after the heal
        # Hold the writers for the checks (copies compared while nothing is written).
        gate.clear()
        for w in writers:
            w.idle.wait(a.write_timeout + 5)
        prober.join()
        acked = all_acked()
        lost, divergent, shard_of = check(c, a.shards, [i for i, _, _ in acked], a.check_timeout)
        failover = prober.first_ack - t0 if prober.first_ack is not None else None
        writers_first = min((at - t0 for i, sent, at in acked if sent >= t0 and shard_of.get(i) == shard
                             and not i.startswith("probe-")), default=None)
        failed = sum(len(w.failed) for w in writers + probes)
        applied_failed = sum(1 for w in writers + probes for i in w.failed if i in shard_of)
        row = {"round": rnd + 1, "fault": fault, "victim": victim, "shard": shard, "victim_was_primary": bool(primary),
               "failover_s": failover, "writers_first_ack_s": writers_first, "green_after_heal_s": green, "acked_total": len(acked),
               "failed_total": failed, "failed_but_applied_total": applied_failed, "docs": len(shard_of),
               "lost": len(lost), "divergent": len(divergent), "problems": (lost[:10] + divergent)[:10],
               "hold_s": healed - t0}
        rounds.append(row)
        fo = f"{failover:.2f}s" if failover is not None else "none"
        gr = f"{green:.2f}s" if green is not None else "NEVER"
        log(f"round {rnd + 1:2}: {fault:10} {victim} (primary of shard {shard}): failover {fo}, green {gr} after heal, "
            f"{len(acked)} acked, {failed} failed ({applied_failed} applied), lost {len(lost)}, divergent {len(divergent)}"
            + (f" {row['problems']}" if row["problems"] else ""))
        gate.set()

    for w in writers:
        w.stop = True
    gate.set()
    for w in writers:
        w.join(a.write_timeout + 5)
    acked = all_acked()
    stopped_early = any(r["green_after_heal_s"] is None for r in rounds)
    if stopped_early:
        # Copies missing or not started: the final comparison would report the outage, not data.
        lost, divergent, shard_of = [], [], {}
    else:
        lost, divergent, shard_of = check(c, a.shards, [i for i, _, _ in acked], a.check_timeout)
    kinds = {}
    for w in writers:
        for k, v in w.failure_kinds.items():
            kinds[k] = kinds.get(k, 0) + v

    def stats(xs):
        xs = sorted(x for x in xs if x is not None)
        if not xs:
            return "n/a"
        pick = lambda p: xs[min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))]
        return f"min {xs[0]:.2f} / p50 {pick(50):.2f} / p90 {pick(90):.2f} / max {xs[-1]:.2f} s (n={len(xs)})"

    print()
    print("| round | fault | victim | shard | failover | green after heal | acked (total) | lost | divergent |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rounds:
        fo = f"{r['failover_s']:.2f} s" if r["failover_s"] is not None else "none"
        gr = f"{r['green_after_heal_s']:.2f} s" if r["green_after_heal_s"] is not None else "never"
        unchecked = "not checked"
        print(f"| {r['round']} | {r['fault']} | {r['victim']} | {r['shard']} | {fo} | {gr} | {r['acked_total']} | "
              f"{unchecked if r['lost'] is None else r['lost']} | {unchecked if r['divergent'] is None else r['divergent']} |")
    print()
    never_green = sum(1 for r in rounds if r["green_after_heal_s"] is None)
    print(f"rounds: {len(rounds)}; acknowledged writes: {len(acked)}; lost writes: {len(lost)}; "
          f"divergent copies: {len(divergent)}; rounds never green: {never_green}")
    failed = sum(len(w.failed) for w in writers + probes)
    print(f"failed or unanswered writes: {failed}, applied anyway on every copy: "
          f"{sum(1 for w in writers + probes for i in w.failed if i in shard_of)}; writers' failures by reason: {kinds}")
    for f in faults:
        print(f"failover after {f}: {stats([r['failover_s'] for r in rounds if r['fault'] == f])}")
        print(f"  bulk writers' first ack on that shard after {f}: "
              f"{stats([r['writers_first_ack_s'] for r in rounds if r['fault'] == f])}")
        print(f"green after healing {f}: {stats([r['green_after_heal_s'] for r in rounds if r['fault'] == f])}")
    if stopped_early:
        print("the final checks were skipped: the run stopped at a round that never turned green")
    bad = lost or divergent or never_green or any(r["lost"] or r["divergent"] for r in rounds)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"rounds": rounds, "acked": len(acked), "lost": len(lost), "divergent": divergent,
                       "failed": failed, "failure_kinds": kinds, "args": vars(a)}, fh, indent=1)
    if bad:
        problems = [p for r in rounds for p in r["problems"]]
        print("FAILED: " + "; ".join((lost[:10] + divergent + problems)[:10]))
        sys.exit(1)


if __name__ == "__main__":
    main()
