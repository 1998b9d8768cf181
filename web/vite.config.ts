import { defineConfig } from 'vite';

// The page is static files (`vite build` → dist/), served by `tessera blobs serve --web
// web/dist` so that uploads go to the page's own origin.
export default defineConfig({
  // The generated program client and @solana/kit keep their error messages only outside
  // production builds: a user deserves the program's own words when a transaction fails.
  define: { 'process.env.NODE_ENV': JSON.stringify('development') },
  build: { target: 'es2022', outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 4096 },
});
