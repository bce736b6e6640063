import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { compressed, encrypted } from "@graphkeep/serde";
import { type Studio, startStudio } from "@graphkeep/studio";
import { JsonPlusSerializer } from "@langchain/langgraph-checkpoint";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { answer, type Written, writeThreads, writeToolThread } from "./fixture.js";
import { POSTGRES_URL, postgresSkip } from "./helpers.js";

// The studio's page in Debian's Chromium (playwright-core, never a downloaded browser) over threads a real graph
// wrote on SQLite and PostgreSQL. Screenshots of each view go to packages/studio/docs/ (the README shows them).

const CHROMIUM = "/usr/bin/chromium";
const REQUIRE = process.env.GRAPHKEEP_REQUIRE_SERVICES === "1";
const pkg = fileURLToPath(new URL("..", import.meta.url));
const root = join(pkg, "../..");
const docs = join(pkg, "docs");
const dir = mkdtempSync(join(tmpdir(), "graphkeep-studio-e2e-"));

function chromiumSkip(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const reason = `${CHROMIUM} missing (apt-get install -y chromium; .ci/run does)`;
  if (REQUIRE) throw new Error(`GRAPHKEEP_REQUIRE_SERVICES=1 but ${reason}`);
  console.warn(`skipping studio browser tests: ${reason}`);
  return reason;
}
const noBrowser = chromiumSkip();
const pgSkip = await postgresSkip();

/** The page script is built by the package build; tests running before it build it once. */
function ensureBuilt(): void {
  const js = join(pkg, "dist/ui/app.iife.js");
  const src = join(pkg, "src/ui/app.ts");
  if (existsSync(js) && statSync(js).mtimeMs >= statSync(src).mtimeMs) return;
  execFileSync("npx", ["tsdown"], { cwd: pkg, stdio: "ignore" });
}

let browser: Browser;
/** every URL the pages requested, to prove none left the studio */
const requested: string[] = [];
const studios: Studio[] = [];

async function open(studio: Studio): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
  page.on("request", (r) => {
    requested.push(r.url());
  });
  await page.goto(studio.url);
  return page;
}

async function start(o: Parameters<typeof startStudio>[0]): Promise<Studio> {
  const s = await startStudio({ port: 0, ...o });
  studios.push(s);
  return s;
}

describe.skipIf(noBrowser !== undefined)("the studio in a browser", () => {
  beforeAll(async () => {
    ensureBuilt();
    mkdirSync(docs, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
  });
  afterAll(async () => {
    for (const s of studios) await s.close();
    await browser?.close();
  });

  const targets = [
    {
      name: "SQLite",
      skip: undefined,
      shots: true,
      store: () => ({ url: `sqlite://${join(dir, "e2e.db")}`, namespace: "graphkeep" }),
    },
    {
      name: "PostgreSQL",
      skip: pgSkip,
      shots: false,
      store: () => ({ url: POSTGRES_URL, namespace: `studio-e2e-${Date.now()}` }),
    },
  ];
  for (const target of targets) {
    describe.skipIf(target.skip !== undefined)(`on ${target.name}`, () => {
      let w: Written;
      let studio: Studio;
      let store: { url: string; namespace: string };
      const shot = async (page: Page, name: string) => {
        if (target.shots) await page.screenshot({ path: join(docs, `${name}.png`) });
      };
      beforeAll(async () => {
        store = target.store();
        w = await writeThreads(store.url, { namespace: store.namespace });
        studio = await start({ store: store.url, namespace: store.namespace });
      });
      afterAll(async () => {
        if (target.name !== "PostgreSQL") return;
        const saver = await KeyvSaver.fromUrl(store.url, { namespace: store.namespace });
        await saver.keyv.clear();
        await saver.close();
      });

      it("lists the threads with their status", async () => {
        const page = await open(studio);
        await page.locator(`#threads tr[data-thread="${w.branched}"]`).waitFor();
        await expect(page.locator(`tr[data-thread="${w.waiting}"] [data-status]`).textContent()).resolves.toBe(
          "interrupted",
        );
        await expect(page.locator(`tr[data-thread="${w.branched}"] [data-status]`).textContent()).resolves.toBe("done");
        await shot(page, "threads");
        await page.locator("#search").fill(w.waiting.slice(0, 10));
        await page.locator("#search").press("Enter");
        await page.locator("#count", { hasText: "1–1 of 1" }).waitFor();
        await expect(page.locator("#threads tr[data-thread]").count()).resolves.toBe(1);
        await page.close();
      });

      it("draws the edit of an older checkpoint as a branch and shows the appended message in the diff", async () => {
        const page = await open(studio);
        await page.locator(`tr[data-thread="${w.branched}"]`).click();
        await page.locator("#thread-title", { hasText: w.branched }).waitFor();
        await page.locator('.tree-row[data-lane="1"]').first().waitFor();
        await expect(page.locator("#tree-svg circle.lane-1").count()).resolves.toBeGreaterThan(0);
        await expect(page.locator(".tag.t-fork").count()).resolves.toBe(1);
        await page.locator("#cost-chart rect.bar").first().waitFor();
        await shot(page, "history");
        // the checkpoint the edit made: its diff shows the message appended
        await page.locator(".tree-row", { hasText: "update" }).click();
        // the head's diff (shown first) has an appended message too: wait for the edit's checkpoint
        await page.locator("#detail h2", { hasText: "· update" }).waitFor();
        const fresh = page.locator('#diff [data-channel="messages"][data-change="appended"] .msg.new');
        await fresh.waitFor();
        await expect(fresh.textContent()).resolves.toContain(w.branchText);
        await expect(page.locator("#diff .msg").count()).resolves.toBe(1);
        await shot(page, "diff");
        if (target.shots) await page.locator("#cost").screenshot({ path: join(docs, "cost.png") });
        await page.locator('button[data-tab="State"]').click();
        await page.locator("#state .conversation .msg").first().waitFor();
        await shot(page, "state");
        await page.close();
      });

      it("shows the interrupt a thread waits on", async () => {
        const page = await open(studio);
        await page.locator(`tr[data-thread="${w.waiting}"]`).click();
        await page.locator('button[data-tab="Next & writes"]').click();
        await page.locator("#interrupts", { hasText: "approve the answer?" }).waitFor();
        await expect(page.locator("#pending").textContent()).resolves.toContain("review");
        await page.close();
      });

      it("shows new checkpoints while the page is open (an interrupt answered by another process)", async () => {
        const page = await open(studio);
        await page.locator(`tr[data-thread="${w.waiting}"]`).click();
        await page.locator("#thread-title", { hasText: w.waiting }).waitFor();
        await expect(page.locator(".tree-row").count()).resolves.toBe(3);
        await page.locator("#thread-title + [data-status]", { hasText: "interrupted" }).waitFor();
        await answer(store.url, { namespace: store.namespace }, w.waiting, "approved late");
        // no reload: the page polls and redraws with the review's checkpoint on top
        await page.locator("#thread-title + [data-status]", { hasText: "done" }).waitFor({ timeout: 10_000 });
        await expect(page.locator(".tree-row").count()).resolves.toBe(4);
        await page.locator("#diff .msg.new", { hasText: "review: approved late" }).waitFor();
        await page.close();
      });

      it("forks with an edited value into a new thread that has it, and refuses an edit that is not valid", async () => {
        const page = await open(studio);
        await page.locator(`tr[data-thread="${w.waiting}"]`).click();
        await page.locator('button[data-tab="Fork"]').click();
        const to = `${w.waiting}-refund`;
        await page.locator("#fork-to").fill(to);
        await page.locator("#fork-values").fill('{"topic": ');
        await expect(page.locator("#fork-go").isDisabled()).resolves.toBe(true);
        await page.locator("#fork-message", { hasText: "not valid JSON" }).waitFor();
        await page.locator("#fork-values").fill('{"nope": 1}');
        await page.locator("#fork-message", { hasText: "no channel nope" }).waitFor();
        await page.locator("#fork-values").fill('{"topic": "refund"}');
        await expect(page.locator("#fork-go").isDisabled()).resolves.toBe(false);
        await shot(page, "fork");
        await page.locator("#fork-go").click();
        await page.locator("#thread-title", { hasText: to }).waitFor();
        await page.locator('button[data-tab="State"]').click();
        await page.locator("#state", { hasText: "refund" }).waitFor();
        const saver = await KeyvSaver.fromUrl(store.url, { namespace: store.namespace });
        try {
          const head = await saver.getTuple({ configurable: { thread_id: to } });
          expect(head?.checkpoint.channel_values.topic).toBe("refund");
        } finally {
          await saver.close();
        }
        await page.close();
      });

      it("hides and refuses actions when read-only", async () => {
        const ro = await start({ store: store.url, namespace: store.namespace, readOnly: true });
        const page = await open(ro);
        await page.locator(`tr[data-thread="${w.waiting}"]`).click();
        await page.locator('button[data-tab="Diff"]').waitFor();
        await expect(page.locator('button[data-tab="Fork"]').count()).resolves.toBe(0);
        await expect(page.locator(".badge", { hasText: "read-only" }).count()).resolves.toBe(1);
        // the page's own token, from its own origin: still refused
        const status = await page.evaluate(async (thread) => {
          // runs in the page (no DOM types here): the token the page itself was given
          const doc = (globalThis as unknown as { document: { querySelector(s: string): { content: string } | null } })
            .document;
          const token = doc.querySelector('meta[name="graphkeep-token"]')?.content ?? "";
          const res = await fetch(`/api/threads/${encodeURIComponent(thread)}/fork`, {
            method: "POST",
            headers: { "x-graphkeep-token": token, "content-type": "application/json" },
            body: JSON.stringify({ at: "x", to: "y" }),
          });
          return res.status;
        }, w.waiting);
        expect(status).toBe(403);
        await expect(page.locator("#retention").count()).resolves.toBe(0);
        await page.close();
      });

      it("previews a retention policy, then prunes with it", async () => {
        const page = await open(studio);
        await page.locator(`tr[data-thread="${w.branched}"]`).waitFor();
        const before = (await page.locator("#threads tr[data-thread] td.num:nth-child(3)").allTextContents()).reduce(
          (a, b) => a + Number(b),
          0,
        );
        await page.locator("#retention summary").click();
        await page.locator("#keep-latest").fill("1");
        await page.locator("#retention-preview").click();
        const result = page.locator("#retention-result .notice", { hasText: "would delete" });
        await result.waitFor();
        const would = Number(/would delete (\d+) checkpoint/.exec((await result.textContent()) ?? "")?.[1]);
        expect(would).toBeGreaterThan(0);
        await shot(page, "retention");
        await page.locator("#retention-run").click();
        await page.locator("#retention-result .notice", { hasText: `deleted ${would} checkpoint` }).waitFor();
        // the list reloads with fewer checkpoints (latest, interrupted and fork points are kept)
        const counts = async () =>
          (await page.locator("#threads tr[data-thread] td.num:nth-child(3)").allTextContents()).map(Number);
        await expect
          .poll(async () => (await counts()).reduce((a, b) => a + b, 0), { timeout: 10_000 })
          .toBe(before - would);
        await page.close();
      });
    });
  }

  it("shows a ReAct agent's tool call and the tool's result in the conversation", async () => {
    const store = `sqlite://${join(dir, "tools.db")}`;
    const threadId = await writeToolThread(store);
    const studio = await start({ store });
    const page = await open(studio);
    await page.locator(`tr[data-thread="${threadId}"]`).click();
    await page.locator('button[data-tab="State"]').click();
    await page.locator('#state .msg[data-role="ai"] .call', { hasText: 'get_weather({"city":"Paris"})' }).waitFor();
    const result = page.locator('#state .msg[data-role="tool"]');
    await expect(result.textContent()).resolves.toContain("sunny, 21 degrees in Paris");
    await expect(result.locator(".role").textContent()).resolves.toMatch(/get_weather · result of/);
    await expect(
      page.locator("#state .msg").evaluateAll((ms) => ms.map((m) => m.getAttribute("data-role"))),
    ).resolves.toEqual(["human", "ai", "tool", "ai"]);
    await page.screenshot({ path: join(docs, "conversation.png") });
    await page.close();
  });

  describe("an encrypted store", () => {
    const store = `sqlite://${join(dir, "secret.db")}`;
    const key = randomBytes(32).toString("base64");
    let w: Written;
    beforeAll(async () => {
      const serde = encrypted(compressed(new JsonPlusSerializer()), { keys: { k1: key }, activeKeyId: "k1" });
      w = await writeThreads(store, { serde });
    });

    it("without its key shows the error page, never a blank page", async () => {
      const studio = await start({ store });
      expect(studio.error?.code).toMatch(/MISSING_KEY|CHECKPOINT_INTEGRITY|CHECKPOINT_CORRUPT/);
      const page = await open(studio);
      await page.locator("#error h1", { hasText: "cannot read this store" }).waitFor();
      await expect(page.locator("#error").textContent()).resolves.toContain(studio.error?.code as string);
      await expect(page.locator("#error .hint").textContent()).resolves.toMatch(/key/);
      await page.screenshot({ path: join(docs, "error.png") });
      await page.close();
    });

    it("with a wrong key shows the error page", async () => {
      const wrong = randomBytes(32).toString("base64");
      const studio = await start({ store, keyEnv: "STUDIO_KEY", env: { STUDIO_KEY: `k1:${wrong}` } });
      expect(studio.error?.code).toMatch(/INVALID_KEY|CHECKPOINT_INTEGRITY/);
      const page = await open(studio);
      await page.locator("#error h1", { hasText: "cannot read this store" }).waitFor();
      await expect(page.locator("#error .code").textContent()).resolves.toBe(studio.error?.code);
      await page.close();
    });

    it("opens with its key from an environment variable", async () => {
      const studio = await start({ store, keyEnv: "STUDIO_KEY", env: { STUDIO_KEY: `k1:${key}` } });
      expect(studio.error).toBeUndefined();
      const page = await open(studio);
      await page.locator(`tr[data-thread="${w.branched}"]`).waitFor();
      await page.close();
    });
  });

  it("shows `pnpm demo`'s thread with its rewind branch, the diff and the cost chart", async () => {
    const demo = execFileSync(join(root, "node_modules/.bin/tsx"), [join(root, "examples/demo/main.ts")], {
      cwd: root,
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
    });
    const store = /--store (sqlite:\/\/\S+)/.exec(demo)?.[1] as string;
    expect(store).toBeDefined();
    const studio = await start({ store });
    const page = await open(studio);
    await page.locator('tr[data-thread="demo"]').click();
    await page.locator('.tree-row[data-lane="1"]').first().waitFor();
    await expect(page.locator(".tag.t-fork").count()).resolves.toBeGreaterThan(0);
    await page.locator("#diff .chg").first().waitFor();
    await page.locator("#cost-chart rect.bar").first().waitFor();
    await page.screenshot({ path: join(docs, "demo.png") });
    await page.close();
  }, 120_000);

  it("made no request to any other origin", () => {
    expect(requested.length).toBeGreaterThan(20);
    const origins = new Set(requested.map((u) => new URL(u).origin));
    for (const o of origins) expect(o).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
});
