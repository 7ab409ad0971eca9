/* transformer.c — to be written (forward work). */
