/* ops.c — to be written (forward work). */
