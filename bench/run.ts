// `npm run bench -- NAME` runs bench/NAME.ts alone; with no NAME it lists what there is.
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3));
const names = process.argv.slice(2);
if (names.length === 0) {
  console.log(`usage: npm run bench -- NAME\navailable: ${available.join(', ')}`);
  process.exit(0);
}
for (const name of names) {
  if (!available.includes(name)) {
    console.error(`unknown benchmark "${name}"; available: ${available.join(', ')}`);
    process.exit(2);
  }
  const mod = await import(pathToFileURL(join(here, `${name}.ts`)).href);
  await mod.main();
}
