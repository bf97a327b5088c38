// instanceAdminModule: what a tenant does inside an instance (databases, users, grants, the log, configuration groups) on the control plane's OpenAPI app.
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ApiDeps, ApiEnv, ApiModule } from '../http/types.js';
import { registerInstanceOperations } from '../instances/operations.js';
import { CatalogueCache } from './catalogue.js';
import type { AdminRouteDeps } from './changes.js';
import { registerConfigGroupRoutes } from './config-group-routes.js';
import { registerDatabaseRoutes } from './database-routes.js';
import { registerUserRoutes } from './user-routes.js';
import { registerAdminWorkflows } from './workflows.js';

/**
 * The instance-admin routes of the HTTP API; also registers their workflows on the engine (so the
 * module must be applied before the engine launches). Configure operations share the instance
 * operations' queue, so that queue is declared here too (a second declaration does nothing).
 *
 * @example
 * await createControlPlane({ database, listen: { host: '127.0.0.1', port: 8080 }, modules: [instancesModule, instanceAdminModule] });
 */
export const instanceAdminModule: ApiModule = (app: OpenAPIHono<ApiEnv>, deps: ApiDeps) => {
  registerInstanceOperations(deps.strata, { db: deps.db, client: deps.client });
  const workflows = registerAdminWorkflows(deps.strata, { db: deps.db, client: deps.client });
  const routeDeps: AdminRouteDeps = { ...deps, workflows, catalogues: new CatalogueCache() };
  registerDatabaseRoutes(app, routeDeps);
  registerUserRoutes(app, routeDeps);
  registerConfigGroupRoutes(app, routeDeps);
};
