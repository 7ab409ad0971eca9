/* image-load.c — image files to packed RGB for clip-tool.
 *
 * PPM/PGM (P6, P5, P3, P2) are parsed here so the tool can score an image
 * without any decoder library. Everything else goes through a GStreamer
 * pipeline (decodebin ! videoconvert ! RGB ! appsink): GStreamer is linked by
 * clip-tool only, never by the engine library. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_GST
#include <gst/gst.h>
#include <gst/video/video.h>
#endif

#include "error.h"
#include "image-load.h"
#include "readfile.h"

#define MAX_SIDE 32768

void
tool_image_free(tool_image *img)
{
  if (img) {
    free(img->rgb);
    img->rgb = NULL;
  }
}

clip_image
tool_image_view(const tool_image *img)
{
  clip_image im = { .format = CLIP_FORMAT_RGB,
                    .width = img->width,
                    .height = img->height,
                    .planes = { img->rgb },
                    .strides = { img->width * 3 } };
  return im;
}

static clip_status
alloc_rgb(tool_image *img, int w, int h, const char *path, clip_error *err)
{
  if (w <= 0 || h <= 0 || w > MAX_SIDE || h > MAX_SIDE)
    return clip_set_error(err, CLIP_ERR_FORMAT, "%s: image size %dx%d out of range (1..%d)", path,
                          w, h, MAX_SIDE);
  img->width = w;
  img->height = h;
  img->rgb = malloc((size_t) w * h * 3);
  if (!img->rgb)
    return clip_set_error(err, CLIP_ERR_NOMEM, "%s: out of memory for %dx%d pixels", path, w, h);
  return CLIP_OK;
}

/* ---- PPM / PGM ---------------------------------------------------------- */

#define PNM_HUGE 1000000000L

/* Next header integer, skipping whitespace and # comments; -1 if none. */
static long
pnm_int(const uint8_t *d, size_t n, size_t *pos)
{
  while (*pos < n) {
    if (d[*pos] == '#')
      while (*pos < n && d[*pos] != '\n')
        (*pos)++;
    else if (isspace(d[*pos]))
      (*pos)++;
    else
      break;
  }
  if (*pos >= n || !isdigit(d[*pos]))
    return -1;
  /* Every digit is read (a number never continues as the next one); the
   * value saturates at PNM_HUGE, which every range check refuses. */
  long v = 0;
  while (*pos < n && isdigit(d[*pos])) {
    v = v < PNM_HUGE / 10 ? v * 10 + (d[*pos] - '0') : PNM_HUGE;
    (*pos)++;
  }
  return v;
}

static clip_status
load_pnm(const char *path, const uint8_t *d, size_t n, tool_image *img, clip_error *err)
{
  char kind = (char) d[1];
  bool binary = kind == '6' || kind == '5', colour = kind == '6' || kind == '3';
  size_t pos = 2;
  long w = pnm_int(d, n, &pos), h = pnm_int(d, n, &pos), maxval = pnm_int(d, n, &pos);
  if (w < 0 || h < 0 || maxval < 1 || maxval > 65535)
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: bad P%c header (expected width, height, maxval 1..65535; found "
                          "%ld, %ld, %ld)",
                          path, kind, w, h, maxval);
  if (w < 1 || h < 1 || w > MAX_SIDE || h > MAX_SIDE)
    return clip_set_error(err, CLIP_ERR_FORMAT, "%s: image size %s%ldx%s%ld out of range (1..%d)",
                          path, w == PNM_HUGE ? ">" : "", w, h == PNM_HUGE ? ">" : "", h, MAX_SIDE);
  int channels = colour ? 3 : 1, bytes = maxval > 255 ? 2 : 1;
  size_t samples = (size_t) w * h * channels;
  pos++; /* the single whitespace after maxval */
  /* The data must be there before the picture is allocated (a 20-byte
   * header may declare 32768x32768): binary samples take `bytes` each,
   * text ones at least a digit and a separator (the last one no separator). */
  size_t left = pos > n ? 0 : n - pos, need = binary ? samples * bytes : 2 * samples - 1;
  if (left < need)
    return clip_set_error(err, CLIP_ERR_FORMAT,
                          "%s: truncated P%c data (expected %s%zu bytes of pixels, found %zu)",
                          path, kind, binary ? "" : "at least ", need, left);
  clip_status st = alloc_rgb(img, (int) w, (int) h, path, err);
  if (st)
    return st;
  for (size_t i = 0; i < samples; i++) {
    long v;
    if (binary)
      v = bytes == 2 ? (d[pos + 2 * i] << 8 | d[pos + 2 * i + 1]) : d[pos + i];
    else if ((v = pnm_int(d, n, &pos)) < 0) {
      tool_image_free(img);
      return clip_set_error(err, CLIP_ERR_FORMAT, "%s: truncated P%c data at sample %zu of %zu",
                            path, kind, i, samples);
    }
    uint8_t u = (uint8_t) ((v > maxval ? maxval : v) * 255 / maxval);
    if (colour)
      img->rgb[i] = u;
    else
      memset(img->rgb + 3 * i, u, 3);
  }
  return CLIP_OK;
}

/* ---- GStreamer ------------------------------------------------------------ */

#ifdef HAVE_GST
static clip_status
load_gst(const char *path, tool_image *img, clip_error *err)
{
  GError *gerr = NULL;
  if (!gst_init_check(NULL, NULL, &gerr)) {
    clip_status st = clip_set_error(err, CLIP_ERR_UNSUPPORTED, "%s: GStreamer init failed: %s",
                                    path, gerr ? gerr->message : "?");
    g_clear_error(&gerr);
    return st;
  }
  GstElement *pipe = gst_parse_launch("filesrc name=src ! decodebin ! videoconvert ! "
                                      "video/x-raw,format=RGB ! appsink name=sink sync=false",
                                      &gerr);
  if (!pipe) {
    clip_status st = clip_set_error(err, CLIP_ERR_UNSUPPORTED, "%s: cannot build decoder: %s", path,
                                    gerr ? gerr->message : "?");
    g_clear_error(&gerr);
    return st;
  }
  GstElement *src = gst_bin_get_by_name(GST_BIN(pipe), "src");
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipe), "sink");
  g_object_set(src, "location", path, NULL);
  gst_element_set_state(pipe, GST_STATE_PLAYING);

  /* Poll so a decoding error (which never reaches the appsink) ends the
   * wait; an appsink at EOS without a sample means no picture came out. */
  GstBus *bus = gst_element_get_bus(pipe);
  GstSample *sample = NULL;
  clip_status st = CLIP_OK;
  for (int tries = 0; tries < 600 && !sample && !st; tries++) {
    g_signal_emit_by_name(sink, "try-pull-sample", (GstClockTime) (50 * GST_MSECOND), &sample);
    if (sample)
      break;
    gboolean eos = FALSE;
    g_object_get(sink, "eos", &eos, NULL);
    GstMessage *msg =
        gst_bus_timed_pop_filtered(bus, eos ? 100 * GST_MSECOND : 0, GST_MESSAGE_ERROR);
    if (msg) {
      gst_message_parse_error(msg, &gerr, NULL);
      st = clip_set_error(err, CLIP_ERR_FORMAT, "%s: cannot decode: %s", path,
                          gerr ? gerr->message : "?");
      g_clear_error(&gerr);
      gst_message_unref(msg);
    } else if (eos) {
      st = clip_set_error(err, CLIP_ERR_FORMAT, "%s: the decoder produced no picture", path);
    }
  }
  if (!sample && !st)
    st = clip_set_error(err, CLIP_ERR_IO, "%s: timed out decoding", path);

  if (sample) {
    GstVideoInfo info;
    GstVideoFrame frame;
    if (!gst_video_info_from_caps(&info, gst_sample_get_caps(sample))
        || !gst_video_frame_map(&frame, &info, gst_sample_get_buffer(sample), GST_MAP_READ)) {
      st = clip_set_error(err, CLIP_ERR_FORMAT, "%s: decoder gave an unusable frame", path);
    } else {
      st = alloc_rgb(img, GST_VIDEO_INFO_WIDTH(&info), GST_VIDEO_INFO_HEIGHT(&info), path, err);
      for (int y = 0; !st && y < img->height; y++)
        memcpy(img->rgb + (size_t) y * img->width * 3,
               (const uint8_t *) GST_VIDEO_FRAME_PLANE_DATA(&frame, 0)
                   + (size_t) y * GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0),
               (size_t) img->width * 3);
      gst_video_frame_unmap(&frame);
    }
    gst_sample_unref(sample);
  }
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(src);
  gst_object_unref(sink);
  gst_object_unref(pipe);
  return st;
}
#endif

clip_status
tool_image_load(const char *path, tool_image *img, clip_error *err)
{
  memset(img, 0, sizeof *img);
  /* Opened without blocking and checked on the descriptor: a FIFO, a
   * directory or a device is named as such (and never waited on). */
  size_t size = 0;
  int fd = clip_open_regular(path, "image", &size, err);
  if (fd < 0)
    return err ? err->status : CLIP_ERR_IO;
  FILE *f = fdopen(fd, "rb");
  if (!f) {
    close(fd);
    return clip_set_error(err, CLIP_ERR_NOMEM, "%s: cannot open image", path);
  }
  uint8_t head[2] = { 0, 0 };
  size_t got = fread(head, 1, 2, f);
  bool pnm = got == 2 && head[0] == 'P' && head[1] >= '2' && head[1] <= '6' && head[1] != '4';
  if (!pnm) {
    fclose(f);
#ifdef HAVE_GST
    return load_gst(path, img, err);
#else
    return clip_set_error(err, CLIP_ERR_UNSUPPORTED,
                          "%s: not a PPM/PGM file, and this clip-tool was built without "
                          "GStreamer, which decodes PNG and JPEG",
                          path);
#endif
  }
  /* PNM: read it whole (a 32768² RGB picture is the largest we accept). */
  uint8_t *data = NULL;
  size_t n = 0, cap = 0;
  rewind(f);
  for (;;) {
    if (n == cap) {
      cap = cap ? cap * 2 : 1 << 16;
      uint8_t *p = cap <= ((size_t) 2 * MAX_SIDE * MAX_SIDE * 6 + 4096) ? realloc(data, cap) : NULL;
      if (!p) {
        free(data);
        fclose(f);
        return clip_set_error(err, CLIP_ERR_NOMEM, "%s: file too large", path);
      }
      data = p;
    }
    size_t r = fread(data + n, 1, cap - n, f);
    n += r;
    if (r == 0)
      break;
  }
  fclose(f);
  clip_status st = load_pnm(path, data, n, img, err);
  free(data);
  return st;
}
