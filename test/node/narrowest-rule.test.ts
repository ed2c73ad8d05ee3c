/** "Always allow" adds the narrowest rule for a held call (issue 13), and never a wider one. */
import { describe, expect, it } from "vitest";
import { narrowestRule } from "../../core/domain/policy.ts";

describe("the narrowest rule for a held call", () => {
  it("is the exact command, file or host", () => {
    expect(narrowestRule("Bash", { command: "npm run build" })).toBe("Bash(npm run build)");
    expect(narrowestRule("Write", { file_path: "/srv/app/notes.md" })).toBe("Write(//srv/app/notes.md)");
    expect(narrowestRule("NotebookEdit", { notebook_path: "/srv/a.ipynb" })).toBe("Edit(//srv/a.ipynb)");
    expect(narrowestRule("WebFetch", { url: "https://docs.example.com/x?y=1" })).toBe("WebFetch(domain:docs.example.com)");
    // tools that take no content rules: the tool itself is as narrow as a rule gets
    expect(narrowestRule("mcp__loop__list_tasks", {})).toBe("mcp__loop__list_tasks");
  });

  it("is none, rather than the whole tool, when the exact call cannot be a rule the hook would match", () => {
    for (const command of ["echo hi > out.txt", "make && make install", "echo $(id)", "ls *.txt", "a | b", "rm x; rm y", "echo `id`", "one\ntwo", ""]) {
      expect(narrowestRule("Bash", { command }), command).toBeNull();
    }
    expect(narrowestRule("Bash", {})).toBeNull();
    expect(narrowestRule("Edit", { file_path: "relative/path.ts" })).toBeNull();
    expect(narrowestRule("Edit", { file_path: "/srv/odd)name" })).toBeNull();
    expect(narrowestRule("Read", { file_path: "/srv/*" })).toBeNull();
    expect(narrowestRule("WebFetch", { url: "not a url" })).toBeNull();
  });
});
