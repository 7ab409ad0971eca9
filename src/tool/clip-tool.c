/* clip-tool — command-line face of the CLIP engine. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tool.h"

char *
tool_model_path(const char *name, clip_error *err)
{
  /* The element's directories: a model installed or in this source tree
   * is found by name, as model=NAME finds it. */
  const char *const dirs[] = { CLIPFILTER_MODELS_INSTALL_DIR, CLIPFILTER_MODELS_SOURCE_DIR, NULL };
  char *searched = NULL;
  char *path = clip_model_resolve(name, dirs, &searched);
  if (!path)
    clip_set_error(err, CLIP_ERR_IO,
                   "model '%s' not found (searched: %s); download a published checkpoint with "
                   "models/fetch-model.sh, e.g. 'models/fetch-model.sh clip-vit-base-patch32'",
                   name, searched ? searched : "");
  free(searched);
  return path;
}

clip_model *
tool_model_load(const char *name, const clip_params *params, clip_error *err)
{
  char *path = tool_model_path(name, err);
  clip_model *model = path ? clip_model_load(path, params, err) : NULL;
  free(path);
  return model;
}

#define MODEL_HELP                                                                                 \
  "  MODEL: a checkpoint path, or the name of an installed model (e.g. clipfilter-mini),\n"        \
  "  found as the element's model property finds it\n"

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *usage;
  const char *help;
} commands[] = {
  { "info", cmd_info, "info MODEL",
    "  prints the model's architecture and parameters as JSON\n" MODEL_HELP },
  { "tokenize", cmd_tokenize, "tokenize --model MODEL [--context N] (TEXT... | --jsonl FILE)",
    "  prints the token ids of each text (MODEL, or a directory with vocab.json and "
    "merges.txt)\n" MODEL_HELP },
  { "run", cmd_run, "run MODEL --input IN.safetensors --output OUT.safetensors",
    "  runs both towers on the tensors of IN and writes the embeddings\n" MODEL_HELP },
  { "preprocess", cmd_preprocess,
    "preprocess --input RGB.safetensors --output OUT.safetensors [--model MODEL] [--size S]",
    "  resizes, crops and normalizes RGB images as the model's input\n" MODEL_HELP },
  { "score", cmd_score, "score MODEL IMAGE PROMPT... [--template T]...",
    "  scores one image against prompts and prints similarities and probabilities as JSON\n"
    "  IMAGE: PPM/PGM, or PNG/JPEG/... when built with GStreamer\n"
    "  PROMPT: a label, or synonyms 'a|b' whose embeddings are averaged\n"
    "  --template T: e.g. 'a photo of {}.' (repeatable; default '{}')\n" MODEL_HELP },
  { "random-model", cmd_random_model,
    "random-model --arch ViT-B-32|ViT-B-16|ViT-L-14 --seed N [--vocab DIR] OUT_DIR",
    "  writes a checkpoint of that architecture with random weights to OUT_DIR\n"
    "  --vocab DIR: copy vocab.json and merges.txt from DIR (default: a byte-level tokenizer)\n" },
  { "bench", cmd_bench,
    "bench MODEL [--batch B] [--runs N] [--threads T] [--backend openblas|onednn] [--precision "
    "fp32|bf16] [--text N] [--text-tokens L] [--profile] [--floor-seconds S]",
    "  times model start-up and image/text encoding\n" MODEL_HELP },
};

/* "--help"/"-h" anywhere after the command (up to a "--") asks for its
 * usage, before the command sees options it would reject. */
static bool
wants_help(int argc, char **argv)
{
  for (int i = 2; i < argc && strcmp(argv[i], "--"); i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
      return true;
  return false;
}

static int
usage(FILE *out)
{
  fprintf(out, "usage: clip-tool COMMAND [ARGS]\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(out, "  clip-tool %s\n", commands[i].usage);
  return out == stderr ? 2 : 0;
}

int
main(int argc, char **argv)
{
  if (argc < 2)
    return usage(stderr);
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
    return usage(stdout);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(argv[1], commands[i].name)) {
      if (wants_help(argc, argv)) {
        printf("usage: clip-tool %s\n%s", commands[i].usage, commands[i].help);
        return 0;
      }
      return commands[i].run(argc - 1, argv + 1);
    }
  fprintf(stderr, "clip-tool: unknown command '%s'\n", argv[1]);
  return usage(stderr);
}
