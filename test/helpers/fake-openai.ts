import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One scripted assistant turn: either plain text, or tool calls (name + JSON-able arguments). */
export type FakeReply = { content: string } | { toolCalls: Array<{ name: string; args: Record<string, unknown> }> };

/** A chat message as ChatOpenAI sends it to /v1/chat/completions. */
export interface ChatMessage {
  role: string;
  content?: unknown;
  tool_calls?: Array<{ id: string; type: string; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
}

/** The parsed body of one request the server received. */
export interface RecordedRequest {
  model: string;
  messages: ChatMessage[];
  tools?: Array<{ type: string; function: { name: string } }>;
  stream?: boolean;
  [key: string]: unknown;
}

export interface FakeOpenAI {
  /** `http://127.0.0.1:<port>/v1`, for `configuration.baseURL`. */
  baseURL: string;
  port: number;
  /** Every /v1/chat/completions request body received, in order. */
  requests: RecordedRequest[];
  /** Appends replies; each request consumes the first one. */
  enqueue(...replies: FakeReply[]): void;
  /** Replies not consumed yet. */
  pending(): number;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/**
 * A minimal OpenAI-compatible server (non-streaming `POST /v1/chat/completions` only) on 127.0.0.1 and a free
 * port. Answers with the scripted replies in order; with none left it answers 500, so an unexpected extra model
 * call fails the test instead of looping.
 */
export async function startFakeOpenAI(replies: FakeReply[] = []): Promise<FakeOpenAI> {
  const queue: FakeReply[] = [...replies];
  const requests: RecordedRequest[] = [];
  let completion = 0;
  let toolCallSeq = 0;

  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? "").split("?")[0];
      if (req.method !== "POST" || path !== "/v1/chat/completions") {
        send(res, 404, { error: { message: `fake-openai: no route ${req.method} ${req.url}`, type: "not_found" } });
        return;
      }
      let body: RecordedRequest;
      try {
        body = JSON.parse(await readBody(req)) as RecordedRequest;
      } catch {
        send(res, 400, { error: { message: "fake-openai: body is not JSON", type: "invalid_request_error" } });
        return;
      }
      requests.push(body);
      if (body.stream === true) {
        send(res, 400, {
          error: { message: "fake-openai: streaming is not supported", type: "invalid_request_error" },
        });
        return;
      }
      const reply = queue.shift();
      if (reply === undefined) {
        send(res, 500, { error: { message: "fake-openai: no scripted reply left", type: "server_error" } });
        return;
      }
      completion += 1;
      const message =
        "content" in reply
          ? { role: "assistant", content: reply.content }
          : {
              role: "assistant",
              content: null,
              tool_calls: reply.toolCalls.map((t) => ({
                id: `call_${++toolCallSeq}`,
                type: "function",
                function: { name: t.name, arguments: JSON.stringify(t.args) },
              })),
            };
      send(res, 200, {
        id: `chatcmpl-fake-${completion}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        choices: [{ index: 0, message, logprobs: null, finish_reason: "content" in reply ? "stop" : "tool_calls" }],
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
      });
    })().catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, { error: { message: String(e), type: "server_error" } });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    enqueue: (...more) => {
      queue.push(...more);
    },
    pending: () => queue.length,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
