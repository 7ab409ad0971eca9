#!/bin/sh
# gst-inspect-1.0 alone documents the element: klass, every property, and
# where its messages and meta are documented.
. "$(dirname "$0")/common.sh"
gst-inspect-1.0 clipfilter >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "gst-inspect-1.0 failed"; }
grep -q "Filter/Analyzer/Video" "$TMP/out" || fail "klass"
grep -q '^  Description .*"clipfilter-tag".*GstClipMeta.*documented in docs/element.md' "$TMP/out" ||
  fail "description does not say where messages and meta are documented"
grep -q "^  Doc-uri  *https://.*/docs/element.md$" "$TMP/out" || fail "no Doc-uri to docs/element.md"
for p in model prompts templates interval frame-interval mode threshold threshold-off window \
         top-k post-messages attach-meta attach-embedding threads batch-size analyzed skipped; do
  grep -q "^  $p  *:" "$TMP/out" || fail "property $p not listed"
done
echo "ok: all properties listed"
