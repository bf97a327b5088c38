// The proxy-settings part of the control plane: an instance's pool mode, connection limits and cache rules in the proxy, and cache invalidations by tag (only re-exports).
export { proxySettingsModule } from './routes.js';
export { ProxySettingsError, changeProxySettings, invalidateCache, proxySettingsOf, type ProxySettingsIssue } from './service.js';
export { CacheRuleSchema, InvalidateBody, ProxySettingsPatch, ProxySettingsSchema } from './schemas.js';
export {
  CACHE_TABLE_PATTERN,
  CACHE_TAG_PATTERN,
  INVALIDATION_PRUNE_BATCH,
  INVALIDATION_RETENTION_MS,
  MAX_CACHE_RULES,
  MAX_CACHE_TAGS,
  MAX_CACHE_TTL_MS,
  MAX_PROXY_CLIENTS,
  MAX_RULE_TABLES,
} from './limits.js';
export { insertInvalidation, pruneInvalidations } from './sql/invalidations.js';
export { selectProxySettings, updateProxySettings, type CacheRule, type PoolMode, type ProxySettings, type ProxySettingsChange } from './sql/settings.js';
