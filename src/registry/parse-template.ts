import { parse as parseYaml } from "yaml";
import { namedEntry, type Parsed } from "./parse-persona.ts";
import type { Registry, RegistryEntry, TemplateDefinition } from "./types.ts";

export interface ParseTemplateOptions {
  text: string;
  /** The file's name (`<name>@<version>.yml`), which must name what the template says. */
  fileName: string;
  /** Where the file came from, as people see it (kept on the entry). */
  shown: string;
  registry: Pick<Registry, "validate">;
}

/**
 * Reads a template file: YAML valid against registry/template@1, named after its
 * file. What it refers to (personas, schemas, agents) is checked separately by
 * `checkTemplateReferences`, once the caller knows which personas exist.
 */
export function parseTemplate({
  text,
  fileName,
  shown,
  registry,
}: ParseTemplateOptions): Parsed<RegistryEntry<TemplateDefinition>> {
  let parsed: unknown;
  try {
    // The yaml package caps alias expansion (maxAliasCount): no billion laughs.
    parsed = parseYaml(text);
  } catch (error) {
    return { ok: false, errors: [`not valid YAML: ${(error as Error).message.split("\n")[0]}`] };
  }
  return namedEntry<TemplateDefinition>({
    value: parsed,
    schemaId: "registry/template@1",
    extension: ".yml",
    text,
    fileName,
    shown,
    registry,
  });
}
