#!/usr/bin/env bash
# Regenerates the example images in docs/ from trained models.
# Usage: scripts/make-docs.sh fashion runs/fashion-prior runs/fashion-vqgan 1   (name, prior run, VQGAN run, channels)
# (the VQGAN run is optional: without it the reconstructions image is left as it is).
# (inputs come from the data set's validation split via scripts/dump-images.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1
model=$2
u="npx unmask"
mkdir -p docs/inputs
npx tsx scripts/dump-images.ts "$name" docs/inputs 0 1 2 3 5 8
in=docs/inputs/$name-val
# the model's recommended sampling (recorded from its evaluation by unmask export --report), as unmask sample does by default
$u sample --model "$model" --n 16 --seed 1 --scale 3 --out "docs/$name-samples.png"
# a class-conditional model: eight of each class, one image per class (docs/NAME-class-I.png, I the class index)
classes=$($u models --json | node -e "const m = JSON.parse(require('fs').readFileSync(0, 'utf8')).find((x) => x.name === process.argv[1]); console.log((m?.classes ?? []).join('\n'))" "$name")
if [ -n "$classes" ]; then
  i=0
  while IFS= read -r class; do
    $u sample --model "$model" --class "$class" --n 8 --seed 1 --scale 3 --out "docs/$name-class-$i.png"
    i=$((i + 1))
  done <<< "$classes"
fi
for steps in 8 32 64; do
  $u sample --model "$model" --n 16 --steps "$steps" --temp 0.9 --seed 1 --scale 3 --out "docs/$name-samples-${steps}steps.png"
done
$u sample   --model "$model" --n 16 --steps 8 --temp 0.9 --schedule confidence --seed 1 --scale 3 --out "docs/$name-samples-8steps-confidence.png"
$u complete --model "$model" --in "$in-0.png" --keep top --n 4 --steps 32 --seed 1 --scale 3 --out "docs/$name-complete.png"
$u inpaint  --model "$model" --in "$in-1.png" --box 8,8,16,16 --n 4 --steps 32 --seed 1 --scale 3 --out "docs/$name-inpaint.png"
$u stitch   --model "$model" --left "$in-2.png" --right "$in-3.png" --seam 2 --n 4 --steps 32 --seed 1 --scale 3 --out "docs/$name-stitch.png"
$u extend   --model "$model" --size 96x32 --n 2 --steps 64 --seed 1 --scale 3 --out "docs/$name-extend.png"
$u extend   --model "$model" --size 64x64 --in "$in-5.png" --at 16,16 --n 2 --steps 64 --seed 1 --scale 3 --out "docs/$name-outpaint.png"
if [ -n "${3:-}" ]; then
  npx tsx scripts/upscale-png.ts "$3/reconstructions.png" "docs/$name-vqgan-reconstructions.png" 3 "${4:-3}"  # the tokenizer run: originals over reconstructions
fi
