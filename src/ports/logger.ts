/** Structured fields of a log line. Never put a token in them. */
export type LogFields = Record<string, unknown>;

/** Structured debug logging. The default is silent. */
export interface Logger {
  /** Step-by-step detail (refresh due, refreshed, lock taken). */
  debug(message: string, fields?: LogFields): void;
  /** Notable but expected events (a transient failure that will be retried, a dismissed prompt). */
  info(message: string, fields?: LogFields): void;
  /** Something went wrong and was worked around (a failed revocation, an unreadable stored session). */
  warn(message: string, fields?: LogFields): void;
  /** An unexpected failure (a bug, or a port that throws something unforeseen). */
  error(message: string, fields?: LogFields): void;
}

const noop = (): void => {};

/** The default logger: says nothing. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

const SECRET_KEY = /token|assertion|secret|password|authorization|code_verifier/i;
const JWT_LIKE = /\beyJ[\w-]+\.[\w-]+\.[\w-]*/g;

/** How deep {@link redact} follows nested objects and arrays before it stops looking. */
const MAX_DEPTH = 4;

/**
 * Replaces anything that looks secret with `[redacted]`: fields whose name mentions a token,
 * an assertion, a secret or a password, and JWT-shaped text inside strings and error messages.
 * It follows nested plain objects and arrays four levels down a field; deeper, or in a cycle,
 * a value becomes `[nested]`. Other objects (a `Date`, a `URL`) pass as they are, and an error
 * becomes `Name: message`. Every logger the manager is given is wrapped in it, so a mistake
 * upstream cannot leak.
 */
export function redact(fields: LogFields): LogFields {
  return redactObject(fields, 0, new Set());
}

function redactObject(fields: object, depth: number, seen: Set<object>): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) {
    out[key] = SECRET_KEY.test(key) ? '[redacted]' : redactValue(value, depth, seen);
  }
  return out;
}

function isPlainObject(value: unknown): value is object {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function redactValue(value: unknown, depth: number, seen: Set<object>): unknown {
  if (typeof value === 'string') return value.replace(JWT_LIKE, '[redacted-jwt]');
  if (value instanceof Error) return `${value.name}: ${value.message.replace(JWT_LIKE, '[redacted-jwt]')}`;
  if (!Array.isArray(value) && !isPlainObject(value)) return value;
  if (depth >= MAX_DEPTH || seen.has(value)) return '[nested]';
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((item: unknown) => redactValue(item, depth + 1, seen));
    return redactObject(value, depth + 1, seen);
  } finally {
    seen.delete(value);
  }
}

/**
 * Wraps a logger so every line's fields go through {@link redact}, and so that a logger that
 * throws is contained like an event handler: logging never breaks a refresh.
 */
export function redactingLogger(logger: Logger): Logger {
  const line =
    (level: keyof Logger) =>
    (message: string, fields?: LogFields): void => {
      try {
        logger[level](message, fields && redact(fields));
      } catch {
        // Nowhere left to report it: the logger itself is what failed.
      }
    };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}

/**
 * A logger that writes to `console` with a prefix; handy while integrating.
 * @example new SessionManager({ ..., logger: consoleLogger('[auth]') })
 */
export function consoleLogger(prefix = '[session-keeper]'): Logger {
  return {
    debug: (m, f) => console.debug(prefix, m, f ?? ''),
    info: (m, f) => console.info(prefix, m, f ?? ''),
    warn: (m, f) => console.warn(prefix, m, f ?? ''),
    error: (m, f) => console.error(prefix, m, f ?? ''),
  };
}
