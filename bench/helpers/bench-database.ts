import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { startEmbeddedPostgres } from "../../src/db/embedded-postgres.ts";

/** A fresh database for one benchmark: on DATABASE_URL's server, or an embedded one (fsync on). */
export async function benchDatabase(
  label: string,
): Promise<{ url: string; stop: () => Promise<void> }> {
  const name = `devflow_bench_${label}_${Date.now()}`;
  if (process.env.DATABASE_URL) {
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await admin.query(`create database ${name}`);
    await admin.end();
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = `/${name}`;
    return { url: url.toString(), stop: async () => {} };
  }
  const dataDir = mkdtempSync(join(tmpdir(), "devflow-bench-pg-"));
  const cluster = await startEmbeddedPostgres({
    dataDir,
    port: 56000 + Math.floor(Math.random() * 1000),
    persistent: false,
    durable: true,
  });
  await cluster.createDatabase(name);
  return {
    url: cluster.url(name),
    stop: async () => {
      await cluster.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export const ms = (value: number) => `${value.toFixed(1)} ms`;
