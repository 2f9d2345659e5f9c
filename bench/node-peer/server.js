// The benchmark's peer (bench/run.sh starts it; never used otherwise): the
// same ANI -> security flow as authflow, written as a typical team would
// write it in Node.js: express, ioredis, fetch to the CRM, node cluster
// with one worker per core. Same Redis, same CRM stub, same requests and
// the same answer fields the bench's wrk script reads.
//
//   PORT, REDIS_URL, CRM_URL, API_KEY, WORKERS (default: one per core)
'use strict';
const cluster = require('node:cluster');
const os = require('node:os');

const workers = Number(process.env.WORKERS || os.availableParallelism());

if (cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on('exit', (w, code) => {
    if (code !== 0) console.error(`worker ${w.process.pid} exited ${code}`);
  });
} else {
  serve();
}

function serve() {
  const express = require('express');
  const Redis = require('ioredis');
  const crypto = require('node:crypto');

  const redis = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379/0');
  const crm = (process.env.CRM_URL || 'http://127.0.0.1:8081').replace(/\/+$/, '');
  const apiKey = process.env.API_KEY || 'bench-key-0000-0000';
  const ttl = 3600;
  const maxAttempts = 3;
  const app = express();
  app.use(express.json({ limit: '16kb' }));

  app.use((req, res, next) => {
    if (req.get('authorization') !== `Bearer ${apiKey}`) {
      return res.status(401).json({ error: 'unauthorized' });
    }
    next();
  });

  const key = (id) => `peer:session:${id}`;
  const answer = (s) => ({
    conversationId: s.conversationId,
    serviceLine: s.serviceLine,
    state: s.state,
    nextAction: s.nextAction,
    authStatus: s.verified ? 'identified_verified' : s.customerId ? 'identified' : 'not_identified',
    identified: Boolean(s.customerId),
    verified: s.verified,
    outcome: s.outcome,
    attemptsRemaining: s.attemptsRemaining,
    customerId: s.customerId,
    customerName: s.customerName,
  });

  async function crmCall(path, body) {
    const r = await fetch(crm + path, body === undefined ? {} : {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`crm ${r.status}`);
    return r.json();
  }

  app.post('/v1/sessions', async (req, res) => {
    const { conversationId, serviceLine, ani } = req.body || {};
    if (typeof conversationId !== 'string' || typeof serviceLine !== 'string') {
      return res.status(400).json({ error: 'invalid_request' });
    }
    const s = {
      conversationId, serviceLine, state: 'awaiting_identifier', nextAction: 'ask_identifier',
      verified: false, outcome: 'pending', attemptsRemaining: maxAttempts,
      customerId: '', customerName: '',
    };
    try {
      if (typeof ani === 'string' && ani) {
        const phone = ani.replace(/^tel:/, '');
        const found = await crmCall(`/customers?phone=${encodeURIComponent(phone)}`);
        if (found.customers && found.customers.length === 1) {
          s.customerId = found.customers[0].id;
          s.customerName = found.customers[0].name;
          s.state = 'awaiting_security';
          s.nextAction = 'ask_security';
        }
      }
      const created = await redis.set(key(conversationId), JSON.stringify(s), 'EX', ttl, 'NX');
      if (created !== 'OK') return res.status(409).json({ error: 'wrong_state' });
      await redis.hincrby('peer:report:counters', 'started', 1);
      res.json(answer(s));
    } catch (e) {
      res.status(503).json({ error: 'unavailable' });
    }
  });

  app.post('/v1/sessions/:id/security', async (req, res) => {
    const id = req.params.id;
    const given = req.body && req.body.answer;
    if (typeof given !== 'string') return res.status(400).json({ error: 'invalid_request' });
    const lock = `peer:lock:${id}`;
    const token = crypto.randomBytes(8).toString('hex');
    try {
      if ((await redis.set(lock, token, 'PX', 10000, 'NX')) !== 'OK') {
        return res.status(409).json({ error: 'busy' });
      }
      try {
        const raw = await redis.get(key(id));
        if (!raw) return res.status(404).json({ error: 'not_found' });
        const s = JSON.parse(raw);
        if (s.state !== 'awaiting_security') return res.status(409).json({ error: 'wrong_state' });
        const v = await crmCall(`/customers/${encodeURIComponent(s.customerId)}/verify`,
          { answer: given });
        if (v.verified) {
          Object.assign(s, { verified: true, state: 'completed', nextAction: 'continue',
            outcome: 'verified', attemptsRemaining: 0 });
        } else if (--s.attemptsRemaining <= 0) {
          Object.assign(s, { state: 'completed', nextAction: 'transfer_to_agent',
            outcome: 'verify_failed' });
        }
        const m = redis.multi().set(key(id), JSON.stringify(s), 'EX', ttl);
        if (s.state === 'completed') {
          m.xadd('peer:report:events', 'MAXLEN', '~', 100000, '*',
            'conversationId', id, 'outcome', s.outcome, 'serviceLine', s.serviceLine);
          m.hincrby('peer:report:counters', s.outcome, 1);
        }
        await m.exec();
        res.json(answer(s));
      } finally {
        // Release only our own lock.
        await redis.eval(
          "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
          1, lock, token);
      }
    } catch (e) {
      res.status(503).json({ error: 'unavailable' });
    }
  });

  app.listen(Number(process.env.PORT || 8090), '127.0.0.1');
}
