import { defineConfig } from 'tsup';

export default defineConfig({
  // `dpop` is its own entry, and `dpop: true` imports it on first use: apps without DPoP never load it.
  entry: ['src/index.ts', 'src/fetch.ts', 'src/node.ts', 'src/testing.ts', 'src/dpop.ts'],
  format: ['esm'],
  target: 'es2022',
  platform: 'neutral',
  dts: true,
  clean: true,
  // Source maps would point at src/, which the package does not ship.
  sourcemap: false,
  treeshake: true,
  // Each entry self-contained: the Node entry's few shared helpers are not worth a chunk that
  // every browser bundle would load.
  splitting: false,
  esbuildPlugins: [
    {
      // Without splitting, esbuild would inline the lazily imported DPoP code into every entry:
      // point `dpop: true`'s import at the built `session-keeper/dpop` entry instead.
      name: 'dpop-on-first-use',
      setup(build) {
        build.onResolve({ filter: /^\.\/dpop\/dpop\.ts$/ }, (args) =>
          args.kind === 'dynamic-import' ? { path: './dpop.js', external: true } : undefined,
        );
      },
    },
  ],
});
