import { defineConfig } from 'vite';

export default defineConfig({
  // Capacitor serves the build from the app bundle: relative asset paths work there and in tests.
  base: './',
  build: {
    outDir: 'dist',
    target: 'es2022',
    // Readable stack traces in Safari's Web Inspector when the app runs on a device.
    sourcemap: true,
  },
});
