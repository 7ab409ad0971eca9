/* clip-tool bench — STUB, to be implemented. */
#include <stdio.h>

#include "tool.h"

int
cmd_bench(int argc, char **argv)
{
  (void) argc;
  (void) argv;
  fprintf(stderr, "clip-tool bench: not implemented yet\n");
  return 1;
}
