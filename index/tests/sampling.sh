#!/bin/sh
# Sampling accuracy of each decode mode (docs/indexing.md): key frames at
# 1 s GOPs sample exactly on the second; a long GOP makes auto fall back to
# decoding every frame, with samples within half a frame of the second;
# keyframes mode on a long GOP samples only its key frames.
. "$(dirname "$0")/common.sh"
scenes "$TMP/gop1.mp4" I420 160 120 10 10 mp4mux ball:6
scenes "$TMP/gop6.mp4" I420 160 120 10 60 mp4mux ball:8
sample_times() { sqlite3 "$1" "SELECT group_concat(time, ' ') FROM (SELECT p.time FROM samples p JOIN segments s ON s.id=p.segment_id JOIN files f ON f.id=s.file_id WHERE f.path LIKE '%$2' ORDER BY p.time)"; }
mode() { sqlite3 "$1" "SELECT decode FROM files WHERE path LIKE '%$2'"; }
check_times() { # db file expected-times tolerance
  python3 - "$(sample_times "$1" "$2")" "$3" "$4" <<'PY' || fail "$2 sample times: $(sample_times "$1" "$2") expected $3 (± $4)"
import sys
got = [float(x) for x in sys.argv[1].split()]
want = [float(x) for x in sys.argv[2].split()]
assert len(got) == len(want) and all(abs(a - b) <= float(sys.argv[3]) + 1e-6 for a, b in zip(got, want)), (got, want)
PY
}
"$CLIP_INDEX" add "$TMP/auto.db" "$TMP/gop1.mp4" "$TMP/gop6.mp4" >/dev/null || fail "add (auto) exited $?"
[ "$(mode "$TMP/auto.db" gop1.mp4)" = keyframes ] || fail "1 s GOP not decoded in key-frame mode"
check_times "$TMP/auto.db" gop1.mp4 "0 1 2 3 4 5" 0
[ "$(mode "$TMP/auto.db" gop6.mp4)" = all ] || fail "6 s GOP did not fall back to decoding all frames"
check_times "$TMP/auto.db" gop6.mp4 "0 1 2 3 4 5 6 7" 0.05
ok "auto: key frames at 1 s GOPs (exact), every frame at 6 s GOPs (± half a frame)"

"$CLIP_INDEX" add "$TMP/key.db" "$TMP/gop6.mp4" --decode keyframes >/dev/null || fail "add (keyframes) exited $?"
check_times "$TMP/key.db" gop6.mp4 "0 6" 0
"$CLIP_INDEX" add "$TMP/all.db" "$TMP/gop1.mp4" --decode all --interval 0.5 >/dev/null || fail "add (all) exited $?"
check_times "$TMP/all.db" gop1.mp4 "0 0.5 1 1.5 2 2.5 3 3.5 4 4.5 5 5.5" 0.05
# auto with an interval shorter than the GOP: every frame, not every key frame
"$CLIP_INDEX" add "$TMP/half.db" "$TMP/gop1.mp4" --interval 0.5 >/dev/null || fail "add (auto, 0.5 s) exited $?"
[ "$(mode "$TMP/half.db" gop1.mp4)" = all ] || fail "auto kept key frames 2 intervals apart"
python3 -c "import sys; t=[float(x) for x in sys.argv[1].split()]; assert len(t) >= 11 and max(b - a for a, b in zip(t, t[1:])) <= 1.0 + 1e-6, t" "$(sample_times "$TMP/half.db" gop1.mp4)" ||
  fail "auto at 0.5 s: $(sample_times "$TMP/half.db" gop1.mp4)"
ok "keyframes mode samples key frames only; all mode samples every interval"
