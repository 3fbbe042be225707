import type { StorageConfig } from '@botbackup/core';
import type { BackupStore } from './backup-store.js';
import { LocalStore } from './local-store.js';
import { S3Store, type S3StoreOptions } from './s3-store.js';

/** Constructors of every backend, by config `type`. Explicit: nothing registers itself. */
const constructors: { [T in StorageConfig['type']]: (config: Extract<StorageConfig, { type: T }>, options: CreateStoreOptions) => BackupStore } = {
  local: (config) => new LocalStore({ name: config.name, path: config.path }),
  s3: (config, options) =>
    new S3Store({
      name: config.name,
      bucket: config.bucket,
      prefix: config.prefix,
      endpoint: config.endpoint,
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      credentials:
        config.accessKeyId && config.secretAccessKey
          ? { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey, sessionToken: config.sessionToken }
          : undefined,
      serverSideEncryption: config.serverSideEncryption,
      storageClass: config.storageClass as S3StoreOptions['storageClass'],
      stallTimeoutMs: config.stallTimeoutMs,
      onWait: options.onWait && ((message) => options.onWait!(config.name, message)),
    }),
};

export interface CreateStoreOptions {
  /** Told when a target has been waiting with no progress (S3: see S3StoreOptions.onWait), with the target's name. */
  onWait?: ((store: string, message: string) => void) | undefined;
}

/** Builds the store a storage target of the config describes. */
export function createStore(config: StorageConfig): BackupStore {
  return createStores([config])[0]!;
}

/** Builds the stores of every target, in order, with `options`. */
export function createStores(configs: readonly StorageConfig[], options: CreateStoreOptions = {}): BackupStore[] {
  return configs.map((config) => (constructors[config.type] as (config: StorageConfig, options: CreateStoreOptions) => BackupStore)(config, options));
}
