/**
 * `npm start`: runs the whole suite locally. Today only the building blocks exist (see README
 * "Status"): this prints what is there and exits cleanly. It grows as modules land.
 */
const lines = [
  'Takt: no modules yet.',
  '',
  'What exists today:',
  '  packages/edge-kit      the runtime every module shares (npm test exercises it)',
  '',
  'Run the tests:   npm test',
  'Read the status: README.md, section "Status"',
];
process.stdout.write(`${lines.join('\n')}\n`);
