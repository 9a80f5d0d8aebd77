// A tiny static file server for the report page, on 127.0.0.1 only.
// Library: `startServer(root)` resolves to `{ url, close }`. Command line:
// `node server.mjs [ROOT] [PORT]` serves ROOT (default wasm-report/www) until interrupted.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  // WebAssembly.instantiateStreaming refuses any other type.
  ".wasm": "application/wasm",
  ".csv": "text/csv; charset=utf-8",
  ".svg": "image/svg+xml",
};

export function startServer(root, port = 0) {
  const base = resolve(root);
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url, "http://localhost").pathname);
    const file = normalize(join(base, path.endsWith("/") ? `${path}index.html` : path));
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405).end();
      return;
    }
    if (file !== base && !file.startsWith(base + sep)) {
      response.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      response.writeHead(200, {
        "Content-Type": TYPES[extname(file)] ?? "application/octet-stream",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
      });
      response.end(request.method === "HEAD" ? undefined : body);
    } catch {
      response.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
    }
  });
  return new Promise((done, fail) => {
    server.once("error", fail);
    server.listen(port, "127.0.0.1", () => {
      const { port: bound } = server.address();
      done({ url: `http://127.0.0.1:${bound}/`, close: () => new Promise((ok) => server.close(ok)) });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const here = fileURLToPath(new URL(".", import.meta.url));
  const root = process.argv[2] ?? join(here, "..", "..", "wasm-report", "www");
  const { url } = await startServer(root, Number(process.argv[3] ?? 8000));
  console.log(`serving ${root} at ${url}`);
}
