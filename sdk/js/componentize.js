#!/usr/bin/env node
// Build a JavaScript policy into a Gavel policy component.
//
//   gavel-componentize --src src/policy.js --wit WIT_DIR --out OUT.wasm
//                      [--world policy-world] [--project DIR]
//
// componentize-js runs the policy's module graph inside the component's
// JS engine, where there is no `node_modules`: it resolves only relative
// imports. So the entry module and what it imports are first copied into
// a staging directory, with `gavel-policy` rewritten to the copy of this
// package beside it. A policy may import relative modules, `gavel-policy`
// and WIT interfaces (`gavel:policy/history@0.3.0`); anything else must
// be bundled first.
//
// componentize-js itself comes from the policy project's `node_modules`
// (DIR, default: the current directory), where its version is pinned.
// It runs without the ahead-of-time option (weval, which downloads a
// binary) and with every WASI feature off: a policy gets no stdio,
// randomness, clocks or HTTP (Math.random is a fixed stream and the
// request's timestamp is the only time).

import { existsSync, realpathSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** This package's directory: the copy of `gavel-policy` to stage. */
const HELPER_DIR = dirname(fileURLToPath(import.meta.url));

/** Every WASI feature componentize-js offers, all turned off. */
export const DISABLED_FEATURES = ['stdio', 'random', 'clocks', 'http', 'fetch-event'];

/** Why a build could not go ahead; the CLI prints the message alone. */
export class BuildError extends Error {}

/** The directory of package `name` as Node would find it from `from`. */
function findPackage(from, name) {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(candidate)) return dirname(candidate);
    if (dirname(dir) === dir) return null;
  }
}

async function importFrom(projectDir, name, entry) {
  const dir = findPackage(projectDir, name);
  if (dir === null) {
    throw new BuildError(
      `${name} is not installed for ${projectDir}: run \`npm ci\` (or \`npm install\`) there`,
    );
  }
  const meta = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
  return { module: await import(pathToFileURL(join(dir, entry(meta))).href), version: meta.version };
}

const within = (root, path) => path === root || path.startsWith(root + sep);

function relativeSpecifier(fromFile, toFile) {
  const rel = relative(dirname(fromFile), toFile).split(sep).join('/');
  return rel.startsWith('.') ? rel : `./${rel}`;
}

/**
 * Copy the module graph of `entry` into `stageDir`: the entry's directory
 * as `app/`, this package as `gavel-policy/`. Returns the staged entry,
 * relative to `stageDir`, and the source files staged.
 */
export async function stage(entry, stageDir, lexer) {
  await lexer.init;
  const appRoot = dirname(resolve(entry));
  const roots = [
    { source: appRoot, staged: join(stageDir, 'app') },
    { source: HELPER_DIR, staged: join(stageDir, 'gavel-policy') },
  ];
  const helperEntry = join(HELPER_DIR, 'index.js');
  const stagedPath = (file) => {
    const root = roots.find((r) => within(r.source, file));
    return join(root.staged, relative(root.source, file));
  };
  const done = new Set();
  const queue = [resolve(entry)];
  while (queue.length > 0) {
    const file = queue.shift();
    if (done.has(file)) continue;
    done.add(file);
    let text;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new BuildError(`cannot read module ${file}: ${e.message}`);
    }
    let imports;
    try {
      [imports] = lexer.parse(text, file);
    } catch (e) {
      throw new BuildError(`${file}: not a valid ES module: ${e.message}`);
    }
    const target = stagedPath(file);
    const edits = [];
    for (const item of imports) {
      if (item.d === -2) continue; // import.meta
      const specifier = item.n;
      if (specifier === undefined) {
        throw new BuildError(`${file}: a dynamic import() needs a string literal`);
      }
      if (specifier === 'gavel-policy') {
        queue.push(helperEntry);
        edits.push({ s: item.s, e: item.e, text: relativeSpecifier(target, stagedPath(helperEntry)) });
      } else if (specifier.startsWith('./') || specifier.startsWith('../')) {
        const imported = resolve(dirname(file), specifier);
        const root = roots.find((r) => within(r.source, file));
        if (!within(root.source, imported)) {
          throw new BuildError(
            `${file}: import \`${specifier}\` leaves ${root.source}; keep a policy's modules in its source folder`,
          );
        }
        queue.push(imported);
      } else if (!specifier.includes(':')) {
        throw new BuildError(
          `${file}: cannot import \`${specifier}\`: a policy imports relative modules, ` +
            '`gavel-policy` and WIT interfaces only; bundle other packages into one module first',
        );
      }
    }
    let out = text;
    for (const edit of edits.sort((a, b) => b.s - a.s)) {
      out = out.slice(0, edit.s) + edit.text + out.slice(edit.e);
    }
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, out);
  }
  return {
    entry: relative(stageDir, stagedPath(resolve(entry))).split(sep).join('/'),
    files: [...done].sort(),
  };
}

/** Build the component; returns its bytes. */
export async function build({ src, wit, world = 'policy-world', project = '.' }) {
  const projectDir = resolve(project);
  const { module: componentizeJs } = await importFrom(
    projectDir,
    '@bytecodealliance/componentize-js',
    (meta) => meta.exports?.import ?? meta.main,
  );
  const { module: lexer } = await importFrom(
    projectDir,
    'es-module-lexer',
    (meta) => meta.exports?.['.']?.import ?? meta.module,
  );
  const stageDir = await mkdtemp(join(tmpdir(), 'gavel-componentize-'));
  const before = process.cwd();
  try {
    const staged = await stage(src, stageDir, lexer);
    const witPath = resolve(wit);
    // Module paths in the component are relative to the staging directory.
    process.chdir(stageDir);
    const { component } = await componentizeJs.componentize({
      sourcePath: staged.entry,
      witPath,
      worldName: world,
      disableFeatures: DISABLED_FEATURES,
      enableAot: false,
    });
    return component;
  } finally {
    process.chdir(before);
    await rm(stageDir, { recursive: true, force: true });
  }
}

function parseArgs(argv) {
  const options = {};
  const names = new Set(['--src', '--wit', '--world', '--out', '--project']);
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i];
    if (!names.has(name) || i + 1 >= argv.length) {
      throw new BuildError(
        `unexpected argument \`${name}\`; usage: gavel-componentize --src FILE --wit DIR --out FILE [--world NAME] [--project DIR]`,
      );
    }
    options[name.slice(2)] = argv[i + 1];
  }
  for (const required of ['src', 'wit', 'out']) {
    if (options[required] === undefined) throw new BuildError(`--${required} is required`);
  }
  return options;
}

async function main() {
  try {
    const options = parseArgs(process.argv.slice(2));
    const component = await build(options);
    await writeFile(resolve(options.out), component);
  } catch (e) {
    console.error(`gavel-componentize: ${e instanceof BuildError ? e.message : e.stack ?? e}`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
