/** Small builders shared by the unit tests of the leaf modules. */
import type { LogFields, Logger } from '../../src/ports/logger.ts';

/** The one unsigned-JWT builder of the tests (the SDK only decodes JWTs). */
export { unsignedJwt } from '../helpers/tokens.ts';

/** 2026-01-01T00:00:00Z, the ManualClock's default start, in ms. */
export const NOW = Date.UTC(2026, 0, 1);

/** A logger that keeps every line, `[level, message, fields]`, for assertions. */
export function recordingLogger() {
  const lines: [keyof Logger, string, LogFields | undefined][] = [];
  const line = (level: keyof Logger) => (message: string, fields?: LogFields) =>
    void lines.push([level, message, fields]);
  const logger: Logger = { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
  /** The messages logged at `level`. */
  const messages = (level: keyof Logger) => lines.filter(([l]) => l === level).map(([, message]) => message);
  return { logger, lines, messages };
}
