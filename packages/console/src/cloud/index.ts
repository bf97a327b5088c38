// The database service in the console: its API reached through the console's own backend.
export { API_KEY_HEADER, mountCloudRoutes, type CloudOptions } from './proxy.js';
