// WebSocket handshakes one after another: a single client opens a socket to WS_URL, and closes
// it as soon as it is open, COUNT times. Used by `cargo xtask bench websocket` through the
// gateway, through nginx and straight to a chat instance; `ws_connecting` is the handshake.
//
//   k6 run -e WS_URL=ws://127.0.0.1:18080/v1/chat/ws -e TOKEN=… -e COUNT=100 loadtest/ws-handshake.js
import ws from 'k6/ws';
import { check } from 'k6';

export const options = {
  scenarios: {
    handshakes: { executor: 'per-vu-iterations', vus: 1, iterations: Number(__ENV.COUNT || 100), maxDuration: '60s' },
  },
  thresholds: { checks: ['rate==1'] },
};

export default function () {
  const response = ws.connect(__ENV.WS_URL, { headers: { Authorization: `Bearer ${__ENV.TOKEN}` } }, (socket) => {
    socket.on('open', () => socket.close());
  });
  check(response, { 'connected (101)': (r) => r && r.status === 101 });
}
