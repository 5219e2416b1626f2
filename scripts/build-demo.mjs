#!/usr/bin/env node
// Bundles the demo page (src/demo/: Uppy's Dashboard with its tus plugin, and the styles) into
// dist/public/demo.js and dist/public/demo.css with esbuild; src/http/demo.ts serves them.
// Run by `npm run build` after tsc. Nothing of the page is fetched from elsewhere at runtime.
import { rm } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist/public');

await rm(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: [
    { in: 'src/demo/browser.ts', out: 'demo' },
    { in: 'src/demo/page.css', out: 'demo' },
  ],
  outdir,
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  minify: true,
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});
for (const [file, { bytes }] of Object.entries(result.metafile.outputs)) {
  console.log(`  ${relative(root, file)}  ${(bytes / 1024).toFixed(0)} KiB`);
}
