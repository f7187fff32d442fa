import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { loadRegistry, readTemplate } from "../registry/load-registry.ts";
import { parsePersona } from "../registry/parse-persona.ts";
import type { PersonaEntry, Registry } from "../registry/types.ts";
import { UsageError } from "./exit-codes.ts";

/**
 * The registry with the personas of a repository's own `personas/` folder next to
 * the template's folder (`.github/devflow/personas/` for
 * `.github/devflow/templates/x@1.yml`), so its template can name them; each
 * persona file is checked too, and a broken one is reported.
 */
function withSiblingPersonas(
  registry: Registry,
  file: string,
  report: (line: string) => void,
): { registry: Registry; valid: boolean } {
  const dir = join(dirname(resolve(file)), "..", "personas");
  if (!existsSync(dir) || resolve(dir) === resolve("templates/personas"))
    return { registry, valid: true };
  let valid = true;
  const personas = new Map<string, PersonaEntry>(registry.personas);
  for (const name of readdirSync(dir).filter((entry) => entry.endsWith(".md"))) {
    const parsed = parsePersona({
      text: readFileSync(join(dir, name), "utf8"),
      fileName: name,
      shown: join(dir, name),
      registry,
    });
    if (parsed.ok) {
      if (!registry.personas.has(parsed.entry.id)) personas.set(parsed.entry.id, parsed.entry);
    } else {
      valid = false;
      report(`fail  ${join(dir, name)}: ${parsed.errors.join("; ")}\n`);
    }
  }
  return { registry: { ...registry, personas }, valid };
}

/** `devflow templates validate FILE...`; resolves to whether every file is valid. */
export async function templatesCommand(args: string[]): Promise<boolean> {
  const [action, ...files] = args;
  if (action !== "validate") {
    throw new UsageError(
      action === undefined
        ? "templates needs an action: validate"
        : `unknown templates action "${action}"`,
    );
  }
  if (files.length === 0) throw new UsageError("templates validate needs at least one file");
  const builtin = loadRegistry();
  const print = (line: string) => process.stdout.write(line);
  let valid = true;
  for (const file of files) {
    const { registry, valid: personasValid } = withSiblingPersonas(builtin, file, print);
    valid &&= personasValid;
    try {
      const template = readTemplate(resolve(file), file, registry);
      const phases = template.definition.phases.map((phase) => phase.key).join(", ");
      print(`ok    ${file}: ${template.id} (phases ${phases})\n`);
    } catch (error) {
      valid = false;
      print(`fail  ${(error as Error).message}\n`);
    }
  }
  return valid;
}
