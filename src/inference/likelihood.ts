// An image's likelihood under the model. The prior bounds −log p(z) of the image's codes (the ELBO of
// the absorbing process; the autoregressive baseline gives it exactly). With the decoder's Gaussian
// log σ head, −log p(x | z) follows too, and the two give bits per dimension of the image as the paper
// reports them (its reference code: experiments/calc_approximate_ELBO.py).
import type { Images } from '../data/images.ts';
import { elboTimes, validationElbo } from '../diffusion/elbo.ts';
import { validationNll } from './autoregressive.ts';
import type { UnmaskModel } from './model.ts';

export interface Likelihood {
  /** 'ELBO' (an upper bound on −log p(z), absorbing prior) or 'exact NLL' (autoregressive prior). */
  bound: 'ELBO' | 'exact NLL';
  /** −log p(z) (or its bound) of the image's codes, bits per token. */
  bitsPerToken: number;
  tokens: number;
  /** −log p(x | z) in nats under the decoder's Gaussian, when the tokenizer has the log σ head, else null. */
  nllGivenCodes: number | null;
  /** Bits per dimension of the image (see `bitsPerDim`), when the tokenizer has the log σ head, else null. */
  bitsPerDim: number | null;
}

/**
 * Bits per dimension from −log p(x | z) and −log p(z) in nats over `dims` = pixels × channels, as the
 * reference computes it: images in [0, 1] are 5-bit data (32 levels per unit), so the continuous
 * density becomes a probability by adding ln 32 per dimension.
 */
export function bitsPerDim(nllGivenCodes: number, priorNats: number, dims: number): number {
  return (nllGivenCodes + priorNats + Math.log(32) * dims) / (dims * Math.LN2);
}

/**
 * The likelihood of one image of the model's size, [0, 1] CHW (`image.n` = 1). The ELBO uses one
 * random mask per time step t = 1 … N, drawn from `seed`, as the reference's estimator does.
 */
export async function likelihood(model: UnmaskModel, image: Images, o: { seed?: number } = {}): Promise<Likelihood> {
  const tok = model.tokenizer;
  const head = tok.hasLikelihoodHead ? await tok.nll(image.data, 1) : null;
  const codes = head?.codes ?? (await tok.encode(image.data, 1));
  const n = model.prior.latent ** 2;
  const latents = { count: 1, tokens: codes };
  const bitsPerToken = model.prior.causal ? await validationNll(model.prior, model.priorParams, latents) : await validationElbo(model.prior, model.priorParams, latents, elboTimes(n, n), o.seed ?? 0);
  const nll = head ? head.nats[0] : null;
  const dims = image.channels * image.height * image.width;
  return {
    bound: model.prior.causal ? 'exact NLL' : 'ELBO',
    bitsPerToken,
    tokens: n,
    nllGivenCodes: nll,
    bitsPerDim: nll === null ? null : bitsPerDim(nll, bitsPerToken * n * Math.LN2, dims),
  };
}
