#!/bin/sh
# Search on a PostgreSQL index keeps a local copy of the embeddings and
# fetches only what is new: rows added after a search are fetched alone and
# found, and appended in place to the matrix and int8 files; a replaced or
# deleted file, a row committed while the search fixes its watermark, a
# damaged or truncated copy, matrix or int8 file, rows an append left
# uncounted all give the hits of a fresh full read.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/pg-common.sh"
mkdir -p "$TMP/archive" "$TMP/more" "$TMP/more2"
scenes "$TMP/archive/a.mp4" I420 322 242 15 15 mp4mux smpte:3 ball:3
scenes "$TMP/archive/b.mkv" Y444 321 241 10 10 matroskamux snow:3 smpte:2
scenes "$TMP/more/c.mp4" I420 320 240 10 10 mp4mux circular:4
scenes "$TMP/more2/d.mp4" I420 320 240 10 10 mp4mux pinwheel:3 ball:3
export XDG_CACHE_HOME="$TMP/cache"

index() {
  "$CLIP_INDEX" add "$PGURI" "$@" >/dev/null 2>"$TMP/add.err" || { cat "$TMP/add.err"; fail "add $*"; }
  "$CLIP_INDEX" work "$PGURI" --until-empty --merge 0.5 >/dev/null 2>"$TMP/work.err" ||
    { cat "$TMP/work.err"; fail "work after add $*"; }
}
# search_same QUERY: the hits equal those of a search with an empty cache
# (a full read), byte for byte; the --timing lines are left in $TMP/timing.
search_same() {
  "$CLIP_INDEX" search "$PGURI" "$1" --json --top 50 --timing >"$TMP/copy.json" 2>"$TMP/timing" ||
    { cat "$TMP/timing"; fail "search '$1' exited $?"; }
  rm -rf "$TMP/fresh"
  XDG_CACHE_HOME="$TMP/fresh" "$CLIP_INDEX" search "$PGURI" "$1" --json --top 50 >"$TMP/fresh.json" ||
    fail "fresh search '$1' exited $?"
  [ -s "$TMP/fresh.json" ] && cmp -s "$TMP/copy.json" "$TMP/fresh.json" ||
    fail "search '$1' from the copy differs from a full read: $(diff "$TMP/copy.json" "$TMP/fresh.json" | head -5)"
}
# note TEXT: the search's copy line says TEXT
note() {
  grep -q "^matrix $1 (fetch " "$TMP/timing" || fail "want 'matrix $1', got: $(cat "$TMP/timing")"
}
segments() { psql_c "SELECT count(*) FROM segments"; }
# cache_note TEXT: the search's line on the matrix and int8 files says TEXT
cache_note() {
  grep -qx "cache files: $1" "$TMP/timing" || fail "want 'cache files: $1', got: $(cat "$TMP/timing")"
}
inodes() { stat -c %i "$TMP/cache/clipfilter/"index-*.matrix "$TMP/cache/clipfilter/"index-*.qmatrix | tr '\n' ' '; }

index "$TMP/archive"
n1=$(segments)
search_same "a ball"
note "full read: $n1 segments fetched from the server, 0 from the local copy"
search_same "a ball"
grep -q "matrix mapped" "$TMP/timing" || fail "second search did not map the matrix: $(cat "$TMP/timing")"
[ "$(ls "$TMP/cache/clipfilter" | sed 's/^index-[0-9a-f]*//' | sort | tr '\n' ' ')" = ".matrix .qmatrix .rows " ] ||
  fail "cache: $(ls "$TMP/cache/clipfilter")"
ok "first search reads all $n1 segments and writes the local copy; the next maps it"

before=$(inodes)
index "$TMP/more"
n2=$(segments)
search_same "concentric circles"
note "refreshed by id: $((n2 - n1)) segments fetched from the server, $n1 from the local copy"
cache_note "matrix appended $((n2 - n1)) rows, int8 appended $((n2 - n1)) rows"
[ "$(inodes)" = "$before" ] || fail "the matrix and int8 files were replaced, not appended to"
python3 -c "import json,sys; h=json.load(open(sys.argv[1])); assert h[0]['file'].endswith('/c.mp4'), h[0]" \
  "$TMP/copy.json" || fail "the new file's segment is not the first hit for its scene"
ok "a file indexed after the first search: its $((n2 - n1)) segments alone fetched, and found first"

# A writer that drew its segment id before the search fixed its watermark
# and commits after: the search waits for it rather than skip the row.
psql_c "BEGIN; SELECT pg_advisory_xact_lock_shared(7236053);
  INSERT INTO segments(file_id, start, \"end\", samples, embedding)
    SELECT file_id, start + 100, \"end\" + 100, samples, embedding FROM segments ORDER BY id LIMIT 1;
  SELECT nextval('generation'); SELECT pg_sleep(3); COMMIT" >/dev/null &
writer=$!
sleep 1
search_same "a ball"
wait $writer || fail "the slow writer failed"
note "refreshed by id: 1 segments fetched from the server, $n2 from the local copy"
cache_note "matrix appended 1 rows, int8 appended 1 rows"
ok "a row committed while the search took its watermark is fetched (the search waited for it)"

# An append that died after writing rows but before the header that counts
# them: the bytes past the counted rows are garbage, the next append writes
# over them. Then truncated files: named, rebuilt, same hits.
mat=$(ls "$TMP/cache/clipfilter/"index-*.matrix)
qmat=${mat%.matrix}.qmatrix
python3 - "$mat" "$qmat" <<'PY'
import struct, sys
for p, row in ((sys.argv[1], 4), (sys.argv[2], 1)):
    with open(p, "r+b") as f:
        n, cap = struct.unpack("<qq", f.read(32)[16:32])
        assert cap > n + 10, (p, n, cap)
        size = f.seek(0, 2)
        f.seek(size - (cap - n) * 64 * row)  # the first uncounted row (dimension 64)
        f.write(b"\x7f" * 64 * row * 10)
PY
psql_c "INSERT INTO segments(file_id, start, \"end\", samples, embedding)
  SELECT file_id, start + 200, \"end\" + 200, samples, embedding FROM segments ORDER BY id DESC LIMIT 1;
  SELECT nextval('generation')" >/dev/null
before=$(inodes)
search_same "concentric circles"
cache_note "matrix appended 1 rows, int8 appended 1 rows"
[ "$(inodes)" = "$before" ] || fail "the files were replaced after an append cut short"
ok "an append cut short before its header: the next append writes over its rows, same hits"
truncate -s -100 "$mat"
search_same "concentric circles"
grep -q "^clip-index: .*\.matrix is damaged (.*); rebuilding it$" "$TMP/timing" ||
  fail "no message for a truncated matrix: $(cat "$TMP/timing")"
cache_note "matrix rebuilt"
truncate -s -100 "$qmat"
search_same "concentric circles"
grep -q "^clip-index: .*\.qmatrix is damaged (.*); rebuilding it$" "$TMP/timing" ||
  fail "no message for a truncated int8 file: $(cat "$TMP/timing")"
cache_note "int8 rebuilt"
search_same "concentric circles"
grep -q "matrix mapped" "$TMP/timing" && ! grep -q "^cache files" "$TMP/timing" ||
  fail "rebuilt files not mapped: $(cat "$TMP/timing")"
ok "a truncated matrix and int8 file: each named and rebuilt, same hits"
n2=$(segments)

# Re-indexing a changed file removes its rows and adds new ones: the change
# count moved, so every row is read again.
scenes "$TMP/archive/a.mp4" I420 322 242 15 15 mp4mux snow:2 circular:2
touch -d '2001-01-01' "$TMP/archive/a.mp4"
index "$TMP/archive/a.mp4"
search_same "tv static"
n3=$(segments)
note "full read: $n3 segments fetched from the server, 0 from the local copy"
cache_note "matrix rebuilt, int8 rebuilt"
ok "a re-indexed file (rows replaced): full read, $n3 segments, hits of a fresh read"

psql_c "DELETE FROM files WHERE position('b.mkv'::bytea in path) > 0" >/dev/null
search_same "tv static"
n4=$(segments)
note "full read: $n4 segments fetched from the server, 0 from the local copy"
! grep -q "b.mkv" "$TMP/copy.json" || fail "a deleted file's segment was found"
ok "a file deleted by SQL (trigger on segments): full read, none of its rows found"

# Two searches refreshing the same copy at once (a writer's lock holds
# both at the watermark, then lets them go together): each holds every row,
# fetched or from the copy (the one that reads the copy after the other's
# append fetches nothing); the hits of both, and of the copy they leave,
# are those of a full read.
index "$TMP/more2"
n5=$(segments)
psql_c "SELECT nextval('generation'); BEGIN; SELECT pg_advisory_xact_lock_shared(7236053);
  SELECT pg_sleep(2); COMMIT" >/dev/null &
writer=$!
sleep 0.5
"$CLIP_INDEX" search "$PGURI" "a ball" --json --top 50 --timing >"$TMP/c1.json" 2>"$TMP/t1" &
first=$!
"$CLIP_INDEX" search "$PGURI" "a ball" --json --top 50 --timing >"$TMP/c2.json" 2>"$TMP/t2" ||
  fail "second concurrent search exited $?"
wait $first || fail "first concurrent search exited $?"
wait $writer || fail "the lock holder failed"
for t in "$TMP/t1" "$TMP/t2"; do
  got=$(sed -n 's/^matrix refreshed by id: \([0-9]*\) segments fetched from the server, \([0-9]*\) from the local copy.*/\1 \2/p' "$t")
  [ -n "$got" ] && [ $((${got% *} + ${got#* })) = "$n5" ] || fail "concurrent search: $(cat "$t")"
done
search_same "a ball"
cmp -s "$TMP/c1.json" "$TMP/fresh.json" && cmp -s "$TMP/c2.json" "$TMP/fresh.json" ||
  fail "concurrent searches differ from a full read"
grep -q "matrix mapped" "$TMP/timing" || fail "after the concurrent refresh: $(cat "$TMP/timing")"
ok "two searches refreshing at once fetched $(grep '^matrix' "$TMP/t1" | cut -d' ' -f5) and $(grep '^matrix' "$TMP/t2" | cut -d' ' -f5) of $((n5 - n4)) new rows; the hits of a full read"
n4=$n5

# A damaged copy is read again from the server, with a message. The
# matrix derived from it is removed so that search goes back to the copy.
copy=$(ls "$TMP/cache/clipfilter/"index-*.rows)
python3 - "$copy" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) - 7] ^= 0x40  # one bit of the last row
open(p, "wb").write(b)
PY
rm -f "${copy%.rows}.matrix" "${copy%.rows}.qmatrix"
search_same "tv static"
grep -q "^clip-index: local copy .*\.rows is corrupt (checksum mismatch); reading every segment again$" "$TMP/timing" ||
  fail "no message for a corrupt copy: $(cat "$TMP/timing")"
note "full read: $n4 segments fetched from the server, 0 from the local copy"
size=$(stat -c %s "$copy")
truncate -s $((size - 100)) "$copy"
rm -f "${copy%.rows}.matrix" "${copy%.rows}.qmatrix"
search_same "a ball"
grep -q "local copy .*\.rows is truncated" "$TMP/timing" || fail "no message for a truncated copy: $(cat "$TMP/timing")"
note "full read: $n4 segments fetched from the server, 0 from the local copy"
printf 'not a copy' >"$copy"
rm -f "${copy%.rows}.matrix" "${copy%.rows}.qmatrix"
search_same "a ball"
grep -q "local copy .*\.rows is not a copy" "$TMP/timing" || fail "no message for a foreign file: $(cat "$TMP/timing")"
ok "a corrupt, a truncated and a foreign copy: each named, read again, same hits"

# Another index under the same name (a database dropped and made again):
# its index_id differs, so the old copy is not used.
psql_c "UPDATE meta SET value = gen_random_uuid()::text WHERE key = 'index_id'" >/dev/null
rm -f "${copy%.rows}.matrix" "${copy%.rows}.qmatrix"
search_same "a ball"
note "full read: $n4 segments fetched from the server, 0 from the local copy"
ok "a copy of another index (index_id) is not used"
