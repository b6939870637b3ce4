// WebSocket round trips, closed loop: SOCKETS sockets to WS_URL, each sending `ping` and the
// next `ping` as soon as its `pong` arrives, for DURATION seconds. Used by
// `cargo xtask bench websocket` through the gateway and straight to a chat instance.
//
//   k6 run -e WS_URL=ws://127.0.0.1:18080/v1/chat/ws -e TOKEN=… -e SOCKETS=8 -e DURATION=10 loadtest/ws-ping.js
import ws from 'k6/ws';
import { check } from 'k6';
import { Counter, Trend } from 'k6/metrics';

const SOCKETS = Number(__ENV.SOCKETS || 8);
const DURATION = Number(__ENV.DURATION || 10);
const roundTrip = new Trend('ws_round_trip', true);
const pongs = new Counter('ws_pongs');

export const options = {
  scenarios: {
    ping: { executor: 'per-vu-iterations', vus: SOCKETS, iterations: 1, maxDuration: `${DURATION + 30}s` },
  },
  thresholds: { checks: ['rate==1'] },
};

export default function () {
  const response = ws.connect(__ENV.WS_URL, { headers: { Authorization: `Bearer ${__ENV.TOKEN}` } }, (socket) => {
    let sentAt = 0;
    const ping = () => {
      sentAt = Date.now();
      socket.send('{"type":"ping"}');
    };
    socket.on('open', ping);
    socket.on('message', (raw) => {
      if (raw.indexOf('"pong"') === -1) return;
      roundTrip.add(Date.now() - sentAt);
      pongs.add(1);
      ping();
    });
    socket.setTimeout(() => socket.close(), DURATION * 1000);
  });
  check(response, { 'connected (101)': (r) => r && r.status === 101 });
}
