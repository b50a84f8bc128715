/**
 * The READMEs' TypeScript blocks as code: each ```ts block is written to a temporary folder
 * as its own module, with the app-side names it uses but does not define (`login`,
 * `showSignInDialog`, `router`, ...) imported from `snippet-env.ts`, and compiled against the
 * package as users get it (`session-keeper` resolves to this repository's built `dist/`).
 *
 * A block preceded by `<!-- snippet: runs -->` also runs on Node.js, in CI, against the
 * reference server: its `https://auth.example.com` and `https://api.example.com/v1` are pointed
 * at a server on a loopback port (see readme-snippets.test.ts).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ENV = join(ROOT, 'test/docs/snippet-env.ts');

/** A README and the folder its blocks' relative imports and packages resolve from. */
export interface Readme {
  file: string;
  /** Where `./...` imports in its blocks point, and whose node_modules they use. */
  base: string;
}

export const READMES: Readme[] = [
  { file: 'README.md', base: '.' },
  // Its block starts the server "from code" in this repository: paths from the root.
  { file: 'examples/server/README.md', base: '.' },
  { file: 'examples/ios-capacitor/README.md', base: 'examples/ios-capacitor' },
];

export interface Snippet {
  readme: Readme;
  /** 1-based line of the block's first code line in the README. */
  line: number;
  code: string;
  /** Runs on Node.js against the reference server (`<!-- snippet: runs -->`). */
  runs: boolean;
  /** Runs with Node's own localStorage (`<!-- snippet: runs with localStorage -->`). */
  localStorage: boolean;
}

export function extractSnippets(readme: Readme): Snippet[] {
  const lines = readFileSync(join(ROOT, readme.file), 'utf8').split('\n');
  const snippets: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```ts') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end]!.trim() !== '```') end++;
    let previous = i - 1;
    while (previous >= 0 && lines[previous]!.trim() === '') previous--;
    const marker = previous >= 0 ? lines[previous]!.trim() : '';
    const runs = marker === '<!-- snippet: runs -->' || marker === '<!-- snippet: runs with localStorage -->';
    const localStorage = marker === '<!-- snippet: runs with localStorage -->';
    snippets.push({ readme, line: start + 1, code: lines.slice(start, end).join('\n'), runs, localStorage });
    i = end;
  }
  return snippets;
}

/** What snippet-env.ts offers: the names a README block may use without defining them. */
function envExports(): string[] {
  const source = readFileSync(ENV, 'utf8');
  return [
    ...source.matchAll(/^export (?:declare )?(?:async )?(?:const|let|function|class|interface|type) (\w+)/gm),
  ].map((m) => m[1]!);
}

function definesOrImports(code: string, name: string): boolean {
  return (
    new RegExp(`\\b(?:const|let|var|function|class|interface|type)\\s+${name}\\b`).test(code) ||
    new RegExp(`import[^;]*\\b${name}\\b[^;]*from`).test(code)
  );
}

/** The block as a module: the env import on its first line (so line numbers match), relative imports made absolute. */
export function moduleSource(snippet: Snippet, envPath: string): string {
  const used = envExports().filter(
    (name) => new RegExp(`\\b${name}\\b`).test(snippet.code) && !definesOrImports(snippet.code, name),
  );
  const base = join(ROOT, snippet.readme.base);
  const code = snippet.code.replace(
    /(from\s+')(\.\.?\/[^']+)(')/g,
    (_m, head: string, path: string, tail: string) => `${head}${join(base, path)}${tail}`,
  );
  const envImport = used.length > 0 ? `import { ${used.join(', ')} } from '${envPath}'; ` : '';
  return `${envImport}export {}; ${code}\n`;
}

export function snippetFileName(snippet: Snippet): string {
  return `${snippet.readme.file.replace(/[/.]/g, '_')}_line${snippet.line}.ts`;
}

/**
 * A folder where `session-keeper` (and, for an example's README, the example's packages)
 * resolve as they do for users: node_modules/session-keeper links to this repository.
 */
/** Packages the root README's blocks import besides session-keeper: linked from the root's node_modules. */
const SNIPPET_PACKAGES = [
  'openapi-fetch',
  'graphql-request',
  'graphql',
  '@urql/core',
  'svelte',
  '@vue/reactivity',
  'react',
  '@types/react',
];

export function snippetFolder(readme: Readme): string {
  const dir = mkdtempSync(join(tmpdir(), 'sk-snippets-'));
  const base = join(ROOT, readme.base);
  if (readme.base === '.') {
    mkdirSync(join(dir, 'node_modules', '@capacitor', 'app'), { recursive: true });
    symlinkSync(ROOT, join(dir, 'node_modules', 'session-keeper'), 'dir');
    // The clients and UI frameworks the README's integration blocks import (devDependencies here).
    for (const name of SNIPPET_PACKAGES) {
      const from = join(ROOT, 'node_modules', name);
      if (!existsSync(from)) continue;
      mkdirSync(dirname(join(dir, 'node_modules', name)), { recursive: true });
      symlinkSync(from, join(dir, 'node_modules', name), 'dir');
    }
    // The Capacitor block's one import, as @capacitor/app 8 types it (only compiled here).
    writeFileSync(
      join(dir, 'node_modules/@capacitor/app/package.json'),
      '{"name":"@capacitor/app","types":"index.d.ts"}',
    );
    writeFileSync(
      join(dir, 'node_modules/@capacitor/app/index.d.ts'),
      'export declare const App: { addListener(event: "appStateChange", listener: (state: { isActive: boolean }) => void): Promise<{ remove(): Promise<void> }> };\n',
    );
  } else {
    symlinkSync(join(base, 'node_modules'), join(dir, 'node_modules'), 'dir');
  }
  writeFileSync(join(dir, 'snippet-env.ts'), readFileSync(ENV, 'utf8'));
  return dir;
}

export interface CompileError {
  /** `README.md:62` */
  where: string;
  message: string;
}

/** Type-checks every block of `readme` (strict, as the package's own sources); returns the errors. */
export function typecheck(readme: Readme): CompileError[] {
  const dir = snippetFolder(readme);
  const files = new Map<string, Snippet>();
  for (const snippet of extractSnippets(readme)) {
    const file = join(dir, snippetFileName(snippet));
    writeFileSync(file, moduleSource(snippet, './snippet-env.ts'));
    files.set(file, snippet);
  }
  const program = ts.createProgram([...files.keys()], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
    types: ['node'],
    typeRoots: [join(ROOT, 'node_modules/@types')],
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    allowImportingTsExtensions: true,
    verbatimModuleSyntax: true,
    noEmit: true,
    skipLibCheck: true,
  });
  const errors: CompileError[] = [];
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    const snippet = diagnostic.file ? files.get(diagnostic.file.fileName) : undefined;
    if (!diagnostic.file || !snippet) {
      errors.push({ where: diagnostic.file ? relative(ROOT, diagnostic.file.fileName) : readme.file, message });
      continue;
    }
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
    errors.push({ where: `${readme.file}:${snippet.line + line}`, message });
  }
  return errors;
}
