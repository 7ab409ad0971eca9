#!/bin/sh
# The schema in docs/indexing.md is the one clip-index writes, and the JSON
# of add, search and info has the documented fields and types.
. "$(dirname "$0")/common.sh"
scenes "$TMP/a.mp4" I420 160 120 10 10 mp4mux smpte:2 ball:2
IDX="$TMP/i.db"
"$CLIP_INDEX" add "$IDX" "$TMP/a.mp4" --json >"$TMP/add.json" || fail "add exited $?"
[ "$(sqlite3 "$IDX" "PRAGMA user_version")" = 1 ] || fail "user_version is not 1"
[ "$(sqlite3 "$IDX" "PRAGMA journal_mode")" = wal ] || fail "not in WAL mode"
sqlite3 "$IDX" "SELECT sql || ';' FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid" >"$TMP/actual.sql"
# The doc's schema block: between the lines "```sql" and "```" after "## Schema".
sed -n '/^## Schema/,$p' "$CLIP_SOURCE_ROOT/docs/indexing.md" | sed -n '/^```sql/,/^```$/p' | sed '1d;$d' >"$TMP/doc.sql"
norm() { tr -s ' \n\t' ' ' <"$1" | sed 's/ *, */,/g; s/( */(/g; s/ *)/)/g; s/ *; */;/g'; }
[ "$(norm "$TMP/actual.sql")" = "$(norm "$TMP/doc.sql")" ] ||
  { diff "$TMP/doc.sql" "$TMP/actual.sql"; fail "docs/indexing.md schema differs from the database's"; }
ok "schema matches docs/indexing.md"
"$CLIP_INDEX" search "$IDX" "a ball" --json >"$TMP/search.json" || fail "search exited $?"
"$CLIP_INDEX" info "$IDX" --json >"$TMP/info.json" || fail "info exited $?"
python3 - "$TMP/add.json" "$TMP/search.json" "$TMP/info.json" <<'PY' || fail "JSON output"
import json, sys
def check(obj, spec, what):
    for k, t in spec.items():
        assert k in obj, "%s: no field %s in %s" % (what, k, obj)
        assert isinstance(obj[k], t), "%s: %s is %r" % (what, k, obj[k])
num = (int, float)
add = json.load(open(sys.argv[1]))
check(add, {"indexed": int, "unchanged": int, "segments": int, "samples": int,
            "video_seconds": num, "wall_seconds": num, "failed": list}, "add")
hits = json.load(open(sys.argv[2]))
assert isinstance(hits, list) and hits, "search: not a non-empty list"
for h in hits:
    check(h, {"rank": int, "segment": int, "file": str, "start": num, "end": num,
              "score": num, "samples": int}, "search hit")
    assert 0 <= h["start"] < h["end"] and -1.0001 <= h["score"] <= 1.0001, h
assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
info = json.load(open(sys.argv[3]))
check(info, {"index": str, "schema_version": int, "model": str, "model_path": str,
             "embed_dim": int, "files": int, "segments": int, "samples": int, "hours": num}, "info")
assert info["model"] == "clipfilter-mini" and info["embed_dim"] == 64 and info["files"] == 1
assert info["samples"] == 4 and abs(info["hours"] - 4 / 3600) < 1e-3, info
PY
ok "JSON of add, search and info"
