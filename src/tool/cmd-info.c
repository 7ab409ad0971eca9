/* clip-tool info — STUB, to be implemented. */
#include <stdio.h>

#include "tool.h"

int
cmd_info(int argc, char **argv)
{
  (void) argc;
  (void) argv;
  fprintf(stderr, "clip-tool info: not implemented yet\n");
  return 1;
}
