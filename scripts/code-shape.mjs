#!/usr/bin/env node
// Measures the shape targets of docs/architecture.md ("Code shape"): file sizes, the
// lines each function has of its own (nested functions excluded), side tables and
// Fastify augmentations in src/. Prints a report; `--json` prints the figures.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

export const LIMITS = { fileLines: 350, httpFileLines: 250, functionLines: 60 };

function sourceFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

const isFunction = (node) =>
  ts.isFunctionDeclaration(node) ||
  ts.isMethodDeclaration(node) ||
  ts.isArrowFunction(node) ||
  ts.isFunctionExpression(node) ||
  ts.isConstructorDeclaration(node) ||
  ts.isGetAccessor(node) ||
  ts.isSetAccessor(node);

/** Lines a function spans minus the lines its nested functions span. */
function functionsOf(file, text) {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const lineOf = (pos) => source.getLineAndCharacterOfPosition(pos).line;
  const found = [];
  const visit = (node, owner) => {
    if (isFunction(node) && node.body) {
      const lines = new Set();
      for (let l = lineOf(node.getStart(source)); l <= lineOf(node.end); l++) lines.add(l);
      const entry = { file, name: nameOf(node, source), line: lineOf(node.getStart(source)) + 1, lines };
      found.push(entry);
      if (owner) for (const l of lines) owner.lines.delete(l);
      ts.forEachChild(node, (child) => visit(child, entry));
      return;
    }
    ts.forEachChild(node, (child) => visit(child, owner));
  };
  visit(source, undefined);
  return found.map(({ file, name, line, lines }) => ({ file, name, line, own: lines.size }));
}

function nameOf(node, source) {
  if (node.name) return node.name.getText(source);
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent)) return parent.name.getText(source);
  if (parent && ts.isPropertyAssignment(parent)) return parent.name.getText(source);
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  return '(anonymous)';
}

export function measure(root = 'src') {
  const files = sourceFiles(root).sort();
  const report = { longFiles: [], longFunctions: [], sideTables: [], fastifyAugmentations: [] };
  for (const path of files) {
    const text = readFileSync(path, 'utf8');
    const file = relative('.', path);
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    const limit = file.startsWith('src/http/') ? LIMITS.httpFileLines : LIMITS.fileLines;
    if (lines > limit) report.longFiles.push({ file, lines, limit });
    for (const f of functionsOf(file, text)) if (f.own > LIMITS.functionLines) report.longFunctions.push(f);
    text.split('\n').forEach((line, i) => {
      if (/new Weak(Map|Set)\b/.test(line)) report.sideTables.push({ file, line: i + 1, text: line.trim() });
      if (/declare module ['"]fastify['"]/.test(line)) report.fastifyAugmentations.push({ file, line: i + 1 });
    });
  }
  return report;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const report = measure(process.argv.find((a) => !a.startsWith('-') && a !== process.argv[0] && a !== process.argv[1]) ?? 'src');
  if (process.argv.includes('--json')) console.log(JSON.stringify(report, null, 2));
  else {
    for (const f of report.longFiles) console.log(`file      ${f.file}: ${f.lines} lines (limit ${f.limit})`);
    for (const f of report.longFunctions) console.log(`function  ${f.file}:${f.line} ${f.name}: ${f.own} lines of its own`);
    for (const t of report.sideTables) console.log(`table     ${t.file}:${t.line} ${t.text}`);
    for (const a of report.fastifyAugmentations) console.log(`augment   ${a.file}:${a.line}`);
    console.log(
      `${report.longFiles.length} long files, ${report.longFunctions.length} long functions, ${report.sideTables.length} side tables, ${report.fastifyAugmentations.length} fastify augmentations`,
    );
  }
}
