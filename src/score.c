/* score.c — to be written (forward work). */
