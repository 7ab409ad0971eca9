# Sourced by the serve tests after common.sh: an indexed archive of
# generated clips and a server on a free port, killed on exit.

# Under the sanitizers, whole stacks (GLib has no frame pointers): the
# suppressions of tests/lsan.supp match on the library constructors below.
case "${CLIPFILTER_SANITIZE:-none}" in
  none|'') ;;
  *) export ASAN_OPTIONS="${ASAN_OPTIONS:-}:fast_unwind_on_malloc=0" ;;
esac

# archive: a.mp4 (4:2:0 MP4: smpte 0-4 s, ball 4-8 s, snow 8-12 s) and sub/b
# (4:4:4 odd-size Matroska: circles 0-3 s, smpte 3-6 s), indexed into $IDX.
make_archive() {
  mkdir -p "$TMP/archive/sub"
  scenes "$TMP/archive/a.mp4" I420 322 242 15 15 mp4mux smpte:4 ball:4 snow:4
  scenes "$TMP/archive/sub/b" Y444 321 241 10 10 matroskamux circular:3 smpte:3
  IDX="$TMP/archive.db"
  "$CLIP_INDEX" add "$IDX" "$TMP/archive" --merge 0.5 --json >"$TMP/add.json" 2>"$TMP/add.err" ||
    { cat "$TMP/add.err"; fail "add exited $?"; }
}

# start_server [ARGS...]: serve $IDX on 127.0.0.1 (a free port) and set $URL.
SERVER_PID=
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID"
  SERVER_RC=$?
  SERVER_PID=
  return 0
}
trap 'stop_server; rm -rf "$TMP"' EXIT
start_server() {
  "$CLIP_INDEX" serve "$IDX" --listen 127.0.0.1:0 "$@" >"$TMP/serve.out" 2>"$TMP/serve.err" &
  SERVER_PID=$!
  # The model loads first (slow under the sanitizers): up to 60 s.
  for _ in $(seq 600); do
    URL=$(sed -n 's|^listening on \(http://[^ ]*/\) .*|\1|p' "$TMP/serve.out")
    [ -n "$URL" ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/serve.err"; SERVER_PID=; fail "serve exited before listening"; }
    sleep 0.1
  done
  fail "serve did not print its address within 60 s: $(cat "$TMP/serve.out" "$TMP/serve.err")"
}
