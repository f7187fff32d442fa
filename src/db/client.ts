import { drizzle, type NodePgDatabase } from "drizzle-orm/node-postgres";
import pg from "pg";
import * as schema from "./schema/index.ts";

export type Schema = typeof schema;
export type Db = NodePgDatabase<Schema>;
/** A drizzle transaction; engine helpers take this so they can only run inside one. */
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

export interface Database {
  db: Db;
  pool: pg.Pool;
  url: string;
  close(): Promise<void>;
}

export interface CreateDatabaseOptions {
  url: string;
  max?: number;
}

/**
 * Opens a pool and a drizzle client on it.
 *
 * @example
 * const database = createDatabase({ url: process.env.DATABASE_URL });
 */
export function createDatabase({ url, max = 10 }: CreateDatabaseOptions): Database {
  const pool = new pg.Pool({ connectionString: url, max });
  // An idle client that loses its server must not crash the process; the next query reconnects.
  pool.on("error", () => {});
  const db = drizzle(pool, { schema });
  return {
    db,
    pool,
    url,
    close: () => pool.end(),
  };
}
