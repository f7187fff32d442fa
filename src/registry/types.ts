/** The shape of `schemas/registry/template@1.schema.json`; `test/registry` checks they agree. */
export interface TemplateDefinition {
  name: string;
  version: number;
  description: string;
  roles: Record<string, { persona: string; agent?: string }>;
  maxAttempts?: number;
  phases: TemplatePhase[];
}

export interface TemplatePhase {
  key: string;
  title: string;
  role: string;
  artifact: string;
  gate?: string;
  expandsPlan?: boolean;
  runState?: "planning" | "executing";
  instructions?: string;
}

/** The shape of `schemas/registry/persona@1.schema.json` (the front matter). */
export interface PersonaDefinition {
  name: string;
  version: number;
  description: string;
}

/** The shape of `schemas/dev/phase-plan@1.schema.json`. */
export interface PhasePlan {
  summary: string;
  phases: PlannedPhase[];
}

export interface PlannedPhase {
  key: string;
  title: string;
  role: string;
  artifactSchema: string | null;
  instructions: string;
}

export interface RegistryEntry<T> {
  id: string;
  file: string;
  hash: string;
  definition: T;
}

export interface PersonaEntry extends RegistryEntry<PersonaDefinition> {
  body: string;
}

export type ValidationResult = { ok: true } | { ok: false; errors: string[] };

export interface Registry {
  templates: ReadonlyMap<string, RegistryEntry<TemplateDefinition>>;
  personas: ReadonlyMap<string, PersonaEntry>;
  schemas: ReadonlyMap<string, RegistryEntry<Record<string, unknown>>>;
  /** Validates a value against a registered schema by id (e.g. `dev/spec@1`). */
  validate(schemaId: string, value: unknown): ValidationResult;
}

/**
 * A repository's own template, read from `.github/devflow/templates/` on its
 * default branch and checked as a built-in one is, with the repository's own
 * personas it names (built-in personas it names are not here).
 */
export interface RepositoryTemplate {
  /** GitHub's id of the repository: what scopes the template. */
  repositoryId: number;
  template: RegistryEntry<TemplateDefinition>;
  personas: ReadonlyMap<string, PersonaEntry>;
}
