#!/bin/sh
# <gst/clipfilter/gstclipmeta.h> and -lgstclipmeta-1.0 through pkg-config
# from the build tree (meson-uninstalled/gstclipmeta-1.0-uninstalled.pc): a
# program attaches a GstClipMeta and reads it back with the accessors.
. "$(dirname "$0")/common.sh"
command -v pkg-config >/dev/null || skip "pkg-config not installed"
CC=${CC:-cc}
command -v "$CC" >/dev/null || skip "no C compiler ($CC)"
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
echo "ok: <gst/clipfilter/gstclipmeta.h> builds and links uninstalled"
