/* clip-tool tokenize — STUB, to be implemented. */
#include <stdio.h>

#include "tool.h"

int
cmd_tokenize(int argc, char **argv)
{
  (void) argc;
  (void) argv;
  fprintf(stderr, "clip-tool tokenize: not implemented yet\n");
  return 1;
}
