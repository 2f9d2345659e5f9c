// The running stack that run.sh started: authflow, the demo CRM and Redis.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests through tests/contract/run.sh`);
  return v;
}

export const env = {
  get baseUrl() { return need('CONTRACT_AUTHFLOW_URL'); },
  get crmUrl() { return need('CONTRACT_CRM_URL'); },
  get apiKey() { return need('CONTRACT_API_KEY'); },
  get handoffKey() { return need('CONTRACT_HANDOFF_KEY'); },
  get reportKey() { return need('CONTRACT_REPORT_KEY'); },
  get redisPort() { return Number(need('CONTRACT_REDIS_PORT')); },
  get smsUrl() { return need('CONTRACT_SMS_URL'); },
};

/** The messages the SMS sink got (one-time codes): [{to, text, code}]. */
export async function smsMessages() {
  const res = await fetch(`${env.smsUrl}/messages`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  return res.json();
}

const REQUEST_TIMEOUT_MS = 8000;

/**
 * One HTTP request to authflow. `body` is JSON-encoded unless `raw` is given.
 * `auth` is 'x-api-key' (default), 'bearer', 'basic' or 'none'.
 * Returns {status, headers, text, json}.
 */
export async function call(method, path, { body, raw, headers = {}, auth = 'x-api-key', key } = {}) {
  const h = { ...headers };
  const k = key ?? env.apiKey;
  if (auth === 'x-api-key') h['X-API-Key'] = k;
  else if (auth === 'bearer') h.Authorization = `Bearer ${k}`;
  else if (auth === 'basic') h.Authorization = `Basic ${Buffer.from(`genesys:${k}`).toString('base64')}`;
  let payload;
  if (raw !== undefined) payload = raw;
  else if (body !== undefined) {
    payload = JSON.stringify(body);
    if (!Object.keys(h).some((x) => x.toLowerCase() === 'content-type')) h['Content-Type'] = 'application/json';
  }
  const res = await fetch(env.baseUrl + path, {
    method,
    headers: h,
    body: payload,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await res.text();
  let json;
  const ct = res.headers.get('content-type') || '';
  if (ct.startsWith('application/json') && text.length) json = JSON.parse(text);
  return { method, path, status: res.status, headers: res.headers, text, json };
}

/** Set the demo CRM's behaviour: {delayMs, fault: none|error|garbage|hang}. */
export async function crmControl(ctl) {
  const res = await fetch(`${env.crmUrl}/_control`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(ctl),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  await res.text();
  if (res.status !== 200 && res.status !== 204) throw new Error(`demo CRM /_control answered ${res.status}`);
}

/** Send one RESP command to Redis; resolves with the raw reply or null if the connection dropped. */
function redisCommand(args) {
  return new Promise((resolve, reject) => {
    const s = net.connect(env.redisPort, '127.0.0.1');
    let reply = '';
    const timer = setTimeout(() => { s.destroy(); reject(new Error('redis command timed out')); }, 3000);
    s.on('connect', () => {
      s.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(''));
    });
    s.on('data', (d) => { reply += d; if (reply.endsWith('\r\n')) { clearTimeout(timer); s.end(); resolve(reply); } });
    s.on('close', () => { clearTimeout(timer); resolve(reply || null); });
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

async function redisUp() {
  try { return (await redisCommand(['PING'])) === '+PONG\r\n'; } catch { return false; }
}

async function waitFor(pred, ms, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Stop the Redis that run.sh started (SHUTDOWN NOSAVE) and wait until it is gone. */
export async function stopRedis() {
  try { await redisCommand(['SHUTDOWN', 'NOSAVE']); } catch { /* the connection drops */ }
  await waitFor(async () => !(await redisUp()), 10000, 'redis to stop');
}

/** Start Redis again on the same port, writing the pid file run.sh's trap reads. */
export async function startRedis() {
  const args = ['--port', String(env.redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--daemonize', 'yes', '--pidfile', need('CONTRACT_REDIS_PIDFILE'),
    '--logfile', `${need('CONTRACT_REDIS_DIR')}/redis.log`, '--dir', need('CONTRACT_REDIS_DIR')];
  await new Promise((resolve, reject) => {
    const p = spawn(need('CONTRACT_REDIS_SERVER'), args, { stdio: 'ignore' });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`redis-server exited ${code}`))));
  });
  await waitFor(redisUp, 10000, 'redis to start');
  fs.accessSync(need('CONTRACT_REDIS_PIDFILE'));
}

/** Poll GET /readyz until it answers `status`. */
export async function waitReady(status, ms = 10000) {
  await waitFor(async () => {
    try { return (await call('GET', '/readyz', { auth: 'none' })).status === status; } catch { return false; }
  }, ms, `/readyz ${status}`);
}

let seq = 0;
/** A fresh conversation ID per test, unique per run. */
export function convId(tag) {
  seq += 1;
  return `ct-${process.pid}-${Date.now().toString(36)}-${seq}-${tag}`.slice(0, 128);
}
