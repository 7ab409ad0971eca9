/* ops.h — the numeric kernels of the forward pass (forward work). */
#ifndef CLIP_OPS_H
#define CLIP_OPS_H
#endif
