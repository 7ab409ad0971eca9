#!/bin/sh
# An index on a throw-away PostgreSQL server: the same segments and scores
# as an SQLite index of the same clips, hostile file names stored byte for
# byte, the schema version recorded, passwords never printed.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/pg-common.sh"
mkdir -p "$TMP/archive"
scenes "$TMP/archive/a.mp4" I420 322 242 15 15 mp4mux smpte:3 ball:3 snow:3
scenes "$TMP/archive/b.mkv" Y444 321 241 10 10 matroskamux circular:3 smpte:3
# Quotes, a semicolon, a newline and a byte that is not UTF-8.
HOSTILE=$(printf "it's \"x\"; DROP TABLE files;--\nnew\377line.mp4")
cp "$TMP/archive/a.mp4" "$TMP/archive/$HOSTILE"

"$CLIP_INDEX" add "$TMP/lite.db" "$TMP/archive" --merge 0.5 >/dev/null 2>"$TMP/lite.err" ||
  { cat "$TMP/lite.err"; fail "SQLite add exited $?"; }
"$CLIP_INDEX" add "$PGURI" "$TMP/archive" >"$TMP/queued" 2>"$TMP/pg.err" ||
  { cat "$TMP/pg.err"; fail "PostgreSQL add failed"; }
grep -qx "queued 3 files; 0 already queued or done; 0 unchanged" "$TMP/queued" ||
  fail "add on PostgreSQL: $(cat "$TMP/queued")"
"$CLIP_INDEX" work "$PGURI" --until-empty --merge 0.5 >/dev/null 2>"$TMP/pg.err" ||
  { cat "$TMP/pg.err"; fail "PostgreSQL work failed"; }
[ "$(psql_c "SELECT state, count(*) FROM queue GROUP BY state")" = "done|3" ] ||
  fail "queue after work: $(psql_c "SELECT state, count(*) FROM queue GROUP BY state")"
[ "$(psql_c 'SELECT version FROM schema_version')" = 1 ] || fail "schema_version is not 1"
[ "$(psql_c 'SELECT count(*) FROM files')" = 3 ] || fail "files: $(psql_c 'SELECT count(*) FROM files')"
ok "three clips queued by add and indexed by work on PostgreSQL, schema version 1"

# The same rows: segments (file, start, end, samples) and embeddings byte for byte.
sqlite3 "$TMP/lite.db" "SELECT hex(f.path), s.start, s.end, s.samples, hex(s.embedding)
  FROM segments s JOIN files f ON f.id = s.file_id ORDER BY f.path, s.start" |
  tr 'a-f' 'A-F' | python3 -c "import sys; [print('|'.join(['%.6f' % float(x) if i in (1, 2) else x for i, x in enumerate(l.rstrip('\n').split('|'))])) for l in sys.stdin]" >"$TMP/lite.rows"
psql_c "SELECT upper(encode(f.path, 'hex')), s.start, s.\"end\", s.samples, upper(encode(s.embedding, 'hex'))
  FROM segments s JOIN files f ON f.id = s.file_id ORDER BY f.path, s.start" |
  python3 -c "import sys; [print('|'.join(['%.6f' % float(x) if i in (1, 2) else x for i, x in enumerate(l.rstrip('\n').split('|'))])) for l in sys.stdin]" >"$TMP/pg.rows"
[ -s "$TMP/pg.rows" ] && cmp -s "$TMP/lite.rows" "$TMP/pg.rows" ||
  fail "segments differ: $(diff "$TMP/lite.rows" "$TMP/pg.rows" | cut -c1-200 | head)"
ok "$(wc -l <"$TMP/pg.rows") segments identical to the SQLite index, embeddings byte for byte"

# The hostile name, byte for byte.
want=$(printf '%s' "$TMP/archive/$HOSTILE" | od -An -tx1 | tr -d ' \n')
got=$(psql_c "SELECT encode(path, 'hex') FROM files WHERE position('\\x0a'::bytea in path) > 0")
[ "$got" = "$want" ] || fail "hostile name stored as $got, want $want"
ok "a name with quotes, ';', a newline and byte 0xff stored intact"

# Search: the same hits, scores within 1e-6. The matrix copy of a
# PostgreSQL index goes to the user's cache directory.
export XDG_CACHE_HOME="$TMP/cache"
"$CLIP_INDEX" search "$PGURI" "a ball" --top 1 >"$TMP/first" || fail "first search exited $?"
copy=$(ls "$TMP/cache/clipfilter/"index-*.matrix) || fail "no matrix copy in \$XDG_CACHE_HOME/clipfilter"
for q in "a ball" "tv static" "concentric circles"; do
  "$CLIP_INDEX" search "$TMP/lite.db" "$q" --json --top 20 >"$TMP/lite.json" || fail "SQLite search exited $?"
  "$CLIP_INDEX" search "$PGURI" "$q" --json --top 20 >"$TMP/pg.json" || fail "PostgreSQL search exited $?"
  python3 - "$TMP/lite.json" "$TMP/pg.json" <<'PY' || fail "search '$q' differs"
import json, sys
# The hostile name is printed as its bytes, which are not UTF-8.
a, b = (json.loads(open(p, "rb").read().decode("utf-8", "surrogateescape")) for p in sys.argv[1:])
assert len(a) == len(b) and len(a) > 0, (len(a), len(b))
for x, y in zip(a, b):
    assert (x["file"], x["start"], x["end"]) == (y["file"], y["start"], y["end"]), (x, y)
    assert abs(x["score"] - y["score"]) <= 1e-6, (x, y)
PY
done
# The float32 matrix, its int8 prefilter and the embeddings' local copy
# (store-pg-copy.h), named after the same hash.
[ "$(ls "$TMP/cache/clipfilter/" | tr '\n' ' ')" = "$(basename "$copy") $(basename "$copy" .matrix).qmatrix $(basename "$copy" .matrix).rows " ] ||
  fail "cache: $(ls "$TMP/cache/clipfilter/")"
ok "search: same hits and scores (within 1e-6) for three queries; matrix copy $(basename "$copy" | cut -c1-20)…"

"$CLIP_INDEX" info "$PGURI" >"$TMP/info" || fail "info exited $?"
grep -q "files: *3" "$TMP/info" || fail "info: $(cat "$TMP/info")"
ok "info on PostgreSQL"

"$CLIP_INDEX" add "$PGURI" "$TMP/archive" >"$TMP/again" || fail "second add failed"
grep -qx "queued 0 files; 0 already queued or done; 3 unchanged" "$TMP/again" ||
  fail "second add: $(cat "$TMP/again")"
"$CLIP_INDEX" work "$TMP/lite.db" --until-empty 2>"$TMP/lite-work.err" && fail "work on SQLite succeeded"
grep -q "not a shared index" "$TMP/lite-work.err" || fail "work on SQLite: $(cat "$TMP/lite-work.err")"
ok "a second add queues nothing; work refuses an SQLite index"

# A source that cannot be read (nothing listens on port 9): tried --attempts
# times, then failed with its error.
"$CLIP_INDEX" add "$PGURI" http://127.0.0.1:9/broken.mp4 >/dev/null || fail "queueing broken.mp4 failed"
"$CLIP_INDEX" work "$PGURI" --until-empty --attempts 2 >/dev/null 2>"$TMP/broken.err" &&
  fail "work on a broken file exited 0"
[ "$(psql_c "SELECT state, attempts, error <> '' FROM queue WHERE position('broken.mp4'::bytea in path) > 0")" = "failed|2|t" ] ||
  fail "broken file in the queue: $(psql_c "SELECT state, attempts, error FROM queue WHERE position('broken.mp4'::bytea in path) > 0")"
"$CLIP_INDEX" status "$PGURI" >"$TMP/status" || fail "status failed"
grep -q "^queued 0, running 0, done 3, failed 1$" "$TMP/status" && grep -q "^failed: .*broken.mp4 after 2 attempts: " "$TMP/status" ||
  fail "status: $(cat "$TMP/status")"
ok "a broken file tried twice, then failed with its error: $(grep '^failed:' "$TMP/status")"

# A password in the URI never reaches a message.
bad="postgresql://clip:s3cr3t-pw@/nosuchdb?host=$PGDIR&port=5432"
"$CLIP_INDEX" search "$bad" "x" >"$TMP/bad.out" 2>&1 && fail "search on a missing database succeeded"
grep -q "nosuchdb" "$TMP/bad.out" || fail "error does not name the database: $(cat "$TMP/bad.out")"
! grep -q "s3cr3t" "$TMP/bad.out" || fail "password printed: $(cat "$TMP/bad.out")"
grep -q 'clip:\*\*\*@' "$TMP/bad.out" || fail "URI not masked: $(cat "$TMP/bad.out")"
ok "connection error masks the password: $(head -1 "$TMP/bad.out")"

# An empty database is not an index for search.
as_pg "$PGBIN/createdb" -h "$PGDIR" -p 5432 -U clip empty || fail "createdb"
"$CLIP_INDEX" search "postgresql:///empty?host=$PGDIR&port=5432&user=clip" "x" 2>"$TMP/empty.err" &&
  fail "search on an empty database succeeded"
grep -q "empty index" "$TMP/empty.err" || fail "empty database: $(cat "$TMP/empty.err")"
ok "empty database refused: $(cat "$TMP/empty.err")"
