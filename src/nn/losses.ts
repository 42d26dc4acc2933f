// Losses as separate functions of model outputs (models return logits).
import * as F from '../engine/api.ts';
import { GraphError, type Tensor } from '../engine/graph.ts';

/**
 * Per-position cross-entropy −log softmax(logits)[target], logits [..., K], targets int64 [...].
 * With `mask` (float, same shape as targets) positions where it is 0 contribute 0, and their
 * targets may be anything (e.g. the mask token id K, outside the K classes).
 */
export function crossEntropy(logits: Tensor, targets: Tensor, mask?: Tensor): Tensor {
  if (targets.shape.join() !== logits.shape.slice(0, -1).join()) {
    throw new GraphError(`crossEntropy: targets ${targets} do not match logits ${logits} without the class axis`);
  }
  const safe = mask ? F.where(F.greater(mask, 0), targets, 0) : targets;
  const picked = F.gatherElements(F.logSoftmax(logits, -1), F.unsqueeze(safe, -1), logits.rank - 1);
  const ce = F.neg(F.squeeze(picked, -1));
  return mask ? F.mul(ce, mask) : ce;
}
