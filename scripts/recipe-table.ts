// The study table of reports/recipe: one row per training run, with what it changed, its command, its
// compute (steps × batch, and the CPU time /usr/bin/time measured for the training process), its
// validation ELBO (or NLL) and the FID / precision / recall of its `unmask eval` report for each series (order,
// choice temperature when several, guidance weight; report.ts seriesName) and step count. Usage: npx tsx scripts/recipe-table.ts STUDY.json > table.md, where STUDY.json lists
// [{ "run": "DIR", "eval": "REPORT_DIR", "change": "what differs from the baseline" }, …]; a run's
// CPU time is read from DIR.time (lines "W s wall U s user S s sys", one per invocation, summed).
import { existsSync, readFileSync } from 'node:fs';
import type { EvalReport } from '../src/eval/evaluate.ts';
import { seriesName } from '../src/eval/report/report.ts';

interface Entry {
  run: string;
  eval: string;
  change: string;
}

/**
 * Training CPU and wall minutes: from the model card (runs made since cards record CPU time), else from
 * the run's `/usr/bin/time` file; a snapshot DIR-STEP of a longer run DIR gets that run's share,
 * STEP / (the run's final step), marked ≈.
 */
function minutes(run: string, card: string, step: number): string {
  const m = /training time ([\d.]+) min on this machine \(([\d.]+) CPU-minutes\)/.exec(card);
  if (m) return `${Number(m[2]).toFixed(0)} (${Number(m[1]).toFixed(0)})`;
  const parent = run.replace(/-\d+$/, '');
  if (!existsSync(`${parent}.time`)) return '–';
  let cpu = 0, wall = 0;
  for (const line of readFileSync(`${parent}.time`, 'utf8').split('\n')) {
    const t = /([\d.]+) s wall ([\d.]+) s user ([\d.]+) s sys/.exec(line);
    if (t) {
      wall += Number(t[1]) / 60;
      cpu += (Number(t[2]) + Number(t[3])) / 60;
    }
  }
  const total = (JSON.parse(readFileSync(`${parent}/state.json`, 'utf8')) as { step: number }).step;
  const share = parent === run ? 1 : step / total;
  return `${parent === run ? '' : '≈'}${(cpu * share).toFixed(0)} (${(wall * share).toFixed(0)})`;
}

interface RunState {
  step: number;
  extra?: { seconds?: number; history?: { step: number; elbo: number }[] };
}

/**
 * Validation bits per token: the report's own (its --elbo-images; for the twin of a report made with --ar,
 * its exact NLL), else the run's at its last checkpoint (the training's validation set).
 */
function bits(report: EvalReport, causal: boolean, state: RunState): string {
  const measured = causal ? report.elbo?.autoregressiveBitsPerToken : report.elbo?.bitsPerToken;
  if (measured != null) return `${causal ? 'NLL' : 'ELBO'} ${measured.toFixed(3)}`;
  const last = state.extra?.history?.at(-1);
  return last ? `${causal ? 'NLL' : 'ELBO'} ${last.elbo.toFixed(3)} (step ${last.step})` : '–';
}

const entries = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Entry[];
// A column: a series (the order, with the choice temperature when its report measured several) and the steps.
const columns = new Map<string, { schedule: string; steps: number }>();
const loaded = entries.map((e) => {
  const state = JSON.parse(readFileSync(`${e.run}/state.json`, 'utf8')) as RunState;
  const config = JSON.parse(readFileSync(`${e.run}/config.json`, 'utf8')) as { prior: { batch: number; causal: boolean } };
  const report = JSON.parse(readFileSync(`${e.eval}/report.json`, 'utf8')) as EvalReport;
  for (const r of report.rows) columns.set(`${seriesName(r, report)} ${r.steps}`, { schedule: seriesName(r, report), steps: r.steps });
  const card = readFileSync(`${e.run}/model-card.md`, 'utf8');
  const command = /Command: `([^`]*)`/.exec(card)?.[1] ?? '';
  return { ...e, state, batch: config.prior.batch, causal: config.prior.causal, report, command, card };
});
const cols = [...columns.values()].sort((a, b) => a.schedule.localeCompare(b.schedule) || a.steps - b.steps);
const head = cols.map((c) => `${c.schedule} ${c.steps}: FID / P / R`);
console.log(`| run | change | steps × batch | CPU min (wall min) | bits/token | ${head.join(' | ')} |`);
console.log(`|---|---|---|---|---|${cols.map(() => '---|').join('')}`);
for (const e of loaded) {
  const time = minutes(e.run, e.card, e.state.step);
  const cells = cols.map((c) => {
    // A report made with --ar holds both runs' rows: the absorbing ones are the prior's, the other the twin's.
    const r = e.report.rows.find((x) => seriesName(x, e.report) === c.schedule && x.steps === c.steps && (x.method === 'absorbing diffusion') !== e.causal);
    return r ? `${r.fid.toFixed(1)} / ${r.precision.toFixed(2)} / ${r.recall.toFixed(2)}` : '–';
  });
  console.log(`| ${e.run.split('/').pop()} | ${e.change} | ${e.state.step} × ${e.batch} | ${time} | ${bits(e.report, e.causal, e.state)} | ${cells.join(' | ')} |`);
}
console.log('\nCommands:\n');
for (const e of loaded) console.log(`- ${e.run.split('/').pop()}: \`${e.command}\``);
