// HTTP journey through the gateway: register → sign in → profile → movies → watchlist,
// plus a share of bad requests (malformed JSON, wrong tokens, oversized bodies) that must be
// answered 4xx — never 5xx — and cheaply.
//
//   k6 run -e BASE_URL=http://localhost:8080 -e VUS=10 -e DURATION=60s loadtest/http-journey.js
//
// Run by `cargo xtask load` (see docs/benchmarks.md). Thresholds fail the run.
import http from 'k6/http';
import { check, group, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';

const BASE = __ENV.BASE_URL || 'http://localhost:8080';
const PASSWORD = 'correct horse battery staple';
const JSON_HEADERS = { 'Content-Type': 'application/json' };

const serverErrors = new Counter('server_errors');
// 429s: the stack's per-IP limits are on (every virtual user shares this machine's address);
// start it with them raised, see docs/benchmarks.md.
const rateLimited = new Counter('rate_limited');
const badInputDuration = new Trend('bad_input_duration', true);
const validDuration = new Trend('valid_duration', true);

export const options = {
  scenarios: {
    journey: {
      executor: 'constant-vus',
      vus: Number(__ENV.VUS || 10),
      duration: __ENV.DURATION || '60s',
    },
  },
  thresholds: {
    // Valid requests: under 1 % failures, p95 under 250 ms. Sign-up and sign-in hash a
    // password (≈ 300 ms at cost 12) and may wait up to ≈ 1 s for a hashing thread.
    'http_req_failed{kind:valid}': ['rate<0.01'],
    'http_req_duration{kind:valid}': ['p(95)<250'],
    'http_req_failed{kind:auth}': ['rate<0.01'],
    'http_req_duration{kind:auth}': ['p(95)<2000'],
    'checks{kind:auth}': ['rate>0.99'],
    'checks{kind:valid}': ['rate>0.99'],
    // Bad input: always a 4xx, never a 5xx, and cheaper than valid requests.
    'checks{kind:bad}': ['rate==1'],
    server_errors: ['count==0'],
    rate_limited: ['count==0'],
    'bad_input_duration': ['p(95)<100'],
  },
};

function tagged(kind, name) {
  return { tags: { kind, name } };
}

function record(response, kind) {
  if (response.status === 429) {
    rateLimited.add(1, { name: response.request.url });
  }
  if (response.status >= 500) {
    serverErrors.add(1, { name: response.request.url });
  }
  (kind === 'bad' ? badInputDuration : validDuration).add(response.timings.duration);
  return response;
}

function post(path, body, kind, name, headers = JSON_HEADERS) {
  return record(http.post(`${BASE}${path}`, body, { headers, ...tagged(kind, name) }), kind);
}

// Sign-up and sign-in hash a password; when every hashing thread is busy the answer is
// 503 `busy` with Retry-After, which a client honours. Those answers are counted apart
// (`shed`), not as failures.
const shed = new Counter('shed');
function patientPost(path, body, name) {
  // Retry-After with jitter (clients that all wake together would be shed together), for
  // at most 30 s.
  const giveUpAt = Date.now() + 30000;
  for (;;) {
    const response = http.post(`${BASE}${path}`, body, {
      headers: JSON_HEADERS,
      tags: { kind: 'auth', name },
      responseCallback: http.expectedStatuses({ min: 200, max: 299 }, 503),
    });
    if (response.status !== 503 || Date.now() > giveUpAt) {
      if (response.status >= 500 && response.status !== 503) serverErrors.add(1, { name });
      if (response.status === 429) rateLimited.add(1, { name });
      return response;
    }
    shed.add(1, { name });
    sleep(Number(response.headers['Retry-After'] || 1) * (0.5 + Math.random()));
  }
}

export default function () {
  const email = `load-${__VU}-${__ITER}-${Date.now()}@load.example`;
  let token;

  group('register and sign in', () => {
    const registered = patientPost(
      '/v1/auth/register',
      JSON.stringify({ email, password: PASSWORD, display_name: `Load ${__VU}` }),
      'register',
    );
    check(registered, { 'registered (201)': (r) => r.status === 201 }, { kind: 'auth' });
    const login = patientPost('/v1/auth/login', JSON.stringify({ email, password: PASSWORD }), 'login');
    check(login, { 'signed in (200)': (r) => r.status === 200 }, { kind: 'auth' });
    token = login.status === 200 ? login.json('access_token') : undefined;
  });
  if (!token) {
    return;
  }
  const auth = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };

  group('profile', () => {
    const me = record(http.get(`${BASE}/v1/users/me`, { headers: auth, ...tagged('valid', 'me') }), 'valid');
    check(me, { 'profile (200)': (r) => r.status === 200 }, { kind: 'valid' });
  });

  group('movies and watchlist', () => {
    const popular = record(
      http.get(`${BASE}/v1/movies/popular`, { headers: auth, ...tagged('valid', 'popular') }),
      'valid',
    );
    check(popular, { 'popular (200)': (r) => r.status === 200 }, { kind: 'valid' });
    const items = popular.status === 200 ? popular.json('items') || popular.json('results') || [] : [];
    const movie = items.length > 0 ? items[0].id : 550;
    const added = record(
      http.put(`${BASE}/v1/movies/watchlist/${movie}`, null, { headers: auth, ...tagged('valid', 'watchlist_add') }),
      'valid',
    );
    check(added, { 'watchlisted (201/200)': (r) => r.status === 201 || r.status === 200 }, { kind: 'valid' });
    const list = record(
      http.get(`${BASE}/v1/movies/watchlist`, { headers: auth, ...tagged('valid', 'watchlist') }),
      'valid',
    );
    check(list, { 'watchlist (200)': (r) => r.status === 200 }, { kind: 'valid' });
  });

  // About one request in four of this iteration is bad input.
  group('bad input', () => {
    const malformed = post('/v1/auth/login', '{"email": "broken', 'bad', 'malformed_json');
    check(malformed, { 'malformed JSON is 400': (r) => r.status === 400 }, { kind: 'bad' });
    const wrongToken = record(
      http.get(`${BASE}/v1/users/me`, {
        headers: { Authorization: 'Bearer not.a.token' },
        ...tagged('bad', 'wrong_token'),
      }),
      'bad',
    );
    check(wrongToken, { 'a wrong token is 401': (r) => r.status === 401 }, { kind: 'bad' });
    const oversized = post('/v1/auth/login', 'x'.repeat(2 * 1024 * 1024), 'bad', 'oversized');
    check(oversized, { 'an oversized body is 413': (r) => r.status === 413 }, { kind: 'bad' });
  });
}
