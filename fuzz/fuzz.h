/* fuzz.h — shared by the fuzz targets: each defines LLVMFuzzerTestOneInput
 * (and may define LLVMFuzzerInitialize); libFuzzer drives them under
 * scripts/fuzz.sh, driver.c replays their corpus and regression inputs in
 * the normal test suite. */
#ifndef CLIP_FUZZ_H
#define CLIP_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A private temporary directory for the process (removed at exit). */
const char *fuzz_tmpdir(void);

/* Writes size bytes to name inside fuzz_tmpdir(); returns the path (static
 * storage per name slot: valid until the next call with the same slot). */
const char *fuzz_write(int slot, const char *name, const void *data, size_t size);

/* Writes size bytes to path (no fsync: fast and disposable). */
void fuzz_write_path(const char *path, const void *data, size_t size);

/* Aborts with a message: a finding, for libFuzzer and the replay alike. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
