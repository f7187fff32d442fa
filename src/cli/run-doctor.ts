import { execFile } from "node:child_process";
import { createPrivateKey } from "node:crypto";
import { constants } from "node:fs";
import { access, mkdir, readFile } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import { createAppAuth } from "@octokit/auth-app";
import Docker from "dockerode";
import pg from "pg";
import { AGENT_ADAPTERS } from "../agents/agent-adapters.ts";
import { APPLIED_MIGRATIONS_TABLE, knownMigrations } from "../db/migrate.ts";
import { runningEmbeddedUrl } from "../db/open-database-url.ts";
import { probeBubblewrap } from "../runner/sandbox/probe-bubblewrap.ts";
import { readSettings, type Settings } from "../settings.ts";
import type { Check } from "./doctor/check.ts";
import { checkSandboxLimits } from "./doctor/check-sandbox-limits.ts";

const run = promisify(execFile);

export type { Check, CheckStatus } from "./doctor/check.ts";

/** Runs every check and prints them; resolves to whether none failed. */
export async function runDoctor(
  env: NodeJS.ProcessEnv,
  { offline = false }: { offline?: boolean } = {},
): Promise<boolean> {
  const checks = await doctor(env, { offline });
  for (const check of checks) {
    process.stdout.write(`${check.status.padEnd(4)}  ${check.name.padEnd(20)} ${check.detail}\n`);
    if (check.fix !== undefined) process.stdout.write(`${" ".repeat(26)} fix: ${check.fix}\n`);
  }
  const failed = checks.filter((check) => check.status === "fail").length;
  const warned = checks.filter((check) => check.status === "warn").length;
  process.stdout.write(`\n${failed} failed, ${warned} warnings, ${checks.length} checks\n`);
  return failed === 0;
}

/** The checks `devflow doctor` prints, in order. */
export async function doctor(
  env: NodeJS.ProcessEnv,
  { offline }: { offline: boolean },
): Promise<Check[]> {
  let settings: Settings;
  try {
    settings = readSettings(env);
  } catch (error) {
    return [
      {
        name: "configuration",
        status: "fail",
        detail: (error as Error).message,
        fix: "correct that variable (README.md, Configuration, lists every setting)",
      },
    ];
  }
  const checks: Check[] = [{ name: "configuration", status: "ok", detail: "every setting reads" }];
  checks.push(...(await checkGitHubApp(settings, { offline })));
  checks.push(...(await checkDatabase(settings)));
  checks.push(...(await checkRunner(settings)));
  checks.push(checkSandbox(settings, env));
  if (
    settings.runner === "process" &&
    settings.sandbox === "bubblewrap" &&
    settings.workerConcurrency > 0
  )
    checks.push(...checkSandboxLimits(settings));
  checks.push(...(await checkAgent(settings, env)));
  return checks;
}

async function checkGitHubApp(
  settings: Settings,
  { offline }: { offline: boolean },
): Promise<Check[]> {
  const { appId, privateKey, privateKeyPath, webhookSecret, baseUrl } = settings.github;
  if (appId === undefined && privateKey === undefined && privateKeyPath === undefined) {
    return [
      {
        name: "GitHub App",
        status: "warn",
        detail: "no app is registered: devflow start serves only the setup page",
        fix: `run devflow start, open http://localhost:${settings.port} and click "Register GitHub App"; it writes APP_ID, PRIVATE_KEY and WEBHOOK_SECRET to .env`,
      },
    ];
  }
  const checks: Check[] = [];
  checks.push(
    appId === undefined
      ? {
          name: "app id",
          status: "fail",
          detail: "APP_ID is not set",
          fix: "set APP_ID to the App ID shown on the app's settings page (Settings → Developer settings → GitHub Apps)",
        }
      : { name: "app id", status: "ok", detail: `APP_ID ${appId}` },
  );
  let pem: string | undefined = privateKey;
  const keyFix =
    "generate a private key on the app's settings page (Private keys → Generate) and set PRIVATE_KEY_PATH to the downloaded .pem file";
  if (pem === undefined && privateKeyPath !== undefined) {
    try {
      pem = await readFile(privateKeyPath, "utf8");
    } catch (error) {
      checks.push({
        name: "private key",
        status: "fail",
        detail: `PRIVATE_KEY_PATH ${privateKeyPath} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        fix: keyFix,
      });
    }
  }
  let keyOk = false;
  if (pem === undefined) {
    if (privateKeyPath === undefined)
      checks.push({
        name: "private key",
        status: "fail",
        detail: "PRIVATE_KEY and PRIVATE_KEY_PATH are not set",
        fix: keyFix,
      });
  } else {
    try {
      const key = createPrivateKey(pem);
      if (key.asymmetricKeyType !== "rsa")
        throw new Error(`a ${key.asymmetricKeyType} key, not RSA`);
      keyOk = true;
      checks.push({ name: "private key", status: "ok", detail: "an RSA private key in PEM form" });
    } catch (error) {
      checks.push({
        name: "private key",
        status: "fail",
        detail: `not a usable private key: ${(error as Error).message}`,
        fix: `${keyFix} (in PRIVATE_KEY itself, newlines may be written as \\n)`,
      });
    }
  }
  checks.push(
    webhookSecret === undefined
      ? {
          name: "webhook secret",
          status: "fail",
          detail: "WEBHOOK_SECRET is not set: devflow refuses webhooks it cannot verify",
          fix: "set WEBHOOK_SECRET to the secret in the app's Webhook settings (or set a new one there and here)",
        }
      : webhookSecret.length < 16
        ? {
            name: "webhook secret",
            status: "warn",
            detail: `WEBHOOK_SECRET has only ${webhookSecret.length} characters`,
            fix: "use a random secret of 32 characters or more: openssl rand -hex 32",
          }
        : { name: "webhook secret", status: "ok", detail: "set" },
  );
  if (appId !== undefined && keyOk && pem !== undefined) {
    checks.push(
      offline
        ? { name: "GitHub", status: "ok", detail: "not asked (--offline)" }
        : await askGitHub(appId, pem, baseUrl),
    );
  }
  return checks;
}

/** GET /app as the app: proves the key belongs to the app id and GitHub is reachable. */
async function askGitHub(appId: number, privateKey: string, baseUrl: string): Promise<Check> {
  try {
    const { token } = await createAppAuth({ appId, privateKey })({ type: "app" });
    const response = await fetch(`${baseUrl}/app`, {
      headers: { authorization: `Bearer ${token}`, accept: "application/vnd.github+json" },
      signal: AbortSignal.timeout(10_000),
    });
    if (response.ok) {
      const app = (await response.json()) as { slug?: string; installations_count?: number };
      return {
        name: "GitHub",
        status: "ok",
        detail: `${baseUrl} accepts the key: app ${app.slug ?? appId}, ${app.installations_count ?? "?"} installations`,
      };
    }
    return {
      name: "GitHub",
      status: "fail",
      detail: `${baseUrl}/app answered ${response.status}: GitHub does not accept this key for app ${appId}`,
      fix: "check that APP_ID and the private key belong to the same app, and that the machine's clock is right (the key signs a token valid for minutes)",
    };
  } catch (error) {
    return {
      name: "GitHub",
      status: "warn",
      detail: `could not reach ${baseUrl}: ${(error as Error).message}`,
      fix: "devflow needs HTTPS to the GitHub API; for GitHub Enterprise Server set GHE_HOST (and GHE_PROTOCOL); or run doctor --offline",
    };
  }
}

async function checkDatabase(settings: Settings): Promise<Check[]> {
  let url = settings.databaseUrl;
  if (url === undefined) {
    url = await runningEmbeddedUrl(settings.dataDir);
    if (url === undefined) {
      try {
        await mkdir(settings.dataDir, { recursive: true });
        await access(settings.dataDir, constants.W_OK);
      } catch (error) {
        return [
          {
            name: "database",
            status: "fail",
            detail: `DEVFLOW_DATA_DIR ${settings.dataDir} is not writable: ${(error as Error).message}`,
            fix: "point DEVFLOW_DATA_DIR at a writable directory, or set DATABASE_URL to a PostgreSQL server",
          },
        ];
      }
      return [
        {
          name: "database",
          status: "ok",
          detail: `embedded PostgreSQL under ${join(settings.dataDir, "postgres")}, started by devflow start (not running now)`,
        },
      ];
    }
  }
  const shown = url.replace(/\/\/[^@/]*@/, "//***@");
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (error) {
    return [
      {
        name: "database",
        status: "fail",
        detail: `cannot connect to ${shown}: ${(error as Error).message}`,
        fix: "check DATABASE_URL (postgres://USER:PASSWORD@HOST:5432/DATABASE) and that the server accepts connections from here",
      },
    ];
  }
  try {
    const checks: Check[] = [];
    const version = await client.query<{ v: string }>(
      "select current_setting('server_version') as v",
    );
    checks.push({
      name: "database",
      status: "ok",
      detail: `PostgreSQL ${version.rows[0]?.v} at ${shown}`,
    });
    const known = knownMigrations();
    const applied = await client
      .query<{ n: string }>(`select count(*) as n from ${APPLIED_MIGRATIONS_TABLE}`)
      .then((result) => Number(result.rows[0]?.n ?? 0))
      .catch(() => 0);
    checks.push(
      applied === known
        ? { name: "migrations", status: "ok", detail: `all ${known} applied` }
        : applied < known
          ? {
              name: "migrations",
              status: "warn",
              detail: `${applied} of ${known} applied`,
              fix: "run devflow migrate (devflow start applies them too)",
            }
          : {
              name: "migrations",
              status: "fail",
              detail: `the database has ${applied} migrations, this devflow knows ${known}`,
              fix: "a newer devflow migrated this database: run that version (README.md, Upgrading)",
            },
    );
    const queue = await client
      .query<{ version: number }>("select version from pgboss.version")
      .then((result) => result.rows[0]?.version)
      .catch(() => undefined);
    checks.push(
      queue === undefined
        ? {
            name: "job queue",
            status: "warn",
            detail: "pg-boss has no schema in this database yet",
            fix: "devflow start or devflow worker creates it on first start",
          }
        : { name: "job queue", status: "ok", detail: `pg-boss schema version ${queue}` },
    );
    return checks;
  } finally {
    await client.end().catch(() => {});
  }
}

async function checkRunner(settings: Settings): Promise<Check[]> {
  switch (settings.runner) {
    case "in-process":
      return [
        {
          name: "runner",
          status: "warn",
          detail: "in-process: the scripted agent inside devflow's own process, for tests",
          fix: "set DEVFLOW_RUNNER=process or DEVFLOW_RUNNER=docker",
        },
      ];
    case "process":
      try {
        const { stdout } = await run("git", ["--version"]);
        return [
          {
            name: "runner",
            status: "ok",
            detail: `process: agents run as child processes of each worker (${stdout.trim()})`,
          },
        ];
      } catch {
        return [
          {
            name: "runner",
            status: "fail",
            detail: "git is not on PATH: workspaces cannot be checked out",
            fix: "install git (apt-get install git)",
          },
        ];
      }
    case "docker": {
      const docker = new Docker(
        settings.docker.socketPath === undefined ? {} : { socketPath: settings.docker.socketPath },
      );
      try {
        await docker.ping();
      } catch (error) {
        return [
          {
            name: "runner",
            status: "fail",
            detail: `docker: no Docker Engine answers at ${settings.docker.socketPath ?? "/var/run/docker.sock"}: ${(error as Error).message}`,
            fix: "start dockerd, or set DOCKER_HOST=unix:///path/to/docker.sock",
          },
        ];
      }
      try {
        await docker.getImage(settings.docker.image).inspect();
      } catch {
        return [
          {
            name: "runner",
            status: "fail",
            detail: `docker: the image ${settings.docker.image} is not on this host`,
            fix: `build it: docker build --target runner -t ${settings.docker.image} . (or set DEVFLOW_DOCKER_IMAGE)`,
          },
        ];
      }
      return [
        {
          name: "runner",
          status: "ok",
          detail: `docker: image ${settings.docker.image}, network ${settings.docker.network}`,
        },
      ];
    }
  }
}

/** Where agents may connect: their model API and the operator's list. */
function egressSummary(settings: Settings, env: NodeJS.ProcessEnv): string {
  const adapter = settings.agent === undefined ? undefined : AGENT_ADAPTERS.get(settings.agent);
  const rules = [...(adapter?.egress(env) ?? []), ...settings.egressAllow];
  const names = rules.map(
    (rule) => `${rule.host}${rule.port === undefined ? "" : `:${rule.port}`}`,
  );
  return names.length === 0 ? "no network" : `network only to ${names.join(", ")}`;
}

/** How agents are contained here: the process runner's sandbox, or the containers' settings. */
function checkSandbox(settings: Settings, env: NodeJS.ProcessEnv): Check {
  const name = "sandbox";
  if (settings.runner === "in-process") {
    return {
      name,
      status: "ok",
      detail: "not used: the in-process runner runs only the scripted agent",
    };
  }
  if (settings.workerConcurrency === 0) {
    return {
      name,
      status: "ok",
      detail: "not needed: DEVFLOW_WORKER_CONCURRENCY=0 runs no agents here",
    };
  }
  if (settings.runner === "docker") {
    return settings.docker.network === "none"
      ? {
          name,
          status: "ok",
          detail: `containers: non-root, read-only root, no capabilities, ${egressSummary(settings, env)} (through devflow's egress proxy)`,
        }
      : {
          name,
          status: "warn",
          detail: `containers get the Docker network "${settings.docker.network}": agents can reach hosts around the egress allowlist (cloud metadata included)`,
          fix: "unset DEVFLOW_DOCKER_NETWORK (none): agents then reach only what the egress proxy allows; widen it with DEVFLOW_EGRESS_ALLOW",
        };
  }
  if (settings.sandbox === "none") {
    return {
      name,
      status: "warn",
      detail:
        "DISABLED by DEVFLOW_INSECURE_NO_SANDBOX: agents run as plain processes and can read devflow's private key, .env, database and other runs",
      fix: "unset DEVFLOW_INSECURE_NO_SANDBOX and install bubblewrap, or use DEVFLOW_RUNNER=docker",
    };
  }
  const probe = probeBubblewrap();
  return probe.ok
    ? {
        name,
        status: "ok",
        detail: `${probe.version}: own user, pid, network, ipc and uts namespaces, uid 1000 inside, ${egressSummary(settings, env)}`,
      }
    : {
        name,
        status: "fail",
        detail: `agents cannot be sandboxed on this host, so devflow will not run them: ${probe.problem}`,
        fix: probe.fix,
      };
}

async function checkAgent(settings: Settings, env: NodeJS.ProcessEnv): Promise<Check[]> {
  const names = [...AGENT_ADAPTERS.keys()].join(", ");
  if (settings.agent === undefined) {
    return [
      {
        name: "agent",
        status: "warn",
        detail: "DEVFLOW_AGENT is not set: a run waits at its first phase and says so on the issue",
        fix: `set DEVFLOW_AGENT to one of ${names} (or name an agent in a repository's .github/devflow.yml)`,
      },
    ];
  }
  const adapter = AGENT_ADAPTERS.get(settings.agent);
  if (adapter === undefined) {
    return [
      {
        name: "agent",
        status: "fail",
        detail: `DEVFLOW_AGENT=${settings.agent} is not an agent devflow knows`,
        fix: `set DEVFLOW_AGENT to one of ${names}`,
      },
    ];
  }
  const checks: Check[] = [];
  const executable =
    adapter.name === "command" ? settings.agentCommand?.trim().split(/\s+/)[0] : adapter.executable;
  if (adapter.name === "command" && executable === undefined) {
    checks.push({
      name: "agent CLI",
      status: "fail",
      detail: "the command agent has no DEVFLOW_AGENT_COMMAND",
      fix: "set DEVFLOW_AGENT_COMMAND, e.g. 'my-agent --prompt {prompt} --out {output}'",
    });
  } else if (executable === undefined) {
    checks.push({ name: "agent CLI", status: "ok", detail: `${adapter.name}: built into devflow` });
  } else if (settings.runner === "docker") {
    checks.push(await findInImage(settings, executable));
  } else {
    const found = await onPath(executable, env.PATH ?? "");
    checks.push(
      found === undefined
        ? {
            name: "agent CLI",
            status: "fail",
            detail: `${executable} is not on PATH`,
            fix: `install ${adapter.name} on every worker host (README.md, Runners and agents), or use DEVFLOW_RUNNER=docker with the runner image`,
          }
        : { name: "agent CLI", status: "ok", detail: found },
    );
  }
  const keys = adapter.keyEnv ?? [];
  if (keys.length > 0) {
    const set = keys.filter((name) => (env[name] ?? "") !== "");
    checks.push(
      set.length === 0
        ? {
            name: "agent key",
            status: "fail",
            detail: `none of ${keys.join(", ")} is set`,
            fix: `set ${keys[0]} to the key ${adapter.name} uses (only the variables the adapter names reach the agent)`,
          }
        : { name: "agent key", status: "ok", detail: `${set.join(", ")} set` },
    );
  }
  return checks;
}

async function onPath(executable: string, path: string): Promise<string | undefined> {
  const candidates = executable.includes("/")
    ? [executable]
    : path
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, executable));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

/** Whether the runner image has the agent's program, asked of a throwaway container. */
async function findInImage(settings: Settings, executable: string): Promise<Check> {
  const docker = new Docker(
    settings.docker.socketPath === undefined ? {} : { socketPath: settings.docker.socketPath },
  );
  try {
    const container = await docker.createContainer({
      Image: settings.docker.image,
      Entrypoint: ["sh", "-c", 'command -v "$0"', executable],
      Cmd: [],
      HostConfig: { NetworkMode: "none", AutoRemove: false },
    });
    try {
      await container.start();
      const { StatusCode } = (await container.wait()) as { StatusCode: number };
      return StatusCode === 0
        ? {
            name: "agent CLI",
            status: "ok",
            detail: `${executable} is in ${settings.docker.image}`,
          }
        : {
            name: "agent CLI",
            status: "fail",
            detail: `${executable} is not in the image ${settings.docker.image}`,
            fix: `rebuild the runner image with it: docker build --target runner --build-arg AGENT_CLIS=<list> -t ${settings.docker.image} .`,
          };
    } finally {
      await container.remove({ force: true }).catch(() => {});
    }
  } catch (error) {
    return {
      name: "agent CLI",
      status: "fail",
      detail: `could not look inside ${settings.docker.image}: ${(error as Error).message}`,
      fix: "fix the runner check above first",
    };
  }
}
