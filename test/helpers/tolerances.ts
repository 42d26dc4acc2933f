// The tolerances of the op tests, in one place, each with the reason for its size.

/**
 * Gradient check: autodiff vs central finite differences, both in float64 through the reference
 * evaluator. With step FD_EPS the difference quotient is off by ~eps²·f‴ (truncation, ~1e-12) plus
 * ~2⁻⁵²·|loss|/eps (rounding, ~1e-9 for the small losses here), so an element passes when
 * |autodiff − fd| ≤ GRAD_ATOL + GRAD_RTOL·|fd|, three orders of magnitude above that noise and far
 * below the error of any wrong rule (a wrong term is O(1)).
 */
export const FD_EPS = 1e-6;
export const GRAD_ATOL = 1e-6;
export const GRAD_RTOL = 1e-6;

/**
 * Parity: ONNX Runtime in float32 vs the reference evaluator on the same float32 inputs. The
 * reference rounds elementwise results to float32 but sums in float64, so this bounds ORT's float32
 * error for sums of at most a few hundred unit-scale terms: |ort − ref| ≤ PARITY_ATOL + PARITY_RTOL·|ref|.
 * Integer and boolean outputs must match exactly.
 */
export const PARITY_ATOL = 1e-5;
export const PARITY_RTOL = 1e-4;

/** Parity in float64, where ORT has double kernels: both sides round only at ~2⁻⁵³, in different orders. */
export const PARITY64_ATOL = 1e-12;
export const PARITY64_RTOL = 1e-10;

/**
 * Objectives against PyTorch (the golden-state fixtures of reference/make_*_objective_fixtures.py):
 * ONNX Runtime in float32 against PyTorch in float64 on the same float32 weights and inputs, so these
 * bound our float32 error through a whole model, its loss and autodiff's gradients. One step of the
 * tiny prior is as exact as a single layer (|Δ| ≤ 1e-5 + 1e-4·|torch|, as test/nn/layers.test.ts).
 */
export const OBJECTIVE = { atol: 1e-5, rtol: 1e-4 };

/**
 * Ten training steps against PyTorch from the same weights on the same batches: float32 rounding in
 * the forward and backward passes (~1e-7 relative) feeds Adam, whose update lr·m̂/(√v̂ + ε) is close to
 * ±lr for any gradient well above ε, so differences grow slowly over the steps instead of cancelling.
 * Losses, statistics and learning rates: TRAJECTORY; every weight and EMA value after the last step:
 * TRAJECTORY_WEIGHTS.
 */
export const TRAJECTORY = { atol: 1e-5, rtol: 1e-4 };
export const TRAJECTORY_WEIGHTS = { atol: 1e-5, rtol: 1e-4 };

/**
 * Weights with no gradient (the fixtures list them: the attention key bias, which a softmax ignores; with
 * 32 channels in GroupNorm's 32 groups every bias that only shifts channels into a norm; D's last bias
 * while every logit lies inside the hinge). Both sides' gradients there are rounding noise (~1e-17 in
 * PyTorch's float64, ~1e-9 in our float32), which Adam scales into real steps, each side its own way.
 * Adam's step is about lr at most (|Δ| ≲ α, Kingma & Ba 2015, §2.1), so two independent walks differ by
 * about 2·Σ lr at most; seen: up to 1/4 of that. These weights change no output.
 */
export function nullDirectionWeights(lrs: number[]): { atol: number; rtol: number } {
  return { atol: 2 * lrs.reduce((a, b) => a + b, 0), rtol: 0 };
}

/**
 * The VQGAN's codebook term over ten steps: it reads the encoder's output directly (the L1 term only
 * through the chosen codes). An encoder weight whose gradient is below float32's rounding of its
 * neighbours (seen: −1.1e-7 among values ~0.3 in encoder.blocks.6.conv1.weight) gets Adam's first step of
 * ±0.9·lr with the opposite sign, which moved the codebook loss by 1.1e-5 at step 1 and by up to 7.3e-5
 * (1.4e-4 relative) later. (PyTorch in float32, which kept that weight's sign, drifted 1.8e-6 here.)
 */
export const VQGAN_CODEBOOK_TRAJECTORY = { atol: 1e-5, rtol: 1e-3 };

