#!/usr/bin/env bash
# Runs every fuzz target of Lotse for a bounded time each, and fails if any finds a crash.
#
#   scripts/fuzz-all.sh [SECONDS_PER_TARGET]   (default 60)
#
# Targets: protocol/fuzz (envelope_open, payload_decode, directory_verify, receipt_verify,
# invitation_token, statistics_report) and node/fuzz (config_parse, api_json, backup_records, frame_read). Each target starts from its
# committed seeds (protocol/fuzz/seeds/<target>, if any) and keeps its working corpus in
# <crate>/corpus/<target> (ignored by git). A crash is saved under
# <crate>/artifacts/<target>/; replay it with
#   (cd <crate> && cargo +nightly fuzz run <target> artifacts/<target>/<file>)
# and turn it into a unit test next to the decoder before fixing it.
#
# Needs a nightly toolchain and cargo-fuzz:
#   rustup toolchain install nightly
#   cargo install cargo-fuzz
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-60}"
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
    echo "usage: $0 [SECONDS_PER_TARGET]" >&2
    exit 2
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "error: no nightly toolchain; install it with: rustup toolchain install nightly" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "error: cargo-fuzz is missing; install it with: cargo install cargo-fuzz" >&2
    exit 2
fi

failed=()
for crate in protocol/fuzz node/fuzz; do
    for target in $(cd "$crate" && cargo +nightly fuzz list); do
        corpus="$crate/corpus/$target"
        mkdir -p "$corpus"
        dirs=("corpus/$target")
        if [ -d "$crate/seeds/$target" ]; then
            dirs+=("seeds/$target")
        fi
        echo "== $crate $target: ${secs}s"
        if ! (cd "$crate" && cargo +nightly fuzz run "$target" "${dirs[@]}" -- \
            -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1); then
            failed+=("$crate $target")
        fi
    done
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzzing found crashes in: ${failed[*]} (see <crate>/artifacts/)" >&2
    exit 1
fi
echo "all fuzz targets ran ${secs}s without a crash"
