import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import nock from "nock";
import { afterEach, describe, expect, it } from "vitest";
import { doctorChecks as doctor } from "../../src/cli/doctor/doctor-checks.ts";
import { runDevflow } from "../helpers/cli-process.ts";
import { tempDir } from "../helpers/git-fixtures.ts";
import { API, APP_ID, appPrivateKey, WEBHOOK_SECRET } from "../helpers/github-fixtures.ts";
import { createTestDatabase } from "../helpers/test-database.ts";

afterEach(() => {
  nock.cleanAll();
});

describe("the devflow command line", () => {
  it("prints help for itself and for each command, and exits 2 on wrong usage", async () => {
    const help = await runDevflow(["--help"], {});
    expect(help.code).toBe(0);
    for (const command of ["start", "worker", "migrate", "doctor", "runs", "templates"]) {
      expect(help.stdout).toContain(`  ${command} `);
      const own = await runDevflow([command, "--help"], {});
      expect(own.code, command).toBe(0);
      expect(own.stdout, command).toMatch(new RegExp(`^Usage: devflow ${command}`));
    }
    expect((await runDevflow([], {})).code).toBe(2);
    const unknown = await runDevflow(["frobnicate"], {});
    expect(unknown).toMatchObject({ code: 2 });
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    const badAction = await runDevflow(["runs", "explode"], {});
    expect(badAction.code).toBe(2);
    expect(badAction.stderr).toContain('unknown runs action "explode"');
    expect((await runDevflow(["start", "extra"], {})).code).toBe(2);
    expect((await runDevflow(["doctor", "--bogus"], {})).code).toBe(2);
  });

  it("devflow worker without a database to join says how to give it one, and exits 1", async () => {
    const lonely = await runDevflow(["worker"], { DEVFLOW_DATA_DIR: tempDir("no-server") });
    expect(lonely.code).toBe(1);
    expect(lonely.stderr).toContain("no devflow is running on");
    expect(lonely.stderr).toContain("set DATABASE_URL");
  });

  it("templates validate: 0 for a valid template, 1 with the file and JSON pointer for a broken one", async () => {
    const dir = tempDir("templates");
    const valid = await runDevflow(
      ["templates", "validate", join(process.cwd(), "templates/development@1.yml")],
      {},
    );
    expect(valid.code).toBe(0);
    expect(valid.stdout).toContain("development@1 (phases spec, phase_plan, implement)");
    const broken = join(dir, "broken@1.yml");
    writeFileSync(
      broken,
      [
        "name: broken",
        "version: 1",
        "description: A template with a phase for an unbound role.",
        "roles:",
        "  writer: { persona: spec-writer@1 }",
        "phases:",
        "  - key: spec",
        "    title: Spec",
        "    role: ghost",
        "    artifact: dev/spec@1",
        "",
      ].join("\n"),
    );
    const result = await runDevflow(["templates", "validate", broken], {});
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /fail {2}.*broken@1\.yml: \/phases\/0\/role: role ghost is not bound/,
    );
    const missing = await runDevflow(["templates", "validate", join(dir, "none@1.yml")], {});
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain("cannot be read");
  });

  it("templates validate: a repository's template may name the personas next to it, which are checked too", async () => {
    const root = tempDir("repository");
    mkdirSync(join(root, ".github/devflow/templates"), { recursive: true });
    mkdirSync(join(root, ".github/devflow/personas"), { recursive: true });
    const template = join(root, ".github/devflow/templates/triage@1.yml");
    writeFileSync(
      template,
      [
        "name: triage",
        "version: 1",
        "description: Assess a report.",
        "roles:",
        "  triager: { persona: triager@1 }",
        "phases:",
        "  - { key: assess, title: Assessment, role: triager, artifact: dev/review@1 }",
        "",
      ].join("\n"),
    );
    const persona = join(root, ".github/devflow/personas/triager@1.md");
    writeFileSync(persona, "---\nname: triager\nversion: 1\ndescription: Sorts.\n---\nSort.\n");
    const valid = await runDevflow(["templates", "validate", template], {});
    expect(valid.stdout).toContain("triage@1 (phases assess)");
    expect(valid.code).toBe(0);
    writeFileSync(persona, "---\nname: ../triager\nversion: 1\ndescription: Sorts.\n---\nSort.\n");
    const broken = await runDevflow(["templates", "validate", template], {});
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/fail {2}.*triager@1\.md: \/name: must match pattern/);
  });

  it("doctor: every problem with its fix, exit 1; a sound configuration, exit 0", async () => {
    const bad = await runDevflow(["doctor"], {
      APP_ID: "12",
      PRIVATE_KEY: "-----BEGIN RSA PRIVATE KEY-----\\nnot a key\\n-----END RSA PRIVATE KEY-----",
      DEVFLOW_RUNNER: "docker",
      DOCKER_HOST: "unix:///nonexistent/docker.sock",
      DEVFLOW_AGENT: "claude-code",
      DATABASE_URL: "postgres://nobody:nothing@127.0.0.1:1/none",
    });
    expect(bad.code).toBe(1);
    const failed = (name: string) => new RegExp(`^fail  ${name}`, "m");
    expect(bad.stdout).toMatch(failed("private key"));
    expect(bad.stdout).toMatch(failed("webhook secret"));
    expect(bad.stdout).toMatch(failed("database"));
    expect(bad.stdout).toMatch(failed("runner"));
    expect(bad.stdout).toMatch(failed("agent key"));
    expect(bad.stdout).toContain("fix: set WEBHOOK_SECRET");
    expect(bad.stdout).toContain("fix: set ANTHROPIC_API_KEY");
    expect(bad.stdout).toContain("fix: start dockerd, or set DOCKER_HOST");
    const unreadable = await runDevflow(["doctor"], { DEVFLOW_MAX_ACTIVE_RUNS: "lots" });
    expect(unreadable.code).toBe(1);
    expect(unreadable.stdout).toContain("DEVFLOW_MAX_ACTIVE_RUNS must be an integer");

    const keyFile = join(tempDir("key"), "app.pem");
    writeFileSync(keyFile, appPrivateKey());
    const good = await runDevflow(["doctor", "--offline"], {
      APP_ID: String(APP_ID),
      PRIVATE_KEY_PATH: keyFile,
      WEBHOOK_SECRET: "a-webhook-secret-long-enough-for-doctor",
      DATABASE_URL: await createTestDatabase(),
      DEVFLOW_RUNNER: "process",
      DEVFLOW_AGENT: "scripted",
    });
    expect(good.stdout).toMatch(/^ok {4}migrations +all \d+ applied/m);
    expect(good.stdout).toMatch(/^ok {4}sandbox +bubblewrap [\d.]+: own user, pid, network/m);
    expect(good.stdout).toContain("0 failed, 0 warnings");
    expect(good.code).toBe(0);
  });

  it("doctor reports the sandbox: ok, unavailable with the fix, or disabled; start refuses to run agents without one", async () => {
    const fakeBin = tempDir("no-bwrap");
    // As root, doctor tries bubblewrap as the agents' uid, which must reach it.
    chmodSync(fakeBin, 0o755);
    // A bubblewrap that cannot set anything up, as on a host without user namespaces.
    writeFileSync(
      join(fakeBin, "bwrap"),
      '#!/bin/sh\ncase "$1" in --version) echo "bubblewrap 0.8.0";; --help) echo "--disable-userns";; *) echo "bwrap: setting up uid map: Permission denied" >&2; exit 1;; esac\n',
      { mode: 0o755 },
    );
    const env = { DEVFLOW_AGENT: "scripted", DATABASE_URL: await createTestDatabase() };
    const broken = { ...env, PATH: `${fakeBin}:${process.env.PATH}` };
    const unavailable = await runDevflow(["doctor", "--offline"], broken);
    expect(unavailable.code).toBe(1);
    expect(unavailable.stdout).toMatch(
      /^fail {2}sandbox +agents cannot be sandboxed on this host/m,
    );
    expect(unavailable.stdout).toContain("setting up uid map: Permission denied");
    expect(unavailable.stdout).toContain("fix: allow unprivileged user namespaces");
    const refused = await runDevflow(["start"], {
      ...broken,
      DEVFLOW_DATA_DIR: tempDir("refused"),
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("agents cannot be sandboxed on this host");
    expect(refused.stderr).toContain("DEVFLOW_WORKER_CONCURRENCY=0");
    const disabled = await runDevflow(["doctor", "--offline"], {
      ...env,
      DEVFLOW_INSECURE_NO_SANDBOX: "1",
    });
    expect(disabled.stdout).toMatch(/^warn {2}sandbox +DISABLED by DEVFLOW_INSECURE_NO_SANDBOX/m);
    const elsewhere = await runDevflow(["doctor", "--offline"], {
      ...broken,
      DEVFLOW_WORKER_CONCURRENCY: "0",
    });
    expect(elsewhere.stdout).toMatch(/^ok {4}sandbox +not needed: DEVFLOW_WORKER_CONCURRENCY=0/m);
  });

  it("doctor asks GitHub whether it accepts the app's key", async () => {
    const env = {
      APP_ID: String(APP_ID),
      PRIVATE_KEY: appPrivateKey(),
      WEBHOOK_SECRET,
      DATABASE_URL: await createTestDatabase(),
      DEVFLOW_RUNNER: "process",
      DEVFLOW_AGENT: "scripted",
    };
    nock(API).get("/app").reply(200, { slug: "devflow-test", installations_count: 3 });
    const accepted = await doctor(env, { offline: false });
    expect(accepted.find((check) => check.name === "GitHub")).toMatchObject({
      status: "ok",
      detail: expect.stringContaining("app devflow-test, 3 installations"),
    });
    nock(API).get("/app").reply(401, { message: "A JSON web token could not be decoded" });
    const refused = await doctor(env, { offline: false });
    expect(refused.find((check) => check.name === "GitHub")).toMatchObject({
      status: "fail",
      detail: expect.stringContaining("answered 401"),
    });
  });
});
