// Chat fan-out across instances: RECEIVERS sockets on one chat instance (RECEIVE_URL), spread
// evenly over the rooms in ROOMS, wait in their rooms; sockets on another instance (SEND_URL)
// then send RATE messages per second in all, spread over the rooms, for SECONDS. Every
// message goes send → outbox → Kafka → the other instance → each receiver in its room, and
// its latency is measured from the send time it carries to its arrival on each receiver.
//
// TOKENS holds one token per room: every socket in room n signs in as user n, so each room's
// members have it open on every socket, and the run measures message fan-out alone (a member
// with other sockets elsewhere would also get an unread notification on each of them).
//
//   k6 run -e SEND_URL=ws://127.0.0.1:18084/v1/chat/ws -e RECEIVE_URL=ws://127.0.0.1:18085/v1/chat/ws \
//     -e TOKENS=t1,t2 -e ROOMS=r1,r2 -e RECEIVERS=1000 -e RATE=1000 -e SECONDS=10 loadtest/fanout.js
//
// (WARMUP, default 12: seconds before the first send.)
//
// Run by `cargo xtask bench fanout`, which creates fresh rooms for each run (so each room's
// seq starts at 1) and reads the counters below from the summary:
// - `fanout_acked`: messages the sending instance acknowledged (stored);
// - `fanout_delivered`: first arrivals of a message on a receiver; with every receiver in
//   place before the first send, acked × receivers per room of them are due;
// - `fanout_duplicates`: a seq a receiver had already had;
// - `fanout_out_of_order`: a seq below one the receiver had already had (not a duplicate);
// - `fanout_latency`: send → arrival, per delivery;
// - `fanout_ack_latency`: send → the sender's `ack` (the message stored and its event queued).
// Each sender connection keeps under the default per-connection send rate (5/s), so the run
// needs no setting changed.
import ws from 'k6/ws';
import exec from 'k6/execution';
import { check } from 'k6';
import { Counter, Trend } from 'k6/metrics';

const ROOMS = (__ENV.ROOMS || '').split(',').filter((id) => id);
const TOKENS = (__ENV.TOKENS || '').split(',').filter((token) => token);
const RECEIVERS = Number(__ENV.RECEIVERS || 1000);
const RATE = Number(__ENV.RATE || 100);
const SECONDS = Number(__ENV.SECONDS || 10);
// Receivers connect over the first 5 s, all are in their rooms by WARMUP seconds.
const WARMUP = Number(__ENV.WARMUP || 12);
// After the last send, how long receivers wait for the pipeline to deliver what is in it.
const DRAIN = 8;
// Per sender connection, comfortably under CHAT_SEND_RATE's default of 5/s.
const PER_SENDER = 4;
const SENDERS_PER_ROOM = Math.max(1, Math.ceil(RATE / (ROOMS.length * PER_SENDER)));
const SENDERS = ROOMS.length * SENDERS_PER_ROOM;
const BODY = /^fanout (\d+)$/;

if (ROOMS.length === 0 || TOKENS.length !== ROOMS.length) {
  throw new Error('ROOMS and TOKENS (one per room) are required');
}
if (RECEIVERS % ROOMS.length !== 0) throw new Error('RECEIVERS must be a multiple of the rooms');

const latency = new Trend('fanout_latency', true);
const ackLatency = new Trend('fanout_ack_latency', true);
const sent = new Counter('fanout_sent');
const acked = new Counter('fanout_acked');
const delivered = new Counter('fanout_delivered');
const duplicates = new Counter('fanout_duplicates');
const outOfOrder = new Counter('fanout_out_of_order');
const receiversJoined = new Counter('fanout_receivers_joined');
const errorFrames = new Counter('fanout_error_frames');

export const options = {
  summaryTrendStats: ['med', 'p(99)', 'max', 'count'],
  scenarios: {
    receivers: {
      executor: 'per-vu-iterations',
      exec: 'receive',
      vus: RECEIVERS,
      iterations: 1,
      maxDuration: `${WARMUP + SECONDS + DRAIN + 30}s`,
    },
    senders: {
      executor: 'per-vu-iterations',
      exec: 'send',
      vus: SENDERS,
      iterations: 1,
      startTime: `${WARMUP}s`,
      maxDuration: `${SECONDS + DRAIN + 30}s`,
    },
  },
  thresholds: { checks: ['rate==1'], fanout_error_frames: ['count==0'] },
};

function connect(url, index, handler) {
  const token = TOKENS[index % ROOMS.length];
  const response = ws.connect(url, { headers: { Authorization: `Bearer ${token}` } }, handler);
  check(response, { 'connected (101)': (r) => r && r.status === 101 });
}

export function receive() {
  const index = exec.scenario.iterationInTest;
  const room = ROOMS[index % ROOMS.length];
  connect(__ENV.RECEIVE_URL, index, (socket) => {
    const seen = new Set();
    let highest = 0;
    socket.on('open', () => {
      socket.setTimeout(() => socket.send(JSON.stringify({ type: 'join', room_id: room })),
        Math.random() * 5000);
    });
    socket.on('message', (raw) => {
      const frame = JSON.parse(raw);
      if (frame.type === 'joined') {
        receiversJoined.add(1);
      } else if (frame.type === 'message') {
        const match = BODY.exec(frame.body || '');
        if (!match) return;
        if (seen.has(frame.seq)) {
          duplicates.add(1);
          return;
        }
        seen.add(frame.seq);
        if (frame.seq < highest) outOfOrder.add(1);
        highest = Math.max(highest, frame.seq);
        latency.add(Date.now() - Number(match[1]));
        delivered.add(1);
      } else if (frame.type === 'error') {
        errorFrames.add(1, { code: frame.code });
      }
    });
    socket.setTimeout(() => socket.close(), (WARMUP + SECONDS + DRAIN) * 1000);
  });
}

export function send() {
  const index = exec.scenario.iterationInTest;
  const room = ROOMS[index % ROOMS.length];
  const every = (1000 * SENDERS) / RATE;
  const count = Math.round((RATE * SECONDS) / SENDERS);
  connect(__ENV.SEND_URL, index, (socket) => {
    let next = 0;
    const pending = new Map();
    socket.on('open', () => socket.send(JSON.stringify({ type: 'join', room_id: room })));
    socket.on('message', (raw) => {
      const frame = JSON.parse(raw);
      if (frame.type === 'joined') {
        // Senders start at random phases, so the total rate is even rather than in bursts.
        socket.setTimeout(() => {
          const one = () => {
            if (next >= count) return;
            next += 1;
            const id = `${index}-${next}`;
            const now = Date.now();
            pending.set(id, now);
            sent.add(1);
            socket.send(JSON.stringify({
              type: 'send', room_id: room, client_msg_id: id, body: `fanout ${now}`,
              attachment_ids: [],
            }));
          };
          one();
          socket.setInterval(one, every);
        }, Math.random() * every);
      } else if (frame.type === 'ack' && pending.has(frame.client_msg_id)) {
        ackLatency.add(Date.now() - pending.get(frame.client_msg_id));
        pending.delete(frame.client_msg_id);
        acked.add(1);
      } else if (frame.type === 'error') {
        errorFrames.add(1, { code: frame.code });
      }
    });
    socket.setTimeout(() => socket.close(), (SECONDS + DRAIN) * 1000);
  });
}
