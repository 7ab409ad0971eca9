/* clip-tool random-model — STUB, to be implemented. */
#include <stdio.h>

#include "tool.h"

int
cmd_random_model(int argc, char **argv)
{
  (void) argc;
  (void) argv;
  fprintf(stderr, "clip-tool random-model: not implemented yet\n");
  return 1;
}
