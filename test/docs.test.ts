/** The design document stays true to the code: its transition table is the code's. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TRANSITIONS } from '../src/session/state.ts';

const doc = readFileSync(new URL('../docs/ARCHITECTURE.md', import.meta.url), 'utf8');

describe('docs/ARCHITECTURE.md', () => {
  it('lists exactly the transitions of TRANSITIONS, in its order', () => {
    const table = /<!-- transitions:start -->([\s\S]*?)<!-- transitions:end -->/.exec(doc)?.[1] ?? '';
    const rows = table
      .split('\n')
      .filter((line) => line.startsWith('| ') && !line.startsWith('| phase') && !line.startsWith('| ---'))
      .map((line) =>
        line
          .split('|')
          .slice(1, 4)
          .map((cell) => cell.trim())
          .join(' '),
      );
    const code = Object.entries(TRANSITIONS).flatMap(([phase, row]) =>
      Object.entries(row).map(([action, next]) => `${phase} ${action} ${next}`),
    );
    expect(rows).toEqual(code);
  });

  it('names only source files that exist', () => {
    const paths = [...doc.matchAll(/\bsrc\/[\w/.-]+\.ts\b/g)].map((match) => match[0]);
    expect(paths.length).toBeGreaterThan(5);
    for (const path of new Set(paths))
      expect(() => readFileSync(new URL(`../${path}`, import.meta.url)), path).not.toThrow();
  });
});
