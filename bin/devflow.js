#!/usr/bin/env node
// devflow runs its TypeScript sources directly: Node >= 22.18 strips the types.
await import("../src/main.ts");
