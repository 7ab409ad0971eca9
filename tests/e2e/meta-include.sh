#!/bin/sh
# <gst/clipfilter/gstclipmeta.h> and -lgstclipmeta-1.0 through pkg-config,
# from the build tree (meson-uninstalled/gstclipmeta-1.0-uninstalled.pc) and
# installed (meson install --destdir, the installed .pc with its prefix
# moved there): a program attaches a GstClipMeta and reads it back with the
# accessors. The installed typelib is read from Python when python3-gi is
# there.
. "$(dirname "$0")/common.sh"
need() {
  [ "${CI:-}" = true ] && fail "$* (under CI=true it must be present)"
  skip "$*"
}
command -v pkg-config >/dev/null || need "pkg-config not installed"
CC=${CC:-cc}
command -v "$CC" >/dev/null || need "no C compiler ($CC)"
export PKG_CONFIG_PATH="$CLIP_BUILD_ROOT/meson-uninstalled${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
pkg-config --exists gstclipmeta-1.0 || fail "pkg-config does not find gstclipmeta-1.0 in $CLIP_BUILD_ROOT/meson-uninstalled"
cat >"$TMP/meta.c" <<'CEOF'
#include <gst/clipfilter/gstclipmeta.h>

int
main (void)
{
  const gchar *labels[] = { "a cat", "a dog" };
  const gfloat scores[] = { 0.25f, 0.75f }, sims[] = { 0.1f, 0.3f };
  const gfloat embedding[] = { 1.0f, 2.0f, 3.0f };
  GstBuffer *buf;
  GstClipMeta *meta;
  guint n = 0, dim = 0;
  const gfloat *s, *e;

  gst_init (NULL, NULL);
  buf = gst_buffer_new ();
  meta = gst_buffer_add_clip_meta (buf, 2, labels, scores, sims, NULL, 1, 0);
  gst_clip_meta_set_embedding (meta, embedding, 3);
  meta = gst_buffer_get_clip_meta (buf);
  s = gst_clip_meta_get_scores (meta, &n);
  e = gst_clip_meta_get_embedding (meta, &dim);
  g_print ("%s %s %u %.2f %.2f %s %u %.0f\n", gst_clip_meta_get_labels (meta)[0],
      gst_clip_meta_get_labels (meta)[1], n, s[0], s[1],
      gst_clip_meta_get_top_label (meta), dim, e[2]);
  gst_buffer_unref (buf);
  return 0;
}
CEOF
# shellcheck disable=SC2046
"$CC" -o "$TMP/meta" "$TMP/meta.c" $(pkg-config --cflags --libs gstclipmeta-1.0) ||
  fail "could not build against the uninstalled gstclipmeta-1.0"
# the uninstalled library is found through its build directory
LIBDIR=$(pkg-config --variable=prefix gstclipmeta-1.0)/gst-libs
got=$(LD_LIBRARY_PATH="$LIBDIR" "$TMP/meta") || fail "the program failed"
[ "$got" = "a cat a dog 2 0.25 0.75 a dog 3 3" ] || fail "unexpected output: '$got'"

# installed
command -v meson >/dev/null || need "meson not on PATH: the installed layout is not checked"
meson install -C "$CLIP_BUILD_ROOT" --no-rebuild --quiet --destdir "$TMP/dest" \
  --tags devel,runtime,typelib >"$TMP/install.log" 2>&1 || { cat "$TMP/install.log"; fail "meson install failed"; }
PREFIX=$(sed -n 's/^prefix=//p' "$CLIP_BUILD_ROOT/meson-private/gstclipmeta-1.0.pc")
PC=$(find "$TMP/dest" -name gstclipmeta-1.0.pc)
[ -n "$PC" ] || fail "gstclipmeta-1.0.pc not installed"
mkdir -p "$TMP/pc"
sed "s|^prefix=.*|prefix=$TMP/dest$PREFIX|" "$PC" >"$TMP/pc/gstclipmeta-1.0.pc"
[ -f "$TMP/dest$PREFIX/include/gstreamer-1.0/gst/clipfilter/gstclipmeta.h" ] ||
  fail "header not installed as include/gstreamer-1.0/gst/clipfilter/gstclipmeta.h"
# shellcheck disable=SC2046
"$CC" -o "$TMP/meta-installed" "$TMP/meta.c" $(PKG_CONFIG_PATH="$TMP/pc" pkg-config --cflags --libs gstclipmeta-1.0) ||
  fail "could not build against the installed gstclipmeta-1.0"
LIBDIR=$(dirname "$(find "$TMP/dest" -name 'libgstclipmeta-1.0.so.0' | head -1)")
got=$(LD_LIBRARY_PATH="$LIBDIR" "$TMP/meta-installed") || fail "the installed program failed"
[ "$got" = "a cat a dog 2 0.25 0.75 a dog 3 3" ] || fail "unexpected output (installed): '$got'"
TYPELIB=$(find "$TMP/dest" -name GstClip-1.0.typelib)
if [ -n "$TYPELIB" ] && /usr/bin/python3 -c 'import gi' 2>/dev/null; then
  got=$(GI_TYPELIB_PATH=$(dirname "$TYPELIB") LD_LIBRARY_PATH="$LIBDIR" /usr/bin/python3 -c '
import gi
gi.require_version("Gst", "1.0"); gi.require_version("GstClip", "1.0")
from gi.repository import Gst, GstClip
Gst.init(None)
buf = Gst.Buffer.new()
GstClip.buffer_add_clip_meta(buf, ["a cat", "a dog"], [0.25, 0.75], None, None, 1, 0)
meta = GstClip.buffer_get_clip_meta(buf)
print(meta.get_labels(), meta.get_scores(), meta.get_top_label())') || fail "the installed typelib does not load"
  [ "$got" = "['a cat', 'a dog'] [0.25, 0.75] a dog" ] || fail "unexpected output (installed typelib): '$got'"
fi
echo "ok: <gst/clipfilter/gstclipmeta.h> builds and links uninstalled and installed; installed typelib loads"
