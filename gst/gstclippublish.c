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

#include <stdio.h>
#include <string.h>

#include "gstclippublish.h"
#include "clipjson.h"
#include "clipmqtt.h"
#include "clipoutlet.h"

GST_DEBUG_CATEGORY (gst_clip_publish_debug);
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

#define FILE_DRAIN_TIMEOUT_US (5 * G_USEC_PER_SEC)

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

/* Where each property is kept in Settings: a string or a guint. */
static const struct
{
  guint prop;
  gsize offset;
  gboolean string;
} setting_fields[] = {
  {PROP_LOCATION, G_STRUCT_OFFSET (Settings, location), TRUE},
  {PROP_SOURCE_ID, G_STRUCT_OFFSET (Settings, source_id), TRUE},
  {PROP_MQTT_HOST, G_STRUCT_OFFSET (Settings, mqtt_host), TRUE},
  {PROP_MQTT_PORT, G_STRUCT_OFFSET (Settings, mqtt_port), FALSE},
  {PROP_TOPIC, G_STRUCT_OFFSET (Settings, topic), TRUE},
  {PROP_QOS, G_STRUCT_OFFSET (Settings, qos), FALSE},
  {PROP_CLIENT_ID, G_STRUCT_OFFSET (Settings, client_id), TRUE},
  {PROP_KEEPALIVE, G_STRUCT_OFFSET (Settings, keepalive), FALSE},
  {PROP_CREDENTIALS_FILE, G_STRUCT_OFFSET (Settings, credentials_file), TRUE},
  {PROP_TLS_CA_FILE, G_STRUCT_OFFSET (Settings, tls_ca_file), TRUE},
  {PROP_TLS_CERT_FILE, G_STRUCT_OFFSET (Settings, tls_cert_file), TRUE},
  {PROP_TLS_KEY_FILE, G_STRUCT_OFFSET (Settings, tls_key_file), TRUE},
  {PROP_QUEUE_SIZE, G_STRUCT_OFFSET (Settings, queue_size), FALSE},
};

/* Everything that exists between READY→PAUSED and PAUSED→READY. */
typedef struct
{
  gchar *source_id;
  gchar *stream_id;             /* streaming thread */
  gchar *uri;                   /* streaming thread */
  gchar *location;
  FILE *file;
  ClipOutlet *file_out;
  gboolean write_failed;        /* file thread */
  ClipMqtt *mqtt;
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
  guint i;

  for (i = 0; i < G_N_ELEMENTS (setting_fields); i++)
    if (setting_fields[i].string)
      g_free (G_STRUCT_MEMBER (gchar *, s, setting_fields[i].offset));
}

static void
settings_copy (GstClipPublish * self, Settings * out)
{
  guint i;

  GST_OBJECT_LOCK (self);
  *out = self->settings;
  for (i = 0; i < G_N_ELEMENTS (setting_fields); i++)
    if (setting_fields[i].string)
      G_STRUCT_MEMBER (gchar *, out, setting_fields[i].offset) =
          g_strdup (G_STRUCT_MEMBER (gchar *, out, setting_fields[i].offset));
  GST_OBJECT_UNLOCK (self);
}

static void
gst_clip_publish_finalize (GObject * object)
{
  GstClipPublish *self = GST_CLIP_PUBLISH (object);

  settings_clear (&self->settings);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

/* The setting of property @prop_id in @s (NULL: not a setting). */
static gpointer
setting (Settings * s, guint prop_id, gboolean * string)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (setting_fields); i++)
    if (setting_fields[i].prop == prop_id) {
      *string = setting_fields[i].string;
      return G_STRUCT_MEMBER_P (s, setting_fields[i].offset);
    }
  return NULL;
}

static void
gst_clip_publish_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstClipPublish *self = GST_CLIP_PUBLISH (object);
  gboolean string;
  gpointer field;

  GST_OBJECT_LOCK (self);
  if (!(field = setting (&self->settings, prop_id, &string))) {
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  } else if (string) {
    g_free (*(gchar **) field);
    *(gchar **) field = g_value_dup_string (value);
  } else {
    *(guint *) field = g_value_get_uint (value);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_clip_publish_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstClipPublish *self = GST_CLIP_PUBLISH (object);
  gboolean string;
  gpointer field;

  GST_OBJECT_LOCK (self);
  if (prop_id == PROP_DROPPED)
    g_value_set_uint64 (value, self->dropped);
  else if (prop_id == PROP_PUBLISHED)
    g_value_set_uint64 (value, self->published);
  else if (!(field = setting (&self->settings, prop_id, &string)))
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  else if (string)
    g_value_set_string (value, *(gchar **) field);
  else
    g_value_set_uint (value, *(guint *) field);
  GST_OBJECT_UNLOCK (self);
}

/* ---- queues ---- */

static void
count_dropped (GstClipPublish * self, guint n)
{
  GST_OBJECT_LOCK (self);
  self->dropped += n;
  GST_OBJECT_UNLOCK (self);
}

/* Streaming thread: queues @line for an output, never waiting for it; the
 * start of an overflow is announced once. */
static void
outlet_push (GstClipPublish * self, ClipOutlet * o, const gchar * what,
    const gchar * line)
{
  gboolean warn;

  if (clip_outlet_push (o, line, &warn))
    count_dropped (self, 1);
  if (warn)
    GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
        ("The %s cannot keep up: dropping the oldest results", what),
        ("queue-size %u reached; the dropped property counts what was lost",
            o->max));
}

/* ---- file output ---- */

static gpointer
file_thread_func (gpointer data)
{
  GstClipPublish *self = data;
  State *st = self->state;
  ClipOutlet *o = st->file_out;

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
file_wait_drained (GstClipPublish * self, ClipOutlet * o)
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

/* ---- states ---- */

static void
state_free (State * st)
{
  if (st->file && st->file != stdout)
    fclose (st->file);
  if (st->file_out)
    clip_outlet_free (st->file_out);
  if (st->mqtt)
    clip_mqtt_free (st->mqtt);
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
    st->file_out = clip_outlet_new (set.queue_size);
  }
  if (set.mqtt_host) {
    ClipMqttConfig c = { set.mqtt_host, set.mqtt_port, set.topic, set.qos,
      set.client_id, set.keepalive, set.credentials_file, set.tls_ca_file,
      set.tls_cert_file, set.tls_key_file, set.queue_size
    };
    if (!(st->mqtt = clip_mqtt_new (GST_ELEMENT (self), &c, &self->published,
                &self->dropped)))
      goto fail;
  }

  self->state = st;
  if (st->file_out)
    st->file_out->thread = g_thread_new ("clippublish-file",
        file_thread_func, self);
  if (st->mqtt)
    clip_mqtt_start (st->mqtt);
  settings_clear (&set);
  return TRUE;

fail:
  state_free (st);
  settings_clear (&set);
  return FALSE;
}

static gboolean
gst_clip_publish_stop (GstBaseTransform * trans)
{
  GstClipPublish *self = GST_CLIP_PUBLISH (trans);
  State *st = self->state;

  if (!st)
    return TRUE;
  if (st->file_out)
    clip_outlet_stop (st->file_out, 0, NULL);
  if (st->mqtt)
    clip_mqtt_stop (st->mqtt);
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
      line = clip_json_result_line (s, st->source_id, st->stream_id, st->uri,
          g_get_real_time ());
      GST_LOG_OBJECT (self, "%s", line);
      if (st->file_out)
        outlet_push (self, st->file_out, "file output", line);
      if (st->mqtt)
        outlet_push (self, clip_mqtt_outlet (st->mqtt), "MQTT broker", line);
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
