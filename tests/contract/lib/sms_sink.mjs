// A loopback SMS gateway for the one-time code contract tests: POST /sms
// with {"to","text"} keeps the message (202); GET /messages lists them.
// Prints "listening on <port>" once it serves. Run by run.sh.
import http from 'node:http';

const messages = [];
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    if (req.method === 'POST' && req.url === '/sms') {
      try {
        const m = JSON.parse(body);
        messages.push({ to: m.to, text: m.text, code: (/(\d{4,10})/.exec(m.text ?? '') ?? [])[1] ?? null });
        res.writeHead(202, { 'Content-Type': 'application/json' });
        res.end('{"queued":true}');
      } catch {
        res.writeHead(400);
        res.end();
      }
      return;
    }
    if (req.method === 'GET' && req.url === '/messages') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(messages));
      return;
    }
    res.writeHead(404);
    res.end();
  });
});
server.listen(0, '127.0.0.1', () => console.log(`listening on ${server.address().port}`));
