import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startPlatform } from '@strata/platform';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
const spans: { name: string; start: number; end: number; attrs: any }[] = [];
const hr = (t: [number, number]) => t[0] * 1000 + t[1] / 1e6;
const provider = new BasicTracerProvider({ spanProcessors: [{ onStart() {}, onEnd(s: any) { spans.push({ name: s.name, start: hr(s.startTime), end: hr(s.endTime), attrs: s.attributes }); }, forceFlush: async () => {}, shutdown: async () => {} } as any] });
trace.setGlobalTracerProvider(provider);

const root = await mkdtemp(join(tmpdir(), 'strata-trace-'));
await chmod(root, 0o755);
const quiet = { info() {}, warn: (m: string) => console.warn(m), error: (m: string, ...d: unknown[]) => console.error(m, ...d) };
const platform = await startPlatform({ dataDir: join(root, 'data'), apiPort: 0, consolePort: false, capacity: { memoryMb: 1_000_000, instances: 10_000 }, agent: { spares: 2 }, logger: quiet });
import { ChildProcess } from 'node:child_process';
const spawns: { name: string; start: number; end: number }[] = [];
{ const orig = (ChildProcess.prototype as any).spawn; (ChildProcess.prototype as any).spawn = function (o: any) { const s0 = performance.now(); try { return orig.call(this, o); } finally { spawns.push({ name: 'SPAWN ' + [o.file, ...(o.args ?? []).slice(1)].join(' ').slice(0, 90), start: s0, end: performance.now() }); } }; }
const windows: [number, number][] = [];
const agg = new Map<string, [number, number]>();
const dbOps: { name: string; start: number; end: number }[] = [];
{
  const db: any = platform.db;
  const q = db.query.bind(db); const t = db.transaction.bind(db);
  db.query = async (sql: string, ...rest: any[]) => { const s0 = performance.now(); try { return await q(sql, ...rest); } finally { dbOps.push({ name: 'Q ' + sql.replace(/\s+/g, ' ').slice(0, 70), start: s0, end: performance.now() }); } };
  db.transaction = async (fn: any, ...rest: any[]) => { const s0 = performance.now(); let first = ''; let n = 0; try { return await t(async (tx: any) => { const tq = tx.query.bind(tx); return fn(new Proxy(tx, { get(o, k) { if (k === 'query') return (sql: string, ...r: any[]) => { n++; if (!first) first = sql.replace(/\s+/g, ' ').slice(0, 60); if (process.env.TXLOG) { const q0 = performance.now(); const r0 = tq(sql, ...r); r0.then(() => console.log(`   TXQ ${(performance.now() - q0).toFixed(2)} ${sql.replace(/\s+/g, ' ').slice(0, 150)}`)); return r0; } return tq(sql, ...r); }; const v = o[k]; return typeof v === 'function' ? v.bind(o) : v; } })); }, ...rest); } finally { dbOps.push({ name: `TX(${n}) ${first}`, start: s0, end: performance.now() }); } };
}
console.error("platform up", platform.apiUrl);
async function call(key: string, method: string, path: string, body?: unknown) {
  const r = await fetch(`${platform.apiUrl}${path}`, { method, headers: { Authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return (await r.json()) as any;
}
const { token: key } = await call(platform.bootstrapKey!, 'POST', '/v1/tenants', { name: 'bench', quotas: { instances: 1e6, storageMb: 1e9, connections: 1e9 } });
const N = Number(process.env.N ?? 8);
for (let i = 0; i < N; i++) {
  const marks: [string, number][] = [];
  const h0 = process.hrtime.bigint(); const t0 = performance.now(); const w0 = Date.now();
  const made = await call(key, 'POST', '/v1/instances', { name: `b${i}`, flavor: 'tiny', databases: ['app'], users: [{ name: 'app', password: 'bench-password-1' }] });
  marks.push(["POST answered", performance.now() - t0]);
  let inst;
  for (;;) { inst = await call(key, 'GET', `/v1/instances/${made.id}/wait?timeoutMs=60000`); if (inst.status === "ACTIVE" && inst.currentOperation === null) break; console.error(JSON.stringify(inst).slice(0,300)); }
  marks.push(["wait answered", performance.now() - t0]);
  const c = new pg.Client({ host: inst.host, port: inst.port, user: 'app', password: 'bench-password-1', database: 'app' });
  await c.connect(); marks.push(['connected', performance.now() - t0]);
  await c.query('select 1'); marks.push(['select 1', performance.now() - t0]); if (i >= 2) windows.push([Number(h0 / 1000n), Number(process.hrtime.bigint() / 1000n)]); await c.end();
  const { rows } = await platform.db.query<any>(`select w.workflow_id, w.name, extract(epoch from w.created_at)*1000 as c, extract(epoch from w.started_at)*1000 as s, extract(epoch from w.completed_at)*1000 as d from strata.workflows w where w.workflow_id like $1 order by created_at`, [`%${made.id}%`]);
  const wfs = rows.length ? rows : (await platform.db.query<any>(`select w.workflow_id, w.name, extract(epoch from w.created_at)*1000 as c, extract(epoch from w.started_at)*1000 as s, extract(epoch from w.completed_at)*1000 as d from strata.workflows w where extract(epoch from w.created_at)*1000 >= $1 order by created_at`, [w0])).rows;
  for (const w of wfs) {
    marks.push([`wf ${w.name} created`, Number(w.c) - w0]); if (w.s) marks.push([`wf ${w.name} started`, Number(w.s) - w0]); if (w.d) marks.push([`wf ${w.name} completed`, Number(w.d) - w0]);
    const steps = await platform.db.query<any>(`select step_id, name, extract(epoch from started_at)*1000 as s, extract(epoch from completed_at)*1000 as d from strata.steps where workflow_id = $1 order by step_id`, [w.workflow_id]);
    for (const s of steps.rows) { marks.push([`  step ${s.name} start`, Number(s.s) - w0]); marks.push([`  step ${s.name} done`, Number(s.d) - w0]); }
  }
  for (const sp of spans.splice(0)) { const a = sp.start - (performance.timeOrigin + t0); if (a < -5 || a > 400) continue; marks.push([`SPAN ${sp.name} [${(sp.end - sp.start).toFixed(1)}ms] ${sp.attrs['strata.step.name'] ?? sp.attrs['strata.workflow.name'] ?? ''}`, a]); }
  for (const op of spawns.splice(0)) { const a = op.start - t0; if (a < -5 || a > 400) continue; marks.push([`${op.name} [${(op.end - op.start).toFixed(1)}ms]`, a]); }
  for (const op of dbOps) { const a = op.start - t0; if (i >= 2 && a >= -5 && a <= marks.find(m => m[0] === 'select 1')![1]) { const k = op.name.slice(0, 60); const e = agg.get(k) ?? [0, 0]; e[0]++; e[1] += op.end - op.start; agg.set(k, e); } }
  for (const op of dbOps.splice(0)) { const a = op.start - t0; if (a < -5 || a > 400) continue; marks.push([`DB ${op.name} [${(op.end - op.start).toFixed(1)}ms]`, a]); }
  if (i >= 2 && !process.env.QUIET) { console.log(`--- create ${i}`); for (const [n, t] of marks.sort((a, b) => a[1] - b[1])) console.log(`${t.toFixed(1).padStart(7)}  ${n}`); }
  await call(key, 'DELETE', `/v1/instances/${made.id}`);
  for (;;) { const x = await call(key, 'GET', `/v1/instances/${made.id}/wait?timeoutMs=60000`); if (x.status !== 'BUILD' && x.status !== 'ACTIVE') break; if (x.currentOperation === null) break; }
  await new Promise((r) => setTimeout(r, 1500));
}
for (const [k, [n, ms]] of [...agg].sort((a, b) => b[1][1] - a[1][1])) console.log(`${(ms / (N - 2)).toFixed(2).padStart(6)} ms ${(n / (N - 2)).toFixed(1).padStart(4)}x  ${k}`);
(await import('node:fs')).writeFileSync('/tmp/prof/windows.json', JSON.stringify(windows));
process.exit(0);
