// VQGAN configuration: validated at the boundary (CLI, JSON files, checkpoints), defaults written once.
import { z } from 'zod';
import { DIFF_AUGMENTS } from './diffaugment.ts';
import { parseConfig } from './parse-config.ts';

export const VqganConfigSchema = z
  .object({
    channels: z.number().int().min(1).max(4).default(3),
    imageSize: z.number().int().min(8).default(256),
    nf: z.number().int().min(32).default(128),
    chMult: z.array(z.number().int().min(1)).min(1).default([1, 1, 2, 2, 4]),
    resBlocks: z.number().int().min(1).default(2),
    attnResolutions: z.array(z.number().int().min(1)).default([16]),
    codebookSize: z.number().int().min(2).default(1024),
    embDim: z.number().int().min(1).default(256),
    beta: z.number().min(0).default(0.25),
    ndf: z.number().int().min(1).default(64),
    discLayers: z.number().int().min(1).default(3),
    discStartStep: z.number().int().min(0).default(30001),
    discWeightMax: z.number().min(0).default(1),
    /**
     * 'none'; 'disc-features' (L1 between discriminator activations of x and x̂, needs no pretrained
     * weights); or the path of an ONNX feature network (e.g. an exported LPIPS-VGG trunk), imported
     * into the training graph so gradients flow through it (perceptual.ts). The file is read and
     * checked when training starts (checkPerceptualNet), not here: a trained model loads without it.
     */
    perceptual: z
      .string()
      .refine((p) => p === 'none' || p === 'disc-features' || p.toLowerCase().endsWith('.onnx'), {
        message: "must be 'none', 'disc-features' or the path of an .onnx feature network",
      })
      .default('none'),
    perceptualWeight: z.number().min(0).default(1),
    /**
     * DiffAugment before the discriminator (diffaugment.ts): '' for none, or a comma list of color,
     * translation, cutout (the paper used color,translation for every model).
     */
    diffAugment: z
      .string()
      .refine((s) => s.trim() === '' || s.split(',').every((p) => (DIFF_AUGMENTS as readonly string[]).includes(p.trim())), {
        message: `must be '' or a comma list of ${DIFF_AUGMENTS.join(', ')}`,
      })
      .default(''),
    emaDecay: z.number().min(0).max(1).default(0.995),
    /** Re-initialise codes unused for this many steps from recent encoder outputs (0 disables). */
    deadCodeSteps: z.number().int().min(0).default(100),
    lr: z.number().positive().default(4.5e-6 * 4),
    batch: z.number().int().min(1).default(4),
    /**
     * How the training images were brought to imageSize×imageSize, so that a user's image is prepared
     * the same way before it is encoded (data/prepare.ts). Set from the data set when training starts;
     * model folders written before it was recorded read as 'cover' on white, as they were then fitted.
     */
    input: z
      .object({
        fit: z.enum(['cover', 'contain', 'fill']),
        content: z.number().int().min(1).optional(),
        background: z.number().min(0).max(1),
      })
      .strict()
      .default({ fit: 'cover', background: 1 }),
  })
  .strict()
  .superRefine((c, ctx) => {
    const down = 2 ** (c.chMult.length - 1);
    if (c.imageSize % down !== 0) {
      ctx.addIssue({ code: 'custom', path: ['imageSize'], message: `must be divisible by ${down} (2^(levels−1) for chMult of length ${c.chMult.length})` });
    }
    // L stride-2 convs, then two 4×4 stride-1 convs that each lose a pixel: the PatchGAN must keep ≥ 1.
    if (c.imageSize / 2 ** c.discLayers < 3) {
      ctx.addIssue({ code: 'custom', path: ['discLayers'], message: `${c.discLayers} discriminator layers are too many for ${c.imageSize}-px images (need imageSize / 2^discLayers ≥ 3)` });
    }
    if (c.input.content !== undefined && (c.input.content > c.imageSize || (c.imageSize - c.input.content) % 2)) {
      ctx.addIssue({ code: 'custom', path: ['input', 'content'], message: `must be at most imageSize (${c.imageSize}) and leave an even border` });
    }
    for (const m of c.chMult) {
      if ((c.nf * m) % 32 !== 0) ctx.addIssue({ code: 'custom', path: ['nf'], message: `nf·chMult (${c.nf * m}) must be a multiple of 32 for GroupNorm(32)` });
    }
  });

export type VqganConfig = z.output<typeof VqganConfigSchema>;

/** Reference settings for 256×256 (LSUN, FFHQ) — docs/method.md §1. */
export const VQGAN_256: VqganConfig = VqganConfigSchema.parse({});

/** Small configurations that train on two CPU cores. */
export const VQGAN_PRESETS: Record<string, Partial<VqganConfig>> = {
  fashion: {
    channels: 1,
    imageSize: 32,
    nf: 32,
    chMult: [1, 2, 2],
    resBlocks: 1,
    attnResolutions: [8],
    codebookSize: 128,
    embDim: 32,
    ndf: 32,
    discLayers: 2,
    // No adversarial term: on 32 px greyscale it traded PSNR for instability (seen at step 2000, λ = 1).
    discStartStep: 1_000_000,
    lr: 4.5e-6 * 16 * 8,
    batch: 16,
  },
  emoji: {
    channels: 3,
    imageSize: 32,
    nf: 64,
    chMult: [1, 2, 2],
    resBlocks: 1,
    attnResolutions: [8],
    codebookSize: 256,
    embDim: 64,
    ndf: 32,
    discLayers: 2,
    discStartStep: 1_000_000,
    lr: 4.5e-6 * 16 * 8,
    batch: 16,
  },
};

/** Validates a config object; errors name the field (for one-line CLI messages). */
export function parseVqganConfig(raw: unknown): VqganConfig {
  return parseConfig(VqganConfigSchema, raw, 'VQGAN');
}

export function latentSize(c: VqganConfig): number {
  return c.imageSize / 2 ** (c.chMult.length - 1);
}
