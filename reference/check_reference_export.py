"""Loads the files of `unmask export --format reference` into the reference implementation's modules
(as built by make_torch_checkpoints.py, with the reference's names) with load_state_dict(strict=True),
and runs them once: the check that PyTorch takes back what unmask writes.

  node bin/unmask.js export --model emoji --format reference --out /tmp/emoji-ref
  /usr/bin/python3 reference/check_reference_export.py /tmp/emoji-ref

The VQGAN file holds the autoencoder (`ae.*`, and `disc.*` when the model has a discriminator); the
reference's VQGAN wrapper also has LPIPS (`perceptual.*`, from the lpips package), so the autoencoder is
loaded strictly on its own. The prior file is loaded strictly into AbsorbingDiffusion.
"""
import glob
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from make_torch_checkpoints import AbsorbingDiffusion, VQAutoEncoder  # noqa: E402

folder = sys.argv[1]
h = json.load(open(os.path.join(folder, "hparams.json")))
c = dict(size=h["img_size"], nf=h["nf"], ch_mult=tuple(h["ch_mult"]), res_blocks=h["res_blocks"], attn=tuple(h["attn_resolutions"]), k=h["codebook_size"], emb=h["emb_dim"])
assert h["n_channels"] == 3, "the reference modules here are built for RGB"

sd = torch.load(glob.glob(os.path.join(folder, "vqgan_ema_*.th"))[0])
ae = VQAutoEncoder(c)
ae.load_state_dict({k[3:]: v for k, v in sd.items() if k.startswith("ae.")}, strict=True)
with torch.no_grad():
    x = torch.rand(1, 3, c["size"], c["size"])
    z = ae.encoder(x)
    print(f"VQGAN: {len(ae.state_dict())} tensors loaded strictly; {x.shape[-1]} px → latents {tuple(z.shape)}; other keys: {sorted({k.split('.')[0] for k in sd if not k.startswith('ae.')})}")

files = glob.glob(os.path.join(folder, "absorbing_ema_*.th"))
if files:
    prior = AbsorbingDiffusion(dict(latent=h["latent_shape"][1], k=h["codebook_size"], d=h["bert_n_emb"], layers=h["bert_n_layers"], heads=h["bert_n_head"]))
    prior.load_state_dict(torch.load(files[0]), strict=True)
    with torch.no_grad():
        logits = prior._denoise_fn(torch.full((1, h["block_size"]), h["codebook_size"], dtype=torch.long))
    print(f"prior: {len(prior.state_dict())} tensors loaded strictly; logits {tuple(logits.shape)} for an all-masked grid")
