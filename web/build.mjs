// Bundles src/ into dist/ (index.html, app.js, app.css). Run: node build.mjs
import { build } from 'esbuild';
import { readFile, writeFile, mkdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// WEB_DIST builds elsewhere (scripts/browser-test.sh compares a fresh build with dist/).
const dist = process.env.WEB_DIST ? path.resolve(process.env.WEB_DIST) : path.join(here, 'dist');
const require = createRequire(import.meta.url);

// maplibre-gl's worker module is not in its package "exports"; find it in the package's dist/.
const maplibreDir = path.dirname(require.resolve('maplibre-gl/package.json', { paths: [here] }));
const workerFile = path.join(maplibreDir, 'dist', 'maplibre-gl-worker.mjs');

// `import workerSource from 'maplibre-worker-source'` -> the worker's code as a string.
const workerPlugin = {
  name: 'maplibre-worker-source',
  setup(b) {
    b.onResolve({ filter: /^maplibre-worker-source$/ }, () => ({ path: workerFile, namespace: 'maplibre-worker' }));
    b.onLoad({ filter: /.*/, namespace: 'maplibre-worker' }, async (args) => {
      const code = (await readFile(args.path, 'utf8')).replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n');
      return { contents: code, loader: 'text' };
    });
  },
};

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });

const result = await build({
  absWorkingDir: here,
  entryPoints: { app: 'src/app.js', 'app-style': 'src/app.css' },
  outdir: dist,
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  sourcemap: false,
  legalComments: 'eof',
  logLevel: 'warning',
  plugins: [workerPlugin],
  metafile: true,
});

// esbuild names the CSS output after its entry; rename to app.css.
const { rename } = await import('node:fs/promises');
await rename(path.join(dist, 'app-style.css'), path.join(dist, 'app.css'));
await writeFile(path.join(dist, 'index.html'), await readFile(path.join(here, 'src/index.html'), 'utf8'));

for (const f of ['index.html', 'app.js', 'app.css']) {
  const { size } = await (await import('node:fs/promises')).stat(path.join(dist, f));
  console.log(`dist/${f}  ${(size / 1024).toFixed(1)} KiB`);
}
if (result.warnings.length) console.log(`${result.warnings.length} warning(s)`);
