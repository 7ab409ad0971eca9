/* tool.h — clip-tool subcommands; each returns the process exit status
 * (0 ok, 1 failure, 2 usage error). */
#ifndef CLIP_TOOL_H
#define CLIP_TOOL_H

#include "clip.h"

/* A model by name or path, found as the element finds it: a path to free(),
 * or NULL with @err naming the directories searched. */
char *tool_model_path(const char *name, clip_error *err);
/* clip_model_load() of tool_model_path(@name). */
clip_model *tool_model_load(const char *name, const clip_params *params, clip_error *err);

int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_preprocess(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_random_model(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
