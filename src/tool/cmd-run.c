/* clip-tool run — STUB, to be implemented. */
#include <stdio.h>

#include "tool.h"

int
cmd_run(int argc, char **argv)
{
  (void) argc;
  (void) argv;
  fprintf(stderr, "clip-tool run: not implemented yet\n");
  return 1;
}
