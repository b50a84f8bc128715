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

/**
 * Replaces anything that looks secret with `[redacted]`: fields whose name mentions a token,
 * an assertion, a secret or a password, and JWT-shaped text inside strings and error messages.
 * Every logger the manager is given is wrapped in it, so a mistake upstream cannot leak.
 */
export function redact(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) {
    if (SECRET_KEY.test(key)) out[key] = '[redacted]';
    else if (typeof value === 'string') out[key] = value.replace(JWT_LIKE, '[redacted-jwt]');
    else if (value instanceof Error) out[key] = `${value.name}: ${value.message.replace(JWT_LIKE, '[redacted-jwt]')}`;
    else out[key] = value;
  }
  return out;
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
