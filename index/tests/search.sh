#!/bin/sh
# Index an archive of generated clips with the shipped model and find the
# ball: the right segment first, with its start and end within one sample;
# static stretches merged; a second add adds nothing; thumbnails, image
# search and export agree with the index.
. "$(dirname "$0")/common.sh"
mkdir -p "$TMP/archive/sub"
# 4:2:0, even size, 1 s GOP, MP4: smpte 0-4 s, ball 4-8 s, snow 8-12 s.
scenes "$TMP/archive/a.mp4" I420 322 242 15 15 mp4mux smpte:4 ball:4 snow:4
# 4:4:4, odd size, Matroska, in a subdirectory, named without an extension.
scenes "$TMP/archive/sub/b" Y444 321 241 10 10 matroskamux circular:3 smpte:3
echo "not a video" >"$TMP/archive/notes.txt"
IDX="$TMP/archive.db"

# The tiny model's ball embeddings vary as the ball moves; 0.5 merges them
# and still separates the scenes (their cosines are below 0.3).
"$CLIP_INDEX" add "$IDX" "$TMP/archive" --merge 0.5 --json >"$TMP/add1.json" 2>"$TMP/add1.err" ||
  { cat "$TMP/add1.err"; fail "add exited $?"; }
python3 - "$TMP/add1.json" <<'PY' || fail "first add summary: $(cat "$TMP/add1.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["indexed"] == 2 and s["unchanged"] == 0 and s["failed"] == [], s
assert s["samples"] == 12 + 6, s
PY
ok "add indexed both clips (the text file ignored)"

# Static stretches are one segment each: smpte 0-4 s is one row of 4 samples.
sqlite3 "$IDX" "SELECT s.start, s.end, s.samples FROM segments s JOIN files f ON f.id=s.file_id
  WHERE f.path LIKE '%a.mp4' ORDER BY s.start" >"$TMP/segs"
head -1 "$TMP/segs" | grep -qx '0.0|4.0|4' || fail "smpte stretch not merged into one segment: $(cat "$TMP/segs")"
[ "$(wc -l <"$TMP/segs")" -le 4 ] || fail "too many segments in a.mp4: $(cat "$TMP/segs")"
ok "static stretches merged: $(tr '\n' ' ' <"$TMP/segs")"

"$CLIP_INDEX" search "$IDX" "a ball" --json --top 3 --thumbnails "$TMP/thumbs" >"$TMP/hits.json" ||
  fail "search exited $?"
python3 - "$TMP/hits.json" <<'PY' || fail "search 'a ball': $(cat "$TMP/hits.json")"
import json, sys
hits = json.load(open(sys.argv[1]))
h = hits[0]
assert h["file"].endswith("/a.mp4"), h
# One sample (1 s) of tolerance on each side.
assert abs(h["start"] - 4) <= 1 and abs(h["end"] - 8) <= 1, h
assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]
with open(h["thumbnail"], "rb") as f:
    assert f.read(2) == b"\xff\xd8", "thumbnail is not a JPEG"
PY
ok "'a ball' -> $(python3 -c "import json,sys; h=json.load(open(sys.argv[1]))[0]; print(h['file'].split('/')[-1], h['start'], h['end'], round(h['score'],3))" "$TMP/hits.json")"

# The int8 prefilter (the default) gives the float32 scan's hits, in its
# order, and persists its copy beside the index for the next process.
[ -f "$IDX.qmatrix" ] || fail "search left no $IDX.qmatrix"
for q in "a ball" "tv static" "concentric circles"; do
  "$CLIP_INDEX" search "$IDX" "$q" --json --top 20 >"$TMP/int8.json" || fail "search exited $?"
  "$CLIP_INDEX" search "$IDX" "$q" --json --top 20 --fp32-scan >"$TMP/fp32.json" || fail "search --fp32-scan exited $?"
  cmp -s "$TMP/int8.json" "$TMP/fp32.json" || fail "'$q': int8 prefilter hits differ from the fp32 scan"
  # the portable int8 kernel, and the engine options of a query verb
  "$CLIP_INDEX" search "$IDX" "$q" --json --top 20 --portable-scan --backend openblas --threads 1 >"$TMP/portable.json" ||
    fail "search --portable-scan --backend openblas --threads 1 exited $?"
  cmp -s "$TMP/int8.json" "$TMP/portable.json" || fail "'$q': the portable int8 kernel's hits differ"
done
"$CLIP_INDEX" search "$IDX" "a ball" --timing >/dev/null 2>"$TMP/timing" || fail "search --timing exited $?"
grep -q 'scan int8' "$TMP/timing" || fail "search did not scan the int8 copy: $(cat "$TMP/timing")"
"$CLIP_INDEX" search "$IDX" "a ball" --timing --portable-scan >/dev/null 2>"$TMP/timing" || fail "search --timing exited $?"
grep -q ', portable$' "$TMP/timing" || fail "--portable-scan did not use the portable kernel: $(cat "$TMP/timing")"
"$CLIP_INDEX" search "$IDX" "a ball" --backend none >/dev/null 2>"$TMP/err" && fail "search --backend none succeeded"
grep -q "backend must be auto, openblas or onednn, not 'none'" "$TMP/err" || fail "search --backend none: $(cat "$TMP/err")"
ok "int8 prefilter hits (either kernel) equal the fp32 scan's; $(basename "$IDX").qmatrix persisted"

# Prompt ensembling as in the element: templates and synonyms.
"$CLIP_INDEX" search "$IDX" "tv static|snow" --template "{}" --template "a video of {}" --json --top 1 >"$TMP/snow.json" ||
  fail "search with templates exited $?"
python3 - "$TMP/snow.json" <<'PY' || fail "search 'tv static': $(cat "$TMP/snow.json")"
import json, sys
h = json.load(open(sys.argv[1]))[0]
assert h["file"].endswith("/a.mp4") and abs(h["start"] - 8) <= 1 and abs(h["end"] - 12) <= 1, h
PY
"$CLIP_INDEX" search "$IDX" "concentric circles" --json --top 1 >"$TMP/circ.json" || fail "search exited $?"
python3 -c "import json,sys; h=json.load(open(sys.argv[1]))[0]; assert h['file'].endswith('/sub/b') and h['start'] <= 1 and abs(h['end'] - 3) <= 1, h" "$TMP/circ.json" ||
  fail "'concentric circles' in the 4:4:4 clip: $(cat "$TMP/circ.json")"
ok "templates, synonyms and the 4:4:4 odd-size Matroska clip"

# Search by image: a ball frame finds the ball segment.
gst-launch-1.0 -q videotestsrc pattern=ball num-buffers=1 ! video/x-raw,width=200,height=150 ! \
  videoconvert ! pngenc ! filesink location="$TMP/ball.png" || fail "could not write ball.png"
"$CLIP_INDEX" search "$IDX" --image "$TMP/ball.png" --json --top 1 >"$TMP/img.json" || fail "search --image exited $?"
python3 -c "import json,sys; h=json.load(open(sys.argv[1]))[0]; assert h['file'].endswith('/a.mp4') and abs(h['start'] - 4) <= 1, h" "$TMP/img.json" ||
  fail "search --image: $(cat "$TMP/img.json")"
ok "search by image"

# Idempotent: the same add again changes nothing.
before=$(sqlite3 "$IDX" "SELECT count(*) FROM files; SELECT count(*) FROM segments; SELECT count(*) FROM samples" | tr '\n' ' ')
"$CLIP_INDEX" add "$IDX" "$TMP/archive" "$TMP/archive/a.mp4" --merge 0.5 --json >"$TMP/add2.json" || fail "second add exited $?"
after=$(sqlite3 "$IDX" "SELECT count(*) FROM files; SELECT count(*) FROM segments; SELECT count(*) FROM samples" | tr '\n' ' ')
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['indexed']==0 and s['unchanged']==2, s" "$TMP/add2.json" ||
  fail "second add: $(cat "$TMP/add2.json")"
[ "$before" = "$after" ] || fail "second add changed the counts: $before -> $after"
ok "second add added nothing ($after)"

# A changed file (new mtime) is re-indexed in place, not duplicated.
touch -d '2001-01-01' "$TMP/archive/sub/b"
"$CLIP_INDEX" add "$IDX" "$TMP/archive" --merge 0.5 --json >"$TMP/add3.json" || fail "third add exited $?"
after3=$(sqlite3 "$IDX" "SELECT count(*) FROM files; SELECT count(*) FROM segments; SELECT count(*) FROM samples" | tr '\n' ' ')
[ "$after3" = "$after" ] || fail "re-indexing a changed file changed the counts: $after -> $after3"
ok "changed file re-indexed in place"

# The copies follow the index: after the re-index the hits are still the
# fp32 scan's, and the int8 copy was rebuilt (a different file).
ino=$(stat -c %i "$IDX.qmatrix")
"$CLIP_INDEX" search "$IDX" "concentric circles" --json --top 20 >"$TMP/int8.json" || fail "search exited $?"
"$CLIP_INDEX" search "$IDX" "concentric circles" --json --top 20 --fp32-scan >"$TMP/fp32.json" || fail "search exited $?"
cmp -s "$TMP/int8.json" "$TMP/fp32.json" || fail "after re-index: int8 prefilter hits differ from the fp32 scan"
[ "$(stat -c %i "$IDX.qmatrix")" != "$ino" ] || fail "$IDX.qmatrix not rebuilt after the index changed"
# A damaged copy is not trusted: rebuilt, same hits.
truncate -s 100 "$IDX.qmatrix"
"$CLIP_INDEX" search "$IDX" "concentric circles" --json --top 20 >"$TMP/int8b.json" || fail "search with a truncated qmatrix exited $?"
cmp -s "$TMP/int8b.json" "$TMP/fp32.json" || fail "hits differ after a truncated qmatrix"
[ "$(stat -c %s "$IDX.qmatrix")" -gt 100 ] || fail "truncated qmatrix not rebuilt"
ok "int8 copy rebuilt when the index changed or the copy is damaged"

# Export: every segment, in id order, in both formats.
n=$(sqlite3 "$IDX" "SELECT count(*) FROM segments")
"$CLIP_INDEX" export "$IDX" --format jsonl -o "$TMP/e.jsonl" || fail "export jsonl exited $?"
"$CLIP_INDEX" export "$IDX" --format npy -o "$TMP/e.npy" || fail "export npy exited $?"
python3 - "$TMP/e.jsonl" "$TMP/e.npy" "$n" <<'PY' || fail "export"
import json, struct, sys, ast, math
rows = [json.loads(l) for l in open(sys.argv[1])]
n = int(sys.argv[3])
assert len(rows) == n and all(len(r["embedding"]) == 64 for r in rows)
assert all(abs(math.sqrt(sum(x * x for x in r["embedding"])) - 1) < 1e-4 for r in rows)
b = open(sys.argv[2], "rb").read()
assert b[:8] == b"\x93NUMPY\x01\x00"
hl = struct.unpack("<H", b[8:10])[0]
assert (10 + hl) % 64 == 0
hdr = ast.literal_eval(b[10:10 + hl].decode())
assert hdr["shape"] == (n, 64) and hdr["descr"] == "<f4", hdr
data = struct.unpack("<%df" % (n * 64), b[10 + hl:])
assert all(abs(data[i * 64 + j] - rows[i]["embedding"][j]) < 1e-6 for i in range(n) for j in range(64))
PY
ok "export npy and jsonl: $n segments"
