#!/usr/bin/env bash
# What any concurrent work does to a live bot's commit latency: runs bench/writer.mjs on a copy
# of a bot's database for N seconds while COMMAND runs back to back, then prints the writer's
# p50/p99/max. Used for the profile in docs/benchmarks.md ("What bounds the targets...").
#
#   bench/interference.sh <bot-dir> <seconds> [--synchronous FULL|NORMAL] -- COMMAND...
#   bench/interference.sh bench/.work/256MiB/bot 20 -- nice -n 19 zstd -3 -T1 -q -f -o /dev/null snap.db
#   bench/interference.sh bench/.work/256MiB/bot 20 -- true          # (nearly) idle baseline
set -euo pipefail
bot=$1 secs=$2
shift 2
wargs=()
while [ "$1" != "--" ]; do wargs+=("$1"); shift; done
shift
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -a "$bot" "$work/bot"
node "$here/writer.mjs" --db "$work/bot/data/trades.db" --seconds "$secs" "${wargs[@]}" > "$work/w.json" 2> "$work/w.err" &
writer=$!
until grep -q READY "$work/w.err" 2>/dev/null; do
  kill -0 "$writer" 2>/dev/null || { cat "$work/w.err" >&2; exit 1; }
  sleep 0.1
done
end=$((SECONDS + secs - 1))
while [ $SECONDS -lt $end ]; do "$@" > /dev/null; done
wait "$writer"
node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const l = d.latencyMs;
console.log(`p50 ${l.p50} ms  p99 ${l.p99} ms  max ${l.max} ms  errors ${d.errors}  (${process.argv.slice(2).join(" ")})`);' "$work/w.json" "$@"
