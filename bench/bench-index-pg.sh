#!/usr/bin/env bash
# The shared PostgreSQL queue against the single-process SQLite add, same
# files, same run.
#   bench/bench-index-pg.sh BUILD_DIR [FILES] [SECONDS]
# defaults: 6 files of 20 s 640x360 H.264 (1 s GOP, B-frames), the shipped
# clipfilter-mini model. Starts a throw-away PostgreSQL cluster (Unix socket
# in a temporary directory; as root, run by the postgres user) and prints
# one JSON object:
#   sqlite_s: clip-index add INDEX.db FILES (-j 1)
#   pg_N_s: clip-index add URI FILES (queueing) + N `work --until-empty`
#           processes started together, until the last exits (N = 1, 2)
#   overhead_1 = pg_1_s / sqlite_s - 1 (the queue's cost for one worker);
#   speedup_2 = pg_1_s / pg_2_s.
set -euo pipefail
build=$(cd "$1" && pwd) files=${2:-6} secs=${3:-20}
ci=$build/index/clip-index
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
work=$(mktemp -d) pgdir=$(mktemp -d /tmp/bench-pg.XXXXXX)
as_pg() { "$@"; }
if [ "$(id -u)" = 0 ]; then chown postgres "$pgdir"; as_pg() { runuser -u postgres -- "$@"; }; fi
trap 'as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate stop >/dev/null 2>&1; rm -rf "$work" "$pgdir"' EXIT
as_pg "$pgbin/initdb" -D "$pgdir/data" -U clip --auth=trust -E UTF8 --no-locale >/dev/null
as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w \
  -o "-c listen_addresses='' -k $pgdir -p 5432" start >/dev/null
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.4f\", $1 }"; }

pats=(smpte ball snow circular pinwheel checkers-8 zone-plate gamut)
for i in $(seq 1 "$files"); do
  gst-launch-1.0 -q videotestsrc pattern=${pats[$(( (i - 1) % 8 ))]} num-buffers=$((secs * 30)) ! \
    video/x-raw,width=640,height=360,framerate=30/1 ! x264enc key-int-max=30 bframes=2 \
    speed-preset=ultrafast ! mp4mux ! filesink location="$work/v$i.mp4"
done

t0=$(now)
"$ci" add "$work/lite.db" "$work"/v*.mp4 >/dev/null
sqlite_s=$(calc "$(now) - $t0")

declare -A pg
for n in 1 2; do
  as_pg "$pgbin/createdb" -h "$pgdir" -p 5432 -U clip "w$n"
  uri="postgresql:///w$n?host=$pgdir&port=5432&user=clip"
  t0=$(now)
  "$ci" add "$uri" "$work"/v*.mp4 >/dev/null
  pids=()
  for k in $(seq 1 $n); do "$ci" work "$uri" --until-empty >/dev/null 2>&1 & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p"; done
  pg[$n]=$(calc "$(now) - $t0")
done
printf '{"files": %d, "seconds_each": %d, "sqlite_s": %s, "pg_1_s": %s, "pg_2_s": %s, "overhead_1": %s, "speedup_2": %s}\n' \
  "$files" "$secs" "$sqlite_s" "${pg[1]}" "${pg[2]}" "$(calc "${pg[1]} / $sqlite_s - 1")" \
  "$(calc "${pg[1]} / ${pg[2]}")"
