// The studio's page: plain DOM, no framework (the views are tables, two SVG drawings and a JSON tree; a UI library
// would add more bytes than these few hundred lines). Talks only to the studio's own /api.

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;
type Child = Node | string | number | undefined | null | false;

const meta = (name: string) => document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? "";
const TOKEN = meta("graphkeep-token");
const READ_ONLY = meta("graphkeep-read-only") === "true";
const SVG = "http://www.w3.org/2000/svg";

function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.slice(2), v);
    // through the CSSOM: the CSP (no 'unsafe-inline') blocks style attributes
    else if (k === "style") el.style.cssText = String(v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children)
    if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

function s(tag: string, attrs: Record<string, string | number> = {}, ...children: Array<Node | string>): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: { code: string; message: string; hint?: string },
  ) {
    super(body.message);
  }
}

async function api<T>(path: string, init?: RequestInit): Promise<T> {
  const headers: Record<string, string> = { "x-graphkeep-token": TOKEN };
  if (init?.body) headers["content-type"] = "application/json";
  const res = await fetch(path, { ...init, headers, credentials: "same-origin" });
  const body = await res.json();
  if (!res.ok) throw new ApiError(res.status, body.error ?? { code: "ERROR", message: res.statusText });
  return body as T;
}

const app = () => document.getElementById("app") as HTMLElement;
const enc = encodeURIComponent;
const usd = (n: number | undefined) =>
  n === undefined ? "—" : n === 0 ? "$0" : n < 0.01 ? `$${n.toFixed(6)}` : `$${n.toFixed(4)}`;
const bytes = (n: number | undefined) =>
  n === undefined
    ? "—"
    : n < 1024
      ? `${n} B`
      : n < 1048576
        ? `${(n / 1024).toFixed(1)} KB`
        : `${(n / 1048576).toFixed(1)} MB`;
const time = (iso: string | undefined) => (iso ? new Date(iso).toLocaleString() : "—");
const status = (st: string) => h("span", { class: `status s-${st}`, "data-status": st }, st);

function problem(e: unknown): HTMLElement {
  const b = e instanceof ApiError ? e.body : { code: "ERROR", message: String(e) };
  return h(
    "div",
    { class: "problem", role: "alert" },
    h("b", {}, b.code),
    " ",
    b.message,
    b.hint ? h("div", { class: "dim" }, b.hint) : null,
  );
}

/** The error page: the store cannot be read (wrong key, server down); replaces everything. */
function errorPage(e: ApiError): void {
  const main = h(
    "main",
    { id: "error", class: "error" },
    h("h1", {}, "The studio cannot read this store"),
    h("p", { class: "code" }, e.body.code),
    h("p", {}, e.body.message),
    e.body.hint ? h("p", { class: "hint" }, e.body.hint) : null,
  );
  app().replaceWith(main);
}

const fatal = (e: unknown) =>
  e instanceof ApiError && e.status >= 500 && e.body.code !== "ERROR" && e.body.code !== "NOT_FOUND";

// ---------- threads ----------

interface ThreadRow {
  threadId: string;
  status: string;
  checkpoints?: number;
  bytes?: number;
  lastStep?: number;
  costUsd?: number;
  updatedAt?: string;
}

async function threadsView(params: URLSearchParams): Promise<void> {
  const q = params.get("q") ?? "";
  const sort = params.get("sort") ?? "updated";
  const offset = Number(params.get("offset") ?? "0");
  const limit = 50;
  const go = (p: Record<string, string | number>) => {
    const next = new URLSearchParams({
      q,
      sort,
      offset: String(offset),
      ...Object.fromEntries(Object.entries(p).map(([k, v]) => [k, String(v)])),
    });
    location.hash = `#/?${next}`;
  };
  const page = await api<{ total: number; rows: ThreadRow[] }>(
    `/api/threads?q=${enc(q)}&sort=${enc(sort)}&offset=${offset}&limit=${limit}`,
  );
  const search = h("input", {
    type: "search",
    placeholder: "search thread ids",
    value: q,
    id: "search",
  }) as HTMLInputElement;
  search.addEventListener("change", () => go({ q: search.value, offset: 0 }));
  const head = (label: string, key: string) =>
    h(
      "th",
      { class: "sort", onclick: () => go({ sort: sort === key ? `-${key}` : key, offset: 0 }) },
      label,
      sort === key ? " ▾" : sort === `-${key}` ? " ▴" : "",
    );
  const body = h("tbody");
  for (const r of page.rows) {
    body.append(
      h(
        "tr",
        { class: "row", "data-thread": r.threadId, onclick: () => (location.hash = `#/t/${enc(r.threadId)}`) },
        h("td", { class: "mono" }, r.threadId),
        h("td", {}, status(r.status)),
        h("td", { class: "num" }, r.checkpoints ?? "—"),
        h("td", { class: "num" }, r.lastStep ?? "—"),
        h("td", { class: "num" }, bytes(r.bytes)),
        h("td", { class: "num" }, usd(r.costUsd)),
        h("td", {}, time(r.updatedAt)),
      ),
    );
  }
  const last = Math.min(offset + limit, page.total);
  app().replaceChildren(
    h("h1", {}, "Threads"),
    READ_ONLY ? "" : retentionPanel(() => void route()),
    h(
      "div",
      { class: "bar" },
      search,
      h(
        "span",
        { class: "dim", id: "count" },
        page.total === 0 ? "no threads" : `${offset + 1}–${last} of ${page.total}`,
      ),
      h("button", { disabled: offset === 0, onclick: () => go({ offset: Math.max(0, offset - limit) }) }, "‹ newer"),
      h("button", { disabled: last >= page.total, onclick: () => go({ offset: offset + limit }) }, "older ›"),
    ),
    h(
      "table",
      { id: "threads" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          head("thread", "id"),
          h("th", {}, "status"),
          h("th", {}, "checkpoints"),
          h("th", {}, "last step"),
          h("th", {}, "size"),
          h("th", {}, "cost"),
          head("updated", "updated"),
        ),
      ),
      body,
    ),
  );
}

interface SweepReport {
  dryRun: boolean;
  threadsScanned: number;
  checkpointsDeleted: number;
  valuesDeleted: number;
  writesDeleted: number;
  bytesFreed: number;
}

/** A retention policy: preview what it deletes and the bytes it frees, then run it. */
function retentionPanel(reload: () => void): HTMLElement {
  const keep = h("input", {
    type: "number",
    min: 0,
    id: "keep-latest",
    placeholder: "e.g. 20",
    style: "width:90px",
  }) as HTMLInputElement;
  const age = h("input", {
    type: "text",
    id: "max-age",
    placeholder: "e.g. 7d",
    style: "width:90px",
  }) as HTMLInputElement;
  const final = h("input", { type: "checkbox", id: "keep-final" }) as HTMLInputElement;
  const out = h("div", { id: "retention-result" });
  const run = h("button", { id: "retention-run", class: "primary", disabled: true }, "Delete") as HTMLButtonElement;
  const policy = () => ({
    ...(keep.value === "" ? {} : { keepLatest: Number(keep.value) }),
    ...(age.value.trim() === "" ? {} : { maxAge: age.value.trim() }),
    keepFinal: final.checked,
  });
  const say = (r: SweepReport) =>
    `${r.dryRun ? "would delete" : "deleted"} ${r.checkpointsDeleted} checkpoint(s), ${r.valuesDeleted} value(s), ${r.writesDeleted} write(s) in ${r.threadsScanned} thread(s), ${r.dryRun ? "freeing" : "freed"} ${bytes(r.bytesFreed)}`;
  const call = (dryRun: boolean) =>
    api<SweepReport>("/api/retention", { method: "POST", body: JSON.stringify({ ...policy(), dryRun }) });
  for (const input of [keep, age, final]) input.addEventListener("input", () => (run.disabled = true));
  const preview = h(
    "button",
    {
      id: "retention-preview",
      onclick: async () => {
        try {
          const r = await call(true);
          out.replaceChildren(h("div", { class: "notice" }, say(r)));
          run.disabled = r.checkpointsDeleted === 0;
          run.textContent = `Delete ${r.checkpointsDeleted} checkpoint(s)`;
        } catch (e) {
          out.replaceChildren(problem(e));
        }
      },
    },
    "Preview",
  );
  run.addEventListener("click", async () => {
    run.disabled = true;
    try {
      const r = await call(false);
      out.replaceChildren(h("div", { class: "notice" }, say(r)));
      setTimeout(reload, 600);
    } catch (e) {
      out.replaceChildren(problem(e));
    }
  });
  return h(
    "details",
    { id: "retention", class: "chg" },
    h("summary", {}, "Retention: preview a policy, then prune"),
    h(
      "div",
      { class: "bar" },
      "keep latest ",
      keep,
      " max age ",
      age,
      h("label", {}, final, " keep finished threads' final chain"),
      preview,
      run,
    ),
    h(
      "p",
      { class: "dim" },
      "latest, interrupted and fork-point checkpoints are always kept (@graphkeep/retention, as graphkeep prune)",
    ),
    out,
  );
}

// ---------- one thread ----------

interface HistoryRow {
  id: string;
  parentId: string | null;
  step?: number;
  source?: string;
  createdAt: string;
  pending: string[];
  lane: number;
  children: number;
  nodes: string[];
  stepUsd?: number;
  totalUsd?: number;
  forkedFrom?: { threadId: string; checkpointId: string };
}
interface HistoryPage {
  threadId: string;
  status: string;
  total: number;
  lanes: number;
  offset: number;
  limit: number;
  rows: HistoryRow[];
}

const ROW = 28;
const LANE = 16;
const COLORS = ["#2f6fde", "#8e44ad", "#d35400", "#16a085", "#c0392b", "#7f8c8d", "#b7950b", "#2c3e50"];

/** The history page as a tree: one dot per checkpoint, a line to its parent, a branch in its own lane. */
function treeSvg(rows: HistoryRow[], lanes: number): SVGElement {
  const width = Math.max(1, Math.min(lanes, 12)) * LANE + 8;
  const svg = s("svg", {
    width,
    height: rows.length * ROW,
    id: "tree-svg",
    role: "img",
    "aria-label": "checkpoint tree",
  });
  const at = new Map(rows.map((r, i) => [r.id, i]));
  const x = (lane: number) => 4 + Math.min(lane, 11) * LANE + LANE / 2;
  const y = (i: number) => i * ROW + ROW / 2;
  rows.forEach((r, i) => {
    const color = COLORS[r.lane % COLORS.length] as string;
    if (r.parentId !== null) {
      const p = at.get(r.parentId);
      const pl = p === undefined ? r.lane : (rows[p] as HistoryRow).lane;
      const py = p === undefined ? rows.length * ROW : y(p);
      const d =
        pl === r.lane
          ? `M${x(r.lane)},${y(i)} L${x(r.lane)},${py}`
          : `M${x(r.lane)},${y(i)} L${x(r.lane)},${py - ROW / 2} Q${x(r.lane)},${py} ${x(pl)},${py}`;
      svg.append(s("path", { d, stroke: color, "stroke-width": 2, fill: "none", class: `edge lane-${r.lane}` }));
    }
  });
  rows.forEach((r, i) => {
    const color = COLORS[r.lane % COLORS.length] as string;
    svg.append(
      s("circle", {
        cx: x(r.lane),
        cy: y(i),
        r: r.children > 1 ? 6 : 4.5,
        fill: r.children > 1 ? "#fff" : color,
        stroke: color,
        "stroke-width": 2,
        class: `node lane-${r.lane}`,
        "data-checkpoint": r.id,
      }),
    );
  });
  return svg;
}

let poll: ReturnType<typeof setTimeout> | undefined;

async function threadView(threadId: string, params: URLSearchParams): Promise<void> {
  const offset = Number(params.get("offset") ?? "0");
  const limit = 100;
  const hist = await api<HistoryPage>(`/api/threads/${enc(threadId)}/history?offset=${offset}&limit=${limit}`);
  const selected = params.get("c") ?? hist.rows[0]?.id;
  const select = (id: string) => {
    const p = new URLSearchParams(params);
    p.set("c", id);
    location.hash = `#/t/${enc(threadId)}?${p}`;
  };
  const rowsEl = h("div", { class: "rows" });
  for (const r of hist.rows) {
    const tags = [
      r.pending.includes("__interrupt__") ? h("span", { class: "tag t-int" }, "interrupt") : null,
      r.pending.includes("__error__") ? h("span", { class: "tag t-err" }, "failed") : null,
      r.children > 1 ? h("span", { class: "tag t-fork" }, `fork point ×${r.children}`) : null,
      r.lane > 0 ? h("span", { class: "tag", "data-branch": r.lane }, `branch ${r.lane}`) : null,
    ];
    rowsEl.append(
      h(
        "div",
        {
          class: `row tree-row${r.id === selected ? " sel" : ""}`,
          style: `height:${ROW}px;display:flex;gap:8px;align-items:center;white-space:nowrap;overflow:hidden`,
          "data-checkpoint": r.id,
          "data-lane": r.lane,
          onclick: () => select(r.id),
        },
        h("span", { class: "num", style: "width:34px;text-align:right" }, r.step ?? "—"),
        h("span", { class: "dim", style: "width:52px" }, r.source ?? ""),
        h("span", { style: "min-width:110px" }, r.nodes.join(", ") || "—"),
        h("span", { class: "mono dim" }, r.id.slice(0, 13)),
        h("span", { class: "num dim" }, r.stepUsd ? usd(r.stepUsd) : ""),
        ...tags,
      ),
    );
  }
  const detail = h("section", { id: "detail" }, selected ? "loading…" : "no checkpoint");
  const costEl = h("section", { id: "cost" });
  const forkedFrom = hist.rows.find((r) => r.forkedFrom)?.forkedFrom;
  app().replaceChildren(
    h(
      "div",
      { class: "bar" },
      h("a", { href: "#/" }, "‹ threads"),
      h("h1", { class: "mono", id: "thread-title", style: "margin:0" }, threadId),
      status(hist.status),
      h("span", { class: "dim" }, `${hist.total} checkpoint(s)`),
      forkedFrom
        ? h(
            "span",
            { class: "dim" },
            "forked from ",
            h("a", { href: `#/t/${enc(forkedFrom.threadId)}` }, forkedFrom.threadId),
          )
        : null,
    ),
    h(
      "div",
      { class: "cols" },
      h(
        "section",
        { id: "tree" },
        h(
          "h2",
          {},
          "History ",
          h("span", { class: "dim" }, "newest first; a branch (fork, edit of an older checkpoint) in its own lane"),
        ),
        h(
          "div",
          { class: "bar" },
          h(
            "button",
            {
              disabled: offset === 0,
              onclick: () => (location.hash = `#/t/${enc(threadId)}?offset=${Math.max(0, offset - limit)}`),
            },
            "‹ newer",
          ),
          h("span", { class: "dim" }, `${offset + 1}–${Math.min(offset + limit, hist.total)} of ${hist.total}`),
          h(
            "button",
            {
              disabled: offset + limit >= hist.total,
              onclick: () => (location.hash = `#/t/${enc(threadId)}?offset=${offset + limit}`),
            },
            "older ›",
          ),
        ),
        h("div", { style: "display:flex;gap:6px" }, treeSvg(hist.rows, hist.lanes), rowsEl),
      ),
      h("div", {}, detail, costEl),
    ),
  );
  if (selected) checkpointView(threadId, selected, detail).catch((e) => detail.replaceChildren(problem(e)));
  costView(threadId, costEl).catch((e) => costEl.replaceChildren(problem(e)));
  // new checkpoints (a running graph, an interrupt answered elsewhere) show up without a reload
  if (offset === 0) watch(threadId, hist.total, hist.rows[0]?.id, hist.status);
}

/** Polls a thread's history every 2 s; re-renders when its newest checkpoint, count or status changes. */
function watch(threadId: string, total: number, head: string | undefined, status: string): void {
  poll = setTimeout(async () => {
    try {
      const again = await api<HistoryPage>(`/api/threads/${enc(threadId)}/history?offset=0&limit=1`);
      if (again.total !== total || again.rows[0]?.id !== head || again.status !== status) {
        const p = new URLSearchParams(location.hash.split("?")[1] ?? "");
        // follow the newest checkpoint unless the user picked one
        if (p.get("c") === head) p.delete("c");
        const target = `#/t/${enc(threadId)}?${p}`;
        if (location.hash === target) void route();
        else location.hash = target;
        return;
      }
    } catch {}
    watch(threadId, total, head, status);
  }, 2000);
}

// ---------- a checkpoint ----------

interface Change {
  channel: string;
  change: "added" | "removed" | "appended" | "changed";
  before?: Json;
  after?: Json;
}
interface CheckpointView {
  checkpointId: string;
  parentId: string | null;
  step?: number;
  source?: string;
  createdAt: string;
  status: string;
  next: string[];
  values: Record<string, Json>;
  diff: Change[];
  pendingWrites: Array<{ taskId: string; channel: string; value: Json }>;
  interrupts: Json[];
  errors: Array<{ node?: string; name: string; message: string }>;
  metadata: Record<string, Json>;
  nodes: string[];
}

const isMessage = (v: Json): v is { type: string; content: Json } =>
  typeof v === "object" && v !== null && !Array.isArray(v) && typeof v.type === "string" && "content" in v;
const isConversation = (v: Json): v is Json[] => Array.isArray(v) && v.length > 0 && v.every(isMessage);

function textOf(content: Json): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content))
    return content
      .map((p) => (typeof p === "string" ? p : typeof p === "object" && p && "text" in p ? String(p.text) : ""))
      .join(" ");
  return JSON.stringify(content);
}

function message(m: { type: string; content: Json; [k: string]: Json }, fresh = false): HTMLElement {
  const calls = Array.isArray(m.tool_calls) ? m.tool_calls : [];
  return h(
    "div",
    { class: `msg m-${m.type}${fresh ? " new" : ""}`, "data-role": m.type },
    h(
      "div",
      { class: "role" },
      m.type,
      typeof m.name === "string" ? ` · ${m.name}` : "",
      typeof m.tool_call_id === "string" ? ` · result of ${m.tool_call_id}` : "",
    ),
    h("div", { class: "content" }, textOf(m.content)),
    ...calls.map((c) => {
      const call = c as { name?: string; args?: Json; id?: string };
      return h(
        "div",
        { class: "call" },
        `→ ${call.name}(${JSON.stringify(call.args ?? {})})`,
        call.id ? h("span", { class: "dim" }, `  ${call.id}`) : null,
      );
    }),
  );
}

function conversation(list: Json[], fresh = false): HTMLElement {
  return h("div", { class: "conversation" }, ...list.map((m) => message(m as { type: string; content: Json }, fresh)));
}

/** Collapsible JSON: objects and arrays fold, the first levels open. */
function json(v: Json, depth = 0): Node {
  if (v === null || typeof v !== "object") {
    const cls = typeof v === "string" ? "str" : typeof v === "number" ? "n" : "";
    return h("span", { class: cls }, JSON.stringify(v));
  }
  const entries: Array<[string, Json]> = Array.isArray(v) ? v.map((x, i) => [String(i), x]) : Object.entries(v);
  if (entries.length === 0) return h("span", {}, Array.isArray(v) ? "[]" : "{}");
  const d = h(
    "details",
    depth < 2 ? { open: true } : {},
    h("summary", { class: "dim" }, Array.isArray(v) ? `[${entries.length}]` : `{${entries.length}}`),
  );
  const body = h("div", { class: "json" });
  for (const [k, x] of entries) body.append(h("div", {}, h("span", { class: "k" }, k), ": ", json(x, depth + 1)));
  d.append(body);
  return d;
}

function valueView(v: Json): Node {
  return isConversation(v) ? conversation(v) : json(v);
}

async function checkpointView(threadId: string, id: string, el: HTMLElement): Promise<void> {
  const cp = await api<CheckpointView>(`/api/threads/${enc(threadId)}/checkpoints/${enc(id)}`);
  const tabs: Array<[string, () => Node]> = [
    [
      "Diff",
      () =>
        cp.diff.length === 0
          ? h("p", { class: "dim" }, cp.parentId ? "no channel changed" : "first checkpoint: everything is new")
          : h(
              "div",
              { id: "diff" },
              ...cp.diff.map((c) =>
                h(
                  "div",
                  { class: "chg", "data-channel": c.channel, "data-change": c.change },
                  h("b", {}, c.channel),
                  " ",
                  h(
                    "span",
                    { class: "what" },
                    c.change === "appended" ? `appended ${(c.after as Json[]).length}` : c.change,
                  ),
                  c.change === "appended"
                    ? isConversation(c.after as Json)
                      ? conversation(c.after as Json[], true)
                      : h("div", { class: "add" }, json(c.after as Json))
                    : c.change === "added"
                      ? h("div", { class: "add" }, valueView(c.after as Json))
                      : c.change === "removed"
                        ? h("div", { class: "del" }, json(c.before as Json))
                        : h(
                            "div",
                            {},
                            h("div", { class: "del" }, "− ", json(c.before as Json)),
                            h("div", { class: "add" }, "+ ", json(c.after as Json)),
                          ),
                ),
              ),
            ),
    ],
    [
      "State",
      () =>
        h(
          "div",
          { id: "state" },
          ...Object.entries(cp.values).map(([k, v]) => h("div", { class: "chg" }, h("b", {}, k), valueView(v))),
        ),
    ],
    [
      "Next & writes",
      () =>
        h(
          "div",
          { id: "pending" },
          h(
            "p",
            {},
            h("b", {}, "next: "),
            cp.next.length
              ? cp.next.join(", ")
              : h("span", { class: "dim" }, "nothing (finished, or its writes are all stored)"),
          ),
          cp.interrupts.length
            ? h("div", { id: "interrupts" }, h("h2", {}, "Waiting for an answer"), ...cp.interrupts.map((i) => json(i)))
            : null,
          cp.errors.length
            ? h(
                "div",
                {},
                h("h2", {}, "Failed"),
                ...cp.errors.map((e) => h("div", { class: "problem" }, `${e.node ?? "?"}: ${e.name}: ${e.message}`)),
              )
            : null,
          h("h2", {}, "Pending writes"),
          cp.pendingWrites.length
            ? h(
                "table",
                {},
                h(
                  "tbody",
                  {},
                  ...cp.pendingWrites.map((w) =>
                    h(
                      "tr",
                      {},
                      h("td", { class: "mono dim" }, w.taskId.slice(0, 8)),
                      h("td", {}, w.channel),
                      h("td", {}, json(w.value)),
                    ),
                  ),
                ),
              )
            : h("p", { class: "dim" }, "none"),
        ),
    ],
    ["Metadata", () => h("div", { id: "metadata" }, json(cp.metadata))],
  ];
  if (!READ_ONLY) tabs.push(["Fork", () => forkForm(threadId, cp)]);
  const content = h("div", {});
  const bar = h("div", { class: "tabs" });
  const show = (i: number) => {
    for (const [j, b] of [...bar.querySelectorAll("button")].entries()) b.classList.toggle("on", i === j);
    content.replaceChildren((tabs[i] as [string, () => Node])[1]());
  };
  for (const [i, [name]] of tabs.entries()) bar.append(h("button", { "data-tab": name, onclick: () => show(i) }, name));
  el.replaceChildren(
    h("h2", {}, `Checkpoint · step ${cp.step ?? "—"} · ${cp.source ?? ""}`, " ", status(cp.status)),
    h(
      "div",
      { class: "dim mono" },
      cp.checkpointId,
      " · ",
      time(cp.createdAt),
      cp.nodes.length ? ` · ${cp.nodes.join(", ")}` : "",
    ),
    bar,
    content,
  );
  show(0);
}

function forkForm(threadId: string, cp: CheckpointView): HTMLElement {
  const to = h("input", {
    type: "text",
    id: "fork-to",
    value: `${threadId}-fork-${Date.now().toString(36)}`,
    style: "min-width:320px",
  }) as HTMLInputElement;
  const edit = h("textarea", { id: "fork-values", spellcheck: "false" }) as HTMLTextAreaElement;
  edit.value = "{}";
  const msg = h("div", { id: "fork-message" });
  const go = h("button", { class: "primary", id: "fork-go" }, "Fork into the new thread") as HTMLButtonElement;
  const channels = Object.keys(cp.values);
  const check = (): Record<string, Json> | undefined => {
    let v: Json;
    try {
      v = JSON.parse(edit.value) as Json;
    } catch (e) {
      msg.replaceChildren(h("div", { class: "problem" }, `not valid JSON: ${(e as Error).message}`));
      return undefined;
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      msg.replaceChildren(h("div", { class: "problem" }, 'give an object: { "channel": new value }'));
      return undefined;
    }
    const unknown = Object.keys(v).filter((k) => !channels.includes(k));
    if (unknown.length) {
      msg.replaceChildren(
        h("div", { class: "problem" }, `no channel ${unknown.join(", ")}; channels: ${channels.join(", ")}`),
      );
      return undefined;
    }
    msg.replaceChildren();
    return v;
  };
  edit.addEventListener("input", () => {
    go.disabled = check() === undefined;
  });
  go.addEventListener("click", async () => {
    const values = check();
    if (values === undefined) return;
    go.disabled = true;
    try {
      const r = await api<{ to: string; head: string }>(`/api/threads/${enc(threadId)}/fork`, {
        method: "POST",
        body: JSON.stringify({ at: cp.checkpointId, to: to.value, ...(Object.keys(values).length ? { values } : {}) }),
      });
      location.hash = `#/t/${enc(r.to)}?c=${enc(r.head)}`;
    } catch (e) {
      msg.replaceChildren(problem(e));
      go.disabled = false;
    }
  });
  return h(
    "div",
    { id: "fork" },
    h(
      "p",
      {},
      "Copy this thread up to this checkpoint into a new thread (as ",
      h("code", {}, "graphkeep fork"),
      " does); resume it with ",
      h("code", {}, "graph.invoke(null, { configurable: { thread_id } })"),
      ".",
    ),
    h("p", {}, "new thread: ", to),
    h("p", { class: "dim" }, `optionally replace channel values (JSON object; channels: ${channels.join(", ")})`),
    edit,
    msg,
    go,
  );
}

// ---------- cost ----------

interface CostView {
  recorded: boolean;
  totalUsd?: number;
  steps: Array<{
    checkpointId: string;
    step?: number;
    nodes: string[];
    stepUsd: number;
    totalUsd?: number;
    byModel: Record<string, number>;
  }>;
  byModel: Record<string, number>;
  byNode: Record<string, number>;
  byTenant: Record<string, number>;
  savedUsd?: number;
}

/** Per-step cost as stacked bars by model, with the running total as a line. */
function costChart(c: CostView): SVGElement {
  const steps = c.steps.filter((x) => x.totalUsd !== undefined);
  const W = 560;
  const H = 200;
  const pad = { l: 64, r: 72, t: 10, b: 24 };
  const models = Object.keys(c.byModel);
  const maxStep = Math.max(1e-12, ...steps.map((x) => x.stepUsd));
  const maxTotal = Math.max(1e-12, ...steps.map((x) => x.totalUsd ?? 0));
  const bw = (W - pad.l - pad.r) / Math.max(1, steps.length);
  const svg = s("svg", { width: W, height: H, id: "cost-chart", role: "img", "aria-label": "cost per step" });
  const yS = (v: number) => H - pad.b - (v / maxStep) * (H - pad.t - pad.b);
  const yT = (v: number) => H - pad.b - (v / maxTotal) * (H - pad.t - pad.b);
  svg.append(s("line", { x1: pad.l, y1: H - pad.b, x2: W - pad.r, y2: H - pad.b, stroke: "#999" }));
  svg.append(
    s("text", { x: pad.l - 4, y: pad.t + 8, "text-anchor": "end", "font-size": 10, fill: "#68717d" }, usd(maxStep)),
  );
  svg.append(s("text", { x: W - pad.r + 4, y: pad.t + 8, "font-size": 10, fill: "#c0392b" }, usd(maxTotal)));
  svg.append(s("text", { x: pad.l - 4, y: H - pad.b, "text-anchor": "end", "font-size": 10, fill: "#68717d" }, "$0"));
  steps.forEach((x, i) => {
    let y = H - pad.b;
    const parts = Object.entries(x.byModel);
    const rest = x.stepUsd - parts.reduce((a, [, v]) => a + v, 0);
    for (const [m, v] of [...parts, ...(rest > 1e-12 ? [["(not recorded)", rest] as [string, number]] : [])]) {
      const hgt = H - pad.b - yS(v);
      const color = COLORS[Math.max(0, models.indexOf(m)) % COLORS.length] as string;
      const r = s("rect", {
        x: pad.l + i * bw + 1,
        y: y - hgt,
        width: Math.max(1, bw - 2),
        height: hgt,
        fill: color,
        class: "bar",
      });
      r.append(s("title", {}, `step ${x.step}: ${m} ${usd(v)}`));
      svg.append(r);
      y -= hgt;
    }
    if (steps.length <= 40)
      svg.append(
        s(
          "text",
          { x: pad.l + i * bw + bw / 2, y: H - 8, "text-anchor": "middle", "font-size": 9, fill: "#68717d" },
          String(x.step ?? ""),
        ),
      );
  });
  const pts = steps.map((x, i) => `${pad.l + i * bw + bw / 2},${yT(x.totalUsd ?? 0)}`).join(" ");
  svg.append(s("polyline", { points: pts, fill: "none", stroke: "#c0392b", "stroke-width": 2, id: "running-total" }));
  return svg;
}

function split(title: string, m: Record<string, number>): HTMLElement {
  const rows = Object.entries(m).sort((a, b) => b[1] - a[1]);
  return h(
    "div",
    {},
    h("h2", {}, title),
    rows.length
      ? h(
          "table",
          {},
          h("tbody", {}, ...rows.map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", { class: "num" }, usd(v))))),
        )
      : h("p", { class: "dim" }, "—"),
  );
}

async function costView(threadId: string, el: HTMLElement): Promise<void> {
  const c = await api<CostView>(`/api/threads/${enc(threadId)}/cost`);
  if (!c.recorded) {
    el.replaceChildren(
      h("h2", {}, "Cost"),
      h(
        "p",
        { class: "dim" },
        "no cost recorded in these checkpoints (wrap the saver with withCostMetadata from @graphkeep/cost)",
      ),
    );
    return;
  }
  const models = Object.keys(c.byModel);
  el.replaceChildren(
    h(
      "h2",
      {},
      "Cost per step ",
      h("span", { class: "dim" }, `total ${usd(c.totalUsd)}`),
      c.savedUsd !== undefined ? h("span", { class: "dim" }, ` · the LLM cache saved ${usd(c.savedUsd)}`) : null,
    ),
    costChart(c),
    h(
      "div",
      { class: "legend" },
      ...models.map((m, i) => h("span", {}, h("i", { style: `background:${COLORS[i % COLORS.length]}` }), m)),
      h("span", {}, h("i", { style: "background:#c0392b" }), "running total"),
    ),
    h(
      "div",
      { style: "display:grid;grid-template-columns:repeat(3,1fr);gap:12px" },
      split("By model", c.byModel),
      split("By node", c.byNode),
      split("By tenant", c.byTenant),
    ),
  );
}

// ---------- routing ----------

async function route(): Promise<void> {
  if (poll !== undefined) clearTimeout(poll);
  const hash = location.hash.slice(1) || "/";
  const [path = "/", query = ""] = hash.split("?");
  const params = new URLSearchParams(query);
  try {
    if (path.startsWith("/t/")) await threadView(decodeURIComponent(path.slice(3)), params);
    else await threadsView(params);
  } catch (e) {
    if (fatal(e)) errorPage(e as ApiError);
    else app().replaceChildren(problem(e));
  }
}

window.addEventListener("hashchange", () => void route());
void route();
