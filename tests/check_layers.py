#!/usr/bin/env python3
"""Checks that crate dependencies point one way (docs/architecture.md, "Crates and the direction of
dependencies"): each engine library has one owner crate, nothing below the REST edge reaches axum,
and nothing but the binary (and the test fixtures) reaches a plugin.

Reads `cargo metadata` (normal dependencies only, the resolved graph) and fails with the offending
paths. Run from anywhere: python3 tests/check_layers.py
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# external crate -> the workspace crates allowed to depend on it directly
OWNERS = {
    "tantivy": {"tern-shard", "tern-bench"},
    "openraft": {"tern-raft"},
    "axum": {"tern-rest", "tern-server", "tern-remote-sync", "tern-integration-tests"},
    "hyper": {"tern-transport", "tern-rest", "tern-bench"},
}
# workspace crate -> workspace crates that must never be in its dependency closure
NEVER_BELOW = {
    "tern-remote-sync": {"tern-common", "tern-config", "tern-query", "tern-mapping", "tern-cluster", "tern-shard",
                         "tern-transport", "tern-raft", "tern-node", "tern-rest"},
    "tern-rest": {"tern-common", "tern-config", "tern-query", "tern-mapping", "tern-cluster", "tern-shard",
                  "tern-transport", "tern-raft", "tern-node"},
    "tern-node": {"tern-common", "tern-config", "tern-query", "tern-mapping", "tern-cluster", "tern-shard",
                  "tern-transport", "tern-raft"},
    "tern-raft": {"tern-common", "tern-transport"},
    "tern-transport": set(),
    "tern-shard": {"tern-common", "tern-query", "tern-mapping"},
}


def main() -> int:
    host = next(line.split()[1] for line in subprocess.check_output(["rustc", "-vV"], text=True).splitlines()
                if line.startswith("host:"))
    meta = json.loads(subprocess.check_output(
        ["cargo", "metadata", "--format-version", "1", "--quiet", "--filter-platform", host], cwd=ROOT))
    names = {p["id"]: p["name"] for p in meta["packages"]}
    members = {names[m] for m in meta["workspace_members"]}
    deps = {}
    for node in meta["resolve"]["nodes"]:
        direct = set()
        for d in node["deps"]:
            if any(k["kind"] is None for k in d["dep_kinds"]):  # normal dependencies only
                direct.add(names[d["pkg"]])
        deps[names[node["id"]]] = direct
    errors = []
    # Engine libraries: used directly only by their owners.
    for crate in sorted(members):
        for lib, owners in OWNERS.items():
            if lib in deps.get(crate, ()) and crate not in owners:
                errors.append(f"{crate} depends on {lib} directly; only {sorted(owners)} may")
    # Direction: a crate's closure never contains crates above it (anything not in its allowed set).
    def closure(crate):
        seen, todo = set(), [crate]
        while todo:
            for d in deps.get(todo.pop(), ()):
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        return seen
    for crate, allowed_below in NEVER_BELOW.items():
        if crate not in members:
            continue
        reach = closure(crate) & members
        for bad in sorted(reach - allowed_below):
            errors.append(f"{crate} reaches {bad}, which is not below it")
    for crate in sorted(members - {"tern-server", "tern-integration-tests"}):
        if "tern-remote-sync" in closure(crate):
            errors.append(f"{crate} reaches the remote-sync plugin; only the binary may")
    for e in errors:
        print("layering violation:", e)
    print(f"checked {len(members)} workspace crates: {'FAIL' if errors else 'ok'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
