#!/usr/bin/env bash
# clip-index throughput and search speed, as ratios measured in one run.
#   bench/bench-index.sh BUILD_DIR [FILES] [SECONDS] [SEGMENTS]
# defaults: 3 files of 60 s 1080p30 H.264 (4:2:0, 1 s GOP, B-frames), 10^6
# synthetic segments. Needs x264enc and avdec_h264, and the reference kit's
# tokenizer (../shared/clip-reference/tiny-b32) for the ViT-B/32-shaped
# random model. Prints one JSON object.
#
# 1. decode_all_s: every frame decoded (`decodebin ! fakesink`), file by file.
# 2. decode_sampled_s: what the indexer decodes (`clip-index add --decode-only`).
# 3. infer_s: samples x ms/image of `clip-tool bench` (batch 4) at that precision.
# 4. add_s: `clip-index add` end to end; limit = decode_sampled_s + infer_s
#    (decode and inference share the cores, so their serial sum is the limit);
#    ratio_to_limit = limit / add_s (1.0 = no overhead), ratio_to_decode_all
#    = add_s / decode_all_s.
# 5. element_bf16_s: the element way (decodebin ! videoconvert ! clipfilter
#    sync, 1 sample/s, bf16, embedding attached), file by file.
# 6. peak RSS of add over one file and over all files.
# 7. search over SEGMENTS synthetic rows: process wall time and scan time,
#    medians of 5 with the int8 prefilter (the default: the AVX-512 VNNI
#    kernel where the CPU has it), the same with the portable C kernel
#    (--portable-scan), with the float32 scan (--fp32-scan) and with the
#    text tower on oneDNN instead of OpenBLAS (--backend onednn) in the same
#    run, the copies already built; the hits must be the same (the oneDNN
#    embedding may differ in the last bits, so its hits are not compared).
#    FILES=0 runs this part only. _min: the fastest of the 5, the one the
#    other processes of a shared machine disturbed least.
set -euo pipefail
build=$(cd "$1" && pwd) files=${2:-3} secs=${3:-60} segments=${4:-1000000}
ci=$build/index/clip-index tool=$build/src/clip-tool synth=$build/index/synth-index
kit=${CLIP_REFERENCE_DIR:-$(dirname "$0")/../../shared/clip-reference}/tiny-b32
work=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work"
calc() { awk "BEGIN { printf \"%.4f\", $1 }"; }
now() { date +%s.%N; }
min() { printf '%s\n' "$@" | sort -g | head -n1; }

model=$work/vit-b-32
if [ ! -f "$model/model.safetensors" ]; then
  "$tool" random-model --arch ViT-B-32 --seed 1 "$model" >/dev/null
  cp "$kit/vocab.json" "$kit/merges.txt" "$model/"
fi

out="{\n  \"uptime_at_start\": \"$(uptime | sed 's/.*load/load/')\",\n"
if [ "$files" -gt 0 ]; then
vids=()
for i in $(seq 1 "$files"); do
  f=$work/v$i-${secs}s.mp4
  vids+=("$f")
  [ -f "$f" ] && continue
  # A moving test card and a bouncing ball: real motion, so P/B-frames cost
  # what they cost in real video.
  gst-launch-1.0 -q videotestsrc pattern=smpte horizontal-speed=$((i + 1)) num-buffers=$((secs * 30)) \
    ! video/x-raw,width=1920,height=1080,framerate=30/1 ! videoconvert ! video/x-raw,format=I420 \
    ! x264enc key-int-max=30 bframes=2 speed-preset=veryfast bitrate=8000 ! mp4mux \
    ! filesink location="$f"
done
video_s=$((files * secs))

t0=$(now)
for f in "${vids[@]}"; do
  gst-launch-1.0 -q filesrc location="$f" ! decodebin ! fakesink sync=false
done
decode_all=$(calc "$(now) - $t0")

t0=$(now)
"$ci" add "$work/unused.db" "${vids[@]}" --decode-only --json >"$work/dec.json"
decode_sampled=$(calc "$(now) - $t0")
samples=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['samples'])" "$work/dec.json")

out+="  \"files\": $files, \"seconds_each\": $secs, \"video_seconds\": $video_s, \"samples\": $samples,\n"
out+="  \"decode_all_s\": $decode_all, \"decode_sampled_s\": $decode_sampled,\n"
out+="  \"decode_sampled_ratio_to_decode_all\": $(calc "$decode_sampled / $decode_all"),\n"
for prec in bf16 fp32; do
  ms=$("$tool" bench "$model" --batch 4 --runs 8 --precision $prec --backend onednn --floor-seconds 0.05 2>/dev/null |
    python3 -c "import json,sys; print(json.load(sys.stdin)['ms_per_image_median'])")
  infer=$(calc "$samples * $ms / 1000")
  rm -f "$work/i-$prec.db"*
  t0=$(now)
  /usr/bin/time -f %M -o "$work/rss-$prec" "$ci" add "$work/i-$prec.db" "${vids[@]}" --model "$model" \
    --precision $prec --backend onednn --json >"$work/add-$prec.json"
  add=$(calc "$(now) - $t0")
  [ $prec = bf16 ] && add_bf16=$add
  limit=$(calc "$decode_sampled + $infer")
  out+="  \"$prec\": {\"ms_per_image\": $ms, \"infer_s\": $infer, \"add_s\": $add, \"limit_s\": $limit,"
  out+=" \"video_s_per_wall_s\": $(calc "$video_s / $add"), \"ratio_to_limit\": $(calc "$limit / $add"),"
  out+=" \"ratio_to_decode_all\": $(calc "$add / $decode_all"), \"peak_rss_mb\": $(calc "$(cat "$work/rss-$prec") / 1024")},\n"
done
# The element way: every frame decoded, one sample per second analyzed in
# sync mode with the embedding attached (what an application with a bus
# listener or pad probe would store).
t0=$(now)
for f in "${vids[@]}"; do
  GST_PLUGIN_PATH="$build/gst" gst-launch-1.0 -q filesrc location="$f" ! decodebin ! videoconvert \
    ! clipfilter model="$model" prompts="a;b" mode=sync interval=1000000000 batch-size=4 \
      precision=bf16 backend=onednn attach-embedding=true ! fakesink sync=false
done
element=$(calc "$(now) - $t0")
out+="  \"element_bf16_s\": $element, \"add_bf16_ratio_to_element\": $(calc "$add_bf16 / $element"),\n"
# -j 2 (two files at once, each context on one thread)
rm -f "$work/j2.db"*
t0=$(now)
"$ci" add "$work/j2.db" "${vids[@]}" --model "$model" --precision bf16 --backend onednn -j 2 --threads 1 >/dev/null
out+="  \"bf16_j2_add_s\": $(calc "$(now) - $t0"),\n"
# peak memory: one file vs all of them
rm -f "$work/one.db"*
/usr/bin/time -f %M -o "$work/rss-one" "$ci" add "$work/one.db" "${vids[0]}" --model "$model" --precision bf16 --backend onednn >/dev/null
out+="  \"peak_rss_mb_one_file\": $(calc "$(cat "$work/rss-one") / 1024"), \"peak_rss_mb_all_files\": $(calc "$(cat "$work/rss-bf16") / 1024"),\n"

fi

# search
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
sdb=$work/synth-$segments.db
[ -f "$sdb" ] || "$synth" "$sdb" "$model" 512 "$segments"
"$ci" search "$sdb" "a ball" --top 10 --json >"$work/hits-int8" # builds INDEX.matrix and INDEX.qmatrix once
"$ci" search "$sdb" "a ball" --top 10 --json --fp32-scan >"$work/hits-fp32"
"$ci" search "$sdb" "a ball" --top 10 --json --portable-scan >"$work/hits-portable"
cmp -s "$work/hits-int8" "$work/hits-fp32" && cmp -s "$work/hits-int8" "$work/hits-portable" && same=true || same=false
search_json=""
for mode in int8 portable fp32 onednn; do
  flag=""
  [ $mode = fp32 ] && flag=--fp32-scan
  [ $mode = portable ] && flag=--portable-scan
  [ $mode = onednn ] && flag="--backend onednn"
  walls=() pcpus=() scans=() cpus=() loads=() embeds=()
  for _ in 1 2 3 4 5; do
    t0=$(now)
    /usr/bin/time -f "%U %S" -o "$work/ptime" "$ci" search "$sdb" "a ball" --top 10 --timing $flag 2>"$work/timing" >/dev/null
    walls+=("$(calc "($(now) - $t0) * 1000")")
    pcpus+=("$(awk '{ printf "%.0f", ($1 + $2) * 1000 }' "$work/ptime")")
    scans+=("$(sed -n 's/.*scan [a-z0-9]* \([0-9.]*\) ms.*/\1/p' "$work/timing")")
    cpus+=("$(sed -n 's/.*CPU \([0-9.]*\) ms.*/\1/p' "$work/timing")")
    loads+=("$(sed -n 's/model load \([0-9.]*\) ms.*/\1/p' "$work/timing")")
    embeds+=("$(sed -n 's/.*query embed \([0-9.]*\) ms.*/\1/p' "$work/timing")")
  done
  eval "${mode}_process=$(median "${walls[@]}") ${mode}_scan=$(median "${scans[@]}")"
  search_json+=" \"$mode\": {\"process_ms\": $(median "${walls[@]}"), \"process_ms_min\": $(min "${walls[@]}"), \"process_cpu_ms\": $(median "${pcpus[@]}"),"
  search_json+=" \"scan_ms\": $(median "${scans[@]}"), \"scan_ms_min\": $(min "${scans[@]}"), \"scan_cpu_ms\": $(median "${cpus[@]}"),"
  search_json+=" \"model_load_ms\": $(median "${loads[@]}"), \"query_embed_ms\": $(median "${embeds[@]}"),"
  search_json+=" \"kernel\": \"$(sed -n 's/.*total [0-9.]* ms, \([a-z0-9-]*\)$/\1/p' "$work/timing")\"},"
done
# the floor of a scan: reading each copy once from the page cache
t0=$(now); cat "$sdb.matrix" >/dev/null; read_ms=$(calc "($(now) - $t0) * 1000")
t0=$(now); cat "$sdb.qmatrix" >/dev/null; qread_ms=$(calc "($(now) - $t0) * 1000")
out+="  \"search\": {\"segments\": $segments, \"dim\": 512, \"medians_of\": 5,$search_json"
out+=" \"same_hits\": $same, \"process_ratio_int8_to_fp32\": $(calc "$int8_process / $fp32_process"),"
out+=" \"scan_ratio_int8_to_fp32\": $(calc "$int8_scan / $fp32_scan"),"
out+=" \"scan_ratio_int8_to_portable\": $(calc "$int8_scan / $portable_scan"),"
out+=" \"process_ratio_openblas_to_onednn\": $(calc "$int8_process / $onednn_process"),"
out+=" \"matrix_read_ms\": $read_ms, \"qmatrix_read_ms\": $qread_ms},\n"
out+="  \"uptime_at_end\": \"$(uptime | sed 's/.*load/load/')\"\n}"
printf "$out\n"
