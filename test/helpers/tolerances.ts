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
