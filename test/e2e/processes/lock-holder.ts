/**
 * Takes the file lock `<path>.<name>.lock` (the built package's `fileLock`), says `holding`,
 * and holds it until the process is killed.
 *
 * argv: <path> <name>
 */
import { fileLock } from 'session-keeper/node';

const [path, name] = process.argv.slice(2) as [string, string];
await fileLock(path).run(name, async () => {
  process.send!('holding');
  await new Promise(() => {}); // until killed
});
