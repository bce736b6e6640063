/**
 * Settles as `call` does, or rejects with `onTimeout()` when it has not settled within `ms`. The timer is always
 * cleared and never keeps the process alive; a synchronous throw of `call` becomes a rejection. The store clients
 * graphkeep drives can hang for as long as they reconnect, so every store call goes through this.
 *
 * @example
 * await withTimeout(5000, () => keyv.get(key), () => new StoreUnavailableError("get", "no answer within 5 s"));
 */
export async function withTimeout<T>(ms: number, call: () => Promise<T>, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref?.();
  });
  try {
    return await Promise.race([Promise.resolve().then(call), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
