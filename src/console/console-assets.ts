import { readFile } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { SECURITY_HEADERS } from "./http-helpers.ts";

const require = createRequire(import.meta.url);

/** The only files the console serves, by name: its own script and style, and uPlot's. */
const ASSETS: Record<string, { path: string; type: string }> = {
  "console.css": {
    path: fileURLToPath(new URL("./assets/console.css", import.meta.url)),
    type: "text/css; charset=utf-8",
  },
  "console.js": {
    path: fileURLToPath(new URL("./assets/console.js", import.meta.url)),
    type: "text/javascript; charset=utf-8",
  },
  "uplot.js": {
    path: require.resolve("uplot/dist/uPlot.iife.min.js"),
    type: "text/javascript; charset=utf-8",
  },
  "uplot.css": {
    path: require.resolve("uplot/dist/uPlot.min.css"),
    type: "text/css; charset=utf-8",
  },
};

/** Serves /console/assets/<name> from the app itself (no CDN); false for a name it does not have. */
export async function serveAsset(res: ServerResponse, name: string): Promise<boolean> {
  const asset = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
  if (asset === undefined) return false;
  const body = await readFile(asset.path);
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    "content-type": asset.type,
    "cache-control": "public, max-age=300",
  });
  res.end(body);
  return true;
}
