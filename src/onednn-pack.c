/* onednn-pack.c — the packed-weight file of the oneDNN backend.
 *
 * Packing a ViT-B/32 writes ~490 MB (fp32) of fresh memory, and the kernel
 * clears every fresh page before the reorder can fill it: that, not the
 * reorders' arithmetic, is most of a load. So the packed bytes of a model
 * are saved once into one file in the user's cache directory, and later
 * loads map that file: its pages come from the page cache, shared by every
 * process using the model, and nothing is copied.
 *
 * The file is used only when it was written from the same weights file
 * (device, inode, size, modification and change time of the descriptor the
 * checkpoint was read from), by the same oneDNN version,
 * for the same precision, and when every layer asks for the layout stored
 * for it (which also covers a different CPU); otherwise the layers are
 * packed as usual and the file is rewritten. Writers write a private
 * temporary file and rename it into place, so concurrent loads see either
 * the old file or a complete new one. */
#include "onednn-pack.h"

#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PACK_MAGIC "CLIPWPK2"
#define PACK_ALIGN ((uint64_t) 4096)
/* Smaller models load fast anyway; they leave no file behind. */
#define PACK_MIN_BYTES ((size_t) 64 << 20)

typedef struct {
  char magic[8];
  uint32_t bf16, n_layers;
  /* the weights file: the change time moves on every write, also when the
   * modification time is set back afterwards (cp -p, rsync -t) */
  uint64_t dev, ino, size, mtime_s, mtime_ns, ctime_s, ctime_ns;
  uint32_t dnnl_major, dnnl_minor, dnnl_patch, md_bytes;
  char dnnl_hash[48];
} pack_header;

typedef struct {
  int32_t K, N;
  uint64_t offset, bytes;
  dnnl_memory_desc_t md;
} pack_record;

/* A layer built on the engine, as the file stores it. */
typedef struct {
  int K, N;
  dnnl_memory_desc_t md;
  dnnl_memory_t wei; /* the layer's packed weights */
} pack_layer;

struct pack_file {
  char *path;
  pack_header want; /* the header a valid file has */
  void *map;        /* the valid file's mapping, or NULL */
  size_t map_len;
  const pack_record *recs;
  bool stale;       /* some layer was packed here: write the file */
  GThread *writer;  /* writing it, or NULL */
  pack_layer *made; /* the layers in creation order, for the writer */
  int n_made, cap_made;
};

void
onednn_pack_close(pack_file *pf)
{
  if (!pf)
    return;
  if (pf->writer)
    g_thread_join(pf->writer);
  if (pf->map)
    munmap(pf->map, pf->map_len);
  free(pf->made);
  g_free(pf->path);
  free(pf);
}

/* The directory: $CLIP_WEIGHT_CACHE, or the user's cache directory
 * (~/.cache/clipfilter); CLIP_WEIGHT_CACHE=off turns the file off. */
static char *
pack_dir(void)
{
  const char *env = g_getenv("CLIP_WEIGHT_CACHE");
  if (env && !strcmp(env, "off"))
    return NULL;
  if (env && *env)
    return g_strdup(env);
  return g_build_filename(g_get_user_cache_dir(), "clipfilter", NULL);
}

pack_file *
onednn_pack_open(const char *weights, const struct stat *id, const char *variant, bool bf16)
{
  struct stat sb;
  char *dir = NULL;
  if (id)
    sb = *id;
  if (!weights || (!id && stat(weights, &sb) != 0) || !(dir = pack_dir()))
    return NULL;
  pack_file *pf = calloc(1, sizeof *pf);
  if (!pf) {
    g_free(dir);
    return NULL;
  }
  /* One file per weights path and precision: a replaced model overwrites
   * its predecessor's file instead of adding one. */
  char *abs = g_canonicalize_filename(weights, NULL), *base = g_path_get_basename(weights);
  char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, abs, -1);
  char *name = g_strdup_printf("%s-%.16s-onednn-%s%s%s.packed", base, sum, bf16 ? "bf16" : "fp32",
                               variant && *variant ? "-" : "", variant ? variant : "");
  pf->path = g_build_filename(dir, name, NULL);
  g_free(abs), g_free(base), g_free(sum), g_free(name), g_free(dir);

  pack_header *h = &pf->want;
  memcpy(h->magic, PACK_MAGIC, 8);
  h->bf16 = bf16;
  h->dev = (uint64_t) sb.st_dev, h->ino = (uint64_t) sb.st_ino, h->size = (uint64_t) sb.st_size;
  h->mtime_s = (uint64_t) sb.st_mtim.tv_sec, h->mtime_ns = (uint64_t) sb.st_mtim.tv_nsec;
  h->ctime_s = (uint64_t) sb.st_ctim.tv_sec, h->ctime_ns = (uint64_t) sb.st_ctim.tv_nsec;
  const dnnl_version_t *v = dnnl_version();
  h->dnnl_major = (uint32_t) v->major, h->dnnl_minor = (uint32_t) v->minor;
  h->dnnl_patch = (uint32_t) v->patch, h->md_bytes = sizeof(dnnl_memory_desc_t);
  g_strlcpy(h->dnnl_hash, v->hash ? v->hash : "", sizeof h->dnnl_hash);
  int fd = open(pf->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return pf;
  struct stat fb;
  if (fstat(fd, &fb) == 0 && (size_t) fb.st_size >= sizeof(pack_header)) {
    void *map = mmap(NULL, (size_t) fb.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (map != MAP_FAILED) {
      pf->map = map, pf->map_len = (size_t) fb.st_size;
      pack_header have;
      memcpy(&have, map, sizeof have);
      have.n_layers = 0;
      uint64_t n = ((const pack_header *) map)->n_layers;
      bool ok = !memcmp(&have, h, sizeof have)
                && sizeof(pack_header) + n * sizeof(pack_record) <= pf->map_len;
      pf->recs = (const pack_record *) ((const char *) map + sizeof(pack_header));
      for (uint64_t i = 0; ok && i < n; i++)
        ok = pf->recs[i].offset % PACK_ALIGN == 0 && pf->recs[i].offset <= pf->map_len
             && pf->recs[i].bytes <= pf->map_len - pf->recs[i].offset;
      if (ok) {
        h->n_layers = (uint32_t) n; /* the records this file has */
      } else {
        munmap(map, pf->map_len);
        pf->map = NULL, pf->recs = NULL;
      }
    }
  }
  close(fd);
  return pf;
}

const void *
onednn_pack_next(pack_file *pf, int K, int N, const dnnl_memory_desc_t *md)
{
  int i = pf->n_made;
  const pack_record *r = pf->map && i < (int) pf->want.n_layers ? &pf->recs[i] : NULL;
  if (!r || r->K != K || r->N != N || r->bytes != dnnl_memory_desc_get_size(md)
      || !dnnl_memory_desc_equal(&r->md, md)) {
    pf->stale = true;
    return NULL;
  }
  return (const char *) pf->map + r->offset;
}

bool
onednn_pack_add(pack_file *pf, int K, int N, const dnnl_memory_desc_t *md, dnnl_memory_t wei)
{
  if (pf->n_made == pf->cap_made) {
    int cap = pf->cap_made ? 2 * pf->cap_made : 64;
    pack_layer *m = realloc(pf->made, (size_t) cap * sizeof *m);
    if (!m)
      return false;
    pf->made = m, pf->cap_made = cap;
  }
  pf->made[pf->n_made++] = (pack_layer){ K, N, *md, wei };
  return true;
}

static bool
write_all(int fd, const void *p, size_t n)
{
  for (const char *c = p; n > 0;) {
    ssize_t w = write(fd, c, n);
    if (w <= 0)
      return false;
    c += w, n -= (size_t) w;
  }
  return true;
}

/* What the writer thread writes: plain bytes, no oneDNN object. */
typedef struct {
  char *path;
  pack_header h;
  pack_record *recs;
  const void **data; /* [h.n_layers], the layers' packed bytes */
} pack_job;

static gpointer
pack_write(gpointer arg)
{
  pack_job *j = arg;
  const uint32_t n = j->h.n_layers;
  char *dir = g_path_get_dirname(j->path);
  char *tmp = g_strconcat(j->path, ".XXXXXX", NULL);
  int fd = -1;
  bool ok = g_mkdir_with_parents(dir, 0700) == 0 && (fd = g_mkstemp(tmp)) >= 0;
  ok = ok && write_all(fd, &j->h, sizeof j->h) && write_all(fd, j->recs, n * sizeof *j->recs);
  for (uint32_t i = 0; ok && i < n; i++)
    ok = lseek(fd, (off_t) j->recs[i].offset, SEEK_SET) == (off_t) j->recs[i].offset
         && write_all(fd, j->data[i], j->recs[i].bytes);
  uint64_t end = n ? j->recs[n - 1].offset + j->recs[n - 1].bytes : 0;
  /* Durable before it is visible: a crash must not leave a renamed file
   * whose data never reached the disk. */
  ok = ok && ftruncate(fd, (off_t) end) == 0 && fsync(fd) == 0;
  if (fd >= 0 && close(fd) != 0)
    ok = false;
  if (ok)
    ok = rename(tmp, j->path) == 0;
  if (!ok && fd >= 0)
    unlink(tmp);
  g_free(dir), g_free(tmp), g_free(j->path);
  free(j->recs), free(j->data), free(j);
  return NULL;
}

void
onednn_pack_join(pack_file *pf)
{
  if (pf && pf->writer) {
    g_thread_join(pf->writer);
    pf->writer = NULL;
  }
}

void
onednn_pack_save(pack_file *pf)
{
  if (!pf || pf->writer || (!pf->stale && pf->n_made == (int) pf->want.n_layers) || pf->n_made == 0)
    return;
  size_t total = 0;
  for (int i = 0; i < pf->n_made; i++)
    total += dnnl_memory_desc_get_size(&pf->made[i].md);
  if (total < PACK_MIN_BYTES)
    return;
  pack_job *j = calloc(1, sizeof *j);
  if (!j)
    return;
  j->h = pf->want;
  j->h.n_layers = (uint32_t) pf->n_made;
  j->recs = calloc((size_t) pf->n_made, sizeof *j->recs);
  j->data = calloc((size_t) pf->n_made, sizeof *j->data);
  j->path = g_strdup(pf->path);
  if (!j->recs || !j->data) {
    free(j->recs), free(j->data), g_free(j->path), free(j);
    return;
  }
  uint64_t at =
      (sizeof j->h + (size_t) pf->n_made * sizeof *j->recs + PACK_ALIGN - 1) & ~(PACK_ALIGN - 1);
  for (int i = 0; i < pf->n_made; i++) {
    pack_record *r = &j->recs[i];
    r->K = pf->made[i].K, r->N = pf->made[i].N;
    r->md = pf->made[i].md;
    r->bytes = dnnl_memory_desc_get_size(&r->md);
    r->offset = at;
    at = (at + r->bytes + PACK_ALIGN - 1) & ~(PACK_ALIGN - 1);
    void *data = NULL;
    dnnl_memory_get_data_handle(pf->made[i].wei, &data);
    j->data[i] = data;
  }
  /* Writing and syncing ~0.5 GB takes longer than the packing: it runs
   * beside the first passes, and freeing a layer or the engine waits for
   * it. */
  pf->writer = g_thread_try_new("clip-pack-write", pack_write, j, NULL);
  if (!pf->writer)
    pack_write(j);
}
