#!/bin/sh
# Files that cannot be indexed are reported with their reason and skipped;
# the run goes on and indexes the good ones; exit status 1 says some failed.
. "$(dirname "$0")/common.sh"
scenes "$TMP/good.mp4" I420 160 120 10 10 mp4mux ball:2
head -c $(($(stat -c %s "$TMP/good.mp4") / 2)) "$TMP/good.mp4" >"$TMP/truncated.mp4"
# Deterministic garbage named .mp4 (random data could look like some format).
python3 -c "import random, sys; r = random.Random(1); sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range(65536)))" >"$TMP/corrupt.mp4"
echo "plain text" >"$TMP/notes.txt"
gst-launch-1.0 -q audiotestsrc num-buffers=20 ! audioconvert ! wavenc ! filesink location="$TMP/audio.wav" ||
  fail "could not write audio.wav"
IDX="$TMP/i.db"
"$CLIP_INDEX" add "$IDX" "$TMP/truncated.mp4" "$TMP/corrupt.mp4" "$TMP/notes.txt" "$TMP/good.mp4" \
  "$TMP/audio.wav" "$TMP/missing.mp4" --json >"$TMP/out.json" 2>"$TMP/err"
rc=$?
cat "$TMP/err"
[ $rc = 1 ] || fail "add with bad files exited $rc, expected 1"
python3 - "$TMP/out.json" <<'PY' || fail "summary: $(cat "$TMP/out.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["indexed"] == 1, s
reasons = {f["file"].split("/")[-1]: f["reason"] for f in s["failed"]}
assert set(reasons) == {"truncated.mp4", "corrupt.mp4", "notes.txt", "audio.wav", "missing.mp4"}, reasons
assert "not a video file" in reasons["notes.txt"] and "text/plain" in reasons["notes.txt"], reasons
assert "no such file" in reasons["missing.mp4"], reasons
for k in ("truncated.mp4", "corrupt.mp4", "audio.wav"):
    assert len(reasons[k]) > 8, (k, reasons[k])
print("\n".join("%s: %s" % kv for kv in sorted(reasons.items())))
PY
for f in truncated.mp4 corrupt.mp4 notes.txt; do
  grep -q "skipped .*$f: " "$TMP/err" || fail "no reason on stderr for $f"
done
[ "$(sqlite3 "$IDX" "SELECT count(*) FROM files")" = 1 ] || fail "bad files left rows"
ok "bad files skipped with reasons, good file indexed"
