/* clip-tool preprocess — STUB, to be implemented. */
#include <stdio.h>

#include "tool.h"

int
cmd_preprocess(int argc, char **argv)
{
  (void) argc;
  (void) argv;
  fprintf(stderr, "clip-tool preprocess: not implemented yet\n");
  return 1;
}
