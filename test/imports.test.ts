// The module graph of src/: no import cycles (an op file imported first must not find api.ts half
// initialised; a reader of model directories must not need their writer), and the browser entry and app
// reach no Node built-in, sharp or onnxruntime-node. Imports are read from the source text: every static
// `import … from` / `export … from` and every `import('…')` counts, except `import type` (and imports
// whose bindings are all `type`), which TypeScript erases.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '..', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const STATIC = /^\s*(import|export)\s+(type\s+)?([^'";]*?)\s*from\s*['"]([^'"]+)['"]/gm;
const BARE = /^\s*import\s*['"]([^'"]+)['"]/gm;
const DYNAMIC = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The specifiers a module imports at run time. */
export function runtimeImports(text: string): string[] {
  const code = text.replace(/^\s*\/\/.*$/gm, '');
  const out: string[] = [];
  for (const m of code.matchAll(STATIC)) {
    const [, , typeOnly, clause, spec] = m;
    if (typeOnly) continue;
    const named = /^\{([^}]*)\}$/.exec(clause.trim());
    if (named && named[1].split(',').map((s) => s.trim()).filter(Boolean).every((s) => s.startsWith('type '))) continue;
    out.push(spec);
  }
  for (const m of code.matchAll(BARE)) out.push(m[1]);
  for (const m of code.matchAll(DYNAMIC)) out.push(m[1]);
  return out;
}

/** Module → the src/ modules and the packages it imports. */
function graph(): Map<string, { local: string[]; external: string[] }> {
  const g = new Map<string, { local: string[]; external: string[] }>();
  for (const file of sources(SRC)) {
    const specs = runtimeImports(readFileSync(file, 'utf8'));
    g.set(file, {
      local: specs.filter((s) => s.startsWith('.')).map((s) => resolve(dirname(file), s)),
      external: specs.filter((s) => !s.startsWith('.')),
    });
  }
  return g;
}

/** Every cycle's modules, found by Tarjan's strongly connected components. */
function cycles(g: Map<string, { local: string[] }>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v)?.local ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || g.get(v)?.local.includes(v)) found.push(component.map((f) => relative(SRC, f)).sort());
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** Every src/ module reachable from `entries`. */
function reachable(g: Map<string, { local: string[] }>, entries: string[]): Set<string> {
  const seen = new Set<string>();
  const todo = entries.map((e) => join(SRC, e));
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    todo.push(...(g.get(f)?.local ?? []));
  }
  return seen;
}

describe('src/ imports', () => {
  const g = graph();

  it('parse every kind of import the sources use', () => {
    const text = [
      "import { a, type B } from './x.ts';",
      "import type { C } from './types.ts';",
      "import { type D, type E } from './erased.ts';",
      "export * as F from './api.ts';",
      "import './side-effect.ts';",
      "// import { gone } from './comment.ts';",
      "const m = await import('./lazy.ts');",
    ].join('\n');
    expect(runtimeImports(text).sort()).toEqual(['./api.ts', './lazy.ts', './side-effect.ts', './x.ts']);
    expect(g.size).toBeGreaterThan(90);
    for (const [file, { local }] of g) for (const dep of local) expect(g.has(dep), `${relative(SRC, file)} imports a missing ${relative(SRC, dep)}`).toBe(true);
  });

  it('form no cycle', () => {
    expect(cycles(g)).toEqual([]);
  });

  it('finds a cycle when there is one', () => {
    const a = join(SRC, 'a.ts');
    const b = join(SRC, 'b.ts');
    expect(cycles(new Map([[a, { local: [b] }], [b, { local: [a] }]]))).toEqual([['a.ts', 'b.ts']]);
  });

  it('keep Node built-ins, sharp and onnxruntime-node out of the browser entry and the browser app', () => {
    const browser = reachable(g, ['browser.ts', 'web/app/main.ts', 'web/app/worker.ts']);
    expect(browser.has(join(SRC, 'inference', 'tasks.ts'))).toBe(true);
    const nodeOnly = [...browser].flatMap((f) =>
      g.get(f)!.external.filter((p) => p.startsWith('node:') || p === 'sharp' || p === 'onnxruntime-node').map((p) => `${relative(SRC, f)} → ${p}`),
    );
    expect(nodeOnly).toEqual([]);
  });
});
