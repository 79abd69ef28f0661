#!/usr/bin/env bash
# tests/run-all.sh -- THE test command for tern. README and CI (.ci/run) both run exactly this.
#
# Steps, in order (name them as arguments to run a subset, e.g. `tests/run-all.sh yaml client8`):
#   pyenv     Python venvs: .venv (elasticsearch 8.x client, pytest, PyYAML), .venv/es9 (9.x client)
#   layers    crate dependencies point one way (tests/check_layers.py over `cargo metadata`)
#   build     cargo build --release -p tern-server            (skipped when TERN_BIN is set)
#   cargo     cargo test --workspace
#   selftest  the YAML runner's own tests (no server needed)
#   yaml      the Elasticsearch YAML REST suite against a fresh tern, gated by tests/yaml/expected-pass.txt
#   client8   tests/python with the 8.x client, gated by tests/python/expected-pass-8.txt
#   client9   tests/python with the 9.x client, gated by tests/python/expected-pass-9.txt
# A failing step does not stop later ones (except pyenv/build, which they depend on); the summary lists
# every step and the exit status is non-zero if any failed. Reports land in target/test-reports/.
#
# Environment: TERN_BIN=path (test this binary, skip the build), TERN_PROFILE=release|debug (default
# release), PYTHON=python3.11 (interpreter for the venvs), PYTEST_ARGS="-k ..." (extra pytest arguments).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ALL_STEPS=(pyenv layers build cargo selftest yaml client8 client9)
PROFILE="${TERN_PROFILE:-release}"
PYTHON="${PYTHON:-python3}"
REPORTS=target/test-reports
VENV8=.venv
VENV9=.venv/es9
# Wall-clock limits per server-facing step, so a hung server fails CI instead of stalling it.
YAML_TIMEOUT="${TERN_YAML_TIMEOUT:-900}"
CLIENT_TIMEOUT="${TERN_CLIENT_TIMEOUT:-480}"

declare -a RESULTS=()
FAILED=0

log() { printf '\n=== %s\n' "$*"; }

record() {  # record <step> <status> <seconds>
    RESULTS+=("$(printf '%-9s %-5s %5ss' "$1" "$2" "$3")")
    if [[ "$2" != ok ]]; then FAILED=1; fi
}

run_step() {  # run_step <name> <function>; a failing step is recorded, not fatal
    local name="$1" started status=ok
    started=$SECONDS
    log "$name"
    "$2" || status=FAIL
    record "$name" "$status" $((SECONDS - started))
    [[ "$status" == ok ]]
}

# ------------------------------------------------------------------------------------------------ steps

ensure_venv() {  # ensure_venv <dir> <requirements file>: create once, reinstall when requirements change
    local dir="$1" requirements="$2" stamp
    if [[ ! -x "$dir/bin/python" ]]; then
        "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            || { echo "Python >= 3.11 required ($PYTHON is $("$PYTHON" --version 2>&1))"; return 1; }
        "$PYTHON" -m venv "$dir"
    fi
    stamp="$(sha256sum < "$requirements" | cut -c1-16)"
    if [[ "$(cat "$dir/.requirements-stamp" 2>/dev/null)" != "$stamp" ]]; then
        "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" PyYAML
        echo "$stamp" > "$dir/.requirements-stamp"
    fi
    "$dir/bin/python" -c 'import elasticsearch, pytest, yaml; print("elasticsearch-py", elasticsearch.__versionstr__)'
}

step_pyenv() {
    ensure_venv "$VENV8" tests/python/requirements-8.txt && ensure_venv "$VENV9" tests/python/requirements-9.txt
}

step_layers() {
    python3 tests/check_layers.py
}

step_build() {
    if [[ -n "$TERN_BIN_GIVEN" ]]; then
        echo "TERN_BIN=$TERN_BIN: not building"
        [[ -x "$TERN_BIN" ]]
        return
    fi
    if [[ "$PROFILE" == release ]]; then
        cargo build --release -p tern-server
    else
        cargo build -p tern-server
    fi
}

step_cargo() {
    # Same profile as the build step, so the dependencies compile once per CI run.
    if [[ "$PROFILE" == release ]]; then
        cargo test --workspace --release
    else
        cargo test --workspace
    fi
}

step_selftest() {
    run_pytest "$VENV8/bin/python" runner-selftest 120 tests/yaml/selftest
}

step_yaml() {
    timeout --kill-after=30 "$YAML_TIMEOUT" "$VENV8/bin/python" tests/yaml/runner.py \
        --binary "$TERN_BIN" \
        --expected tests/yaml/expected-pass.txt \
        --report "$REPORTS/yaml-report.json" \
        --server-log "$REPORTS/yaml-tern.log" \
        --quiet
}

# The client suites are gated like the YAML suite: tests listed in expected-pass-<major>.txt must pass,
# the others run and report (xfail/XPASS) without failing CI. Refresh a list after progress with
#   TERN_BIN=... .venv/bin/python -m pytest tests/python --write-expected-pass tests/python/expected-pass-8.txt
step_client8() {
    TERN_LOG="$REPORTS/client8-tern.log" run_pytest "$VENV8/bin/python" client8 "$CLIENT_TIMEOUT" \
        tests/python --expected-pass tests/python/expected-pass-8.txt
}

step_client9() {
    TERN_LOG="$REPORTS/client9-tern.log" run_pytest "$VENV9/bin/python" client9 "$CLIENT_TIMEOUT" \
        tests/python --expected-pass tests/python/expected-pass-9.txt
}

# run_pytest <python> <report name> <timeout seconds> <pytest args...>: pytest with an explicit reading of
# its exit status.
# Exit 5 means "no tests collected": the suites always hold tests, so that is a broken suite -- unless
# PYTEST_ARGS deliberately selects a subset (-k/-m/::), where selecting nothing is a legitimate outcome.
run_pytest() {
    local python="$1" name="$2" limit="$3" rc=0
    shift 3
    # shellcheck disable=SC2086  # PYTEST_ARGS is a list of words by design
    timeout --kill-after=30 "$limit" "$python" -m pytest "$@" -p no:cacheprovider \
        --junitxml="$REPORTS/$name.xml" ${PYTEST_ARGS:-} || rc=$?
    case "$rc" in
        0) return 0 ;;
        5)
            if [[ "${PYTEST_ARGS:-}" =~ (^|[[:space:]])(-k|-m)([[:space:]]|$)|:: ]]; then
                echo "pytest: no test matched PYTEST_ARGS='${PYTEST_ARGS}' (accepted: the selection was deliberate)"
                return 0
            fi
            echo "pytest: collected no tests from $1 -- the suite is missing or broken"
            return 1 ;;
        124|137) echo "pytest did not finish within ${limit}s"; return 1 ;;
        *) echo "pytest exited with status $rc"; return 1 ;;
    esac
}

# ------------------------------------------------------------------------------------------------ main

main() {
    local steps=("$@")
    if [[ ${#steps[@]} -eq 0 ]]; then steps=("${ALL_STEPS[@]}"); fi
    for step in "${steps[@]}"; do
        declare -F "step_$step" >/dev/null || { echo "unknown step '$step' (steps: ${ALL_STEPS[*]})"; exit 2; }
    done
    mkdir -p "$REPORTS"
    # Remember whether the caller chose the binary: only then is the build step skipped.
    TERN_BIN_GIVEN="${TERN_BIN:-}"
    export TERN_BIN="${TERN_BIN:-$PWD/target/$PROFILE/tern}"
    local total_started=$SECONDS

    for step in "${steps[@]}"; do
        if ! run_step "$step" "step_$step" && [[ "$step" == pyenv || "$step" == build ]]; then
            echo "step '$step' failed: the remaining steps need it, stopping"
            break
        fi
    done

    log "summary ($((SECONDS - total_started))s, reports in $REPORTS/)"
    printf '%s\n' "${RESULTS[@]}"
    if [[ $FAILED -ne 0 ]]; then
        echo "FAILED"
        exit 1
    fi
    echo "OK"
}

main "$@"
