import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { basename, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { DevflowError } from "../errors.ts";
import { checkTemplateReferences } from "./check-template-references.ts";
import { parsePersona } from "./parse-persona.ts";
import { parseTemplate } from "./parse-template.ts";
import type { PersonaEntry, Registry, RegistryEntry, TemplateDefinition } from "./types.ts";

/** The folder that holds `schemas/` and `templates/` in this checkout. */
export const PROJECT_ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface LoadRegistryOptions {
  root?: string;
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function listFiles(dir: string, suffix: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(suffix))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

function registryError(file: string, message: string, cause?: unknown): DevflowError {
  return new DevflowError(`${file}: ${message}`, {
    class: "fatal",
    code: "registry_invalid",
    recoveryHint: `fix ${file} and start again`,
    cause,
  });
}

/** Formats ajv errors as `<json pointer>: <message>`, the pointer `/` for the root. */
export function formatAjvErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((error) => {
    const extra =
      error.keyword === "additionalProperties"
        ? ` (${String((error.params as { additionalProperty?: unknown }).additionalProperty)})`
        : "";
    return `${error.instancePath === "" ? "/" : error.instancePath}: ${error.message ?? error.keyword}${extra}`;
  });
}

/**
 * Loads every schema, template and persona under `root`, validates each one and
 * hashes it. Anything broken throws a `registry_invalid` error that names the file
 * and the JSON pointer of the problem, so start-up stops with a message a user can act on.
 *
 * @example
 * const registry = loadRegistry();
 * registry.validate("dev/spec@1", artifact); // { ok: true } or { ok: false, errors }
 */
export function loadRegistry({ root = PROJECT_ROOT }: LoadRegistryOptions = {}): Registry {
  const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
  addFormats.default(ajv);
  const schemasDir = join(root, "schemas");
  const schemas = new Map<string, RegistryEntry<Record<string, unknown>>>();
  const validators = new Map<string, ValidateFunction>();

  for (const file of listFiles(schemasDir, ".schema.json")) {
    const shown = relative(root, file);
    const id = relative(schemasDir, file).replace(/\.schema\.json$/, "");
    const text = readFileSync(file, "utf8");
    let definition: Record<string, unknown>;
    try {
      definition = JSON.parse(text) as Record<string, unknown>;
    } catch (error) {
      throw registryError(shown, `not valid JSON: ${(error as Error).message}`, error);
    }
    if (definition.title !== id) {
      throw registryError(shown, `/title: must be "${id}", the schema's id from its path`);
    }
    try {
      validators.set(id, ajv.compile(definition));
    } catch (error) {
      throw registryError(shown, `not a valid JSON Schema: ${(error as Error).message}`, error);
    }
    schemas.set(id, { id, file: shown, hash: sha256(text), definition });
  }

  const validate: Registry["validate"] = (schemaId, value) => {
    const validator = validators.get(schemaId);
    if (validator === undefined) return { ok: false, errors: [`unknown schema ${schemaId}`] };
    return validator(value)
      ? { ok: true }
      : { ok: false, errors: formatAjvErrors(validator.errors) };
  };

  const personas = new Map<string, PersonaEntry>();
  for (const file of listFiles(join(root, "templates", "personas"), ".md")) {
    const shown = relative(root, file);
    const parsed = parsePersona({
      text: readFileSync(file, "utf8"),
      fileName: basename(file),
      shown,
      registry: { validate },
    });
    if (!parsed.ok) throw registryError(shown, parsed.errors.join("; "));
    personas.set(parsed.entry.id, parsed.entry);
  }

  const templates = new Map<string, RegistryEntry<TemplateDefinition>>();
  const registry: Registry = { templates, personas, schemas, validate };
  for (const file of listFiles(join(root, "templates"), ".yml")) {
    const template = readTemplate(file, relative(root, file), registry);
    templates.set(template.id, template);
  }
  return registry;
}

/**
 * Reads one template file and checks it as start-up would: YAML, the
 * registry/template@1 schema, the file name, and every persona and schema it
 * names against `registry`. Throws `registry_invalid` naming the JSON pointer.
 * `devflow templates validate <file>` runs this on a file before it is added.
 */
export function readTemplate(
  file: string,
  shown: string,
  registry: Registry,
): RegistryEntry<TemplateDefinition> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw registryError(shown, `cannot be read: ${(error as Error).message}`, error);
  }
  const parsed = parseTemplate({ text, fileName: basename(file), shown, registry });
  if (!parsed.ok) throw registryError(shown, parsed.errors.join("; "));
  const errors = checkTemplateReferences({
    definition: parsed.entry.definition,
    hasPersona: (id) => registry.personas.has(id),
    schemas: registry.schemas,
  });
  if (errors.length > 0) throw registryError(shown, errors.join("; "));
  return parsed.entry;
}
