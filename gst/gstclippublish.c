/* clipfilter: zero-shot CLIP tagging for GStreamer
 * Copyright (C) 2026 The clipfilter authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

/**
 * SECTION:element-clippublish
 * @title: clippublish
 *
 * clippublish sends the results of an upstream `clipfilter` out of the
 * pipeline without an application: each analyzed sample and each tag
 * turning on or off becomes one JSON object, written as a line to a file
 * (or stdout) and/or published to an MQTT broker. Buffers pass through
 * untouched; the element only reads the results that clipfilter sends
 * downstream as custom events, in stream order.
 *
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! clipfilter prompts="a cat;a dog" ! \
 *     clippublish mqtt-host=localhost topic=cams/door source-id=door ! fakesink
 * gst-launch-1.0 filesrc location=kitchen.mp4 ! decodebin ! \
 *     clipfilter prompts="a cat;a dog" ! clippublish location=- ! fakesink
 * ]|
 *
 * Writing and publishing run on threads of their own: the streaming thread
 * only formats the object and appends it to a bounded queue per output
 * (#GstClipPublish:queue-size). When an output cannot keep up (the broker is
 * away or stalled) the oldest queued objects are dropped, counted in
 * #GstClipPublish:dropped and announced by a warning message at the start of
 * each overflow, so a live source never waits for the network.
 *
 * ## JSON objects (schema version 1)
 *
 * One object per line, no line breaks inside. Every object has:
 *
 * * `schema-version` (integer): 1; bumped when a field changes meaning or
 *   disappears (new fields may be added within a version).
 * * `type` (string): `clipfilter` for an analyzed sample, `clipfilter-tag`
 *   for a label turning on or off: the names of clipfilter's bus messages.
 * * `source-id` (string or null): #GstClipPublish:source-id.
 * * `stream-id` (string or null): the stream's id from its stream-start.
 * * `uri` (string or null): the stream's URI when upstream answers the URI
 *   query (filesrc, uridecodebin...), else the `location` tag of the stream
 *   when there is one.
 * * `wall-time` (string): UTC wall-clock time when the result reached the
 *   element, ISO 8601 with microseconds (`2026-12-06T02:47:00.123456Z`).
 *
 * followed by every field of the bus message, under the same name: for
 * `clipfilter` `timestamp`, `stream-time`, `running-time`, `duration`
 * (integer nanoseconds, null when unknown), `labels` (array of strings),
 * `scores`, `similarities`, `smoothed` (arrays of numbers, in label order),
 * `top-label`, `top-score`, `top-labels`, `top-scores` (when clipfilter's
 * top-k is not 0), `analyzed`, `skipped`; for `clipfilter-tag` `label`,
 * `state` (`on` or `off`), `score`, `timestamp`, `stream-time`,
 * `running-time`. Fields clipfilter adds to its messages later appear here
 * too, converted the same way (integers, numbers, strings, arrays).
 *
 * ## MQTT
 *
 * With #GstClipPublish:mqtt-host set, each object is published as one
 * message to #GstClipPublish:topic (no wildcards) with
 * #GstClipPublish:mqtt-qos (not `qos`: that is #GstBaseTransform's switch
 * for QoS events). The connection is made by the publishing thread:
 * an unreachable or refusing broker posts a warning and is retried (0.5 s,
 * doubling up to 5 s) while objects queue up; a warning names the broker and
 * the reason, and reconnecting is announced by an info message. At the
 * PAUSED→READY transition the queue is given up to 2 s to drain while the
 * broker is connected or being connected to. The file, on the other hand,
 * holds every line when EOS leaves the element (it waits up to 5 s for the
 * writes), so whoever sees EOS can read it whole.
 *
 * Credentials never appear as properties: #GstClipPublish:mqtt-credentials-file
 * names a file with `username=` and `password=` lines (`#` starts a comment);
 * without it, the environment variables `CLIPPUBLISH_MQTT_USERNAME` and
 * `CLIPPUBLISH_MQTT_PASSWORD` are used when set. TLS is used when
 * #GstClipPublish:tls-ca-file is set (the broker's certificate is verified
 * against it, host name included); #GstClipPublish:tls-cert-file and
 * #GstClipPublish:tls-key-file give a client certificate.
 *
 * ## Errors
 *
 * At the READY→PAUSED transition, with a message naming the file or field:
 * no output set, a file that cannot be opened, a topic with `+` or `#` (or
 * otherwise invalid), a credentials or TLS file that cannot be read. A
 * failed write to the file is an error; a broker that cannot be reached is a
 * warning.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include <mosquitto.h>

#include "gstclippublish.h"

GST_DEBUG_CATEGORY_STATIC (gst_clip_publish_debug);
#define GST_CAT_DEFAULT gst_clip_publish_debug

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

#define DEFAULT_LOCATION NULL
#define DEFAULT_SOURCE_ID NULL
#define DEFAULT_MQTT_HOST NULL
#define DEFAULT_MQTT_PORT 1883
#define DEFAULT_TOPIC "clipfilter"
#define DEFAULT_QOS 1
#define DEFAULT_CLIENT_ID NULL
#define DEFAULT_KEEPALIVE 30
#define DEFAULT_QUEUE_SIZE 1000

/* Objects handed to libmosquitto and not yet acknowledged (QoS 1, 2) or
 * written (QoS 0): bounds what libmosquitto holds besides our queue. */
#define MAX_INFLIGHT 64
#define RECONNECT_MIN_US (G_USEC_PER_SEC / 2)
#define RECONNECT_MAX_US (5 * G_USEC_PER_SEC)
#define DRAIN_TIMEOUT_US (2 * G_USEC_PER_SEC)
#define FILE_DRAIN_TIMEOUT_US (5 * G_USEC_PER_SEC)
#define LOOP_TIMEOUT_MS 50

enum
{
  PROP_0,
  PROP_LOCATION,
  PROP_SOURCE_ID,
  PROP_MQTT_HOST,
  PROP_MQTT_PORT,
  PROP_TOPIC,
  PROP_QOS,
  PROP_CLIENT_ID,
  PROP_KEEPALIVE,
  PROP_CREDENTIALS_FILE,
  PROP_TLS_CA_FILE,
  PROP_TLS_CERT_FILE,
  PROP_TLS_KEY_FILE,
  PROP_QUEUE_SIZE,
  PROP_DROPPED,
  PROP_PUBLISHED,
};

/* What the user set; read and written under the object lock. */
typedef struct
{
  gchar *location;
  gchar *source_id;
  gchar *mqtt_host;
  guint mqtt_port;
  gchar *topic;
  guint qos;
  gchar *client_id;
  guint keepalive;
  gchar *credentials_file;
  gchar *tls_ca_file;
  gchar *tls_cert_file;
  gchar *tls_key_file;
  guint queue_size;
} Settings;

/* A bounded queue of JSON lines, filled by the streaming thread and drained
 * by one thread of its own. */
typedef struct
{
  GMutex lock;
  GCond cond;
  GCond drained;                /* file: the queue is empty and written */
  GQueue lines;
  gboolean writing;             /* file: a line is being written */
  guint max;
  gboolean overflowing;         /* a warning was posted for this overflow */
  gboolean stop;
  GThread *thread;
} Outlet;

/* The MQTT output. Except for the queue, only its thread touches it (the
 * libmosquitto callbacks run inside mosquitto_loop() on that thread). */
typedef struct
{
  Outlet out;
  struct mosquitto *mosq;
  gchar *host, *topic;
  gint port, qos, keepalive;
  gboolean connected;           /* CONNACK accepted */
  guint inflight;
  gboolean warned;              /* the current outage was announced */
  const gchar *refused;         /* the broker's reason for refusing CONNECT */
  gint64 backoff;
  gint64 drain_deadline;        /* under out.lock, set at stop */
} Mqtt;

/* Everything that exists between READY→PAUSED and PAUSED→READY. */
typedef struct
{
  gchar *source_id;
  gchar *stream_id;             /* streaming thread */
  gchar *uri;                   /* streaming thread */
  gchar *location;
  FILE *file;
  Outlet *file_out;
  gboolean write_failed;        /* file thread */
  Mqtt *mqtt;
} State;

struct _GstClipPublish
{
  GstBaseTransform parent;

  Settings settings;
  guint64 dropped;              /* object lock */
  guint64 published;            /* object lock */
  State *state;
};

#define gst_clip_publish_parent_class parent_class
G_DEFINE_TYPE (GstClipPublish, gst_clip_publish, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (clippublish, "clippublish", GST_RANK_NONE,
    GST_TYPE_CLIP_PUBLISH);

static void gst_clip_publish_finalize (GObject * object);
static void gst_clip_publish_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_clip_publish_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static gboolean gst_clip_publish_start (GstBaseTransform * trans);
static gboolean gst_clip_publish_stop (GstBaseTransform * trans);
static gboolean gst_clip_publish_sink_event (GstBaseTransform * trans,
    GstEvent * event);

static void
gst_clip_publish_class_init (GstClipPublishClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;

  GST_DEBUG_CATEGORY_INIT (gst_clip_publish_debug, "clippublish", 0,
      "clipfilter results to JSON lines and MQTT");

  gobject_class->finalize = gst_clip_publish_finalize;
  gobject_class->set_property = gst_clip_publish_set_property;
  gobject_class->get_property = gst_clip_publish_get_property;

  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "File to write the results to, one JSON object per line "
          "(truncated at start); \"-\" for stdout", DEFAULT_LOCATION, rw));
  g_object_class_install_property (gobject_class, PROP_SOURCE_ID,
      g_param_spec_string ("source-id", "Source id",
          "Name of this video source, copied into every object "
          "(e.g. a camera name)", DEFAULT_SOURCE_ID, rw));
  g_object_class_install_property (gobject_class, PROP_MQTT_HOST,
      g_param_spec_string ("mqtt-host", "MQTT host",
          "MQTT broker to publish to (host name or address); none when unset",
          DEFAULT_MQTT_HOST, rw));
  g_object_class_install_property (gobject_class, PROP_MQTT_PORT,
      g_param_spec_uint ("mqtt-port", "MQTT port",
          "TCP port of the MQTT broker (usually 1883, 8883 with TLS)",
          1, 65535, DEFAULT_MQTT_PORT, rw));
  g_object_class_install_property (gobject_class, PROP_TOPIC,
      g_param_spec_string ("topic", "Topic",
          "MQTT topic to publish to (no + or # wildcards)", DEFAULT_TOPIC, rw));
  g_object_class_install_property (gobject_class, PROP_QOS,
      g_param_spec_uint ("mqtt-qos", "MQTT QoS",
          "MQTT quality of service: 0 at most once, 1 at least once, "
          "2 exactly once", 0, 2, DEFAULT_QOS, rw));
  g_object_class_install_property (gobject_class, PROP_CLIENT_ID,
      g_param_spec_string ("client-id", "Client id",
          "MQTT client id (random when unset)", DEFAULT_CLIENT_ID, rw));
  g_object_class_install_property (gobject_class, PROP_KEEPALIVE,
      g_param_spec_uint ("mqtt-keepalive", "MQTT keepalive",
          "Seconds between MQTT pings; a broker silent for 1.5 times this "
          "is taken as gone and reconnected", 5, 3600, DEFAULT_KEEPALIVE, rw));
  g_object_class_install_property (gobject_class, PROP_CREDENTIALS_FILE,
      g_param_spec_string ("mqtt-credentials-file", "MQTT credentials file",
          "File with \"username=...\" and \"password=...\" lines for the "
          "broker; without it CLIPPUBLISH_MQTT_USERNAME and "
          "CLIPPUBLISH_MQTT_PASSWORD are read from the environment", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_TLS_CA_FILE,
      g_param_spec_string ("tls-ca-file", "TLS CA file",
          "PEM file of the CA certificates the broker is verified against; "
          "setting it turns TLS on", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_TLS_CERT_FILE,
      g_param_spec_string ("tls-cert-file", "TLS certificate file",
          "PEM client certificate (with tls-key-file), for brokers that "
          "require one", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_TLS_KEY_FILE,
      g_param_spec_string ("tls-key-file", "TLS key file",
          "PEM private key of tls-cert-file (unencrypted)", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_QUEUE_SIZE,
      g_param_spec_uint ("queue-size", "Queue size",
          "Objects each output holds while it cannot keep up (broker away); "
          "beyond that the oldest are dropped", 1, G_MAXINT,
          DEFAULT_QUEUE_SIZE, rw));
  g_object_class_install_property (gobject_class, PROP_DROPPED,
      g_param_spec_uint64 ("dropped", "Dropped",
          "Objects dropped since start because an output's queue was full "
          "or still held at stop", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_PUBLISHED,
      g_param_spec_uint64 ("published", "Published",
          "Objects the MQTT broker acknowledged since start (QoS 0: written "
          "to the connection)", 0, G_MAXUINT64, 0, ro));

  gst_element_class_set_static_metadata (element_class,
      "CLIP result publisher", "Filter/Metadata",
      "Writes clipfilter results as JSON lines to a file or stdout and "
      "publishes them to an MQTT broker", "The clipfilter authors");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  trans_class->start = GST_DEBUG_FUNCPTR (gst_clip_publish_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_clip_publish_stop);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_clip_publish_sink_event);
  trans_class->passthrough_on_same_caps = TRUE;
}

static void
gst_clip_publish_init (GstClipPublish * self)
{
  Settings *s = &self->settings;

  s->location = g_strdup (DEFAULT_LOCATION);
  s->source_id = g_strdup (DEFAULT_SOURCE_ID);
  s->mqtt_host = g_strdup (DEFAULT_MQTT_HOST);
  s->mqtt_port = DEFAULT_MQTT_PORT;
  s->topic = g_strdup (DEFAULT_TOPIC);
  s->qos = DEFAULT_QOS;
  s->client_id = g_strdup (DEFAULT_CLIENT_ID);
  s->keepalive = DEFAULT_KEEPALIVE;
  s->queue_size = DEFAULT_QUEUE_SIZE;
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self), TRUE);
}

static void
settings_clear (Settings * s)
{
  g_free (s->location);
  g_free (s->source_id);
  g_free (s->mqtt_host);
  g_free (s->topic);
  g_free (s->client_id);
  g_free (s->credentials_file);
  g_free (s->tls_ca_file);
  g_free (s->tls_cert_file);
  g_free (s->tls_key_file);
}

static void
settings_copy (GstClipPublish * self, Settings * out)
{
  const Settings *s = &self->settings;

  GST_OBJECT_LOCK (self);
  *out = *s;
  out->location = g_strdup (s->location);
  out->source_id = g_strdup (s->source_id);
  out->mqtt_host = g_strdup (s->mqtt_host);
  out->topic = g_strdup (s->topic);
  out->client_id = g_strdup (s->client_id);
  out->credentials_file = g_strdup (s->credentials_file);
  out->tls_ca_file = g_strdup (s->tls_ca_file);
  out->tls_cert_file = g_strdup (s->tls_cert_file);
  out->tls_key_file = g_strdup (s->tls_key_file);
  GST_OBJECT_UNLOCK (self);
}

static void
gst_clip_publish_finalize (GObject * object)
{
  GstClipPublish *self = GST_CLIP_PUBLISH (object);

  settings_clear (&self->settings);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
set_string (gchar ** field, const GValue * value)
{
  g_free (*field);
  *field = g_value_dup_string (value);
}

static void
gst_clip_publish_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstClipPublish *self = GST_CLIP_PUBLISH (object);
  Settings *s = &self->settings;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LOCATION:
      set_string (&s->location, value);
      break;
    case PROP_SOURCE_ID:
      set_string (&s->source_id, value);
      break;
    case PROP_MQTT_HOST:
      set_string (&s->mqtt_host, value);
      break;
    case PROP_MQTT_PORT:
      s->mqtt_port = g_value_get_uint (value);
      break;
    case PROP_TOPIC:
      set_string (&s->topic, value);
      break;
    case PROP_QOS:
      s->qos = g_value_get_uint (value);
      break;
    case PROP_CLIENT_ID:
      set_string (&s->client_id, value);
      break;
    case PROP_KEEPALIVE:
      s->keepalive = g_value_get_uint (value);
      break;
    case PROP_CREDENTIALS_FILE:
      set_string (&s->credentials_file, value);
      break;
    case PROP_TLS_CA_FILE:
      set_string (&s->tls_ca_file, value);
      break;
    case PROP_TLS_CERT_FILE:
      set_string (&s->tls_cert_file, value);
      break;
    case PROP_TLS_KEY_FILE:
      set_string (&s->tls_key_file, value);
      break;
    case PROP_QUEUE_SIZE:
      s->queue_size = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_clip_publish_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstClipPublish *self = GST_CLIP_PUBLISH (object);
  Settings *s = &self->settings;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LOCATION:
      g_value_set_string (value, s->location);
      break;
    case PROP_SOURCE_ID:
      g_value_set_string (value, s->source_id);
      break;
    case PROP_MQTT_HOST:
      g_value_set_string (value, s->mqtt_host);
      break;
    case PROP_MQTT_PORT:
      g_value_set_uint (value, s->mqtt_port);
      break;
    case PROP_TOPIC:
      g_value_set_string (value, s->topic);
      break;
    case PROP_QOS:
      g_value_set_uint (value, s->qos);
      break;
    case PROP_CLIENT_ID:
      g_value_set_string (value, s->client_id);
      break;
    case PROP_KEEPALIVE:
      g_value_set_uint (value, s->keepalive);
      break;
    case PROP_CREDENTIALS_FILE:
      g_value_set_string (value, s->credentials_file);
      break;
    case PROP_TLS_CA_FILE:
      g_value_set_string (value, s->tls_ca_file);
      break;
    case PROP_TLS_CERT_FILE:
      g_value_set_string (value, s->tls_cert_file);
      break;
    case PROP_TLS_KEY_FILE:
      g_value_set_string (value, s->tls_key_file);
      break;
    case PROP_QUEUE_SIZE:
      g_value_set_uint (value, s->queue_size);
      break;
    case PROP_DROPPED:
      g_value_set_uint64 (value, self->dropped);
      break;
    case PROP_PUBLISHED:
      g_value_set_uint64 (value, self->published);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---- JSON ---- */

static cJSON *
value_to_json (const GValue * v)
{
  GType t = G_VALUE_TYPE (v);
  gchar buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (t == G_TYPE_STRING) {
    const gchar *s = g_value_get_string (v);
    return s ? cJSON_CreateString (s) : cJSON_CreateNull ();
  }
  if (t == G_TYPE_BOOLEAN)
    return cJSON_CreateBool (g_value_get_boolean (v));
  /* Numbers are printed so that they read back exactly (cJSON's own
   * printing may round off the last bit). */
  if (t == G_TYPE_DOUBLE || t == G_TYPE_FLOAT) {
    gdouble d = t == G_TYPE_DOUBLE ? g_value_get_double (v)
        : g_value_get_float (v);
    if (!isfinite (d))
      return cJSON_CreateNull ();
    return cJSON_CreateRaw (g_ascii_dtostr (buf, sizeof buf, d));
  }
  /* Integers are written exactly (cJSON numbers are doubles, which would
   * round nanosecond times past 2^53); GST_CLOCK_TIME_NONE is null. */
  if (t == G_TYPE_UINT64) {
    guint64 u = g_value_get_uint64 (v);
    if (u == G_MAXUINT64)
      return cJSON_CreateNull ();
    g_snprintf (buf, sizeof buf, "%" G_GUINT64_FORMAT, u);
    return cJSON_CreateRaw (buf);
  }
  if (t == G_TYPE_INT64 || t == G_TYPE_INT || t == G_TYPE_UINT) {
    if (t == G_TYPE_INT64)
      g_snprintf (buf, sizeof buf, "%" G_GINT64_FORMAT, g_value_get_int64 (v));
    else if (t == G_TYPE_INT)
      g_snprintf (buf, sizeof buf, "%d", g_value_get_int (v));
    else
      g_snprintf (buf, sizeof buf, "%u", g_value_get_uint (v));
    return cJSON_CreateRaw (buf);
  }
  if (t == GST_TYPE_ARRAY || t == GST_TYPE_LIST) {
    gboolean array = t == GST_TYPE_ARRAY;
    guint i, n =
        array ? gst_value_array_get_size (v) : gst_value_list_get_size (v);
    cJSON *arr = cJSON_CreateArray ();

    for (i = 0; i < n; i++)
      cJSON_AddItemToArray (arr, value_to_json (array ?
              gst_value_array_get_value (v, i) : gst_value_list_get_value (v,
                  i)));
    return arr;
  }
  {
    /* anything else in its GStreamer serialization */
    gchar *s = gst_value_serialize (v);
    cJSON *j = s ? cJSON_CreateString (s) : cJSON_CreateNull ();
    g_free (s);
    return j;
  }
}

static gboolean
add_field (GQuark field, const GValue * value, gpointer obj)
{
  cJSON_AddItemToObject (obj, g_quark_to_string (field), value_to_json (value));
  return TRUE;
}

static cJSON *
string_or_null (const gchar * s)
{
  return s ? cJSON_CreateString (s) : cJSON_CreateNull ();
}

/* One result as a JSON line (no trailing newline); see the SECTION block. */
static gchar *
result_to_json (State * st, const GstStructure * s, gint64 wall_us)
{
  cJSON *obj = cJSON_CreateObject ();
  GDateTime *utc = g_date_time_new_from_unix_utc (wall_us / G_USEC_PER_SEC);
  GDateTime *when = g_date_time_add (utc, wall_us % G_USEC_PER_SEC);
  gchar *wall = g_date_time_format (when, "%Y-%m-%dT%H:%M:%S.%fZ");
  gchar *text, *line;

  cJSON_AddNumberToObject (obj, "schema-version",
      GST_CLIP_PUBLISH_SCHEMA_VERSION);
  cJSON_AddStringToObject (obj, "type", gst_structure_get_name (s));
  cJSON_AddItemToObject (obj, "source-id", string_or_null (st->source_id));
  cJSON_AddItemToObject (obj, "stream-id", string_or_null (st->stream_id));
  cJSON_AddItemToObject (obj, "uri", string_or_null (st->uri));
  cJSON_AddStringToObject (obj, "wall-time", wall);
  gst_structure_foreach (s, add_field, obj);

  text = cJSON_PrintUnformatted (obj);
  line = g_strdup (text);
  cJSON_free (text);
  cJSON_Delete (obj);
  g_free (wall);
  g_date_time_unref (when);
  g_date_time_unref (utc);
  return line;
}

/* ---- queues ---- */

static Outlet *
outlet_new (guint max)
{
  Outlet *o = g_new0 (Outlet, 1);

  g_mutex_init (&o->lock);
  g_cond_init (&o->cond);
  g_cond_init (&o->drained);
  g_queue_init (&o->lines);
  o->max = max;
  return o;
}

static void
outlet_free (Outlet * o)
{
  g_queue_clear_full (&o->lines, g_free);
  g_mutex_clear (&o->lock);
  g_cond_clear (&o->cond);
  g_cond_clear (&o->drained);
  g_free (o);
}

static void
count_dropped (GstClipPublish * self, guint n)
{
  GST_OBJECT_LOCK (self);
  self->dropped += n;
  GST_OBJECT_UNLOCK (self);
}

/* Streaming thread: queues a copy of @line, dropping the oldest line when
 * the queue is full. Never waits for the output. */
static void
outlet_push (GstClipPublish * self, Outlet * o, const gchar * what,
    const gchar * line)
{
  gboolean warn = FALSE;

  g_mutex_lock (&o->lock);
  if (o->lines.length >= o->max) {
    g_free (g_queue_pop_head (&o->lines));
    count_dropped (self, 1);
    warn = !o->overflowing;
    o->overflowing = TRUE;
  } else if (o->lines.length < o->max / 2) {
    o->overflowing = FALSE;
  }
  g_queue_push_tail (&o->lines, g_strdup (line));
  g_cond_signal (&o->cond);
  g_mutex_unlock (&o->lock);

  if (warn)
    GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
        ("The %s cannot keep up: dropping the oldest results", what),
        ("queue-size %u reached; the dropped property counts what was lost",
            o->max));
}

static gchar *
outlet_pop (Outlet * o)
{
  gchar *line;

  g_mutex_lock (&o->lock);
  line = g_queue_pop_head (&o->lines);
  g_mutex_unlock (&o->lock);
  return line;
}

/* ---- file output ---- */

static gpointer
file_thread_func (gpointer data)
{
  GstClipPublish *self = data;
  State *st = self->state;
  Outlet *o = st->file_out;

  for (;;) {
    gchar *line;

    g_mutex_lock (&o->lock);
    while (!o->stop && o->lines.length == 0)
      g_cond_wait (&o->cond, &o->lock);
    line = g_queue_pop_head (&o->lines);
    o->writing = line != NULL;
    g_mutex_unlock (&o->lock);
    if (!line)
      break;                    /* stopping, and everything is written */
    if (!st->write_failed && (fputs (line, st->file) < 0
            || fputc ('\n', st->file) == EOF || fflush (st->file) != 0)) {
      st->write_failed = TRUE;
      GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
          ("Could not write to file \"%s\".", st->location), GST_ERROR_SYSTEM);
    }
    if (st->write_failed)
      count_dropped (self, 1);
    g_free (line);
    g_mutex_lock (&o->lock);
    o->writing = FALSE;
    if (o->lines.length == 0)
      g_cond_broadcast (&o->drained);
    g_mutex_unlock (&o->lock);
  }
  return NULL;
}

/* EOS: waits (at most FILE_DRAIN_TIMEOUT_US) until every line queued so far
 * is in the file, so that whoever sees EOS can read the whole file. */
static void
file_wait_drained (GstClipPublish * self, Outlet * o)
{
  gint64 end = g_get_monotonic_time () + FILE_DRAIN_TIMEOUT_US;

  g_mutex_lock (&o->lock);
  while ((o->lines.length > 0 || o->writing)
      && g_cond_wait_until (&o->drained, &o->lock, end));
  if (o->lines.length > 0 || o->writing)
    GST_WARNING_OBJECT (self, "file output still %u lines behind at EOS",
        o->lines.length);
  g_mutex_unlock (&o->lock);
}

/* ---- MQTT output ---- */

static void
mqtt_outage (GstClipPublish * self, Mqtt * m, const gchar * reason)
{
  m->connected = FALSE;
  if (!m->warned) {
    m->warned = TRUE;
    GST_ELEMENT_WARNING (self, RESOURCE, OPEN_WRITE,
        ("Could not publish to MQTT broker %s:%d: %s", m->host, m->port,
            reason),
        ("retrying; results are queued (at most queue-size) meanwhile"));
  } else {
    GST_DEBUG_OBJECT (self, "MQTT broker %s:%d still away: %s", m->host,
        m->port, reason);
  }
  m->backoff = m->backoff ? MIN (m->backoff * 2, RECONNECT_MAX_US)
      : RECONNECT_MIN_US;
}

static void
on_connect (struct mosquitto *mosq, void *data, int rc)
{
  GstClipPublish *self = data;
  Mqtt *m = self->state->mqtt;

  (void) mosq;
  if (rc != 0) {
    /* CONNACK refused (credentials, client id...); the socket closes. */
    m->refused = mosquitto_connack_string (rc);
    return;
  }
  m->connected = TRUE;
  m->refused = NULL;
  m->backoff = 0;
  GST_INFO_OBJECT (self, "connected to MQTT broker %s:%d", m->host, m->port);
  if (m->warned) {
    m->warned = FALSE;
    GST_ELEMENT_INFO (self, RESOURCE, OPEN_WRITE,
        ("Connected to MQTT broker %s:%d again", m->host, m->port), (NULL));
  }
}

static void
on_disconnect (struct mosquitto *mosq, void *data, int rc)
{
  GstClipPublish *self = data;
  Mqtt *m = self->state->mqtt;

  (void) mosq;
  GST_DEBUG_OBJECT (self, "disconnected (%d)", rc);
  m->connected = FALSE;
  /* Unwritten QoS 0 messages are lost with the connection; QoS 1 and 2
   * ones are sent again by libmosquitto after reconnecting, and may
   * still be acknowledged (see on_publish). */
  m->inflight = 0;
}

static void
on_publish (struct mosquitto *mosq, void *data, int mid)
{
  GstClipPublish *self = data;
  Mqtt *m = self->state->mqtt;

  (void) mosq;
  (void) mid;
  if (m->inflight > 0)
    m->inflight--;
  GST_OBJECT_LOCK (self);
  self->published++;
  GST_OBJECT_UNLOCK (self);
}

/* Hands queued lines to libmosquitto while the broker takes them. */
static void
mqtt_publish_queued (GstClipPublish * self, Mqtt * m)
{
  while (m->connected && m->inflight < MAX_INFLIGHT) {
    gchar *line = outlet_pop (&m->out);
    int rc;

    if (!line)
      return;
    /* on_publish may run inside mosquitto_publish() (QoS 0). */
    m->inflight++;
    rc = mosquitto_publish (m->mosq, NULL, m->topic, (int) strlen (line),
        line, m->qos, false);
    if (rc != MOSQ_ERR_SUCCESS) {
      m->inflight--;
      GST_DEBUG_OBJECT (self, "publish failed: %s", mosquitto_strerror (rc));
      g_mutex_lock (&m->out.lock);
      g_queue_push_head (&m->out.lines, line);
      g_mutex_unlock (&m->out.lock);
      return;
    }
    g_free (line);
  }
}

static const gchar *
mosq_reason (int rc, int err)
{
  if (rc == MOSQ_ERR_ERRNO)
    return g_strerror (err);
  return mosquitto_strerror (rc);
}

/* The MQTT thread: connects (without blocking on the TCP handshake),
 * reconnects with a growing delay, and feeds the queue to the broker. At
 * stop it drains the queue for at most DRAIN_TIMEOUT_US while connected. */
static gpointer
mqtt_thread_func (gpointer data)
{
  GstClipPublish *self = data;
  Mqtt *m = self->state->mqtt;
  gboolean sock = FALSE, first = TRUE;
  gint64 retry_at = 0;
  guint lost;

  for (;;) {
    gint64 now = g_get_monotonic_time ();
    int rc;

    /* At stop: drain while connected or connecting (a short file may end
     * before the first connection is up), never past the deadline. */
    g_mutex_lock (&m->out.lock);
    if (m->out.stop && (!sock || now >= m->drain_deadline
            || (m->out.lines.length == 0 && m->inflight == 0))) {
      g_mutex_unlock (&m->out.lock);
      break;
    }
    if (!sock && now < retry_at) {
      g_cond_wait_until (&m->out.cond, &m->out.lock, retry_at);
      g_mutex_unlock (&m->out.lock);
      continue;
    }
    g_mutex_unlock (&m->out.lock);

    if (!sock) {
      m->refused = NULL;
      rc = first ? mosquitto_connect_async (m->mosq, m->host, m->port,
          m->keepalive) : mosquitto_reconnect_async (m->mosq);
      first = FALSE;
      if (rc != MOSQ_ERR_SUCCESS) {
        mqtt_outage (self, m, mosq_reason (rc, errno));
        retry_at = g_get_monotonic_time () + m->backoff;
        continue;
      }
      sock = TRUE;
    }

    mqtt_publish_queued (self, m);
    rc = mosquitto_loop (m->mosq, LOOP_TIMEOUT_MS, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
      int err = errno;

      mqtt_outage (self, m, m->refused ? m->refused : mosq_reason (rc, err));
      mosquitto_disconnect (m->mosq);
      sock = FALSE;
      retry_at = g_get_monotonic_time () + m->backoff;
    }
  }

  if (sock) {
    mosquitto_disconnect (m->mosq);
    mosquitto_loop (m->mosq, LOOP_TIMEOUT_MS, 1);
  }
  g_mutex_lock (&m->out.lock);
  lost = m->out.lines.length;
  g_queue_clear_full (&m->out.lines, g_free);
  g_mutex_unlock (&m->out.lock);
  if (lost > 0) {
    GST_WARNING_OBJECT (self, "%u results not published at stop", lost);
    count_dropped (self, lost);
  }
  return NULL;
}

static gpointer
mqtt_lib_init (gpointer unused)
{
  (void) unused;
  mosquitto_lib_init ();
  return NULL;
}

/* Reads "username=" and "password=" lines from @path. */
static gboolean
read_credentials (GstClipPublish * self, const gchar * path, gchar ** user,
    gchar ** password)
{
  gchar *text = NULL, **lines, **l;
  GError *err = NULL;
  GStatBuf st;

  if (!g_file_get_contents (path, &text, NULL, &err)) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("Could not read MQTT credentials file \"%s\": %s", path,
            err->message), (NULL));
    g_error_free (err);
    return FALSE;
  }
  lines = g_strsplit (text, "\n", -1);
  for (l = lines; *l; l++) {
    gchar *line = g_strstrip (*l);
    if (g_str_has_prefix (line, "username=")) {
      g_free (*user);
      *user = g_strdup (line + strlen ("username="));
    } else if (g_str_has_prefix (line, "password=")) {
      g_free (*password);
      *password = g_strdup (line + strlen ("password="));
    } else if (*line && *line != '#') {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("MQTT credentials file \"%s\": unexpected line (only "
              "username=..., password=... and # comments)", path), (NULL));
      g_strfreev (lines);
      g_free (text);
      return FALSE;
    }
  }
  g_strfreev (lines);
  if (g_stat (path, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
    GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS,
        ("MQTT credentials file \"%s\" is readable by other users", path),
        ("chmod 600 it"));
  /* the password is wiped from memory we free ourselves */
  memset (text, 0, strlen (text));
  g_free (text);
  if (!*user) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("MQTT credentials file \"%s\" has no username= line", path), (NULL));
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_readable (GstClipPublish * self, const gchar * what, const gchar * path)
{
  if (!path || access (path, R_OK) == 0)
    return TRUE;
  GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
      ("Could not read %s \"%s\": %s", what, path, g_strerror (errno)), (NULL));
  return FALSE;
}

static Mqtt *
mqtt_new (GstClipPublish * self, const Settings * set)
{
  static GOnce once = G_ONCE_INIT;
  gchar *user = NULL, *password = NULL;
  Mqtt *m;
  int rc;

  rc = mosquitto_pub_topic_check (set->topic ? set->topic : "");
  if (!set->topic || !*set->topic || rc != MOSQ_ERR_SUCCESS) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Invalid MQTT topic \"%s\": a topic to publish to is not empty and "
            "has no + or # wildcards", set->topic ? set->topic : ""), (NULL));
    return NULL;
  }
  if (!check_readable (self, "TLS CA file (tls-ca-file)", set->tls_ca_file)
      || !check_readable (self, "TLS certificate (tls-cert-file)",
          set->tls_cert_file)
      || !check_readable (self, "TLS key (tls-key-file)", set->tls_key_file))
    return NULL;
  if ((set->tls_cert_file != NULL) != (set->tls_key_file != NULL)
      || (set->tls_cert_file && !set->tls_ca_file)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("TLS client certificate: tls-cert-file and tls-key-file go "
            "together, and need tls-ca-file"), (NULL));
    return NULL;
  }
  if (set->credentials_file) {
    if (!read_credentials (self, set->credentials_file, &user, &password))
      goto fail;
  } else if (g_getenv ("CLIPPUBLISH_MQTT_USERNAME")) {
    user = g_strdup (g_getenv ("CLIPPUBLISH_MQTT_USERNAME"));
    password = g_strdup (g_getenv ("CLIPPUBLISH_MQTT_PASSWORD"));
  }

  g_once (&once, mqtt_lib_init, NULL);
  m = g_new0 (Mqtt, 1);
  g_mutex_init (&m->out.lock);
  g_cond_init (&m->out.cond);
  g_queue_init (&m->out.lines);
  m->out.max = set->queue_size;
  m->host = g_strdup (set->mqtt_host);
  m->topic = g_strdup (set->topic);
  m->port = set->mqtt_port;
  m->qos = set->qos;
  m->keepalive = set->keepalive;
  m->mosq = mosquitto_new (set->client_id, true, self);
  if (!m->mosq) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Could not create the MQTT client: %s", g_strerror (errno)), (NULL));
    goto fail_mqtt;
  }
  mosquitto_connect_callback_set (m->mosq, on_connect);
  mosquitto_disconnect_callback_set (m->mosq, on_disconnect);
  mosquitto_publish_callback_set (m->mosq, on_publish);
  if (user && (rc = mosquitto_username_pw_set (m->mosq, user,
              password)) != MOSQ_ERR_SUCCESS) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Invalid MQTT credentials: %s", mosquitto_strerror (rc)), (NULL));
    goto fail_mqtt;
  }
  if (set->tls_ca_file && (rc = mosquitto_tls_set (m->mosq, set->tls_ca_file,
              NULL, set->tls_cert_file, set->tls_key_file,
              NULL)) != MOSQ_ERR_SUCCESS) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Could not set up TLS with \"%s\": %s", set->tls_ca_file,
            mosquitto_strerror (rc)), (NULL));
    goto fail_mqtt;
  }
  if (password)
    memset (password, 0, strlen (password));
  g_free (user);
  g_free (password);
  return m;

fail_mqtt:
  if (m->mosq)
    mosquitto_destroy (m->mosq);
  g_free (m->host);
  g_free (m->topic);
  g_mutex_clear (&m->out.lock);
  g_cond_clear (&m->out.cond);
  g_free (m);
fail:
  if (password)
    memset (password, 0, strlen (password));
  g_free (user);
  g_free (password);
  return NULL;
}

static void
mqtt_free (Mqtt * m)
{
  mosquitto_destroy (m->mosq);
  g_free (m->host);
  g_free (m->topic);
  g_queue_clear_full (&m->out.lines, g_free);
  g_mutex_clear (&m->out.lock);
  g_cond_clear (&m->out.cond);
  g_free (m);
}

/* ---- states ---- */

static void
state_free (State * st)
{
  if (st->file && st->file != stdout)
    fclose (st->file);
  if (st->file_out)
    outlet_free (st->file_out);
  if (st->mqtt)
    mqtt_free (st->mqtt);
  g_free (st->source_id);
  g_free (st->stream_id);
  g_free (st->uri);
  g_free (st->location);
  g_free (st);
}

static gboolean
gst_clip_publish_start (GstBaseTransform * trans)
{
  GstClipPublish *self = GST_CLIP_PUBLISH (trans);
  State *st = g_new0 (State, 1);
  Settings set;

  settings_copy (self, &set);
  GST_OBJECT_LOCK (self);
  self->dropped = self->published = 0;
  GST_OBJECT_UNLOCK (self);
  st->source_id = g_strdup (set.source_id);
  st->location = g_strdup (set.location);

  if (!set.location && !set.mqtt_host) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Nothing to publish to: set location (a file, or - for stdout) "
            "and/or mqtt-host"), (NULL));
    goto fail;
  }
  if (set.location) {
    if (strcmp (set.location, "-") == 0) {
      st->file = stdout;
    } else if (!(st->file = fopen (set.location, "w"))) {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
          ("Could not open file \"%s\" for writing.", set.location),
          GST_ERROR_SYSTEM);
      goto fail;
    }
    st->file_out = outlet_new (set.queue_size);
  }
  if (set.mqtt_host && !(st->mqtt = mqtt_new (self, &set)))
    goto fail;

  self->state = st;
  if (st->file_out)
    st->file_out->thread = g_thread_new ("clippublish-file",
        file_thread_func, self);
  if (st->mqtt)
    st->mqtt->out.thread = g_thread_new ("clippublish-mqtt",
        mqtt_thread_func, self);
  settings_clear (&set);
  return TRUE;

fail:
  state_free (st);
  settings_clear (&set);
  return FALSE;
}

static void
outlet_stop (Outlet * o, gint64 deadline, gint64 * deadline_field)
{
  g_mutex_lock (&o->lock);
  o->stop = TRUE;
  if (deadline_field)
    *deadline_field = deadline;
  g_cond_broadcast (&o->cond);
  g_mutex_unlock (&o->lock);
  g_thread_join (o->thread);
  o->thread = NULL;
}

static gboolean
gst_clip_publish_stop (GstBaseTransform * trans)
{
  GstClipPublish *self = GST_CLIP_PUBLISH (trans);
  State *st = self->state;

  if (!st)
    return TRUE;
  if (st->file_out)
    outlet_stop (st->file_out, 0, NULL);
  if (st->mqtt)
    outlet_stop (&st->mqtt->out, g_get_monotonic_time () + DRAIN_TIMEOUT_US,
        &st->mqtt->drain_deadline);
  self->state = NULL;
  state_free (st);
  return TRUE;
}

/* ---- events ---- */

/* Asks upstream for the stream's URI (filesrc, uridecodebin and network
 * sources answer). */
static gchar *
query_uri (GstClipPublish * self)
{
  GstQuery *q = gst_query_new_uri ();
  gchar *uri = NULL;

  if (gst_pad_peer_query (GST_BASE_TRANSFORM_SINK_PAD (self), q))
    gst_query_parse_uri (q, &uri);
  gst_query_unref (q);
  return uri;
}

static gboolean
gst_clip_publish_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstClipPublish *self = GST_CLIP_PUBLISH (trans);
  State *st = self->state;

  if (!st)
    goto chain;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START:{
      const gchar *id = NULL;

      gst_event_parse_stream_start (event, &id);
      g_free (st->stream_id);
      st->stream_id = g_strdup (id);
      g_free (st->uri);
      st->uri = query_uri (self);
      GST_DEBUG_OBJECT (self, "stream %s, uri %s", id, st->uri);
      break;
    }
    case GST_EVENT_TAG:{
      GstTagList *tags = NULL;

      /* sources that do not answer the URI query may still tag it */
      gst_event_parse_tag (event, &tags);
      if (!st->uri && gst_tag_list_get_scope (tags) == GST_TAG_SCOPE_STREAM)
        gst_tag_list_get_string (tags, GST_TAG_LOCATION, &st->uri);
      break;
    }
    case GST_EVENT_CUSTOM_DOWNSTREAM:{
      const GstStructure *s = gst_event_get_structure (event);
      gchar *line;

      if (!s || !(gst_structure_has_name (s, "clipfilter")
              || gst_structure_has_name (s, "clipfilter-tag")))
        break;
      line = result_to_json (st, s, g_get_real_time ());
      GST_LOG_OBJECT (self, "%s", line);
      if (st->file_out)
        outlet_push (self, st->file_out, "file output", line);
      if (st->mqtt)
        outlet_push (self, &st->mqtt->out, "MQTT broker", line);
      g_free (line);
      break;
    }
    case GST_EVENT_EOS:
      if (st->file_out)
        file_wait_drained (self, st->file_out);
      break;
    default:
      break;
  }

chain:
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}
