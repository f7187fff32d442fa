/**
 * devflow's layers, from the bottom: a module may import its own layer and those
 * below it, never one above, and no import may close a cycle. test/ and bench/
 * stand outside the layers (they may import anything); nothing under src/ or
 * jobs/ imports them. README.md's layout section lists the folders in this order.
 *
 * The TypeScript compiler this project uses (7.0) has no API dependency-cruiser
 * can call, so swc parses the sources; type-only imports count like any other.
 */
const LAYERS = [
  ["errors", "^src/errors\\.ts$"],
  ["log", "^src/log\\.ts$"],
  ["security", "^src/security/"],
  ["settings", "^src/settings\\.ts$"],
  ["db", "^src/db/"],
  ["registry", "^src/registry/"],
  ["report", "^src/report/"],
  ["engine", "^src/engine/"],
  ["observability", "^src/observability/"],
  ["agents", "^src/agents/"],
  ["runner", "^src/runner/(?!attempt/)"],
  ["attempt", "^src/(runner/attempt|attempt)/"],
  ["github", "^src/github/"],
  ["console", "^src/console/"],
  ["jobs", "^jobs/"],
  ["start-up", "^src/(app|start-devflow)\\.ts$"],
  ["cli", "^src/cli/"],
  ["main", "^src/main\\.ts$"],
  ["bin", "^bin/"],
];

const upward = LAYERS.slice(0, -1).map(([name, path], index) => {
  const above = LAYERS.slice(index + 1);
  return {
    name: `layer-${name}`,
    comment: `${name} may not import what is above it: ${above.map(([n]) => n).join(", ")}`,
    severity: "error",
    from: { path },
    to: { path: above.map(([, p]) => `(${p})`).join("|") },
  };
});

/** @type {import("dependency-cruiser").IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "an import cycle: move the shared name down to where both sides can import it",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "no-tests-in-src",
      comment: "the product never imports its tests, fixtures or benchmarks",
      severity: "error",
      from: { path: "^(src|jobs|bin)/" },
      to: { path: "^(test|bench)/" },
    },
    {
      name: "no-unresolvable",
      comment: "a relative import that resolves to no file would hide its layer",
      severity: "error",
      from: {},
      to: { couldNotResolve: true, path: "^[.]" },
    },
    ...upward,
  ],
  options: {
    parser: "swc",
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    doNotFollow: { path: "node_modules" },
    enhancedResolveOptions: { extensions: [".ts", ".js", ".mjs", ".json"] },
  },
};
