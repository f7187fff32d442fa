import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { PassThrough } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { readSettings } from "../../src/settings.ts";
import { dockerForTests } from "../helpers/docker-for-tests.ts";
import {
  APP_ID,
  appPrivateKey,
  labeledPayload,
  sendWebhook,
  WEBHOOK_SECRET,
} from "../helpers/github-fixtures.ts";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));
const env = await dockerForTests();
// The app image (`docker build --target app`), built by .ci/run from the local base image.
const appImage = process.env.DEVFLOW_TEST_APP_IMAGE;
const requireAll = process.env.DEVFLOW_REQUIRE_DOCKER === "1";
if (requireAll && appImage === undefined) {
  throw new Error("DEVFLOW_REQUIRE_DOCKER=1 but DEVFLOW_TEST_APP_IMAGE names no app image");
}

async function composeAvailable(): Promise<boolean> {
  try {
    await run("docker-compose", ["version"]);
    return true;
  } catch {
    if (requireAll) throw new Error("DEVFLOW_REQUIRE_DOCKER=1 but docker-compose is not installed");
    return false;
  }
}

const hasCompose = await composeAvailable();

describe("docker-compose.yml", () => {
  const compose = parse(readFileSync(`${root}/docker-compose.yml`, "utf8"), { merge: true }) as {
    services: Record<
      string,
      { image?: string; command?: string[]; environment?: Record<string, string> }
    >;
  };

  it("has PostgreSQL, the app, a scale-out worker and the runner image, and every setting it passes is one devflow reads", () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      "devflow",
      "postgres",
      "runner-image",
      "worker",
    ]);
    expect(compose.services.devflow?.command).toEqual(["start"]);
    expect(compose.services.worker?.command).toEqual(["worker"]);
    const environment = compose.services.devflow?.environment ?? {};
    expect(environment.DEVFLOW_DOCKER_IMAGE).toBe(compose.services["runner-image"]?.image);
    // What compose passes, with its defaults filled in, reads as devflow settings.
    const filled = Object.fromEntries(
      Object.entries(environment).map(([key, value]) => [
        key,
        String(value).replace(/\$\{\w+:-([^}]*)\}/g, "$1"),
      ]),
    );
    const settings = readSettings(filled);
    expect(settings.runner).toBe("docker");
    expect(settings.databaseUrl).toBe("postgres://devflow:devflow@postgres:5432/devflow");
    const readme = readFileSync(`${root}/README.md`, "utf8");
    for (const key of Object.keys(environment)) {
      if (key.endsWith("_API_KEY")) continue;
      expect(readme, `README.md documents ${key}`).toContain(`\`${key}\``);
    }
  });

  it.runIf(hasCompose)("parses with docker-compose, the scale profile included", async () => {
    await run("docker-compose", ["-f", `${root}/docker-compose.yml`, "config", "-q"], {
      cwd: root,
    });
    const { stdout } = await run(
      "docker-compose",
      ["-f", `${root}/docker-compose.yml`, "--profile", "scale", "config", "--services"],
      { cwd: root },
    );
    expect(stdout.trim().split("\n").sort()).toEqual([
      "devflow",
      "postgres",
      "runner-image",
      "worker",
    ]);
  });
});

describe.runIf(env.available && appImage !== undefined)("the app image", () => {
  const image = appImage ?? "";

  async function runOnce(cmd: string[], extraEnv: string[] = [], binds: string[] = []) {
    const out = new PassThrough();
    let text = "";
    out.on("data", (chunk: Buffer) => {
      text += chunk.toString();
    });
    const [result, container] = (await env.docker.run(image, cmd, out, {
      Env: extraEnv,
      HostConfig: { NetworkMode: "none", AutoRemove: false, Binds: binds },
    })) as [{ StatusCode: number }, { remove(options: object): Promise<unknown> }];
    await container.remove({ force: true });
    return { code: result.StatusCode, text };
  }

  /** As docker-compose.yml runs it: agents in containers, through the host's Docker Engine. */
  const composeLike = {
    env: ["DEVFLOW_AGENT=scripted", "DEVFLOW_RUNNER=docker", `DEVFLOW_DOCKER_IMAGE=${env.image}`],
    binds: [`${env.socketPath ?? "/var/run/docker.sock"}:/var/run/docker.sock`],
  };

  it("answers --help and passes doctor offline as compose runs it", async () => {
    expect((await runOnce(["--help"])).code).toBe(0);
    const doctor = await runOnce(["doctor", "--offline"], composeLike.env, composeLike.binds);
    expect(doctor.text).toContain("0 failed");
    expect(doctor.text).toMatch(/ok\s+sandbox\s+containers: non-root, read-only root/);
    expect(doctor.code).toBe(0);
  });

  it("with agents as processes but no way to sandbox them, doctor fails and says how to fix it", async () => {
    const doctor = await runOnce(["doctor", "--offline"], ["DEVFLOW_AGENT=scripted"]);
    expect(doctor.code).toBe(1);
    expect(doctor.text).toMatch(/fail\s+sandbox\s+agents cannot be sandboxed on this host/);
    expect(doctor.text).toContain("DEVFLOW_RUNNER=docker");
  });

  it("runs devflow start with its embedded PostgreSQL, listens on every interface (a signed webhook from outside the container is recorded), and stops cleanly on docker stop", async () => {
    // A network of its own: the container is reached at its address, not through loopback.
    const network = await env.docker.createNetwork({ Name: `devflow-app-test-${Date.now()}` });
    const container = await env.docker.createContainer({
      Image: image,
      Cmd: ["start"],
      Env: [
        ...composeLike.env,
        `APP_ID=${APP_ID}`,
        `PRIVATE_KEY=${appPrivateKey()}`,
        `WEBHOOK_SECRET=${WEBHOOK_SECRET}`,
        // Nothing answers there: processing the delivery is not this test's business.
        "GHE_HOST=127.0.0.1:9",
        "GHE_PROTOCOL=http",
      ],
      HostConfig: { NetworkMode: network.id, Binds: composeLike.binds },
    });
    try {
      await container.start();
      const inspected = await container.inspect();
      const address = Object.values(inspected.NetworkSettings.Networks)[0]?.IPAddress ?? "";
      expect(address).not.toBe("");
      const base = `http://${address}:3000`;
      const deadline = Date.now() + 90_000;
      let health = "";
      while (Date.now() < deadline) {
        health = await fetch(`${base}/healthz`).then(
          (response) => response.text(),
          () => "",
        );
        if (health.includes('"status":"ok"')) break;
        await sleep(500);
      }
      expect(health).toContain('"status":"ok","database":"ok","queue":"ok"');
      const delivered = await sendWebhook(
        0,
        "issues",
        labeledPayload({
          issue: 1,
          repository: "octo/app",
          cloneUrl: "https://example.test/x.git",
        }),
        { url: `${base}/api/github/webhooks` },
      );
      expect(delivered.status).toBe(200);
      await container.stop({ t: 45 });
      const stopped = await container.inspect();
      expect(stopped.State.ExitCode).toBe(0);
      const logs = (await container.logs({ stdout: true, stderr: true })).toString();
      expect(logs).toContain(`"deliveryId":"${delivered.id}"`);
      expect(logs).toContain('"msg":"delivery queued"');
      expect(logs).toContain('"msg":"stopped"');
    } finally {
      await container.remove({ force: true }).catch(() => {});
      await network.remove().catch(() => {});
    }
  }, 150_000);
});
