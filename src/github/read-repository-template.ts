import type { ProbotOctokit } from "probot";
import { AGENT_ADAPTERS } from "../agents/agent-adapters.ts";
import { checkTemplateReferences } from "../registry/check-template-references.ts";
import { parsePersona } from "../registry/parse-persona.ts";
import { parseTemplate } from "../registry/parse-template.ts";
import type { PersonaEntry, Registry, RepositoryTemplate } from "../registry/types.ts";
import type { ReadCache } from "./read-cache.ts";

export const REPOSITORY_TEMPLATES_DIR = ".github/devflow/templates";
export const REPOSITORY_PERSONAS_DIR = ".github/devflow/personas";

/** Bigger files are refused unread: a template or persona is a page of text, not a payload. */
export const TEMPLATE_MAX_BYTES = 64 * 1024;
export const PERSONA_MAX_BYTES = 16 * 1024;
/** How many of its own personas one repository template may name (one request each). */
export const REPOSITORY_PERSONAS_MAX = 8;

/** What a template id must look like before it becomes part of a path. */
const TEMPLATE_ID = /^[a-z][a-z0-9-]{0,39}@[1-9][0-9]{0,5}$/;

/** A file that is wrong, and how: each error `<json pointer>: <message>` where there is one. */
export interface FileProblems {
  path: string;
  errors: string[];
}

export type RepositoryTemplateResult =
  | { kind: "found"; template: RepositoryTemplate }
  /** No such file (or no such id: a label that cannot name a template). */
  | { kind: "missing"; path: string }
  | { kind: "invalid"; problems: FileProblems[] };

export interface ReadRepositoryTemplateOptions {
  octokit: ProbotOctokit;
  owner: string;
  repo: string;
  /** The default branch: never a run branch an agent could write. */
  ref: string;
  repositoryId: number;
  /** `name@version`, from the label or the repository's config. */
  templateId: string;
  registry: Registry;
  cache?: ReadCache | undefined;
}

/** The cache key of a repository template on `ref`. */
const templateKey = (owner: string, repo: string, ref: string, id: string) =>
  `template:${owner}/${repo}@${ref}:${id}`.toLowerCase();

type FileRead =
  | { kind: "text"; text: string }
  | { kind: "missing" }
  | { kind: "bad"; error: string };

async function readFile(
  options: ReadRepositoryTemplateOptions,
  path: string,
  maxBytes: number,
): Promise<FileRead> {
  try {
    const { data } = await options.octokit.rest.repos.getContent({
      owner: options.owner,
      repo: options.repo,
      path,
      ref: options.ref,
    });
    if (Array.isArray(data) || data.type !== "file" || !("content" in data))
      return { kind: "bad", error: "/: not a file" };
    const tooBig = { kind: "bad", error: `/: larger than ${maxBytes / 1024} KiB` } as const;
    if (data.size > maxBytes) return tooBig;
    const bytes = Buffer.from(data.content, "base64");
    return bytes.length > maxBytes ? tooBig : { kind: "text", text: bytes.toString("utf8") };
  } catch (error) {
    if ((error as { status?: number }).status === 404) return { kind: "missing" };
    throw error;
  }
}

/**
 * Reads a repository's own template `.github/devflow/templates/<name>@<version>.yml`
 * and the personas it names from `.github/devflow/personas/<name>@<version>.md`
 * (those that are not built in), on the default branch, and checks them exactly as
 * built-in ones are checked, plus size and count caps: the files are written by
 * anyone who can push. One request for the template and one per persona of the
 * repository's; the answer is kept for the read cache's life.
 *
 * @example
 * const own = await readRepositoryTemplate({ octokit, owner, repo, ref: "main",
 *   repositoryId, templateId: "triage@1", registry, cache });
 * if (own.kind === "invalid") reply(invalidFilesMessage("main", own.problems));
 */
export async function readRepositoryTemplate(
  options: ReadRepositoryTemplateOptions,
): Promise<RepositoryTemplateResult> {
  const { templateId } = options;
  const path = `${REPOSITORY_TEMPLATES_DIR}/${templateId}.yml`;
  if (!TEMPLATE_ID.test(templateId)) return { kind: "missing", path };
  const key = templateKey(options.owner, options.repo, options.ref, templateId);
  const cached = options.cache?.get<RepositoryTemplateResult>(key);
  if (cached?.fresh === true) return cached.value;
  const result = await readUncached(options, path);
  options.cache?.set(key, result);
  return result;
}

async function readUncached(
  options: ReadRepositoryTemplateOptions,
  path: string,
): Promise<RepositoryTemplateResult> {
  const { templateId, registry } = options;
  const file = await readFile(options, path, TEMPLATE_MAX_BYTES);
  if (file.kind === "missing") return { kind: "missing", path };
  if (file.kind === "bad") return { kind: "invalid", problems: [{ path, errors: [file.error] }] };
  const parsed = parseTemplate({
    text: file.text,
    fileName: `${templateId}.yml`,
    shown: `${options.owner}/${options.repo}:${path}`,
    registry,
  });
  if (!parsed.ok) return { kind: "invalid", problems: [{ path, errors: parsed.errors }] };
  const { definition } = parsed.entry;

  // The schema's pattern has checked every persona id: safe to put in a path.
  const wanted = [
    ...new Set(Object.values(definition.roles).map((binding) => binding.persona)),
  ].filter((id) => !registry.personas.has(id));
  if (wanted.length > REPOSITORY_PERSONAS_MAX) {
    return {
      kind: "invalid",
      problems: [
        {
          path,
          errors: [
            `/roles: names ${wanted.length} personas of this repository, at most ${REPOSITORY_PERSONAS_MAX}`,
          ],
        },
      ],
    };
  }
  const problems: FileProblems[] = [];
  const personas = new Map<string, PersonaEntry>();
  const present = new Set<string>();
  const reads = await Promise.all(
    wanted.map(async (id) => {
      const personaPath = `${REPOSITORY_PERSONAS_DIR}/${id}.md`;
      return { id, personaPath, read: await readFile(options, personaPath, PERSONA_MAX_BYTES) };
    }),
  );
  for (const { id, personaPath, read } of reads) {
    if (read.kind === "missing") continue;
    // It exists: its own problems are reported, not "unknown persona" as well.
    present.add(id);
    if (read.kind === "bad") {
      problems.push({ path: personaPath, errors: [read.error] });
      continue;
    }
    const persona = parsePersona({
      text: read.text,
      fileName: `${id}.md`,
      shown: `${options.owner}/${options.repo}:${personaPath}`,
      registry,
    });
    if (persona.ok) personas.set(id, persona.entry);
    else problems.push({ path: personaPath, errors: persona.errors });
  }
  const references = checkTemplateReferences({
    definition,
    hasPersona: (id) => registry.personas.has(id) || present.has(id),
    schemas: registry.schemas,
    agents: new Set(AGENT_ADAPTERS.keys()),
  });
  if (references.length > 0) problems.unshift({ path, errors: references });
  if (problems.length > 0) return { kind: "invalid", problems };
  return {
    kind: "found",
    template: { repositoryId: options.repositoryId, template: parsed.entry, personas },
  };
}
