#!/usr/bin/env bash
# The shared PostgreSQL queue against the single-process SQLite add, same
# files, same run.
#   bench/bench-index-pg.sh BUILD_DIR [FILES] [SECONDS] [SEGMENTS]
# defaults: 6 files of 20 s 640x360 H.264 (1 s GOP, B-frames), the shipped
# clipfilter-mini model; FILES=0 skips this part. Starts a throw-away
# PostgreSQL cluster (Unix socket in a temporary directory; as root, run by
# the postgres user) and prints one JSON object:
#   sqlite_s: clip-index add INDEX.db FILES (-j 1)
#   pg_N_s: clip-index add URI FILES (queueing) + N `work --until-empty`
#           processes started together, until the last exits (N = 1, 2)
#   each the fastest of ROUNDS (default 3) rounds after a warm-up add; all_s
#   lists every round, cpu_s the user + system seconds of all its processes;
#   overhead_1 = pg_1_s / sqlite_s - 1 (the queue's cost for one worker);
#   speedup_2 = pg_1_s / pg_2_s.
# With SEGMENTS > 0 (e.g. 1000000), search on a PostgreSQL index of that
# many synthetic segments of dimension 64 (index/synth-index, bound to
# clipfilter-mini), each a `search --timing` process:
#   load_s: synth-index writing them (1000 files of 1000 segments);
#   first: empty cache (every row fetched); later: median of 3 more;
#   after_add: once 1000 more segments were written (the copy fetches those,
#   the matrix and int8 files grow by them);
#   after_add_rebuilt: 1000 more again, the matrix and int8 files removed
#   first so that they are written whole (the baseline for after_add);
#   after_add_ms: the process times of 3 such pairs, alternating (the
#   figures above are the first pair's), and the ratio of their medians;
#   full_after_add: the same index with an empty cache, for comparison.
#   Each with matrix_ms (getting the rows: fetch, copy, matrix and int8
#   files), total_ms (the process), fetched (rows read from the server) and
#   fetch_read_write_ms (the fetch, the copy's read and its write) and
#   cache_files (what the search did to the matrix and int8 files:
#   "mapped" as they were, rebuilt, or N rows appended in place).
set -euo pipefail
build=$(cd "$1" && pwd) files=${2:-6} secs=${3:-20} segments=${4:-0} rounds=${ROUNDS:-3}
ci=$build/index/clip-index synth=$build/index/synth-index
model=$(cd "$(dirname "$0")/../models/clipfilter-mini" && pwd)
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

out="\"load_start\": \"$(cut -d' ' -f1-3 /proc/loadavg)\""
if [ "$files" -gt 0 ]; then
  out+=", "
  pats=(smpte ball snow circular pinwheel checkers-8 zone-plate gamut)
  for i in $(seq 1 "$files"); do
    gst-launch-1.0 -q videotestsrc pattern=${pats[$(( (i - 1) % 8 ))]} num-buffers=$((secs * 30)) ! \
      video/x-raw,width=640,height=360,framerate=30/1 ! x264enc key-int-max=30 bframes=2 \
      speed-preset=ultrafast ! mp4mux ! filesink location="$work/v$i.mp4"
  done

  # A warm-up add first (model and libraries into the page cache), then
  # ROUNDS rounds of the three runs in turn; the fastest of each counts, as
  # the least disturbed by the other jobs of a shared machine.
  "$ci" add "$work/warm.db" "$work/v1.mp4" >/dev/null
  declare -A best runs cpus
  # cpu NAME CMD...: runs CMD, adding its user + system seconds to cpu.NAME
  cpu() { local f=$work/cpu.$1; shift; /usr/bin/time -f "%U %S" -a -o "$f" "$@"; }
  cpu_sum() { awk '{ s += $1 + $2 } END { printf "%.2f", s }' "$work/cpu.$1"; }
  for round in $(seq 1 "$rounds"); do
    rm -f "$work/lite.db"* "$work"/cpu.*
    t0=$(now)
    cpu sqlite "$ci" add "$work/lite.db" "$work"/v*.mp4 >/dev/null
    t=$(calc "$(now) - $t0")
    runs[sqlite]+="$t " best[sqlite]=$(calc "${best[sqlite]:-1e9} < $t ? ${best[sqlite]:-1e9} : $t")
    cpus[sqlite]+="$(cpu_sum sqlite) "
    for n in 1 2; do
      as_pg "$pgbin/createdb" -h "$pgdir" -p 5432 -U clip "w$n-$round"
      uri="postgresql:///w$n-$round?host=$pgdir&port=5432&user=clip"
      t0=$(now)
      cpu pg$n "$ci" add "$uri" "$work"/v*.mp4 >/dev/null
      pids=()
      for k in $(seq 1 $n); do cpu pg$n "$ci" work "$uri" --until-empty >/dev/null 2>&1 & pids+=($!); done
      for p in "${pids[@]}"; do wait "$p"; done
      t=$(calc "$(now) - $t0")
      runs[pg$n]+="$t " best[pg$n]=$(calc "${best[pg$n]:-1e9} < $t ? ${best[pg$n]:-1e9} : $t")
      cpus[pg$n]+="$(cpu_sum pg$n) "
    done
  done
  out+=$(printf '"files": %d, "seconds_each": %d, "rounds": %d, "sqlite_s": %s, "pg_1_s": %s, "pg_2_s": %s, "overhead_1": %s, "speedup_2": %s, "all_s": {"sqlite": "%s", "pg_1": "%s", "pg_2": "%s"}, "cpu_s": {"sqlite": "%s", "pg_1": "%s", "pg_2": "%s"}' \
    "$files" "$secs" "$rounds" "${best[sqlite]}" "${best[pg1]}" "${best[pg2]}" \
    "$(calc "${best[pg1]} / ${best[sqlite]} - 1")" "$(calc "${best[pg1]} / ${best[pg2]}")" \
    "${runs[sqlite]% }" "${runs[pg1]% }" "${runs[pg2]% }" "${cpus[sqlite]% }" "${cpus[pg1]% }" "${cpus[pg2]% }")
fi

# search: one `search --timing` process; sets matrix_ms, total_ms, fetched
search() {
  "$ci" search "$uri" "a ball" --top 10 --timing >/dev/null 2>"$work/timing"
  matrix_ms=$(sed -n 's/.*matrix [a-z]* \([0-9.]*\) ms.*/\1/p' "$work/timing")
  total_ms=$(sed -n 's/.*total \([0-9.]*\) ms.*/\1/p' "$work/timing")
  fetched=$(sed -n 's/^matrix .*: \([0-9]*\) segments fetched.*/\1/p' "$work/timing")
  fetched=${fetched:-0}
  # what the search did to the matrix and int8 files (appended, rebuilt)
  cache=$(sed -n 's/^cache files: //p' "$work/timing")
  # fetch, copy read, copy write (ms), when the rows were fetched
  parts=$(sed -n 's/.*(fetch \([0-9.]*\) ms, copy read \([0-9.]*\) ms, write \([0-9.]*\) ms)/[\1, \2, \3]/p' "$work/timing")
}
figures() { printf '"%s": {"matrix_ms": %s, "total_ms": %s, "fetched": %s, "fetch_read_write_ms": %s, "cache_files": "%s"}' "$1" "$matrix_ms" "$total_ms" "$fetched" "${parts:-null}" "${cache:-mapped}"; }
if [ "$segments" -gt 0 ]; then
  as_pg "$pgbin/createdb" -h "$pgdir" -p 5432 -U clip synth
  uri="postgresql:///synth?host=$pgdir&port=5432&user=clip"
  export XDG_CACHE_HOME=$work/cache
  t0=$(now)
  "$synth" "$uri" "$model" 64 "$segments"
  out+=", \"search\": {\"segments\": $segments, \"dim\": 64, \"load_s\": $(calc "$(now) - $t0"), "
  search
  out+="$(figures first), "
  later=()
  for i in 1 2 3; do search; later+=("$matrix_ms $total_ms"); done
  matrix_ms=$(printf '%s\n' "${later[@]}" | cut -d' ' -f1 | sort -n | sed -n 2p)
  total_ms=$(printf '%s\n' "${later[@]}" | cut -d' ' -f2 | sort -n | sed -n 2p)
  fetched=0
  out+="$(figures later), "
  # 1000 segments more, the files growing in place, then 1000 more with the
  # files removed first (the baseline: written whole), alternating
  file=$(((segments + 999) / 1000)) appended=() rebuilt=()
  for i in 1 2 3; do
    "$synth" "$uri" "$model" 64 1000 1000 $((file++))
    search
    appended+=("$total_ms")
    [ "$i" = 1 ] && out+="$(figures after_add), "
    "$synth" "$uri" "$model" 64 1000 1000 $((file++))
    rm -f "$XDG_CACHE_HOME"/clipfilter/*.matrix "$XDG_CACHE_HOME"/clipfilter/*.qmatrix
    search
    rebuilt+=("$total_ms")
    [ "$i" = 1 ] && out+="$(figures after_add_rebuilt), "
  done
  med_a=$(printf '%s\n' "${appended[@]}" | sort -n | sed -n 2p)
  med_r=$(printf '%s\n' "${rebuilt[@]}" | sort -n | sed -n 2p)
  out+="\"after_add_ms\": {\"appended\": \"${appended[*]}\", \"rebuilt\": \"${rebuilt[*]}\", \"median_ratio\": $(calc "$med_a / $med_r")}, "
  XDG_CACHE_HOME=$work/cache-empty search
  out+="$(figures full_after_add)}"
fi
echo "{$out, \"load_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
