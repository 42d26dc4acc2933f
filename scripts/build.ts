// The npm package's build (`npm run build`; `npm pack` runs it): the TypeScript sources compiled to
// ESM JavaScript with .d.ts types in dist/ (tsconfig.build.json), and the web app bundled by vite into
// dist/app, which `unmask serve` serves from an installed package.
//   npx tsx scripts/build.ts
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildApp } from '../src/web/build.ts';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
await buildApp(join(dist, 'app'));
process.stderr.write(`built ${dist}\n`);
