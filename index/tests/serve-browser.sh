#!/bin/sh
# The search page in a real browser: headless Chromium opens the page with
# ?q=a ball (the page runs the query from its URL, as after a search), the
# DOM it renders must show a.mp4's ball segment as the first hit, and a
# screenshot is kept in the build directory (serve-page.png).
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/serve-common.sh"
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] || skip "chromium not installed (apt-get install chromium)"
make_archive
start_server
ok "listening on $URL"

chrome() {
  profile=$(mktemp -d "$TMP/profile.XXXXXX")
  timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-dev-shm-usage --user-data-dir="$profile" --window-size=1280,900 \
    --virtual-time-budget=5000 "$@" 2>>"$TMP/chromium.log"
}

page="${URL}?q=a%20ball"
chrome --dump-dom "$page" >"$TMP/dom.html" || { tail -20 "$TMP/chromium.log"; fail "chromium --dump-dom exited $?"; }
python3 - "$TMP/dom.html" <<'PY' || fail "the page's first hit: $(head -c 3000 "$TMP/dom.html")"
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
print("ok: first hit in the browser:", h, "| status:", p.status)
PY

shot=${SERVE_ARTIFACT_DIR:-$TMP}/serve-page.png
rm -f "$shot"
chrome --screenshot="$shot" --hide-scrollbars "$page" >/dev/null ||
  { tail -20 "$TMP/chromium.log"; fail "chromium --screenshot exited $?"; }
python3 -c "import sys; d=open(sys.argv[1],'rb').read(); assert d[:8]==b'\x89PNG\r\n\x1a\n' and len(d) > 10000, len(d)" "$shot" ||
  fail "no screenshot at $shot"
ok "screenshot: $shot"
