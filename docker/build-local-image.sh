#!/usr/bin/env bash
# Builds the tern image FROM scratch with the locally built release binary and exactly the shared
# libraries it links (found with ldd), so no base image has to be pulled.
# Usage: docker/build-local-image.sh [image-tag]   (default tern:local)
# TERN_BIN=path/to/tern uses another binary than target/release/tern (e.g. target/debug/tern,
# to skip a release build on a busy machine); it is not built for you.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
tag=${1:-tern:local}
bin="${TERN_BIN:-$root/target/release/tern}"
if [ -n "${TERN_BIN:-}" ] && [ ! -x "$bin" ]; then
  echo "TERN_BIN=$bin is not an executable" >&2
  exit 1
fi
if [ ! -x "$bin" ]; then
  (cd "$root" && cargo build --release -p tern-server)
fi
stage="$here/.stage/rootfs"
rm -rf "$here/.stage"
mkdir -p "$stage/usr/local/bin" "$stage/etc/tern" "$stage/data" "$stage/tmp"
cp "$bin" "$stage/usr/local/bin/tern"
strip "$stage/usr/local/bin/tern" 2>/dev/null || true
cp "$root/config/tern.yml" "$stage/etc/tern/tern.yml"
# The dynamic loader and every library the binary needs, at the same paths.
for lib in $(ldd "$bin" | awk '$2 == "=>" {print $3} $1 ~ /^\// {print $1}'); do
  [ -f "$lib" ] || continue
  mkdir -p "$stage$(dirname "$lib")"
  cp -L "$lib" "$stage$lib"
done
# CA certificates, for HTTPS seeds of remote sync (the system trust store the client reads).
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  mkdir -p "$stage/etc/ssl/certs"
  cp -L /etc/ssl/certs/ca-certificates.crt "$stage/etc/ssl/certs/ca-certificates.crt"
fi
chmod 1777 "$stage/tmp"
docker build -q -f "$here/Dockerfile.local" -t "$tag" "$here" >/dev/null
size=$(docker image inspect "$tag" --format '{{.Size}}')
echo "built $tag ($((size / 1024 / 1024)) MiB)"
