/* test-clippublish.c — GstCheck tests of the clippublish element.
 *
 * `test-clippublish` (no argument): JSON lines from real pipelines with the
 * shipped model (clipfilter's default), checked against the schema and,
 * object by object, against clipfilter's bus messages; configuration errors.
 * `test-clippublish mqtt`: the same objects through Debian's mosquitto
 * broker, started on 127.0.0.1 on a free port, stopped and restarted under
 * a live pipeline. Without mosquitto that program is skipped (exit 77),
 * except under CI=true where that is a failure. */
#include <gst/check/gstcheck.h>
#include <glib/gstdio.h>
#include <cjson/cJSON.h>
#include <mosquitto.h>

#include "clip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MOSQUITTO "/usr/sbin/mosquitto"
/* Every wait is bounded: a broken element fails a test, never hangs it. */
#define WAIT_US (30 * G_USEC_PER_SEC)

static gchar *tmpdir;

/* ---- helpers ------------------------------------------------------------ */

typedef struct
{
  GPtrArray *results;           /* GstStructure copies of clipfilter messages */
  GPtrArray *warnings;          /* gchar*: warning texts */
  GPtrArray *infos;             /* gchar*: info texts */
  gchar *error;                 /* first error text, or NULL */
} Bus;

static void
bus_clear (Bus * b)
{
  g_ptr_array_unref (b->results);
  g_ptr_array_unref (b->warnings);
  g_ptr_array_unref (b->infos);
  g_free (b->error);
}

/* Collects one message; TRUE at EOS or an error. */
static gboolean
bus_take (Bus * b, GstMessage * m)
{
  GError *err = NULL;
  gchar *dbg = NULL;

  switch (GST_MESSAGE_TYPE (m)) {
    case GST_MESSAGE_ELEMENT:{
      const GstStructure *s = gst_message_get_structure (m);
      if (gst_structure_has_name (s, "clipfilter")
          || gst_structure_has_name (s, "clipfilter-tag"))
        g_ptr_array_add (b->results, gst_structure_copy (s));
      return FALSE;
    }
    case GST_MESSAGE_WARNING:
      gst_message_parse_warning (m, &err, &dbg);
      g_ptr_array_add (b->warnings, g_strdup (err->message));
      break;
    case GST_MESSAGE_INFO:
      gst_message_parse_info (m, &err, &dbg);
      g_ptr_array_add (b->infos, g_strdup (err->message));
      break;
    case GST_MESSAGE_ERROR:
      gst_message_parse_error (m, &err, &dbg);
      if (!b->error)
        b->error = g_strdup (err->message);
      g_error_free (err);
      g_free (dbg);
      return TRUE;
    case GST_MESSAGE_EOS:
      return TRUE;
    default:
      return FALSE;
  }
  g_error_free (err);
  g_free (dbg);
  return FALSE;
}

static Bus
bus_new (void)
{
  Bus b =
      { g_ptr_array_new_with_free_func ((GDestroyNotify) gst_structure_free),
    g_ptr_array_new_with_free_func (g_free),
    g_ptr_array_new_with_free_func (g_free), NULL
  };
  return b;
}

/* Pops messages for at most @us; TRUE when EOS or an error came. */
static gboolean
bus_poll (Bus * b, GstElement * pipeline, gint64 us)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  gint64 end = g_get_monotonic_time () + us;
  gboolean done = FALSE;

  while (!done && g_get_monotonic_time () < end) {
    GstMessage *m = gst_bus_timed_pop (bus, 20 * GST_MSECOND);
    if (m) {
      done = bus_take (b, m);
      gst_message_unref (m);
    }
  }
  gst_object_unref (bus);
  return done;
}

/* Runs @desc to EOS (or an error) and back to NULL. */
static Bus
run (const gchar * desc)
{
  GError *err = NULL;
  GstElement *p = gst_parse_launch (desc, &err);
  Bus b = bus_new ();

  fail_unless (p != NULL && err == NULL, "%s: %s", desc,
      err ? err->message : "?");
  if (gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE)
    fail_unless (bus_poll (&b, p, 120 * G_USEC_PER_SEC), "no EOS: %s", desc);
  else
    bus_poll (&b, p, G_USEC_PER_SEC / 10);      /* collect the error */
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (p);
  return b;
}

/* The JSON objects of a JSON lines file, in order; each line must parse. */
static GPtrArray *
read_json_lines (const gchar * path, GPtrArray ** raw)
{
  gchar *text = NULL, **lines;
  GPtrArray *out =
      g_ptr_array_new_with_free_func ((GDestroyNotify) cJSON_Delete);
  guint i;

  fail_unless (g_file_get_contents (path, &text, NULL, NULL), "%s", path);
  fail_unless (text[0] == '\0' || g_str_has_suffix (text, "\n"),
      "%s: last line not terminated", path);
  lines = g_strsplit (text, "\n", -1);
  if (raw)
    *raw = g_ptr_array_new_with_free_func (g_free);
  for (i = 0; lines[i] && lines[i][0]; i++) {
    cJSON *o = cJSON_Parse (lines[i]);
    fail_unless (o != NULL, "%s:%u is not JSON: %s", path, i + 1, lines[i]);
    g_ptr_array_add (out, o);
    if (raw)
      g_ptr_array_add (*raw, g_strdup (lines[i]));
  }
  g_strfreev (lines);
  g_free (text);
  return out;
}

static gboolean
is_uint (const cJSON * j)
{
  return cJSON_IsNumber (j) && j->valuedouble >= 0
      && j->valuedouble == (gdouble) (guint64) j->valuedouble;
}

/* Whether @j is an array (of @n elements unless @n < 0) whose elements
 * all pass @is (cJSON_IsNumber, cJSON_IsString). */
static gboolean
is_array_of (const cJSON * j, gint n, cJSON_bool (*is) (const cJSON *))
{
  const cJSON *e;

  if (!cJSON_IsArray (j) || (n >= 0 && cJSON_GetArraySize (j) != n))
    return FALSE;
  cJSON_ArrayForEach (e, j) {
    if (!is (e))
      return FALSE;
  }
  return TRUE;
}

#define is_number_array(j, n) is_array_of ((j), (n), cJSON_IsNumber)
#define is_string_array(j, n) is_array_of ((j), (n), cJSON_IsString)

/* Schema version 1 (the SECTION block of gstclippublish.c): every field
 * present with its type, and no other field. */
static void
check_schema (const cJSON * o, const gchar * source_id, const gchar * uri)
{
  static const gchar *common[] = { "schema-version", "type", "source-id",
    "stream-id", "uri", "wall-time", "timestamp", "stream-time",
    "running-time", NULL
  };
  static const gchar *result[] = { "duration", "labels", "scores",
    "similarities", "smoothed", "smoothed-similarities", "background",
    "top-label", "top-score", "top-labels", "top-scores", "analyzed",
    "skipped", "reused", NULL
  };
  static const gchar *tag[] = { "label", "state", "score", "similarity",
    NULL
  };
  const cJSON *type = cJSON_GetObjectItemCaseSensitive (o, "type");
  const cJSON *f;
  gboolean is_tag;
  const gchar **names;
  guint n = 0, i;
  gint labels;
  GDateTime *wall;

  fail_unless (cJSON_IsObject (o));
  fail_unless (cJSON_IsNumber (cJSON_GetObjectItemCaseSensitive (o,
              "schema-version")));
  fail_unless_equals_int (cJSON_GetObjectItemCaseSensitive (o,
          "schema-version")->valueint, 1);
  fail_unless (cJSON_IsString (type));
  is_tag = g_str_equal (type->valuestring, "clipfilter-tag");
  fail_unless (is_tag || g_str_equal (type->valuestring, "clipfilter"),
      "type %s", type->valuestring);

  f = cJSON_GetObjectItemCaseSensitive (o, "source-id");
  if (source_id)
    fail_unless (cJSON_IsString (f) && g_str_equal (f->valuestring, source_id));
  else
    fail_unless (cJSON_IsNull (f));
  f = cJSON_GetObjectItemCaseSensitive (o, "uri");
  if (uri)
    fail_unless (cJSON_IsString (f) && g_str_equal (f->valuestring, uri),
        "uri %s, expected %s", cJSON_PrintUnformatted (f), uri);
  else
    fail_unless (cJSON_IsNull (f));
  f = cJSON_GetObjectItemCaseSensitive (o, "stream-id");
  fail_unless (cJSON_IsString (f) && f->valuestring[0]);
  f = cJSON_GetObjectItemCaseSensitive (o, "wall-time");
  fail_unless (cJSON_IsString (f));
  fail_unless (strlen (f->valuestring) == 27
      && g_str_has_suffix (f->valuestring, "Z"), "%s", f->valuestring);
  wall = g_date_time_new_from_iso8601 (f->valuestring, NULL);
  fail_unless (wall != NULL, "wall-time %s", f->valuestring);
  /* within the hour of the test: a wall clock, not a stream time */
  fail_unless (ABS (g_date_time_to_unix (wall) - g_get_real_time () /
          G_USEC_PER_SEC) < 3600);
  g_date_time_unref (wall);

  for (i = 0; common[i]; i++)
    fail_unless (cJSON_GetObjectItemCaseSensitive (o, common[i]) != NULL,
        "%s missing", common[i]);
  for (i = 6; common[i]; i++)   /* times: unsigned integers */
    fail_unless (is_uint (cJSON_GetObjectItemCaseSensitive (o, common[i])),
        "%s", common[i]);
  names = is_tag ? tag : result;
  if (is_tag) {
    const gchar *state;
    fail_unless (cJSON_IsString (cJSON_GetObjectItemCaseSensitive (o,
                "label")));
    state = cJSON_GetObjectItemCaseSensitive (o, "state")->valuestring;
    fail_unless (g_str_equal (state, "on") || g_str_equal (state, "off"));
    fail_unless (cJSON_IsNumber (cJSON_GetObjectItemCaseSensitive (o,
                "score")));
  } else {
    f = cJSON_GetObjectItemCaseSensitive (o, "labels");
    fail_unless (is_string_array (f, -1));
    labels = cJSON_GetArraySize (f);
    fail_unless (labels > 0);
    fail_unless (is_uint (cJSON_GetObjectItemCaseSensitive (o, "duration")));
    fail_unless (is_number_array (cJSON_GetObjectItemCaseSensitive (o,
                "scores"), labels));
    fail_unless (is_number_array (cJSON_GetObjectItemCaseSensitive (o,
                "similarities"), labels));
    fail_unless (is_number_array (cJSON_GetObjectItemCaseSensitive (o,
                "smoothed"), labels));
    fail_unless (cJSON_IsString (cJSON_GetObjectItemCaseSensitive (o,
                "top-label")));
    fail_unless (cJSON_IsNumber (cJSON_GetObjectItemCaseSensitive (o,
                "top-score")));
    fail_unless (is_string_array (cJSON_GetObjectItemCaseSensitive (o,
                "top-labels"), MIN (labels, 3)));
    fail_unless (is_number_array (cJSON_GetObjectItemCaseSensitive (o,
                "top-scores"), MIN (labels, 3)));
    fail_unless (is_uint (cJSON_GetObjectItemCaseSensitive (o, "analyzed")));
    fail_unless (is_uint (cJSON_GetObjectItemCaseSensitive (o, "skipped")));
  }
  for (i = 0; names[i]; i++)
    fail_unless (cJSON_GetObjectItemCaseSensitive (o, names[i]) != NULL,
        "%s missing", names[i]);
  /* and nothing else */
  for (f = o->child; f; f = f->next)
    n++;
  fail_unless_equals_int (n, g_strv_length ((gchar **) common) +
      g_strv_length ((gchar **) names));
}

/* @j holds exactly the value @v of the bus message. */
static void
check_value (const cJSON * j, const GValue * v, const gchar * field)
{
  GType t = G_VALUE_TYPE (v);
  guint i;

  fail_unless (j != NULL, "%s missing", field);
  if (t == G_TYPE_STRING) {
    fail_unless (cJSON_IsString (j), "%s", field);
    fail_unless_equals_string (j->valuestring, g_value_get_string (v));
  } else if (t == G_TYPE_BOOLEAN) {
    fail_unless (cJSON_IsBool (j), "%s", field);
    fail_unless_equals_int (cJSON_IsTrue (j), g_value_get_boolean (v));
  } else if (t == G_TYPE_DOUBLE) {
    fail_unless (cJSON_IsNumber (j), "%s", field);
    /* cJSON prints doubles so that they read back exactly */
    fail_unless (j->valuedouble == g_value_get_double (v), "%s: %.17g != %.17g",
        field, j->valuedouble, g_value_get_double (v));
  } else if (t == G_TYPE_UINT64) {
    if (g_value_get_uint64 (v) == GST_CLOCK_TIME_NONE) {
      fail_unless (cJSON_IsNull (j), "%s", field);
    } else {
      fail_unless (cJSON_IsNumber (j), "%s", field);
      fail_unless (j->valuedouble == (gdouble) g_value_get_uint64 (v), "%s",
          field);
    }
  } else if (t == GST_TYPE_ARRAY) {
    fail_unless (cJSON_IsArray (j), "%s", field);
    fail_unless_equals_int (cJSON_GetArraySize (j),
        gst_value_array_get_size (v));
    for (i = 0; i < gst_value_array_get_size (v); i++)
      check_value (cJSON_GetArrayItem (j, i), gst_value_array_get_value (v, i),
          field);
  } else {
    fail ("%s: unexpected type %s", field, g_type_name (t));
  }
}

static gboolean
check_field (GQuark field, const GValue * v, gpointer obj)
{
  check_value (cJSON_GetObjectItemCaseSensitive (obj,
          g_quark_to_string (field)), v, g_quark_to_string (field));
  return TRUE;
}

/* The JSON object carries the bus message @s: same type, same fields,
 * same values. */
static void
check_matches (const cJSON * o, const GstStructure * s)
{
  fail_unless_equals_string (cJSON_GetObjectItemCaseSensitive (o,
          "type")->valuestring, gst_structure_get_name (s));
  gst_structure_foreach (s, check_field, (gpointer) o);
}

static gchar *
tmp_path (const gchar * name)
{
  return g_build_filename (tmpdir, name, NULL);
}

/* ---- JSON lines --------------------------------------------------------- */

/* Switches videotestsrc from smpte to snow at frame 20 and back at 40. */
static GstPadProbeReturn
switch_pattern (GstPad * pad, GstPadProbeInfo * info, gpointer src)
{
  guint64 n = GST_BUFFER_OFFSET (GST_PAD_PROBE_INFO_BUFFER (info));

  (void) pad;
  if (n == 19)
    g_object_set (src, "pattern", 1, NULL);     /* snow */
  else if (n == 39)
    g_object_set (src, "pattern", 0, NULL);     /* smpte */
  return GST_PAD_PROBE_OK;
}

GST_START_TEST (test_json_lines_match_bus_messages)
{
  gchar *out = tmp_path ("tags.jsonl");
  gchar *desc = g_strdup_printf ("videotestsrc name=src num-buffers=60 ! "
      "video/x-raw,width=320,height=240,framerate=10/1 ! "
      "clipfilter prompts=\"smpte color bars;tv static\" "
      "templates=\"a video of {}\" ! "
      "clippublish location=%s source-id=cam-7 ! fakesink", out);
  GError *err = NULL;
  GstElement *p = gst_parse_launch (desc, &err), *src;
  GstPad *pad;
  GPtrArray *objs;
  Bus b = bus_new ();
  guint i, n_tags = 0;
  /* label, state, stream time (s): smpte for 2 s, snow, smpte; closed at
   * EOS; at one sample, the labels change in prompt order */
  static const struct
  {
    const gchar *label, *state;
    guint t;
  } want[] = {
    {"smpte color bars", "on", 0}, {"smpte color bars", "off", 2},
    {"tv static", "on", 2}, {"smpte color bars", "on", 4},
    {"tv static", "off", 4}, {"smpte color bars", "off", 6},
  };

  fail_unless (p != NULL && err == NULL, "%s", err ? err->message : "");
  src = gst_bin_get_by_name (GST_BIN (p), "src");
  pad = gst_element_get_static_pad (src, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, switch_pattern, src, NULL);
  gst_object_unref (pad);
  gst_object_unref (src);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (bus_poll (&b, p, 120 * G_USEC_PER_SEC));
  fail_unless (b.error == NULL, "%s", b.error);
  /* read at EOS, before the element stops: the file is already whole */
  objs = read_json_lines (out, NULL);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);

  /* 12 samples (every 500 ms of 6 s) and the tags */
  fail_unless_equals_int (objs->len, b.results->len);
  fail_unless_equals_int (objs->len, 12 + G_N_ELEMENTS (want));
  for (i = 0; i < objs->len; i++) {
    const cJSON *o = g_ptr_array_index (objs, i);
    const GstStructure *s = g_ptr_array_index (b.results, i);

    check_schema (o, "cam-7", NULL);
    check_matches (o, s);
    if (gst_structure_has_name (s, "clipfilter-tag")) {
      fail_unless (n_tags < G_N_ELEMENTS (want));
      fail_unless_equals_string (gst_structure_get_string (s, "label"),
          want[n_tags].label);
      fail_unless_equals_string (gst_structure_get_string (s, "state"),
          want[n_tags].state);
      fail_unless_equals_uint64 (cJSON_GetObjectItemCaseSensitive (o,
              "stream-time")->valuedouble, want[n_tags].t * GST_SECOND);
      n_tags++;
    }
  }
  fail_unless_equals_int (n_tags, G_N_ELEMENTS (want));
  g_ptr_array_unref (objs);
  bus_clear (&b);
  g_free (desc);
  g_free (out);
}

GST_END_TEST;

/* An encoded file (x264 with B-frames: the first PTS is not 0) read by
 * filesrc: every object names its URI. */
GST_START_TEST (test_uri_of_a_file)
{
  gchar *video = tmp_path ("clip.mp4"), *out = tmp_path ("file.jsonl");
  gchar *uri = gst_filename_to_uri (video, NULL);
  gchar *desc;
  GPtrArray *objs;
  Bus b;
  guint i;

  desc = g_strdup_printf ("videotestsrc num-buffers=15 pattern=smpte ! "
      "video/x-raw,width=322,height=242,framerate=10/1,format=I420 ! "
      "x264enc bframes=2 speed-preset=ultrafast ! mp4mux ! filesink location=%s",
      video);
  b = run (desc);
  fail_unless (b.error == NULL, "%s", b.error);
  bus_clear (&b);
  g_free (desc);

  desc = g_strdup_printf ("filesrc location=%s ! decodebin ! clipfilter "
      "prompts=\"smpte color bars;tv static\" ! clippublish location=%s ! "
      "fakesink", video, out);
  b = run (desc);
  fail_unless (b.error == NULL, "%s", b.error);
  objs = read_json_lines (out, NULL);
  fail_unless_equals_int (objs->len, b.results->len);
  fail_unless (objs->len >= 3);
  for (i = 0; i < objs->len; i++) {
    check_schema (g_ptr_array_index (objs, i), NULL, uri);
    check_matches (g_ptr_array_index (objs, i), g_ptr_array_index (b.results,
            i));
  }
  /* decoded B-frame stream: PTS starts later than stream time 0 */
  fail_unless (cJSON_GetObjectItemCaseSensitive (g_ptr_array_index (objs, 0),
          "timestamp")->valuedouble > 0);
  fail_unless_equals_int (cJSON_GetObjectItemCaseSensitive (g_ptr_array_index
          (objs, 0), "stream-time")->valuedouble, 0);
  g_ptr_array_unref (objs);
  bus_clear (&b);
  g_free (desc);
  g_free (uri);
  g_free (video);
  g_free (out);
}

GST_END_TEST;

/* Without an upstream answer to the URI query, the stream's location tag
 * names the source. */
GST_START_TEST (test_uri_from_location_tag)
{
  gchar *out = tmp_path ("tagged.jsonl");
  gchar *desc = g_strdup_printf ("videotestsrc num-buffers=5 ! "
      "taginject tags=\"location=rtsp://cam.example/door\" ! "
      "clipfilter prompts=a;b min-similarity=-1 ! clippublish location=%s ! "
      "fakesink", out);
  GPtrArray *objs;
  Bus b = run (desc);
  guint i;

  fail_unless (b.error == NULL, "%s", b.error);
  objs = read_json_lines (out, NULL);
  fail_unless (objs->len >= 2);
  for (i = 0; i < objs->len; i++)
    check_schema (g_ptr_array_index (objs, i), NULL, "rtsp://cam.example/door");
  g_ptr_array_unref (objs);
  bus_clear (&b);
  g_free (desc);
  g_free (out);
}

GST_END_TEST;

/* ---- configuration errors ----------------------------------------------- */

/* The pipeline fails to start with an error containing @want. */
static void
check_start_error (const gchar * publish, const gchar * want)
{
  gchar *desc = g_strdup_printf ("videotestsrc num-buffers=5 ! "
      "clipfilter prompts=a;b ! clippublish %s ! fakesink", publish);
  Bus b = run (desc);

  fail_unless (b.error != NULL, "no error with %s", publish);
  fail_unless (strstr (b.error, want) != NULL, "'%s' lacks '%s'", b.error,
      want);
  fail_unless_equals_int (b.results->len, 0);
  bus_clear (&b);
  g_free (desc);
}

GST_START_TEST (test_configuration_errors)
{
  gchar *bad = tmp_path ("bad-credentials");
  gchar *nouser = tmp_path ("nouser-credentials");

  fail_unless (g_file_set_contents (bad, "user: me\n", -1, NULL));
  fail_unless (g_file_set_contents (nouser, "# no name\npassword=x\n", -1,
          NULL));
  check_start_error ("", "Nothing to publish to");
  check_start_error ("location=/nonexistent/dir/tags.jsonl",
      "Could not open file \"/nonexistent/dir/tags.jsonl\" for writing");
  {
    /* a file that cannot be written: an error naming it */
    Bus b = run ("videotestsrc num-buffers=10 ! clipfilter prompts=a;b ! "
        "clippublish location=/dev/full ! fakesink");
    fail_unless (b.error != NULL);
    fail_unless_equals_string (b.error,
        "Could not write to file \"/dev/full\".");
    bus_clear (&b);
  }
  check_start_error ("mqtt-host=127.0.0.1 topic=cams/+/door",
      "Invalid MQTT topic \"cams/+/door\"");
  check_start_error ("mqtt-host=127.0.0.1 topic=cams/#",
      "Invalid MQTT topic \"cams/#\"");
  check_start_error ("mqtt-host=127.0.0.1 topic=\"\"", "Invalid MQTT topic");
  check_start_error
      ("mqtt-host=127.0.0.1 mqtt-credentials-file=/nonexistent/creds",
      "Could not read MQTT credentials file \"/nonexistent/creds\"");
  {
    gchar *p = g_strdup_printf ("mqtt-host=127.0.0.1 mqtt-credentials-file=%s",
        bad);
    gchar *w = g_strdup_printf ("MQTT credentials file \"%s\": unexpected line",
        bad);
    check_start_error (p, w);
    g_free (p);
    g_free (w);
    p = g_strdup_printf ("mqtt-host=127.0.0.1 mqtt-credentials-file=%s",
        nouser);
    w = g_strdup_printf ("MQTT credentials file \"%s\" has no username= line",
        nouser);
    check_start_error (p, w);
    g_free (p);
    g_free (w);
  }
  check_start_error ("mqtt-host=127.0.0.1 tls-ca-file=/nonexistent/ca.pem",
      "Could not read TLS CA file (tls-ca-file) \"/nonexistent/ca.pem\"");
  g_free (bad);
  g_free (nouser);
}

GST_END_TEST;

static guint16
free_port (void)
{
  struct sockaddr_in a = { 0 };
  socklen_t len = sizeof a;
  int fd = socket (AF_INET, SOCK_STREAM, 0);

  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  fail_unless (bind (fd, (struct sockaddr *) &a, sizeof a) == 0);
  fail_unless (getsockname (fd, (struct sockaddr *) &a, &len) == 0);
  close (fd);
  return ntohs (a.sin_port);
}

/* Nobody listens on the port: a warning naming the broker and the reason,
 * the video runs to the end, every object still queued at stop counted as
 * dropped, the file output unaffected. */
GST_START_TEST (test_unreachable_broker_warns)
{
  guint16 port = free_port ();
  gchar *out = tmp_path ("unreachable.jsonl");
  gchar *desc = g_strdup_printf ("videotestsrc num-buffers=20 ! "
      "video/x-raw,framerate=10/1 ! "
      "clipfilter prompts=\"a ball;tv static\" ! "
      "clippublish name=pub mqtt-host=127.0.0.1 mqtt-port=%u location=%s ! "
      "fakesink", port, out);
  gchar *want = g_strdup_printf ("Could not publish to MQTT broker "
      "127.0.0.1:%u: Connection refused", port);
  GError *err = NULL;
  GstElement *p = gst_parse_launch (desc, &err), *pub;
  Bus b = bus_new ();
  GPtrArray *objs;
  guint64 dropped;

  fail_unless (p != NULL && err == NULL, "%s", err ? err->message : "");
  pub = gst_bin_get_by_name (GST_BIN (p), "pub");
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (bus_poll (&b, p, WAIT_US));
  fail_unless (b.error == NULL, "%s", b.error);
  gst_element_set_state (p, GST_STATE_NULL);
  g_object_get (pub, "dropped", &dropped, NULL);
  objs = read_json_lines (out, NULL);
  fail_unless_equals_int (objs->len, b.results->len);
  fail_unless (objs->len > 0);
  fail_unless_equals_uint64 (dropped, objs->len);
  fail_unless (b.warnings->len >= 1);
  fail_unless_equals_string (g_ptr_array_index (b.warnings, 0), want);
  g_ptr_array_unref (objs);
  gst_object_unref (pub);
  gst_object_unref (p);
  bus_clear (&b);
  g_free (want);
  g_free (desc);
  g_free (out);
}

GST_END_TEST;

/* A host name that does not resolve: a warning naming it, the video runs
 * to the end (the lookup happens on the publishing thread). */
GST_START_TEST (test_unresolvable_broker_warns)
{
  Bus b = run ("videotestsrc num-buffers=10 ! video/x-raw,framerate=10/1 ! "
      "clipfilter prompts=a;tv ! clippublish mqtt-host=broker.invalid ! "
      "fakesink");

  fail_unless (b.error == NULL, "%s", b.error);
  fail_unless (b.results->len > 0);
  fail_unless (b.warnings->len >= 1);
  fail_unless (g_str_has_prefix (g_ptr_array_index (b.warnings, 0),
          "Could not publish to MQTT broker broker.invalid:1883: "), "%s",
      (gchar *) g_ptr_array_index (b.warnings, 0));
  bus_clear (&b);
}

GST_END_TEST;

/* ---- MQTT --------------------------------------------------------------- */

typedef struct
{
  GPid pid;
  guint16 port;
  gchar *conf;
} Broker;

static Broker broker;

static void
die_with_parent (gpointer unused)
{
  (void) unused;
  /* the broker never outlives a test program that crashed or was killed */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static gboolean
port_open (guint16 port)
{
  struct sockaddr_in a = { 0 };
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  gboolean ok;

  a.sin_family = AF_INET;
  a.sin_port = htons (port);
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  ok = connect (fd, (struct sockaddr *) &a, sizeof a) == 0;
  close (fd);
  return ok;
}

static void
broker_start (void)
{
  gchar *argv[] = { (gchar *) MOSQUITTO, (gchar *) "-c", broker.conf, NULL };
  GError *err = NULL;
  gint64 end = g_get_monotonic_time () + WAIT_US;

  fail_unless (g_spawn_async (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD |
          G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
          die_with_parent, NULL, &broker.pid, &err), "%s",
      err ? err->message : "");
  while (!port_open (broker.port) && g_get_monotonic_time () < end)
    g_usleep (20000);
  if (!port_open (broker.port)) {
    gchar *log = tmp_path ("mosquitto.log"), *text = NULL;
    g_file_get_contents (log, &text, NULL, NULL);
    fail ("mosquitto did not listen on %u; its log:\n%s", broker.port,
        text ? text : "(none)");
  }
}

static void
broker_stop (void)
{
  gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  int status;

  if (!broker.pid)
    return;
  kill (broker.pid, SIGTERM);
  while (waitpid (broker.pid, &status, WNOHANG) == 0) {
    if (g_get_monotonic_time () > end) {
      kill (broker.pid, SIGKILL);
      waitpid (broker.pid, &status, 0);
      break;
    }
    g_usleep (10000);
  }
  g_spawn_close_pid (broker.pid);
  broker.pid = 0;
}

/* A broker with persistence, so that a subscriber's session and its queued
 * messages survive the restart. */
static void
broker_configure (const gchar * extra)
{
  /* "user": run as root, mosquitto would switch to the mosquitto user,
   * which cannot read the test's private directory */
  gchar *conf = g_strdup_printf ("listener %u 127.0.0.1\nuser %s\n"
      "log_dest file %s/mosquitto.log\n"
      "persistence true\npersistence_location %s/\nmax_queued_messages 0\n%s",
      broker.port, g_get_user_name (), tmpdir, tmpdir, extra);

  fail_unless (g_file_set_contents (broker.conf, conf, -1, NULL));
  g_free (conf);
}

static void
broker_setup (void)
{
  broker.port = free_port ();
  broker.conf = tmp_path ("mosquitto.conf");
  broker_configure ("allow_anonymous true\n");
  broker_start ();
}

static void
broker_teardown (void)
{
  gchar *db = tmp_path ("mosquitto.db");

  broker_stop ();
  g_unlink (db);
  g_free (db);
  g_free (broker.conf);
  broker.conf = NULL;
}

/* A subscriber on its own libmosquitto thread with a persistent session. */
typedef struct
{
  struct mosquitto *mosq;
  GMutex lock;
  GPtrArray *payloads;
  gboolean ready;               /* our own probe came back */
  gchar *topic;
} Sub;

static void
sub_on_connect (struct mosquitto *mosq, void *data, int rc)
{
  Sub *s = data;

  if (rc == 0)
    mosquitto_subscribe (mosq, NULL, s->topic, 1);
}

static void
sub_on_message (struct mosquitto *mosq, void *data,
    const struct mosquitto_message *m)
{
  Sub *s = data;

  (void) mosq;
  g_mutex_lock (&s->lock);
  if (m->payloadlen == 5 && memcmp (m->payload, "ready", 5) == 0)
    s->ready = TRUE;
  else
    g_ptr_array_add (s->payloads, g_strndup (m->payload, m->payloadlen));
  g_mutex_unlock (&s->lock);
}

static Sub *
sub_start (const gchar * topic)
{
  Sub *s = g_new0 (Sub, 1);
  gint64 end = g_get_monotonic_time () + WAIT_US;
  int rc;

  g_mutex_init (&s->lock);
  s->payloads = g_ptr_array_new_with_free_func (g_free);
  s->topic = g_strdup (topic);
  s->mosq = mosquitto_new ("clippublish-test-sub", false, s);
  fail_unless (s->mosq != NULL);
  mosquitto_connect_callback_set (s->mosq, sub_on_connect);
  mosquitto_message_callback_set (s->mosq, sub_on_message);
  mosquitto_reconnect_delay_set (s->mosq, 1, 1, false);
  rc = mosquitto_connect (s->mosq, "127.0.0.1", broker.port, 30);
  fail_unless_equals_int (rc, MOSQ_ERR_SUCCESS);
  fail_unless_equals_int (mosquitto_loop_start (s->mosq), MOSQ_ERR_SUCCESS);
  /* subscribed once a probe published to the topic comes back */
  while (g_get_monotonic_time () < end) {
    gboolean ready;

    mosquitto_publish (s->mosq, NULL, topic, 5, "ready", 1, false);
    g_usleep (200000);
    g_mutex_lock (&s->lock);
    ready = s->ready;
    g_mutex_unlock (&s->lock);
    if (ready)
      break;
  }
  g_mutex_lock (&s->lock);
  fail_unless (s->ready, "the subscriber never got its probe");
  g_mutex_unlock (&s->lock);
  return s;
}

static guint
sub_count (Sub * s)
{
  guint n;

  g_mutex_lock (&s->lock);
  n = s->payloads->len;
  g_mutex_unlock (&s->lock);
  return n;
}

static void
sub_free (Sub * s)
{
  mosquitto_disconnect (s->mosq);
  mosquitto_loop_stop (s->mosq, false);
  mosquitto_destroy (s->mosq);
  g_ptr_array_unref (s->payloads);
  g_mutex_clear (&s->lock);
  g_free (s->topic);
  g_free (s);
}

/* Waits (bounded) until the subscriber holds @n messages. */
static void
sub_wait (Sub * s, guint n)
{
  gint64 end = g_get_monotonic_time () + WAIT_US;

  while (sub_count (s) < n && g_get_monotonic_time () < end)
    g_usleep (20000);
}

/* Every object reaches the broker, byte for byte the line written to the
 * file, in order. */
GST_START_TEST (test_mqtt_delivers_every_object)
{
  gchar *out = tmp_path ("mqtt.jsonl");
  gchar *desc = g_strdup_printf ("videotestsrc num-buffers=30 ! "
      "video/x-raw,framerate=10/1 ! clipfilter prompts=\"smpte color bars;"
      "tv static\" threshold=0.9 ! clippublish name=pub mqtt-host=127.0.0.1 "
      "mqtt-port=%u topic=cams/door source-id=door location=%s ! fakesink",
      broker.port, out);
  Sub *sub = sub_start ("cams/door");
  GPtrArray *raw, *objs;
  Bus b = run (desc);
  guint i;

  fail_unless (b.error == NULL, "%s", b.error);
  objs = read_json_lines (out, &raw);
  fail_unless (objs->len >= 8);
  sub_wait (sub, raw->len);
  fail_unless_equals_int (sub_count (sub), raw->len);
  for (i = 0; i < raw->len; i++) {
    check_schema (g_ptr_array_index (objs, i), "door", NULL);
    fail_unless_equals_string (g_ptr_array_index (sub->payloads, i),
        g_ptr_array_index (raw, i));
  }
  fail_unless_equals_int (b.warnings->len, 0);
  g_ptr_array_unref (objs);
  g_ptr_array_unref (raw);
  bus_clear (&b);
  sub_free (sub);
  g_free (desc);
  g_free (out);
}

GST_END_TEST;

static void
on_handoff (GstElement * sink, GstBuffer * buf, GstPad * pad, gpointer data)
{
  gint64 *t = data;             /* [last, max gap, count] */
  gint64 now = g_get_monotonic_time ();

  (void) sink;
  (void) buf;
  (void) pad;
  if (t[0])
    t[1] = MAX (t[1], now - t[0]);
  t[0] = now;
  t[2]++;
}

static gint64
analyzed_of (const gchar * line)
{
  cJSON *o = cJSON_Parse (line);
  const cJSON *a;
  gint64 n = -1;

  if (o && (a = cJSON_GetObjectItemCaseSensitive (o, "analyzed")))
    n = (gint64) a->valuedouble;
  cJSON_Delete (o);
  return n;
}

/* A live camera and a broker that goes away for 2 s: the frames keep
 * flowing at the camera's pace, the small queue overflows (a warning, the
 * dropped property), delivery resumes after the restart, and every object
 * is either delivered or counted as dropped. */
GST_START_TEST (test_mqtt_broker_restart_live)
{
  gchar *out = tmp_path ("live.jsonl");
  gchar *desc = g_strdup_printf ("videotestsrc is-live=true ! "
      "video/x-raw,width=160,height=120,framerate=10/1 ! "
      "clipfilter name=cf prompts=\"smpte color bars;tv static\" "
      "interval=100000000 ! "
      "clippublish name=pub mqtt-host=127.0.0.1 mqtt-port=%u topic=cams/yard "
      "queue-size=5 location=%s ! fakesink name=sink sync=true "
      "signal-handoffs=true", broker.port, out);
  GError *err = NULL;
  GstElement *p, *pub, *sink, *cf;
  Sub *sub = sub_start ("cams/yard");
  Bus b = bus_new ();
  gint64 times[3] = { 0, 0, 0 }, resumed = -1;
  guint64 at_restart = 0;
  GPtrArray *raw, *objs;
  GHashTable *got;
  guint64 dropped;
  guint i, n_before, n_delivered;

  p = gst_parse_launch (desc, &err);
  fail_unless (p != NULL && err == NULL, "%s", err ? err->message : "");
  pub = gst_bin_get_by_name (GST_BIN (p), "pub");
  sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  cf = gst_bin_get_by_name (GST_BIN (p), "cf");
  g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), times);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);

  /* delivering */
  sub_wait (sub, 5);
  fail_unless (sub_count (sub) >= 5, "nothing delivered before the stop");
  /* the broker goes away for 2 s (20 samples; the queue holds 5) */
  broker_stop ();
  n_before = sub_count (sub);
  fail_if (bus_poll (&b, p, 2 * G_USEC_PER_SEC), "%s", b.error);
  g_object_get (cf, "analyzed", &at_restart, NULL);
  broker_start ();
  /* delivery resumes: a sample analyzed after the outage arrives */
  {
    gint64 end = g_get_monotonic_time () + WAIT_US;
    while (resumed < 0 && g_get_monotonic_time () < end) {
      fail_if (bus_poll (&b, p, G_USEC_PER_SEC / 10), "%s", b.error);
      g_mutex_lock (&sub->lock);
      for (i = n_before; i < sub->payloads->len; i++)
        if (analyzed_of (g_ptr_array_index (sub->payloads, i)) >
            (gint64) at_restart)
          resumed = i;
      g_mutex_unlock (&sub->lock);
    }
  }
  fail_unless (resumed >= 0, "delivery did not resume after the restart");
  fail_if (bus_poll (&b, p, G_USEC_PER_SEC), "%s", b.error);
  gst_element_send_event (p, gst_event_new_eos ());
  fail_unless (bus_poll (&b, p, WAIT_US));
  fail_unless (b.error == NULL, "%s", b.error);
  gst_element_set_state (p, GST_STATE_NULL);
  g_object_get (pub, "dropped", &dropped, NULL);

  /* the camera kept its pace: no gap between frames near the outage's 2 s
   * (frames are 100 ms apart; 1 s allows for a loaded machine) */
  fail_unless (times[2] >= 30);
  fail_unless (times[1] < G_USEC_PER_SEC, "a %" G_GINT64_FORMAT " us gap "
      "between frames", times[1]);
  /* the overflow was reported */
  fail_unless (dropped > 0);
  {
    gboolean warned = FALSE, reconnected = FALSE;
    for (i = 0; i < b.warnings->len; i++)
      warned |= strstr (g_ptr_array_index (b.warnings, i),
          "The MQTT broker cannot keep up: dropping the oldest results") !=
          NULL;
    for (i = 0; i < b.infos->len; i++)
      reconnected |= strstr (g_ptr_array_index (b.infos, i),
          "Connected to MQTT broker") != NULL;
    fail_unless (warned);
    fail_unless (reconnected);
  }
  /* every object written to the file was delivered or dropped (QoS 1 may
   * deliver one twice around the restart) */
  objs = read_json_lines (out, &raw);
  sub_wait (sub, raw->len - dropped);
  got = g_hash_table_new (g_str_hash, g_str_equal);
  g_mutex_lock (&sub->lock);
  for (i = 0; i < sub->payloads->len; i++)
    g_hash_table_add (got, g_ptr_array_index (sub->payloads, i));
  g_mutex_unlock (&sub->lock);
  for (i = 0, n_delivered = 0; i < raw->len; i++)
    n_delivered += g_hash_table_contains (got, g_ptr_array_index (raw, i));
  g_print ("broker restart: %u objects, %u delivered, %" G_GUINT64_FORMAT
      " dropped; %" G_GINT64_FORMAT " frames, largest gap %" G_GINT64_FORMAT
      " us\n", raw->len, n_delivered, dropped, times[2], times[1]);
  /* nothing but the file's objects arrived, each once or twice */
  fail_unless_equals_int (g_hash_table_size (got), n_delivered);
  fail_unless_equals_uint64 (n_delivered + dropped, raw->len);

  g_hash_table_unref (got);
  g_ptr_array_unref (objs);
  g_ptr_array_unref (raw);
  bus_clear (&b);
  sub_free (sub);
  gst_object_unref (sink);
  gst_object_unref (cf);
  gst_object_unref (pub);
  gst_object_unref (p);
  g_free (desc);
  g_free (out);
}

GST_END_TEST;

/* Runs a 20-frame pipeline publishing to the fixture's broker with the
 * given clippublish properties; returns the bus and sets *published,
 * *dropped and *lines. A broker that refuses the connection is only known
 * to have refused once the MQTT thread hears back, which a loaded machine
 * may put after EOS: the pipeline then stays up until @want_warnings
 * warnings came (the bus drops what is posted on the way to NULL). */
static Bus
publish_run (const gchar * props, guint want_warnings, guint64 * published,
    guint64 * dropped, guint * lines)
{
  gchar *out = tmp_path ("run.jsonl");
  gchar *desc = g_strdup_printf ("videotestsrc num-buffers=20 ! "
      "video/x-raw,framerate=10/1 ! "
      "clipfilter prompts=\"a ball;tv static\" ! "
      "clippublish name=pub mqtt-host=127.0.0.1 mqtt-port=%u location=%s %s ! "
      "fakesink", broker.port, out, props);
  GError *err = NULL;
  GstElement *p = gst_parse_launch (desc, &err), *pub;
  GPtrArray *objs;
  Bus b = bus_new ();

  fail_unless (p != NULL && err == NULL, "%s: %s", desc,
      err ? err->message : "?");
  pub = gst_bin_get_by_name (GST_BIN (p), "pub");
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (bus_poll (&b, p, WAIT_US));
  {
    gint64 end = g_get_monotonic_time () + WAIT_US;
    while (b.warnings->len < want_warnings && g_get_monotonic_time () < end)
      bus_poll (&b, p, 20000);
  }
  gst_element_set_state (p, GST_STATE_NULL);
  g_object_get (pub, "published", published, "dropped", dropped, NULL);
  objs = read_json_lines (out, NULL);
  *lines = objs->len;
  g_ptr_array_unref (objs);
  gst_object_unref (pub);
  gst_object_unref (p);
  g_free (desc);
  g_free (out);
  return b;
}

/* Runs a pipeline with @props that must publish every object: no error or
 * warning, at least one line, each line published, nothing dropped. */
static void
publish_expect_all (const gchar * props)
{
  guint64 published, dropped;
  guint lines;
  Bus b = publish_run (props, 0, &published, &dropped, &lines);

  fail_unless (b.error == NULL, "%s", b.error);
  fail_unless_equals_int (b.warnings->len, 0);
  fail_unless (lines > 0);
  fail_unless_equals_uint64 (published, lines);
  fail_unless_equals_uint64 (dropped, 0);
  bus_clear (&b);
}

static void
run_tool (const gchar * const *argv)
{
  gint status = 0;
  gchar *err = NULL;

  fail_unless (g_spawn_sync (tmpdir, (gchar **) argv, NULL,
          G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
          &err, &status, NULL), "%s", argv[0]);
  fail_unless (g_spawn_check_wait_status (status, NULL), "%s failed: %s",
      argv[0], err);
  g_free (err);
}

/* QoS 0 (written to the connection) and 2 (exactly once, acknowledged):
 * every object published, nothing dropped. */
GST_START_TEST (test_mqtt_qos_levels)
{
  const gchar *props[] = { "mqtt-qos=0", "mqtt-qos=2" };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (props); i++)
    publish_expect_all (props[i]);
}

GST_END_TEST;

/* A broker with a password file: the credentials file and the environment
 * both log in (the broker acknowledges every object); a wrong password is
 * the broker's refusal as a warning, and nothing is published. */
GST_START_TEST (test_mqtt_credentials)
{
  const gchar *passwd[] = { "mosquitto_passwd", "-b", "-c", "passwd", "cam",
    "s3cret", NULL
  };
  gchar *good = tmp_path ("good-credentials"), *bad =
      tmp_path ("bad-credentials");
  gchar *conf =
      g_strdup_printf ("allow_anonymous false\npassword_file %s/passwd\n",
      tmpdir);
  gchar *props;
  guint64 published, dropped;
  guint lines;
  Bus b;

  run_tool (passwd);
  fail_unless (g_file_set_contents (good, "# the door camera\nusername=cam\n"
          "password=s3cret\n", -1, NULL));
  fail_unless (g_file_set_contents (bad, "username=cam\npassword=wrong\n", -1,
          NULL));
  fail_unless (g_chmod (good, 0600) == 0);
  fail_unless (g_chmod (bad, 0644) == 0);
  broker_stop ();
  broker_configure (conf);
  broker_start ();

  props = g_strdup_printf ("mqtt-credentials-file=%s", good);
  publish_expect_all (props);
  g_free (props);

  g_setenv ("CLIPPUBLISH_MQTT_USERNAME", "cam", TRUE);
  g_setenv ("CLIPPUBLISH_MQTT_PASSWORD", "s3cret", TRUE);
  publish_expect_all ("");
  g_unsetenv ("CLIPPUBLISH_MQTT_USERNAME");
  g_unsetenv ("CLIPPUBLISH_MQTT_PASSWORD");

  props = g_strdup_printf ("mqtt-credentials-file=%s", bad);
  b = publish_run (props, 2, &published, &dropped, &lines);
  fail_unless (b.error == NULL, "%s", b.error);
  /* the readable file, then the broker's refusal */
  fail_unless_equals_int (b.warnings->len, 2);
  {
    gchar *readable = g_strdup_printf ("MQTT credentials file \"%s\" is "
        "readable by other users", bad);
    gchar *refused = g_strdup_printf ("Could not publish to MQTT broker "
        "127.0.0.1:%u: Connection Refused: not authorised.", broker.port);
    fail_unless_equals_string (g_ptr_array_index (b.warnings, 0), readable);
    fail_unless_equals_string (g_ptr_array_index (b.warnings, 1), refused);
    g_free (readable);
    g_free (refused);
  }
  fail_unless_equals_uint64 (published, 0);
  fail_unless_equals_uint64 (dropped, lines);
  bus_clear (&b);

  g_free (props);
  g_free (conf);
  g_free (good);
  g_free (bad);
}

GST_END_TEST;

/* TLS with a CA made for the test: the broker's certificate verified
 * against tls-ca-file; another CA is a warning naming the failure. */
GST_START_TEST (test_mqtt_tls)
{
  const gchar *ca[] = { "openssl", "req", "-x509", "-newkey", "ec",
    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key",
    "-out", "ca.pem", "-days", "1", "-subj", "/CN=clippublish test CA", NULL
  };
  const gchar *other[] = { "openssl", "req", "-x509", "-newkey", "ec",
    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
    "other.key", "-out", "other.pem", "-days", "1", "-subj", "/CN=other CA",
    NULL
  };
  const gchar *csr[] = { "openssl", "req", "-newkey", "ec", "-pkeyopt",
    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key", "-out",
    "server.csr", "-subj", "/CN=127.0.0.1", NULL
  };
  const gchar *sign[] = { "openssl", "x509", "-req", "-in", "server.csr",
    "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
    "server.pem", "-days", "1", "-extfile", "san.cnf", NULL
  };
  gchar *san = tmp_path ("san.cnf");
  gchar *conf = g_strdup_printf ("allow_anonymous true\ncafile %s/ca.pem\n"
      "certfile %s/server.pem\nkeyfile %s/server.key\n", tmpdir, tmpdir,
      tmpdir);
  gchar *props;
  guint64 published, dropped;
  guint lines;
  Bus b;

  fail_unless (g_file_set_contents (san, "subjectAltName=IP:127.0.0.1\n", -1,
          NULL));
  run_tool (ca);
  run_tool (other);
  run_tool (csr);
  run_tool (sign);
  broker_stop ();
  broker_configure (conf);
  broker_start ();

  props = g_strdup_printf ("tls-ca-file=%s/ca.pem", tmpdir);
  publish_expect_all (props);
  g_free (props);

  props = g_strdup_printf ("tls-ca-file=%s/other.pem", tmpdir);
  b = publish_run (props, 1, &published, &dropped, &lines);
  fail_unless (b.error == NULL, "%s", b.error);
  fail_unless (b.warnings->len >= 1);
  fail_unless (g_str_has_prefix (g_ptr_array_index (b.warnings, 0),
          "Could not publish to MQTT broker 127.0.0.1:"), "%s",
      (gchar *) g_ptr_array_index (b.warnings, 0));
  fail_unless_equals_uint64 (published, 0);
  fail_unless_equals_uint64 (dropped, lines);
  bus_clear (&b);

  g_free (props);
  g_free (conf);
  g_free (san);
}

GST_END_TEST;

/* A broker that stops answering (SIGSTOP) for 2 s under a live camera:
 * frames keep their pace, and once it answers again everything queued is
 * acknowledged, nothing dropped. */
GST_START_TEST (test_mqtt_stalled_broker_live)
{
  gchar *desc = g_strdup_printf ("videotestsrc is-live=true ! "
      "video/x-raw,width=160,height=120,framerate=10/1 ! "
      "clipfilter prompts=\"smpte color bars;tv static\" interval=100000000 ! "
      "clippublish name=pub mqtt-host=127.0.0.1 mqtt-port=%u topic=cams/gate "
      "location=%s/stall.jsonl ! fakesink name=sink sync=true "
      "signal-handoffs=true", broker.port, tmpdir);
  gchar *out = tmp_path ("stall.jsonl");
  GError *err = NULL;
  GstElement *p = gst_parse_launch (desc, &err), *pub, *sink;
  gint64 times[3] = { 0, 0, 0 };
  guint64 published = 0, dropped;
  GPtrArray *objs;
  Bus b = bus_new ();
  gint64 end;

  fail_unless (p != NULL && err == NULL, "%s", err ? err->message : "");
  pub = gst_bin_get_by_name (GST_BIN (p), "pub");
  sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), times);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  end = g_get_monotonic_time () + WAIT_US;
  while (published < 5 && g_get_monotonic_time () < end) {
    fail_if (bus_poll (&b, p, G_USEC_PER_SEC / 10), "%s", b.error);
    g_object_get (pub, "published", &published, NULL);
  }
  fail_unless (published >= 5, "nothing published before the stall");
  kill (broker.pid, SIGSTOP);
  fail_if (bus_poll (&b, p, 2 * G_USEC_PER_SEC), "%s", b.error);
  kill (broker.pid, SIGCONT);
  fail_if (bus_poll (&b, p, G_USEC_PER_SEC), "%s", b.error);
  gst_element_send_event (p, gst_event_new_eos ());
  fail_unless (bus_poll (&b, p, WAIT_US));
  fail_unless (b.error == NULL, "%s", b.error);
  gst_element_set_state (p, GST_STATE_NULL);
  g_object_get (pub, "published", &published, "dropped", &dropped, NULL);
  objs = read_json_lines (out, NULL);
  g_print ("stalled broker: %u objects, %" G_GUINT64_FORMAT " published; %"
      G_GINT64_FORMAT " frames, largest gap %" G_GINT64_FORMAT " us\n",
      objs->len, published, times[2], times[1]);
  fail_unless (times[2] >= 30);
  fail_unless (times[1] < G_USEC_PER_SEC, "a %" G_GINT64_FORMAT " us gap "
      "between frames", times[1]);
  fail_unless_equals_uint64 (dropped, 0);
  fail_unless_equals_uint64 (published, objs->len);
  g_ptr_array_unref (objs);
  bus_clear (&b);
  gst_object_unref (sink);
  gst_object_unref (pub);
  gst_object_unref (p);
  g_free (desc);
  g_free (out);
}

GST_END_TEST;

/* ---- main ---------------------------------------------------------------- */

static Suite *
json_suite (void)
{
  Suite *s = suite_create ("clippublish");
  TCase *tc = tcase_create ("json");

  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_json_lines_match_bus_messages);
  tcase_add_test (tc, test_uri_of_a_file);
  tcase_add_test (tc, test_uri_from_location_tag);
  tcase_add_test (tc, test_configuration_errors);
  tcase_add_test (tc, test_unreachable_broker_warns);
  tcase_add_test (tc, test_unresolvable_broker_warns);
  return s;
}

static Suite *
mqtt_suite (void)
{
  Suite *s = suite_create ("clippublish-mqtt");
  TCase *tc = tcase_create ("mqtt");

  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_checked_fixture (tc, broker_setup, broker_teardown);
  tcase_add_test (tc, test_mqtt_delivers_every_object);
  tcase_add_test (tc, test_mqtt_broker_restart_live);
  tcase_add_test (tc, test_mqtt_stalled_broker_live);
  tcase_add_test (tc, test_mqtt_qos_levels);
  tcase_add_test (tc, test_mqtt_credentials);
  tcase_add_test (tc, test_mqtt_tls);
  return s;
}

int
main (int argc, char **argv)
{
  gboolean mqtt = argc > 1 && g_str_equal (argv[1], "mqtt");
  gboolean ci = g_strcmp0 (g_getenv ("CI"), "true") == 0;
  SRunner *sr;
  int failed;

  if (mqtt) {
    /* mosquitto_passwd comes with the broker; openssl makes the TLS CA */
    const gchar *need[] = { MOSQUITTO, "mosquitto_passwd", "openssl" };
    guint i;

    for (i = 0; i < G_N_ELEMENTS (need); i++) {
      gchar *found = g_find_program_in_path (need[i]);
      if (!found) {
        g_printerr ("%s not found (Debian: mosquitto, openssl)%s\n", need[i],
            ci ? "; under CI=true it must be present" : ": skipping");
        return ci ? 1 : 77;
      }
      g_free (found);
    }
  }
  /* Linking the engine (as test-clipfilter does) loads its OpenMP and
   * oneDNN libraries at start-up, with static TLS: loaded only by dlopen()
   * with the plugin, their dynamic TLS crashes LeakSanitizer's exit check
   * ("Tracer caught signal 11", GCC 12's libsanitizer). */
  (void) clip_default_params ();
  tmpdir = g_dir_make_tmp ("clippublish-XXXXXX", NULL);
  g_assert (tmpdir);
  gst_check_init (&argc, &argv);
  mosquitto_lib_init ();
  sr = srunner_create (mqtt ? mqtt_suite () : json_suite ());
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  mosquitto_lib_cleanup ();
  {
    gchar *cmd = g_strdup_printf ("rm -rf '%s'", tmpdir);
    if (system (cmd) != 0)
      g_printerr ("could not remove %s\n", tmpdir);
    g_free (cmd);
  }
  g_free (tmpdir);
  return failed == 0 ? 0 : 1;
}
