/**
 * `node --conditions=takt-source --import tsx modules/audit/src/cli.ts verify --db audit.db [--from N --to M]`
 * (in the image: `node dist/cli.js verify --db /app/data/audit.db`). An entry point like main.ts: the
 * only other file that touches `process`.
 */
import { runCli } from './cli/commands.js';

const result = runCli(process.argv.slice(2), process.env);
if (result.stdout) process.stdout.write(result.stdout);
if (result.stderr) process.stderr.write(result.stderr);
process.exitCode = result.exitCode;
