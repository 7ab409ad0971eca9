#!/bin/sh
# The README's publisher pipelines as written (videotestsrc for the camera):
# clippublish location=- prints one JSON object per line on stdout, with the
# shipped model (clipfilter's default); a topic with a wildcard fails the
# start with an error naming the topic.
. "$(dirname "$0")/common.sh"
unset CLIPFILTER_MODEL_PATH
gst-launch-1.0 -q videotestsrc num-buffers=20 ! video/x-raw,framerate=10/1 ! videoconvert ! \
  clipfilter prompts="smpte color bars;tv static" ! clippublish location=- source-id=door ! \
  fakesink >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/out" "$TMP/err"; fail "gst-launch-1.0 failed"; }
cat "$TMP/out"
# 4 samples, the tag on at 0 and off at EOS; nothing else on stdout
[ "$(grep -c '^{"schema-version":1,"type":"clipfilter","source-id":"door",' "$TMP/out")" = 4 ] ||
  fail "expected 4 clipfilter objects"
[ "$(grep -c '"type":"clipfilter-tag".*"label":"smpte color bars","state":"on"' "$TMP/out")" = 1 ] ||
  fail "expected the tag on"
[ "$(grep -c '"type":"clipfilter-tag".*"label":"smpte color bars","state":"off"' "$TMP/out")" = 1 ] ||
  fail "expected the tag off"
[ "$(wc -l <"$TMP/out")" = 6 ] || fail "expected 6 lines"
if gst-launch-1.0 videotestsrc num-buffers=1 ! clipfilter prompts="a;b" ! \
    clippublish mqtt-host=localhost topic="cams/+/door" ! fakesink >"$TMP/out" 2>&1; then
  fail "a wildcard topic was accepted"
fi
grep -q 'Invalid MQTT topic "cams/+/door"' "$TMP/out" || { cat "$TMP/out"; fail "error message missing"; }
# gst-inspect-1.0 alone documents it: klass and every property
gst-inspect-1.0 clippublish >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "gst-inspect-1.0 clippublish failed"; }
grep -q "Filter/Metadata" "$TMP/out" || fail "klass"
for p in location source-id mqtt-host mqtt-port topic mqtt-qos client-id mqtt-keepalive \
         mqtt-credentials-file tls-ca-file tls-cert-file tls-key-file queue-size dropped published; do
  grep -q "^  $p *:" "$TMP/out" || fail "property $p not listed"
done
echo "ok: JSON lines on stdout; a wildcard topic is an error; every property listed"
