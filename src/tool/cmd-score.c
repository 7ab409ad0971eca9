/* clip-tool score — STUB, to be implemented. */
#include <stdio.h>

#include "tool.h"

int
cmd_score(int argc, char **argv)
{
  (void) argc;
  (void) argv;
  fprintf(stderr, "clip-tool score: not implemented yet\n");
  return 1;
}
