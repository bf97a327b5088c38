// Flavors: the sizes an instance comes in, and the PostgreSQL settings and cgroup limits each one means.
import type { InstanceLimits } from '@strata/agent';

/** One size of instance. */
export interface Flavor {
  readonly name: string;
  readonly memoryMb: number;
  readonly maxConnections: number;
  /** Share of one CPU (0.25 = a quarter). */
  readonly cpu: number;
  /** Storage counted against the tenant's quota (not a hard disk limit). */
  readonly storageMb: number;
}

/** Every flavor, smallest first. */
export const FLAVORS: readonly Flavor[] = [
  { name: 'tiny', memoryMb: 128, maxConnections: 20, cpu: 0.25, storageMb: 1_024 },
  { name: 'small', memoryMb: 256, maxConnections: 50, cpu: 0.5, storageMb: 5_120 },
  { name: 'medium', memoryMb: 1_024, maxConnections: 100, cpu: 1, storageMb: 20_480 },
  { name: 'large', memoryMb: 4_096, maxConnections: 200, cpu: 2, storageMb: 102_400 },
];

/** cgroup v1 cpu.shares of one whole CPU. */
const CPU_SHARES_PER_CPU = 1_024;

/**
 * The flavor of that name, or undefined.
 *
 * @example
 * findFlavor('small')?.memoryMb; // 256
 */
export function findFlavor(name: string): Flavor | undefined {
  return FLAVORS.find((flavor) => flavor.name === name);
}

/**
 * The PostgreSQL settings a flavor fixes: shared_buffers = memory/4, effective_cache_size =
 * memory*3/4, max_connections, work_mem 4MB.
 *
 * @example
 * flavorSettings(findFlavor('tiny')!); // { shared_buffers: '32MB', effective_cache_size: '96MB', max_connections: '20', work_mem: '4MB' }
 */
export function flavorSettings(flavor: Flavor): Record<string, string> {
  return {
    shared_buffers: `${Math.floor(flavor.memoryMb / 4)}MB`,
    effective_cache_size: `${Math.floor((flavor.memoryMb * 3) / 4)}MB`,
    max_connections: String(flavor.maxConnections),
    work_mem: '4MB',
  };
}

/**
 * The cgroup limits of a flavor (applied where the machine allows it).
 *
 * @example
 * flavorLimits(findFlavor('medium')!); // { memoryMb: 1024, cpuShares: 1024 }
 */
export function flavorLimits(flavor: Flavor): InstanceLimits {
  return { memoryMb: flavor.memoryMb, cpuShares: Math.round(flavor.cpu * CPU_SHARES_PER_CPU) };
}
