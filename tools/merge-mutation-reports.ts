/**
 * Merges Stryker reports of scoped runs into one incremental file, so that a full run over
 * `src/` (`npm run mutation`) re-tests only what the parts did not cover, and reports over all
 * of `src/` at once. See docs/mutation.md ("A full run in parts").
 *
 *     node tools/merge-mutation-reports.ts <out.json> <report.json>...
 *
 * Reports are read in order. For a source or test file found in several, the version that
 * matches the file on disk wins (else the last one read): Stryker diffs each file against the
 * version recorded here and re-tests every mutant of code that changed. Test ids are numbers
 * local to one run, so they are renumbered by test file and test name, the way Stryker itself
 * matches tests between runs.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

interface Mutant {
  id: string;
  coveredBy?: string[];
  killedBy?: string[];
  [key: string]: unknown;
}
interface SourceFile {
  source: string;
  mutants: Mutant[];
  [key: string]: unknown;
}
interface TestFile {
  source?: string;
  tests: { id: string; name: string; [key: string]: unknown }[];
}
interface Report {
  files: Record<string, SourceFile>;
  testFiles?: Record<string, TestFile>;
  [key: string]: unknown;
}

const [out, ...inputs] = process.argv.slice(2);
if (out === undefined || inputs.length === 0) {
  console.error('usage: node tools/merge-mutation-reports.ts <out.json> <report.json>...');
  process.exit(2);
}

const onDisk = (path: string): string | undefined => (existsSync(path) ? readFileSync(path, 'utf8') : undefined);
/** Whether `candidate` should replace `current`: it matches the file on disk, or neither does. */
const prefer = (path: string, current: { source?: string } | undefined, candidate: { source?: string }): boolean =>
  current === undefined || candidate.source === onDisk(path) || current.source !== onDisk(path);

const reports = inputs.map((path) => JSON.parse(readFileSync(path, 'utf8')) as Report);
const chosenFiles = new Map<string, { file: SourceFile; report: number }>();
const chosenTests = new Map<string, TestFile>();
reports.forEach((report, index) => {
  for (const [path, file] of Object.entries(report.files)) {
    if (prefer(path, chosenFiles.get(path)?.file, file)) chosenFiles.set(path, { file, report: index });
  }
  for (const [path, file] of Object.entries(report.testFiles ?? {})) {
    if (prefer(path, chosenTests.get(path), file)) chosenTests.set(path, file);
  }
});

// One id per (test file, test name), over the chosen test files.
const globalId = new Map<string, string>();
const testFiles: Record<string, TestFile> = {};
for (const [path, file] of chosenTests) {
  testFiles[path] = {
    ...file,
    tests: file.tests.map((test) => {
      const id = String(globalId.size);
      globalId.set(`${path}\0${test.name}`, id);
      return { ...test, id };
    }),
  };
}

// Each report's local test ids, as global ones (a test no longer chosen is dropped).
const localToGlobal = reports.map((report) => {
  const map = new Map<string, string>();
  for (const [path, file] of Object.entries(report.testFiles ?? {})) {
    for (const test of file.tests) {
      const id = globalId.get(`${path}\0${test.name}`);
      if (id !== undefined) map.set(test.id, id);
    }
  }
  return map;
});

let mutantId = 0;
const files: Record<string, SourceFile> = {};
for (const [path, { file, report }] of chosenFiles) {
  const remap = (ids: string[] | undefined): string[] | undefined =>
    ids?.flatMap((id) => localToGlobal[report]?.get(id) ?? []);
  files[path] = {
    ...file,
    mutants: file.mutants.map((mutant) => {
      const merged: Mutant = { ...mutant, id: String(mutantId++) };
      const coveredBy = remap(mutant.coveredBy);
      const killedBy = remap(mutant.killedBy);
      if (coveredBy !== undefined) merged.coveredBy = coveredBy;
      if (killedBy !== undefined) merged.killedBy = killedBy;
      return merged;
    }),
  };
}

const last = reports[reports.length - 1]!;
writeFileSync(out, JSON.stringify({ ...last, files, testFiles }));
console.log(`${Object.keys(files).length} source files, ${mutantId} mutants, ${globalId.size} tests -> ${out}`);
