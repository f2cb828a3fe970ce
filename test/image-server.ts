// A file server for the image tests, run in the test's own network namespace:
//   node --import tsx test/image-server.ts DIR PORT
// serves DIR's files over HTTP on 127.0.0.1:PORT with Range requests (206), writes one line per request to
// DIR/requests.log ("GET /file range=bytes=N-" or "range=-"), and cuts the first whole-file answer of every file
// named in DIR/cut half-way (headers for the whole file, half of it, then the connection dropped), as a
// network that fails mid-download would.
import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync, createReadStream } from 'node:fs';
import { createServer } from 'node:http';

const [dir, port] = process.argv.slice(2);

const cutOnce = (name: string) => {
  const list = existsSync(`${dir}/cut`) ? readFileSync(`${dir}/cut`, 'utf8').split('\n').filter(Boolean) : [];
  if (!list.includes(name)) return false;
  writeFileSync(`${dir}/cut`, list.filter((entry) => entry !== name).join('\n'));
  return true;
};

createServer((request, response) => {
  const name = decodeURIComponent((request.url ?? '/').slice(1));
  const range = request.headers.range;
  appendFileSync(`${dir}/requests.log`, `${request.method} /${name} range=${range ?? '-'}\n`);
  const path = `${dir}/${name}`;
  if (name.includes('/') || !existsSync(path) || !statSync(path).isFile()) {
    response.writeHead(404).end('not found\n');
    return;
  }
  const size = statSync(path).size;
  const from = range ? Number(/^bytes=(\d+)-$/.exec(range)?.[1] ?? NaN) : 0;
  if (Number.isNaN(from) || from > size) {
    response.writeHead(416, { 'content-range': `bytes */${size}` }).end();
    return;
  }
  if (range) {
    response.writeHead(206, { 'content-length': size - from, 'content-range': `bytes ${from}-${size - 1}/${size}` });
    createReadStream(path, { start: from }).pipe(response);
    return;
  }
  response.writeHead(200, { 'content-length': size });
  if (!cutOnce(name)) {
    createReadStream(path).pipe(response);
    return;
  }
  createReadStream(path, { end: Math.floor(size / 2) - 1 })
    .on('end', () => setTimeout(() => response.socket?.destroy(), 50))
    .pipe(response, { end: false });
}).listen(Number(port), '127.0.0.1', () => console.log('listening'));
