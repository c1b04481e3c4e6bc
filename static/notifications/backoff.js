// Reconnect delays: exponential backoff with "full jitter", so clients of a restarted server never come back in
// lockstep. Pure (the random source is injectable for tests).

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_MAX_MS = 30000;
export const RATE_LIMITED_MIN_MS = 10000;

export function reconnectDelay(attempt, { minimum = 0, random = Math.random } = {}) {
  const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt));
  return Math.max(minimum, random() * cap);
}
