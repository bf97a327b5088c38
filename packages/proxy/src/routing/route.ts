// Which instance a connection is for, named in one of three places an ordinary Postgres client can
// fill in: the TLS server name (SNI), the `options` startup parameter, or the user name.

import { ProxyError } from '../errors.js';

/** Instance IDs as the control plane makes them (`ins_` and 16 base32 characters). */
const INSTANCE_ID = /^ins_[a-z2-7]{16}$/;

/** The instance, role and database a connection asked for, and where the instance was named. */
export interface Route {
  readonly instanceId: string;
  /** The role to log in as (the user name without its instance suffix). */
  readonly user: string;
  readonly database: string;
  readonly namedBy: 'sni' | 'options' | 'user';
  /** Startup `options` left after removing the instance (passed on to the server). */
  readonly options?: string;
}

/**
 * Reads the instance from, in order of precedence:
 * 1. the user name `<role>.<instance-id>` (e.g. `app.ins_k3x9…`; works with every client);
 * 2. the startup options `instance=<id>` or `endpoint=<id>` (libpq: `options=instance%3Dins_k3x9…`);
 * 3. the TLS server name `<instance-id>.<any domain>` with `-` for `_` (`ins-k3x9….db.example.com`).
 * The database defaults to the role (libpq sends the user name as the database when none is given).
 *
 * @throws {ProxyError} `STRATA_PROXY_NO_INSTANCE` (08004) when no instance is named, or the name is not an instance ID.
 *
 * @example
 * ```ts
 * routeOf({ user: 'app.ins_abcdefghijklmnop', database: 'app' }); // { instanceId: 'ins_abcdefghijklmnop', user: 'app', database: 'app', namedBy: 'user' }
 * ```
 */
export function routeOf(parameters: Readonly<Record<string, string>>, serverName?: string): Route {
  const rawUser = parameters.user ?? '';
  let user = rawUser;
  let instanceId: string | undefined;
  let namedBy: Route['namedBy'] = 'user';
  let options = parameters.options;
  const dot = rawUser.lastIndexOf('.');
  if (dot > 0 && INSTANCE_ID.test(rawUser.slice(dot + 1))) {
    instanceId = rawUser.slice(dot + 1);
    user = rawUser.slice(0, dot);
  }
  if (instanceId === undefined && options !== undefined) {
    const tokens = options.split(/\s+/).filter((token) => token !== '');
    const index = tokens.findIndex((token) => /^(instance|endpoint)=/.test(token));
    if (index >= 0) {
      instanceId = tokens[index]!.slice(tokens[index]!.indexOf('=') + 1);
      namedBy = 'options';
      tokens.splice(index, 1);
      options = tokens.join(' ');
    }
  }
  if (instanceId === undefined && serverName) {
    const label = serverName.split('.')[0]!.toLowerCase().replace(/^ins-/, 'ins_');
    if (INSTANCE_ID.test(label)) {
      instanceId = label;
      namedBy = 'sni';
    }
  }
  if (instanceId === undefined) {
    throw new ProxyError('STRATA_PROXY_NO_INSTANCE', '08004', `no instance named in the connection: use the user name "<role>.<instance-id>" (e.g. "${user || 'app'}.ins_…"), options=instance=<instance-id>, or a host name "<instance-id with - for _>.<domain>" over TLS`);
  }
  if (!INSTANCE_ID.test(instanceId)) {
    throw new ProxyError('STRATA_PROXY_NO_INSTANCE', '08004', `${JSON.stringify(instanceId.slice(0, 80))} is not an instance ID (they look like ins_ and 16 letters and digits, e.g. ins_k3x9p2m7q4r5s6t7)`);
  }
  // libpq sends the user name as the database when none is given: the full "<role>.<id>".
  const database = !parameters.database || parameters.database === rawUser ? user : parameters.database;
  return { instanceId, user, database, namedBy, ...(options ? { options } : {}) };
}
