/* test-prompts.c — the prompt syntax parser (clip_prompts_parse): labels,
 * synonyms, templates, blanks and empty pieces, and every error with the
 * input that causes it. No model needed. */
#include <string.h>

#include "clip.h"
#include "testutil.h"

static void
test_labels_and_synonyms(void)
{
  clip_prompts p;
  clip_error err = { 0 };
  g_assert_cmpint(
      clip_prompts_parse("person cooking|person frying food;person dancing", NULL, &p, &err), ==,
      CLIP_OK);
  g_assert_cmpint(p.n_labels, ==, 2);
  g_assert_cmpstr(p.names[0], ==, "person cooking");
  g_assert_cmpstr(p.names[1], ==, "person dancing");
  g_assert_null(p.names[2]);
  g_assert_cmpstr(p.specs[0], ==, "person cooking|person frying food");
  g_assert_cmpstr(p.specs[1], ==, "person dancing");
  g_assert_cmpint(p.n_templates, ==, 0);
  g_assert_nonnull(p.templates);
  g_assert_null(p.templates[0]);
  clip_prompts_free(&p);
}

static void
test_blanks_and_empty_pieces(void)
{
  clip_prompts p;
  /* blanks around separators go; empty labels and synonyms are dropped */
  g_assert_cmpint(
      clip_prompts_parse(" a dog ; ;\t| ;a cat | kitten || ;", " ; a photo of {}. ;", &p, NULL), ==,
      CLIP_OK);
  g_assert_cmpint(p.n_labels, ==, 2);
  g_assert_cmpstr(p.names[0], ==, "a dog");
  g_assert_cmpstr(p.specs[1], ==, "a cat|kitten");
  g_assert_cmpstr(p.names[1], ==, "a cat");
  g_assert_cmpint(p.n_templates, ==, 1);
  g_assert_cmpstr(p.templates[0], ==, "a photo of {}.");
  clip_prompts_free(&p);
  clip_prompts_free(&p); /* freeing twice is harmless: the struct is cleared */
}

static void
test_templates(void)
{
  clip_prompts p;
  g_assert_cmpint(clip_prompts_parse("x", "a photo of a {}.;{}: a {} scene", &p, NULL), ==,
                  CLIP_OK);
  g_assert_cmpint(p.n_templates, ==, 2);
  g_assert_cmpstr(p.templates[1], ==, "{}: a {} scene");
  clip_prompts_free(&p);
  g_assert_cmpint(clip_prompts_parse("x", "", &p, NULL), ==, CLIP_OK);
  g_assert_cmpint(p.n_templates, ==, 0);
  clip_prompts_free(&p);
}

/* Parses and expects CLIP_ERR_ARG with a message containing want, and out
 * left empty. */
static void
expect_error(const char *prompts, const char *templates, const char *want)
{
  clip_prompts p;
  clip_error err = { 0 };
  g_assert_cmpint(clip_prompts_parse(prompts, templates, &p, &err), ==, CLIP_ERR_ARG);
  g_assert_cmpint(err.status, ==, CLIP_ERR_ARG);
  if (!strstr(err.message, want))
    g_error("'%s' lacks '%s'", err.message, want);
  g_assert_cmpint(p.n_labels, ==, 0);
  g_assert_null(p.names);
  g_assert_null(p.templates);
  clip_prompts_free(&p);
}

static void
test_errors(void)
{
  expect_error(NULL, NULL, "no prompts given");
  expect_error("", NULL, "contain no label");
  expect_error(";;|;", NULL, "contain no label");
  expect_error(" | ; ", NULL, "contain no label");
  expect_error("a cat;\xff\xfe dog", NULL, "prompts are not valid UTF-8 (byte 6)");
  expect_error("a cat", "a {}\xc3", "templates are not valid UTF-8 (byte 4)");
  expect_error("a cat", "a photo of {};a photo", "template \"a photo\" has no {} placeholder");
  /* a template error wins over a missing label: both inputs are checked */
  expect_error(";", "no placeholder", "has no {} placeholder");
  clip_error err = { 0 };
  g_assert_cmpint(clip_prompts_parse("a", NULL, NULL, &err), ==, CLIP_ERR_ARG);
  g_assert_nonnull(strstr(err.message, "out is NULL"));
  clip_prompts_free(NULL);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/prompts/labels-and-synonyms", test_labels_and_synonyms);
  g_test_add_func("/prompts/blanks-and-empty-pieces", test_blanks_and_empty_pieces);
  g_test_add_func("/prompts/templates", test_templates);
  g_test_add_func("/prompts/errors", test_errors);
  return g_test_run();
}
