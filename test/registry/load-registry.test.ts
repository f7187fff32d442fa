import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadRegistry, PROJECT_ROOT } from "../../src/registry/load-registry.ts";
import { tempDir } from "../helpers/git-fixtures.ts";

/** A copy of the project's schemas and templates that a test may break. */
function registryCopy(): string {
  const root = tempDir("registry");
  cpSync(join(PROJECT_ROOT, "schemas"), join(root, "schemas"), { recursive: true });
  cpSync(join(PROJECT_ROOT, "templates"), join(root, "templates"), { recursive: true });
  return root;
}

describe("the registry", () => {
  it("loads the shipped schemas, templates and personas, each with a hash", () => {
    const registry = loadRegistry();
    expect([...registry.templates.keys()]).toEqual(["bugfix@1", "development@1"]);
    expect([...registry.schemas.keys()]).toEqual(
      expect.arrayContaining([
        "dev/spec@1",
        "dev/phase-plan@1",
        "dev/implementation@1",
        "common/final-report@1",
        "registry/template@1",
        "registry/persona@1",
      ]),
    );
    expect([...registry.personas.keys()].sort()).toEqual([
      "bug-investigator@1",
      "implementer@1",
      "phase-planner@1",
      "reviewer@1",
      "spec-writer@1",
    ]);
    for (const entry of registry.schemas.values()) expect(entry.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("stops on a template error, naming the file and the JSON pointer", () => {
    const root = registryCopy();
    const file = join(root, "templates", "development@1.yml");
    writeFileSync(file, readFileSync(file, "utf8").replace("key: spec\n", "key: Spec!\n"));
    expect(() => loadRegistry({ root })).toThrow(
      /templates\/development@1\.yml: \/phases\/0\/key: must match pattern/,
    );
  });

  it("stops on a template that names an unknown schema, an unbound role or a gate devflow raises itself", () => {
    const root = registryCopy();
    const file = join(root, "templates", "development@1.yml");
    const text = readFileSync(file, "utf8");
    writeFileSync(file, text.replace("artifact: dev/spec@1", "artifact: dev/spec@7"));
    expect(() => loadRegistry({ root })).toThrow(
      /\/phases\/0\/artifact: unknown schema dev\/spec@7/,
    );
    writeFileSync(file, text.replace("role: spec_writer", "role: poet"));
    expect(() => loadRegistry({ root })).toThrow(/\/phases\/0\/role: role poet is not bound/);
    writeFileSync(file, text.replace("gate: spec_approved", "gate: budget_exhausted"));
    expect(() => loadRegistry({ root })).toThrow(
      /\/phases\/0\/gate: budget_exhausted is a gate devflow raises itself/,
    );
  });

  it("stops on a schema that is not valid JSON, or not a valid JSON Schema", () => {
    const root = registryCopy();
    const file = join(root, "schemas", "dev", "spec@1.schema.json");
    writeFileSync(file, "{ nope");
    expect(() => loadRegistry({ root })).toThrow(
      /schemas\/dev\/spec@1\.schema\.json: not valid JSON/,
    );
    writeFileSync(file, JSON.stringify({ title: "dev/spec@1", type: "objekt" }));
    expect(() => loadRegistry({ root })).toThrow(
      /schemas\/dev\/spec@1\.schema\.json: not a valid JSON Schema/,
    );
  });

  it("stops on a persona without front matter or with the wrong file name", () => {
    const root = registryCopy();
    const file = join(root, "templates", "personas", "reviewer@1.md");
    writeFileSync(file, "just text\n");
    expect(() => loadRegistry({ root })).toThrow(
      /personas\/reviewer@1\.md: a persona starts with a --- front matter block/,
    );
    writeFileSync(file, "---\nname: reviewer\nversion: 2\ndescription: x\n---\nbody\n");
    expect(() => loadRegistry({ root })).toThrow(/file name must be reviewer@2\.md/);
  });

  it("validates artifacts with errors as JSON pointers", () => {
    const registry = loadRegistry();
    expect(
      registry.validate("dev/phase-plan@1", {
        summary: "s",
        phases: [
          {
            key: "Bad Key",
            title: "t",
            role: "implementer",
            artifactSchema: null,
            instructions: "",
          },
        ],
      }),
    ).toEqual({
      ok: false,
      errors: ['/phases/0/key: must match pattern "^[a-z][a-z0-9-]{0,39}$"'],
    });
    expect(registry.validate("dev/nope@1", {})).toEqual({
      ok: false,
      errors: ["unknown schema dev/nope@1"],
    });
  });
});
