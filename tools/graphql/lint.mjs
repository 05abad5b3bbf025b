// The GraphQL contract's checks of `make lint` that need the JavaScript tools:
//
// 1. graphql-schema-linter with the committed rules (.graphql-schema-linterrc) against
//    gateway/schema.graphql: any error fails;
// 2. the rules still pending (the same file's `pending`): their error counts, printed
//    beside the recorded ones, so the next change can turn one on (never fails);
// 3. graphql-codegen (gateway/operations/codegen.yml) generates TypeScript types for every
//    committed operation into a temporary folder, and tsc type-checks them: an operation
//    that stops matching the schema, or a schema change the generated types cannot take,
//    fails. Nothing generated is kept.
//
//   node tools/graphql/lint.mjs    (after scripts/ensure-graphql-tools.sh)
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

const toolsDir = path.dirname(fileURLToPath(import.meta.url));
const nodeModules = path.join(toolsDir, "node_modules");
const root = path.resolve(toolsDir, "..", "..");
const linterConfig = path.join(root, ".graphql-schema-linterrc");
const codegenConfig = "gateway/operations/codegen.yml";

const bin = (name) => path.join(nodeModules, ".bin", name);

/** Runs a tool in the repository root; its output is shown only when it fails. */
function run(what, command, args, env = {}) {
  const started = Date.now();
  const result = spawnSync(command, args, {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (result.status !== 0) {
    process.stdout.write(result.stdout ?? "");
    process.stderr.write(result.stderr ?? "");
    if (result.error) console.error(String(result.error));
    console.error(`${what}: failed (${seconds} s)`);
  }
  return { ok: result.status === 0, stdout: result.stdout ?? "", seconds };
}

function lintSchema(config) {
  const rules = config.rules ?? [];
  const { ok, seconds } = run("graphql-schema-linter", bin("graphql-schema-linter"), [
    "--config-directory",
    root,
    "--format",
    "compact",
  ]);
  if (ok) console.log(`graphql-schema-linter: ${rules.length} rules, no error (${seconds} s)`);
  return ok;
}

function reportPending(config) {
  const pending = config.pending ?? {};
  const rules = Object.keys(pending);
  if (rules.length === 0) return;
  // The linter exits 1 when it finds errors: here they are only counted.
  const result = spawnSync(
    bin("graphql-schema-linter"),
    ["--config-directory", root, "--format", "json", "--rules", rules.join(",")],
    { cwd: root, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
  );
  let errors;
  try {
    errors = JSON.parse(result.stdout).errors;
  } catch {
    process.stderr.write(result.stderr ?? "");
    throw new Error("graphql-schema-linter: the pending rules' report is not JSON");
  }
  const counts = Object.fromEntries(rules.map((rule) => [rule, 0]));
  for (const error of errors) counts[error.rule] = (counts[error.rule] ?? 0) + 1;
  console.log("graphql-schema-linter: pending rules (.graphql-schema-linterrc `pending`), errors now / recorded");
  for (const rule of rules) {
    const note = counts[rule] === 0 ? "  clean: move it into `rules`" : "";
    console.log(`  ${rule.padEnd(40)} ${String(counts[rule]).padStart(5)} / ${pending[rule]}${note}`);
  }
}

function typeCheckClients() {
  const out = mkdtempSync(path.join(tmpdir(), "salesguard-codegen-"));
  const link = path.join(out, "node_modules");
  try {
    // The generated module imports @graphql-typed-document-node/core: tsc finds it here.
    symlinkSync(nodeModules, link, "dir");
    // Codegen resolves its plugins from the folder it runs in (the repository root):
    // NODE_PATH points it at tools/graphql's.
    const generated = run(
      "graphql-codegen",
      bin("graphql-codegen"),
      ["--config", codegenConfig],
      { NODE_PATH: nodeModules, GRAPHQL_CODEGEN_OUT: out },
    );
    if (!generated.ok) return false;
    const tsconfig = { extends: path.join(toolsDir, "tsconfig.json"), files: ["graphql.ts"] };
    writeFileSync(path.join(out, "tsconfig.json"), JSON.stringify(tsconfig));
    const lines = readFileSync(path.join(out, "graphql.ts"), "utf8").split("\n").length;
    const checked = run("tsc", bin("tsc"), ["--project", out]);
    if (checked.ok) {
      console.log(
        `graphql-codegen: TypeScript types of the committed operations (${lines} lines, ` +
          `${generated.seconds} s) type-check with tsc --noEmit (${checked.seconds} s)`,
      );
    }
    return checked.ok;
  } finally {
    // The link first, so that removing the folder cannot reach into node_modules.
    try {
      unlinkSync(link);
    } catch {}
    rmSync(out, { recursive: true, force: true });
  }
}

const config = YAML.parse(readFileSync(linterConfig, "utf8"));
const linted = lintSchema(config);
reportPending(config);
const typed = typeCheckClients();
process.exit(linted && typed ? 0 : 1);
