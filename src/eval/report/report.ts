// Rendering an evaluation (eval/evaluate.ts) for people: report.md with its table, ELBO lines and a
// summary computed from the table, report.json, the two plots and the sample grids; and the
// evaluation section of a model card.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { imageGrid } from '../../data/images.ts';
import { encodePng } from '../../data/png.ts';
import { writeFileAtomic } from '../../engine/files.ts';
import type { EvalReport, EvalResult, EvalRow, Quality } from '../evaluate.ts';
import { lineChartPng } from './plot.ts';
import type { SamplingDefaults } from '../../models/prior-config.ts';

const f3 = (v: number) => v.toFixed(3);
/** FID with two decimals, or three significant digits below 1 (small feature scales). */
const f2 = (v: number) => (Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3));

/** Seconds as a readable number of ms or s. */
function time(s: number): string {
  return s < 1 ? `${(s * 1000).toFixed(1)} ms` : `${s.toFixed(2)} s`;
}

/**
 * The confidence order's choice temperatures of an evaluation, a series of rows each. Reports written
 * before rows carried their own had one, `setup.choiceTemperature`.
 */
function choiceTemperatures(r: EvalReport): number[] {
  return r.setup.choiceTemperatures ?? [(r.setup as unknown as { choiceTemperature: number }).choiceTemperature];
}

/** A row's series: its order, with its choice temperature when the report has several, and its guidance weight when class-conditional. */
export function seriesName(row: Pick<EvalRow, 'schedule' | 'guidance' | 'choiceTemperature'>, r: EvalReport): string {
  const details = [
    ...(choiceTemperatures(r).length > 1 && row.choiceTemperature != null ? [`choice temperature ${row.choiceTemperature}`] : []),
    ...(row.guidance === null ? [] : [`guidance ${row.guidance}`]),
  ];
  return details.length ? `${row.schedule} (${details.join(', ')})` : row.schedule;
}

/** Facts read off the table mechanically; the committed report adds a person's reading. */
function summary(r: EvalReport): string[] {
  const lines: string[] = [];
  const absorbing = r.rows.filter((row) => row.method === 'absorbing diffusion');
  const series = (row: EvalRow) => seriesName(row, r);
  const schedules = [...new Set(absorbing.map(series))];
  for (const s of schedules) {
    const rows = absorbing.filter((row) => series(row) === s).sort((a, b) => a.steps - b.steps);
    const best = rows.reduce((a, b) => (b.fid < a.fid ? b : a));
    const knee = rows.find((row) => row.fid <= best.fid * 1.1)!;
    const most = rows[rows.length - 1];
    const speedup = knee === most ? '' : `, ${(most.secondsPerImage / knee.secondsPerImage).toFixed(1)}× faster than ${most.steps} steps`;
    lines.push(`- ${s}: best FID ${f2(best.fid)} at ${best.steps} steps; the fewest steps within 10% of it: ${knee.steps} (FID ${f2(knee.fid)}, ${time(knee.secondsPerImage)} per image${speedup}).`);
  }
  if (schedules.includes('random') && absorbing.some((row) => row.schedule === 'confidence')) {
    const fewest = Math.min(...absorbing.map((row) => row.steps));
    const at = (s: string) => absorbing.find((row) => row.schedule === s && row.steps === fewest && row.guidance === absorbing[0].guidance);
    const [rnd, conf] = [at('random'), at('confidence')];
    if (rnd && conf) lines.push(`- At ${fewest} steps: confidence FID ${f2(conf.fid)} vs random ${f2(rnd.fid)}; precision ${f3(conf.precision)} vs ${f3(rnd.precision)}, recall ${f3(conf.recall)} vs ${f3(rnd.recall)}.`);
  }
  const lowest = (rows: EvalRow[]) => rows.reduce((a, b) => (b.fid < a.fid ? b : a));
  for (const ar of r.rows.filter((row) => row.method !== 'absorbing diffusion')) {
    const same = absorbing.filter((row) => row.guidance === ar.guidance);
    if (!same.length) continue;
    const best = lowest(same);
    const few = same.filter((row) => row.steps <= 16);
    const atFew = few.length ? `; at ≤ 16 steps, ${series(lowest(few))} at ${lowest(few).steps} steps: FID ${f2(lowest(few).fid)}` : '';
    lines.push(`- ${ar.method}${ar.guidance === null ? '' : ` (guidance ${ar.guidance})`}, ${ar.steps} steps: FID ${f2(ar.fid)}, ${time(ar.secondsPerImage)} per image; the best absorbing row at the same guidance (${series(best)}, ${best.steps} steps) has FID ${f2(best.fid)} at ${time(best.secondsPerImage)}${atFew}.`);
  }
  lines.push(`- The VQGAN's reconstructions of the real images score FID ${f2(r.reconstruction.fid)}: the floor for any prior decoded by this VQGAN (up to the noise of n = ${r.setup.n}).`);
  return lines;
}

/** FID within this share of the best counts as level with it when choosing a model's default steps. */
export const LEVEL_FID = 0.05;

/**
 * The sampling settings a model exported with this report recommends: among the absorbing rows that
 * sample as `unmask sample` does by default (classes drawn as in the data, i.e. the guidance-0 rows of a
 * class-conditional evaluation; else the unconditional rows), the fewest steps whose FID is within 5%
 * of the best, at the report's temperature and that row's choice temperature.
 */
export function recommendedSampling(r: EvalReport, where: string): SamplingDefaults | null {
  const absorbing = r.rows.filter((row) => row.method === 'absorbing diffusion');
  const guided = absorbing.filter((row) => row.guidance === 0);
  const rows = guided.length ? guided : absorbing.filter((row) => row.guidance === null);
  if (!rows.length) return null;
  const best = Math.min(...rows.map((row) => row.fid));
  const pick = rows.filter((row) => row.fid <= best * (1 + LEVEL_FID)).sort((a, b) => a.steps - b.steps || a.fid - b.fid)[0];
  return {
    schedule: pick.schedule as SamplingDefaults['schedule'],
    steps: pick.steps,
    temperature: r.setup.temperature,
    ...(pick.schedule === 'confidence' ? { choiceTemperature: pick.choiceTemperature ?? choiceTemperatures(r)[0] } : {}),
    from: `${where}: FID ${f2(pick.fid)} at n = ${r.setup.n} (best ${f2(best)})`,
  };
}

/** The results table in markdown: the reconstruction floor, then every measured row. */
export function resultsTable(r: EvalReport, gridDir = ''): string {
  const guided = r.rows.some((x) => x.guidance !== null);
  const choice = choiceTemperatures(r).length > 1;
  const row = (name: string, steps: string, ct: string, guidance: string, q: Quality, t: string, grid: string) =>
    `| ${name} | ${steps} |${choice ? ` ${ct} |` : ''}${guided ? ` ${guidance} |` : ''} ${f2(q.fid)} | ${f3(q.precision)} | ${f3(q.recall)} | ${f3(q.density)} | ${f3(q.coverage)} | ${t} | [grid](${gridDir}${grid}) |`;
  return [
    `| sampler | steps |${choice ? ' choice temperature |' : ''}${guided ? ' guidance |' : ''} FID ↓ | precision ↑ | recall ↑ | density | coverage ↑ | time / image | samples |`,
    `|---|---|${choice ? '---|' : ''}${guided ? '---|' : ''}---|---|---|---|---|---|---|`,
    row('VQGAN reconstruction (floor)', '–', '–', '–', r.reconstruction, '–', r.reconstruction.grid),
    ...r.rows.map((x) => row(x.method === 'absorbing diffusion' ? x.schedule : x.method, String(x.steps), x.choiceTemperature == null ? '–' : String(x.choiceTemperature), x.guidance === null ? 'none' : String(x.guidance), x, time(x.secondsPerImage), x.grid)),
  ].join('\n');
}

function elboLines(r: EvalReport): string {
  const s = r.setup;
  return r.elbo
    ? `- Validation ELBO of the prior: ${r.elbo.bitsPerToken.toFixed(4)} bits per token (${(r.elbo.bitsPerToken * s.tokens).toFixed(1)} bits per image's ${s.tokens} codes), on the first ${r.elbo.images} validation images with ${r.elbo.times} stratified times (an upper bound on the codes' negative log-likelihood).` +
      (r.elbo.autoregressiveBitsPerToken !== null ? `\n- Autoregressive baseline's exact NLL on the same codes: ${r.elbo.autoregressiveBitsPerToken.toFixed(4)} bits per token.` : '')
    : '- Validation ELBO: not measured.';
}

export function reportMarkdown(r: EvalReport): string {
  const s = r.setup;
  const cts = choiceTemperatures(r);
  const elbo = elboLines(r);
  return `# Evaluation of ${s.model}

Quality and speed against sampling steps, the trade the paper measures (Bond-Taylor et al. 2022; docs/method.md §5), on this model and data.

## Setup

- Model: \`${s.model}\`: ${s.tokens} tokens per image from a codebook of ${s.codebookSize}; prior ${s.priorParameters.toLocaleString('en')} parameters.${s.autoregressive ? `\n- Autoregressive baseline: \`${s.autoregressive.source}\`, ${s.autoregressive.parameters.toLocaleString('en')} parameters.` : ''}
- Samples: ${s.n} per row at temperature ${s.temperature} (confidence order: ${cts.length > 1 ? `choice temperatures ${cts.join(', ')}, a series each` : `choice temperature ${cts[0]}`}), in batches of ${s.batch} (batch b seeded ${s.seed} + b); prior in ${s.precision}.${r.rows.some((x) => x.guidance !== null) ? '\n- Class-conditional rows: sample i has the class of real image i (the data\'s class proportions), with classifier-free guidance of the stated weight; the baseline samples the same classes at the same weights.' : ''}
- Real images: ${s.reference}.
- Features: ${s.features} (${s.featureDim}-d). FID: Fréchet distance of Gaussian fits; PRDC with k = ${s.k} (Naeem et al. 2020).
- Time: wall-clock per image for sampling and decoding, after one untimed warm-up batch per row; ${s.machine}; ${s.date}.

## Results

${resultsTable(r)}

${elbo}

![FID against steps](fid-vs-steps.png)

![Time per image against steps](time-vs-steps.png)

## Summary (computed from the table)

${summary(r).join('\n')}

Real images: [reference.png](reference.png).
`;
}

/**
 * The evaluation section of a model card: the report's table and ELBO, with sample-grid links
 * pointing into `reportLink` (the report folder, relative to the card).
 */
export function cardEvaluation(r: EvalReport, reportLink: string): string {
  const s = r.setup;
  const link = reportLink.endsWith('/') ? reportLink : `${reportLink}/`;
  return `## Evaluation

Measured by \`unmask eval\` on \`${s.model}\` (the run these weights were exported from, float32), ${s.n} samples per row
at temperature ${s.temperature} against ${s.reference}, features: ${s.features}; k = ${s.k}; ${s.machine}; ${s.date}.
Full report: [${link}report.md](${link}report.md).

${resultsTable(r, link)}

${elboLines(r)}

${summary(r).join('\n')}
`;
}

/** Writes report.md, report.json, fid-vs-steps.png, time-vs-steps.png and the sample grids into `dir`. */
export async function writeReport(dir: string, result: EvalResult): Promise<string[]> {
  const r = result.report;
  mkdirSync(dir, { recursive: true });
  const files: Record<string, Uint8Array | string> = {
    'report.json': `${JSON.stringify(r, null, 2)}\n`,
    'report.md': reportMarkdown(r),
  };
  const absorbing = r.rows.filter((x) => x.method === 'absorbing diffusion');
  const series = (metric: 'fid' | 'secondsPerImage') => [
    ...[...new Set(absorbing.map((x) => seriesName(x, r)))].map((s) => ({
      name: s.replace(/^(\w+)/, '$1 order'),
      points: absorbing.filter((x) => seriesName(x, r) === s).map((x): [number, number] => [x.steps, x[metric]]),
    })),
    ...r.rows.filter((x) => x.method !== 'absorbing diffusion').map((x) => ({ name: x.method, points: [[x.steps, x[metric]] as [number, number]] })),
  ];
  files['fid-vs-steps.png'] = await lineChartPng({
    title: `FID against sampling steps (n = ${r.setup.n})`,
    xLabel: 'sampling steps (network passes)',
    yLabel: 'FID',
    series: series('fid'),
    references: [{ name: 'VQGAN reconstruction', y: r.reconstruction.fid }],
    logX: true,
  });
  files['time-vs-steps.png'] = await lineChartPng({
    title: 'Wall time per image against sampling steps',
    xLabel: 'sampling steps (network passes)',
    yLabel: 'seconds per image',
    series: series('secondsPerImage'),
    logX: true,
  });
  for (const [name, im] of Object.entries(result.grids)) {
    const cols = Math.min(8, im.n);
    files[name] = await encodePng(imageGrid([im], { cols }));
  }
  for (const [name, data] of Object.entries(files)) writeFileAtomic(join(dir, name), data);
  return Object.keys(files);
}
