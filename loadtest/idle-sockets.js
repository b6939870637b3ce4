// Idle authenticated WebSockets: SOCKETS sockets to one chat instance, each opened with
// TOKEN and held silent for HOLD seconds, then closed. Used by `cargo xtask bench sockets` to
// measure the instance's memory per socket and what it gives back after they close.
//
//   k6 run -e WS_URL=ws://127.0.0.1:18084/v1/chat/ws -e TOKEN=… -e SOCKETS=1000 -e HOLD=20 loadtest/idle-sockets.js
import ws from 'k6/ws';
import { check, sleep } from 'k6';

const SOCKETS = Number(__ENV.SOCKETS || 1000);
const HOLD = Number(__ENV.HOLD || 20);

export const options = {
  scenarios: {
    idle: { executor: 'per-vu-iterations', vus: SOCKETS, iterations: 1, maxDuration: `${HOLD + 60}s` },
  },
  thresholds: { checks: ['rate==1'] },
};

export default function () {
  // Spread the handshakes over the first three seconds.
  sleep(Math.random() * 3);
  const response = ws.connect(__ENV.WS_URL, { headers: { Authorization: `Bearer ${__ENV.TOKEN}` } }, (socket) => {
    socket.setTimeout(() => socket.close(), HOLD * 1000);
  });
  check(response, { 'connected (101)': (r) => r && r.status === 101 });
}
