/**
 * `npm run manifest`: renders deployment/deployment.template.json to deployment/config/deployment.<platform>.json
 * (the file `az iot edge set-modules --content` takes) and validates it against the official schemas in
 * deployment/schemas. Variables come from the environment and deployment/.env (iotedgedev's `.env`).
 *
 *     npm run manifest [-- --platform arm64v8] [-- --template path] [-- --out path]
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { moduleImageFromFolder, renderTemplate } from './render.js';
import { createManifestValidator, validateRenderedManifest } from './validate.js';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

function readDotEnv(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, 'utf8').split(/\r?\n/)) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) out[m[1]] = m[2].replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

const { values } = parseArgs({
  options: {
    platform: { type: 'string', default: 'amd64' },
    template: { type: 'string', default: join(repoRoot, 'deployment', 'deployment.template.json') },
    out: { type: 'string' },
  },
});
const platform = values.platform;
const templatePath = resolve(values.template);
const outPath = resolve(values.out ?? join(dirname(templatePath), 'config', `deployment.${platform}.json`));
const variables = { ...readDotEnv(join(dirname(templatePath), '.env')), ...process.env };
try {
  const template = JSON.parse(readFileSync(templatePath, 'utf8')) as unknown;
  const validator = createManifestValidator();
  const templateProblems = validator.validate('template-4.0', template);
  const manifest = renderTemplate(template, { platform, variables, image: moduleImageFromFolder(repoRoot, variables) });
  const problems = [
    ...templateProblems.map((p) => `template-4.0: ${p}`),
    ...validateRenderedManifest(validator, manifest),
  ];
  if (problems.length > 0) {
    process.stderr.write(`manifest invalid:\n  ${problems.join('\n  ')}\n`);
    process.exitCode = 1;
  } else {
    mkdirSync(dirname(outPath), { recursive: true });
    writeFileSync(outPath, `${JSON.stringify(manifest, null, 2)}\n`);
    process.stdout.write(
      `rendered ${outPath} (valid against azure-iot-edge-deployment-2.0, edgeAgent 1.1, edgeHub 1.2)\n`,
    );
  }
} catch (error) {
  process.stderr.write(`manifest render failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
