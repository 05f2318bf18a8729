// The program evaluates with production dependencies only (`npm ci --omit=dev`): every package that a
// module reachable from the entry point loads at run time is in package.json's `dependencies`.
import * as fs from "fs";
import { builtinModules } from "module";
import * as os from "os";
import * as path from "path";
import ts from "typescript";

const root = path.resolve(__dirname, "../..");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));

/** Module specifiers a file loads at run time: imports and re-exports that are not type-only, require(), import(). */
function runtimeSpecifiers(file: string): string[] {
    const source = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
    const found: string[] = [];
    const visit = (node: ts.Node) => {
        if (ts.isImportDeclaration(node) && !node.importClause?.isTypeOnly) {
            const named = node.importClause?.namedBindings;
            const allTypes =
                named !== undefined &&
                ts.isNamedImports(named) &&
                node.importClause?.name === undefined &&
                named.elements.length > 0 &&
                named.elements.every((e) => e.isTypeOnly);
            if (!allTypes) found.push((node.moduleSpecifier as ts.StringLiteral).text);
        } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && !node.isTypeOnly) {
            found.push((node.moduleSpecifier as ts.StringLiteral).text);
        } else if (
            ts.isCallExpression(node) &&
            (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
                (ts.isIdentifier(node.expression) && node.expression.text === "require")) &&
            node.arguments.length === 1 &&
            ts.isStringLiteral(node.arguments[0])
        ) {
            found.push(node.arguments[0].text);
        }
        ts.forEachChild(node, visit);
    };
    visit(source);
    return found;
}

/** Packages loaded at run time by the modules reachable from `entry`, with the file that loads each. */
function runtimePackages(entry: string): Map<string, string> {
    const packages = new Map<string, string>();
    const seen = new Set<string>();
    const walk = (file: string) => {
        if (seen.has(file)) return;
        seen.add(file);
        for (const spec of runtimeSpecifiers(file)) {
            if (spec.startsWith(".")) {
                const base = path.resolve(path.dirname(file), spec);
                const next = [`${base}.ts`, path.join(base, "index.ts"), base].find(
                    (f) => fs.existsSync(f) && fs.statSync(f).isFile(),
                );
                if (next === undefined) throw new Error(`${file}: cannot resolve ${spec}`);
                if (next.endsWith(".ts")) walk(next);
            } else if (!spec.startsWith("node:") && !builtinModules.includes(spec.split("/")[0])) {
                const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0];
                if (!packages.has(name)) packages.set(name, path.relative(root, file));
            }
        }
    };
    walk(entry);
    return packages;
}

test("every package the program loads at run time is a production dependency", () => {
    const used = runtimePackages(path.join(root, "index.ts"));
    expect([...used.keys()]).toEqual(expect.arrayContaining(["@pulumi/pulumi", "yaml", "mustache"]));
    const notProduction = [...used].filter(([name]) => !(name in pkg.dependencies)).map(([n, f]) => `${n} (${f})`);
    expect(notProduction).toEqual([]);
});

test("the check sees a devDependency loaded at run time, also through require() and a re-export", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "packaging-"));
    try {
        fs.writeFileSync(
            path.join(dir, "entry.ts"),
            'import type { Config } from "jest";\nimport { a } from "./lib";\nexport { a };\nexport const b = require("ws");\n',
        );
        fs.writeFileSync(path.join(dir, "lib.ts"), 'export { parse as a } from "typescript";\n');
        const used = runtimePackages(path.join(dir, "entry.ts"));
        expect([...used.keys()].sort()).toEqual(["typescript", "ws"]);
        expect([...used.keys()].filter((n) => n in pkg.dependencies)).toEqual([]);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});

test("the lockfile installs every production dependency, and what they need, without --include=dev", () => {
    const lock = JSON.parse(fs.readFileSync(path.join(root, "package-lock.json"), "utf8"));
    for (const name of Object.keys(pkg.dependencies)) {
        expect([name, lock.packages[`node_modules/${name}`]?.dev ?? false]).toEqual([name, false]);
    }
});
