/* test-tagstate.c — known-answer tests of the tag state (smoothing,
 * hysteresis, the similarity gate, background labels, embedding pooling,
 * top-k): known score sequences in, exact smoothed values and on/off
 * changes out. Dyadic scores keep the float arithmetic exact. */
#include <glib.h>

#include "cliptagstate.h"

/* Pushes one sample of probabilities and cosines; returns the changes as
 * a trace "+i" / "-i" per change. */
static gchar *
push_sims (ClipTagState * ts, const ClipTagParams * p, const gfloat * probs,
    const gfloat * sims, gfloat * smoothed, gfloat * ssims)
{
  guint n = clip_tag_state_n_labels (ts);
  ClipTagChange *ch = g_new (ClipTagChange, n);
  guint k = clip_tag_state_push (ts, p, probs, sims, smoothed, ssims, ch), i;
  GString *trace = g_string_new (NULL);

  for (i = 0; i < k; i++)
    g_string_append_printf (trace, "%c%u", ch[i].on ? '+' : '-', ch[i].label);
  g_free (ch);
  return g_string_free (trace, FALSE);
}

/* The same with every cosine 1 (any similarity gate passes). */
static gchar *
push (ClipTagState * ts, const ClipTagParams * p, const gfloat * probs,
    gfloat * smoothed)
{
  guint n = clip_tag_state_n_labels (ts);
  gfloat *ones = g_new (gfloat, n), *ssims = g_new (gfloat, n);
  gchar *t;
  guint i;

  for (i = 0; i < n; i++)
    ones[i] = 1.0f;
  t = push_sims (ts, p, probs, ones, smoothed, ssims);
  g_free (ones);
  g_free (ssims);
  return t;
}

/* One label fed @values; returns the concatenated trace. */
static gchar *
run_one (const ClipTagParams * p, const gfloat * values, guint n)
{
  ClipTagState *ts = clip_tag_state_new (1, NULL);
  GString *all = g_string_new (NULL);
  gfloat smoothed;
  guint i;

  for (i = 0; i < n; i++) {
    gchar *t = push (ts, p, &values[i], &smoothed);
    g_string_append (all, t);
    g_free (t);
  }
  clip_tag_state_free (ts);
  return g_string_free (all, FALSE);
}

static void
test_window_mean (void)
{
  ClipTagParams p = { 3, 2.0, 2.0, -1.0 };      /* never on: smoothing only */
  const gfloat seq[][2] = { {0.25f, 0.75f}, {0.5f, 0.5f}, {0.75f, 0.25f},
  {1.0f, 0.0f}
  };
  /* the mean of the last min(i + 1, 3) samples */
  const gfloat expect[][2] = { {0.25f, 0.75f}, {0.375f, 0.625f},
  {0.5f, 0.5f}, {0.75f, 0.25f}
  };
  ClipTagState *ts = clip_tag_state_new (2, NULL);
  gfloat sm[2];
  guint i;

  for (i = 0; i < G_N_ELEMENTS (seq); i++) {
    g_free (push (ts, &p, seq[i], sm));
    g_assert_cmpfloat (sm[0], ==, expect[i][0]);
    g_assert_cmpfloat (sm[1], ==, expect[i][1]);
  }
  clip_tag_state_free (ts);
}

static void
test_window_change_restarts (void)
{
  ClipTagParams p = { 2, 2.0, 2.0, -1.0 };
  const gfloat a = 1.0f, b = 0.0f, c = 0.5f;
  ClipTagState *ts = clip_tag_state_new (1, NULL);
  gfloat sm;

  g_free (push (ts, &p, &a, &sm));
  g_free (push (ts, &p, &b, &sm));
  g_assert_cmpfloat (sm, ==, 0.5f);
  p.window = 3;
  g_free (push (ts, &p, &c, &sm));
  g_assert_cmpfloat (sm, ==, 0.5f);     /* c alone, not (a + b + c) / 3 */
  clip_tag_state_free (ts);
}

static void
test_on_at_threshold (void)
{
  ClipTagParams p = { 1, 0.5, 0.25, -1.0 };
  const gfloat below[] = { 0.4375f }, at[] = { 0.5f };
  gchar *t;

  t = run_one (&p, below, 1);
  g_assert_cmpstr (t, ==, "");
  g_free (t);
  t = run_one (&p, at, 1);
  g_assert_cmpstr (t, ==, "+0");
  g_free (t);
}

static void
test_off_below_threshold_off (void)
{
  ClipTagParams p = { 1, 0.5, 0.25, -1.0 };
  /* at threshold-off it stays on; below it turns off */
  const gfloat at[] = { 0.75f, 0.25f }, below[] = { 0.75f, 0.1875f };
  gchar *t;

  t = run_one (&p, at, 2);
  g_assert_cmpstr (t, ==, "+0");
  g_free (t);
  t = run_one (&p, below, 2);
  g_assert_cmpstr (t, ==, "+0-0");
  g_free (t);
}

static void
test_hysteresis (void)
{
  const gfloat seq[] = { 0.625f, 0.4375f, 0.625f, 0.4375f, 0.125f };
  ClipTagParams flicker = { 1, 0.5, 0.5, -1.0 }, steady =
      { 1, 0.5, 0.25, -1.0 };
  gchar *t;

  t = run_one (&flicker, seq, G_N_ELEMENTS (seq));
  g_assert_cmpstr (t, ==, "+0-0+0-0");
  g_free (t);
  t = run_one (&steady, seq, G_N_ELEMENTS (seq));
  g_assert_cmpstr (t, ==, "+0-0");
  g_free (t);
}

static void
test_smoothing_delays_on (void)
{
  /* window 2: 0 then 1 averages 0.5 (on at 0.75? no), then 1, 1 is on */
  const gfloat seq[] = { 0.0f, 1.0f, 1.0f };
  ClipTagParams p = { 2, 0.75, 0.5, -1.0 };
  ClipTagState *ts = clip_tag_state_new (1, NULL);
  gfloat sm;
  gchar *t;

  t = push (ts, &p, &seq[0], &sm);
  g_assert_cmpstr (t, ==, "");
  g_free (t);
  t = push (ts, &p, &seq[1], &sm);
  g_assert_cmpstr (t, ==, "");
  g_assert_cmpfloat (sm, ==, 0.5f);
  g_free (t);
  t = push (ts, &p, &seq[2], &sm);
  g_assert_cmpstr (t, ==, "+0");
  g_assert_cmpfloat (sm, ==, 1.0f);
  g_free (t);
  clip_tag_state_free (ts);
}

static void
test_reset_on_discont (void)
{
  ClipTagParams p = { 2, 0.5, 0.25, -1.0 };
  const gfloat hi = 1.0f, lo = 0.0f;
  ClipTagState *ts = clip_tag_state_new (1, NULL);
  gfloat sm;
  gchar *t;

  t = push (ts, &p, &hi, &sm);
  g_assert_cmpstr (t, ==, "+0");
  g_free (t);
  clip_tag_state_reset (ts);
  /* the window starts over: lo alone (0), not (hi + lo) / 2 */
  t = push (ts, &p, &lo, &sm);
  g_assert_cmpfloat (sm, ==, 0.0f);
  g_assert_cmpstr (t, ==, "-0");
  g_free (t);
  clip_tag_state_free (ts);
}

static void
test_reset_keeps_on (void)
{
  ClipTagParams p = { 1, 0.5, 0.25, -1.0 };
  const gfloat hi = 1.0f;
  ClipTagState *ts = clip_tag_state_new (1, NULL);
  gfloat sm;

  g_free (push (ts, &p, &hi, &sm));
  clip_tag_state_reset (ts);
  g_assert_true (clip_tag_state_is_on (ts, 0));
  clip_tag_state_free (ts);
}

static void
test_close_at_eos (void)
{
  ClipTagParams p = { 2, 0.5, 0.25, -1.0 };
  const gfloat s1[] = { 1.0f, 0.0f, 0.75f }, s2[] = { 0.5f, 0.0f, 0.75f };
  ClipTagState *ts = clip_tag_state_new (3, NULL);
  ClipTagChange ch[3];
  gfloat sm[3];
  guint n;

  g_free (push (ts, &p, s1, sm));
  g_free (push (ts, &p, s2, sm));
  n = clip_tag_state_close (ts, ch);
  /* labels 0 and 2 were on; each closes with its last smoothed score */
  g_assert_cmpuint (n, ==, 2);
  g_assert_cmpuint (ch[0].label, ==, 0);
  g_assert_false (ch[0].on);
  g_assert_cmpfloat (ch[0].score, ==, 0.75f);
  g_assert_cmpuint (ch[1].label, ==, 2);
  g_assert_cmpfloat (ch[1].score, ==, 0.75f);
  g_assert_false (clip_tag_state_is_on (ts, 0));
  /* nothing is on any more: a second close closes nothing */
  g_assert_cmpuint (clip_tag_state_close (ts, ch), ==, 0);
  clip_tag_state_free (ts);
}

static void
test_top_k (void)
{
  const gfloat v[] = { 0.125f, 0.5f, 0.25f, 0.5f };
  guint order[4];

  /* best first, ties in label order */
  g_assert_cmpuint (clip_tag_top_k (v, 4, 3, order), ==, 3);
  g_assert_cmpuint (order[0], ==, 1);
  g_assert_cmpuint (order[1], ==, 3);
  g_assert_cmpuint (order[2], ==, 2);
  g_assert_cmpuint (clip_tag_top_k (v, 4, 10, order), ==, 4);
  g_assert_cmpuint (order[3], ==, 0);
  g_assert_cmpuint (clip_tag_top_k (v, 4, 0, order), ==, 0);
  g_assert_cmpuint (clip_tag_best (v, 4), ==, 1);
}

static void
test_min_similarity_gate (void)
{
  /* one label: its probability is always 1, so the cosine decides */
  ClipTagParams p = { 1, 0.5, 0.25, 0.375 };
  const gfloat one = 1.0f;
  const gfloat sims[] = { 0.25f, 0.375f, 0.5f, 0.3125f, 0.5f };
  ClipTagState *ts = clip_tag_state_new (1, NULL);
  GString *all = g_string_new (NULL);
  gfloat sm, ssim;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (sims); i++) {
    gchar *t = push_sims (ts, &p, &one, &sims[i], &sm, &ssim);
    g_assert_cmpfloat (ssim, ==, sims[i]);
    g_string_append_printf (all, "%s.", t);
    g_free (t);
  }
  /* below: off; at the gate: on; still above: no change; below: off */
  g_assert_cmpstr (all->str, ==, ".+0..-0.+0.");
  g_string_free (all, TRUE);
  clip_tag_state_free (ts);
}

static void
test_similarity_is_smoothed (void)
{
  ClipTagParams p = { 2, 0.5, 0.25, 0.5 };
  const gfloat one = 1.0f, lo = 0.25f, hi = 0.875f;
  ClipTagState *ts = clip_tag_state_new (1, NULL);
  ClipTagChange ch[1];
  gfloat sm, ssim;
  gchar *t;

  t = push_sims (ts, &p, &one, &lo, &sm, &ssim);
  g_assert_cmpstr (t, ==, "");
  g_free (t);
  /* (0.25 + 0.875) / 2 = 0.5625 reaches the gate */
  t = push_sims (ts, &p, &one, &hi, &sm, &ssim);
  g_assert_cmpfloat (ssim, ==, 0.5625f);
  g_assert_cmpstr (t, ==, "+0");
  g_free (t);
  /* closing reports the last smoothed cosine */
  g_assert_cmpuint (clip_tag_state_close (ts, ch), ==, 1);
  g_assert_cmpfloat (ch[0].similarity, ==, 0.5625f);
  clip_tag_state_free (ts);
}

static void
test_silent_labels_never_on (void)
{
  ClipTagParams p = { 1, 0.5, 0.25, -1.0 };
  const gboolean silent[] = { FALSE, TRUE };
  const gfloat s1[] = { 0.125f, 0.875f }, s2[] = { 0.75f, 0.25f };
  ClipTagState *ts = clip_tag_state_new (2, silent);
  ClipTagChange ch[2];
  gfloat sm[2];
  gchar *t;

  /* the background label wins the softmax: nothing turns on */
  t = push (ts, &p, s1, sm);
  g_assert_cmpstr (t, ==, "");
  g_assert_cmpfloat (sm[1], ==, 0.875f);
  g_free (t);
  t = push (ts, &p, s2, sm);
  g_assert_cmpstr (t, ==, "+0");
  g_free (t);
  t = push (ts, &p, s1, sm);
  g_assert_cmpstr (t, ==, "-0");
  g_free (t);
  g_assert_cmpuint (clip_tag_state_close (ts, ch), ==, 0);
  clip_tag_state_free (ts);
}

static void
test_pool_mean_of_unit_embeddings (void)
{
  ClipTagState *ts = clip_tag_state_new (1, NULL);
  const gfloat a[] = { 3.0f, 4.0f }, b[] = { 0.0f, 2.0f }, c[] = { 5.0f, 0.0f };
  gfloat mean[2];

  /* each embedding counts normalized: (0.6, 0.8), (0, 1), (1, 0) */
  clip_tag_state_pool (ts, 2, a, 2, mean);
  g_assert_cmpfloat_with_epsilon (mean[0], 0.6, 1e-6);
  g_assert_cmpfloat_with_epsilon (mean[1], 0.8, 1e-6);
  clip_tag_state_pool (ts, 2, b, 2, mean);
  g_assert_cmpfloat_with_epsilon (mean[0], 0.3, 1e-6);
  g_assert_cmpfloat_with_epsilon (mean[1], 0.9, 1e-6);
  /* window 2: a has left */
  clip_tag_state_pool (ts, 2, c, 2, mean);
  g_assert_cmpfloat_with_epsilon (mean[0], 0.5, 1e-6);
  g_assert_cmpfloat_with_epsilon (mean[1], 0.5, 1e-6);
  /* a discontinuity empties the window */
  clip_tag_state_reset (ts);
  clip_tag_state_pool (ts, 2, b, 2, mean);
  g_assert_cmpfloat (mean[0], ==, 0.0f);
  g_assert_cmpfloat (mean[1], ==, 1.0f);
  clip_tag_state_free (ts);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tagstate/window-mean", test_window_mean);
  g_test_add_func ("/tagstate/window-change-restarts",
      test_window_change_restarts);
  g_test_add_func ("/tagstate/on-at-threshold", test_on_at_threshold);
  g_test_add_func ("/tagstate/off-below-threshold-off",
      test_off_below_threshold_off);
  g_test_add_func ("/tagstate/hysteresis", test_hysteresis);
  g_test_add_func ("/tagstate/smoothing-delays-on", test_smoothing_delays_on);
  g_test_add_func ("/tagstate/reset-on-discont", test_reset_on_discont);
  g_test_add_func ("/tagstate/reset-keeps-on", test_reset_keeps_on);
  g_test_add_func ("/tagstate/close-at-eos", test_close_at_eos);
  g_test_add_func ("/tagstate/top-k", test_top_k);
  g_test_add_func ("/tagstate/min-similarity-gate", test_min_similarity_gate);
  g_test_add_func ("/tagstate/similarity-is-smoothed",
      test_similarity_is_smoothed);
  g_test_add_func ("/tagstate/silent-labels-never-on",
      test_silent_labels_never_on);
  g_test_add_func ("/tagstate/pool-mean-of-unit-embeddings",
      test_pool_mean_of_unit_embeddings);
  return g_test_run ();
}
