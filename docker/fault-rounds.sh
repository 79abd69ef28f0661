#!/usr/bin/env bash
# Fault rounds on the 3-node compose cluster: docker kill + start, pause/unpause, network
# disconnect/connect of the node holding a primary, under concurrent writers; after each round,
# green health, no lost acknowledged write, identical copies (docker/fault_rounds.py does the
# work and prints the table). Tears the cluster and its volumes down at the end, pass or fail.
#
# Usage: docker/fault-rounds.sh [fault_rounds.py options, e.g. --rounds 30 --json out.json]
# Env: TERN_IMAGE   image to run (default tern:faults, built from TERN_BIN or target/release/tern
#                   by build-local-image.sh unless FAULTS_SKIP_BUILD=1)
#      TERN_BIN     binary to put in the image (e.g. target/debug/tern)
#      FAULTS_PROJECT  compose project name (default tern-faults; containers tern-faults_tern-N_1)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=${FAULTS_PROJECT:-tern-faults}
export TERN_IMAGE=${TERN_IMAGE:-tern:faults}
# Node 1's REST port on a random host port: the runner talks to the containers' own addresses.
export TERN_HTTP_PUBLISH=9200
command -v docker >/dev/null || { echo "docker is not installed: nothing to run" >&2; exit 2; }
docker info >/dev/null 2>&1 || { echo "the docker engine is not reachable: nothing to run" >&2; exit 2; }
if command -v docker-compose >/dev/null; then compose=(docker-compose); else compose=(docker compose); fi
compose+=(-p "$project" -f "$here/compose.yml")
if [ "${FAULTS_SKIP_BUILD:-0}" != 1 ]; then
  "$here/build-local-image.sh" "$TERN_IMAGE"
fi
teardown() {
  # A paused container cannot be stopped: unpause whatever a failed run left paused.
  for c in $("${compose[@]}" ps -q 2>/dev/null); do docker unpause "$c" >/dev/null 2>&1 || true; done
  "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
}
trap teardown EXIT
teardown
"${compose[@]}" up -d
python3 "$here/fault_rounds.py" --project "$project" "$@"
