/**
 * Writes a benchmark's generated results to bench/results/<name>.md, keeping the hand-written analysis that
 * follows them: every section from the first heading marked "(hand-written" onwards survives a re-run.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const HAND_WRITTEN = /^## .*\(hand-written/m;

/** Replaces the generated part of bench/results/<name>.md with `generated`, keeping hand-written sections. */
export function writeResults(name: string, generated: string): void {
  const file = path.join(__dirname, '../../bench/results', `${name}.md`);
  const previous = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const notes = HAND_WRITTEN.exec(previous);
  const kept = notes ? `\n${previous.slice(notes.index)}` : '';
  writeFileSync(file, `${generated.trimEnd()}\n${kept}`);
}
