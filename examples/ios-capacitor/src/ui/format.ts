/** "4m 05s", "2h 10m", "3d 4h": a duration for people. Negative durations read as "0s". */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(seconds / 86_400);
  const hours = Math.floor((seconds % 86_400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = seconds % 60;
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${String(minutes).padStart(2, '0')}m`;
  if (minutes > 0) return `${minutes}m ${String(rest).padStart(2, '0')}s`;
  return `${rest}s`;
}

/** "14:03:27": the time of day of an instant, on the device's clock. */
export function formatTime(instant: number): string {
  return new Date(instant).toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  });
}

/** "Mar 14": the day of an instant, for instants days away. */
export function formatDay(instant: number): string {
  return new Date(instant).toLocaleDateString([], { month: 'short', day: 'numeric' });
}

/** "expires in 4m 05s (14:08:00)", "ends in 29d 23h (Mar 14)", or "expired 12s ago". */
export function describeExpiry(expiresAt: number, now: number, verb: 'expires' | 'ends' = 'expires'): string {
  const remaining = expiresAt - now;
  if (remaining <= 0) return `${verb === 'expires' ? 'expired' : 'ended'} ${formatDuration(-remaining)} ago`;
  const when = remaining >= 86_400_000 ? formatDay(expiresAt) : formatTime(expiresAt);
  return `${verb} in ${formatDuration(remaining)} (${when})`;
}
