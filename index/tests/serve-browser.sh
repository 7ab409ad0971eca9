#!/bin/sh
# The search page in a real browser: headless Chromium opens the page with
# ?q=a ball (the page runs the query from its URL, as after a search), the
# DOM it renders must show a.mp4's ball segment as the first hit; ?like= of
# that hit must show it first with score 1; a screenshot is kept in the
# build directory (serve-page.png).
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/serve-common.sh"
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] && [ -x "$CHROMIUM" ] || skip "chromium not installed (apt-get install chromium)"
make_archive
start_server
ok "listening on $URL"

chrome() {
  profile=$(mktemp -d "$TMP/profile.XXXXXX")
  timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-dev-shm-usage --user-data-dir="$profile" --window-size=1280,900 \
    --virtual-time-budget=30000 "$@" 2>>"$TMP/chromium.log"
}

page="${URL}?q=a%20ball"
chrome --dump-dom "$page" >"$TMP/dom.html" || { tail -20 "$TMP/chromium.log"; fail "chromium --dump-dom exited $?"; }
cat >"$TMP/hits.py" <<'PY'
import html.parser, sys

class Hits(html.parser.HTMLParser):
    """Collects each article.hit's name, time span and score, and the status line."""
    def __init__(self):
        super().__init__()
        self.hits, self.field, self.status, self.in_status = [], None, "", False
    def handle_starttag(self, tag, attrs):
        cls = dict(attrs).get("class", "") or ""
        if tag == "article" and "hit" in cls.split():
            self.hits.append({"segment": dict(attrs).get("data-segment"), "name": "", "span": "", "score": ""})
        elif self.hits and tag == "div" and cls == "name":
            self.field = "name"
        elif self.hits and tag == "span" and cls == "score":
            self.field = "score"
        elif self.hits and tag == "span" and cls == "":
            self.field = "span"
        elif dict(attrs).get("id") == "status":
            self.in_status = True
    def handle_endtag(self, tag):
        self.field = None
        self.in_status = False
    def handle_data(self, data):
        if self.field:
            self.hits[-1][self.field] += data
        elif self.in_status:
            self.status += data

p = Hits()
p.feed(open(sys.argv[1], encoding="utf-8").read())
assert p.hits, "no hits rendered; status: %r" % p.status
h = p.hits[0]
start, end = h["span"].split("\u2013")
secs = lambda t: int(t.split(":")[0]) * 60 + float(t.split(":")[1])
assert h["name"] == "a.mp4" and abs(secs(start) - 4) <= 1 and abs(secs(end) - 8) <= 1, h
assert float(h["score"]) > float(p.hits[-1]["score"]), p.hits
assert "results for" in p.status, p.status
if len(sys.argv) > 2:  # ?like=SEGMENT: that segment first, cosine 1
    assert h["segment"] == sys.argv[2] and h["score"] == "1.000", h
print("ok: first hit in the browser:", h, "| status:", p.status)
PY
python3 "$TMP/hits.py" "$TMP/dom.html" || fail "the page's first hit: $(head -c 3000 "$TMP/dom.html")"
seg=$(python3 -c "import re,sys; print(re.search(r'data-segment=\"(\d+)\"', open(sys.argv[1]).read()).group(1))" "$TMP/dom.html")

# "More like this" of that hit, as its button's URL opens it.
chrome --dump-dom "${URL}?like=$seg" >"$TMP/like.html" || fail "chromium --dump-dom ?like exited $?"
python3 "$TMP/hits.py" "$TMP/like.html" "$seg" || fail "?like=$seg: $(head -c 3000 "$TMP/like.html")"

shot=${SERVE_ARTIFACT_DIR:-$TMP}/serve-page.png
rm -f "$shot"
chrome --screenshot="$shot" --hide-scrollbars "$page" >/dev/null ||
  { tail -20 "$TMP/chromium.log"; fail "chromium --screenshot exited $?"; }
python3 -c "import sys; d=open(sys.argv[1],'rb').read(); assert d[:8]==b'\x89PNG\r\n\x1a\n' and len(d) > 10000, len(d)" "$shot" ||
  fail "no screenshot at $shot"
ok "screenshot: $shot"
