/* clip-tool — command-line face of the CLIP engine. */
#include <stdio.h>
#include <string.h>

#include "tool.h"

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *usage;
} commands[] = {
  { "info", cmd_info, "info MODEL" },
  { "tokenize", cmd_tokenize, "tokenize --model MODEL [--context N] (TEXT... | --jsonl FILE)" },
  { "run", cmd_run, "run MODEL --input IN.safetensors --output OUT.safetensors" },
  { "preprocess", cmd_preprocess, "preprocess --input RGB.safetensors --output OUT.safetensors [--model MODEL] [--size S]" },
  { "score", cmd_score, "score MODEL IMAGE PROMPT... [--template T]..." },
  { "random-model", cmd_random_model, "random-model --arch ViT-B-32|ViT-B-16|ViT-L-14 --seed N [--vocab DIR] OUT_DIR" },
  { "bench", cmd_bench, "bench MODEL [--batch B] [--runs N] [--threads T] [--backend openblas|onednn] [--precision fp32|bf16] [--text N] [--profile]" },
};

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
    if (!strcmp(argv[1], commands[i].name))
      return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "clip-tool: unknown command '%s'\n", argv[1]);
  return usage(stderr);
}
