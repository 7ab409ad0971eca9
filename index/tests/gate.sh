#!/bin/sh
# The change gate of add: a mostly static clip indexed with and without
# --change-threshold gives the same segments (start and end within one
# sample) from fewer embeddings; --max-reuse forces a refresh; a bad value
# is refused.
. "$(dirname "$0")/common.sh"
# 1 s GOP, 1 sample/s: smpte 0-8 s (still), ball 8-11 s (moving), smpte 11-19 s.
scenes "$TMP/static.mp4" I420 160 120 10 10 mp4mux smpte:8 ball:3 smpte:8

add() { # db json-out extra-args...
  db=$1 out=$2
  shift 2
  "$CLIP_INDEX" add "$db" "$TMP/static.mp4" --merge 0.5 --json "$@" >"$out" 2>"$TMP/add.err" ||
    { cat "$TMP/add.err"; fail "add $* exited $?"; }
}
add "$TMP/off.db" "$TMP/off.json"
add "$TMP/on.db" "$TMP/on.json" --change-threshold 0.03
add "$TMP/refresh.db" "$TMP/refresh.json" --change-threshold 0.03 --max-reuse 4
segs() { sqlite3 "$1" "SELECT start || ' ' || end FROM segments ORDER BY start" | tr '\n' ','; }
python3 - "$TMP/off.json" "$TMP/on.json" "$TMP/refresh.json" "$(segs "$TMP/off.db")" "$(segs "$TMP/on.db")" <<'PY' ||
import json, sys
off, on, refresh = (json.load(open(p)) for p in sys.argv[1:4])
seg = lambda s: [tuple(map(float, x.split())) for x in s.split(",") if x]
s_off, s_on = seg(sys.argv[4]), seg(sys.argv[5])
assert off["samples"] == on["samples"] == refresh["samples"] == 19, (off, on, refresh)
# Off: every sample embedded. On: the still stretches embed once (plus the
# first sample after each change), the moving ball every second.
assert off["embedded"] == 19, off
assert on["embedded"] <= 8, on
# --max-reuse 4: at least one embedding per 4 s of each still stretch.
assert on["embedded"] < refresh["embedded"] < 19 and refresh["embedded"] >= 19 // 4, refresh
# The same segments, start and end within one sample.
assert len(s_on) == len(s_off), (s_off, s_on)
assert all(abs(a[0] - b[0]) <= 1 and abs(a[1] - b[1]) <= 1 for a, b in zip(s_off, s_on)), (s_off, s_on)
print(f"embedded {off['embedded']} -> {on['embedded']} (max-reuse 4: {refresh['embedded']}); segments {s_on}")
PY
  fail "gate: off $(cat "$TMP/off.json") $(segs "$TMP/off.db"); on $(cat "$TMP/on.json") $(segs "$TMP/on.db"); refresh $(cat "$TMP/refresh.json")"
ok "change gate: same segments, fewer embeddings"

"$CLIP_INDEX" add "$TMP/bad.db" "$TMP/static.mp4" --change-threshold -1 >/dev/null 2>"$TMP/bad.err"
rc=$?
[ $rc = 2 ] && grep -q -- "--max-reuse >= 0" "$TMP/bad.err" || fail "--change-threshold -1: exit $rc, $(cat "$TMP/bad.err")"
[ ! -e "$TMP/bad.db" ] || fail "--change-threshold -1 created the index"
ok "negative --change-threshold refused"
