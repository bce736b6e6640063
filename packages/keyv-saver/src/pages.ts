import { keys } from "./keys.js";
import type { Store, StoreEntry } from "./store.js";
import type { NamespaceIndex, PageRef, ThreadIndex } from "./types.js";

/**
 * The thread index keeps its newest entries in the head key and moves older ones, 32 at a time, into pages
 * that are written once. A put rewrites the head only, so its cost does not grow with the thread's history.
 */
export const PAGE_SIZE = 32;

type Entry = [string, string | null];

/** Page keys an index points to. */
export function pageKeys(threadId: string, idx: ThreadIndex): string[] {
  const out: string[] = [];
  for (const [ns, n] of idx.ns) for (const [no] of n.p ?? []) out.push(keys.indexPage(threadId, ns, no));
  return out;
}

/** Reads every page and folds it into the entries: the index in memory then lists the whole thread. */
export async function loadPages(store: Store, threadId: string, idx: ThreadIndex): Promise<ThreadIndex> {
  const ks = pageKeys(threadId, idx);
  if (ks.length === 0) return idx;
  const got = await store.getMany<Entry[]>(ks);
  const byKey = new Map(ks.map((k, i) => [k, got[i] as Entry[] | undefined]));
  for (const [ns, n] of idx.ns) {
    const older: Entry[] = [];
    for (const [no] of n.p ?? []) {
      const page = byKey.get(keys.indexPage(threadId, ns, no));
      if (Array.isArray(page)) older.push(...page);
    }
    n.e = [...older, ...n.e];
  }
  return idx;
}

/** Whether `id` falls in a page of `n` (pages only ever hold checkpoints that were fully written). */
export function inPages(n: NamespaceIndex, id: string): boolean {
  return (n.p ?? []).some(([, first, last]) => id >= first && id <= last);
}

/** True when `id` can be inserted into the head alone (it is newer than everything paged). */
export function fitsHead(n: NamespaceIndex, id: string): boolean {
  const last = n.p?.[n.p.length - 1];
  return last === undefined || id > last[2];
}

/**
 * Moves the oldest entries of each namespace into new pages while the head holds 2 pages' worth or more.
 * Returns the page entries to write before the head.
 */
export function flushPages(threadId: string, idx: ThreadIndex): StoreEntry[] {
  const out: StoreEntry[] = [];
  for (const [ns, n] of idx.ns) {
    while (n.e.length >= 2 * PAGE_SIZE) {
      const page = n.e.splice(0, PAGE_SIZE);
      const no = n.pn ?? 0;
      n.pn = no + 1;
      n.p = [...(n.p ?? []), [no, page[0]![0], page[page.length - 1]![0]] satisfies PageRef];
      out.push({ key: keys.indexPage(threadId, ns, no), value: page });
    }
  }
  return out;
}

/**
 * Re-pages an index whose entries were all loaded (by {@link loadPages}): every namespace gets fresh pages.
 * Returns the new pages to write before the head, and the old page keys to delete after it.
 */
export function repage(
  threadId: string,
  loaded: ThreadIndex,
  before: string[],
): { pages: StoreEntry[]; stale: string[] } {
  for (const [, n] of loaded.ns) n.p = undefined;
  const pages = flushPages(threadId, loaded);
  const fresh = new Set(pages.map((p) => p.key));
  return { pages, stale: before.filter((k) => !fresh.has(k)) };
}
