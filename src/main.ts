import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { EXIT, exitCodeFor, UsageError } from "./cli/exit-codes.ts";
import { DOCTOR_USAGE, JOBS_USAGE, RUNS_USAGE, TEMPLATES_USAGE } from "./cli/usage.ts";
import { isDevflowError } from "./errors.ts";
import { readSettings } from "./settings.ts";

// Each command's module loads when it runs, so help and usage errors answer at once.
const USAGE = `devflow: a gated, multi-phase coding-agent workflow for labelled issues

Usage: devflow <command> [options]        devflow <command> --help for one command

Commands:
  start       the whole app: database, migrations, workers, webhook server (npm start)
  worker      job workers only, against the same database as a server
  migrate     apply database migrations and store the templates and schemas
  doctor      check the configuration and say how to fix what is wrong
  runs        list, show, pause, resume and abort runs
  jobs        list the jobs that failed every retry, and retry them
  templates   validate workflow template files
  help        show this text

Configuration is read from the environment; README.md lists every setting.
Exit codes: 0 done, 1 failed, 2 wrong usage, 3 no such run, 4 not possible in the run's state.`;

interface Command {
  usage: string;
  /** Resolves to the exit code. */
  run(args: string[]): Promise<number>;
}

const SERVICE_NOTE = `Runs until SIGTERM or SIGINT, then stops taking jobs and lets running ones finish
for DEVFLOW_STOP_GRACE_SECONDS (30); an agent still running near the end is stopped
and its phase handed back as a new attempt for any worker. Then it stops the
embedded database. Exit codes: 0 stopped cleanly, 1 failed to start.`;

const noArguments = (name: string, args: string[]) => {
  if (args.length > 0) throw new UsageError(`${name} takes no arguments, got "${args.join(" ")}"`);
};

const COMMANDS: Record<string, Command> = {
  start: {
    usage: `Usage: devflow start

Applies migrations, then runs the job workers and the GitHub webhook server on
PORT (POST /api/github/webhooks, GET /healthz, GET /metrics). Without DATABASE_URL
it starts an embedded PostgreSQL under DEVFLOW_DATA_DIR; without app credentials
it serves the setup page that registers the GitHub App.
${SERVICE_NOTE}`,
    async run(args) {
      noArguments("start", args);
      const { serviceCommand } = await import("./cli/service-command.ts");
      await serviceCommand({ settings: readSettings(), role: "start" });
      return EXIT.ok;
    },
  },
  worker: {
    usage: `Usage: devflow worker

Runs job workers only (phases, advances, publishing to GitHub), against the
database of a devflow server: set DATABASE_URL to the same PostgreSQL. Serves
GET /healthz and GET /metrics on PORT. Run one per worker host; pg-boss spreads
the jobs across them.
${SERVICE_NOTE}`,
    async run(args) {
      noArguments("worker", args);
      const { serviceCommand } = await import("./cli/service-command.ts");
      await serviceCommand({ settings: readSettings(), role: "worker" });
      return EXIT.ok;
    },
  },
  migrate: {
    usage: `Usage: devflow migrate

Applies the database migrations and stores the templates, personas and schemas,
then exits. devflow start and devflow worker do this too; run it on its own
before rolling out a new version to many hosts. Exit codes: 0 done, 1 failed.`,
    async run(args) {
      noArguments("migrate", args);
      const { migrateCommand } = await import("./cli/migrate-command.ts");
      await migrateCommand({ settings: readSettings() });
      return EXIT.ok;
    },
  },
  doctor: {
    usage: DOCTOR_USAGE,
    async run(args) {
      let offline: boolean | undefined;
      try {
        ({ offline } = parseArgs({ args, options: { offline: { type: "boolean" } } }).values);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      const { doctorCommand } = await import("./cli/doctor/doctor-command.ts");
      return (await doctorCommand(process.env, { offline: offline ?? false }))
        ? EXIT.ok
        : EXIT.failed;
    },
  },
  runs: {
    usage: RUNS_USAGE,
    async run(args) {
      const { runsCommand } = await import("./cli/runs-command.ts");
      await runsCommand(readSettings(), args);
      return EXIT.ok;
    },
  },
  jobs: {
    usage: JOBS_USAGE,
    async run(args) {
      const { jobsCommand } = await import("./cli/jobs-command.ts");
      await jobsCommand(readSettings(), args);
      return EXIT.ok;
    },
  },
  templates: {
    usage: TEMPLATES_USAGE,
    async run(args) {
      const { templatesCommand } = await import("./cli/templates-command.ts");
      return (await templatesCommand(args)) ? EXIT.ok : EXIT.failed;
    },
  },
};

/** What went wrong, never "undefined": a failure that says nothing is still reported as one. */
function describeError(error: unknown): string {
  if (error instanceof Error && error.message !== "") return error.message;
  if (typeof error === "string" && error !== "") return error;
  return `failed without saying why (${error instanceof Error ? error.name : String(error)}); LOG_LEVEL=debug shows what it was doing`;
}

const wantsHelp = (args: string[]) => args.includes("--help") || args.includes("-h");

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return EXIT.usage;
  }
  if (name === "help" || name === "--help" || name === "-h") {
    const topic = args[0] === undefined ? undefined : COMMANDS[args[0]];
    process.stdout.write(`${topic?.usage ?? USAGE}\n`);
    return EXIT.ok;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`devflow: unknown command "${name}"\n\n${USAGE}\n`);
    return EXIT.usage;
  }
  if (wantsHelp(args)) {
    process.stdout.write(`${command.usage}\n`);
    return EXIT.ok;
  }
  try {
    return await command.run(args);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`devflow ${name}: ${error.message}\n\n${command.usage}\n`);
      return EXIT.usage;
    }
    const hint =
      isDevflowError(error) && error.recoveryHint ? `\n  fix: ${error.recoveryHint}` : "";
    process.stderr.write(`devflow ${name}: ${describeError(error)}${hint}\n`);
    return exitCodeFor(error);
  }
}

// The setup page writes the new app's credentials to .env in the working directory;
// settings already in the environment win over the file.
if (existsSync(".env")) process.loadEnvFile(".env");
process.exit(await main(process.argv.slice(2)));
