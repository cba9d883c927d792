// A local stand-in for the Hugging Face hub's file API, for tests (Node built-ins only):
//   GET /api/models/OWNER/REPO/tree/main?recursive=true  -> [{type, oid, size, path, lfs?}]
//   GET /OWNER/REPO/resolve/main/FILE                     -> 302 to /cdn/OWNER/REPO/FILE (as the
//                                                            hub redirects to its CDN)
//   GET /cdn/OWNER/REPO/FILE                              -> the bytes, with Range support
// Large and binary files are "LFS" files (sha256 in lfs.oid), small text files carry their git
// blob SHA-1 as oid, as on the hub. Unknown repos answer 404 with X-Error-Code: RepoNotFound.
//
// Faults, for the tests: `token` (requests without "Authorization: Bearer TOKEN" get 401),
// `cutAfter` (the first transfer of each LFS file, or of those named in `cutFiles`, is cut off
// after that many bytes),
// `corrupt` (files whose bytes are served with one byte flipped, listed with the true checksum),
// `missing` (files listed but answering 404), `ignoreRange` (always answer 200 with the whole file).
//
// As a program: node mock_hub.mjs [--port N] OWNER/REPO=FILE_OR_DIR[,FILE...] ... prints the URL.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

function gitBlobSha1(data) {
  return crypto.createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
}

function isLfs(name, data) {
  return data.length > 1024 || /\.(gguf|safetensors|bin)$/.test(name);
}

// repos: { 'owner/name': { 'file/in/repo': Buffer } }
export function startMockHub(repos, options = {}) {
  const log = [];
  const cut = new Set();  // files already cut once
  const listing = {};
  for (const [repo, files] of Object.entries(repos)) {
    listing[repo] = Object.entries(files).map(([name, data]) => {
      const entry = { type: 'file', oid: gitBlobSha1(data), size: data.length, path: name };
      if (isLfs(name, data)) {
        entry.lfs = { oid: crypto.createHash('sha256').update(data).digest('hex'), size: data.length, pointerSize: 134 };
      }
      return entry;
    });
  }
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    log.push({ method: req.method, path: decodeURIComponent(url.pathname), range: req.headers.range || null,
               authorization: req.headers.authorization || null });
    const fail = (status, code, text) => {
      res.writeHead(status, { 'Content-Type': 'application/json', 'X-Error-Code': code });
      res.end(JSON.stringify({ error: text }));
    };
    if (options.token && req.headers.authorization !== `Bearer ${options.token}`) {
      return fail(401, 'RepoNotFound', 'Invalid credentials in Authorization header');
    }
    let m = url.pathname.match(/^\/api\/models\/([^/]+\/[^/]+)\/tree\/main\/?$/);
    if (m) {
      if (!listing[m[1]]) return fail(404, 'RepoNotFound', 'Repository not found');
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify([{ type: 'directory', oid: '0', size: 0, path: 'docs' }, ...listing[m[1]]]));
    }
    m = url.pathname.match(/^\/([^/]+\/[^/]+)\/resolve\/main\/(.+)$/);
    if (m) {
      const repo = m[1], name = decodeURIComponent(m[2]);
      if (!repos[repo]) return fail(404, 'RepoNotFound', 'Repository not found');
      if (!repos[repo][name]) return fail(404, 'EntryNotFound', 'Entry not found');
      res.writeHead(302, { Location: `/cdn/${repo}/${m[2]}` });
      return res.end();
    }
    m = url.pathname.match(/^\/cdn\/([^/]+\/[^/]+)\/(.+)$/);
    if (m) {
      const repo = m[1], name = decodeURIComponent(m[2]);
      let data = repos[repo] && repos[repo][name];
      if (!data || (options.missing || []).includes(name)) return fail(404, 'EntryNotFound', 'Entry not found');
      if ((options.corrupt || []).includes(name)) {
        data = Buffer.from(data);
        data[data.length >> 1] ^= 0xff;
      }
      let start = 0;
      const range = options.ignoreRange ? null : (req.headers.range || '').match(/^bytes=(\d+)-$/);
      if (range) start = Number(range[1]);
      if (start >= data.length && data.length > 0) {
        res.writeHead(416, { 'Content-Range': `bytes */${data.length}` });
        return res.end();
      }
      const body = data.subarray(start);
      const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length,
                        'Accept-Ranges': 'bytes' };
      if (range) headers['Content-Range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
      res.writeHead(range ? 206 : 200, headers);
      const key = `${repo}/${name}`;
      const cuttable = options.cutFiles ? options.cutFiles.includes(name) : isLfs(name, data);
      if (options.cutAfter && cuttable && !cut.has(key) && body.length > options.cutAfter) {
        cut.add(key);
        // Send part of the body, then drop the connection mid-file.
        res.write(body.subarray(0, options.cutAfter), () => setTimeout(() => req.socket.destroy(), 50));
        return;
      }
      return res.end(body);
    }
    return fail(404, 'NotFound', 'no such endpoint');
  });
  return new Promise((resolve) => {
    server.listen(options.port || 0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ url: `http://127.0.0.1:${port}`, log, close: () => new Promise((r) => server.close(r)),
                server });
    });
  });
}

// Files of a folder (recursively) or a single file, as repo files.
export function repoFilesFrom(source, rename = {}) {
  const files = {};
  const add = (file, name) => { files[rename[name] || name] = fs.readFileSync(file); };
  if (fs.statSync(source).isDirectory()) {
    const walk = (dir, prefix) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) walk(full, `${prefix}${e.name}/`);
        else add(full, `${prefix}${e.name}`);
      }
    };
    walk(source, '');
  } else {
    add(source, path.basename(source));
  }
  return files;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  let port = 0;
  const repos = {};
  for (let i = 0; i < args.length; ++i) {
    if (args[i] === '--port') { port = Number(args[++i]); continue; }
    const [repo, sources] = args[i].split('=');
    repos[repo] = {};
    for (const s of sources.split(',')) Object.assign(repos[repo], repoFilesFrom(s));
  }
  const hub = await startMockHub(repos, { port });
  console.log(hub.url);
}
