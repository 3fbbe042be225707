#!/bin/bash
# files (node packages/cli/dist/bin.js) vs bundle (packages/cli/bin/botbackup.js) vs restic, 256 MiB bot, cache dropped before each
cd /tmp/b18
F=/work/main/packages/cli/dist/bin.js; B=/work/main/packages/cli/bin/botbackup.js
export RESTIC_PASSWORD=x
for r in 1 2 3; do
  for v in files bundle; do
    x=$F; [ $v = bundle ] && x=$B
    sync; echo 3 > /proc/sys/vm/drop_caches
    /usr/bin/time -f "$v backup %e s %U+%S cpu %M KB" node $x --config c.yaml --json backup > /dev/null 2>/tmp/exp/ab.err; tail -1 /tmp/exp/ab.err
    rm -rf r; sync; echo 3 > /proc/sys/vm/drop_caches
    /usr/bin/time -f "$v restore %e s %U+%S cpu %M KB" node $x --config c.yaml restore latest -t r > /dev/null 2>/tmp/exp/ab.err; tail -1 /tmp/exp/ab.err
    cmp -s r/data/trades.db bot/data/trades.db || echo "$v restore DIFFERS"
  done
  rm -rf restic; restic init -r restic -q >/dev/null
  sync; echo 3 > /proc/sys/vm/drop_caches
  /usr/bin/time -f "restic backup %e s %U+%S cpu %M KB" restic -r restic backup bot -q
  rm -rf rr; sync; echo 3 > /proc/sys/vm/drop_caches
  /usr/bin/time -f "restic restore %e s %U+%S cpu %M KB" restic -r restic restore latest --target rr -q
done
uptime
