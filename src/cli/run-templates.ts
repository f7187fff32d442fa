import { resolve } from "node:path";
import { loadRegistry, readTemplate } from "../registry/load-registry.ts";
import { UsageError } from "./exit-codes.ts";

/** `devflow templates validate FILE...`; resolves to whether every file is valid. */
export async function runTemplates(args: string[]): Promise<boolean> {
  const [action, ...files] = args;
  if (action !== "validate") {
    throw new UsageError(
      action === undefined
        ? "templates needs an action: validate"
        : `unknown templates action "${action}"`,
    );
  }
  if (files.length === 0) throw new UsageError("templates validate needs at least one file");
  const registry = loadRegistry();
  let valid = true;
  for (const file of files) {
    try {
      const template = readTemplate(resolve(file), file, registry);
      const phases = template.definition.phases.map((phase) => phase.key).join(", ");
      process.stdout.write(`ok    ${file}: ${template.id} (phases ${phases})\n`);
    } catch (error) {
      valid = false;
      process.stdout.write(`fail  ${(error as Error).message}\n`);
    }
  }
  return valid;
}
