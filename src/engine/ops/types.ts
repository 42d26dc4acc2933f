// The primitive op set. Each op has one rule object (see table.ts) holding, side by side,
// its shape/dtype rule, its ONNX lowering, its float64 reference evaluation and its gradient rule.
import type * as Api from '../api.ts';
import type { DType, Shape, Tensor } from '../graph.ts';
import type { NDArray } from '../ndarray.ts';
import type { OnnxEmitter } from '../onnx.ts';

type None = Record<string, never>;

export interface ConvAttrs {
  strides: [number, number];
  /** [top, left, bottom, right], as ONNX orders them. */
  pads: [number, number, number, number];
  dilations: [number, number];
  groups: number;
}

export interface OpAttrs {
  // elementwise, broadcasting
  add: None;
  sub: None;
  mul: None;
  div: None;
  pow: None;
  max: None;
  min: None;
  equal: None;
  less: None;
  greater: None;
  where: None;
  // elementwise unary
  neg: None;
  exp: None;
  log: None;
  sqrt: None;
  abs: None;
  sign: None;
  erf: None;
  sigmoid: None;
  tanh: None;
  relu: None;
  leakyRelu: { alpha: number };
  cast: { to: DType };
  stopGradient: None;
  // linear algebra
  matmul: None;
  dynamicQuantizeMatmul: None;
  attention: { heads: number };
  conv: ConvAttrs;
  convTranspose: ConvAttrs & { outputShape: [number, number] };
  // shape
  reshape: { shape: number[] };
  transpose: { perm: number[] };
  expand: { shape: number[] };
  concat: { axis: number };
  slice: { starts: number[]; ends: number[]; axes: number[]; steps: number[] };
  pad: { pads: number[]; value: number };
  upsampleNearest2x: None;
  // indexing
  gather: { axis: number };
  gatherElements: { axis: number };
  scatterAdd: None;
  scatterElementsAdd: { axis: number };
  oneHot: { depth: number; dtype: DType };
  // reductions
  reduceSum: { axes: number[]; keepDims: boolean };
  reduceMean: { axes: number[]; keepDims: boolean };
  reduceMax: { axes: number[]; keepDims: boolean };
  argMax: { axis: number; keepDims: boolean };
  argMin: { axis: number; keepDims: boolean };
  softmax: { axis: number };
  logSoftmax: { axis: number };
  instanceNorm: { eps: number };
}

export type OpName = keyof OpAttrs;

export interface TType {
  shape: Shape;
  dtype: DType;
}

/**
 * The graph-building functions (api.ts), handed to gradient rules by autodiff: api.ts imports the op
 * table, so the op files take its builders as an argument instead of importing them.
 */
export type Builders = typeof Api;

export interface GradContext<A> {
  inputs: Tensor[];
  output: Tensor;
  attrs: A;
  /** needs[i]: whether the gradient for input i is wanted (it leads to a differentiated tensor). */
  needs: boolean[];
  F: Builders;
}

export interface OpRule<A> {
  /** Output shape and dtype; throws GraphError naming the op and the offending shapes. */
  type(ins: TType[], a: A): TType;
  /** Appends the ONNX node(s) computing `out` from `ins`. */
  onnx(e: OnnxEmitter, ins: string[], out: string, a: A, inTypes: TType[], outType: TType): void;
  /** Reference semantics in float64 (the oracle for gradient checks). */
  eval(ins: NDArray[], a: A, outType: TType): NDArray;
  /** Gradients of the inputs given the output's gradient `g`; null when the op is not differentiable. */
  grad: ((g: Tensor, c: GradContext<A>) => (Tensor | null)[]) | null;
}

export type OpTable = { [K in OpName]: OpRule<OpAttrs[K]> };
