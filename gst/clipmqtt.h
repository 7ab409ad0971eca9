/* clipfilter: zero-shot CLIP tagging for GStreamer
 * Copyright (C) 2026 The clipfilter authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

/* clipmqtt.h — clippublish's MQTT output: lines queued by the streaming
 * thread are published by a thread of its own, which connects, reconnects
 * with a growing delay (warning once per outage) and, at stop, drains the
 * queue for a while. */
#ifndef CLIP_MQTT_H
#define CLIP_MQTT_H

#include <gst/gst.h>

#include "clipoutlet.h"

G_BEGIN_DECLS

/* The broker and how to publish to it (the element's properties). */
typedef struct
{
  const gchar *mqtt_host;
  guint mqtt_port;
  const gchar *topic;
  guint qos;
  const gchar *client_id;       /* NULL: a random one */
  guint keepalive;
  const gchar *credentials_file;
  const gchar *tls_ca_file, *tls_cert_file, *tls_key_file;
  guint queue_size;
} ClipMqttConfig;

typedef struct _ClipMqtt ClipMqtt;

/* Checks @set (the topic, the TLS files, the credentials file or the
 * CLIPPUBLISH_MQTT_USERNAME/PASSWORD environment) and creates the client;
 * posts an error naming the file or field as @element and returns NULL when
 * it cannot. Objects published and lost are added to @published and
 * @dropped under @element's object lock; @element must outlive the client. */
ClipMqtt *clip_mqtt_new (GstElement * element, const ClipMqttConfig * set,
    guint64 * published, guint64 * dropped);

/* Starts the publishing thread. */
void clip_mqtt_start (ClipMqtt * m);

/* The queue the streaming thread fills. */
ClipOutlet *clip_mqtt_outlet (ClipMqtt * m);

/* Stops the thread: the queue is given a few seconds to drain while the
 * broker is connected or being connected to; what is left is counted as
 * dropped. */
void clip_mqtt_stop (ClipMqtt * m);

/* Stops the thread if it runs, and frees the client. */
void clip_mqtt_free (ClipMqtt * m);

G_END_DECLS

#endif
