// The proxy's own connection to an instance: TCP, a StartupMessage, SCRAM pass-through with the
// client's key, then the server's ParameterStatus and BackendKeyData until ReadyForQuery. Messages
// are serialized and parsed with node-postgres's pg-protocol.

import { connect, type Socket } from 'node:net';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import { ProxyError } from '../errors.js';
import { ScramClientExchange } from '../auth/scram.js';

/** Where and as whom to connect. */
export interface BackendTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  /** The client's ClientKey (learned when it authenticated) and the verifier's ServerKey. */
  readonly clientKey: Buffer;
  readonly serverKey: Buffer;
  /** Startup parameters passed on (application_name, client_encoding, options…). */
  readonly parameters?: Readonly<Record<string, string>>;
}

/** An authenticated connection to an instance, ready for a query. */
export interface ServerConnection {
  readonly socket: Socket;
  /** ParameterStatus values the server sent at startup, in order. */
  readonly parameters: ReadonlyArray<readonly [string, string]>;
  readonly processId: number;
  readonly secretKey: number;
}

/** Longest a connect and authentication may take: a woken instance answers within this. */
export const BACKEND_CONNECT_TIMEOUT_MS = 30_000;

/** An error the server sent, passed on to the client as it came. */
export class BackendError extends ProxyError {
  constructor(
    sqlstate: string,
    message: string,
    readonly detail?: string,
  ) {
    super('STRATA_PROXY_BACKEND', sqlstate, message);
  }
}

/**
 * Connects and authenticates to an instance.
 *
 * @throws {BackendError} with the server's SQLSTATE when it refuses (e.g. 3D000 unknown database).
 * @throws {ProxyError} `STRATA_PROXY_INSTANCE_UNAVAILABLE` when it cannot be reached.
 *
 * @example
 * ```ts
 * const server = await connectBackend({ host: '127.0.0.1', port, user: 'app', database: 'app', clientKey, serverKey });
 * client.pipe(server.socket).pipe(client);
 * ```
 */
export function connectBackend(target: BackendTarget): Promise<ServerConnection> {
  return new Promise<ServerConnection>((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port, noDelay: true });
    const parser = new Parser();
    const parameters: [string, string][] = [];
    let processId = 0;
    let secretKey = 0;
    let scram: ScramClientExchange | undefined;
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners('data');
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new ProxyError('STRATA_PROXY_INSTANCE_UNAVAILABLE', '08006', `the instance did not finish authentication within ${BACKEND_CONNECT_TIMEOUT_MS} ms`)), BACKEND_CONNECT_TIMEOUT_MS);
    const onMessage = (msg: BackendMessage) => {
      const m = msg as BackendMessage & Record<string, unknown>;
      switch (msg.name) {
        case 'authenticationSASL': {
          const mechanisms = m.mechanisms as string[];
          if (!mechanisms.includes('SCRAM-SHA-256')) throw new ProxyError('STRATA_PROXY_BACKEND', '08006', `the instance offers ${mechanisms.join(', ')}, not SCRAM-SHA-256`);
          scram = new ScramClientExchange(target.clientKey, target.serverKey);
          socket.write(serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', scram.clientFirst()));
          return;
        }
        case 'authenticationSASLContinue':
          if (!scram) throw new ProxyError('STRATA_PROXY_BACKEND', '08P01', 'SASLContinue before SASL');
          socket.write(serialize.sendSCRAMClientFinalMessage(scram.clientFinal(m.data as string)));
          return;
        case 'authenticationSASLFinal':
          if (!scram) throw new ProxyError('STRATA_PROXY_BACKEND', '08P01', 'SASLFinal before SASL');
          scram.checkServerFinal(m.data as string);
          return;
        case 'authenticationOk':
          if (!scram) throw new ProxyError('STRATA_PROXY_BACKEND', '08006', 'the instance let the proxy in without SCRAM; its pg_hba.conf must require scram-sha-256');
          return;
        case 'authenticationCleartextPassword':
        case 'authenticationMD5Password':
          throw new ProxyError('STRATA_PROXY_BACKEND', '08006', 'the instance asks for a password the proxy does not have; its pg_hba.conf must use scram-sha-256');
        case 'parameterStatus':
          parameters.push([m.parameterName as string, m.parameterValue as string]);
          return;
        case 'backendKeyData':
          processId = m.processID as number;
          secretKey = m.secretKey as number;
          return;
        case 'error':
          throw new BackendError((m.code as string) ?? '08006', (m.message as string) ?? 'the instance refused the connection', m.detail as string | undefined);
        case 'notice':
          return;
        case 'readyForQuery':
          settled = true;
          clearTimeout(timer);
          socket.removeListener('data', onData);
          socket.removeListener('error', onError);
          socket.removeListener('close', onClose);
          resolve({ socket, parameters, processId, secretKey });
          return;
        default:
          throw new ProxyError('STRATA_PROXY_BACKEND', '08P01', `unexpected ${msg.name} from the instance during startup`);
      }
    };
    const onData = (chunk: Buffer) => {
      try {
        parser.parse(chunk, onMessage);
      } catch (error) {
        fail(error instanceof Error ? error : new Error(String(error)));
      }
    };
    const onError = (error: Error) => fail(new ProxyError('STRATA_PROXY_INSTANCE_UNAVAILABLE', '08006', `cannot reach the instance: ${error.message}`));
    const onClose = () => fail(new ProxyError('STRATA_PROXY_INSTANCE_UNAVAILABLE', '08006', 'the instance closed the connection during startup'));
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.once('connect', () => {
      socket.write(serialize.startup({ ...target.parameters, user: target.user, database: target.database }));
    });
  });
}
