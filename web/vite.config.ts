// The pages are built into the Python package, so `pip install` users need no Node.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  build: {
    outDir: "../synthconv/serve/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1000,
  },
});
