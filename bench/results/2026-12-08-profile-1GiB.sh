#!/bin/bash
# CPU profiles of botbackup's steps on the 1 GiB bench bot (issue 18's closing run, 2026-12-08):
# a full backup, its restore, an incremental after one simulated day (bench/day.mjs --day 1) and
# the restore of that incremental, each after a cache drop (root), each thread's profile in
# $W/prof-<step>. Summarise with: node bench/profile-summary.mjs $W/prof-<step>
# Needs bench/.work/1GiB/bot (npm run bench -- --size 1GiB makes it) and a built CLI.
set -e
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=$ROOT/packages/cli/bin/botbackup.js
W=${W:-$ROOT/bench/.work/profile-1GiB}
rm -rf "$W"; mkdir -p "$W"
cp -a "$ROOT/bench/.work/1GiB/bot" "$W/bot"
node "$B" --config "$W/c.yaml" init "$W/bot" --storage "$W/repo" --keys "$W/keys" --id benchbot > /dev/null
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
step() {
  name=$1; shift; drop
  /usr/bin/time -f "$name %e s %U+%S cpu %M KB" node --cpu-prof --cpu-prof-dir="$W/prof-$name" "$B" --config "$W/c.yaml" "$@" > "$W/$name.out" 2> "$W/$name.err"
  tail -1 "$W/$name.err"
}
step backup backup --json
step restore restore latest -t "$W/r1"; rm -rf "$W/r1"
node "$ROOT/bench/day.mjs" "$W/bot/data/trades.db" --day 1 > /dev/null
step incremental backup --incremental --json
step restore-inc restore latest -t "$W/r2"; rm -rf "$W/r2"
# Days 2 to 7, each with an incremental (not profiled), then the restore of the chain's end.
for d in 2 3 4 5 6 7; do
  node "$ROOT/bench/day.mjs" "$W/bot/data/trades.db" --day $d --no-pages > /dev/null
  node "$B" --config "$W/c.yaml" backup --incremental > /dev/null
done
step restore-chain7 restore latest -t "$W/r3"; rm -rf "$W/r3"
# 2026-12-08, quiet machine (the output of its first run, before the chain part was added):
#   backup 10.35 s 13.02+4.77 cpu 220868 KB
#   restore 5.19 s 5.85+1.37 cpu 175848 KB
#   incremental 5.85 s 5.68+2.95 cpu 205944 KB
#   restore-inc 6.93 s 8.57+1.43 cpu 197928 KB
# Its second run, with the chain part:
#   backup 8.56 s 11.39+3.61 cpu 219912 KB
#   restore 4.88 s 5.19+1.38 cpu 176908 KB
#   incremental 6.57 s 5.39+4.08 cpu 204272 KB
#   restore-inc 6.49 s 7.08+1.83 cpu 181196 KB
#   restore-chain7 12.43 s 14.87+3.37 cpu 195504 KB
