#!/usr/bin/env node
// The `loop` CLI. Runs the TypeScript sources directly (Node >= 22.18 strips types).
import("../cli.ts");
