/**
 * Builds the admin page (`shared/ui/`) into `dist/ui/`: one script and one style bundle with content-hashed
 * names (cached as immutable by `GET /api/ui/...`) and `index.html` pointing at them. Part of `npm run build`.
 *
 * Why esbuild + Preact: esbuild is one dependency (already in the tree through vitest and tsx) that bundles
 * TypeScript/JSX and CSS in well under a second with no configuration files; Preact gives components and
 * hooks in ~4 KB with JSX type-checked by tsc, so the page reads like the rest of the TypeScript codebase
 * and imports the API's zod-inferred types (`import type`: erased, no zod in the bundle).
 *
 *   node dist/dev/ui/buildPage.js [--out dist/ui]
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { build } from 'esbuild';

const ROOT = path.resolve(__dirname, '../../..');

/** The page's HTML: the shell the bundle renders into (works without the bundle only as far as saying so). */
export function pageHtml(script: string, style: string): string {
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Segment export to ActiveCampaign</title>
    <link rel="icon" href="data:," />
    <link rel="stylesheet" href="${style}" />
    <script type="module" src="${script}"></script>
  </head>
  <body>
    <div id="app"><noscript>The admin page needs JavaScript.</noscript></div>
  </body>
</html>
`;
}

/** Bundles the page into `out`; returns the files written (relative to `out`). */
export async function buildPage(out: string): Promise<string[]> {
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const result = await build({
    entryPoints: { app: path.join(ROOT, 'shared/ui/main.tsx') },
    outdir: out,
    entryNames: '[name]-[hash]',
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome109', 'firefox115', 'safari15'],
    minify: true,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const files = Object.keys(result.metafile.outputs).map((file) => path.relative(out, path.resolve(file)));
  const script = files.find((f) => f.endsWith('.js'));
  const style = files.find((f) => f.endsWith('.css'));
  if (!script || !style) throw new Error(`admin page build wrote no script or style: ${files.join(', ')}`);
  await writeFile(path.join(out, 'index.html'), pageHtml(script, style));
  return [...files, 'index.html'];
}

if (require.main === module) {
  const { values } = parseArgs({ options: { out: { type: 'string', default: path.join(ROOT, 'dist/ui') } } });
  buildPage(path.resolve(values.out ?? 'dist/ui')).then(
    (files) => console.log(`admin page: ${files.join(', ')}`),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
