// Loaded with --import into a server process (test/e2e/lazy-modules.test.ts): records the URL of
// every module the process loads, imported or required, into $MODULE_RECORD_FILE when it exits.
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const loaded = new Set();
registerHooks({
  load(url, context, nextLoad) {
    loaded.add(url);
    return nextLoad(url, context);
  },
});
process.on('exit', () => writeFileSync(process.env.MODULE_RECORD_FILE, [...loaded].join('\n')));
