import { defineConfig } from 'tsup';

export default defineConfig({
  // `dpop` is its own entry (and `dpop: true` imports it on first use): apps without DPoP never load it.
  entry: { index: 'src/index.ts', testing: 'src/testing.ts', dpop: 'src/dpop/index.ts' },
  format: ['esm'],
  target: 'es2022',
  platform: 'neutral',
  dts: true,
  clean: true,
  // Source maps would point at src/, which the package does not ship.
  sourcemap: false,
  treeshake: true,
});
