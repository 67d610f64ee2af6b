import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vite';

const clientDir = fileURLToPath(new URL('../clients/js', import.meta.url));

export default defineConfig({
  // Relative asset URLs: dist/ can be served from any path or origin (tests serve it from a bare http.server).
  base: './',
  resolve: {
    // The client lives in the repo, not in node_modules; an alias keeps the import path package-like.
    alias: { '@sklambda/client': `${clientDir}/index.js` },
  },
  // Vite's built-in esbuild JSX transform; @vitejs/plugin-react is not needed for a page this small.
  esbuild: { jsx: 'automatic' },
  // Pre-bundle everything the page imports up front: otherwise the dev server discovers the JSX runtime on the
  // first page load and forces a full reload, which races with anyone (or any test) already using the page.
  optimizeDeps: { include: ['react', 'react-dom/client', 'react/jsx-dev-runtime'] },
  server: {
    port: 5173,
    strictPort: true,
    // The dev server must be allowed to read ../clients/js.
    fs: { allow: ['.', clientDir] },
  },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
});
