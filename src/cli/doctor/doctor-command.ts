import { doctorChecks } from "./doctor-checks.ts";

/** `devflow doctor`: prints every check with its fix; resolves to whether none failed. */
export async function doctorCommand(
  env: NodeJS.ProcessEnv,
  { offline = false }: { offline?: boolean } = {},
): Promise<boolean> {
  const checks = await doctorChecks(env, { offline });
  for (const check of checks) {
    process.stdout.write(`${check.status.padEnd(4)}  ${check.name.padEnd(20)} ${check.detail}\n`);
    if (check.fix !== undefined) process.stdout.write(`${" ".repeat(26)} fix: ${check.fix}\n`);
  }
  const failed = checks.filter((check) => check.status === "fail").length;
  const warned = checks.filter((check) => check.status === "warn").length;
  process.stdout.write(`\n${failed} failed, ${warned} warnings, ${checks.length} checks\n`);
  return failed === 0;
}
