/* tool.h — clip-tool subcommands; each returns the process exit status
 * (0 ok, 1 failure, 2 usage error). */
#ifndef CLIP_TOOL_H
#define CLIP_TOOL_H

int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_preprocess(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_random_model(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
