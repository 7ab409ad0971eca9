#!/bin/sh
# An index is bound to the model that built it: searching or adding with
# another one is refused with a message naming both.
. "$(dirname "$0")/common.sh"
OTHER="${CLIP_REFERENCE_DIR:-}/tiny-b32"
[ -d "$OTHER" ] || skip "reference kit model not found at '$OTHER' (CLIP_REFERENCE_DIR)"
scenes "$TMP/a.mp4" I420 160 120 10 10 mp4mux ball:2
IDX="$TMP/i.db"
"$CLIP_INDEX" add "$IDX" "$TMP/a.mp4" >/dev/null || fail "add exited $?"
"$CLIP_INDEX" search "$IDX" "a ball" --model "$OTHER" >"$TMP/out" 2>"$TMP/err"; rc=$?
cat "$TMP/err"
[ $rc = 1 ] || fail "search with another model exited $rc, expected 1"
grep -q "built with model 'clipfilter-mini'" "$TMP/err" && grep -q "tiny-b32" "$TMP/err" ||
  fail "the error does not name both models"
[ ! -s "$TMP/out" ] || fail "hits printed despite the model mismatch"
scenes "$TMP/b.mp4" I420 160 120 10 10 mp4mux snow:2
"$CLIP_INDEX" add "$IDX" "$TMP/b.mp4" --model "$OTHER" 2>"$TMP/err2"; rc=$?
[ $rc = 1 ] && grep -q "built with model 'clipfilter-mini'" "$TMP/err2" || fail "add with another model: rc $rc: $(cat "$TMP/err2")"
[ "$(sqlite3 "$IDX" "SELECT count(*) FROM files")" = 1 ] || fail "add with another model wrote rows"
# The same model named by path is the same model.
"$CLIP_INDEX" search "$IDX" "a ball" --model "$CLIP_SOURCE_ROOT/models/clipfilter-mini" >/dev/null ||
  fail "search naming the index's own model by path was refused"
# A model file of another dimension cannot be smuggled in by editing the path.
sqlite3 "$IDX" "UPDATE meta SET value='$OTHER' WHERE key='model_path'"
"$CLIP_INDEX" search "$IDX" "a ball" 2>"$TMP/err3"; rc=$?
[ $rc = 1 ] && grep -q "dimension" "$TMP/err3" || fail "dimension mismatch not caught: rc $rc: $(cat "$TMP/err3")"
ok "other models refused"
