#!/usr/bin/env python3
"""Prints a table from the JSON files of bench/run-all.sh: python3 bench/summarize.py OUT_DIR"""
import glob
import json
import os
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "."
g = os.path.join(out, "gemm.json")
if os.path.exists(g):
    d = json.load(open(g))
    for v in d["vision"]:
        print(f"GEMM floor ViT-B/32 batch {v['batch']:2d} (ms/image): {v['gemm_floor_ms']}")
    print(f"GEMM floor text 8x77 (ms): {d['text']['gemm_floor_ms']}")
print()
print("config                 load_ms 1st_result first_ms  min_ms  med_ms  floor  min/floor  model_floor  fwd/model_floor(min,med)"
      "  text_ms(T) text/floor_run text/model_floor  rss/budget outside")
for f in sorted(glob.glob(os.path.join(out, "bench-*.json"))):
    try:
        d = json.load(open(f))
    except ValueError:
        continue
    t = d.get("text", {})
    p = d.get("profile", {})
    print(f"{d['backend']:8s} {d['precision']} b{d['batch']:<3d}  {d['load_ms']:8.0f} {d['first_result_ms']:10.0f} {d['first_pass_ms']:8.0f}"
          f" {d['ms_per_image_min']:7.1f} {d['ms_per_image_median']:7.1f} {d['gemm_floor_ms_per_image']:6.1f}"
          f" {d['ratio_to_floor_min']:9.2f} {d['model_floor_ms_per_image_min']:11.1f}"
          f"   {d['ratio_to_model_floor_min']:9.2f} {d['ratio_to_model_floor_median']:5.2f}"
          f"        {t.get('ms_min', 0):6.1f}({t.get('tokens_run', 0)}) {t.get('ratio_to_floor_run_min', 0):8.2f}"
          f" {t.get('ratio_to_model_floor_min', 0):14.2f}"
          f"   {d['peak_rss_mb']:5.0f}/{d['rss_budget_mb']:.0f} {p.get('share_outside_products', 0):6.3f}")
