import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/fetch.ts', 'src/node.ts', 'src/testing.ts'],
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
});
