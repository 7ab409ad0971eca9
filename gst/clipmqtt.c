/* clipfilter: zero-shot CLIP tagging for GStreamer
 * Copyright (C) 2026 The clipfilter authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

/* clipmqtt.c — clippublish's MQTT output: the connection to the broker on
 * a thread of its own (libmosquitto), reconnecting with a growing delay,
 * fed from a bounded queue. */
#include "clipmqtt.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <sys/stat.h>
#include <mosquitto.h>

GST_DEBUG_CATEGORY_EXTERN (gst_clip_publish_debug);
#define GST_CAT_DEFAULT gst_clip_publish_debug

/* Objects handed to libmosquitto and not yet acknowledged (QoS 1, 2) or
 * written (QoS 0): bounds what libmosquitto holds besides our queue. */
#define MAX_INFLIGHT 64
#define RECONNECT_MIN_US (G_USEC_PER_SEC / 2)
#define RECONNECT_MAX_US (5 * G_USEC_PER_SEC)
#define DRAIN_TIMEOUT_US (2 * G_USEC_PER_SEC)
#define LOOP_TIMEOUT_MS 50

/* Except for the queue, only its thread touches it (the libmosquitto
 * callbacks run inside mosquitto_loop() on that thread). */
struct _ClipMqtt
{
  GstElement *element;          /* errors and warnings are posted as it */
  guint64 *published, *dropped; /* @element's counters (its object lock) */
  ClipOutlet *out;
  struct mosquitto *mosq;
  gchar *host, *topic;
  gint port, qos, keepalive;
  gboolean connected;           /* CONNACK accepted */
  guint inflight;
  gboolean warned;              /* the current outage was announced */
  const gchar *refused;         /* the broker's reason for refusing CONNECT */
  gint64 backoff;
  gint64 drain_deadline;        /* under out->lock, set at stop */
};

static void
count (ClipMqtt * m, guint published, guint dropped)
{
  GST_OBJECT_LOCK (m->element);
  *m->published += published;
  *m->dropped += dropped;
  GST_OBJECT_UNLOCK (m->element);
}

static void
mqtt_outage (ClipMqtt * m, const gchar * reason)
{
  m->connected = FALSE;
  if (!m->warned) {
    m->warned = TRUE;
    GST_ELEMENT_WARNING (m->element, RESOURCE, OPEN_WRITE,
        ("Could not publish to MQTT broker %s:%d: %s", m->host, m->port,
            reason),
        ("retrying; results are queued (at most queue-size) meanwhile"));
  } else {
    GST_DEBUG_OBJECT (m->element, "MQTT broker %s:%d still away: %s", m->host,
        m->port, reason);
  }
  m->backoff = m->backoff ? MIN (m->backoff * 2, RECONNECT_MAX_US)
      : RECONNECT_MIN_US;
}

static void
on_connect (struct mosquitto *mosq, void *data, int rc)
{
  ClipMqtt *m = data;

  (void) mosq;
  if (rc != 0) {
    /* CONNACK refused (credentials, client id...); the socket closes. */
    m->refused = mosquitto_connack_string (rc);
    return;
  }
  m->connected = TRUE;
  m->refused = NULL;
  m->backoff = 0;
  GST_INFO_OBJECT (m->element, "connected to MQTT broker %s:%d", m->host,
      m->port);
  if (m->warned) {
    m->warned = FALSE;
    GST_ELEMENT_INFO (m->element, RESOURCE, OPEN_WRITE,
        ("Connected to MQTT broker %s:%d again", m->host, m->port), (NULL));
  }
}

static void
on_disconnect (struct mosquitto *mosq, void *data, int rc)
{
  ClipMqtt *m = data;

  (void) mosq;
  GST_DEBUG_OBJECT (m->element, "disconnected (%d)", rc);
  m->connected = FALSE;
  /* Unwritten QoS 0 messages are lost with the connection; QoS 1 and 2
   * ones are sent again by libmosquitto after reconnecting, and may
   * still be acknowledged (see on_publish). */
  m->inflight = 0;
}

static void
on_publish (struct mosquitto *mosq, void *data, int mid)
{
  ClipMqtt *m = data;

  (void) mosq;
  (void) mid;
  if (m->inflight > 0)
    m->inflight--;
  count (m, 1, 0);
}

/* Hands queued lines to libmosquitto while the broker takes them. */
static void
mqtt_publish_queued (ClipMqtt * m)
{
  while (m->connected && m->inflight < MAX_INFLIGHT) {
    gchar *line = clip_outlet_pop (m->out);
    int rc;

    if (!line)
      return;
    /* on_publish may run inside mosquitto_publish() (QoS 0). */
    m->inflight++;
    rc = mosquitto_publish (m->mosq, NULL, m->topic, (int) strlen (line),
        line, m->qos, false);
    if (rc != MOSQ_ERR_SUCCESS) {
      m->inflight--;
      GST_DEBUG_OBJECT (m->element, "publish failed: %s",
          mosquitto_strerror (rc));
      clip_outlet_unpop (m->out, line);
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
  ClipMqtt *m = data;
  gboolean sock = FALSE, first = TRUE;
  gint64 retry_at = 0;
  guint lost;

  for (;;) {
    gint64 now = g_get_monotonic_time ();
    int rc;

    /* At stop: drain while connected or connecting (a short file may end
     * before the first connection is up), never past the deadline. */
    g_mutex_lock (&m->out->lock);
    if (m->out->stop && (!sock || now >= m->drain_deadline
            || (m->out->lines.length == 0 && m->inflight == 0))) {
      g_mutex_unlock (&m->out->lock);
      break;
    }
    if (!sock && now < retry_at) {
      g_cond_wait_until (&m->out->cond, &m->out->lock, retry_at);
      g_mutex_unlock (&m->out->lock);
      continue;
    }
    g_mutex_unlock (&m->out->lock);

    if (!sock) {
      m->refused = NULL;
      rc = first ? mosquitto_connect_async (m->mosq, m->host, m->port,
          m->keepalive) : mosquitto_reconnect_async (m->mosq);
      first = FALSE;
      if (rc != MOSQ_ERR_SUCCESS) {
        mqtt_outage (m, mosq_reason (rc, errno));
        retry_at = g_get_monotonic_time () + m->backoff;
        continue;
      }
      sock = TRUE;
    }

    mqtt_publish_queued (m);
    rc = mosquitto_loop (m->mosq, LOOP_TIMEOUT_MS, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
      int err = errno;

      mqtt_outage (m, m->refused ? m->refused : mosq_reason (rc, err));
      mosquitto_disconnect (m->mosq);
      sock = FALSE;
      retry_at = g_get_monotonic_time () + m->backoff;
    }
  }

  if (sock) {
    mosquitto_disconnect (m->mosq);
    mosquitto_loop (m->mosq, LOOP_TIMEOUT_MS, 1);
  }
  lost = clip_outlet_discard (m->out);
  if (lost > 0) {
    GST_WARNING_OBJECT (m->element, "%u results not published at stop", lost);
    count (m, 0, lost);
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
read_credentials (GstElement * element, const gchar * path, gchar ** user,
    gchar ** password)
{
  gchar *text = NULL, **lines, **l;
  GError *err = NULL;
  GStatBuf st;

  if (!g_file_get_contents (path, &text, NULL, &err)) {
    GST_ELEMENT_ERROR (element, RESOURCE, OPEN_READ,
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
      GST_ELEMENT_ERROR (element, RESOURCE, SETTINGS,
          ("MQTT credentials file \"%s\": unexpected line (only "
              "username=..., password=... and # comments)", path), (NULL));
      g_strfreev (lines);
      g_free (text);
      return FALSE;
    }
  }
  g_strfreev (lines);
  if (g_stat (path, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
    GST_ELEMENT_WARNING (element, RESOURCE, SETTINGS,
        ("MQTT credentials file \"%s\" is readable by other users", path),
        ("chmod 600 it"));
  /* the password is wiped from memory we free ourselves */
  memset (text, 0, strlen (text));
  g_free (text);
  if (!*user) {
    GST_ELEMENT_ERROR (element, RESOURCE, SETTINGS,
        ("MQTT credentials file \"%s\" has no username= line", path), (NULL));
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_readable (GstElement * element, const gchar * what, const gchar * path)
{
  if (!path || access (path, R_OK) == 0)
    return TRUE;
  GST_ELEMENT_ERROR (element, RESOURCE, OPEN_READ,
      ("Could not read %s \"%s\": %s", what, path, g_strerror (errno)), (NULL));
  return FALSE;
}

ClipMqtt *
clip_mqtt_new (GstElement * element, const ClipMqttConfig * set,
    guint64 * published, guint64 * dropped)
{
  static GOnce once = G_ONCE_INIT;
  gchar *user = NULL, *password = NULL;
  ClipMqtt *m;
  int rc;

  rc = mosquitto_pub_topic_check (set->topic ? set->topic : "");
  if (!set->topic || !*set->topic || rc != MOSQ_ERR_SUCCESS) {
    GST_ELEMENT_ERROR (element, RESOURCE, SETTINGS,
        ("Invalid MQTT topic \"%s\": a topic to publish to is not empty and "
            "has no + or # wildcards", set->topic ? set->topic : ""), (NULL));
    return NULL;
  }
  if (!check_readable (element, "TLS CA file (tls-ca-file)", set->tls_ca_file)
      || !check_readable (element, "TLS certificate (tls-cert-file)",
          set->tls_cert_file)
      || !check_readable (element, "TLS key (tls-key-file)", set->tls_key_file))
    return NULL;
  if ((set->tls_cert_file != NULL) != (set->tls_key_file != NULL)
      || (set->tls_cert_file && !set->tls_ca_file)) {
    GST_ELEMENT_ERROR (element, RESOURCE, SETTINGS,
        ("TLS client certificate: tls-cert-file and tls-key-file go "
            "together, and need tls-ca-file"), (NULL));
    return NULL;
  }
  if (set->credentials_file) {
    if (!read_credentials (element, set->credentials_file, &user, &password))
      goto fail;
  } else if (g_getenv ("CLIPPUBLISH_MQTT_USERNAME")) {
    user = g_strdup (g_getenv ("CLIPPUBLISH_MQTT_USERNAME"));
    password = g_strdup (g_getenv ("CLIPPUBLISH_MQTT_PASSWORD"));
  }

  g_once (&once, mqtt_lib_init, NULL);
  m = g_new0 (ClipMqtt, 1);
  m->element = element;
  m->published = published;
  m->dropped = dropped;
  m->out = clip_outlet_new (set->queue_size);
  m->host = g_strdup (set->mqtt_host);
  m->topic = g_strdup (set->topic);
  m->port = set->mqtt_port;
  m->qos = set->qos;
  m->keepalive = set->keepalive;
  m->mosq = mosquitto_new (set->client_id, true, m);
  if (!m->mosq) {
    GST_ELEMENT_ERROR (element, RESOURCE, SETTINGS,
        ("Could not create the MQTT client: %s", g_strerror (errno)), (NULL));
    goto fail_mqtt;
  }
  mosquitto_connect_callback_set (m->mosq, on_connect);
  mosquitto_disconnect_callback_set (m->mosq, on_disconnect);
  mosquitto_publish_callback_set (m->mosq, on_publish);
  if (user && (rc = mosquitto_username_pw_set (m->mosq, user,
              password)) != MOSQ_ERR_SUCCESS) {
    GST_ELEMENT_ERROR (element, RESOURCE, SETTINGS,
        ("Invalid MQTT credentials: %s", mosquitto_strerror (rc)), (NULL));
    goto fail_mqtt;
  }
  if (set->tls_ca_file && (rc = mosquitto_tls_set (m->mosq, set->tls_ca_file,
              NULL, set->tls_cert_file, set->tls_key_file,
              NULL)) != MOSQ_ERR_SUCCESS) {
    GST_ELEMENT_ERROR (element, RESOURCE, SETTINGS,
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
  clip_outlet_free (m->out);
  g_free (m);
fail:
  if (password)
    memset (password, 0, strlen (password));
  g_free (user);
  g_free (password);
  return NULL;
}

void
clip_mqtt_start (ClipMqtt * m)
{
  m->out->thread = g_thread_new ("clippublish-mqtt", mqtt_thread_func, m);
}

ClipOutlet *
clip_mqtt_outlet (ClipMqtt * m)
{
  return m->out;
}

void
clip_mqtt_stop (ClipMqtt * m)
{
  if (m->out->thread)
    clip_outlet_stop (m->out, g_get_monotonic_time () + DRAIN_TIMEOUT_US,
        &m->drain_deadline);
}

void
clip_mqtt_free (ClipMqtt * m)
{
  clip_mqtt_stop (m);
  mosquitto_destroy (m->mosq);
  g_free (m->host);
  g_free (m->topic);
  clip_outlet_free (m->out);
  g_free (m);
}
