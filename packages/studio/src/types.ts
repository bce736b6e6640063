import type { StoreOptions } from "@graphkeep/cli";

/** How {@link startStudio} opens the store and serves the page. */
export interface StudioOptions extends StoreOptions {
  /**
   * Interface to listen on. Anything but a loopback address requires the token on every request.
   * @default "127.0.0.1"
   */
  host?: string | undefined;
  /**
   * Port to listen on; `0` picks a free one (read it from `url`).
   * @default 4317
   */
  port?: number | undefined;
  /**
   * Hide and refuse every action (fork); the store is opened read-only (SQLite read-only, PostgreSQL read-only
   * sessions, Keyv writes refused).
   * @default false
   */
  readOnly?: boolean | undefined;
  /**
   * Secret every change (and, on a non-loopback host, every request) must carry. Generated when not given.
   */
  token?: string | undefined;
  /**
   * Largest request body accepted (a fork's edited state), in bytes; bigger is refused with 413.
   * @default 262144
   */
  maxBodyBytes?: number | undefined;
  /** Environment the store URL and keys are read from (`GRAPHKEEP_STORE`, `--key-env`). @default process.env */
  env?: NodeJS.ProcessEnv | undefined;
}

/** A running studio. */
export interface Studio {
  /** `http://127.0.0.1:<port>/`; with the token as `?token=` when the host is not loopback */
  readonly url: string;
  /** the secret changes must carry (header `x-graphkeep-token`) */
  readonly token: string;
  /** why the store could not be opened, when it could not (the page shows it) */
  readonly error: StudioErrorBody | undefined;
  /** stops the server and closes the store */
  close(): Promise<void>;
}

/** What the API answers on failure (and the error page shows). */
export interface StudioErrorBody {
  code: string;
  message: string;
  hint?: string | undefined;
}
