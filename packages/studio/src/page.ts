import type { StudioErrorBody } from "./types.js";

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);

/** The page shell: the script reads its settings from the meta tags (no inline script: the CSP allows none). */
export function page(o: { token: string; readOnly: boolean; error: StudioErrorBody | undefined }): string {
  const error = o.error
    ? `<main id="error" class="error"><h1>The studio cannot read this store</h1><p class="code">${esc(o.error.code)}</p><p>${esc(o.error.message)}</p>${o.error.hint ? `<p class="hint">${esc(o.error.hint)}</p>` : ""}</main>`
    : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>graphkeep studio</title>
<meta name="graphkeep-token" content="${esc(o.token)}">
<meta name="graphkeep-read-only" content="${o.readOnly}">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/app.css">
</head><body>
<header><a href="#/" class="brand">graphkeep studio</a>${o.readOnly ? '<span class="badge">read-only</span>' : ""}</header>
${error || '<main id="app">loading…</main><script src="/assets/app.js" defer></script>'}
</body></html>`;
}

/** The page's style sheet (system fonts only: nothing is fetched from the network). */
export const STYLE = `
:root{--fg:#1d232b;--dim:#68717d;--line:#d9dee4;--bg:#fff;--soft:#f4f6f8;--acc:#2f6fde;--add:#1f8a3b;--del:#c2352b;--warn:#b76e00}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;gap:12px;align-items:center;padding:10px 18px;border-bottom:1px solid var(--line);background:var(--soft)}
.brand{font-weight:600;color:var(--fg);text-decoration:none}.badge{font-size:12px;padding:1px 8px;border-radius:9px;background:#ffe8c2;color:#7a4a00}
main{padding:14px 18px}h1{font-size:18px;margin:4px 0 12px}h2{font-size:15px;margin:18px 0 8px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--dim);font-size:12px;cursor:default}th.sort{cursor:pointer}td.num{text-align:right;font-variant-numeric:tabular-nums}
.row{cursor:pointer}.row:hover,.sel{background:#eef3fd}
.status{font-size:12px;padding:1px 7px;border-radius:9px;background:var(--soft)}.s-done{background:#dff3e4;color:#14622a}.s-interrupted{background:#fff0d1;color:#7a4a00}.s-failed{background:#fde0dd;color:#8d1f16}.s-running{background:#dfe9fb;color:#1f4d9e}
.bar{display:flex;gap:8px;align-items:center;margin-bottom:10px}input,button,textarea{font:inherit}input[type=search]{padding:4px 8px;border:1px solid var(--line);border-radius:6px;min-width:260px}
button{padding:4px 10px;border:1px solid var(--line);border-radius:6px;background:#fff;cursor:pointer}button.primary{background:var(--acc);border-color:var(--acc);color:#fff}button:disabled{opacity:.5;cursor:default}
.cols{display:grid;grid-template-columns:minmax(420px,1fr) minmax(380px,1.2fr);gap:18px}
#tree-svg{flex-shrink:0}.tree td{padding:0 8px;height:28px;border:none}.tree svg{display:block}.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
.dim{color:var(--dim)}.tag{font-size:11px;padding:0 6px;border-radius:8px;margin-left:4px;background:var(--soft)}.t-int{background:#fff0d1}.t-err{background:#fde0dd}.t-fork{background:#e7defa}
details{margin:2px 0}summary{cursor:pointer}.json{padding-left:16px;border-left:1px dotted var(--line)}.k{color:#7d3c98}.str{color:#1a6b35}.n{color:#1f4d9e}
.msg{border:1px solid var(--line);border-radius:8px;padding:6px 10px;margin:6px 0;max-width:720px}.msg .role{font-size:11px;text-transform:uppercase;color:var(--dim)}
.m-human{background:#f3f7ff}.m-ai{background:#fff}.m-tool{background:#f6f6f2}.call{font-family:ui-monospace,monospace;font-size:12px;color:#5b3a9e}
.msg.new{border-color:var(--add);box-shadow:0 0 0 1px var(--add)}
.chg{margin:6px 0}.chg .what{font-size:12px;color:var(--dim)}.add{color:var(--add)}.del{color:var(--del)}
.error{max-width:760px}.error .code{font-family:ui-monospace,monospace;color:var(--del)}.error .hint{background:var(--soft);padding:8px 10px;border-radius:6px}
.tabs{display:flex;gap:4px;margin:8px 0}.tabs button.on{background:var(--fg);color:#fff;border-color:var(--fg)}
textarea{width:100%;min-height:180px;font-family:ui-monospace,monospace;font-size:12px;border:1px solid var(--line);border-radius:6px;padding:6px}
.notice{padding:6px 10px;border-radius:6px;background:#dff3e4;margin:6px 0}.problem{padding:6px 10px;border-radius:6px;background:#fde0dd;margin:6px 0}
.legend span{margin-right:12px;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
`;
