// Chat over WebSockets through the gateway: SOCKETS sockets of USERS users spread over ROOMS
// public rooms; every socket joins its room, types, and sends a message every SEND_EVERY
// seconds; every delivered message's latency (send → arrival on each socket in the room) is
// measured from the time carried in its body.
//
//   k6 run -e BASE_URL=http://localhost:8080 -e SOCKETS=1000 -e DURATION=60s loadtest/chat.js
//
// Run by `cargo xtask load` (see docs/benchmarks.md). Thresholds fail the run.
import http from 'k6/http';
import ws from 'k6/ws';
import { check, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';

const BASE = __ENV.BASE_URL || 'http://localhost:8080';
const WS_BASE = BASE.replace(/^http/, 'ws');
const SOCKETS = Number(__ENV.SOCKETS || 1000);
const USERS = Number(__ENV.USERS || 50);
const ROOMS = Number(__ENV.ROOMS || 50);
const SEND_EVERY = Number(__ENV.SEND_EVERY || 10);
const HOLD = parseDuration(__ENV.DURATION || '60s');
const PASSWORD = 'correct horse battery staple';
const JSON_HEADERS = { 'Content-Type': 'application/json' };

const ackLatency = new Trend('chat_ack_latency', true);
const deliveryLatency = new Trend('chat_delivery_latency', true);
const delivered = new Counter('chat_messages_delivered');
const errorFrames = new Counter('chat_error_frames');
const unexpectedCloses = new Counter('chat_unexpected_closes');

export const options = {
  setupTimeout: '300s',
  scenarios: {
    sockets: {
      executor: 'per-vu-iterations',
      vus: SOCKETS,
      iterations: 1,
      maxDuration: `${HOLD + 60}s`,
    },
  },
  thresholds: {
    'checks': ['rate>0.99'],
    'ws_connecting': ['p(95)<1000'],
    'chat_ack_latency': ['p(95)<250'],
    'chat_delivery_latency': ['p(95)<250', 'p(99)<500'],
    'chat_error_frames': ['count==0'],
    'chat_unexpected_closes': ['count==0'],
  },
};

function parseDuration(text) {
  const match = /^(\d+)(s|m)?$/.exec(text);
  if (!match) throw new Error(`DURATION ${text}: expected e.g. 60s or 2m`);
  return Number(match[1]) * (match[2] === 'm' ? 60 : 1);
}

// Answers 503 `busy` (sign-in shedding) are retried after their Retry-After, with jitter,
// for at most 30 s.
function patiently(request) {
  const giveUpAt = Date.now() + 30000;
  for (;;) {
    const response = request();
    if (response.status !== 503 || Date.now() > giveUpAt) return response;
    sleep(Number(response.headers['Retry-After'] || 1) * (0.5 + Math.random()));
  }
}

export function setup() {
  const tokens = [];
  for (let i = 0; i < USERS; i++) {
    const email = `chat-load-${i}@load.example`;
    const registered = patiently(() => http.post(`${BASE}/v1/auth/register`,
      JSON.stringify({ email, password: PASSWORD, display_name: `Chat load ${i}` }), { headers: JSON_HEADERS }));
    if (registered.status !== 201 && registered.status !== 409) {
      throw new Error(`register ${email}: ${registered.status} ${registered.body}`);
    }
    const login = patiently(() => http.post(`${BASE}/v1/auth/login`,
      JSON.stringify({ email, password: PASSWORD }), { headers: JSON_HEADERS }));
    if (login.status !== 200) throw new Error(`login ${email}: ${login.status} ${login.body}`);
    tokens.push(login.json('access_token'));
  }
  const owner = { Authorization: `Bearer ${tokens[0]}`, 'Content-Type': 'application/json' };
  const rooms = [];
  const run = Date.now();
  for (let i = 0; i < ROOMS; i++) {
    const created = http.post(`${BASE}/v1/chat/rooms`,
      JSON.stringify({ name: `load ${run} ${i}`, visibility: 'public' }), { headers: owner });
    if (created.status !== 201) throw new Error(`create room: ${created.status} ${created.body}`);
    rooms.push(created.json('id'));
  }
  return { tokens, rooms };
}

export default function (data) {
  const vu = __VU - 1;
  const token = data.tokens[vu % data.tokens.length];
  const room = data.rooms[vu % data.rooms.length];
  // Spread the handshakes over the first five seconds.
  sleep(Math.random() * 5);
  let closing = false;
  const response = ws.connect(`${WS_BASE}/v1/chat/ws`, { headers: { Authorization: `Bearer ${token}` } }, (socket) => {
    const pending = {};
    socket.on('open', () => socket.send(JSON.stringify({ type: 'join', room_id: room })));
    socket.on('message', (raw) => {
      const frame = JSON.parse(raw);
      if (frame.type === 'joined') {
        socket.setInterval(() => {
          socket.send(JSON.stringify({ type: 'typing', room_id: room }));
          const id = crypto.randomUUID();
          pending[id] = Date.now();
          socket.send(JSON.stringify({
            type: 'send', room_id: room, client_msg_id: id, body: `load ${pending[id]}`,
            attachment_ids: [],
          }));
        }, SEND_EVERY * 1000 * (0.5 + Math.random()));
      } else if (frame.type === 'ack') {
        const started = pending[frame.client_msg_id];
        if (started) {
          ackLatency.add(Date.now() - started);
          delete pending[frame.client_msg_id];
        }
      } else if (frame.type === 'message') {
        const match = /^load (\d+)$/.exec(frame.body || '');
        if (match) {
          deliveryLatency.add(Date.now() - Number(match[1]));
          delivered.add(1);
        }
      } else if (frame.type === 'error') {
        errorFrames.add(1, { code: frame.code });
      }
    });
    socket.on('close', () => {
      if (!closing) unexpectedCloses.add(1);
    });
    socket.setTimeout(() => {
      closing = true;
      socket.close();
    }, HOLD * 1000);
  });
  check(response, { 'connected (101)': (r) => r && r.status === 101 });
}

