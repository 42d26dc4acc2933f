// Fréchet Inception Distance (Heusel et al. 2017) in any feature space: fit a Gaussian to each set of
// features and take the Fréchet (2-Wasserstein) distance between the two,
//   FID = |μ₁ − μ₂|² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁ Σ₂)^½.
// pytorch-fid takes tr sqrtm(Σ₁Σ₂); Σ₁Σ₂ is similar to the symmetric Σ₁^½ Σ₂ Σ₁^½, so
// tr (Σ₁Σ₂)^½ = Σᵢ √λᵢ(Σ₁^½ Σ₂ Σ₁^½), which needs only symmetric eigendecompositions (ml-matrix),
// real arithmetic throughout, and no ε fix-up for near-singular covariances.
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { EvalError, type Features, checkFeatures } from './features.ts';

export interface Gaussian {
  mean: Float64Array;
  /** Unbiased (n − 1) covariance, as np.cov. */
  cov: Matrix;
}

/** Mean and covariance of `f`, in float64. */
export function fitGaussian(f: Features): Gaussian {
  const { n, d, data } = f;
  if (n < 2) throw new EvalError(`a covariance needs at least 2 samples, got ${n}`, 'evaluate more images (--n)');
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += data[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  const centred = new Matrix(n, d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) centred.set(i, j, data[i * d + j] - mean[j]);
  const cov = centred.transpose().mmul(centred).div(n - 1);
  return { mean, cov };
}

/** The eigenvalues and eigenvectors of a symmetric matrix (symmetrised first against rounding). */
function symmetricEigen(m: Matrix): { values: number[]; vectors: Matrix } {
  const sym = Matrix.add(m, m.transpose()).div(2);
  const e = new EigenvalueDecomposition(sym, { assumeSymmetric: true });
  return { values: e.realEigenvalues, vectors: e.eigenvectorMatrix };
}

/** The PSD square root V diag(√max(λ, 0)) Vᵀ of a symmetric matrix. */
export function sqrtPsd(m: Matrix): Matrix {
  const { values, vectors } = symmetricEigen(m);
  const scaled = vectors.clone();
  for (let j = 0; j < values.length; j++) {
    const s = Math.sqrt(Math.max(values[j], 0));
    for (let i = 0; i < scaled.rows; i++) scaled.set(i, j, scaled.get(i, j) * s);
  }
  return scaled.mmul(vectors.transpose());
}

/** Fréchet distance between two Gaussians. */
export function frechetDistance(a: Gaussian, b: Gaussian): number {
  const d = a.mean.length;
  if (b.mean.length !== d) throw new EvalError(`the Gaussians have dimensions ${d} and ${b.mean.length}`, 'fit both with the same feature network');
  let meanTerm = 0;
  for (let j = 0; j < d; j++) meanTerm += (a.mean[j] - b.mean[j]) ** 2;
  const rootA = sqrtPsd(a.cov);
  const { values } = symmetricEigen(rootA.mmul(b.cov).mmul(rootA));
  const traceRoot = values.reduce((s, v) => s + Math.sqrt(Math.max(v, 0)), 0);
  return meanTerm + a.cov.trace() + b.cov.trace() - 2 * traceRoot;
}

/**
 * FID between real and generated features. Each covariance is estimated from its own samples, so
 * each set needs more samples than dimensions (d + 1 for a full-rank estimate); the estimate is
 * biased upwards at small n, so compare FIDs only at equal n.
 */
export function fid(real: Features, fake: Features): number {
  checkFeatures('FID', real, fake, real.d + 1, `one more than the ${real.d} feature dimensions, for a full-rank covariance`);
  return frechetDistance(fitGaussian(real), fitGaussian(fake));
}
