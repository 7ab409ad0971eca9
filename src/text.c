/* text.c — to be written (forward work). */
