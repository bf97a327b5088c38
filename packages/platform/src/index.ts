// @strata/platform: public surface (only re-exports). Examples live on each export's doc comment.
export { startPlatform, DEFAULT_API_PORT, DEFAULT_CONSOLE_PORT, DEFAULT_PLATFORM_SPARES, type PlatformOptions, type RunningPlatform } from './platform.js';
export { ensureDemo, DEMO_DATABASE, DEMO_FLAVOR, DEMO_INSTANCE, DEMO_READY_TIMEOUT_MS, DEMO_TENANT, DEMO_USER, type DemoInstance, type DemoOutcome } from './demo.js';
export { bannerLines, type BannerInput } from './banner.js';
export { resetPlatform } from './reset.js';
export { LOCAL_NODE_ID, platformLayout, type PlatformLayout } from './layout.js';
export { PLATFORM_ERROR_KINDS, PlatformError, type PlatformErrorCode } from './errors.js';
