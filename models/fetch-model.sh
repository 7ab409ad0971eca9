#!/bin/sh
# fetch-model.sh NAME — downloads a published CLIP checkpoint from the
# Hugging Face hub in the layout clipfilter loads, into
# ${XDG_DATA_HOME:-~/.local/share}/clipfilter/models/<short-name>, where the
# element finds it by name (model=<short-name>).
#
# NAME is a hub repository (owner/name) or the short name of a known one:
#   clip-vit-base-patch32              openai/clip-vit-base-patch32
#   clip-vit-base-patch16              openai/clip-vit-base-patch16
#   clip-vit-large-patch14             openai/clip-vit-large-patch14
#   CLIP-ViT-B-32-laion2B-s34B-b79K    laion/CLIP-ViT-B-32-laion2B-s34B-b79K
#
# Downloads show progress and resume (curl -C -). Every file is verified:
# LFS files (the weights) against the sha256 the hub's API lists, small files
# against the git blob id it lists. Exit status: 0 done, 1 usage, 2 no
# network / hub unreachable, 3 checksum mismatch or missing file.
# Environment: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN
# (optional, for gated repositories), CLIPFILTER_MODELS_DIR (destination
# parent directory, overrides the XDG default).
set -eu

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 1
}

[ $# -eq 1 ] || usage
case "$1" in -h|--help) usage ;; esac

case "$1" in
  */*) repo=$1 ;;
  clip-vit-base-patch32|clip-vit-base-patch16|clip-vit-large-patch14|clip-vit-large-patch14-336)
    repo=openai/$1 ;;
  CLIP-ViT-B-32-laion2B-s34B-b79K|CLIP-ViT-B-16-laion2B-s34B-b88K|CLIP-ViT-L-14-laion2B-s32B-b82K)
    repo=laion/$1 ;;
  *) echo "fetch-model.sh: unknown model '$1': give a hub repository as owner/name" >&2; exit 1 ;;
esac
short=${repo##*/}
endpoint=${HF_ENDPOINT:-https://huggingface.co}
dest_parent=${CLIPFILTER_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/clipfilter/models}
dest=$dest_parent/$short

for tool in curl python3 sha256sum; do
  command -v $tool >/dev/null 2>&1 || { echo "fetch-model.sh: '$tool' is required" >&2; exit 1; }
done

auth=
[ -n "${HF_TOKEN:-}" ] && auth="Authorization: Bearer $HF_TOKEN"

meta=$(mktemp)
trap 'rm -f "$meta"' EXIT

# The file list with sizes and checksums (blobs=true adds the LFS sha256).
echo "fetching file list of $repo from $endpoint ..."
if ! curl -fsSL --connect-timeout 15 --retry 2 ${auth:+-H "$auth"} \
    -o "$meta" "$endpoint/api/models/$repo?blobs=true"; then
  echo "fetch-model.sh: cannot reach $endpoint (no network, a proxy needed, or '$repo' does not exist)." >&2
  echo "  Nothing was downloaded. On a machine with network access, run this script there and" >&2
  echo "  copy $dest to the same place here; see docs/checkpoints.md." >&2
  exit 2
fi

# One line per wanted file: name, size, kind (lfs|git), checksum.
plan=$(python3 - "$meta" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
files = {s["rfilename"]: s for s in m.get("siblings", [])}
want = ["config.json", "vocab.json", "merges.txt", "preprocessor_config.json"]
if "model.safetensors" in files:
    want.append("model.safetensors")
elif "pytorch_model.bin" in files:
    want.append("pytorch_model.bin")
else:
    sys.exit("no model.safetensors or pytorch_model.bin in the repository")
for f in want:
    s = files.get(f)
    if s is None:
        sys.exit(f"the repository has no {f}")
    if s.get("lfs"):
        print(f, s["lfs"]["size"], "lfs", s["lfs"]["sha256"])
    else:
        print(f, s.get("size", 0), "git", s.get("blobId", ""))
EOF
) || { echo "fetch-model.sh: $repo is not in the Hugging Face CLIP layout clipfilter loads" >&2; exit 3; }

mkdir -p "$dest"

# git blob id: sha1 of "blob <size>\0<content>"
git_blob_id() {
  { printf 'blob %s\0' "$(wc -c < "$1" | tr -d ' ')"; cat "$1"; } | sha1sum | cut -d' ' -f1
}

verify() { # file kind checksum
  case $2 in
    lfs) [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$3" ] ;;
    git) [ -z "$3" ] || [ "$(git_blob_id "$1")" = "$3" ] ;;
  esac
}

echo "$plan" | while read -r name size kind sum; do
  out=$dest/$name
  if [ -f "$out" ] && verify "$out" "$kind" "$sum"; then
    echo "$name: already present, checksum OK"
    continue
  fi
  echo "$name ($size bytes)"
  # .part keeps an interrupted download resumable and never looks complete
  rc=0
  curl -fL --connect-timeout 15 --retry 3 -C - --progress-bar ${auth:+-H "$auth"} \
      -o "$out.part" "$endpoint/$repo/resolve/main/$name" || rc=$?
  if [ $rc -eq 33 ]; then # the server cannot resume: start this file again
    rm -f "$out.part"
    rc=0
    curl -fL --connect-timeout 15 --retry 3 --progress-bar ${auth:+-H "$auth"} \
        -o "$out.part" "$endpoint/$repo/resolve/main/$name" || rc=$?
  fi
  if [ $rc -ne 0 ]; then
    echo "fetch-model.sh: download of $name failed; run the same command again to resume" >&2
    exit 2
  fi
  if ! verify "$out.part" "$kind" "$sum"; then
    echo "fetch-model.sh: $name: checksum mismatch ($kind $sum); removed the download" >&2
    rm -f "$out.part"
    exit 3
  fi
  mv "$out.part" "$out"
  echo "$name: checksum OK"
done

if [ -f "$dest/pytorch_model.bin" ] && [ ! -f "$dest/model.safetensors" ]; then
  echo "note: $repo publishes only pytorch_model.bin; convert it to model.safetensors"
  echo "      before use (docs/checkpoints.md, 'Converting other checkpoints')."
fi
echo "done: $dest  (use it as model=$short)"
