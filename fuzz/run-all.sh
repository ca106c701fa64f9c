#!/usr/bin/env bash
# Build every fuzz target and run each for SECONDS (default 600), seeding the corpora with
# the project's real fixtures. Crashes land in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET=${1:-600}
for t in capture_file radiotap dot11 meraki; do mkdir -p "corpus/$t"; done
cp ../tests/fixtures/*.pcap corpus/capture_file/ 2>/dev/null || true
cp ../tests/fixtures/meraki/* corpus/capture_file/ 2>/dev/null || true
cp ../tests/fixtures/meraki/* corpus/meraki/ 2>/dev/null || true
cp ../tests/fixtures/*.pcap corpus/radiotap/ 2>/dev/null || true
cargo +nightly fuzz build
for t in capture_file radiotap dot11 meraki; do
  echo "== $t: ${SECONDS_PER_TARGET}s"
  cargo +nightly fuzz run "$t" -- -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 2>&1 | tail -n 12
done
