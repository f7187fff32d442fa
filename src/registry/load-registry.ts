import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { parse as parseYaml } from "yaml";
import { DevflowError } from "../errors.ts";
import type {
  PersonaDefinition,
  PersonaEntry,
  Registry,
  RegistryEntry,
  TemplateDefinition,
} from "./types.ts";

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

function splitFrontMatter(file: string, text: string): { front: unknown; body: string } {
  const match = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?([\s\S]*)$/.exec(text);
  if (match === null) throw registryError(file, "a persona starts with a --- front matter block");
  return { front: parseYaml(match[1] ?? ""), body: (match[2] ?? "").trim() };
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

  function checked<T>(schemaId: string, file: string, value: unknown): T {
    const result = validate(schemaId, value);
    if (!result.ok) throw registryError(file, result.errors.join("; "));
    return value as T;
  }

  const personas = new Map<string, PersonaEntry>();
  for (const file of listFiles(join(root, "templates", "personas"), ".md")) {
    const shown = relative(root, file);
    const text = readFileSync(file, "utf8");
    const { front, body } = splitFrontMatter(shown, text);
    const definition = checked<PersonaDefinition>("registry/persona@1", shown, front);
    const id = `${definition.name}@${definition.version}`;
    if (!file.endsWith(`${id}.md`)) throw registryError(shown, `/: file name must be ${id}.md`);
    personas.set(id, { id, file: shown, hash: sha256(text), definition, body });
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
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw registryError(shown, `not valid YAML: ${(error as Error).message}`, error);
  }
  const result = registry.validate("registry/template@1", parsed);
  if (!result.ok) throw registryError(shown, result.errors.join("; "));
  const definition = parsed as TemplateDefinition;
  const id = `${definition.name}@${definition.version}`;
  if (!file.endsWith(`${id}.yml`)) throw registryError(shown, `/: file name must be ${id}.yml`);
  checkTemplateReferences(shown, definition, registry.personas, registry.schemas);
  return { id, file: shown, hash: sha256(text), definition };
}

function checkTemplateReferences(
  file: string,
  template: TemplateDefinition,
  personas: ReadonlyMap<string, unknown>,
  schemas: ReadonlyMap<string, unknown>,
): void {
  for (const [role, binding] of Object.entries(template.roles)) {
    if (!personas.has(binding.persona)) {
      throw registryError(file, `/roles/${role}/persona: unknown persona ${binding.persona}`);
    }
  }
  const keys = new Set<string>();
  template.phases.forEach((phase, index) => {
    if (keys.has(phase.key))
      throw registryError(file, `/phases/${index}/key: duplicate ${phase.key}`);
    keys.add(phase.key);
    if (template.roles[phase.role] === undefined) {
      throw registryError(file, `/phases/${index}/role: role ${phase.role} is not bound in /roles`);
    }
    if (!schemas.has(phase.artifact)) {
      throw registryError(file, `/phases/${index}/artifact: unknown schema ${phase.artifact}`);
    }
    if (phase.expandsPlan === true && phase.artifact !== "dev/phase-plan@1") {
      throw registryError(
        file,
        `/phases/${index}/artifact: a phase that expands a plan produces dev/phase-plan@1`,
      );
    }
  });
}
