#!/bin/sh
# Command-line conventions: -h on every verb exits 0, usage errors exit 2.
. "$(dirname "$0")/common.sh"
for v in add search info export; do
  "$CLIP_INDEX" $v --help >"$TMP/h" 2>&1 || fail "$v --help exited $?"
  grep -q "clip-index" "$TMP/h" || grep -q "Usage" "$TMP/h" || fail "$v --help printed no usage"
  "$CLIP_INDEX" $v -h >/dev/null 2>&1 || fail "$v -h exited $?"
done
"$CLIP_INDEX" --help >/dev/null || fail "--help exited $?"
expect2() {
  "$CLIP_INDEX" "$@" >/dev/null 2>"$TMP/err"; rc=$?
  [ $rc = 2 ] || { cat "$TMP/err"; fail "'$*' exited $rc, expected 2"; }
  [ -s "$TMP/err" ] || fail "'$*' printed no reason"
}
expect2
expect2 frobnicate
expect2 add
expect2 add "$TMP/i.db"
expect2 add "$TMP/i.db" x --interval 0
expect2 add "$TMP/i.db" x --decode sometimes
expect2 add "$TMP/i.db" x --precision fp8
expect2 add "$TMP/i.db" x --no-such-option
expect2 search "$TMP/i.db"
expect2 search "$TMP/i.db" "a" --top 0
expect2 info
expect2 export "$TMP/i.db"
expect2 export "$TMP/i.db" --format csv
# A missing index is a failure (1), not a usage error.
"$CLIP_INDEX" info "$TMP/none.db" 2>"$TMP/err"; rc=$?
[ $rc = 1 ] && grep -q "none.db: no such index" "$TMP/err" || fail "info on a missing index: rc $rc: $(cat "$TMP/err")"
ok "help and usage errors"
