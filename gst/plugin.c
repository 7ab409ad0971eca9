/* clipfilter: zero-shot CLIP tagging for GStreamer
 * Copyright (C) 2026 The clipfilter authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstclipfilter.h"
#include "gstclippublish.h"

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ok = GST_ELEMENT_REGISTER (clipfilter, plugin);

  ok &= GST_ELEMENT_REGISTER (clippublish, plugin);
  return ok;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, clipfilter,
    "Zero-shot video tagging with CLIP", plugin_init, PACKAGE_VERSION,
    "LGPL", "clipfilter", "https://github.com/clipfilter/clipfilter")
