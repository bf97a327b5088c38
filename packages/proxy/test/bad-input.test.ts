// Bad input and abuse (issue 14): garbage instead of a startup packet, lengths meant to make the
// proxy buffer, TLS negotiation abuse, malformed startup and SASL messages, floods of connections
// that never authenticate, a deleted instance, a client that vanishes mid-result, broken framing
// after authentication — each refused with its SQLSTATE (or closed), the proxy and every other
// client unaffected, and nothing left counted when it is over.

import assert from 'node:assert/strict';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as connectTcp, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect as connectTls } from 'node:tls';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { serialize } from 'pg-protocol';
import { SeededRandom, testSeed } from '@strata/testing';
import { DIRECTORY_TTL_MS, type RunningProxy } from '../src/index.js';
import { call, proxyClient, startProxyPlatform, tryQuery, type ProxyPlatform } from './harness.js';

const ORDERS_PASSWORD = 'orders-password-1';
const BILLING_PASSWORD = 'billing-password-2';
const DOOMED_PASSWORD = 'doomed-password-3';
/** The flood comes from another loopback address than the clients that must stay unaffected. */
const FLOOD_SOURCE = '127.0.0.2';
/** Bounds of the waits for an outcome: a guard against hangs on a loaded machine, never asserted. */
const EVENTUALLY_MS = 60_000;
const TEST_TIMEOUT_MS = 120_000;

let platform: ProxyPlatform;
let proxy: RunningProxy;
let tlsProxy: RunningProxy;
let tlsDir: string;
let acme: { tenantId: string; key: string };
let globex: { tenantId: string; key: string };
let orders: { id: string; port: number };
let billing: { id: string; port: number };
let doomed: { id: string; port: number };
/** Every proxy of this file: none may keep a client or an unauthenticated connection counted. */
const proxies: RunningProxy[] = [];

// A garbage collector to call before measuring memory (node --expose-gc, without the flag).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

before(async () => {
  platform = await startProxyPlatform('proxy-bad-input');
  [acme, globex] = await Promise.all([platform.tenant('acme'), platform.tenant('globex')]);
  [orders, billing, doomed] = await Promise.all([
    platform.instance(acme.key, 'orders', ORDERS_PASSWORD),
    platform.instance(globex.key, 'billing', BILLING_PASSWORD),
    platform.instance(acme.key, 'doomed', DOOMED_PASSWORD),
  ]);
  proxy = await platform.proxy();
  tlsDir = await mkdtemp(join(tmpdir(), 'strata-proxy-bad-tls-'));
  tlsProxy = await platform.proxy({ tls: { dir: tlsDir, hostNames: ['db.strata.test'] } });
  proxies.push(proxy, tlsProxy);
});
after(async () => {
  await platform?.close();
  if (tlsDir) await rm(tlsDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// A raw protocol client: bytes in, awaitable reads of what the proxy sends back.

interface BackendMessage {
  readonly type: string;
  readonly payload: Buffer;
}

class RawClient {
  readonly socket: Socket;
  /** Resolves when the TCP connection is closed. */
  readonly closed: Promise<void>;
  #stream: Socket;
  #pending: Buffer = Buffer.alloc(0);
  #ended = false;
  #wake: (() => void) | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.#stream = socket;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    this.#attach(socket);
  }

  /** Connects; `allowHalfOpen` keeps the client's side open after the proxy ends its own, as an abusive client would. */
  static async open(target: RunningProxy, options: { localAddress?: string; allowHalfOpen?: boolean } = {}): Promise<RawClient> {
    const socket = connectTcp({ host: target.host, port: target.port, ...options });
    await once(socket, 'connect');
    return new RawClient(socket);
  }

  /** True once the proxy ended its side (or the connection closed). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Bytes received and not read yet. */
  get unread(): number {
    return this.#pending.length;
  }

  write(bytes: Buffer | string): void {
    this.#stream.write(bytes);
  }

  /** Writes and waits until the bytes are handed to the kernel (or the connection fails). */
  send(bytes: Buffer): Promise<Error | undefined> {
    return new Promise((resolve) => this.#stream.write(bytes, (error) => resolve(error ?? undefined)));
  }

  /** One raw byte (the answer to SSLRequest or GSSENCRequest), or undefined when the connection ended first. */
  async byte(): Promise<string | undefined> {
    await this.#until(() => this.#pending.length >= 1);
    if (this.#pending.length === 0) return undefined;
    const byte = String.fromCharCode(this.#pending[0]!);
    this.#pending = this.#pending.subarray(1);
    return byte;
  }

  /** The next typed message, or undefined when the proxy ended its side first. */
  async message(): Promise<BackendMessage | undefined> {
    await this.#until(() => this.#pending.length >= 5 && this.#pending.length >= 1 + this.#pending.readInt32BE(1));
    if (this.#pending.length < 5 || this.#pending.length < 1 + this.#pending.readInt32BE(1)) return undefined;
    const length = this.#pending.readInt32BE(1);
    const out = { type: String.fromCharCode(this.#pending[0]!), payload: this.#pending.subarray(5, 1 + length) };
    this.#pending = this.#pending.subarray(1 + length);
    return out;
  }

  /** Every message until the proxy ends its side; no partial message may be left. */
  async rest(): Promise<BackendMessage[]> {
    const out: BackendMessage[] = [];
    for (let next = await this.message(); next; next = await this.message()) out.push(next);
    assert.equal(this.#pending.length, 0, `a partial message was left: ${this.#pending.toString('hex').slice(0, 80)}`);
    return out;
  }

  /** Every byte until the proxy ends its side. */
  async restBytes(): Promise<Buffer> {
    await this.#until(() => false);
    const out = this.#pending;
    this.#pending = Buffer.alloc(0);
    return out;
  }

  /** Starts TLS on the connection (after the proxy answered 'S'). */
  async startTls(): Promise<void> {
    assert.equal(this.#pending.length, 0, 'nothing may be left unread when TLS starts');
    this.#detach(this.#stream);
    const secure = connectTls({ socket: this.socket, rejectUnauthorized: false, servername: 'db.strata.test' });
    secure.on('error', () => {});
    await once(secure, 'secureConnect');
    this.#stream = secure;
    this.#attach(secure);
  }

  destroy(): void {
    this.#stream.destroy();
    this.socket.destroy();
  }

  readonly #onData = (chunk: Buffer) => {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    this.#wake?.();
  };

  readonly #onEnd = () => {
    this.#ended = true;
    this.#wake?.();
  };

  #attach(stream: Socket): void {
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
    stream.on('close', this.#onEnd);
  }

  #detach(stream: Socket): void {
    stream.removeListener('data', this.#onData);
    stream.removeListener('end', this.#onEnd);
    stream.removeListener('close', this.#onEnd);
  }

  async #until(ready: () => boolean): Promise<void> {
    while (!ready() && !this.#ended) await new Promise<void>((resolve) => (this.#wake = resolve));
    this.#wake = undefined;
  }
}

/** The fields of an ErrorResponse, by their one-letter codes (S severity, C SQLSTATE, M message). */
function fieldsOf(payload: Buffer): Record<string, string> {
  const fields: Record<string, string> = {};
  let offset = 0;
  while (offset < payload.length && payload[offset] !== 0) {
    const end = payload.indexOf(0, offset + 1);
    assert.ok(end > 0, 'an unterminated ErrorResponse field');
    fields[String.fromCharCode(payload[offset]!)] = payload.toString('utf8', offset + 1, end);
    offset = end + 1;
  }
  return fields;
}

/** Asserts that `message` is a FATAL ErrorResponse with `sqlstate`; returns its text. */
function assertFatal(message: BackendMessage | undefined, sqlstate: string): string {
  assert.ok(message, `expected a FATAL ${sqlstate}, the connection ended first`);
  assert.equal(message.type, 'E', `expected an ErrorResponse, got ${JSON.stringify(message.type)}`);
  const fields = fieldsOf(message.payload);
  assert.equal(fields.S, 'FATAL', fields.M);
  assert.equal(fields.C, sqlstate, fields.M);
  return fields.M ?? '';
}

/** Asserts that all the proxy sends from here is one FATAL with `sqlstate`, then the end; returns its text. */
async function expectOnlyFatal(client: RawClient, sqlstate: string): Promise<string> {
  const messages = await client.rest();
  assert.deepEqual(
    messages.map((m) => m.type),
    ['E'],
    `expected one FATAL ErrorResponse and the end, got ${messages.map((m) => `${m.type}:${m.payload.toString('latin1').slice(0, 80)}`).join(' | ')}`,
  );
  return assertFatal(messages[0], sqlstate);
}

/** An untyped packet (startup, SSLRequest, GSSENCRequest): length, code, body. */
function untypedPacket(code: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(8 + body.length);
  out.writeInt32BE(out.length, 0);
  out.writeInt32BE(code, 4);
  body.copy(out, 8);
  return out;
}

const PROTOCOL_V3 = 0x0003_0000;
const SSL_REQUEST = untypedPacket(80877103);
const GSSENC_REQUEST = untypedPacket(80877104);

/** A StartupMessage with the parameters as given (duplicates kept), of protocol `version`. */
function startupPacket(parameters: ReadonlyArray<readonly [string, string]>, version = PROTOCOL_V3): Buffer {
  const body = Buffer.concat([...parameters.flatMap(([key, value]) => [Buffer.from(`${key}\0`), Buffer.from(`${value}\0`)]), Buffer.from([0])]);
  return untypedPacket(version, body);
}

/** A typed frontend message with the length it claims (not necessarily its real one). */
function typedHeader(type: string, length: number): Buffer {
  const out = Buffer.alloc(5);
  out[0] = type.charCodeAt(0);
  out.writeInt32BE(length, 1);
  return out;
}

/** The authentication request code of an 'R' message (10 SASL, 11 continue, 12 final, 0 ok). */
function authCode(message: BackendMessage | undefined): number | undefined {
  return message?.type === 'R' ? message.payload.readInt32BE(0) : undefined;
}

/** The client side of SCRAM-SHA-256 from a password, with a way to break each step. */
class ScramClient {
  readonly nonce = randomBytes(18).toString('base64');
  readonly bare = `n=,r=${this.nonce}`;

  initial(): Buffer {
    return serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', `n,,${this.bare}`);
  }

  final(serverFirst: string, password: string, nonce?: string): Buffer {
    const attributes = new Map(serverFirst.split(',').map((part) => [part[0]!, part.slice(2)] as const));
    const salted = pbkdf2Sync(password, Buffer.from(attributes.get('s')!, 'base64'), Number(attributes.get('i')), 32, 'sha256');
    const clientKey = createHmac('sha256', salted).update('Client Key').digest();
    const storedKey = createHash('sha256').update(clientKey).digest();
    const withoutProof = `c=biws,r=${nonce ?? attributes.get('r')!}`;
    const signature = createHmac('sha256', storedKey).update(`${this.bare},${serverFirst},${withoutProof}`).digest();
    const proof = Buffer.from(clientKey.map((byte, i) => byte ^ signature[i]!));
    return serialize.sendSCRAMClientFinalMessage(`${withoutProof},p=${proof.toString('base64')}`);
  }
}

/** Sends a startup for `app.<instance>` and expects the SASL offer. */
async function startSasl(client: RawClient, instanceId: string): Promise<void> {
  client.write(startupPacket([['user', `app.${instanceId}`], ['database', 'app']]));
  const offer = await client.message();
  assert.equal(authCode(offer), 10, `expected AuthenticationSASL, got ${offer?.type}`);
  assert.match(offer!.payload.toString('utf8'), /SCRAM-SHA-256/);
}

/** Signs in as `app` of `instanceId` over the raw connection, up to ReadyForQuery. */
async function signIn(client: RawClient, instanceId: string, password: string): Promise<void> {
  await startSasl(client, instanceId);
  const scram = new ScramClient();
  client.write(scram.initial());
  const serverFirst = await client.message();
  assert.equal(authCode(serverFirst), 11, `expected AuthenticationSASLContinue, got ${serverFirst?.type}`);
  client.write(scram.final(serverFirst!.payload.toString('utf8', 4), password));
  const seen: string[] = [];
  for (;;) {
    const next = await client.message();
    assert.ok(next, `the connection ended during sign-in after ${seen.join(' ')}`);
    if (next.type === 'E') assert.fail(`sign-in failed: ${fieldsOf(next.payload).M}`);
    seen.push(next.type === 'R' ? `R${authCode(next)}` : next.type);
    if (next.type === 'Z') break;
  }
  assert.deepEqual(seen.slice(0, 2), ['R12', 'R0']);
  assert.deepEqual(seen.slice(-2), ['K', 'Z']);
}

/** Runs a simple query over the raw connection; returns the first column of the first row. */
async function rawScalar(client: RawClient, sql: string): Promise<string | null> {
  client.write(serialize.query(sql));
  let value: string | null | undefined;
  for (;;) {
    const next = await client.message();
    assert.ok(next, `the connection ended during ${JSON.stringify(sql)}`);
    if (next.type === 'E') assert.fail(`${sql}: ${fieldsOf(next.payload).M}`);
    if (next.type === 'D' && value === undefined) {
      const length = next.payload.readInt32BE(2);
      value = length < 0 ? null : next.payload.toString('utf8', 6, 6 + length);
    }
    if (next.type === 'Z') return value ?? null;
  }
}

/** Polls `check` until it holds (a guard against hangs, not a timing assertion). */
async function eventually(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + EVENTUALLY_MS;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within ${EVENTUALLY_MS} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A new pg client of acme's instance connects through `target` and queries. */
async function assertServes(target: RunningProxy, instance = orders, password = ORDERS_PASSWORD): Promise<void> {
  const result = await tryQuery(proxyClient(target, instance.id, password), 'select 1 as one');
  assert.deepEqual(result.rows, [{ one: 1 }], result.message);
}

/** Waits until `target` counts no unauthenticated connection (every refused one was let go). */
async function settled(target: RunningProxy): Promise<void> {
  await eventually('no unauthenticated connection counted', () => target.stats().unauthenticated === 0);
}

/** The backend of `pid` on an instance is gone, seen through another proxied session. */
async function backendGone(instance: { id: string }, password: string, pid: string): Promise<void> {
  const watcher = proxyClient(proxy, instance.id, password);
  await watcher.connect();
  try {
    await eventually(`backend ${pid} of ${instance.id} gone from pg_stat_activity`, async () => {
      const { rows } = await watcher.query('select count(*)::int as n from pg_stat_activity where pid = $1', [Number(pid)]);
      return rows[0].n === 0;
    });
  } finally {
    await watcher.end();
  }
}

/**
 * Whether the proxy closed its socket of a connection whose client kept its own side open: bytes
 * written after the proxy's end are answered with a reset only by a closed socket, and the
 * client learns of the reset at its next write (so it writes until then, or until `boundMs`).
 */
async function resetByProxy(client: RawClient, boundMs: number): Promise<boolean> {
  assert.ok(client.ended, 'the proxy ended its side first');
  let closed = false;
  void client.closed.then(() => (closed = true));
  const deadline = Date.now() + boundMs;
  while (!closed && Date.now() < deadline) {
    client.write(Buffer.from([0]));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return closed;
}

/** A TLS ClientHello as Node's TLS client sends it (caught by a listener that answers nothing). */
async function tlsClientHello(): Promise<Buffer> {
  const catcher = createServer();
  const hello = new Promise<Buffer>((resolve) => catcher.once('connection', (socket) => socket.once('data', (chunk: Buffer) => (resolve(chunk), socket.destroy()))));
  await new Promise<void>((resolve) => catcher.listen(0, '127.0.0.1', () => resolve()));
  const client = connectTls({ host: '127.0.0.1', port: (catcher.address() as AddressInfo).port, servername: 'db.strata.test', rejectUnauthorized: false });
  client.on('error', () => {});
  try {
    return await hello;
  } finally {
    client.destroy();
    catcher.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Garbage instead of a startup packet.

test('random bytes instead of a startup packet get a FATAL 08P01 (seeded), and the proxy goes on serving', { timeout: TEST_TIMEOUT_MS }, async () => {
  const random = new SeededRandom(testSeed('proxy: random bytes instead of a startup packet'));
  for (let round = 0; round < 20; round += 1) {
    const garbage = Buffer.from(Array.from({ length: random.int(4, 512) }, () => random.int(0, 255)));
    // A length within the accepted range (8 to MAX_STARTUP_PACKET_BYTES, 10,000) is not garbage to
    // the proxy yet: the first four bytes are moved outside it, where nearly all random ones fall.
    const length = garbage.readInt32BE(0);
    if (length >= 8 && length <= 10_000) garbage.writeInt32BE(length + 10_000, 0);
    const client = await RawClient.open(proxy);
    client.write(garbage);
    const message = await expectOnlyFatal(client, '08P01');
    assert.match(message, /invalid startup packet length .*speaks the PostgreSQL protocol/);
    await client.closed;
  }
  // Random bytes behind a length that fits them: refused by their code or their layout.
  for (let round = 0; round < 20; round += 1) {
    const garbage = Buffer.from(Array.from({ length: random.int(8, 512) }, () => random.int(0, 255)));
    garbage.writeInt32BE(garbage.length, 0);
    const client = await RawClient.open(proxy);
    client.write(garbage);
    const messages = await client.rest();
    assert.equal(messages.length, 1, 'one message, then the end');
    const { C: sqlstate = '', M: text } = fieldsOf(messages[0]!.payload);
    assert.ok(['08P01', '0A000'].includes(sqlstate), `${sqlstate}: ${text}`);
    assertFatal(messages[0], sqlstate);
    await client.closed;
  }
  await settled(proxy);
  await assertServes(proxy);
});

test('an HTTP request instead of a startup packet gets a FATAL 08P01 that says what the port speaks', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await RawClient.open(proxy);
  client.write(`GET / HTTP/1.1\r\nHost: ${proxy.host}:${proxy.port}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n`);
  const message = await expectOnlyFatal(client, '08P01');
  assert.match(message, /PostgreSQL protocol/);
  await client.closed;
  await settled(proxy);
  await assertServes(proxy);
});

test('a TLS ClientHello sent without SSLRequest gets a FATAL 08P01 in plain text, on a proxy with TLS too', { timeout: TEST_TIMEOUT_MS }, async () => {
  const hello = await tlsClientHello();
  assert.equal(hello[0], 0x16, 'a TLS handshake record');
  for (const target of [proxy, tlsProxy]) {
    const client = await RawClient.open(target);
    client.write(hello);
    await expectOnlyFatal(client, '08P01');
    await client.closed;
    await settled(target);
  }
  await assertServes(tlsProxy);
});

test('a startup packet announcing 1 GB is refused from its first 8 bytes, and what the client streams after the refusal is not kept', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await RawClient.open(proxy, { allowHalfOpen: true });
  gc();
  const before = process.memoryUsage().arrayBuffers;
  const header = Buffer.alloc(8);
  header.writeInt32BE(1 << 30, 0);
  header.writeInt32BE(PROTOCOL_V3, 4);
  client.write(header);
  const refusal = await client.message();
  assert.equal(client.socket.bytesWritten, 8, 'the refusal came with only the header sent');
  assert.match(assertFatal(refusal, '08P01'), /invalid startup packet length 1073741824/);
  // A client that ignores the refusal and sends its "body" anyway (32 MB of it): the proxy may
  // close the connection (the writes then fail) or drop the bytes, but must not keep them.
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  for (let sent = 0; sent < 32 << 20 && !client.socket.destroyed; sent += chunk.length) {
    if (await client.send(chunk)) break;
  }
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  const grownBytes = process.memoryUsage().arrayBuffers - before;
  assert.ok(grownBytes < 8 << 20, `memory grew by ${(grownBytes / (1 << 20)).toFixed(1)} MB`);
  client.destroy();
  await settled(proxy);
  await assertServes(proxy);
});

// ---------------------------------------------------------------------------------------------
// TLS and GSS encryption negotiation.

test('junk instead of a TLS handshake after SSLRequest closes the connection, with no plain-text answer', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await RawClient.open(tlsProxy);
  client.write(SSL_REQUEST);
  assert.equal(await client.byte(), 'S');
  client.write(Buffer.from('this is not a TLS handshake\r\n'.repeat(8)));
  const answer = await client.restBytes();
  // Nothing, or a TLS alert record: never a plain-text ErrorResponse inside what must be TLS.
  assert.ok(answer.length === 0 || answer[0] === 0x15, `expected nothing or a TLS alert, got ${answer.toString('latin1').slice(0, 80)}`);
  await client.closed;
  await settled(tlsProxy);
  await assertServes(tlsProxy);
});

test('unencrypted data pipelined behind an SSLRequest is refused before TLS starts (CVE-2021-23214)', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await RawClient.open(tlsProxy);
  client.write(Buffer.concat([SSL_REQUEST, startupPacket([['user', `app.${orders.id}`], ['database', 'app']])]));
  // No 'S': the first byte back is the ErrorResponse itself.
  const message = await expectOnlyFatal(client, '08P01');
  assert.match(message, /unencrypted data after SSL request/);
  await client.closed;
  await settled(tlsProxy);
});

test('a second SSLRequest after "N" is refused with 08P01', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await RawClient.open(proxy);
  client.write(SSL_REQUEST);
  assert.equal(await client.byte(), 'N', 'a proxy without TLS declines');
  client.write(SSL_REQUEST);
  assert.match(await expectOnlyFatal(client, '08P01'), /SSLRequest/);
  await client.closed;
  await settled(proxy);
});

test('an SSLRequest inside the TLS session it started is refused with 08P01, over TLS', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await RawClient.open(tlsProxy);
  client.write(SSL_REQUEST);
  assert.equal(await client.byte(), 'S');
  await client.startTls();
  client.write(SSL_REQUEST);
  assert.match(await expectOnlyFatal(client, '08P01'), /SSLRequest/);
  await client.closed;
  await settled(tlsProxy);
});

test('a second GSSENCRequest is refused with 08P01', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await RawClient.open(proxy);
  client.write(GSSENC_REQUEST);
  assert.equal(await client.byte(), 'N');
  client.write(GSSENC_REQUEST);
  assert.match(await expectOnlyFatal(client, '08P01'), /GSSENCRequest/);
  await client.closed;
  await settled(proxy);
});

test('GSSENCRequest is answered "N" and the startup that follows signs in and queries', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await RawClient.open(proxy);
  client.write(GSSENC_REQUEST);
  assert.equal(await client.byte(), 'N');
  await signIn(client, orders.id, ORDERS_PASSWORD);
  assert.equal(await rawScalar(client, 'select 40 + 2'), '42');
  client.write(serialize.end());
  assert.deepEqual(await client.rest(), []);
});

test('GSSENCRequest, then SSLRequest (as libpq sends them): "N", "S", and the startup over TLS signs in and queries', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await RawClient.open(tlsProxy);
  client.write(GSSENC_REQUEST);
  assert.equal(await client.byte(), 'N');
  client.write(SSL_REQUEST);
  assert.equal(await client.byte(), 'S');
  await client.startTls();
  await signIn(client, orders.id, ORDERS_PASSWORD);
  assert.equal(await rawScalar(client, 'select 40 + 2'), '42');
  client.write(serialize.end());
  assert.deepEqual(await client.rest(), []);
});

// ---------------------------------------------------------------------------------------------
// Malformed startup packets: each refused with PostgreSQL's SQLSTATE for it.

const user = () => `app.${orders.id}`;
const MALFORMED_STARTUPS: ReadonlyArray<{ name: string; packet: () => Buffer; sqlstate: string; message: RegExp }> = [
  { name: 'no user', packet: () => startupPacket([['database', 'app']]), sqlstate: '28000', message: /no PostgreSQL user name/ },
  { name: 'an empty user', packet: () => startupPacket([['user', ''], ['database', 'app']]), sqlstate: '28000', message: /no PostgreSQL user name/ },
  { name: 'unterminated parameters (a name without its value)', packet: () => untypedPacket(PROTOCOL_V3, Buffer.from(`user\0${user()}\0database`)), sqlstate: '08P01', message: /invalid startup packet layout/ },
  { name: 'no terminating NUL after the last pair', packet: () => untypedPacket(PROTOCOL_V3, Buffer.from(`user\0${user()}\0`)), sqlstate: '08P01', message: /invalid startup packet layout/ },
  { name: 'bytes after the terminating NUL', packet: () => untypedPacket(PROTOCOL_V3, Buffer.from(`user\0${user()}\0\0trailing`)), sqlstate: '08P01', message: /invalid startup packet layout/ },
  { name: 'no parameters at all', packet: () => untypedPacket(PROTOCOL_V3), sqlstate: '08P01', message: /invalid startup packet layout/ },
  { name: 'a duplicate parameter', packet: () => startupPacket([['user', user()], ['database', 'app'], ['user', 'postgres']]), sqlstate: '08P01', message: /"user" given twice/ },
  { name: 'protocol version 2.0', packet: () => startupPacket([['user', user()]], 0x0002_0000), sqlstate: '0A000', message: /unsupported frontend protocol 2\.0/ },
  { name: 'protocol version 4.0', packet: () => startupPacket([['user', user()]], 0x0004_0000), sqlstate: '0A000', message: /unsupported frontend protocol 4\.0/ },
  { name: 'a length shorter than its own header', packet: () => Buffer.from([0, 0, 0, 4, 0, 3, 0, 0]), sqlstate: '08P01', message: /invalid startup packet length 4/ },
  { name: 'a negative length', packet: () => Buffer.from([0xff, 0xff, 0xff, 0xf0, 0, 3, 0, 0]), sqlstate: '08P01', message: /invalid startup packet length -16/ },
];

for (const { name, packet, sqlstate, message } of MALFORMED_STARTUPS) {
  test(`a startup packet with ${name} is refused with ${sqlstate}`, { timeout: TEST_TIMEOUT_MS }, async () => {
    const client = await RawClient.open(proxy);
    client.write(packet());
    assert.match(await expectOnlyFatal(client, sqlstate), message);
    await client.closed;
    await settled(proxy);
  });
}

// ---------------------------------------------------------------------------------------------
// Malformed SASL: the offer ('R' 10) and at most the server-first ('R' 11) come before the FATAL.

test('a SASLInitialResponse naming another mechanism is refused with 08P01', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await RawClient.open(proxy);
  await startSasl(client, orders.id);
  client.write(serialize.sendSASLInitialResponseMessage('SCRAM-SHA-1', `n,,n=,r=${randomBytes(18).toString('base64')}`));
  assert.match(await expectOnlyFatal(client, '08P01'), /SASL mechanism "SCRAM-SHA-1" is not offered/);
  await settled(proxy);
});

test('a SASL message announcing 1 GB is refused from its header, without its body', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await RawClient.open(proxy);
  await startSasl(client, orders.id);
  const sentBefore = client.socket.bytesWritten;
  client.write(typedHeader('p', 1 << 30));
  const message = await expectOnlyFatal(client, '08P01');
  assert.equal(client.socket.bytesWritten - sentBefore, 5, 'only the header was sent');
  assert.match(message, /invalid message length 1073741824/);
  await settled(proxy);
});

test('a SASLInitialResponse whose response claims 2 GB (in a small message) is refused with 08P01', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await RawClient.open(proxy);
  await startSasl(client, orders.id);
  const response = Buffer.from(`n,,n=,r=${randomBytes(18).toString('base64')}`);
  const claimed = Buffer.alloc(4);
  claimed.writeInt32BE(0x7fff_ffff, 0);
  const payload = Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), claimed, response]);
  client.write(Buffer.concat([typedHeader('p', 4 + payload.length), payload]));
  assert.match(await expectOnlyFatal(client, '08P01'), /malformed SASLInitialResponse/);
  await settled(proxy);
});

test('a SCRAM client-final with a nonce other than the one agreed is refused with 08P01', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await RawClient.open(proxy);
  await startSasl(client, orders.id);
  const scram = new ScramClient();
  client.write(scram.initial());
  const serverFirst = await client.message();
  assert.equal(authCode(serverFirst), 11);
  // The right password, so only the nonce is wrong.
  client.write(scram.final(serverFirst!.payload.toString('utf8', 4), ORDERS_PASSWORD, `${scram.nonce}forged`));
  assert.match(await expectOnlyFatal(client, '08P01'), /nonce/);
  await settled(proxy);
});

test('a message other than a SASL response during authentication is refused with 08P01', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await RawClient.open(proxy);
  await startSasl(client, orders.id);
  client.write(serialize.query('select 1'));
  assert.match(await expectOnlyFatal(client, '08P01'), /expected a SASL response, got message type "Q"/);
  // The same in place of the client-final message.
  const second = await RawClient.open(proxy);
  await startSasl(second, orders.id);
  second.write(new ScramClient().initial());
  assert.equal(authCode(await second.message()), 11);
  second.write(serialize.query('select 1'));
  assert.match(await expectOnlyFatal(second, '08P01'), /expected a SASL response/);
  await settled(proxy);
  await assertServes(proxy);
});

// ---------------------------------------------------------------------------------------------
// Connections that never authenticate.

test('connections from one address beyond maxUnauthenticatedPerSource are refused with 53300 at once, while another tenant connects and queries', { timeout: TEST_TIMEOUT_MS }, async () => {
  // The timeout is out of reach here, so that no idle connection times out in the middle of the
  // flood on a slow machine; the next test has its own proxy for the timeout.
  const flooded = await platform.proxy({ limits: { maxUnauthenticatedPerSource: 20, authTimeoutMs: 3_600_000 } });
  proxies.push(flooded);
  const idle: RawClient[] = [];
  for (let i = 0; i < 20; i += 1) idle.push(await RawClient.open(flooded, { localAddress: FLOOD_SOURCE }));
  await eventually('20 unauthenticated connections counted', () => flooded.stats().unauthenticated === 20);

  const BATCHES = 20;
  const BATCH_SIZE = 100;
  let refused = 0;
  for (let batch = 0; batch < BATCHES; batch += 1) {
    const flood = Array.from({ length: BATCH_SIZE }, async () => {
      const extra = await RawClient.open(flooded, { localAddress: FLOOD_SOURCE });
      // Refused without a byte sent: the refusal does not wait for a startup packet.
      assert.match(await expectOnlyFatal(extra, '53300'), /too many connections are opening at once/);
      refused += 1;
    });
    // Another tenant's new connection and query, from another address, in the middle of each batch.
    const [, served] = await Promise.all([Promise.all(flood), tryQuery(proxyClient(flooded, billing.id, BILLING_PASSWORD), 'select current_database() as db')]);
    assert.deepEqual(served.rows, [{ db: 'app' }], `batch ${batch}: ${served.message}`);
  }
  assert.equal(refused, BATCHES * BATCH_SIZE);
  // The refusals came before any idle connection was answered: those were untouched by the flood.
  for (const client of idle) assert.equal(client.ended || client.unread > 0, false, 'an idle connection was answered during the flood');
  assert.equal(flooded.stats().unauthenticated, 20);

  // Their places free as they leave: the address is let in again.
  for (const client of idle) client.destroy();
  await settled(flooded);
  const again = await RawClient.open(flooded, { localAddress: FLOOD_SOURCE });
  await startSasl(again, orders.id);
  again.destroy();
  await settled(flooded);
});

test('connections that never authenticate are closed with a FATAL after authTimeoutMs, even when the client keeps its side open, and their places are freed', { timeout: TEST_TIMEOUT_MS }, async () => {
  const timed = await platform.proxy({ limits: { maxUnauthenticatedPerSource: 20, authTimeoutMs: 500 } });
  proxies.push(timed);
  // Silent ones, ones that stop inside the startup packet, and ones that stop inside SASL; every
  // one keeps its side open after the proxy's FATAL, as an abusive client would.
  const silent = await Promise.all(Array.from({ length: 6 }, () => RawClient.open(timed, { localAddress: FLOOD_SOURCE, allowHalfOpen: true })));
  const partial = await Promise.all(Array.from({ length: 6 }, () => RawClient.open(timed, { localAddress: FLOOD_SOURCE, allowHalfOpen: true })));
  for (const client of partial) client.write(startupPacket([['user', `app.${orders.id}`]]).subarray(0, 12));
  const inSasl = await Promise.all(Array.from({ length: 6 }, () => RawClient.open(timed, { localAddress: FLOOD_SOURCE, allowHalfOpen: true })));
  await Promise.all(inSasl.map((client) => startSasl(client, orders.id)));
  for (const client of [...silent, ...partial, ...inSasl]) {
    assert.match(await expectOnlyFatal(client, '08006'), /authentication did not finish within 500 ms/);
  }
  await settled(timed);
  assert.deepEqual(timed.stats(), { clients: 0, unauthenticated: 0, instances: {}, wakes: 0 });
  for (const client of [...silent, ...partial, ...inSasl]) client.destroy();
  // The same address signs in after them.
  const again = await RawClient.open(timed, { localAddress: FLOOD_SOURCE });
  await signIn(again, orders.id, ORDERS_PASSWORD);
  assert.equal(await rawScalar(again, 'select 1'), '1');
  again.write(serialize.end());
  assert.deepEqual(await again.rest(), []);
});

test(
  'the auth timeout of a connection that switched to TLS sends its FATAL over TLS',
  { timeout: TEST_TIMEOUT_MS },
  async () => {
    const timed = await platform.proxy({ tls: { dir: tlsDir, hostNames: ['db.strata.test'] }, limits: { authTimeoutMs: 500 } });
    proxies.push(timed);
    const client = await RawClient.open(timed);
    client.write(SSL_REQUEST);
    assert.equal(await client.byte(), 'S');
    await client.startTls();
    try {
      assert.match(await expectOnlyFatal(client, '08006'), /authentication did not finish/);
    } finally {
      // Whatever it was sent, the connection is closed and no longer counted (checked again at the end).
      await client.closed;
      await settled(timed);
    }
  },
);

test('a client that keeps its side open after a FATAL is closed by the proxy, not kept half-open', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await RawClient.open(proxy, { allowHalfOpen: true });
  client.write(startupPacket([['database', 'app']]));
  await expectOnlyFatal(client, '28000');
  assert.equal(await resetByProxy(client, EVENTUALLY_MS), true, 'the proxy closed its socket');
  await settled(proxy);
});

test(
  'a client that keeps its side open after being refused with 53300 is closed by the proxy, not kept half-open',
  { timeout: TEST_TIMEOUT_MS },
  async () => {
    const limited = await platform.proxy({ limits: { maxUnauthenticatedPerSource: 1, authTimeoutMs: 3_600_000 } });
    proxies.push(limited);
    const holder = await RawClient.open(limited, { localAddress: FLOOD_SOURCE });
    await eventually('the holder counted', () => limited.stats().unauthenticated === 1);
    const refused = await RawClient.open(limited, { localAddress: FLOOD_SOURCE, allowHalfOpen: true });
    try {
      await expectOnlyFatal(refused, '53300');
      // Bounded wait: a socket the proxy closed resets at once.
      assert.equal(await resetByProxy(refused, 10_000), true, 'the proxy closed its socket');
    } finally {
      refused.destroy();
      holder.destroy();
      await settled(limited);
    }
  },
);

test('queries pipelined behind the password while the instance wakes are held back by TCP, not buffered, and run in order once it is up', { timeout: TEST_TIMEOUT_MS }, async () => {
  let wakeUp!: () => void;
  const woken = new Promise<void>((resolve) => (wakeUp = resolve));
  const waking = await platform.proxy({ power: { wake: () => woken, suspend: async () => false } });
  proxies.push(waking);
  const client = await RawClient.open(waking);
  await startSasl(client, orders.id);
  const scram = new ScramClient();
  client.write(scram.initial());
  const serverFirst = await client.message();
  assert.equal(authCode(serverFirst), 11);
  // The password, then 32 MB of queries at once (one buffer written again and again, so this
  // process holds it once): the proxy waits for the instance and must not read them all into memory.
  client.write(scram.final(serverFirst!.payload.toString('utf8', 4), ORDERS_PASSWORD));
  const filler = serialize.query(`select 2 as n -- ${'x'.repeat(4_000)}`);
  const QUERIES = Math.ceil((32 << 20) / filler.length);
  client.write(serialize.query("select 'first' as n"));
  for (let i = 0; i < QUERIES; i += 1) client.write(filler);
  client.write(serialize.query("select 'last' as n"));
  const queued = () => client.socket.writableLength;
  // Wait until the queue stops shrinking (unchanged over five looks): the proxy read what it will.
  let last = -1;
  let unchanged = 0;
  await eventually('the proxy stopped reading', async () => {
    const now = queued();
    unchanged = now === last ? unchanged + 1 : 0;
    last = now;
    if (unchanged < 5) await new Promise((resolve) => setTimeout(resolve, 100));
    return unchanged >= 5;
  });
  assert.ok(queued() > 16 << 20, `the proxy took ${(((32 << 20) - queued()) / (1 << 20)).toFixed(1)} MB of 32 MB while it waited`);

  wakeUp();
  const seen: string[] = [];
  const values: string[] = [];
  for (let ready = 0; ready < QUERIES + 3; ) {
    const next = await client.message();
    assert.ok(next, `the connection ended after ${ready} ReadyForQuery`);
    if (next.type === 'E') assert.fail(fieldsOf(next.payload).M);
    if (next.type === 'Z') ready += 1;
    if (next.type === 'D') values.push(next.payload.toString('utf8', 6, 6 + next.payload.readInt32BE(2)));
    if (seen.length < 3) seen.push(next.type === 'R' ? `R${authCode(next)}` : next.type);
  }
  assert.deepEqual(seen.slice(0, 2), ['R12', 'R0']);
  assert.equal(values.length, QUERIES + 2);
  assert.equal(values[0], 'first');
  assert.equal(values.at(-1), 'last');
  assert.ok(values.slice(1, -1).every((value) => value === '2'));
  client.write(serialize.end());
  assert.deepEqual(await client.rest(), []);
});

// ---------------------------------------------------------------------------------------------
// A deleted instance.

test('a deleted instance is refused with 3D000 "does not exist", and sessions open on it when it was deleted end with an error', { timeout: 240_000 }, async () => {
  const idleSession = proxyClient(proxy, doomed.id, DOOMED_PASSWORD);
  const busySession = proxyClient(proxy, doomed.id, DOOMED_PASSWORD);
  const idleErrors: Error[] = [];
  idleSession.on('error', (error) => idleErrors.push(error));
  busySession.on('error', () => {});
  await idleSession.connect();
  await busySession.connect();
  const busyPid = (await busySession.query('select pg_backend_pid() as pid')).rows[0].pid as number;
  const sleeping = busySession.query('select pg_sleep(600)').then(
    () => 'finished',
    (error: Error) => error,
  );
  await eventually('the long query runs', async () => (await idleSession.query("select count(*)::int as n from pg_stat_activity where pid = $1 and state = 'active'", [busyPid])).rows[0].n === 1);
  assert.equal(proxy.stats().instances[doomed.id]?.clients, 2);

  const deleting = await call(platform.cp, 'DELETE', `/v1/instances/${doomed.id}`, acme.key);
  assert.equal(deleting.status, 202, deleting.text);
  const outcome = await sleeping;
  assert.ok(outcome instanceof Error, 'the running query ended with an error, not a result');
  await assert.rejects(idleSession.query('select 1'), 'the idle session ended too');
  await eventually('the proxy let go of both sessions', () => proxy.stats().instances[doomed.id] === undefined);

  await call(platform.cp, 'GET', `/v1/instances/${doomed.id}/wait?timeoutMs=60000`, acme.key);
  await eventually('the instance is DELETED', async () => {
    const { rows } = await platform.cp.db.query('select status from strata_cloud.instances where instance_id = $1', [doomed.id]);
    return rows[0]?.status === 'DELETED';
  });
  // An entry the proxy read before the delete is kept at most this long (the directory's bound).
  await new Promise((resolve) => setTimeout(resolve, DIRECTORY_TTL_MS));
  const after = await tryQuery(proxyClient(proxy, doomed.id, DOOMED_PASSWORD), 'select 1');
  assert.equal(after.code, '3D000', after.message);
  assert.match(after.message!, new RegExp(`instance "${doomed.id}" does not exist`));
  await idleSession.end().catch(() => {});
  await busySession.end().catch(() => {});
  await assertServes(proxy);
});

// ---------------------------------------------------------------------------------------------
// Clients that go away, or break framing, after authentication.

test('a client that disconnects in the middle of a 50 MB result leaves the proxy up, its backend goes away, and the next client works', { timeout: TEST_TIMEOUT_MS }, async () => {
  const victim = proxyClient(proxy, orders.id, ORDERS_PASSWORD);
  victim.on('error', () => {});
  await victim.connect();
  const pid = String((await victim.query('select pg_backend_pid() as pid')).rows[0].pid);
  const stream = victim.connection.stream;
  let chunks = 0;
  const firstChunk = new Promise<void>((resolve) =>
    stream.on('data', () => {
      chunks += 1;
      if (chunks === 1) {
        stream.destroy();
        resolve();
      }
    }),
  );
  const result = victim.query("select repeat('x', 1000) as filler from generate_series(1, 50000)").then(
    () => 'complete',
    (error: Error) => error,
  );
  await firstChunk;
  assert.ok((await result) instanceof Error, 'the client saw its own disconnect, not the result');
  await backendGone(orders, ORDERS_PASSWORD, pid);
  await assertServes(proxy);
});

test('a message with an invalid length after authentication gets a FATAL 08P01 and its server connection is closed', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await RawClient.open(proxy);
  await signIn(client, orders.id, ORDERS_PASSWORD);
  const pid = await rawScalar(client, 'select pg_backend_pid()');
  client.write(typedHeader('Q', 2));
  assert.match(await expectOnlyFatal(client, '08P01'), /invalid message length 2 for message type "Q"/);
  await client.closed;
  await backendGone(orders, ORDERS_PASSWORD, pid!);
  await assertServes(proxy);
});

test('a message announcing 1 GB after authentication is refused from its header, and its server connection is closed', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = await RawClient.open(proxy);
  await signIn(client, orders.id, ORDERS_PASSWORD);
  const pid = await rawScalar(client, 'select pg_backend_pid()');
  const sentBefore = client.socket.bytesWritten;
  client.write(typedHeader('Q', 1 << 30));
  assert.match(await expectOnlyFatal(client, '08P01'), /invalid message length 1073741824/);
  assert.equal(client.socket.bytesWritten - sentBefore, 5, 'only the header was sent');
  await backendGone(orders, ORDERS_PASSWORD, pid!);
});

// ---------------------------------------------------------------------------------------------

test('after all of it, no proxy counts a client or an unauthenticated connection', { timeout: TEST_TIMEOUT_MS }, async () => {
  for (const target of proxies) {
    await eventually('every session let go', () => target.stats().clients === 0 && target.stats().unauthenticated === 0);
    const { clients, unauthenticated, instances } = target.stats();
    assert.deepEqual({ clients, unauthenticated }, { clients: 0, unauthenticated: 0 });
    // Server connections may stay, idle and reset for the next session (session mode keeps up to 4): none is in use or awaited.
    for (const [instanceId, counts] of Object.entries(instances)) {
      assert.deepEqual({ clients: counts.clients, waiting: counts.waiting }, { clients: 0, waiting: 0 }, instanceId);
      assert.ok(counts.serverConnections <= 4, `${instanceId}: ${counts.serverConnections} idle server connections`);
    }
    await assertServes(target);
  }
});
