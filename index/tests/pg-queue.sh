#!/bin/sh
# Workers on one PostgreSQL queue: a worker killed with SIGKILL in the middle
# of a file, then three workers while the server is stopped and restarted.
# Every file is indexed exactly once and the rows equal those of a
# single-process SQLite index of the same files.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/pg-common.sh"
mkdir -p "$TMP/archive"
patterns="smpte ball snow circular pinwheel checkers-8 zone-plate gamut"
n=0
for p in $patterns; do
  n=$((n + 1))
  scenes "$TMP/archive/clip$n.mp4" I420 322 242 10 10 mp4mux $p:5 smpte:3
done

"$CLIP_INDEX" add "$TMP/lite.db" "$TMP/archive" >/dev/null 2>"$TMP/lite.err" ||
  { cat "$TMP/lite.err"; fail "SQLite add failed"; }
"$CLIP_INDEX" add "$PGURI" "$TMP/archive" >"$TMP/queued" || fail "queueing failed"
grep -q "^queued $n files" "$TMP/queued" || fail "add: $(cat "$TMP/queued")"

# A worker killed in the middle of a file.
"$CLIP_INDEX" work "$PGURI" --lease 3 >"$TMP/w0.log" 2>&1 &
w0=$!
i=0
while [ "$(psql_c "SELECT count(*) FROM queue WHERE state = 'running' AND pid = $w0")" != 1 ]; do
  i=$((i + 1)); [ $i -lt 300 ] || fail "worker never claimed a file: $(cat "$TMP/w0.log")"
  sleep 0.1
done
kill -9 $w0
wait $w0 2>/dev/null
lost=$(psql_c "SELECT id FROM queue WHERE state = 'running' AND pid = $w0")
[ -n "$lost" ] || fail "the killed worker held no file"
ok "worker $w0 killed while indexing queue entry $lost"

# Three workers; the server goes away for three seconds while they run.
for k in 1 2 3; do
  "$CLIP_INDEX" work "$PGURI" --lease 3 --until-empty >"$TMP/w$k.log" 2>&1 &
  eval w$k=$!
done
i=0
while [ "$(psql_c "SELECT count(*) FROM queue WHERE state = 'running' AND pid <> $w0")" = 0 ]; do
  i=$((i + 1)); [ $i -lt 300 ] || fail "no worker started: $(cat "$TMP/w1.log")"
  sleep 0.1
done
pg_stop
sleep 3
pg_start
ok "server stopped for 3 s and restarted while workers ran"
for k in 1 2 3; do
  eval pid=\$w$k
  wait $pid || { cat "$TMP/w$k.log"; fail "worker $k exited $?"; }
done
grep -q "reconnected" "$TMP/w1.log" "$TMP/w2.log" "$TMP/w3.log" ||
  fail "no worker reported a reconnection: $(cat "$TMP/w1.log")"
ok "workers reconnected and exited with an empty queue"

[ "$(psql_c "SELECT state, count(*) FROM queue GROUP BY state")" = "done|$n" ] ||
  fail "queue: $(psql_c "SELECT state, count(*), max(error) FROM queue GROUP BY state")"
[ "$(psql_c "SELECT count(*), count(DISTINCT path) FROM files")" = "$n|$n" ] ||
  fail "files: $(psql_c "SELECT count(*), count(DISTINCT path) FROM files")"
[ "$(psql_c "SELECT attempts FROM queue WHERE id = $lost")" = 2 ] ||
  fail "the killed worker's file: $(psql_c "SELECT attempts, host, pid FROM queue WHERE id = $lost")"
ok "all $n files done, each once; the killed worker's file finished by another on attempt 2"

# The same segments as the single-process SQLite index.
norm() { python3 -c "import sys; [print('|'.join(['%.6f' % float(x) if i in (1, 2) else x for i, x in enumerate(l.rstrip('\n').split('|'))])) for l in sys.stdin]"; }
sqlite3 "$TMP/lite.db" "SELECT hex(f.path), s.start, s.end, s.samples, hex(s.embedding)
  FROM segments s JOIN files f ON f.id = s.file_id ORDER BY f.path, s.start" | norm >"$TMP/lite.rows"
psql_c "SELECT upper(encode(f.path, 'hex')), s.start, s.\"end\", s.samples, upper(encode(s.embedding, 'hex'))
  FROM segments s JOIN files f ON f.id = s.file_id ORDER BY f.path, s.start" | norm >"$TMP/pg.rows"
cmp -s "$TMP/lite.rows" "$TMP/pg.rows" || fail "segments differ from the SQLite index"
[ "$(psql_c "SELECT count(*) FROM samples")" = "$(sqlite3 "$TMP/lite.db" "SELECT count(*) FROM samples")" ] ||
  fail "sample counts differ"
# Every segment ranked: identical clips give equal scores, and the order
# of a tie follows segment ids, which differ between the two indexes; so
# the ranks' scores must match, and each segment its own score.
"$CLIP_INDEX" search "$TMP/lite.db" "a ball" --json --top 100000 >"$TMP/lite.json" || fail "search failed"
"$CLIP_INDEX" search "$PGURI" "a ball" --json --top 100000 >"$TMP/pg.json" || fail "search failed"
python3 - "$TMP/lite.json" "$TMP/pg.json" <<'PY' || fail "search results differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert len(a) == len(b) > 0
for x, y in zip(a, b):
    assert abs(x["score"] - y["score"]) <= 1e-6, (x, y)
key = lambda h: (h["file"], h["start"], h["end"])
sa, sb = ({key(h): h["score"] for h in hits} for hits in (a, b))
assert sa.keys() == sb.keys(), set(sa) ^ set(sb)
for k in sa:
    assert abs(sa[k] - sb[k]) <= 1e-6, (k, sa[k], sb[k])
PY
ok "$(wc -l <"$TMP/pg.rows") segments and the search hits equal the SQLite index's"

"$CLIP_INDEX" status "$PGURI" >"$TMP/status" || fail "status failed"
grep -qx "queued 0, running 0, done $n, failed 0" "$TMP/status" || fail "status: $(cat "$TMP/status")"
ok "status: $(tr '\n' ' ' <"$TMP/status")"
