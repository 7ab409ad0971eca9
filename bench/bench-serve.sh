#!/usr/bin/env bash
# clip-index serve: server time per query over a synthetic archive, with the
# command-line search over the same matrix as the baseline of the same run.
#   bench/bench-serve.sh BUILD_DIR [SEGMENTS] [QUERIES] [MODEL_DIR DIM]
# defaults: 10^6 segments bound to the shipped clipfilter-mini (dimension
# 64), 60 queries. Prints one JSON object.
#
# 1. cli: `clip-index search --timing` (a fresh process: model load, query
#    embed, matrix map, scan), best of 3; its scan is the floor of a query.
# 2. serve: one server (127.0.0.1, a free port), one warm-up query, then
#    QUERIES distinct texts one after another with curl (no query repeats,
#    so nothing is answered from a cache: queries_repeat); the server's own
#    time per query comes from its Server-Timing header (embed, scan, rows =
#    the hits' rows from SQLite, total); client_ms is curl's time_total.
#    ratio_total_to_cli_scan = median total / CLI scan; the server scans
#    an int8 copy and rescores exactly (index/quant.h), so five queries
#    check that its hits are the command line's; cpu = the server
#    process's CPU time per query (all its threads), which the load of other
#    processes on the machine does not inflate as it does wall time.
# 3. concurrent: 200 requests from 50 curl clients (xargs -P 50), wall time.
# SERVE_ARGS adds options to `serve` (e.g. SERVE_ARGS="--backend openblas
# --threads 2" for the other engine set-up); the output names them.
set -euo pipefail
build=$(cd "$1" && pwd) segments=${2:-1000000} queries=${3:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
model=${4:-$root/models/clipfilter-mini} dim=${5:-64}
ci=$build/index/clip-index synth=$build/index/synth-index
work=${BENCH_DIR:-$build/bench-serve}
mkdir -p "$work"
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
now() { date +%s.%N; }
min() { printf '%s\n' "$@" | sort -g | head -n1; }

db=$work/synth-$segments-$dim.db
[ -f "$db" ] || "$synth" "$db" "$model" "$dim" "$segments"
"$ci" search "$db" "a ball" --top 10 >/dev/null # builds the matrix copy once

scans=() walls=()
for _ in 1 2 3; do
  t0=$(now)
  "$ci" search "$db" "a ball" --top 10 --timing 2>"$work/timing" >/dev/null
  walls+=("$(calc "($(now) - $t0) * 1000")")
  scans+=("$(sed -n 's/.*scan [a-z0-9]* \([0-9.]*\) ms.*/\1/p' "$work/timing")")
done
cli_scan=$(min "${scans[@]}") cli_wall=$(min "${walls[@]}")

# shellcheck disable=SC2086 # SERVE_ARGS: extra options, split on spaces
"$ci" serve "$db" --listen 127.0.0.1:0 ${SERVE_ARGS:-} >"$work/serve.out" 2>"$work/serve.err" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true' EXIT
url=
for _ in $(seq 600); do
  url=$(sed -n 's|^listening on \(http://[^ ]*/\) .*|\1|p' "$work/serve.out")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/serve.err"; echo "serve did not start" >&2; exit 1; }

words=(ball snow circles "colour bars" "a red car" "a dog on a beach" "people talking"
  "a city at night" "a white ball on black" "tv static" "a green field" "a blue sky")
curl -s -o /dev/null "${url}api/search?q=warm&top=10"
: >"$work/timings"
: >"$work/timings.texts"
for i in $(seq 1 "$queries"); do
  text="${words[$((i % ${#words[@]}))]} $i"
  echo "$text" >>"$work/timings.texts"
  client=$(curl -sS -G -D "$work/headers" -o /dev/null -w '%{time_total}' --max-time 30 \
    --data-urlencode "q=$text" --data-urlencode "top=10" "${url}api/search") ||
    { echo "bench-serve: query $i ('$text') failed; server stderr:" >&2; cat "$work/serve.err" >&2; exit 1; }
  st=$(tr -d '\r' <"$work/headers" | sed -n 's/^[Ss]erver-[Tt]iming: //p')
  echo "$st;client=$client" >>"$work/timings"
done
stats=$(python3 - "$work/timings" <<'PY'
import json, re, statistics, sys
rows, texts = [], [line.split("\t")[0] for line in open(sys.argv[1] + ".texts")]
for line in open(sys.argv[1]):
    d = {k: float(v) for k, v in re.findall(r"(\w+);dur=([0-9.]+)", line)}
    d["client"] = float(line.rsplit("client=", 1)[1]) * 1000
    rows.append(d)
def q(key, p):
    v = sorted(r[key] for r in rows)
    return v[min(len(v) - 1, int(p * len(v)))]
out = {k + "_ms_median": round(statistics.median(r[k] for r in rows), 3) for k in ("embed", "scan", "rows", "total", "cpu", "client")}
out.update(total_ms_p90=round(q("total", 0.9), 3), total_ms_min=round(min(r["total"] for r in rows), 3),
           total_ms_max=round(max(r["total"] for r in rows), 3),
           queries=len(rows), queries_repeat=len(set(texts)) < len(texts),
           under_50ms=sum(r["total"] <= 50 for r in rows))
print(", ".join('"%s": %s' % (k, json.dumps(v)) for k, v in out.items()))
PY
)
median_total=$(echo "$stats" | sed -n 's/.*"total_ms_median": \([0-9.]*\).*/\1/p')

# the int8 prefilter ranks exactly: the same hits as the command line's fp32 scan
same=0
for text in "a ball" "snow" "colour bars" "a dog on a beach" "people talking"; do
  "$ci" search "$db" "$text" --top 10 --json >"$work/cli-hits.json"
  curl -s -G --max-time 30 --data-urlencode "q=$text" --data-urlencode "top=10" "${url}api/search" >"$work/serve-hits.json"
  python3 -c "
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
sys.exit(0 if [h['segment'] for h in a] == [h['segment'] for h in b] and
         all(abs(x['score'] - y['score']) < 1e-5 for x, y in zip(a, b)) else 1)" "$work/cli-hits.json" "$work/serve-hits.json" &&
    same=$((same + 1))
done

t0=$(now)
for i in $(seq 1 200); do echo "${url}api/search?q=ball+$i&top=10"; done |
  xargs -P 50 -n 1 curl -s -o /dev/null --max-time 60 -w '%{http_code}\n' >"$work/codes" || true
conc=$(calc "$(now) - $t0")
ok=$(grep -c '^200$' "$work/codes" || true)

printf '{\n  "serve_args": "%s", "segments": %s, "dim": %s, "matrix_mb": %s, "cores": %s, "loadavg_1min": %s,\n' \
  "${SERVE_ARGS:-}" "$segments" "$dim" "$(calc "$(stat -L -c %s "$db.matrix") / 1048576")" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)"
printf '  "cli": {"process_ms": %s, "scan_ms": %s},\n' "$cli_wall" "$cli_scan"
printf '  "serve": {%s,\n    "ratio_total_to_cli_scan": %s, "queries_with_the_cli_hits": "%s/5"},\n' "$stats" \
  "$(calc "$median_total / $cli_scan")" "$same"
printf '  "concurrent": {"requests": 200, "clients": 50, "ok": %s, "wall_s": %s, "requests_per_s": %s}\n}\n' \
  "$ok" "$conc" "$(calc "200 / $conc")"
