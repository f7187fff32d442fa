import { randomUUID } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";

/** Creates an empty, migrated database for one test file and returns its URL. */
export async function createTestDatabase(): Promise<string> {
  const server = inject("pgServerUrl");
  const name = `devflow_test_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = new pg.Client({ connectionString: `${server}postgres` });
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${inject("pgTemplate")}`);
  } finally {
    await admin.end();
  }
  return `${server}${name}`;
}
