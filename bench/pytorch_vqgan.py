"""The VQGAN of docs/method.md §1 in PyTorch 1.13, for two checks unmask does not need at test time:

  --names FILE   dump parameter names and shapes of the reference 256-px config (a test fixture)
  --quant FILE   dump a quantizer fixture: z, codebook, indices, loss and gradients
  --bench        time training steps (L1 + codebook loss, Adam) of the `fashion` preset (or
                 --config emoji), batch 16, 2 threads, to compare with `unmask bench vqgan`

Run with Debian's python3 (apt-get install python3-torch): /usr/bin/python3 bench/pytorch_vqgan.py --bench
"""
import argparse, json, time
import torch
import torch.nn as nn
import torch.nn.functional as F


def Normalize(c):
    return nn.GroupNorm(32, c, eps=1e-6, affine=True)


class ResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.cin, self.cout = cin, cout
        self.norm1 = Normalize(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2 = Normalize(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.conv_out = nn.Conv2d(cin, cout, 1)  # created in every block, as the reference does

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (self.conv_out(x) if self.cin != self.cout else x)


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = Normalize(c)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        h = self.norm(x)
        b, c, hh, ww = x.shape
        q = self.q(h).reshape(b, c, hh * ww).permute(0, 2, 1)
        k = self.k(h).reshape(b, c, hh * ww)
        w = torch.softmax(torch.bmm(q, k) * c ** -0.5, dim=2)
        v = self.v(h).reshape(b, c, hh * ww)
        out = torch.bmm(v, w.permute(0, 2, 1)).reshape(b, c, hh, ww)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 2, 0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Encoder(nn.Module):
    def __init__(self, cin, nf, emb, ch_mult, res_blocks, resolution, attn_res):
        super().__init__()
        blocks = [nn.Conv2d(cin, nf, 3, 1, 1)]
        ch, res = nf, resolution
        for i, m in enumerate(ch_mult):
            for _ in range(res_blocks):
                blocks.append(ResBlock(ch, nf * m)); ch = nf * m
                if res in attn_res: blocks.append(AttnBlock(ch))
            if i != len(ch_mult) - 1:
                blocks.append(Downsample(ch)); res //= 2
        blocks += [ResBlock(ch, ch), AttnBlock(ch), ResBlock(ch, ch), Normalize(ch), nn.Conv2d(ch, emb, 3, 1, 1)]
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        for b in self.blocks: x = b(x)
        return x


class Generator(nn.Module):
    def __init__(self, cout, nf, emb, ch_mult, res_blocks, resolution, attn_res):
        super().__init__()
        ch = nf * ch_mult[-1]
        res = resolution // 2 ** (len(ch_mult) - 1)
        blocks = [nn.Conv2d(emb, ch, 3, 1, 1), ResBlock(ch, ch), AttnBlock(ch), ResBlock(ch, ch)]
        for i in reversed(range(len(ch_mult))):
            for _ in range(res_blocks):
                blocks.append(ResBlock(ch, nf * ch_mult[i])); ch = nf * ch_mult[i]
                if res in attn_res: blocks.append(AttnBlock(ch))
            if i != 0:
                blocks.append(Upsample(ch)); res *= 2
        blocks += [Normalize(ch), nn.Conv2d(ch, cout, 3, 1, 1)]
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        for b in self.blocks: x = b(x)
        return x


class Quantizer(nn.Module):
    def __init__(self, k, d, beta):
        super().__init__()
        self.beta = beta
        self.embedding = nn.Embedding(k, d)
        self.embedding.weight.data.uniform_(-1.0 / k, 1.0 / k)

    def forward(self, z):
        zp = z.permute(0, 2, 3, 1).contiguous()
        flat = zp.view(-1, zp.shape[-1])
        e = self.embedding.weight
        d = (flat ** 2).sum(1, keepdim=True) + (e ** 2).sum(1) - 2 * flat @ e.t()
        idx = d.argmin(1)
        zq = e[idx].view(zp.shape)
        loss = torch.mean((zq.detach() - zp) ** 2) + self.beta * torch.mean((zq - zp.detach()) ** 2)
        zq = zp + (zq - zp).detach()
        return zq.permute(0, 3, 1, 2).contiguous(), loss, idx


class Discriminator(nn.Module):
    def __init__(self, cin, ndf, layers):
        super().__init__()
        seq = [nn.Conv2d(cin, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
        mult = 1
        for n in range(1, layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2 if n < layers else 1, 1, bias=False), nn.BatchNorm2d(ndf * mult), nn.LeakyReLU(0.2)]
        seq += [nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.main = nn.Sequential(*seq)


class VQGAN(nn.Module):
    def __init__(self, channels=3, size=256, nf=128, ch_mult=(1, 1, 2, 2, 4), res_blocks=2, attn=(16,), k=1024, emb=256, ndf=64, disc_layers=3):
        super().__init__()
        self.encoder = Encoder(channels, nf, emb, ch_mult, res_blocks, size, attn)
        self.quantize = Quantizer(k, emb, 0.25)
        self.generator = Generator(channels, nf, emb, ch_mult, res_blocks, size, attn)
        self.disc = Discriminator(channels, ndf, disc_layers)

    def forward(self, x):
        zq, cb, idx = self.quantize(self.encoder(x))
        return self.generator(zq), cb, idx


FASHION = dict(channels=1, size=32, nf=32, ch_mult=(1, 2, 2), res_blocks=1, attn=(8,), k=128, emb=32, ndf=32, disc_layers=2)
EMOJI = dict(FASHION, channels=3, nf=64, k=256, emb=64)
PRESETS = {"fashion": FASHION, "emoji": EMOJI}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--names")
    ap.add_argument("--quant")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--config", choices=sorted(PRESETS), default="fashion", help="preset for --bench (src/models/vqgan-config.ts)")
    a = ap.parse_args()
    torch.manual_seed(0)
    if a.names:
        m = VQGAN()
        json.dump({k: list(v.shape) for k, v in m.state_dict().items() if "num_batches_tracked" not in k}, open(a.names, "w"), indent=0)
    if a.quant:
        q = Quantizer(8, 4, 0.25)
        z = torch.randn(2, 4, 3, 3, requires_grad=True)
        zq, loss, idx = q(z)
        r = torch.randn_like(zq)
        total = loss + (zq * r).sum()
        total.backward()
        json.dump({"z": z.detach().flatten().tolist(), "codebook": q.embedding.weight.detach().flatten().tolist(), "r": r.flatten().tolist(),
                   "indices": idx.tolist(), "loss": loss.item(), "zq": zq.detach().flatten().tolist(),
                   "grad_z": z.grad.flatten().tolist(), "grad_codebook": q.embedding.weight.grad.flatten().tolist()}, open(a.quant, "w"))
    if a.bench:
        torch.set_num_threads(2)
        preset = PRESETS[a.config]
        m = VQGAN(**preset)
        ae = list(m.encoder.parameters()) + list(m.quantize.parameters()) + list(m.generator.parameters())
        opt = torch.optim.Adam(ae, lr=1e-4)
        x = torch.rand(16, preset["channels"], preset["size"], preset["size"])
        times = []
        for i in range(a.steps + 3):
            t = time.perf_counter()
            xh, cb, _ = m(x)
            loss = (x - xh).abs().mean() + cb
            opt.zero_grad(); loss.backward(); opt.step()
            if i >= 3: times.append(time.perf_counter() - t)
        times.sort()
        med = times[len(times) // 2]
        print(json.dumps({"case": "vqgan_train_step", "config": a.config, "batch": 16, "ms": med * 1000, "images_per_second": 16 / med}))


if __name__ == "__main__":
    main()
