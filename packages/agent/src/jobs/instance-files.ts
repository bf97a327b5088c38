// Where an instance's files live under the agent's root, and how its ManagedCluster is opened from them.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ManagedCluster, ensureTemplate, type InstanceSpec, type InstanceTemplate } from '@strata/postgres';

/**
 * The files of one node: `<root>/template` (the initdb'd template copied into every new instance;
 * another directory when given)
 * and `<root>/instances/<instanceId>/{data,socket}`.
 *
 * @example
 * const files = new NodeFiles('/var/lib/strata/node-1');
 * files.dataDir('ins_abc'); // '/var/lib/strata/node-1/instances/ins_abc/data'
 */
export class NodeFiles {
  readonly rootDir: string;
  /** The template's directory: `<root>/template` unless the agent was given one (nodes of one machine may share it). */
  readonly templateDir: string;
  #template: Promise<InstanceTemplate> | undefined;

  constructor(rootDir: string, templateDir = join(rootDir, 'template')) {
    this.rootDir = rootDir;
    this.templateDir = templateDir;
  }

  /** The directory holding every instance of this node. */
  get instancesDir(): string {
    return join(this.rootDir, 'instances');
  }

  /** The directory of one instance (its data and socket directories are inside it). */
  instanceDir(instanceId: string): string {
    return join(this.instancesDir, instanceId);
  }

  /** The instance's data directory. */
  dataDir(instanceId: string): string {
    return join(this.instanceDir(instanceId), 'data');
  }

  /** The instance's private unix-socket directory. */
  socketDir(instanceId: string): string {
    return join(this.instanceDir(instanceId), 'socket');
  }

  /** The spec of an instance on this node. */
  spec(instanceId: string, port: number, settings: Readonly<Record<string, string>>): InstanceSpec {
    return { dataDir: this.dataDir(instanceId), socketDir: this.socketDir(instanceId), port, settings };
  }

  /** The template cluster, initdb'd once per node (and reused by every later start). */
  template(): Promise<InstanceTemplate> {
    this.#template ??= ensureTemplate(this.templateDir).catch((error: unknown) => {
      this.#template = undefined;
      throw error;
    });
    return this.#template;
  }

  /** Copies the template into the instance's directory (adopting a complete copy left by a crash). */
  async create(instanceId: string, port: number, settings: Readonly<Record<string, string>>): Promise<ManagedCluster> {
    return ManagedCluster.create(await this.template(), this.spec(instanceId, port, settings));
  }

  /** Opens an existing instance's cluster. */
  open(instanceId: string, port: number, settings: Readonly<Record<string, string>>): Promise<ManagedCluster> {
    return ManagedCluster.open(this.spec(instanceId, port, settings));
  }

  /** IDs of the instances that have a directory on this node (complete or not; a placed spare's is a link to its files). */
  async instanceIdsOnDisk(): Promise<string[]> {
    try {
      return (await readdir(this.instancesDir, { withFileTypes: true })).filter((entry) => entry.isDirectory() || entry.isSymbolicLink()).map((entry) => entry.name).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }
}
