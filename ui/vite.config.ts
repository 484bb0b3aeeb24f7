import { defineConfig } from 'vite';

// `base: './'`: the same build is served by `steward serve` at `/` and loaded by Tauri.
export default defineConfig({
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: false },
});
