// Bundles the page: node build.mjs NODE_MODULES SRC OUT
// Everything the page needs in four files (no CDN, no module loader): app.js is uPlot (from
// npm, pinned by package-lock.json) followed by the page's own code; app.css likewise.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const [modules, src, out] = process.argv.slice(2);
if (!out) {
  console.error("usage: node build.mjs NODE_MODULES SRC OUT");
  process.exit(2);
}
mkdirSync(out, { recursive: true });
const read = (...parts) => readFileSync(join(...parts), "utf8");
const uplot = JSON.parse(read(modules, "uplot", "package.json")).version;
writeFileSync(
  join(out, "app.js"),
  `/* uPlot ${uplot} (MIT) */\n` + read(modules, "uplot", "dist", "uPlot.iife.min.js") +
    "\n/* dmon */\n" + read(src, "app.js"),
);
writeFileSync(join(out, "app.css"), read(modules, "uplot", "dist", "uPlot.min.css") + "\n" + read(src, "style.css"));
for (const page of ["index.html", "login.html"]) writeFileSync(join(out, page), read(src, page));
console.log(`[ui] bundled the page with uPlot ${uplot} into ${out}`);
