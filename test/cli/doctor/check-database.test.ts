import { afterEach, describe, expect, it } from "vitest";
import { runDevflow } from "../../helpers/cli-process.ts";
import { tempDir } from "../../helpers/git-fixtures.ts";
import { terminateOnCloseProxy } from "../../helpers/terminate-on-close-proxy.ts";
import { createTestDatabase } from "../../helpers/test-database.ts";

let closeProxy: (() => Promise<void>) | undefined;
afterEach(async () => {
  await closeProxy?.();
  closeProxy = undefined;
});

describe("devflow doctor's database check", () => {
  it("prints every check when PostgreSQL terminates its connection as doctor closes it", async () => {
    const proxy = await terminateOnCloseProxy(await createTestDatabase());
    closeProxy = () => proxy.close();
    const result = await runDevflow(["doctor", "--offline"], {
      DATABASE_URL: proxy.url,
      DEVFLOW_DATA_DIR: tempDir("doctor-terminated"),
      DEVFLOW_RUNNER: "in-process",
      DEVFLOW_AGENT: "scripted",
    });
    expect(result.stderr).not.toContain("Unhandled 'error' event");
    expect(result.stdout).toMatch(/^ok {4}database {13}PostgreSQL \d+/m);
    expect(result.stdout).toMatch(/^ok {4}migrations {11}all \d+ applied$/m);
    expect(result.stdout).toMatch(/^ok {4}agent CLI {12}scripted: built into devflow$/m);
    expect(result.stdout).toMatch(/\n0 failed, \d+ warnings, \d+ checks\n$/);
    expect(result.code).toBe(0);
    expect(proxy.terminated.length).toBeGreaterThan(0);
  });
});
