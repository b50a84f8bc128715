import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/fetch.ts', 'src/testing.ts'],
  format: ['esm'],
  target: 'es2022',
  platform: 'neutral',
  dts: true,
  clean: true,
  // Source maps would point at src/, which the package does not ship.
  sourcemap: false,
  treeshake: true,
});
