// The help texts, apart from the commands, so `devflow --help` loads nothing else.

export const DOCTOR_USAGE = `Usage: devflow doctor [--offline]

Checks the configuration devflow would start with, from the same environment:
the GitHub App (id, private key, webhook secret, and with the network whether
GitHub accepts the key), the database and its migrations, the job queue, the
runner backend, and the agent CLI and its model key. Each problem comes with
how to fix it.

  --offline   do not ask GitHub whether it accepts the app's key

Exit codes: 0 nothing failed (warnings allowed), 1 something failed, 2 wrong usage.`;

export const RUNS_USAGE = `Usage: devflow runs <list|show|pause|resume|abort> [options]

  devflow runs list [--state STATE] [--repository OWNER/NAME] [--limit N] [--json]
      The latest runs, newest first (default 20).
  devflow runs show RUN [--json]
      One run: its state, phases, gates, failure, report and latest events.
  devflow runs pause RUN [--reason TEXT]
  devflow runs resume RUN
  devflow runs abort RUN [--reason TEXT]
      What /devflow pause|resume|abort do on GitHub; the running workers act on it.

RUN is a run id, a unique prefix of one (8 characters or more), or OWNER/NAME#ISSUE
for the latest run of that issue. Connects to DATABASE_URL, or to the embedded
PostgreSQL of the running devflow under DEVFLOW_DATA_DIR.
Exit codes: 0 done, 1 failed, 2 wrong usage, 3 no such run, 4 not possible in the run's state.`;

export const JOBS_USAGE = `Usage: devflow jobs <failed|retry> [options]

  devflow jobs failed [--json]
      Jobs that failed every retry (newest first), with their last error and run.
  devflow jobs retry JOB... | --all
      Puts failed jobs back in their queues, each with one more try.

A failed job is work that stopped: its run shows "stuck" until it is retried.
Connects like devflow runs. Exit codes: 0 done, 1 failed, 2 wrong usage.`;

export const TEMPLATES_USAGE = `Usage: devflow templates validate FILE...

Checks workflow template files as devflow's start-up would: YAML, the
registry/template@1 schema, the file name (<name>@<version>.yml), and every
persona and artifact schema each one names. A repository's own template
(.github/devflow/templates/<name>@<version>.yml) may name the personas of
.github/devflow/personas/ next to it: those are read and checked too. Problems
are printed with the file and the JSON pointer of the field.

Exit codes: 0 every file is valid, 1 a file is not, 2 wrong usage.`;
