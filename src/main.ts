import { runMigrate } from "./cli/run-migrate.ts";
import { runService } from "./cli/run-service.ts";
import { isDevflowError } from "./errors.ts";
import { readSettings } from "./settings.ts";

const USAGE = `devflow: a gated, multi-phase coding-agent workflow for labelled issues

Usage: devflow <command>

Commands:
  start     migrate the database, then run the workers (npm start)
  worker    run job workers only, against the same database as the server
  migrate   apply database migrations and store the templates and schemas
  help      show this text

Configuration is read from the environment; see README.md.
Exit codes: 0 done, 1 failed, 2 wrong usage.`;

const commands: Record<string, () => Promise<void>> = {
  start: () => runService({ settings: readSettings(), role: "start" }),
  worker: () => runService({ settings: readSettings(), role: "worker" }),
  migrate: () => runMigrate({ settings: readSettings() }),
};

const [command] = process.argv.slice(2);
if (command === undefined || command === "help" || command === "--help" || command === "-h") {
  process.stdout.write(`${USAGE}\n`);
  process.exit(command === undefined ? 2 : 0);
}
const run = commands[command];
if (run === undefined) {
  process.stderr.write(`devflow: unknown command "${command}"\n\n${USAGE}\n`);
  process.exit(2);
}
try {
  await run();
  process.exit(0);
} catch (error) {
  const hint = isDevflowError(error) && error.recoveryHint ? `\n  ${error.recoveryHint}` : "";
  process.stderr.write(
    `devflow ${command}: ${error instanceof Error ? error.message : String(error)}${hint}\n`,
  );
  process.exit(1);
}
