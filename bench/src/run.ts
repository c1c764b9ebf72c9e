/**
 * `npm run bench [-- NAME ...]`: runs every benchmark in src/benches (or the named ones), one after the
 * other. Each prints JSON lines on stdout and appends them to bench/results/NAME.jsonl.
 */
import { readdirSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchContext, createBenchContext } from './context.js';

type BenchMain = (ctx: BenchContext) => Promise<void>;

const dir = fileURLToPath(new URL('./benches/', import.meta.url));
const available = readdirSync(dir)
  .filter((file) => file.endsWith('.ts'))
  .map((file) => basename(file, '.ts'))
  .sort();
const wanted = process.argv.slice(2).filter((arg) => arg !== '--');
const unknown = wanted.filter((name) => !available.includes(name));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; available: ${available.join(', ')}\n`);
  process.exit(2);
}
const selected = wanted.length > 0 ? wanted : available;
if (selected.length === 0) process.stderr.write('no benchmarks yet\n');
for (const name of selected) {
  const mod = (await import(new URL(`./benches/${name}.ts`, import.meta.url).href)) as { default: BenchMain };
  const ctx = createBenchContext(name);
  const started = Date.now();
  ctx.note('starting');
  await mod.default(ctx);
  ctx.note(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
