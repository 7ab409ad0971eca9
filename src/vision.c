/* vision.c — to be written (forward work). */
