/**
 * Starts the Azure service emulators: `node --conditions=takt-source --import tsx simulators/azure/src/main.ts`.
 * Flags: --host (TAKT_AZURE_HOST, default 127.0.0.1), --cert-dir (TAKT_AZURE_CERT_DIR, default .takt/azure/certs),
 * --only dt,sb,eg,ai (default all), --dt-port, --sb-port, --eg-port, --ai-port (default 0).
 * Prints one ready line with the URLs and connection strings; SIGTERM/SIGINT close it.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { configProblems, createLogger, parseLogLevel, runMain } from '@takt/edge-kit';
import { startAzureEmulators } from './emulators.js';
import { SimAzureError } from './errors.js';

const logger = createLogger({ level: parseLogLevel(process.env['RuntimeLogLevel']), bindings: { simulator: 'azure' } });

const schema = z.object({
  host: z.string().min(1),
  certDir: z.string().min(1),
  only: z.array(z.enum(['dt', 'sb', 'eg', 'ai'])),
  dtPort: z.coerce.number().int().min(0).max(65535),
  sbPort: z.coerce.number().int().min(0).max(65535),
  egPort: z.coerce.number().int().min(0).max(65535),
  aiPort: z.coerce.number().int().min(0).max(65535),
});

runMain(
  async ({ lifecycle }) => {
    const { values } = parseArgs({
      options: {
        host: { type: 'string' },
        'cert-dir': { type: 'string' },
        only: { type: 'string' },
        'dt-port': { type: 'string' },
        'sb-port': { type: 'string' },
        'eg-port': { type: 'string' },
        'ai-port': { type: 'string' },
      },
      strict: true,
    });
    const parsed = schema.safeParse({
      host: values.host ?? process.env['TAKT_AZURE_HOST'] ?? '127.0.0.1',
      certDir: values['cert-dir'] ?? process.env['TAKT_AZURE_CERT_DIR'] ?? '.takt/azure/certs',
      only: (values.only ?? 'dt,sb,eg,ai')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      dtPort: values['dt-port'] ?? 0,
      sbPort: values['sb-port'] ?? 0,
      egPort: values['eg-port'] ?? 0,
      aiPort: values['ai-port'] ?? 0,
    });
    if (!parsed.success) {
      throw new SimAzureError('AZURE_SIM_CONFIG_INVALID', 'invalid flags', {
        details: { problems: configProblems(parsed.error) },
      });
    }
    const c = parsed.data;
    const azure = await startAzureEmulators({
      certDir: c.certDir,
      host: c.host,
      digitalTwins: c.only.includes('dt') && { port: c.dtPort },
      serviceBus: c.only.includes('sb') && { port: c.sbPort },
      eventGrid: c.only.includes('eg') && { port: c.egPort },
      appInsights: c.only.includes('ai') && { port: c.aiPort },
    });
    await lifecycle.add({ name: 'azure-emulators', close: () => azure.close() });
    const parts = [
      azure.digitalTwins ? `dt=${azure.digitalTwins.url}` : '',
      azure.serviceBus ? `sb=${azure.serviceBus.connectionString}` : '',
      azure.eventGrid ? `eg=${azure.eventGrid.endpoint} eg-key=${azure.eventGrid.key}` : '',
      azure.appInsights ? `ai=${azure.appInsights.connectionString}` : '',
      `ca=${azure.caCertPath}`,
    ].filter(Boolean);
    // The ready line is the program's output (scripts and tests read it); the emulator keys are local test keys.
    process.stdout.write(`azure-emulators ready ${parts.join(' ')}\n`);
    logger.info('ready');
  },
  { logger },
);
