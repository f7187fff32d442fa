import { createHash } from "node:crypto";
import { parse as parseYaml } from "yaml";
import type { PersonaDefinition, PersonaEntry, Registry } from "./types.ts";

/** A definition read from text: its entry, or the problems, each `<json pointer>: <message>`. */
export type Parsed<T> = { ok: true; entry: T } | { ok: false; errors: string[] };

export interface ParsePersonaOptions {
  /** The file's text: a `---` front matter block, then the persona's Markdown body. */
  text: string;
  /** The file's name (`<name>@<version>.md`), which must name what the front matter says. */
  fileName: string;
  /** Where the file came from, as people see it (kept on the entry). */
  shown: string;
  registry: Pick<Registry, "validate">;
}

/**
 * Reads a persona file: front matter valid against registry/persona@1, named
 * after its file. Built-in personas and a repository's own go through this one
 * function, so neither gets past what the other must pass.
 *
 * @example
 * parsePersona({ text, fileName: "triager@1.md", shown: "triager@1.md", registry });
 * // { ok: true, entry: { id: "triager@1", hash, definition, body, file } }
 */
export function parsePersona({
  text,
  fileName,
  shown,
  registry,
}: ParsePersonaOptions): Parsed<PersonaEntry> {
  const match = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?([\s\S]*)$/.exec(text);
  if (match === null)
    return { ok: false, errors: ["a persona starts with a --- front matter block"] };
  let front: unknown;
  try {
    front = parseYaml(match[1] ?? "");
  } catch (error) {
    return {
      ok: false,
      errors: [`front matter is not valid YAML: ${(error as Error).message.split("\n")[0]}`],
    };
  }
  const checked = namedEntry<PersonaDefinition>({
    value: front,
    schemaId: "registry/persona@1",
    extension: ".md",
    text,
    fileName,
    shown,
    registry,
  });
  if (!checked.ok) return checked;
  return { ok: true, entry: { ...checked.entry, body: (match[2] ?? "").trim() } };
}

/**
 * What every registry file must be: valid against its schema, and named after the
 * name and version it declares (`<name>@<version><extension>`). The entry carries
 * the text's hash, which a run pins.
 */
export function namedEntry<D extends { name: string; version: number }>(options: {
  value: unknown;
  schemaId: string;
  extension: string;
  text: string;
  fileName: string;
  shown: string;
  registry: Pick<Registry, "validate">;
}): Parsed<{ id: string; file: string; hash: string; definition: D }> {
  const result = options.registry.validate(options.schemaId, options.value);
  if (!result.ok) return { ok: false, errors: result.errors };
  const definition = options.value as D;
  const id = `${definition.name}@${definition.version}`;
  if (options.fileName !== `${id}${options.extension}`)
    return { ok: false, errors: [`/: file name must be ${id}${options.extension}`] };
  return {
    ok: true,
    entry: {
      id,
      file: options.shown,
      hash: createHash("sha256").update(options.text).digest("hex"),
      definition,
    },
  };
}
