import type { PgBoss } from "pg-boss";
import type { Logger } from "pino";
import type { Db } from "../db/client.ts";
import type { Registry } from "../registry/types.ts";

export interface EngineLimits {
  maxActiveRuns: number;
  maxActiveRunsPerRepository: number;
  /** The budget a run gets when its start names none; undefined: no limit. */
  defaultBudgetUsd?: number | undefined;
}

/** What every engine command needs; passed in, never imported as a singleton. */
export interface EngineDeps {
  db: Db;
  boss: PgBoss;
  registry: Registry;
  limits: EngineLimits;
  log: Logger;
}
